//! `taskbox post`, `taskbox jobs` and `taskbox usage`: clients of the
//! daemon's HTTP API.

use crate::args::{EngineKind, JobsCommand, PostArgs, ServerArgs, UsageArgs};
use crate::commands::parse_store;
use crate::logbook::{atom_table, header, shorten, utc};
use anyhow::{Context, Result, bail};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;
use taskbox::{AtomDetail, FlowDetail};
use taskbox_jobboard::{Job, JobState};

/// A client of one daemon.
struct Client {
    base: String,
    agent: ureq::Agent,
    /// `Bearer <token>`, when a token was given.
    authorization: Option<String>,
}

impl Client {
    fn new(args: &ServerArgs) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client {
            base: args.server.trim_end_matches('/').to_string(),
            agent,
            authorization: args
                .token
                .as_ref()
                .map(|token| format!("Bearer {}", token.0.trim())),
        }
    }

    /// Sends a request; a non-2xx answer becomes the server's error text.
    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let authorization = self.authorization.as_deref();
        let sent = match (method, body) {
            ("GET", _) => {
                let request = self.agent.get(&url);
                match authorization {
                    Some(value) => request.header("authorization", value),
                    None => request,
                }
                .call()
            }
            (_, body) => {
                let request = self.agent.post(&url);
                let request = match authorization {
                    Some(value) => request.header("authorization", value),
                    None => request,
                };
                match body {
                    Some(body) => request
                        .header("content-type", "application/json")
                        .send(body.to_string()),
                    None => request.send_empty(),
                }
            }
        };
        let mut response = sent.with_context(|| {
            format!(
                "cannot reach the taskbox daemon at {} (start it with `taskbox serve`, or set --server / TASKBOX_SERVER)",
                self.base
            )
        })?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer to {method} {path}"))?;
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or(text);
            if status.as_u16() == 401 {
                let hint = match self.authorization {
                    Some(_) => "check --token or TASKBOX_TOKEN",
                    None => "give one with --token or TASKBOX_TOKEN",
                };
                bail!("{message} (HTTP 401): {hint}");
            }
            bail!("{message} (HTTP {})", status.as_u16());
        }
        serde_json::from_str(&text).with_context(|| {
            format!("the daemon's answer to {method} {path} is not what this taskbox expects")
        })
    }
}

/// `text` escaped for a URL's query string.
fn query_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

/// The payload `post` sends.
fn payload(args: &PostArgs) -> Result<Value> {
    if let Some(path) = &args.payload {
        let mut text = String::new();
        if path.as_os_str() == "-" {
            std::io::stdin().read_to_string(&mut text)?;
        } else {
            text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the payload {}", path.display()))?;
        }
        return serde_json::from_str(&text)
            .with_context(|| format!("the payload {} is not JSON", path.display()));
    }
    let Some(flow) = &args.flow else {
        bail!("give a flow file or --payload FILE");
    };
    let spec = std::fs::read_to_string(flow)
        .with_context(|| format!("cannot read the flow file {}", flow.display()))?;
    let format = match taskbox::SpecFormat::for_path(flow) {
        taskbox::SpecFormat::Json => "json",
        taskbox::SpecFormat::Toml => "toml",
    };
    let mut engine = json!({ "mode": match args.engine {
        EngineKind::Serial => "serial",
        EngineKind::Parallel => "parallel",
    }, "defer_reverts": args.defer_reverts });
    if let Some(workers) = args.workers {
        engine["workers"] = json!(workers);
    }
    let mut payload = json!({
        "flow": { "spec": spec, "format": format },
        "store": parse_store(&args.store)?,
        "engine": engine,
    });
    if let Some(name) = &args.name {
        payload["name"] = json!(name);
    }
    Ok(payload)
}

pub(crate) fn post(args: PostArgs) -> Result<ExitCode> {
    let client = Client::new(&args.server);
    let body = payload(&args)?;
    let path = match &args.tenant {
        Some(tenant) => format!("/jobs?tenant={}", query_escape(tenant)),
        None => "/jobs".to_string(),
    };
    let job: Job = client.call("POST", &path, Some(&body))?;
    if args.json {
        println!("{}", serde_json::to_string(&job)?);
    } else {
        println!("posted job {} '{}'", job.id, job.name);
    }
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let mut last = job.state;
    loop {
        let job: Job = client
            .call("GET", &format!("/jobs/{}", job.id), None)
            .map(|d: Detail| d.job)?;
        if job.state != last {
            eprintln!("job {}: {}", job.id, job.state);
            last = job.state;
        }
        match job.state {
            JobState::Complete => return Ok(ExitCode::SUCCESS),
            JobState::Trashed => {
                eprintln!(
                    "job {} trashed: {}",
                    job.id,
                    job.trash_reason.as_deref().unwrap_or("-")
                );
                return Ok(ExitCode::from(1));
            }
            JobState::Unclaimed | JobState::Claimed => {
                std::thread::sleep(Duration::from_millis(100))
            }
        }
    }
}

/// `GET /jobs/{id}`.
#[derive(serde::Deserialize)]
struct Detail {
    job: Job,
    flow: Option<FlowDetail>,
    atoms: Vec<AtomDetail>,
}

pub(crate) fn jobs(command: JobsCommand) -> Result<ExitCode> {
    match command {
        JobsCommand::Ls {
            state,
            json,
            server,
        } => {
            let path = match &state {
                Some(state) => {
                    let state: JobState = state.parse().map_err(anyhow::Error::msg)?;
                    format!("/jobs?state={state}")
                }
                None => "/jobs".to_string(),
            };
            let jobs: Vec<Job> = Client::new(&server).call("GET", &path, None)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&jobs)?);
            } else {
                print_jobs(&jobs)?;
            }
        }
        JobsCommand::Show { id, json, server } => {
            let detail: Value =
                Client::new(&server).call("GET", &format!("/jobs/{}", id.trim()), None)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
            } else {
                let detail: Detail = serde_json::from_value(detail)
                    .context("the daemon's job detail is not what this taskbox expects")?;
                print_detail(&detail)?;
            }
        }
        JobsCommand::Trash { id, reason, server } => {
            let job: Job = Client::new(&server).call(
                "POST",
                &format!("/jobs/{}/trash", id.trim()),
                Some(&json!({ "reason": reason })),
            )?;
            println!("job {} trashed: {reason}", job.id);
        }
        JobsCommand::Restore { id, server } => {
            let job: Job =
                Client::new(&server).call("POST", &format!("/jobs/{}/restore", id.trim()), None)?;
            println!("job {} restored: {}", job.id, job.state);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `GET /usage`.
#[derive(serde::Deserialize)]
struct Usage {
    tenants: std::collections::BTreeMap<String, TenantUsage>,
}

#[derive(serde::Deserialize)]
struct TenantUsage {
    cpu_us: u64,
    memory_peak_bytes: u64,
    calls: u64,
    jobs: std::collections::BTreeMap<String, u64>,
}

pub(crate) fn usage(args: UsageArgs) -> Result<ExitCode> {
    let usage: Value = Client::new(&args.server).call("GET", "/usage", None)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&usage)?);
        return Ok(ExitCode::SUCCESS);
    }
    let usage: Usage = serde_json::from_value(usage)
        .context("the daemon's usage is not what this taskbox expects")?;
    print_usage(&usage)?;
    Ok(ExitCode::SUCCESS)
}

/// `us` microseconds of CPU time: milliseconds below a second, then
/// seconds, with three decimals.
fn cpu_time(us: u64) -> String {
    if us < 1_000_000 {
        format!("{}.{:03} ms", us / 1000, us % 1000)
    } else {
        let ms = us / 1000;
        format!("{}.{:03} s", ms / 1000, ms % 1000)
    }
}

/// `bytes` in the largest binary unit that keeps it at least 1.
fn mebibytes(bytes: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    // Tenths, in integers: no float rounding surprises.
    let tenths = |unit: u64| {
        let t = bytes.saturating_mul(10) / unit;
        format!("{}.{}", t / 10, t % 10)
    };
    match bytes {
        b if b >= GIB => format!("{} GiB", tenths(GIB)),
        b if b >= MIB => format!("{} MiB", tenths(MIB)),
        b if b >= KIB => format!("{} KiB", tenths(KIB)),
        b => format!("{b} B"),
    }
}

fn print_usage(usage: &Usage) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if usage.tenants.is_empty() {
        writeln!(out, "no tenants")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<16}  {:>12}  {:>11}  {:>9}  {:>9}  {:>7}  {:>8}  {:>7}",
        "TENANT", "CPU", "MEMORY PEAK", "CALLS", "UNCLAIMED", "CLAIMED", "COMPLETE", "TRASHED"
    )?;
    for (tenant, used) in &usage.tenants {
        let jobs = |state: JobState| used.jobs.get(state.name()).copied().unwrap_or(0);
        writeln!(
            out,
            "{:<16}  {:>12}  {:>11}  {:>9}  {:>9}  {:>7}  {:>8}  {:>7}",
            if tenant.is_empty() { "-" } else { tenant },
            cpu_time(used.cpu_us),
            mebibytes(used.memory_peak_bytes),
            used.calls,
            jobs(JobState::Unclaimed),
            jobs(JobState::Claimed),
            jobs(JobState::Complete),
            jobs(JobState::Trashed),
        )?;
    }
    Ok(())
}

fn owner(job: &Job) -> &str {
    match (&job.state, &job.claim) {
        (JobState::Claimed, Some(claim)) => &claim.owner,
        _ => "-",
    }
}

fn print_jobs(jobs: &[Job]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if jobs.is_empty() {
        writeln!(out, "no jobs")?;
        return Ok(());
    }
    // The tenant column only when some job has one (the admin's view).
    let tenants = jobs.iter().any(|job| !job.tenant.is_empty());
    let tenant = |name: &str| {
        if tenants {
            format!("{:<16}  ", if name.is_empty() { "-" } else { name })
        } else {
            String::new()
        }
    };
    writeln!(
        out,
        "{:>6}  {}{:<9}  {:>8}  {:<18}  {:>6}  {:<19}  NAME",
        "ID",
        tenant("TENANT"),
        "STATE",
        "ATTEMPTS",
        "OWNER",
        "FLOW",
        "POSTED (UTC)"
    )?;
    for job in jobs {
        writeln!(
            out,
            "{:>6}  {}{:<9}  {:>8}  {:<18}  {:>6}  {:<19}  {}",
            job.id.to_string(),
            tenant(&job.tenant),
            job.state.to_string(),
            job.attempts,
            owner(job),
            job.flow.map_or_else(|| "-".to_string(), |f| f.to_string()),
            utc(job.posted_ms),
            job.name
        )?;
    }
    Ok(())
}

fn print_detail(detail: &Detail) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let job = &detail.job;
    writeln!(out, "job {} '{}': {}", job.id, job.name, job.state)?;
    if !job.tenant.is_empty() {
        writeln!(out, "  tenant   {}", job.tenant)?;
    }
    writeln!(out, "  posted   {} UTC", utc(job.posted_ms))?;
    writeln!(out, "  updated  {} UTC", utc(job.updated_ms))?;
    if let Some(claim) = &job.claim {
        writeln!(
            out,
            "  claim    {} until {} UTC",
            claim.owner,
            utc(claim.expires_ms)
        )?;
    }
    writeln!(out, "  attempts {}", job.attempts)?;
    if job.usage.calls > 0 {
        writeln!(
            out,
            "  used     {} CPU, {} calls, memory peak {} KiB",
            cpu_time(job.usage.cpu_us),
            job.usage.calls,
            job.usage.memory_peak_bytes / 1024
        )?;
    }
    if let Some(failure) = &job.last_failure {
        writeln!(out, "  last failure  {}", shorten(failure))?;
    }
    if let Some(reason) = &job.trash_reason {
        writeln!(out, "  trashed  {reason}")?;
    }
    if !job.past_flows.is_empty() {
        let past: Vec<String> = job.past_flows.iter().map(ToString::to_string).collect();
        writeln!(out, "  earlier flows {}", past.join(", "))?;
    }
    match &detail.flow {
        Some(flow) => {
            writeln!(out)?;
            header(&mut out, flow)?;
            atom_table(&mut out, &detail.atoms)?;
        }
        None => writeln!(out, "  flow     not started")?,
    }
    Ok(())
}
