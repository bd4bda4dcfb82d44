//! Group commit: the writes of many threads in one durable commit.
//!
//! A redb database has one writer and each durable commit waits for the
//! disk. Conductors run several flows at once, each committing every step,
//! and the jobboard commits every claim and consume in the same file. Done
//! one by one those commits queue behind each other's syncs; here a single
//! commit thread takes every write waiting when it is free, runs them all
//! in one transaction and commits once, so one sync serves them all. Each
//! caller still returns only once its own write is durable.

use redb::{Database, WriteTransaction};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

/// Why a write did not become durable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CommitFailure(pub String);

/// A write waiting for the commit thread.
trait Pending: Send {
    /// Runs the write in `txn`; what to tell its caller once the commit is
    /// known.
    fn run(self: Box<Self>, txn: &WriteTransaction) -> Box<dyn Reply>;
    /// Tells its caller it was never run.
    fn fail(self: Box<Self>, failure: &CommitFailure);
}

/// The answer owed to one caller.
trait Reply: Send {
    /// Sends the write's result, or `failure` when the commit failed.
    fn finish(self: Box<Self>, failure: Option<&CommitFailure>);
}

struct Write<F, T, E> {
    op: F,
    reply: SyncSender<Result<T, E>>,
}

struct Answer<T, E> {
    result: Result<T, E>,
    reply: SyncSender<Result<T, E>>,
}

impl<F, T, E> Pending for Write<F, T, E>
where
    F: FnOnce(&WriteTransaction) -> Result<T, E> + Send,
    T: Send + 'static,
    E: From<CommitFailure> + Send + 'static,
{
    fn run(self: Box<Self>, txn: &WriteTransaction) -> Box<dyn Reply> {
        let result = (self.op)(txn);
        Box::new(Answer {
            result,
            reply: self.reply,
        })
    }

    fn fail(self: Box<Self>, failure: &CommitFailure) {
        let _ = self.reply.send(Err(E::from(failure.clone())));
    }
}

impl<T: Send, E: From<CommitFailure> + Send> Reply for Answer<T, E> {
    fn finish(self: Box<Self>, failure: Option<&CommitFailure>) {
        let result = match (self.result, failure) {
            (Ok(_), Some(failure)) => Err(E::from(failure.clone())),
            (result, _) => result,
        };
        let _ = self.reply.send(result);
    }
}

#[derive(Default)]
struct Queue {
    writes: Vec<Box<dyn Pending>>,
    closed: bool,
}

struct Shared {
    db: Arc<Database>,
    /// Transactions committed so far.
    commits: AtomicU64,
    queue: Mutex<Queue>,
    arrived: Condvar,
}

/// A redb database with a commit thread that groups concurrent writes.
/// Reads go straight to [`database`](Self::database); writes through
/// [`write`](Self::write). Dropping the last handle ends the thread and
/// closes the database.
pub struct GroupCommit {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Starts the commit thread of `db`.
    pub fn start(db: Database) -> std::io::Result<GroupCommit> {
        let shared = Arc::new(Shared {
            db: Arc::new(db),
            commits: AtomicU64::new(0),
            queue: Mutex::new(Queue::default()),
            arrived: Condvar::new(),
        });
        let committer = shared.clone();
        let thread = std::thread::Builder::new()
            .name("taskbox-commit".into())
            .spawn(move || committer.commit_loop())?;
        Ok(GroupCommit {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// How many transactions the commit thread has committed: with
    /// concurrent writers, fewer than the writes.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// The database, for reads.
    pub fn database(&self) -> &Database {
        &self.shared.db
    }

    /// Runs `op` in the next commit and returns its result once that commit
    /// is durable. Other threads' writes may share the transaction, so `op`
    /// must not write anything when it fails: a failing write's result is
    /// returned, the others still commit.
    pub fn write<T, E>(
        &self,
        op: impl FnOnce(&WriteTransaction) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<CommitFailure> + Send + 'static,
    {
        let (reply, answer) = sync_channel(1);
        {
            let mut queue = self.shared.lock();
            if queue.closed {
                return Err(E::from(CommitFailure("the database is closing".into())));
            }
            queue.writes.push(Box::new(Write { op, reply }));
        }
        self.shared.arrived.notify_one();
        answer.recv().unwrap_or_else(|_| {
            Err(E::from(CommitFailure(
                "the commit thread stopped before the write was committed".into(),
            )))
        })
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.arrived.notify_all();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("the commit thread panicked");
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Commits whatever is waiting, one transaction at a time, until closed
    /// and drained.
    fn commit_loop(&self) {
        loop {
            let batch = {
                let mut queue = self.lock();
                while queue.writes.is_empty() && !queue.closed {
                    queue = self
                        .arrived
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if queue.writes.is_empty() {
                    return;
                }
                std::mem::take(&mut queue.writes)
            };
            self.commit(batch);
        }
    }

    /// Runs `batch` in one transaction and commits it.
    fn commit(&self, batch: Vec<Box<dyn Pending>>) {
        let txn = match self.db.begin_write() {
            Ok(txn) => txn,
            Err(e) => {
                let failure = CommitFailure(format!("cannot begin a write: {e}"));
                for write in batch {
                    write.fail(&failure);
                }
                return;
            }
        };
        let mut replies = Vec::with_capacity(batch.len());
        let mut writes = batch.into_iter();
        for write in writes.by_ref() {
            match catch_unwind(AssertUnwindSafe(|| write.run(&txn))) {
                Ok(reply) => replies.push(reply),
                Err(_) => {
                    // The transaction may hold half of that write: drop it
                    // and fail the whole batch (the panicking write's
                    // caller sees its reply channel close).
                    drop(txn);
                    let failure = CommitFailure("a write panicked; nothing was committed".into());
                    for reply in replies {
                        reply.finish(Some(&failure));
                    }
                    for write in writes {
                        write.fail(&failure);
                    }
                    return;
                }
            }
        }
        let failure = txn
            .commit()
            .err()
            .map(|e| CommitFailure(format!("the commit failed: {e}")));
        if failure.is_none() {
            self.commits.fetch_add(1, Ordering::Relaxed);
        }
        for reply in replies {
            reply.finish(failure.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};

    const ROWS: TableDefinition<u64, u64> = TableDefinition::new("rows");

    #[derive(Debug, PartialEq)]
    enum TestError {
        Refused(u64),
        Commit(String),
    }

    impl From<CommitFailure> for TestError {
        fn from(failure: CommitFailure) -> Self {
            TestError::Commit(failure.0)
        }
    }

    fn insert(store: &GroupCommit, key: u64) -> Result<u64, TestError> {
        store.write(move |txn| {
            if key % 10 == 7 {
                return Err(TestError::Refused(key));
            }
            let mut table = txn
                .open_table(ROWS)
                .map_err(|e| TestError::Commit(e.to_string()))?;
            table
                .insert(key, key * 2)
                .map_err(|e| TestError::Commit(e.to_string()))?;
            Ok(key)
        })
    }

    #[test]
    fn concurrent_writes_share_commits_and_a_refused_one_spoils_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::create(dir.path().join("db.redb")).expect("db");
        let store = Arc::new(GroupCommit::start(db).expect("commit thread"));
        let (threads, per_thread) = (8u64, 40u64);
        std::thread::scope(|scope| {
            for t in 0..threads {
                let store = store.clone();
                scope.spawn(move || {
                    for i in 0..per_thread {
                        let key = t * per_thread + i;
                        let expected = if key % 10 == 7 {
                            Err(TestError::Refused(key))
                        } else {
                            Ok(key)
                        };
                        assert_eq!(insert(&store, key), expected);
                    }
                });
            }
        });
        let writes = threads * per_thread;
        let refused = (0..writes).filter(|k| k % 10 == 7).count() as u64;
        let read = store.database().begin_read().expect("read");
        let table = read.open_table(ROWS).expect("table");
        assert_eq!(table.len().expect("len"), writes - refused);
        assert!(
            store.commits() < writes - refused,
            "{} commits for {} writes: none were grouped",
            store.commits(),
            writes - refused
        );
    }

    #[test]
    fn a_failed_commit_fails_every_write_of_its_batch() {
        let disk = crate::PowerCut::default();
        let db = Database::builder()
            .create_with_backend(disk.clone())
            .expect("db");
        let store = GroupCommit::start(db).expect("commit thread");
        assert_eq!(insert(&store, 1), Ok(1));
        disk.cut_at_sync(1);
        match insert(&store, 2) {
            Err(TestError::Commit(message)) => assert!(message.contains("commit"), "{message}"),
            other => panic!("a write into a failed commit returned {other:?}"),
        }
    }
}
