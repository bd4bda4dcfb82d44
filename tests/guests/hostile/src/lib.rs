//! A component that misbehaves on request, for the host's tests.
//!
//! It implements the generated `Guest` trait directly instead of using
//! `#[task]`, because some modes must break the contract (return text that is
//! not JSON, report progress the SDK would clamp). `execute` switches on the
//! `mode` argument:
//!
//! | mode | behaviour |
//! | --- | --- |
//! | `ok` | returns `value` (or `null`) |
//! | `fail` | fails with kind `test.failed`, details `{"value": value}` |
//! | `loop` | spins forever |
//! | `grow` | allocates and touches 1 MiB chunks forever |
//! | `trap` | panics |
//! | `recurse` | recurses without bound, or `depth` levels deep then returns `depth` |
//! | `big-result` | returns a JSON string whose text is `size` bytes (default 2 MiB) |
//! | `bad-json` | returns text that is not JSON |
//! | `bad-utf8` | returns bytes that are not UTF-8 as its result string |
//! | `open-file` | reads `path` (default `/etc/passwd`); kind `io.denied` on error |
//! | `read-file` | returns the text of the file at `path`; kind `io.denied` on error |
//! | `write-file` | writes `value` (a string as is, anything else as JSON) to `path`, returns `null`; kind `io.denied` on error |
//! | `list-dir` | returns the sorted entry names of the directory at `path`; kind `io.denied` on error |
//! | `clock` | returns the wall clock (`SystemTime`) in whole seconds since the Unix epoch, negative before it |
//! | `random` | returns a `u64`: `0` hashed with a fresh `RandomState`, whose keys come from WASI randomness |
//! | `socket` | connects to `addr` (default `127.0.0.1:9`); kind `io.denied` on error |
//! | `env` | returns `{"vars": [[k, v], ...], "args": [...]}` of the process |
//! | `log-flood` | logs `count` (default 100 000) 1 KiB messages, returns `null` |
//! | `progress` | reports 0.25, 0.5 and 1.0, returns `null` |
//! | `sleep` | sleeps `ms` milliseconds (WASI monotonic clock), returns `value` |
//! | `burn` | spins through `count` rounds of arithmetic (CPU only), returns `value` |
//! | `counter` | bumps a global counter and returns it: `1` unless state leaks between calls |
//! | `revert-trap`, `revert-fail` | returns `null` (`revert` then misbehaves) |
//!
//! Any other mode fails with kind `invalid-arguments`. `revert` panics for
//! mode `revert-trap`, fails with kind `test.revert-failed` for `revert-fail`
//! and succeeds otherwise.

use serde_json::{Value, json};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use taskbox_sdk::__private::bindings::taskbox::plugin::host::{self, Level};
use taskbox_sdk::__private::bindings::taskbox::plugin::types::Provides;
use taskbox_sdk::__private::bindings::{self, AtomFailure, Failure, Guest, TaskInfo};

/// One mebibyte.
const MIB: usize = 1 << 20;

/// Calls of `counter` mode seen by this instance.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// The exported task.
struct Hostile;

bindings::export!(Hostile);

impl Guest for Hostile {
    fn describe() -> TaskInfo {
        let strings = |names: &[&str]| names.iter().map(|&name| name.to_owned()).collect();
        TaskInfo {
            name: "hostile".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            description: "Misbehaves on request, for the host's tests.".to_owned(),
            requires: strings(&["mode"]),
            optional: strings(&["path", "size", "value", "depth", "addr", "count", "ms"]),
            provides: Provides::Single("out".to_owned()),
        }
    }

    fn execute(args: String) -> Result<String, Failure> {
        let args = parse(&args)?;
        let output = match mode(&args) {
            "ok" => args.get("value").cloned().unwrap_or(Value::Null),
            "counter" => json!(CALLS.fetch_add(1, Ordering::Relaxed) + 1),
            "fail" => {
                let value = args.get("value").cloned().unwrap_or(Value::Null);
                return Err(failure(
                    "test.failed",
                    "asked to fail".to_owned(),
                    Some(json!({ "value": value })),
                ));
            }
            "loop" => spin(),
            "grow" => grow(),
            "trap" => panic!("asked to trap"),
            "recurse" => json!(recurse(0, number(&args, "depth"))),
            "big-result" => {
                return Ok(big_json_string(
                    number(&args, "size").unwrap_or(2 * MIB as u64),
                ));
            }
            "bad-json" => return Ok("this is {not json".to_owned()),
            "bad-utf8" => return Ok(not_utf8()),
            "open-file" => {
                let path = text(&args, "path").unwrap_or("/etc/passwd");
                json!(std::fs::read_to_string(path).map_err(denied)?)
            }
            "read-file" => {
                json!(std::fs::read_to_string(required(&args, "path")?).map_err(denied)?)
            }
            "write-file" => {
                let contents = match args.get("value") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                std::fs::write(required(&args, "path")?, contents).map_err(denied)?;
                Value::Null
            }
            "list-dir" => {
                let mut names = Vec::new();
                for entry in std::fs::read_dir(required(&args, "path")?).map_err(denied)? {
                    names.push(
                        entry
                            .map_err(denied)?
                            .file_name()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
                names.sort();
                json!(names)
            }
            "clock" => json!(wall_clock_secs()),
            "random" => {
                use std::hash::BuildHasher;
                json!(std::collections::hash_map::RandomState::new().hash_one(0_u64))
            }
            "socket" => {
                let addr = text(&args, "addr").unwrap_or("127.0.0.1:9");
                std::net::TcpStream::connect(addr).map_err(denied)?;
                json!("connected")
            }
            "env" => json!({
                "vars": std::env::vars().collect::<Vec<_>>(),
                "args": std::env::args().collect::<Vec<_>>(),
            }),
            "log-flood" => {
                let message = "x".repeat(1024);
                for _ in 0..number(&args, "count").unwrap_or(100_000) {
                    host::log(Level::Info, &message);
                }
                Value::Null
            }
            "progress" => {
                for fraction in [0.25, 0.5, 1.0] {
                    host::update_progress(fraction);
                }
                Value::Null
            }
            "sleep" => {
                let ms = number(&args, "ms").unwrap_or(0);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                args.get("value").cloned().unwrap_or(Value::Null)
            }
            "burn" => {
                burn(number(&args, "count").unwrap_or(0));
                args.get("value").cloned().unwrap_or(Value::Null)
            }
            "revert-trap" | "revert-fail" => Value::Null,
            other => {
                return Err(failure(
                    "invalid-arguments",
                    format!("unknown mode {other:?}"),
                    None,
                ));
            }
        };
        Ok(output.to_string())
    }

    fn revert(
        args: String,
        _result: Option<String>,
        _flow_failures: Vec<AtomFailure>,
    ) -> Result<(), Failure> {
        match parse(&args).as_ref().map(mode) {
            Ok("revert-trap") => panic!("asked to trap in revert"),
            Ok("revert-fail") => Err(failure(
                "test.revert-failed",
                "asked to fail in revert".to_owned(),
                None,
            )),
            _ => Ok(()),
        }
    }
}

/// The arguments as a JSON object.
fn parse(args: &str) -> Result<serde_json::Map<String, Value>, Failure> {
    match serde_json::from_str(args) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(failure(
            "invalid-arguments",
            "arguments are not an object".to_owned(),
            None,
        )),
        Err(e) => Err(failure("invalid-arguments", e.to_string(), None)),
    }
}

/// The `mode` argument, or `""`.
fn mode(args: &serde_json::Map<String, Value>) -> &str {
    text(args, "mode").unwrap_or_default()
}

fn text<'a>(args: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a str> {
    args.get(name).and_then(Value::as_str)
}

/// The string argument `name`, or an `invalid-arguments` failure.
fn required<'a>(args: &'a serde_json::Map<String, Value>, name: &str) -> Result<&'a str, Failure> {
    text(args, name).ok_or_else(|| {
        failure(
            "invalid-arguments",
            format!("this mode needs a string argument {name:?}"),
            None,
        )
    })
}

fn number(args: &serde_json::Map<String, Value>, name: &str) -> Option<u64> {
    args.get(name).and_then(Value::as_u64)
}

fn failure(kind: &str, message: String, details: Option<Value>) -> Failure {
    Failure {
        kind: kind.to_owned(),
        message,
        details: details.map(|details| details.to_string()),
    }
}

/// An I/O error as the failure a sandboxed call is expected to produce.
fn denied(error: std::io::Error) -> Failure {
    failure("io.denied", error.to_string(), None)
}

/// A `String` holding bytes that are not UTF-8, to return across the
/// canonical ABI, which the host must reject when it lifts the result.
// The plugins workspace forbids unsafe code; this crate's Cargo.toml lowers
// that to deny so that this one function may break `String`'s invariant on
// purpose: safe Rust cannot build a string that is not UTF-8, and the point
// is to hand the host one.
#[allow(unsafe_code)]
fn not_utf8() -> String {
    // SAFETY: this breaks `String`'s UTF-8 invariant deliberately. Nothing in
    // the guest reads the string as text: the bindings only pass its pointer
    // and length to the canonical ABI, whose lifting in the host is what is
    // under test.
    unsafe { String::from_utf8_unchecked(vec![0xff, 0xfe, b'1']) }
}

/// The wall clock in whole seconds since the Unix epoch (negative before it).
fn wall_clock_secs() -> i64 {
    let now = std::time::SystemTime::now();
    match now.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Spins forever; `black_box` keeps the optimizer from removing the loop.
/// Burns CPU for `rounds` rounds, with no host call.
fn burn(rounds: u64) {
    let mut x = 1_u64;
    for _ in 0..rounds {
        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
}

fn spin() -> ! {
    let mut counter = 0_u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Allocates 1 MiB chunks, writing every byte, until the host stops it.
fn grow() -> ! {
    let mut chunks = Vec::new();
    loop {
        chunks.push(black_box(vec![0xA5_u8; MIB]));
        black_box(&chunks);
    }
}

/// Recurses `limit` levels deep (forever without a limit) and returns the
/// depth reached. Each frame keeps data alive across the call, so the
/// recursion cannot become a loop.
fn recurse(depth: u64, limit: Option<u64>) -> u64 {
    if limit.is_some_and(|limit| depth >= limit) {
        return depth;
    }
    let frame = black_box([depth; 8]);
    let reached = recurse(black_box(depth + 1), limit);
    black_box(reached.max(frame[(depth % 8) as usize]))
}

/// A JSON string literal whose text is `size` bytes long (at least the two
/// quotes).
fn big_json_string(size: u64) -> String {
    let size = usize::try_from(size).unwrap_or(usize::MAX).max(2);
    let mut text = String::with_capacity(size);
    text.push('"');
    text.extend(std::iter::repeat_n('a', size - 2));
    text.push('"');
    text
}
