//! The `taskbox` command line.

mod args;
mod commands;
mod grants;
mod logbook;
mod output;
mod remote;
mod serve;
mod tenants;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    // The daemon tells what its conductor does; other commands only errors.
    let default_filter = match cli.command {
        args::Command::Serve(_) => "warn,taskbox_conductor=info,taskbox_server=info",
        _ => "error",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TASKBOX_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
