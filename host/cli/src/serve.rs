//! `taskbox serve`: the daemon.

use crate::args::ServeArgs;
use crate::commands::{overrides, sandbox};
use crate::logbook;
use anyhow::{Context, Result};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskbox::Limits;
use taskbox_conductor::{Conductor, ConductorOptions, Tenants, Workshop};
use taskbox_jobboard::{BoardOptions, JobBoard, RedbJobBoard};
use taskbox_model::parse_duration;
use taskbox_server::{Daemon, router};

fn duration(text: &str, flag: &str) -> Result<Duration> {
    parse_duration(text).with_context(|| format!("{flag} '{text}'"))
}

pub(crate) fn serve(args: ServeArgs) -> Result<ExitCode> {
    let lease = duration(&args.lease, "--lease")?;
    let grace = duration(&args.grace, "--grace")?;
    if args.max_attempts == 0 {
        anyhow::bail!("--max-attempts must be at least 1");
    }
    let tenants = match &args.tenants {
        Some(path) => {
            let tenants = Tenants::load(path)?;
            eprintln!(
                "tenants {}: {} (every API call needs a token)",
                path.display(),
                tenants.iter().count()
            );
            Some(Arc::new(tenants))
        }
        None => {
            eprintln!(
                "warning: no --tenants file: the API on {} is open to anyone who can reach it, with no token",
                args.listen
            );
            None
        }
    };
    let book = logbook::open(&args.db)?;
    let board: Arc<dyn JobBoard> = Arc::new(RedbJobBoard::open(
        book.store(),
        BoardOptions {
            max_attempts: args.max_attempts,
            ..BoardOptions::default()
        },
    )?);
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
        .max(1);
    let slots = args.slots.max(1);
    let sandbox = sandbox(&args.sandbox, slots.saturating_mul(workers))?;
    let limits = Limits::default().with(&overrides(&args.sandbox)?);
    let plugins = sandbox.load_dir(&args.plugins, &limits)?;
    for error in plugins.errors.values() {
        eprintln!("warning: {error}");
    }
    eprintln!(
        "plugins {}: {} loaded",
        args.plugins.display(),
        plugins.plugins.len()
    );
    let workshop = Workshop::new(sandbox, plugins, args.flows.clone(), workers);
    let workshop = Arc::new(match &tenants {
        Some(tenants) => workshop
            .with_tenants(tenants.clone(), &args.plugins, &limits)
            .context("cannot load the tenants' plugins")?,
        None => workshop,
    });
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("taskbox-{}", std::process::id()));
    let options = ConductorOptions {
        lease,
        ..ConductorOptions::concurrent(&name, slots)
    };
    let conductor = Conductor::start(board.clone(), book.clone(), workshop.clone(), options)
        .context("cannot start the conductor")?;
    let daemon = Arc::new(Daemon {
        board,
        logbook: book.clone(),
        workshop,
        conductor,
        started: Instant::now(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        eprintln!(
            "taskbox serve: conductor {name} ({slots} slots), logbook {}, listening on http://{address}",
            book.path().display()
        );
        axum::serve(listener, router(daemon.clone()))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("the HTTP server failed")
    })?;
    eprintln!(
        "shutting down: no new claims; running jobs have {} to finish",
        args.grace
    );
    daemon.conductor.shutdown(grace);
    let status = daemon.conductor.status();
    eprintln!(
        "stopped: {} consumed, {} abandoned, {} trashed, {} handed back",
        status.consumed, status.abandoned, status.trashed, status.released
    );
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
