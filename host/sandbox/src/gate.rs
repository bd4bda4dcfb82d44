//! Fair sharing of the CPU between tenants.
//!
//! A [`CpuGate`] holds one token per core. A guest call runs only while it
//! holds a token; it gives the token back whenever it waits for the host
//! (sleeping, I/O) and, at every epoch tick, whenever someone else is
//! waiting. Waiting calls queue per tenant and tokens go to the tenants in
//! turn, so a tenant with a thousand runnable calls gets the same share of
//! the CPU as a tenant with one.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// CPU tokens handed to tenants in turn.
#[derive(Debug)]
pub struct CpuGate {
    state: Mutex<GateState>,
    /// Calls waiting for a token, readable without the lock.
    waiting: AtomicUsize,
    tokens: usize,
}

#[derive(Debug, Default)]
struct GateState {
    free: usize,
    /// Waiting calls of each tenant, oldest first.
    queues: BTreeMap<Arc<str>, VecDeque<Arc<Ticket>>>,
    /// Tenants with waiting calls, next to be served first.
    turn: VecDeque<Arc<str>>,
}

/// One waiting call; woken when a token is handed to it.
#[derive(Debug, Default)]
struct Ticket {
    granted: Mutex<bool>,
    wake: Condvar,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl CpuGate {
    /// A gate of `tokens` tokens (at least one); one per core is right.
    pub fn new(tokens: usize) -> Arc<CpuGate> {
        let tokens = tokens.max(1);
        Arc::new(CpuGate {
            state: Mutex::new(GateState {
                free: tokens,
                ..GateState::default()
            }),
            waiting: AtomicUsize::new(0),
            tokens,
        })
    }

    /// A gate of one token per core of this machine.
    pub fn per_core() -> Arc<CpuGate> {
        CpuGate::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// How many calls may run at once.
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// Takes a token for `tenant`, waiting for its turn if none is free.
    pub(crate) fn acquire(&self, tenant: &Arc<str>) {
        let ticket = {
            let mut state = lock(&self.state);
            if state.free > 0 && state.turn.is_empty() {
                state.free -= 1;
                return;
            }
            let ticket = Arc::new(Ticket::default());
            let queue = state.queues.entry(tenant.clone()).or_default();
            queue.push_back(ticket.clone());
            if queue.len() == 1 {
                state.turn.push_back(tenant.clone());
            }
            self.waiting.fetch_add(1, Ordering::AcqRel);
            ticket
        };
        let mut granted = lock(&ticket.granted);
        while !*granted {
            granted = ticket
                .wake
                .wait(granted)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Gives a token back: to the next tenant in turn, or to the pool.
    pub(crate) fn release(&self) {
        let mut state = lock(&self.state);
        let Some(tenant) = state.turn.pop_front() else {
            state.free += 1;
            return;
        };
        let (ticket, more) = match state.queues.get_mut(&tenant) {
            Some(queue) => (queue.pop_front(), !queue.is_empty()),
            None => (None, false),
        };
        if more {
            state.turn.push_back(tenant);
        } else {
            state.queues.remove(&tenant);
        }
        drop(state);
        match ticket {
            Some(ticket) => {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                *lock(&ticket.granted) = true;
                ticket.wake.notify_one();
            }
            // A tenant in turn always has a waiting call; keep the token.
            None => lock(&self.state).free += 1,
        }
    }

    /// True when some call waits for a token.
    pub(crate) fn contended(&self) -> bool {
        self.waiting() > 0
    }

    /// Calls waiting for a token now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn tokens_go_to_tenants_in_turn() {
        let gate = CpuGate::new(1);
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        gate.acquire(&a);
        let (tx, rx) = mpsc::channel();
        let mut waiters = Vec::new();
        // Three calls of tenant a queue before one of tenant b.
        for (i, tenant) in [(1, &a), (2, &a), (3, &a), (4, &b)] {
            let (shared, tenant, tx) = (gate.clone(), tenant.clone(), tx.clone());
            waiters.push(std::thread::spawn(move || {
                shared.acquire(&tenant);
                tx.send(i).expect("send");
                shared.release();
            }));
            while lock(&gate.state)
                .queues
                .values()
                .map(VecDeque::len)
                .sum::<usize>()
                < i
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert!(gate.contended());
        gate.release();
        let order: Vec<usize> = (0..4).map(|_| rx.recv().expect("recv")).collect();
        // a's oldest call, then b's (its turn), then the rest of a's.
        assert_eq!(order, vec![1, 4, 2, 3]);
        for w in waiters {
            w.join().expect("join");
        }
        assert!(!gate.contended());
        assert_eq!(lock(&gate.state).free, 1);
    }
}
