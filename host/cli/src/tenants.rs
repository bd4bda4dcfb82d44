//! `taskbox tenants`: tokens for the tenants file.

use crate::args::TenantsCommand;
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use taskbox_conductor::token_hash;

/// What every token starts with, so that one is recognisable in a
/// configuration or a leak scanner.
const PREFIX: &str = "tbx_";

/// Bytes of randomness in a token.
const TOKEN_BYTES: usize = 32;

pub(crate) fn tenants(command: TenantsCommand) -> Result<ExitCode> {
    match command {
        TenantsCommand::Token { admin } => {
            let token = new_token()?;
            let key = if admin {
                "admin_token_sha256"
            } else {
                "token_sha256"
            };
            if std::io::stderr().is_terminal() {
                eprintln!(
                    "The token (give it to the {}; it is shown only here), then the line for the tenants file{}:",
                    if admin { "admin" } else { "tenant" },
                    if admin {
                        ""
                    } else {
                        " (in the tenant's [tenants.ID] table)"
                    }
                );
            }
            println!("{token}");
            println!("{key} = \"{}\"", token_hash(&token));
        }
        TenantsCommand::Hash => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the token from standard input")?;
            let token = text.trim();
            if token.is_empty() {
                bail!(
                    "no token on standard input (e.g. `printenv TASKBOX_TOKEN | taskbox tenants hash`)"
                );
            }
            println!("{}", token_hash(token));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A new token: [`PREFIX`] and [`TOKEN_BYTES`] random bytes from the
/// operating system, in hex.
fn new_token() -> Result<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("the operating system gave no randomness: {e}"))?;
    let mut token = String::with_capacity(PREFIX.len() + 2 * TOKEN_BYTES);
    token.push_str(PREFIX);
    for byte in bytes {
        let _ = write!(token, "{byte:02x}");
    }
    Ok(token)
}
