//! The operator's capability grants for `run` and `resume`: the `--grant-*`
//! flags made into the engine's [`Tenancy`].

use crate::args::GrantArgs;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::Path;
use taskbox::{Access, AtomDetail, DirGrant, ExecGraph, Grants, Tenancy};

/// The tenancy the flags describe: their grants for every task, or, with
/// `--grant-for`, for the tasks of the plugins it names. Nothing is
/// granted without flags.
pub(crate) fn tenancy(args: &GrantArgs) -> Result<Tenancy> {
    let grants = grants(args)?;
    if args.only_for.is_empty() {
        return Ok(Tenancy {
            grants,
            ..Tenancy::default()
        });
    }
    if grants.is_empty() {
        bail!(
            "--grant-for '{}': there is nothing to grant (add --grant-dir, --grant-env, \
             --grant-env-from, --grant-wall-clock or --grant-random)",
            args.only_for[0]
        );
    }
    let mut plugin_grants = BTreeMap::new();
    for plugin in &args.only_for {
        if plugin.is_empty() {
            bail!("--grant-for '': the plugin name is empty");
        }
        plugin_grants.insert(plugin.clone(), grants.clone());
    }
    Ok(Tenancy {
        plugin_grants,
        ..Tenancy::default()
    })
}

/// What an atom of `plugin` is granted under `tenancy` (as the engine
/// computes it).
/// Refuses a `--grant-for` plugin no atom of `graph` runs (a typo would
/// otherwise grant nothing, silently).
pub(crate) fn check_plugins(tenancy: &Tenancy, graph: &ExecGraph) -> Result<()> {
    for plugin in tenancy.plugin_grants.keys() {
        if !graph.atoms.iter().any(|a| &a.plugin == plugin) {
            let mut used: Vec<&str> = graph.atoms.iter().map(|a| a.plugin.as_str()).collect();
            used.sort_unstable();
            used.dedup();
            bail!(
                "--grant-for '{plugin}': no task of the flow runs plugin '{plugin}' (it runs: {})",
                used.join(", ")
            );
        }
    }
    Ok(())
}

/// Tells the operator, on stderr, what the flags grant.
pub(crate) fn announce(tenancy: &Tenancy) {
    if !tenancy.grants.is_empty() {
        eprintln!("granted to every task: {}", tenancy.grants.summary());
    }
    for (plugin, grants) in &tenancy.plugin_grants {
        eprintln!(
            "granted to the tasks of plugin '{plugin}': {}",
            grants.summary()
        );
    }
}

/// Warns about each atom whose recorded grants differ from what `tenancy`
/// grants it now: a resume takes its grants from its own flags, and the
/// logbook keeps the ones the flow was recorded with.
pub(crate) fn warn_changed(tenancy: &Tenancy, atoms: &[AtomDetail]) {
    for atom in atoms {
        let now = tenancy.grants_for(&atom.plugin);
        if now.redacted() != atom.grants {
            eprintln!(
                "warning: atom '{}' was recorded with grants [{}]; this resume grants it [{}] \
                 (pass the --grant-* flags the flow was started with to keep them)",
                atom.name,
                atom.grants.summary(),
                now.summary()
            );
        }
    }
}

fn grants(args: &GrantArgs) -> Result<Grants> {
    let mut grants = Grants {
        wall_clock: args.wall_clock,
        random: args.random,
        ..Grants::default()
    };
    for value in &args.dirs {
        let dir = dir(value)?;
        if grants.dirs.iter().any(|d| d.guest == dir.guest) {
            bail!(
                "--grant-dir '{value}': the guest path {} is granted twice",
                dir.guest
            );
        }
        grants.dirs.push(dir);
    }
    for pair in &args.env {
        let (key, value) = env(pair)?;
        insert_env(&mut grants, "--grant-env", pair, key, value)?;
    }
    for key in &args.env_from {
        check_key("--grant-env-from", key, key)?;
        let value = match std::env::var(key) {
            Ok(value) => value,
            Err(std::env::VarError::NotPresent) => {
                bail!("--grant-env-from '{key}': {key} is not set in your environment")
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                bail!("--grant-env-from '{key}': the value of {key} is not UTF-8")
            }
        };
        insert_env(&mut grants, "--grant-env-from", key, key.clone(), value)?;
    }
    Ok(grants)
}

fn insert_env(
    grants: &mut Grants,
    flag: &str,
    given: &str,
    key: String,
    value: String,
) -> Result<()> {
    if grants.env.contains_key(&key) {
        bail!("{flag} '{given}': the variable {key} is granted twice");
    }
    grants.env.insert(key, value);
    Ok(())
}

/// `HOST:GUEST[:ro|rw]`, HOST an existing directory (made absolute).
fn dir(value: &str) -> Result<DirGrant> {
    let flag = format!("--grant-dir '{value}'");
    let parts: Vec<&str> = value.split(':').collect();
    let (host, guest, access) = match parts.as_slice() {
        [host, guest] => (*host, *guest, Access::ReadOnly),
        [host, guest, "ro"] => (*host, *guest, Access::ReadOnly),
        [host, guest, "rw"] => (*host, *guest, Access::ReadWrite),
        [_, _, other] => bail!("{flag}: the access '{other}' is neither ro nor rw"),
        _ => bail!("{flag}: expected HOST:GUEST[:ro|rw], e.g. ./input:/data:ro"),
    };
    if host.is_empty() {
        bail!("{flag}: the host directory is empty");
    }
    if guest.is_empty() {
        bail!("{flag}: the guest path is empty");
    }
    if value.contains('\0') {
        bail!("{flag}: contains a NUL byte");
    }
    let path = Path::new(host);
    let meta = std::fs::metadata(path)
        .with_context(|| format!("{flag}: the host directory {host} cannot be granted"))?;
    if !meta.is_dir() {
        bail!("{flag}: {host} is not a directory");
    }
    let host = std::fs::canonicalize(path)
        .with_context(|| format!("{flag}: cannot resolve the host directory {host}"))?;
    Ok(DirGrant {
        host,
        guest: guest.to_string(),
        access,
    })
}

/// `KEY=VALUE`.
fn env(pair: &str) -> Result<(String, String)> {
    let Some((key, value)) = pair.split_once('=') else {
        bail!("--grant-env '{pair}': expected KEY=VALUE");
    };
    check_key("--grant-env", pair, key)?;
    if value.contains('\0') {
        bail!("--grant-env '{pair}': the value contains a NUL byte");
    }
    Ok((key.to_string(), value.to_string()))
}

fn check_key(flag: &str, given: &str, key: &str) -> Result<()> {
    if key.is_empty() {
        bail!("{flag} '{given}': the variable name is empty");
    }
    if key.contains(['=', '\0']) {
        bail!("{flag} '{given}': the variable name {key:?} contains '=' or a NUL byte");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> GrantArgs {
        GrantArgs {
            dirs: Vec::new(),
            env: Vec::new(),
            env_from: Vec::new(),
            wall_clock: false,
            random: false,
            only_for: Vec::new(),
        }
    }

    fn error(args: &GrantArgs) -> String {
        format!("{:#}", tenancy(args).expect_err("refused"))
    }

    #[test]
    fn no_flags_grant_nothing() {
        let t = tenancy(&args()).expect("tenancy");
        assert!(t.grants.is_empty() && t.plugin_grants.is_empty());
    }

    #[test]
    fn flags_build_grants_for_every_task_or_one_plugin() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = dir.path().to_str().expect("UTF-8").to_string();
        let mut a = args();
        a.dirs = vec![format!("{host}:/in"), format!("{host}:/out:rw")];
        a.env = vec!["A=1=2".into(), "EMPTY=".into()];
        a.wall_clock = true;
        let t = tenancy(&a).expect("tenancy");
        assert_eq!(t.grants.dirs[0].access, Access::ReadOnly);
        assert_eq!(t.grants.dirs[1].access, Access::ReadWrite);
        assert_eq!(
            t.grants.dirs[0].host,
            std::fs::canonicalize(dir.path()).expect("canonical")
        );
        assert_eq!(t.grants.env["A"], "1=2");
        assert_eq!(t.grants.env["EMPTY"], "");
        assert_eq!(
            t.grants.summary(),
            "dir /in (ro), dir /out (rw), env A, env EMPTY, wall-clock"
        );
        a.only_for = vec!["resize".into()];
        let t = tenancy(&a).expect("tenancy");
        assert!(t.grants.is_empty());
        assert!(t.grants_for("resize").wall_clock);
        assert!(t.grants_for("other").is_empty());
    }

    #[test]
    fn bad_values_are_refused_naming_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = dir.path().to_str().expect("UTF-8").to_string();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").expect("write");
        let cases = [
            ("/no/such/dir:/data".to_string(), "/no/such/dir"),
            (format!("{host}:/data:rx"), "'rx' is neither ro nor rw"),
            (host.clone(), "expected HOST:GUEST"),
            (format!("{host}:"), "guest path is empty"),
            (format!("{}:/f", file.display()), "is not a directory"),
        ];
        for (value, needle) in cases {
            let mut a = args();
            a.dirs = vec![value.clone()];
            let e = error(&a);
            assert!(
                e.contains(&format!("--grant-dir '{value}'")) && e.contains(needle),
                "{value}: {e}"
            );
        }
        let mut a = args();
        a.dirs = vec![format!("{host}:/d"), format!("{host}:/d:rw")];
        assert!(error(&a).contains("granted twice"));
        let mut a = args();
        a.env = vec!["NOEQUALS".into()];
        assert!(error(&a).contains("--grant-env 'NOEQUALS': expected KEY=VALUE"));
        a.env = vec!["=v".into()];
        assert!(error(&a).contains("name is empty"));
        a.env = vec!["K=1".into(), "K=2".into()];
        assert!(error(&a).contains("K is granted twice"));
        let mut a = args();
        a.env_from = vec!["TASKBOX_SURELY_UNSET_VARIABLE".into()];
        assert!(error(&a).contains("TASKBOX_SURELY_UNSET_VARIABLE is not set"));
        let mut a = args();
        a.only_for = vec!["add".into()];
        assert!(error(&a).contains("nothing to grant"));
    }
}
