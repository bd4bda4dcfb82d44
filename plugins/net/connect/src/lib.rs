//! The `connect` task, after TaskFlow's `ConnectToServer` example: connects
//! to the server at `ip` and provides the `connection`. A retry controller
//! usually picks `ip`, and retries with another server when this one is
//! unreachable.
//!
//! There is no network in the sandbox: `down` lists the addresses that are
//! unreachable, and connecting to any other succeeds. The session id is
//! derived from the address, so the same flow always gives the same result.

use taskbox_sdk::prelude::*;

/// An open connection to a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// The server's address.
    pub ip: String,
    /// Identifies the session: `sess-` and 16 hex digits of a hash of `ip`.
    pub session: String,
}

/// Connects to the server at `ip`.
///
/// Fails with `net.unreachable` when `ip` is listed in `down`.
#[task(provides = "connection")]
mod connect {
    use super::*;

    /// Opens the connection.
    pub fn execute(ip: String, down: Option<Vec<String>>) -> Result<Connection, Failure> {
        if down.unwrap_or_default().contains(&ip) {
            return Err(Failure::new(
                "net.unreachable",
                format!("cannot connect to {ip}: the server is unreachable"),
            ));
        }
        let connection = Connection {
            session: session_id(&ip),
            ip,
        };
        info(&format!(
            "connected to {} (session {})",
            connection.ip, connection.session
        ));
        Ok(connection)
    }

    /// Closes the connection `execute` opened, if it opened one.
    pub fn revert(result: Option<Connection>) {
        if let Some(connection) = result {
            info(&format!("closing connection to {}", connection.ip));
        }
    }
}

/// A session id for `ip`: `sess-` and the 64-bit FNV-1a hash of the address
/// in hex. Deterministic, as the sandbox has neither clock nor randomness.
pub fn session_id(ip: &str) -> String {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = ip.bytes().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    format!("sess-{hash:016x}")
}
