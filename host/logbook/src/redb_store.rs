//! The embedded logbook: one redb database file.

use crate::codec::{
    decode_atom, decode_book, decode_flow, decode_transition, encode_atom, encode_book,
    encode_flow, encode_transition,
};
use crate::error::LogbookError;
use crate::group_commit::GroupCommit;
use crate::record::{AtomDetail, FlowDetail, FlowId, LogBook, NewFlow, Transition, now_ms};
use crate::store::Logbook;
use redb::{
    Database, DatabaseError, ReadableDatabase, ReadableTable, StorageBackend, TableDefinition,
    TableError, WriteTransaction,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use taskbox_model::FlowState;

/// The schema this build reads and writes. Bump it on any change of the
/// tables or the records' encoding.
pub const SCHEMA_VERSION: u64 = 2;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const BOOKS: TableDefinition<&str, &[u8]> = TableDefinition::new("books");
const FLOWS: TableDefinition<u64, &[u8]> = TableDefinition::new("flows");
const DEFINITIONS: TableDefinition<u64, &str> = TableDefinition::new("definitions");
const ATOMS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("atoms");
const TRANSITIONS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("transitions");

const SCHEMA_KEY: &str = "schema_version";
const NEXT_FLOW_KEY: &str = "next_flow_id";

/// A logbook in one redb database. Every write is durable when it
/// returns; concurrent writes share commits (see [`GroupCommit`]).
#[derive(Debug)]
pub struct RedbLogbook {
    store: Arc<GroupCommit>,
    path: PathBuf,
}

fn storage(doing: &'static str) -> impl Fn(redb::Error) -> LogbookError {
    move |e| LogbookError::Storage {
        doing,
        message: e.to_string(),
    }
}

/// Maps any redb error type to a storage error naming what was being done.
macro_rules! try_redb {
    ($doing:expr, $e:expr) => {
        $e.map_err(|e| storage($doing)(redb::Error::from(e)))?
    };
}

impl RedbLogbook {
    /// Opens the logbook at `path`, creating it when missing.
    pub fn open(path: &Path) -> Result<RedbLogbook, LogbookError> {
        let db = Database::create(path).map_err(|e| open_error(path, e))?;
        RedbLogbook::checked(db, path.to_path_buf())
    }

    /// A logbook in memory: resumable within this process only.
    pub fn in_memory() -> Result<RedbLogbook, LogbookError> {
        RedbLogbook::with_backend(redb::backends::InMemoryBackend::new(), "<memory>")
    }

    /// A logbook over any redb storage backend; `name` stands for it in
    /// errors.
    pub fn with_backend(
        backend: impl StorageBackend,
        name: &str,
    ) -> Result<RedbLogbook, LogbookError> {
        let path = PathBuf::from(name);
        let db = Database::builder()
            .create_with_backend(backend)
            .map_err(|e| open_error(&path, e))?;
        RedbLogbook::checked(db, path)
    }

    /// Where the logbook lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks the schema version, writing it into a new database.
    fn checked(db: Database, path: PathBuf) -> Result<RedbLogbook, LogbookError> {
        let txn = try_redb!("checking the schema", db.begin_write());
        {
            let mut meta = try_redb!("checking the schema", txn.open_table(META));
            let found = try_redb!("checking the schema", meta.get(SCHEMA_KEY)).map(|v| v.value());
            match found {
                Some(SCHEMA_VERSION) => {}
                Some(found) => {
                    return Err(LogbookError::Schema {
                        path,
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                None => {
                    try_redb!(
                        "writing the schema version",
                        meta.insert(SCHEMA_KEY, SCHEMA_VERSION)
                    );
                }
            }
        }
        try_redb!("creating the logbook", txn.commit());
        let store = GroupCommit::start(db).map_err(|e| LogbookError::Open {
            path: path.clone(),
            message: format!("cannot start the commit thread: {e}"),
        })?;
        Ok(RedbLogbook {
            store: Arc::new(store),
            path,
        })
    }

    /// The database and its commit thread, for other embedded stores that
    /// share its file (redb admits one process per file, so the jobboard
    /// lives beside the flows it links to, and their writes share commits).
    pub fn store(&self) -> Arc<GroupCommit> {
        self.store.clone()
    }

    fn read<T>(
        &self,
        doing: &'static str,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, LogbookError>,
    ) -> Result<T, LogbookError> {
        let txn = try_redb!(doing, self.store.database().begin_read());
        f(&txn)
    }
}

/// The error of opening `path`.
fn open_error(path: &Path, e: DatabaseError) -> LogbookError {
    match e {
        DatabaseError::DatabaseAlreadyOpen => LogbookError::InUse {
            path: path.to_path_buf(),
        },
        other => LogbookError::Open {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    }
}

/// An empty list when a table was never created.
fn missing_is_empty<T>(result: Result<T, TableError>) -> Result<Option<T>, LogbookError> {
    match result {
        Ok(table) => Ok(Some(table)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(storage("opening a table")(e.into())),
    }
}

/// Atom records encoded by their callers, off the commit thread.
fn encode_atoms<'a>(
    atoms: impl IntoIterator<Item = &'a AtomDetail>,
) -> Result<Vec<(u32, Vec<u8>)>, LogbookError> {
    atoms
        .into_iter()
        .map(|atom| Ok((atom.index, encode_atom(atom)?)))
        .collect()
}

fn put_atoms(
    txn: &WriteTransaction,
    id: FlowId,
    atoms: &[(u32, Vec<u8>)],
) -> Result<(), LogbookError> {
    let mut table = try_redb!("saving atoms", txn.open_table(ATOMS));
    for (index, bytes) in atoms {
        try_redb!(
            "saving atoms",
            table.insert((id.0, *index), bytes.as_slice())
        );
    }
    Ok(())
}

fn put_flow(txn: &WriteTransaction, id: FlowId, bytes: &[u8]) -> Result<(), LogbookError> {
    let mut table = try_redb!("saving the flow", txn.open_table(FLOWS));
    try_redb!("saving the flow", table.insert(id.0, bytes));
    Ok(())
}

impl Logbook for RedbLogbook {
    fn create_flow(&self, new: NewFlow) -> Result<FlowDetail, LogbookError> {
        let atoms = encode_atoms(&new.atoms)?;
        self.store.write(move |txn| {
            let now = now_ms();
            let id = {
                let mut meta = try_redb!("allocating a flow id", txn.open_table(META));
                let next = try_redb!("allocating a flow id", meta.get(NEXT_FLOW_KEY))
                    .map_or(1, |v| v.value());
                try_redb!("allocating a flow id", meta.insert(NEXT_FLOW_KEY, next + 1));
                FlowId(next)
            };
            {
                let mut books = try_redb!("recording the logbook", txn.open_table(BOOKS));
                let exists =
                    try_redb!("recording the logbook", books.get(new.book.as_str())).is_some();
                if !exists {
                    let book = LogBook {
                        name: new.book.clone(),
                        created_ms: now,
                        meta: Default::default(),
                    };
                    let bytes = encode_book(&book)?;
                    try_redb!(
                        "recording the logbook",
                        books.insert(new.book.as_str(), bytes.as_slice())
                    );
                }
            }
            let flow = FlowDetail {
                id,
                book: new.book,
                name: new.name,
                state: FlowState::Pending,
                phase: FlowState::Running,
                failures: Vec::new(),
                created_ms: now,
                updated_ms: now,
                meta: new.meta,
            };
            put_flow(txn, id, &encode_flow(&flow)?)?;
            {
                let mut defs = try_redb!("saving the definition", txn.open_table(DEFINITIONS));
                try_redb!(
                    "saving the definition",
                    defs.insert(id.0, new.definition.as_str())
                );
            }
            put_atoms(txn, id, &atoms)?;
            Ok(flow)
        })
    }

    fn save(
        &self,
        flow: &FlowDetail,
        atoms: &[&AtomDetail],
        transitions: &[Transition],
    ) -> Result<(), LogbookError> {
        let id = flow.id;
        let flow = encode_flow(flow)?;
        let atoms = encode_atoms(atoms.iter().copied())?;
        let transitions = transitions
            .iter()
            .map(encode_transition)
            .collect::<Result<Vec<_>, _>>()?;
        self.store.write(move |txn| {
            put_flow(txn, id, &flow)?;
            put_atoms(txn, id, &atoms)?;
            if !transitions.is_empty() {
                let mut table = try_redb!("saving transitions", txn.open_table(TRANSITIONS));
                let range = (id.0, 0)..=(id.0, u64::MAX);
                let next = try_redb!("saving transitions", table.range(range))
                    .next_back()
                    .transpose()
                    .map_err(|e| storage("saving transitions")(e.into()))?
                    .map_or(0, |(key, _)| key.value().1 + 1);
                for (seq, bytes) in (next..).zip(&transitions) {
                    try_redb!(
                        "saving transitions",
                        table.insert((id.0, seq), bytes.as_slice())
                    );
                }
            }
            Ok(())
        })
    }

    fn flow(&self, id: FlowId) -> Result<FlowDetail, LogbookError> {
        self.read("reading a flow", |txn| {
            let Some(table) = missing_is_empty(txn.open_table(FLOWS))? else {
                return Err(LogbookError::UnknownFlow(id));
            };
            let bytes = try_redb!("reading a flow", table.get(id.0))
                .ok_or(LogbookError::UnknownFlow(id))?;
            decode_flow(id, bytes.value())
        })
    }

    fn definition(&self, id: FlowId) -> Result<String, LogbookError> {
        self.read("reading a flow definition", |txn| {
            let Some(table) = missing_is_empty(txn.open_table(DEFINITIONS))? else {
                return Err(LogbookError::UnknownFlow(id));
            };
            let text = try_redb!("reading a flow definition", table.get(id.0))
                .ok_or(LogbookError::UnknownFlow(id))?;
            Ok(text.value().to_string())
        })
    }

    fn atoms(&self, id: FlowId) -> Result<Vec<AtomDetail>, LogbookError> {
        self.read("reading atoms", |txn| {
            let Some(table) = missing_is_empty(txn.open_table(ATOMS))? else {
                return Ok(Vec::new());
            };
            let mut atoms = Vec::new();
            for entry in try_redb!("reading atoms", table.range((id.0, 0)..=(id.0, u32::MAX))) {
                let (key, value) = try_redb!("reading atoms", entry);
                atoms.push(decode_atom(key.value().1, value.value())?);
            }
            Ok(atoms)
        })
    }

    fn transitions(&self, id: FlowId) -> Result<Vec<Transition>, LogbookError> {
        self.read("reading transitions", |txn| {
            let Some(table) = missing_is_empty(txn.open_table(TRANSITIONS))? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            let range = (id.0, 0)..=(id.0, u64::MAX);
            for entry in try_redb!("reading transitions", table.range(range)) {
                let (_, value) = try_redb!("reading transitions", entry);
                out.push(decode_transition(value.value())?);
            }
            Ok(out)
        })
    }

    fn flows(&self) -> Result<Vec<FlowDetail>, LogbookError> {
        self.read("listing flows", |txn| {
            let Some(table) = missing_is_empty(txn.open_table(FLOWS))? else {
                return Ok(Vec::new());
            };
            let mut flows = Vec::new();
            for entry in try_redb!("listing flows", table.iter()) {
                let (key, value) = try_redb!("listing flows", entry);
                flows.push(decode_flow(FlowId(key.value()), value.value())?);
            }
            Ok(flows)
        })
    }

    fn books(&self) -> Result<Vec<LogBook>, LogbookError> {
        self.read("listing logbooks", |txn| {
            let Some(table) = missing_is_empty(txn.open_table(BOOKS))? else {
                return Ok(Vec::new());
            };
            let mut books = Vec::new();
            for entry in try_redb!("listing logbooks", table.iter()) {
                let (key, value) = try_redb!("listing logbooks", entry);
                books.push(decode_book(key.value(), value.value())?);
            }
            Ok(books)
        })
    }

    fn delete_flow(&self, id: FlowId) -> Result<(), LogbookError> {
        self.store.write(move |txn| {
            let removed = {
                let mut flows = try_redb!("deleting a flow", txn.open_table(FLOWS));
                try_redb!("deleting a flow", flows.remove(id.0)).is_some()
            };
            if !removed {
                return Err(LogbookError::UnknownFlow(id));
            }
            let mut defs = try_redb!("deleting a flow", txn.open_table(DEFINITIONS));
            try_redb!("deleting a flow", defs.remove(id.0));
            let mut atoms = try_redb!("deleting a flow", txn.open_table(ATOMS));
            try_redb!(
                "deleting a flow",
                atoms.retain_in((id.0, 0)..=(id.0, u32::MAX), |_, _| false)
            );
            let mut transitions = try_redb!("deleting a flow", txn.open_table(TRANSITIONS));
            try_redb!(
                "deleting a flow",
                transitions.retain_in((id.0, 0)..=(id.0, u64::MAX), |_, _| false)
            );
            Ok(())
        })
    }
}
