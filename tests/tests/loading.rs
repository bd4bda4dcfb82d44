//! Loading plugins: validation errors for each kind of bad input, the
//! on-disk cache, describe().

mod common;

use std::path::Path;
use taskbox::{Limits, LoadError, Provides, Sandbox, SandboxConfig};

fn load(bytes: &[u8]) -> Result<taskbox::Plugin, LoadError> {
    common::sandbox().load_bytes("candidate", bytes, &Limits::default())
}

fn wat(text: &str) -> Vec<u8> {
    match wat::parse_str(text) {
        Ok(b) => b,
        Err(e) => panic!("bad test WAT: {e}"),
    }
}

#[test]
fn describe_reports_requires_and_provides() {
    let sandbox = common::sandbox();
    let set = common::guests(&sandbox);
    let add = set.get("add").expect("add guest");
    assert_eq!(add.info().requires, vec!["x", "y"]);
    assert_eq!(add.info().provides, Provides::Single("sum".into()));
    assert!(
        add.hash().starts_with("sha256:") && add.hash().len() == 7 + 64,
        "{}",
        add.hash()
    );
}

#[test]
fn core_module_is_not_a_component() {
    let err = load(&wat("(module)")).err();
    assert!(
        matches!(err, Some(LoadError::NotAComponent { .. })),
        "{err:?}"
    );
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("candidate") && text.contains("core WebAssembly module"),
        "{text}"
    );
}

#[test]
fn corrupt_bytes_are_refused() {
    let err = load(b"definitely not wasm").err();
    assert!(matches!(err, Some(LoadError::Corrupt { .. })), "{err:?}");
    let whole =
        std::fs::read(Path::new(taskbox_tests::GUEST_DIR).join("add.wasm")).expect("add.wasm");
    let err = load(&whole[..whole.len() / 2]).err();
    assert!(matches!(err, Some(LoadError::Corrupt { .. })), "{err:?}");
}

#[test]
fn component_of_another_world_is_refused() {
    let err = load(&wat("(component)")).err();
    assert!(matches!(err, Some(LoadError::WrongWorld { .. })), "{err:?}");
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("taskbox:plugin/task"), "{text}");
}

#[test]
fn unknown_import_is_refused_naming_it() {
    let bytes =
        wat(r#"(component (import "evil:power/launch" (instance (export "fire" (func)))))"#);
    let err = load(&bytes).err();
    match &err {
        Some(LoadError::UnknownImport { import, .. }) => assert_eq!(import, "evil:power/launch"),
        other => panic!("expected UnknownImport, got {other:?}"),
    }
}

#[test]
fn second_load_comes_from_the_disk_cache() {
    let cache = tempfile::tempdir().expect("tempdir");
    let config = SandboxConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    let path = Path::new(taskbox_tests::GUEST_DIR).join("multiply.wasm");
    let first = Sandbox::new(&config)
        .expect("sandbox")
        .load_file(&path, &Limits::default());
    let second = Sandbox::new(&config)
        .expect("sandbox")
        .load_file(&path, &Limits::default());
    let (first, second) = (first.expect("first load"), second.expect("second load"));
    assert!(!first.from_cache());
    assert!(second.from_cache());
    assert_eq!(first.hash(), second.hash());
    // A damaged cache entry is ignored and recompiled, never trusted.
    for entry in std::fs::read_dir(cache.path()).expect("cache dir") {
        std::fs::write(entry.expect("entry").path(), b"garbage").expect("overwrite");
    }
    let third = Sandbox::new(&config)
        .expect("sandbox")
        .load_file(&path, &Limits::default());
    assert!(!third.expect("third load").from_cache());
}

#[test]
fn a_bad_plugin_in_a_directory_does_not_stop_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        Path::new(taskbox_tests::GUEST_DIR).join("add.wasm"),
        dir.path().join("add.wasm"),
    )
    .expect("copy");
    std::fs::write(dir.path().join("broken.wasm"), b"\0asm garbage").expect("write");
    std::fs::write(dir.path().join("notes.txt"), b"ignored").expect("write");
    let set = common::sandbox()
        .load_dir(dir.path(), &Limits::default())
        .expect("load_dir");
    assert!(set.get("add").is_some());
    assert!(
        matches!(set.errors.get("broken"), Some(LoadError::Corrupt { .. })),
        "{:?}",
        set.errors
    );
    assert_eq!(set.plugins.len() + set.errors.len(), 2);
}

/// Loads guest `name` in a fresh sandbox with `config`.
fn load_cached(config: &SandboxConfig, name: &str) -> taskbox::Plugin {
    let path = Path::new(taskbox_tests::GUEST_DIR).join(format!("{name}.wasm"));
    Sandbox::new(config)
        .expect("sandbox")
        .load_file(&path, &Limits::default())
        .expect("load")
}

#[test]
fn the_cache_evicts_the_least_recently_used_beyond_its_cap() {
    let cache = tempfile::tempdir().expect("tempdir");
    let size_of_one = |config: &SandboxConfig| {
        let path = Path::new(taskbox_tests::GUEST_DIR).join("add.wasm");
        Sandbox::new(config)
            .expect("sandbox")
            .load_file(&path, &Limits::default())
            .expect("add");
        std::fs::read_dir(cache.path())
            .expect("cache dir")
            .map(|e| e.expect("entry").metadata().expect("metadata").len())
            .sum::<u64>()
    };
    let mut config = SandboxConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    let one = size_of_one(&config);
    // Room for one compiled component and a half: a second one evicts the first.
    config.cache_max_bytes = one + one / 2;
    let load = |name: &str| load_cached(&config, name);
    assert!(load("add").from_cache());
    assert!(!load("divide").from_cache());
    assert!(!load("add").from_cache(), "add should have been evicted");
    assert!(
        !load("divide").from_cache(),
        "divide should have been evicted in turn"
    );
    let entries = std::fs::read_dir(cache.path()).expect("cache dir").count();
    assert_eq!(entries, 1);

    // Room for two and a half: a hit keeps `divide` fresh, so `add` goes.
    let config = SandboxConfig {
        cache_max_bytes: 2 * one + one / 2,
        ..config
    };
    let load = |name: &str| load_cached(&config, name);
    assert!(!load("add").from_cache());
    assert!(load("divide").from_cache());
    assert!(!load("multiply").from_cache());
    assert!(load("divide").from_cache(), "the recently used entry stays");
    assert!(
        !load("add").from_cache(),
        "the least recently used entry went"
    );
}
