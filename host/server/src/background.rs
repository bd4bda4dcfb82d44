//! The API served in the background of a process that is not a daemon:
//! tests, benchmarks, embedding.

use crate::api::{Daemon, router};
use std::net::SocketAddr;
use std::sync::Arc;

/// Serves `daemon`'s API on an ephemeral port of 127.0.0.1 from a runtime
/// of its own (two worker threads). The API runs until the runtime is
/// dropped; the address is where to reach it.
pub fn serve_on_loopback(
    daemon: Arc<Daemon>,
) -> std::io::Result<(tokio::runtime::Runtime, SocketAddr)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let address = listener.local_addr()?;
    runtime.spawn(async move { axum::serve(listener, router(daemon)).await });
    Ok((runtime, address))
}
