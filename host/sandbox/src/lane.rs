//! Lanes: whom a call runs for. A lane ties a call to its tenant's
//! [`Account`] (fair CPU share, concurrency cap, accounting) and to its
//! job (CPU budget, accounting).

use crate::gate::CpuGate;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use taskbox_model::UsageSnapshot;

/// Resources used, counted as calls end.
#[derive(Debug, Default)]
pub struct Usage {
    cpu_ns: AtomicU64,
    memory_peak: AtomicU64,
    calls: AtomicU64,
}

impl Usage {
    /// Counts one call that ran `cpu` and peaked at `memory` bytes.
    pub(crate) fn add(&self, cpu: Duration, memory: u64) {
        let ns = u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX);
        self.cpu_ns.fetch_add(ns, Ordering::Relaxed);
        self.memory_peak.fetch_max(memory, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// CPU time counted so far.
    pub(crate) fn cpu(&self) -> Duration {
        Duration::from_nanos(self.cpu_ns.load(Ordering::Relaxed))
    }

    /// The counts now.
    pub fn snapshot(&self) -> UsageSnapshot {
        UsageSnapshot {
            cpu_us: self.cpu_ns.load(Ordering::Relaxed) / 1_000,
            memory_peak_bytes: self.memory_peak.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
        }
    }
}

/// A tenant's share of the sandbox: its turn at the CPU gate, its cap on
/// calls running at once, and what it has used.
#[derive(Debug)]
pub struct Account {
    tenant: Arc<str>,
    gate: Arc<CpuGate>,
    slots: Option<Slots>,
    usage: Usage,
}

impl Account {
    /// The account of `tenant`, scheduled by `gate`, running at most
    /// `max_calls` guest calls at once (`None`: no cap).
    pub fn new(tenant: &str, gate: Arc<CpuGate>, max_calls: Option<usize>) -> Arc<Account> {
        Arc::new(Account {
            tenant: tenant.into(),
            gate,
            slots: max_calls.map(Slots::new),
            usage: Usage::default(),
        })
    }

    /// The tenant's id.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// What the tenant has used.
    pub fn usage(&self) -> UsageSnapshot {
        self.usage.snapshot()
    }
}

/// A counting semaphore: calls running at once.
#[derive(Debug)]
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn new(count: usize) -> Slots {
        Slots {
            free: Mutex::new(count.max(1)),
            freed: Condvar::new(),
        }
    }

    fn take(&self) {
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *free -= 1;
    }

    fn give(&self) {
        *self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        self.freed.notify_one();
    }
}

/// Whom a call runs for. The default lane is unmetered: the call runs at
/// once, on the calling thread, without a CPU budget or accounting.
#[derive(Debug, Clone, Default)]
pub struct Lane(Option<Arc<JobLane>>);

#[derive(Debug)]
struct JobLane {
    account: Arc<Account>,
    budget: Option<Duration>,
    /// CPU time the job used in earlier attempts.
    spent: Duration,
    usage: Usage,
}

impl Lane {
    /// The lane of one attempt at a job of `account`'s tenant, whose calls
    /// together, over all its attempts, may use at most `budget` of CPU
    /// time (`None`: no budget); earlier attempts `spent` some of it.
    pub fn job(account: Arc<Account>, budget: Option<Duration>, spent: Duration) -> Lane {
        Lane(Some(Arc::new(JobLane {
            account,
            budget,
            spent,
            usage: Usage::default(),
        })))
    }

    /// What this attempt's calls have used (zero for the unmetered lane).
    pub fn usage(&self) -> UsageSnapshot {
        self.0
            .as_ref()
            .map(|lane| lane.usage.snapshot())
            .unwrap_or_default()
    }

    /// The job's CPU budget and what it has used of it.
    pub(crate) fn budget(&self) -> Option<(Duration, Duration)> {
        let lane = self.0.as_ref()?;
        lane.budget
            .map(|budget| (budget, lane.spent.saturating_add(lane.usage.cpu())))
    }

    /// The gate and tenant calls of this lane are scheduled by.
    pub(crate) fn gate(&self) -> Option<(&CpuGate, &Arc<str>)> {
        self.0
            .as_ref()
            .map(|lane| (&*lane.account.gate, &lane.account.tenant))
    }

    /// Waits for one of the tenant's call slots; the guard gives it back.
    pub(crate) fn enter(&self) -> SlotGuard<'_> {
        let slots = self.0.as_ref().and_then(|lane| lane.account.slots.as_ref());
        if let Some(slots) = slots {
            slots.take();
        }
        SlotGuard(slots)
    }

    /// Counts one finished call against the job and the tenant.
    pub(crate) fn charge(&self, cpu: Duration, memory: u64) {
        if let Some(lane) = &self.0 {
            lane.usage.add(cpu, memory);
            lane.account.usage.add(cpu, memory);
        }
    }
}

/// Holds one of a tenant's call slots.
pub(crate) struct SlotGuard<'a>(Option<&'a Slots>);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        if let Some(slots) = self.0 {
            slots.give();
        }
    }
}
