//! Capability grants: the powers beyond computation an operator may give a
//! plugin. Nothing is granted by default.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a call may reach through WASI beyond its arguments and the host's
/// logging and progress imports.
///
/// Without a grant a guest sees no directories, an empty environment, a
/// wall clock frozen at the Unix epoch and a deterministic random source.
/// Networking is never granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Host directories preopened for the guest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<DirGrant>,
    /// Environment variables the guest sees.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The real wall clock (otherwise frozen at the Unix epoch).
    #[serde(default, skip_serializing_if = "is_false")]
    pub wall_clock: bool,
    /// Real randomness (otherwise a fixed, deterministic sequence).
    #[serde(default, skip_serializing_if = "is_false")]
    pub random: bool,
}

/// What a recorded environment grant shows instead of its value.
pub const REDACTED: &str = "(redacted)";

fn is_false(b: &bool) -> bool {
    !*b
}

/// A host directory preopened in the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it (e.g. `/data`).
    pub guest: String,
    /// Read-only (the default) or read-write.
    #[serde(default)]
    pub access: Access,
}

/// How a granted directory may be used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Files and directories may be read, not changed.
    #[default]
    ReadOnly,
    /// Files and directories may be read, created, changed and removed.
    ReadWrite,
}

impl Grants {
    /// True when nothing is granted.
    pub fn is_empty(&self) -> bool {
        self == &Grants::default()
    }

    /// Everything `self` or `other` grants. A directory granted by both at
    /// the same guest path keeps `other`'s grant.
    #[must_use]
    pub fn union(&self, other: &Grants) -> Grants {
        let mut dirs: Vec<DirGrant> = self
            .dirs
            .iter()
            .filter(|d| !other.dirs.iter().any(|o| o.guest == d.guest))
            .cloned()
            .collect();
        dirs.extend(other.dirs.iter().cloned());
        let mut env = self.env.clone();
        env.extend(other.env.clone());
        Grants {
            dirs,
            env,
            wall_clock: self.wall_clock || other.wall_clock,
            random: self.random || other.random,
        }
    }

    /// These grants as recorded: environment values are secrets the
    /// operator gave the plugin, not the tenant, so only their names are
    /// kept (each value becomes [`REDACTED`]).
    #[must_use]
    pub fn redacted(&self) -> Grants {
        Grants {
            env: self
                .env
                .keys()
                .map(|k| (k.clone(), REDACTED.to_string()))
                .collect(),
            ..self.clone()
        }
    }

    /// A one-line summary for logs and listings, e.g.
    /// `dir /data (ro), env HOME, wall-clock`; `none` when empty.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .dirs
            .iter()
            .map(|d| {
                let mode = match d.access {
                    Access::ReadOnly => "ro",
                    Access::ReadWrite => "rw",
                };
                format!("dir {} ({mode})", d.guest)
            })
            .collect();
        parts.extend(self.env.keys().map(|k| format!("env {k}")));
        if self.wall_clock {
            parts.push("wall-clock".into());
        }
        if self.random {
            parts.push("random".into());
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(guest: &str, access: Access) -> DirGrant {
        DirGrant {
            host: PathBuf::from("/srv").join(guest.trim_start_matches('/')),
            guest: guest.into(),
            access,
        }
    }

    #[test]
    fn union_keeps_both_and_prefers_the_second_on_a_clash() {
        let tenant = Grants {
            dirs: vec![
                dir("/data", Access::ReadOnly),
                dir("/cache", Access::ReadOnly),
            ],
            env: BTreeMap::from([("A".into(), "1".into())]),
            ..Grants::default()
        };
        let plugin = Grants {
            dirs: vec![dir("/data", Access::ReadWrite)],
            env: BTreeMap::from([("A".into(), "2".into())]),
            random: true,
            ..Grants::default()
        };
        let both = tenant.union(&plugin);
        assert_eq!(
            both.dirs,
            vec![
                dir("/cache", Access::ReadOnly),
                dir("/data", Access::ReadWrite)
            ]
        );
        assert_eq!(both.env["A"], "2");
        assert!(both.random && !both.wall_clock);
        assert_eq!(
            both.summary(),
            "dir /cache (ro), dir /data (rw), env A, random"
        );
        assert_eq!(Grants::default().summary(), "none");
        assert!(Grants::default().is_empty() && !both.is_empty());
        let recorded = both.redacted();
        assert_eq!(recorded.env["A"], REDACTED);
        assert_eq!((recorded.dirs, recorded.random), (both.dirs, both.random));
    }

    #[test]
    fn grants_parse_from_toml_and_refuse_unknown_fields() {
        let grants: Grants = toml::from_str(
            "wall_clock = true\nenv = { LANG = \"C\" }\n\
             dirs = [{ host = \"/srv/in\", guest = \"/in\" }, { host = \"/srv/out\", guest = \"/out\", access = \"read-write\" }]",
        )
        .expect("parses");
        assert_eq!(grants.dirs[0].access, Access::ReadOnly);
        assert_eq!(grants.dirs[1].access, Access::ReadWrite);
        assert!(toml::from_str::<Grants>("network = true").is_err());
    }
}
