//! Builds the guest components (the example plugins and the test guests in
//! `tests/guests`) for `wasm32-wasip2`, copies them to `$OUT_DIR/guests` and
//! writes `$OUT_DIR/guests.rs` with a path constant per component.
//!
//! The guests in [`UNLOADABLE`] never load (that is what they test), so they
//! go to `$OUT_DIR/unloadable` instead: `$OUT_DIR/guests` stays a plugin
//! directory in which every plugin loads. They get path constants all the
//! same.
//!
//! The guests form their own cargo workspace, `plugins/`, built into
//! `target/wasm` so that this nested cargo never waits on the lock of the
//! outer build's target directory. Cargo runs with `plugins/` as its current
//! directory because that is the only way `plugins/.cargo/config.toml` (the
//! stack-size link flag) applies.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TARGET: &str = "wasm32-wasip2";

/// File stems of the guests that fail to load by design, kept out of
/// `GUEST_DIR`: `slow_describe` spins in `describe` until the deadline.
const UNLOADABLE: &[&str] = &["slow_describe"];

/// Variables the outer cargo sets for this build script (or a user sets for
/// the outer build) that must not leak into the nested build: they would
/// redirect its output, change its target or flags, wrap rustc in clippy or a
/// coverage tool, or hand it the outer jobserver. `RUSTC` stays, so that the
/// guests are built by the same compiler as the tests.
const SCRUBBED_ENV: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTDOC",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "NUM_JOBS",
];

fn main() {
    let tests_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let repo = tests_dir.parent().expect("tests/ is inside the repository");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));

    watch(repo);
    check_target_installed();
    let components = build(repo);
    let (unloadable, loadable): (Vec<PathBuf>, Vec<PathBuf>) = components
        .into_iter()
        .partition(|component| UNLOADABLE.iter().any(|&stem| stem_of(component) == stem));
    for stem in UNLOADABLE {
        assert!(
            unloadable.iter().any(|c| stem_of(c) == *stem),
            "UNLOADABLE names {stem}, which the guest build did not produce"
        );
    }
    let mut guests = copy_to(&loadable, &out_dir.join("guests"));
    guests.extend(copy_to(&unloadable, &out_dir.join("unloadable")));
    write_constants(&guests, &out_dir);
}

/// Reruns this script when anything the guests are built from changes.
fn watch(repo: &Path) {
    for dir in ["sdk", "wit", "tests/guests"] {
        println!("cargo:rerun-if-changed={}", repo.join(dir).display());
    }
    // Everything in plugins/ but a target directory someone may have made by
    // running cargo there without --target-dir.
    let plugins = repo.join("plugins");
    println!("cargo:rerun-if-changed={}", plugins.display());
    for entry in fs::read_dir(&plugins).expect("read plugins/").flatten() {
        if entry.file_name() != "target" {
            println!("cargo:rerun-if-changed={}", entry.path().display());
        }
    }
    for var in ["CARGO", "RUSTUP_TOOLCHAIN"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
}

/// Fails with instructions when the standard library for the guest target
/// is missing, rather than with a wall of "can't find crate for `std`".
fn check_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let output = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output();
    let libdir = match output {
        Ok(output) if output.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        }
        // An old or unusual rustc: let the build below report what is wrong.
        _ => return,
    };
    if !libdir.is_dir() {
        panic!(
            "\n\nthe `{TARGET}` target is not installed; the guest components need it:\n\n    \
             rustup target add {TARGET}\n\n(looked for {})\n",
            libdir.display()
        );
    }
}

/// Runs the nested cargo build and returns the components it produced.
fn build(repo: &Path) -> Vec<PathBuf> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let plugins = repo.join("plugins");
    let mut command = Command::new(cargo);
    command
        .current_dir(&plugins)
        .arg("build")
        .arg("--manifest-path")
        .arg(plugins.join("Cargo.toml"))
        .args(["--workspace", "--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(repo.join("target/wasm"))
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for var in SCRUBBED_ENV {
        command.env_remove(var);
    }
    for (var, _) in env::vars_os() {
        if var
            .to_str()
            .is_some_and(|var| var.starts_with("CARGO_CFG_") || var.starts_with("CARGO_FEATURE_"))
        {
            command.env_remove(var);
        }
    }
    eprintln!("running: {command:?}");
    let output = command
        .spawn()
        .and_then(|child| child.wait_with_output())
        .expect("failed to run cargo for the guest components");
    if !output.status.success() {
        panic!(
            "building the guest components failed (see the compiler output above); \
             the same build by hand: scripts/build-plugins.sh"
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut components: Vec<PathBuf> = stdout
        .lines()
        .filter(|line| line.contains(r#""reason":"compiler-artifact""#))
        .flat_map(artifact_filenames)
        .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
        .collect();
    components.sort();
    components.dedup();
    assert!(!components.is_empty(), "cargo built no .wasm files");
    components
}

/// The `"filenames"` of a `compiler-artifact` JSON message. A tiny reader
/// for this one field keeps the build script free of dependencies: cargo
/// writes paths as JSON strings, whose only escapes in a path are `\\` and
/// `\"` (control characters aside, which no sane path holds).
fn artifact_filenames(message: &str) -> Vec<PathBuf> {
    const KEY: &str = r#""filenames":["#;
    let Some(start) = message.find(KEY) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    let mut chars = message[start + KEY.len()..].chars();
    let mut current: Option<String> = None;
    while let Some(c) = chars.next() {
        match (&mut current, c) {
            (None, '"') => current = Some(String::new()),
            (None, ']') => break,
            (None, _) => {}
            (Some(path), '\\') => path.extend(chars.next()),
            (Some(_), '"') => paths.extend(current.take().map(PathBuf::from)),
            (Some(path), c) => path.push(c),
        }
    }
    paths
}

/// Copies `components` into `dir`, emptied first so that a guest that no
/// longer exists does not linger, and returns the copies.
fn copy_to(components: &[PathBuf], dir: &Path) -> Vec<PathBuf> {
    if dir.exists() {
        fs::remove_dir_all(dir).expect("clear the guests directory");
    }
    fs::create_dir_all(dir).expect("create the guests directory");
    components
        .iter()
        .map(|component| {
            let name = component.file_name().expect("a file name");
            let copy = dir.join(name);
            fs::copy(component, &copy)
                .unwrap_or_else(|e| panic!("copy {} failed: {e}", component.display()));
            copy
        })
        .collect()
}

/// Writes `guests.rs`: `GUEST_DIR` and one constant per component, named
/// after its file (`reserve_stock.wasm` → `RESERVE_STOCK`).
fn write_constants(guests: &[PathBuf], out_dir: &Path) {
    let guest_dir = out_dir.join("guests");
    let mut code = String::from("// Generated by tests/build.rs.\n\n");
    writeln!(
        code,
        "/// Directory holding every guest component that loads (all but the\n\
         /// deliberately unloadable ones, which are in a directory of their\n\
         /// own): a plugin directory for the host.\n\
         pub const GUEST_DIR: &str = {:?};",
        path_str(&guest_dir)
    )
    .expect("write to a String");
    for guest in guests {
        let stem = stem_of(guest);
        writeln!(
            code,
            "\n/// Path of the `{stem}` guest component.\npub const {}: &str = {:?};",
            stem.to_uppercase().replace('-', "_"),
            path_str(guest)
        )
        .expect("write to a String");
    }
    fs::write(out_dir.join("guests.rs"), code).expect("write guests.rs");
}

/// The file stem of a component, which names its constant.
fn stem_of(path: &Path) -> &str {
    path.file_stem()
        .and_then(|stem| stem.to_str())
        .expect("a UTF-8 file name")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("the build directory's path is UTF-8")
}
