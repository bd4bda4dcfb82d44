//! Driving one async guest call to completion on the calling thread.
//!
//! Guest code runs as a wasmtime async call: it yields at every epoch tick
//! and whenever it waits for the host (a sleep, I/O). The driver polls it
//! on the calling thread. On a metered lane it holds a [`CpuGate`] token
//! while the guest runs, hands it over at a tick when others are waiting,
//! and gives it back while the guest waits; the time it holds the token is
//! the call's CPU time.

use crate::gate::CpuGate;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// CPU time of one call: the time its driver held the CPU. Shared with
/// the store's epoch callback, which reads it at every tick.
#[derive(Debug)]
pub(crate) struct Meter {
    base: Instant,
    /// Nanoseconds of finished running spells.
    spent: AtomicU64,
    /// Nanoseconds since `base` when the current spell began; `u64::MAX`
    /// while not running.
    since: AtomicU64,
}

const IDLE: u64 = u64::MAX;

impl Meter {
    pub(crate) fn new() -> Arc<Meter> {
        Arc::new(Meter {
            base: Instant::now(),
            spent: AtomicU64::new(0),
            since: AtomicU64::new(IDLE),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(IDLE - 1)
    }

    fn start(&self) {
        self.since.store(self.now(), Ordering::Relaxed);
    }

    fn stop(&self) {
        let since = self.since.swap(IDLE, Ordering::Relaxed);
        if since != IDLE {
            self.spent
                .fetch_add(self.now().saturating_sub(since), Ordering::Relaxed);
        }
    }

    /// CPU time so far, including the current spell.
    pub(crate) fn used(&self) -> Duration {
        let since = self.since.load(Ordering::Relaxed);
        let running = if since == IDLE {
            0
        } else {
            self.now().saturating_sub(since)
        };
        Duration::from_nanos(self.spent.load(Ordering::Relaxed) + running)
    }
}

/// Wakes the driving thread.
struct ThreadWaker {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Who holds the CPU while the guest runs.
pub(crate) struct Seat<'a> {
    pub(crate) gate: Option<(&'a CpuGate, &'a Arc<str>)>,
    pub(crate) meter: &'a Meter,
}

impl Seat<'_> {
    fn sit(&self) {
        if let Some((gate, tenant)) = self.gate {
            gate.acquire(tenant);
        }
        self.meter.start();
    }

    fn stand(&self) {
        self.meter.stop();
        if let Some((gate, _)) = self.gate {
            gate.release();
        }
    }

    /// At a tick: lets a waiting call run first.
    fn offer(&self) {
        if let Some((gate, _)) = self.gate
            && gate.contended()
        {
            self.stand();
            self.sit();
        }
    }
}

/// The call waited for the host past its wall-clock deadline.
#[derive(Debug)]
pub(crate) struct Overdue;

/// Polls `future` to completion on this thread, seated per `seat`. Waiting
/// for the host (the guest is not running) may last until `deadline`
/// passes; then the future is dropped and [`Overdue`] returned.
pub(crate) fn drive<F: Future>(
    future: F,
    seat: &Seat<'_>,
    deadline: Instant,
) -> Result<F::Output, Overdue> {
    let waker = Arc::new(ThreadWaker {
        thread: std::thread::current(),
        woken: AtomicBool::new(false),
    });
    let task_waker = Waker::from(waker.clone());
    let mut cx = Context::from_waker(&task_waker);
    let mut future = pin!(future);
    seat.sit();
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            seat.stand();
            return Ok(out);
        }
        if waker.woken.swap(false, Ordering::AcqRel) {
            // A yield at an epoch tick: the guest is ready to go on.
            seat.offer();
            continue;
        }
        seat.stand();
        while !waker.woken.swap(false, Ordering::AcqRel) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Overdue);
            }
            std::thread::park_timeout(left);
        }
        seat.sit();
    }
}

/// The tokio runtime wasmtime-wasi's async host functions (timers, I/O)
/// need: entered while a call is polled, its one worker drives timers.
#[derive(Debug)]
pub(crate) struct Reactor {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl Reactor {
    pub(crate) fn start() -> std::io::Result<Reactor> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("taskbox-io")
            .enable_all()
            .build()?;
        Ok(Reactor {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        // A runtime must not be dropped from within an async context (the
        // daemon drops its sandbox from one); shut it down in the background.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
