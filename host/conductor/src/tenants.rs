//! Tenants: who may use a daemon, with which plugins, under which limits and
//! grants. Read from a TOML file the operator writes:
//!
//! ```toml
//! # sha256 of the admin token (sees and touches every tenant's jobs)
//! admin_token_sha256 = "9f86d0…"
//! # plugins of the shared plugin directory every tenant may run
//! public_plugins = ["add", "multiply"]
//!
//! [tenants.acme]
//! token_sha256 = "2c26b4…"
//! plugins = "acme"              # its own plugins: <plugin dir>/acme/*.wasm (default: the id)
//! [tenants.acme.limits]
//! memory = "64MiB"              # per instance
//! timeout = "2s"                # CPU time per call
//! job_cpu = "30s"               # CPU time per job, all its calls together
//! concurrent_atoms = 4          # guest calls running at once
//! queued_jobs = 100             # jobs on the board (unclaimed or running)
//! result_size = "1MiB"
//! payload_size = "256KiB"
//! [tenants.acme.grants]         # for every plugin the tenant runs
//! wall_clock = true
//! [tenants.acme.plugin_grants.resize]   # for one plugin only
//! dirs = [{ host = "/srv/acme/images", guest = "/images", access = "read-only" }]
//! ```
//!
//! Tokens are random secrets; the file keeps only their SHA-256 (a fast
//! hash is enough for a high-entropy secret). `taskbox tenants token`
//! makes one.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use taskbox_model::{Grants, LimitOverrides, parse_duration, parse_size};

/// The tenants of a daemon, as configured.
#[derive(Debug, Clone, Default)]
pub struct Tenants {
    admin: Option<String>,
    /// Plugins of the shared directory every tenant may run.
    pub public_plugins: BTreeSet<String>,
    by_id: BTreeMap<String, Tenant>,
    by_token: BTreeMap<String, String>,
}

/// One tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Its id, the key of its table in the file.
    pub id: String,
    /// Its own plugin directory, relative to the daemon's plugin directory.
    pub plugins: PathBuf,
    /// Its limits.
    pub limits: TenantLimits,
    /// Granted to every plugin it runs.
    pub grants: Grants,
    /// Granted to one plugin, on top of `grants`.
    pub plugin_grants: BTreeMap<String, Grants>,
}

/// A tenant's limits; unset ones fall back to the daemon's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantLimits {
    /// Per-call limits (memory, CPU time per call, result size), over the
    /// daemon's; a job's own limits may only lower them.
    pub call: LimitOverrides,
    /// CPU time of all of a job's calls together.
    pub job_cpu: Option<Duration>,
    /// Guest calls running at once, across all its jobs.
    pub concurrent_atoms: Option<usize>,
    /// Jobs on the board at once (unclaimed or claimed).
    pub queued_jobs: Option<usize>,
    /// Largest job payload, in bytes.
    pub payload_size: Option<u64>,
}

/// Who made an API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The admin token: every tenant's jobs.
    Admin,
    /// A tenant's token.
    Tenant(String),
}

/// The tenants file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TenantsError {
    /// The file could not be read.
    #[error("cannot read tenants file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("tenants file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
}

/// The file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantsFile {
    #[serde(default)]
    admin_token_sha256: Option<String>,
    #[serde(default)]
    public_plugins: BTreeSet<String>,
    #[serde(default)]
    tenants: BTreeMap<String, TenantFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFile {
    token_sha256: String,
    #[serde(default)]
    plugins: Option<PathBuf>,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    grants: Grants,
    #[serde(default)]
    plugin_grants: BTreeMap<String, Grants>,
}

/// A tenant's `limits` table: its own keys, the rest per-call limits.
#[derive(Debug, Default, Deserialize)]
struct LimitsFile {
    #[serde(default)]
    job_cpu: Option<String>,
    #[serde(default)]
    concurrent_atoms: Option<usize>,
    #[serde(default)]
    queued_jobs: Option<usize>,
    #[serde(default)]
    payload_size: Option<toml::Value>,
    #[serde(flatten)]
    call: toml::Table,
}

/// The SHA-256 of `token`, in lowercase hex: what the tenants file stores.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Tenants {
    /// Reads and checks the tenants file at `path`.
    pub fn load(path: &Path) -> Result<Tenants, TenantsError> {
        let text = std::fs::read_to_string(path).map_err(|source| TenantsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Tenants::parse(&text).map_err(|message| TenantsError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses a tenants file's text; the error names the bad field.
    pub fn parse(text: &str) -> Result<Tenants, String> {
        let file: TenantsFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut tenants = Tenants {
            admin: file
                .admin_token_sha256
                .map(|h| check_hash("admin_token_sha256", &h))
                .transpose()?,
            public_plugins: file.public_plugins,
            ..Tenants::default()
        };
        for (id, t) in file.tenants {
            let at = |field: &str| format!("tenants.{id}.{field}");
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "tenant id '{id}' must be letters, digits, '-' or '_'"
                ));
            }
            let hash = check_hash(&at("token_sha256"), &t.token_sha256)?;
            if tenants.admin.as_deref() == Some(hash.as_str()) {
                return Err(format!(
                    "{}: the same token as the admin's",
                    at("token_sha256")
                ));
            }
            if let Some(other) = tenants.by_token.insert(hash, id.clone()) {
                return Err(format!(
                    "{}: the same token as tenant '{other}'",
                    at("token_sha256")
                ));
            }
            let plugins = t.plugins.unwrap_or_else(|| PathBuf::from(&id));
            if !plugins
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            {
                return Err(format!(
                    "{}: '{}' must be a plain path inside the plugin directory",
                    at("plugins"),
                    plugins.display()
                ));
            }
            let call = LimitOverrides::deserialize(t.limits.call)
                .map_err(|e| format!("{}: {e}", at("limits")))?;
            let limits = TenantLimits {
                call,
                job_cpu: t
                    .limits
                    .job_cpu
                    .map(|d| {
                        parse_duration(&d).map_err(|e| format!("{}: {e}", at("limits.job_cpu")))
                    })
                    .transpose()?,
                concurrent_atoms: nonzero(
                    at("limits.concurrent_atoms"),
                    t.limits.concurrent_atoms,
                )?,
                queued_jobs: nonzero(at("limits.queued_jobs"), t.limits.queued_jobs)?,
                payload_size: t
                    .limits
                    .payload_size
                    .map(|s| size(&at("limits.payload_size"), s))
                    .transpose()?,
            };
            tenants.by_id.insert(
                id.clone(),
                Tenant {
                    id,
                    plugins,
                    limits,
                    grants: t.grants,
                    plugin_grants: t.plugin_grants,
                },
            );
        }
        Ok(tenants)
    }

    /// Who presents `token`, if anyone.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let hash = token_hash(token);
        if self.admin.as_deref() == Some(hash.as_str()) {
            return Some(Caller::Admin);
        }
        self.by_token
            .get(&hash)
            .map(|id| Caller::Tenant(id.clone()))
    }

    /// The tenant `id`.
    pub fn get(&self, id: &str) -> Option<&Tenant> {
        self.by_id.get(id)
    }

    /// Every tenant, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Tenant> {
        self.by_id.values()
    }
}

fn check_hash(field: &str, hash: &str) -> Result<String, String> {
    let hash = hash.trim().to_ascii_lowercase();
    if hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hash)
    } else {
        Err(format!(
            "{field}: expected the SHA-256 of the token as 64 hex digits (see `taskbox tenants token`)"
        ))
    }
}

fn size(field: &str, value: toml::Value) -> Result<u64, String> {
    match value {
        toml::Value::Integer(b) => {
            u64::try_from(b).map_err(|_| format!("{field}: must not be negative"))
        }
        toml::Value::String(t) => parse_size(&t).map_err(|e| format!("{field}: {e}")),
        other => Err(format!(
            "{field}: expected a size like \"256KiB\", not {other}"
        )),
    }
}

fn nonzero(field: String, value: Option<usize>) -> Result<Option<usize>, String> {
    match value {
        Some(0) => Err(format!("{field}: must be at least 1")),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> String {
        format!(
            r#"
admin_token_sha256 = "{admin}"
public_plugins = ["add"]

[tenants.acme]
token_sha256 = "{acme}"
[tenants.acme.limits]
memory = "32MiB"
timeout = "2s"
job_cpu = "30s"
concurrent_atoms = 2
queued_jobs = 10
payload_size = "64KiB"
[tenants.acme.grants]
wall_clock = true
[tenants.acme.plugin_grants.resize]
random = true

[tenants.globex]
token_sha256 = "{globex}"
plugins = "shared/globex"
"#,
            admin = token_hash("admin-secret"),
            acme = token_hash("acme-secret"),
            globex = token_hash("globex-secret"),
        )
    }

    #[test]
    fn a_full_file_parses_and_authenticates_by_token() {
        let tenants = Tenants::parse(&file()).expect("parses");
        assert_eq!(tenants.authenticate("admin-secret"), Some(Caller::Admin));
        assert_eq!(
            tenants.authenticate("acme-secret"),
            Some(Caller::Tenant("acme".into()))
        );
        assert_eq!(tenants.authenticate("nobody"), None);
        let acme = tenants.get("acme").expect("acme");
        assert_eq!(acme.plugins, PathBuf::from("acme"));
        assert_eq!(acme.limits.call.memory, Some(32 << 20));
        assert_eq!(acme.limits.job_cpu, Some(Duration::from_secs(30)));
        assert_eq!(acme.limits.concurrent_atoms, Some(2));
        assert_eq!(acme.limits.payload_size, Some(64 << 10));
        assert!(acme.grants.wall_clock && !acme.grants.random);
        assert!(acme.plugin_grants["resize"].random);
        assert_eq!(
            tenants.get("globex").expect("globex").plugins,
            PathBuf::from("shared/globex")
        );
        assert!(tenants.public_plugins.contains("add"));
    }

    #[test]
    fn bad_files_name_the_field() {
        let cases = [
            (
                "[tenants.a]\ntoken_sha256 = \"abc\"\n",
                "tenants.a.token_sha256",
            ),
            (
                "[tenants.a]\ntoken_sha256 = \"{h}\"\nplugins = \"../x\"\n",
                "tenants.a.plugins",
            ),
            (
                "[tenants.a]\ntoken_sha256 = \"{h}\"\n[tenants.b]\ntoken_sha256 = \"{h}\"\n",
                "same token as tenant 'a'",
            ),
            (
                "[tenants.a]\ntoken_sha256 = \"{h}\"\nlimits = { concurrent_atoms = 0 }\n",
                "concurrent_atoms",
            ),
            (
                "[tenants.a]\ntoken_sha256 = \"{h}\"\nlimits = { job_cpu = \"soon\" }\n",
                "job_cpu",
            ),
            (
                "[tenants.a]\ntoken_sha256 = \"{h}\"\ncolour = 1\n",
                "colour",
            ),
            (
                "[tenants.a]\ntoken_sha256 = \"{h}\"\nlimits = { memry = \"1MiB\" }\n",
                "memry",
            ),
            (
                "[tenants.a]\ntoken_sha256 = \"{h}\"\nlimits = { payload_size = true }\n",
                "payload_size",
            ),
            (
                "[tenants.\"a b\"]\ntoken_sha256 = \"{h}\"\n",
                "tenant id 'a b'",
            ),
        ];
        for (text, needle) in cases {
            let text = text.replace("{h}", &token_hash("t"));
            let err = Tenants::parse(&text).expect_err(&text);
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
