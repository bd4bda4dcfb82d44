//! Tenant isolation of the daemon's HTTP API, endpoint by endpoint: the
//! real router served on 127.0.0.1 from this process over a real board,
//! logbook and workshop, with two tenants and an admin. Its conductor
//! stops claiming before anything is posted, so every job stays on the
//! board and the quotas are exact; jobs that run are the business of the
//! end-to-end test at the bottom, through the `taskbox` binary.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskbox::{
    BoardOptions, Conductor, ConductorOptions, JobBoard, Limits, RedbJobBoard, RedbLogbook,
    Sandbox, SandboxConfig, Workshop,
};
use taskbox_conductor::{Tenants, token_hash};
use taskbox_server::{Daemon, serve_on_loopback};

const ADMIN: &str = "tbx_admin-secret";
const ACME: &str = "tbx_acme-secret";
const GLOBEX: &str = "tbx_globex-secret";
/// acme's limits.
const ACME_QUEUE: usize = 2;
const ACME_PAYLOAD: usize = 4096;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn tenants_file() -> String {
    format!(
        r#"
admin_token_sha256 = "{admin}"
public_plugins = ["add", "multiply", "divide"]

[tenants.acme]
token_sha256 = "{acme}"
[tenants.acme.limits]
queued_jobs = {ACME_QUEUE}
payload_size = {ACME_PAYLOAD}

[tenants.globex]
token_sha256 = "{globex}"
"#,
        admin = token_hash(ADMIN),
        acme = token_hash(ACME),
        globex = token_hash(GLOBEX),
    )
}

/// A plugin directory: the public arithmetic plugins at the top, and
/// `hostile` in acme's own directory only.
fn plugin_dir(root: &Path) -> PathBuf {
    let dir = root.join("plugins");
    std::fs::create_dir_all(dir.join("acme")).expect("plugin dirs");
    for name in ["add", "multiply", "divide"] {
        let from = Path::new(taskbox_tests::GUEST_DIR).join(format!("{name}.wasm"));
        std::fs::copy(from, dir.join(format!("{name}.wasm"))).expect("copy a plugin");
    }
    std::fs::copy(taskbox_tests::HOSTILE, dir.join("acme/hostile.wasm")).expect("copy hostile");
    dir
}

/// The API of an in-process daemon, served on 127.0.0.1.
struct Api {
    url: String,
    agent: ureq::Agent,
    daemon: Arc<Daemon>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// One answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    /// The `WWW-Authenticate` header.
    challenge: Option<String>,
    /// The body as sent.
    text: String,
    /// The body as JSON (`null` when it is not).
    json: Value,
}

impl Api {
    /// A daemon over a fresh board in `root`, with `tenants` (or open).
    fn start(root: &Path, tenants: Option<Tenants>) -> Api {
        let plugins = plugin_dir(root);
        let sandbox = Arc::new(
            Sandbox::new(&SandboxConfig {
                cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-cache")),
                ..SandboxConfig::default()
            })
            .expect("sandbox"),
        );
        let limits = Limits::default();
        let shared = sandbox.load_dir(&plugins, &limits).expect("plugins");
        let tenants = tenants.map(Arc::new);
        let mut workshop = Workshop::new(sandbox, shared, None, 2);
        if let Some(tenants) = &tenants {
            workshop = workshop
                .with_tenants(tenants.clone(), &plugins, &limits)
                .expect("tenants' plugins");
        }
        let workshop = Arc::new(workshop);
        let logbook = Arc::new(RedbLogbook::open(&root.join("daemon.redb")).expect("logbook"));
        let board: Arc<dyn JobBoard> =
            Arc::new(RedbJobBoard::open(logbook.store(), BoardOptions::default()).expect("board"));
        let conductor = Conductor::start(
            board.clone(),
            logbook.clone(),
            workshop.clone(),
            ConductorOptions::blocking("isolation"),
        )
        .expect("conductor");
        // Nothing is claimed: jobs stay where the test puts them.
        conductor.shutdown(Duration::ZERO);
        let daemon = Arc::new(Daemon {
            board,
            logbook,
            workshop,
            conductor,
            started: Instant::now(),
        });
        let (runtime, address) = serve_on_loopback(daemon.clone()).expect("serves");
        let url = format!("http://{address}");
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Api {
            url,
            agent,
            daemon,
            runtime: Some(runtime),
        }
    }

    /// `METHOD PATH` with `authorization` as the header's whole value.
    fn raw(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        let url = format!("{}{path}", self.url);
        let sent = if method == "GET" {
            let request = self.agent.get(&url);
            match authorization {
                Some(value) => request.header("authorization", value),
                None => request,
            }
            .call()
        } else {
            let request = self.agent.post(&url);
            let request = match authorization {
                Some(value) => request.header("authorization", value),
                None => request,
            };
            match body {
                Some(body) => request
                    .header("content-type", "application/json")
                    .send(body),
                None => request.send_empty(),
            }
        };
        let mut response = sent.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = response.body_mut().read_to_string().expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            challenge,
            text,
            json,
        }
    }

    /// `METHOD PATH` as the holder of `token`.
    fn call(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> Reply {
        let body = body.map(Value::to_string);
        self.raw(
            method,
            path,
            Some(&format!("Bearer {token}")),
            body.as_deref(),
        )
    }

    fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, token, None)
    }

    /// `POST /jobs` of `payload` as `token`, that must be created; the id.
    fn post(&self, path: &str, token: &str, payload: &Value) -> u64 {
        let reply = self.call("POST", path, token, Some(payload));
        assert_eq!(reply.status, 201, "POST {path}: {}", reply.text);
        reply.json["id"].as_u64().expect("a job id")
    }

    /// The ids a `GET /jobs...` lists.
    fn ids(&self, path: &str, token: &str) -> Vec<u64> {
        let reply = self.get(path, token);
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.text);
        reply
            .json
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|job| job["id"].as_u64())
            .collect()
    }
}

/// The arithmetic example as a payload, with extra store values.
fn arithmetic(store: Value) -> Value {
    let spec = std::fs::read_to_string(repo("examples/arithmetic.toml")).expect("example");
    json!({ "flow": { "spec": spec }, "store": store })
}

fn hostile_ok() -> Value {
    json!({ "flow": { "spec": "flow = \"hostile-ok\"\npattern = \"linear\"\n[[children]]\ntask = \"h\"\nplugin = \"hostile\"\ninject = { mode = \"ok\" }\n" } })
}

/// Asserts the answer of a request refused for its token: 401, the
/// challenge, a JSON error.
#[track_caller]
fn assert_unauthorized(what: &str, reply: &Reply) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.text);
    assert!(
        reply
            .challenge
            .as_deref()
            .is_some_and(|c| c.starts_with("Bearer")),
        "{what}: challenge {:?}",
        reply.challenge
    );
    assert!(reply.json["error"].is_string(), "{what}: {}", reply.text);
}

#[test]
fn every_endpoint_needs_a_token_and_tenants_see_only_their_own_jobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenants = Tenants::parse(&tenants_file()).expect("tenants file");
    let api = Api::start(dir.path(), Some(tenants));

    // 1. Every endpoint, and every path that is none, refuses a missing,
    //    unknown or malformed token, before doing anything.
    let trash_body = json!({"reason": "x"}).to_string();
    let payload = arithmetic(json!({})).to_string();
    let endpoints: [(&str, &str, Option<&str>); 10] = [
        ("GET", "/health", None),
        ("GET", "/usage", None),
        ("GET", "/jobs", None),
        ("GET", "/jobs?state=unclaimed", None),
        ("POST", "/jobs", Some(&payload)),
        ("POST", "/jobs?tenant=acme", Some(&payload)),
        ("GET", "/jobs/1", None),
        ("POST", "/jobs/1/trash", Some(&trash_body)),
        ("POST", "/jobs/1/restore", None),
        ("GET", "/nowhere", None),
    ];
    for (method, path, body) in endpoints {
        let what = format!("{method} {path}");
        for authorization in [
            None,
            Some("Bearer tbx_nobody"),
            Some(&*format!("Bearer {}x", ACME)),
            Some(&*format!("Basic {ACME}")),
            Some(ACME),
            Some("Bearer "),
        ] {
            let reply = api.raw(method, path, authorization, body);
            assert_unauthorized(&format!("{what} with {authorization:?}"), &reply);
        }
    }
    let no_token = api.raw("GET", "/health", None, None);
    assert!(
        no_token.json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("token"),
        "{}",
        no_token.text
    );
    let admin_jobs = api.ids("/jobs", ADMIN);
    assert!(
        admin_jobs.is_empty(),
        "a refused request posted: {admin_jobs:?}"
    );

    // 2. Jobs of each tenant: acme posts its own; the admin posts for
    //    globex; globex posts its own.
    let a1 = api.post("/jobs", ACME, &arithmetic(json!({})));
    let g1 = api.post("/jobs?tenant=globex", ADMIN, &arithmetic(json!({"a": 5})));
    let g2 = api.post("/jobs?tenant=globex", GLOBEX, &arithmetic(json!({"a": 6})));
    assert_eq!((a1, g1, g2), (1, 2, 3));
    for (id, tenant) in [(a1, "acme"), (g1, "globex"), (g2, "globex")] {
        assert_eq!(
            api.get(&format!("/jobs/{id}"), ADMIN).json["job"]["tenant"],
            tenant
        );
    }

    // 3. globex cannot see, trash or restore acme's job: 404 with the very
    //    body of a job that does not exist.
    let missing = |id: u64| json!({ "error": format!("no job {id} on the board") }).to_string();
    let absent = api.get("/jobs/999", GLOBEX);
    assert_eq!((absent.status, absent.text.as_str()), (404, &*missing(999)));
    let reason = json!({"reason": "not yours"});
    for (method, path, body) in [
        ("GET", format!("/jobs/{a1}"), None),
        ("POST", format!("/jobs/{a1}/trash"), Some(&reason)),
        ("POST", format!("/jobs/{a1}/restore"), None),
        // A bad body changes nothing: the job is not there for globex.
        (
            "POST",
            format!("/jobs/{a1}/trash"),
            Some(&json!({"why": 1})),
        ),
    ] {
        let reply = api.call(method, &path, GLOBEX, body);
        assert_eq!(
            (reply.status, reply.text.as_str()),
            (404, &*missing(a1)),
            "globex {method} {path}"
        );
        // And acme's own view of an id that is not there looks the same.
        let own = api.call(method, &path.replace(&a1.to_string(), "998"), ACME, body);
        assert_eq!((own.status, own.text), (404, missing(998)), "acme {method}");
    }
    assert_eq!(
        api.get(&format!("/jobs/{a1}"), ACME).json["job"]["state"],
        "unclaimed",
        "untouched"
    );
    // acme trashes its own; globex still cannot restore it.
    let trashed = api.call("POST", &format!("/jobs/{a1}/trash"), ACME, Some(&reason));
    assert_eq!(
        (trashed.status, &trashed.json["state"]),
        (200, &json!("trashed")),
        "{}",
        trashed.text
    );
    let restore = api.call("POST", &format!("/jobs/{a1}/restore"), GLOBEX, None);
    assert_eq!(
        (restore.status, restore.text.as_str()),
        (404, &*missing(a1))
    );
    assert_eq!(
        api.get(&format!("/jobs/{a1}"), ACME).json["job"]["state"],
        "trashed"
    );
    // acme cannot touch globex's either.
    for path in [format!("/jobs/{g1}"), format!("/jobs/{g1}/restore")] {
        let method = if path.ends_with("restore") {
            "POST"
        } else {
            "GET"
        };
        let reply = api.call(method, &path, ACME, None);
        assert_eq!(
            (reply.status, reply.text.as_str()),
            (404, &*missing(g1)),
            "{path}"
        );
    }

    // 4. Lists: each tenant its own, in every state; the admin all.
    assert_eq!(api.ids("/jobs", ACME), [a1]);
    assert_eq!(api.ids("/jobs?state=trashed", ACME), [a1]);
    assert_eq!(api.ids("/jobs?state=unclaimed", ACME), Vec::<u64>::new());
    assert_eq!(api.ids("/jobs", GLOBEX), [g1, g2]);
    assert_eq!(api.ids("/jobs?state=trashed", GLOBEX), Vec::<u64>::new());
    assert_eq!(api.ids("/jobs", ADMIN), [a1, g1, g2]);

    // 5. /health: a tenant's own counts, nothing of the conductor's work.
    let counts = |unclaimed: usize, trashed: usize| json!({"unclaimed": unclaimed, "claimed": 0, "complete": 0, "trashed": trashed});
    let health = api.get("/health", GLOBEX).json;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["tenant"], "globex");
    assert_eq!(health["jobs"], counts(2, 0));
    assert!(health.get("conductor").is_none(), "{health}");
    assert_eq!(health["plugins"], 3, "the public plugins only: {health}");
    let health = api.get("/health", ACME).json;
    assert_eq!(
        (&health["jobs"], &health["plugins"]),
        (&counts(0, 1), &json!(4))
    );
    let health = api.get("/health", ADMIN).json;
    assert_eq!(health["jobs"], counts(2, 1));
    assert_eq!(health["conductor"]["name"], "isolation");

    // 6. /usage: a tenant its own entry; the admin every tenant's.
    let usage = api.get("/usage", GLOBEX).json;
    assert_eq!(
        usage["tenants"].as_object().map(|t| t.len()),
        Some(1),
        "{usage}"
    );
    assert_eq!(usage["tenants"]["globex"]["jobs"], counts(2, 0));
    assert_eq!(usage["tenants"]["globex"]["cpu_us"], 0);
    let usage = api.get("/usage", ACME).json;
    let keys: Vec<&String> = usage["tenants"]
        .as_object()
        .expect("tenants")
        .keys()
        .collect();
    assert_eq!(keys, ["acme"]);
    let usage = api.get("/usage", ADMIN).json;
    let keys: Vec<&String> = usage["tenants"]
        .as_object()
        .expect("tenants")
        .keys()
        .collect();
    assert_eq!(keys, ["acme", "globex"]);
    assert_eq!(usage["tenants"]["acme"]["jobs"], counts(0, 1));
    for field in ["cpu_us", "memory_peak_bytes", "calls"] {
        assert!(usage["tenants"]["acme"][field].is_u64(), "{field}: {usage}");
    }

    // 7. The admin sees and touches every tenant's jobs.
    let restored = api.call("POST", &format!("/jobs/{a1}/restore"), ADMIN, None);
    assert_eq!(
        (restored.status, &restored.json["state"]),
        (200, &json!("unclaimed"))
    );
    let trashed = api.call("POST", &format!("/jobs/{g2}/trash"), ADMIN, Some(&reason));
    assert_eq!(
        (trashed.status, &trashed.json["tenant"]),
        (200, &json!("globex"))
    );
    assert_eq!(
        api.get(&format!("/jobs/{g2}"), ADMIN).json["job"]["trash_reason"],
        "not yours"
    );

    // 8. Whom a post is for: the admin must name a tenant in the file; a
    //    tenant may name itself, and another tenant is as unknown as one
    //    that does not exist.
    let refusals: [(&str, &str, u16, &str); 4] = [
        ("/jobs", ADMIN, 400, "?tenant"),
        ("/jobs?tenant=nobody", ADMIN, 404, "no tenant 'nobody'"),
        ("/jobs?tenant=globex", ACME, 404, "no tenant 'globex'"),
        ("/jobs?tenant=nobody", ACME, 404, "no tenant 'nobody'"),
    ];
    for (path, token, status, needle) in refusals {
        let reply = api.call("POST", path, token, Some(&arithmetic(json!({}))));
        assert_eq!(reply.status, status, "POST {path}: {}", reply.text);
        assert!(
            reply.json["error"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "POST {path}: {}",
            reply.text
        );
    }

    // 9. Plugins: acme's own plugin is acme's alone.
    let reply = api.call("POST", "/jobs", GLOBEX, Some(&hostile_ok()));
    assert_eq!(
        reply.status, 400,
        "globex ran acme's plugin: {}",
        reply.text
    );
    assert_eq!(reply.json["field"], "flow", "{}", reply.text);

    // 10. Payload size: acme's limit is 413 for acme (whoever posts for
    //     it), nothing for globex.
    let big = arithmetic(json!({"padding": "x".repeat(ACME_PAYLOAD)}));
    for (path, token) in [("/jobs", ACME), ("/jobs?tenant=acme", ADMIN)] {
        let reply = api.call("POST", path, token, Some(&big));
        assert_eq!(reply.status, 413, "{path}: {}", reply.text);
        assert!(
            reply.json["error"]
                .as_str()
                .unwrap_or_default()
                .contains("payload_size"),
            "{}",
            reply.text
        );
    }
    let g3 = api.post("/jobs", GLOBEX, &big);
    assert_eq!(api.ids("/jobs", ACME), [a1], "a refused payload was posted");

    // 11. Quota: acme may have 2 jobs on the board; a1 is one.
    let a2 = api.post("/jobs?tenant=acme", ACME, &hostile_ok());
    for (path, token) in [("/jobs", ACME), ("/jobs?tenant=acme", ADMIN)] {
        let reply = api.call("POST", path, token, Some(&arithmetic(json!({}))));
        assert_eq!(reply.status, 429, "{path}: {}", reply.text);
        let error = reply.json["error"].as_str().unwrap_or_default();
        for needle in ["acme", "2 jobs queued or running", "at most 2", "wait"] {
            assert!(error.contains(needle), "'{needle}' missing from '{error}'");
        }
    }
    // globex is not held back by acme's queue.
    let g4 = api.post("/jobs", GLOBEX, &arithmetic(json!({})));
    // A job leaving the board makes room; restoring it back is over again.
    let trashed = api.call("POST", &format!("/jobs/{a2}/trash"), ACME, Some(&reason));
    assert_eq!(trashed.status, 200, "{}", trashed.text);
    let a3 = api.post("/jobs", ACME, &arithmetic(json!({})));
    let reply = api.call("POST", &format!("/jobs/{a2}/restore"), ACME, None);
    assert_eq!(reply.status, 429, "{}", reply.text);
    assert_eq!(api.ids("/jobs?state=unclaimed", ACME), [a1, a3]);
    assert_eq!(api.ids("/jobs?state=trashed", ACME), [a2]);
    assert_eq!(api.ids("/jobs", GLOBEX), [g1, g2, g3, g4]);
    assert_eq!(
        api.daemon.board.counts_of("acme").expect("counts"),
        [
            (taskbox::JobState::Unclaimed, 2),
            (taskbox::JobState::Claimed, 0),
            (taskbox::JobState::Complete, 0),
            (taskbox::JobState::Trashed, 1),
        ]
    );
}

#[test]
fn without_tenants_the_api_is_open_and_jobs_belong_to_no_tenant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = Api::start(dir.path(), None);
    let health = api.raw("GET", "/health", None, None);
    assert_eq!(health.status, 200, "{}", health.text);
    assert!(health.json["conductor"].is_object(), "{}", health.text);
    // A token is not needed, and not looked at.
    let id = api.post("/jobs", "anything", &arithmetic(json!({})));
    let job = api.raw("GET", &format!("/jobs/{id}"), None, None);
    assert_eq!(job.json["job"]["tenant"], "");
    let reply = api.raw(
        "POST",
        "/jobs?tenant=acme",
        None,
        Some(&arithmetic(json!({})).to_string()),
    );
    assert_eq!(reply.status, 400, "{}", reply.text);
    let usage = api.raw("GET", "/usage", None, None).json;
    let keys: Vec<&String> = usage["tenants"]
        .as_object()
        .expect("tenants")
        .keys()
        .collect();
    assert_eq!(keys, [""]);
    assert_eq!(usage["tenants"][""]["jobs"]["unclaimed"], 1);
}

// The whole path through the `taskbox` binary.

/// A running `taskbox serve --tenants` and its address.
struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn taskbox(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .args(args)
        .env_remove("TASKBOX_TOKEN")
        .env_remove("TASKBOX_SERVER")
        .envs(env.iter().copied())
        .output()
        .expect("run taskbox")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tokens_made_by_the_cli_post_list_and_account_through_the_binary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugins = plugin_dir(dir.path());
    std::fs::copy(taskbox_tests::HOSTILE, plugins.join("hostile.wasm")).expect("copy hostile");

    // Tokens and hashes from the CLI itself.
    let made = taskbox(&["tenants", "token"], &[]);
    let (stdout, stderr) = text(&made);
    assert!(made.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let [token, line] = lines[..] else {
        panic!("tenants token printed {stdout:?}")
    };
    assert!(
        token.starts_with("tbx_") && token.len() == 4 + 64,
        "{token}"
    );
    assert!(token[4..].chars().all(|c| c.is_ascii_hexdigit()), "{token}");
    assert_eq!(line, format!("token_sha256 = \"{}\"", token_hash(token)));
    let again = text(&taskbox(&["tenants", "token"], &[])).0;
    assert!(!again.contains(token), "two tokens alike");
    let admin = text(&taskbox(&["tenants", "token", "--admin"], &[])).0;
    let admin_token = admin.lines().next().expect("admin token").to_string();
    assert!(admin.contains("admin_token_sha256 = "), "{admin}");
    let mut hash = Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .args(["tenants", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("tenants hash");
    std::io::Write::write_all(
        &mut hash.stdin.take().expect("stdin"),
        format!("{token}\n").as_bytes(),
    )
    .expect("write the token");
    let hashed = hash.wait_with_output().expect("tenants hash");
    assert_eq!(
        String::from_utf8_lossy(&hashed.stdout).trim(),
        token_hash(token)
    );

    let file = dir.path().join("tenants.toml");
    std::fs::write(
        &file,
        format!(
            "admin_token_sha256 = \"{}\"\npublic_plugins = [\"add\", \"multiply\", \"divide\", \"hostile\"]\n\n[tenants.acme]\n{line}\n",
            token_hash(&admin_token)
        ),
    )
    .expect("tenants file");

    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .args(["serve", "--listen", "127.0.0.1:0", "--slots", "1"])
        .arg("--plugins")
        .arg(&plugins)
        .arg("--tenants")
        .arg(&file)
        .arg("--db")
        .arg(dir.path().join("daemon.redb"))
        .arg("--cache-dir")
        .arg(cache)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn taskbox serve");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut log = Vec::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some((_, url)) = line.split_once("listening on ") {
                let _ = sender.send(Ok(url.trim().to_string()));
            }
            log.push(line);
        }
        let _ = sender.send(Err(log.join("\n")));
    });
    let url = match receiver.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(url)) => url,
        other => panic!("the daemon never listened: {other:?}"),
    };
    let served = Served { child, url };
    let remote = |args: &[&str], token: Option<&str>| {
        let mut env = vec![("TASKBOX_SERVER", served.url.as_str())];
        if let Some(token) = token {
            env.push(("TASKBOX_TOKEN", token));
        }
        taskbox(args, &env)
    };

    // Without a token: refused, saying how to give one.
    let out = remote(&["jobs", "ls"], None);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("HTTP 401") && stderr.contains("--token"),
        "{stderr}"
    );

    // A job that burns CPU in the guest (a log flood: 20,000 host calls)
    // and succeeds, posted and waited for with --token.
    let flood = dir.path().join("flood.toml");
    std::fs::write(
        &flood,
        "flow = \"flood\"\npattern = \"linear\"\n[[children]]\ntask = \"spew\"\nplugin = \"hostile\"\ninject = { mode = \"log-flood\", count = 20000 }\n",
    )
    .expect("flow file");
    let out = remote(
        &[
            "post",
            flood.to_str().expect("path"),
            "--wait",
            "--token",
            token,
        ],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("posted job 1 'flood'"), "{stdout}");
    assert!(
        !stdout.contains(token) && !stderr.contains(token),
        "the token was printed"
    );

    let listed = text(&remote(&["jobs", "ls"], Some(token))).0;
    assert!(
        listed.contains("complete") && listed.contains("flood"),
        "{listed}"
    );
    let listed = text(&remote(&["jobs", "ls", "--json"], Some(token))).0;
    let jobs: Value = serde_json::from_str(&listed).expect("jobs JSON");
    assert_eq!(jobs[0]["tenant"], "acme");

    // The admin posts for acme with --tenant; the admin's list names it.
    let arithmetic = repo("examples/arithmetic.toml");
    let out = remote(
        &[
            "post",
            arithmetic.to_str().expect("path"),
            "--tenant",
            "acme",
            "--wait",
        ],
        Some(&admin_token),
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let listed = text(&remote(&["jobs", "ls"], Some(&admin_token))).0;
    assert!(
        listed.contains("TENANT") && listed.contains("acme"),
        "{listed}"
    );

    // Usage: acme's CPU time is counted.
    let out = remote(&["usage", "--json"], Some(token));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let usage: Value = serde_json::from_str(&stdout).expect("usage JSON");
    let acme = &usage["tenants"]["acme"];
    assert!(
        acme["cpu_us"].as_u64() > Some(0),
        "no CPU time counted: {usage}"
    );
    assert!(acme["calls"].as_u64() >= Some(4), "{usage}");
    assert!(acme["memory_peak_bytes"].as_u64() > Some(0), "{usage}");
    assert_eq!(acme["jobs"]["complete"], 2, "{usage}");
    let table = text(&remote(&["usage"], Some(token))).0;
    assert!(
        table.contains("TENANT") && table.contains("CPU") && table.contains("acme"),
        "{table}"
    );
}
