//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Run untrusted tasks as sandboxed WebAssembly components, with OpenStack
/// TaskFlow's semantics: flows of atoms that execute, and revert on failure.
///
/// Exit codes: 0 the flow succeeded; 1 it did not (reverted or failed;
/// for `post --wait`, the job was trashed); 2 bad input or an error before
/// or outside the flow; 3 suspended (Ctrl-C), resume with
/// `taskbox resume ID`; 130 a second Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "taskbox", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a flow file; prints transitions live and a summary. Exits 1 when
    /// the flow does not succeed.
    ///
    /// Plugins are untrusted code. Without the --grant-* flags a task sees
    /// no files or directories, an empty environment, a wall clock frozen
    /// at the Unix epoch and a fixed random sequence, and it never has a
    /// network. Each --grant-* flag gives the flow's plugins (or, with
    /// --grant-for, one plugin's) real access to what it names; the grants
    /// are recorded with each atom in the logbook.
    Run(RunArgs),
    /// Check a flow file against the plugins without running anything.
    Validate(FlowArgs),
    /// List the plugins of a directory with their describe() and hash.
    Plugins(PluginsArgs),
    /// Print a flow's execution graph as Graphviz DOT.
    Graph(GraphArgs),
    /// Continue a recorded flow that crashed or was suspended. Atoms that
    /// succeeded keep their results; atoms that were running run again.
    ///
    /// Grants are not carried over from the run that started the flow:
    /// pass the --grant-* flags again (a warning names each atom whose
    /// recorded grants differ from this resume's).
    Resume(ResumeArgs),
    /// Inspect the logbook: the flows it holds and their story.
    #[command(subcommand)]
    Logbook(LogbookCommand),
    /// Run the daemon: a conductor claiming jobs from the jobboard and
    /// running their flows, and the HTTP API that `post` and `jobs` talk
    /// to. SIGTERM or Ctrl-C shuts it down gracefully: no new claims,
    /// running jobs get --grace to finish, the rest are suspended and
    /// handed back to the board, to resume where they stopped.
    Serve(ServeArgs),
    /// Post a job to a running daemon: a flow file with its store and
    /// engine options, or a whole JSON payload. Prints the job's id.
    Post(PostArgs),
    /// List, show, trash and restore the jobs of a running daemon.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// What each tenant has used on a running daemon: CPU time of its
    /// guest calls, the memory high-water of any one instance, calls made,
    /// and its jobs by state. A tenant's token shows its own line; the
    /// admin's, every tenant's.
    Usage(UsageArgs),
    /// Make tenant tokens and their hashes for a tenants file (see
    /// `taskbox serve --tenants`).
    #[command(subcommand)]
    Tenants(TenantsCommand),
}

/// A secret that never shows in debug output.
#[derive(Clone)]
pub(crate) struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// Where the daemon is.
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// The daemon's address.
    #[arg(
        long,
        value_name = "URL",
        env = "TASKBOX_SERVER",
        default_value = "http://127.0.0.1:7878"
    )]
    pub(crate) server: String,
    /// The API token, for a daemon with tenants: a tenant's (its own jobs)
    /// or the admin's (every job). Sent as `Authorization: Bearer`, never
    /// printed. Prefer the environment variable: a flag's value is visible
    /// to other users of the machine in the process list.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TASKBOX_TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<Secret>,
}

#[derive(Debug, Args)]
pub(crate) struct UsageArgs {
    /// Print JSON (the daemon's `GET /usage`).
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TenantsCommand {
    /// Make a new random token (32 bytes from the operating system) and
    /// print it with the line for the tenants file. Give the token to the
    /// tenant; the file keeps only its SHA-256. The token is shown once:
    /// keep it, or make another.
    Token {
        /// Print the line for the admin (`admin_token_sha256 = ...`)
        /// instead of a tenant's (`token_sha256 = ...`).
        #[arg(long)]
        admin: bool,
    },
    /// Read a token from standard input and print its SHA-256 as the
    /// tenants file wants it (64 hex digits); surrounding whitespace and
    /// the final newline are ignored.
    Hash,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Directory of plugin components (*.wasm), loaded at start. With
    /// --tenants, the shared plugins the file makes public are here and
    /// each tenant's own are in its subdirectory (by default named after
    /// the tenant).
    #[arg(long, value_name = "DIR")]
    pub(crate) plugins: PathBuf,
    /// The tenants file (TOML): the admin's and each tenant's token hash,
    /// the public plugins, each tenant's plugin directory, limits and
    /// grants. With it every API call needs a token (`--token` or
    /// TASKBOX_TOKEN on the client side) and a tenant sees only its own
    /// jobs. Without it the API is open to anyone who can reach
    /// --listen. See `taskbox tenants token` to make tokens.
    #[arg(long, value_name = "FILE")]
    pub(crate) tenants: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) db: DbArgs,
    /// Address of the HTTP API (port 0 picks a free one; the address is
    /// printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    pub(crate) listen: String,
    /// Directory of flow files that payloads may name with `flow.file`.
    #[arg(long, value_name = "DIR")]
    pub(crate) flows: Option<PathBuf>,
    /// Jobs run at once (1: a blocking conductor). Durable jobs mostly wait
    /// for commits, and concurrent jobs share them, so this can well exceed
    /// the CPU count.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub(crate) slots: usize,
    /// Most workers a job's parallel engine may use (default: number of
    /// CPUs; also a payload's default).
    #[arg(long, value_name = "N")]
    pub(crate) workers: Option<usize>,
    /// A claim's lease; heartbeats renew it, and a dead conductor's jobs
    /// are taken over when it runs out.
    #[arg(long, value_name = "DURATION", default_value = "15s")]
    pub(crate) lease: String,
    /// Failed attempts (abandons and lapsed leases) after which a job goes
    /// to the trash instead of back to the board.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub(crate) max_attempts: u32,
    /// How long running jobs may take to finish at shutdown before they
    /// are suspended.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub(crate) grace: String,
    /// The conductor's name on the board (default: taskbox-PID).
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    #[command(flatten)]
    pub(crate) sandbox: SandboxArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PostArgs {
    /// The flow file (TOML, or JSON with a .json extension), sent inline.
    #[arg(required_unless_present = "payload", conflicts_with = "payload")]
    pub(crate) flow: Option<PathBuf>,
    /// A whole job payload as JSON (a file, or - for stdin).
    #[arg(long, value_name = "FILE")]
    pub(crate) payload: Option<PathBuf>,
    /// Initial store value as NAME=JSON (a bare word is taken as a string);
    /// repeatable.
    #[arg(long = "store", value_name = "NAME=JSON")]
    pub(crate) store: Vec<String>,
    /// Engine to run with.
    #[arg(long, value_enum, default_value_t = EngineKind::Serial)]
    pub(crate) engine: EngineKind,
    /// Worker threads of the parallel engine (default: the daemon's).
    #[arg(long, value_name = "N")]
    pub(crate) workers: Option<usize>,
    /// TaskFlow's defer_reverts.
    #[arg(long)]
    pub(crate) defer_reverts: bool,
    /// The job's name (default: the flow's).
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// Wait until the job is complete or trashed; exit 0 when complete,
    /// 1 when trashed.
    #[arg(long)]
    pub(crate) wait: bool,
    /// Print the job as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// With the admin's token: the tenant to post the job for (its
    /// plugins, limits and quota apply). A tenant's token posts for the
    /// tenant itself.
    #[arg(long, value_name = "ID")]
    pub(crate) tenant: Option<String>,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// List jobs in posting order: id, state, attempts, owner, flow, name.
    Ls {
        /// Only jobs in this state: unclaimed, claimed, complete, trashed.
        #[arg(long, value_name = "STATE")]
        state: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show one job: its state, claim, attempts, failures and its flow's
    /// atoms.
    Show {
        /// The job's id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Move a job to the trash (it stays inspectable and restorable).
    Trash {
        /// The job's id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Put a trashed job back on the board, its attempts reset.
    Restore {
        /// The job's id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Where the logbook is.
#[derive(Debug, Args)]
pub(crate) struct DbArgs {
    /// The logbook file (redb). Default: $TASKBOX_DB, else
    /// $XDG_DATA_HOME/taskbox/logbook.redb, else
    /// ~/.local/share/taskbox/logbook.redb. One process at a time may
    /// have it open.
    #[arg(long, value_name = "PATH")]
    pub(crate) db: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum LogbookCommand {
    /// List the recorded flows: id, state, atoms done, times.
    Ls {
        #[command(flatten)]
        db: DbArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one flow: its atoms (states, results, failures, timings, plugin
    /// hashes), retry histories and every transition in order.
    Show {
        /// The flow's id (see `taskbox logbook ls`).
        id: String,
        #[command(flatten)]
        db: DbArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ResumeArgs {
    /// The flow's id (printed by `run`; see `taskbox logbook ls`).
    pub(crate) id: String,
    #[command(flatten)]
    pub(crate) db: DbArgs,
    /// Directory of plugin components (default: the one the flow was
    /// started with).
    #[arg(long, value_name = "DIR")]
    pub(crate) plugins: Option<PathBuf>,
    /// Resume even if an atom's plugin is not the component it ran with
    /// (its content hash changed); the old hash is kept in the atom's record.
    #[arg(long)]
    pub(crate) accept_changed_plugins: bool,
    /// Print events and the summary as JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) sandbox: SandboxArgs,
    #[command(flatten)]
    pub(crate) grants: GrantArgs,
}

/// Capability grants of `run` and `resume`: what the operator running a
/// flow locally lets its untrusted plugins reach beyond computation.
#[derive(Debug, Args)]
#[command(next_help_heading = "Capability grants (nothing is granted without these flags)")]
pub(crate) struct GrantArgs {
    /// Give the plugins the host directory HOST, seen in the guest as
    /// GUEST (e.g. /data), read-only (ro, the default) or read-write (rw).
    /// The plugin can read (and with rw change or delete) everything
    /// under HOST. HOST must be an existing directory. Repeatable.
    #[arg(long = "grant-dir", value_name = "HOST:GUEST[:ro|rw]")]
    pub(crate) dirs: Vec<String>,
    /// Set the environment variable KEY to VALUE in the guest (its
    /// environment is otherwise empty). The logbook records the name
    /// only. Repeatable.
    #[arg(long = "grant-env", value_name = "KEY=VALUE")]
    pub(crate) env: Vec<String>,
    /// Copy your own environment variable KEY into the guest (an error if
    /// it is not set). Like --grant-env, the value is recorded in the
    /// logbook. Repeatable.
    #[arg(long = "grant-env-from", value_name = "KEY")]
    pub(crate) env_from: Vec<String>,
    /// Let the plugins read the real wall clock (otherwise frozen at the
    /// Unix epoch).
    #[arg(long = "grant-wall-clock")]
    pub(crate) wall_clock: bool,
    /// Give the plugins real randomness (otherwise a fixed, deterministic
    /// sequence).
    #[arg(long = "grant-random")]
    pub(crate) random: bool,
    /// Apply the grants above only to the tasks of plugin PLUGIN (the
    /// flow must use it); without it they apply to every task of the
    /// flow. Repeatable: each plugin named gets the same grants.
    #[arg(long = "grant-for", value_name = "PLUGIN")]
    pub(crate) only_for: Vec<String>,
}

/// Options shared by commands that load plugins.
#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    /// Linear memory cap per task, e.g. 64MiB (default 64MiB).
    #[arg(long, value_name = "SIZE")]
    pub(crate) memory: Option<String>,
    /// CPU deadline per call, e.g. 30s or 500ms (default 30s).
    #[arg(long, value_name = "DURATION")]
    pub(crate) timeout: Option<String>,
    /// Result size cap per call, e.g. 1MiB (default 1MiB).
    #[arg(long, value_name = "SIZE")]
    pub(crate) max_result: Option<String>,
    /// Directory of the compiled-component cache (default: the user's cache
    /// directory, e.g. ~/.cache/taskbox/compiled).
    #[arg(long, value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Compile every plugin afresh, without the on-disk cache.
    #[arg(long, conflicts_with = "cache_dir")]
    pub(crate) no_cache: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EngineKind {
    /// One atom at a time.
    Serial,
    /// Independent atoms at the same time on worker threads.
    Parallel,
}

/// What `run` and `validate` both take: a flow file, plugins, a store.
#[derive(Debug, Args)]
pub(crate) struct FlowArgs {
    /// The flow file (TOML, or JSON with a .json extension).
    pub(crate) flow: PathBuf,
    /// Directory of plugin components (*.wasm).
    #[arg(long, value_name = "DIR")]
    pub(crate) plugins: PathBuf,
    /// Initial store value as NAME=JSON (a bare word is taken as a string);
    /// repeatable, overrides the flow file's [store].
    #[arg(long = "store", value_name = "NAME=JSON")]
    pub(crate) store: Vec<String>,
    #[command(flatten)]
    pub(crate) sandbox: SandboxArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) flow: FlowArgs,
    /// Engine to run with.
    #[arg(long, value_enum, default_value_t = EngineKind::Serial)]
    pub(crate) engine: EngineKind,
    /// Worker threads of the parallel engine (default: number of CPUs).
    #[arg(long, value_name = "N")]
    pub(crate) workers: Option<usize>,
    /// Print events and the summary as JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
    /// TaskFlow's defer_reverts: a retry's REVERT always defers to the
    /// enclosing retry, and without one reverts the whole flow (default:
    /// only the retry's own scope is reverted).
    #[arg(long)]
    pub(crate) defer_reverts: bool,
    #[command(flatten)]
    pub(crate) db: DbArgs,
    /// Run without recording the flow (it cannot be resumed).
    #[arg(long, conflicts_with = "db")]
    pub(crate) no_db: bool,
    #[command(flatten)]
    pub(crate) grants: GrantArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PluginsArgs {
    /// Directory of plugin components (*.wasm).
    pub(crate) dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) sandbox: SandboxArgs,
}

#[derive(Debug, Args)]
pub(crate) struct GraphArgs {
    /// The flow file.
    pub(crate) flow: PathBuf,
    /// Plugin directory; with it, data dependencies from each plugin's
    /// describe() are drawn too.
    #[arg(long, value_name = "DIR")]
    pub(crate) plugins: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) sandbox: SandboxArgs,
}
