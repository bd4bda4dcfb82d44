//! Flow spec files (TOML or JSON): parsing and shape validation.
//!
//! The format is documented in `docs/flow-spec.md`. Parsing checks the shape
//! of each node and names the node at fault; graph-level checks (cycles,
//! missing inputs, ...) happen when the engine compiles the flow.

use crate::flow::{Flow, Node, Pattern, Provides, Task};
use crate::limits::LimitOverrides;
use crate::retry::{Controller, Delay, Retry};
use crate::units::parse_duration;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The on-disk format of a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecFormat {
    /// TOML (the default).
    Toml,
    /// JSON.
    Json,
}

impl SpecFormat {
    /// The format a file name suggests: `.json` is JSON, anything else TOML.
    pub fn for_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => SpecFormat::Json,
            _ => SpecFormat::Toml,
        }
    }
}

/// A spec that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The text is not valid TOML/JSON or does not fit the schema.
    #[error("{origin}: {message}")]
    Syntax {
        /// File name or "<spec>".
        origin: String,
        /// The parser's explanation, with position where known.
        message: String,
    },
    /// A node is malformed.
    #[error("{origin}: node '{node}': {message}")]
    Node {
        /// File name or "<spec>".
        origin: String,
        /// Name of the node (or its position when unnamed).
        node: String,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read.
    #[error("cannot read flow spec {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A parsed flow spec: the flow plus the defaults the file sets.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowSpec {
    /// The top-level flow.
    pub flow: Flow,
    /// Initial store values.
    pub store: BTreeMap<String, Value>,
    /// Default limits for every task of the flow.
    pub limits: LimitOverrides,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    task: Option<String>,
    flow: Option<String>,
    name: Option<String>,
    plugin: Option<String>,
    pattern: Option<Pattern>,
    #[serde(default)]
    children: Vec<RawNode>,
    #[serde(default)]
    links: Vec<(String, String)>,
    requires: Option<Vec<String>>,
    optional: Option<Vec<String>>,
    provides: Option<RawProvides>,
    #[serde(default)]
    rebind: BTreeMap<String, String>,
    #[serde(default)]
    inject: BTreeMap<String, Value>,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    limits: LimitOverrides,
    /// Only at the top level: the initial store.
    store: Option<BTreeMap<String, Value>>,
    /// Flows only: the retry controller.
    retry: Option<RawRetry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    name: Option<String>,
    kind: Option<String>,
    plugin: Option<String>,
    attempts: Option<u32>,
    values: Option<Vec<Value>>,
    #[serde(default)]
    revert_all: bool,
    provides: Option<String>,
    requires: Option<Vec<String>>,
    #[serde(default)]
    rebind: BTreeMap<String, String>,
    #[serde(default)]
    inject: BTreeMap<String, Value>,
    delay: Option<String>,
    backoff: Option<RawBackoff>,
    #[serde(default)]
    limits: LimitOverrides,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackoff {
    initial: String,
    #[serde(default = "default_factor")]
    factor: f64,
    max: String,
}

fn default_factor() -> f64 {
    2.0
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawProvides {
    Single(String),
    Positional(Vec<String>),
    Keyed(BTreeMap<String, String>),
}

impl FlowSpec {
    /// Reads and parses the spec at `path` (format from the extension).
    pub fn load(path: &Path) -> Result<FlowSpec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.display().to_string(),
            source,
        })?;
        FlowSpec::parse(
            &text,
            SpecFormat::for_path(path),
            &path.display().to_string(),
        )
    }

    /// Parses spec `text`; `origin` names it in errors.
    pub fn parse(text: &str, format: SpecFormat, origin: &str) -> Result<FlowSpec, SpecError> {
        let syntax = |message: String| SpecError::Syntax {
            origin: origin.to_string(),
            message,
        };
        let mut raw: RawNode = match format {
            SpecFormat::Toml => toml::from_str(text).map_err(|e| syntax(e.to_string()))?,
            SpecFormat::Json => serde_json::from_str(text).map_err(|e| syntax(e.to_string()))?,
        };
        let store = raw.store.take().unwrap_or_default();
        // At the top level `limits` are the defaults of every task.
        let limits = std::mem::take(&mut raw.limits);
        let root = convert(raw, origin, "<root>")?;
        let Node::Flow(flow) = root else {
            return Err(SpecError::Node {
                origin: origin.to_string(),
                node: root.name().to_string(),
                message: "the top level of a spec must be a flow (set `flow = \"name\"`)".into(),
            });
        };
        Ok(FlowSpec {
            flow,
            store,
            limits,
        })
    }
}

fn convert(raw: RawNode, origin: &str, position: &str) -> Result<Node, SpecError> {
    let label = raw
        .task
        .clone()
        .or_else(|| raw.flow.clone())
        .or_else(|| raw.name.clone())
        .unwrap_or_else(|| position.to_string());
    let fail = |message: String| SpecError::Node {
        origin: origin.to_string(),
        node: label.clone(),
        message,
    };
    let check_name = |name: &str| {
        if name.trim().is_empty() {
            Err(fail("name must not be empty".into()))
        } else {
            Ok(())
        }
    };
    if raw.store.is_some() {
        return Err(fail("`store` is only allowed at the top level".into()));
    }
    match (raw.task, raw.flow) {
        (Some(_), Some(_)) => Err(fail(
            "a node is either a `task` or a `flow`, not both".into(),
        )),
        (None, None) => Err(fail(
            "each node needs `task = \"name\"` or `flow = \"name\"`".into(),
        )),
        (Some(name), None) => {
            check_name(&name)?;
            if raw.pattern.is_some()
                || !raw.children.is_empty()
                || !raw.links.is_empty()
                || raw.retry.is_some()
            {
                return Err(fail(
                    "`pattern`, `children`, `links` and `retry` belong to flows, not tasks".into(),
                ));
            }
            let plugin = raw
                .plugin
                .ok_or_else(|| fail("a task needs `plugin`".into()))?;
            let provides = raw.provides.map(|p| match p {
                RawProvides::Single(s) => Provides::Single(s),
                RawProvides::Positional(v) => Provides::Positional(v),
                RawProvides::Keyed(m) => Provides::Keyed(m),
            });
            Ok(Node::Task(Task {
                name,
                plugin,
                requires: raw.requires,
                optional: raw.optional,
                provides,
                rebind: raw.rebind,
                inject: raw.inject,
                priority: raw.priority,
                limits: raw.limits,
            }))
        }
        (None, Some(name)) => {
            check_name(&name)?;
            let task_only = raw.plugin.is_some()
                || raw.requires.is_some()
                || raw.optional.is_some()
                || raw.provides.is_some()
                || !raw.rebind.is_empty()
                || !raw.inject.is_empty()
                || raw.priority != 0
                || raw.limits != LimitOverrides::default();
            if task_only {
                return Err(fail(
                    "`plugin`, `requires`, `optional`, `provides`, `rebind`, `inject`, `priority` and `limits` belong to tasks, not flows".into(),
                ));
            }
            let pattern = raw.pattern.unwrap_or(Pattern::Linear);
            if pattern != Pattern::Graph && !raw.links.is_empty() {
                return Err(fail(format!(
                    "`links` are only allowed in graph flows, this one is {pattern}"
                )));
            }
            let children = raw
                .children
                .into_iter()
                .enumerate()
                .map(|(i, c)| convert(c, origin, &format!("{name}.children[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            let retry = raw
                .retry
                .map(|r| convert_retry(r, &name))
                .transpose()
                .map_err(fail)?;
            Ok(Node::Flow(Flow {
                name,
                pattern,
                children,
                links: raw.links,
                retry,
            }))
        }
    }
}

/// Builds a retry from its table; errors name the retry and its flow.
fn convert_retry(raw: RawRetry, flow: &str) -> Result<Retry, String> {
    let name = raw.name.unwrap_or_else(|| format!("{flow}-retry"));
    let fail = |message: String| format!("retry '{name}': {message}");
    let (has_attempts, has_values) = (raw.attempts.is_some(), raw.values.is_some());
    let controller = match (raw.kind.as_deref(), raw.plugin) {
        (Some(_), Some(_)) => return Err(fail("give either `kind` or `plugin`, not both".into())),
        (None, None) => {
            return Err(fail(
                "needs `kind` (times, for_each, parameterized_for_each, always_revert, always_revert_all) or `plugin`".into(),
            ));
        }
        (None, Some(plugin)) => Controller::Plugin { plugin },
        (Some("times"), None) => Controller::Times {
            attempts: raw
                .attempts
                .ok_or_else(|| fail("kind `times` needs `attempts`".into()))?,
            revert_all: raw.revert_all,
        },
        (Some("for_each"), None) => Controller::ForEach {
            values: raw
                .values
                .ok_or_else(|| fail("kind `for_each` needs `values`".into()))?,
            revert_all: raw.revert_all,
        },
        (Some("parameterized_for_each"), None) => Controller::ParameterizedForEach {
            revert_all: raw.revert_all,
        },
        (Some("always_revert"), None) => Controller::AlwaysRevert,
        (Some("always_revert_all"), None) => Controller::AlwaysRevertAll,
        (Some(other), None) => return Err(fail(format!("unknown kind '{other}'"))),
    };
    let misplaced = match &controller {
        Controller::Times { .. } => has_values,
        Controller::ForEach { .. } => has_attempts,
        _ => has_attempts || has_values,
    };
    if misplaced {
        return Err(fail(
            "`attempts` belongs to kind times and `values` to kind for_each".into(),
        ));
    }
    let delay = match (raw.delay, raw.backoff) {
        (Some(_), Some(_)) => {
            return Err(fail("give either `delay` or `backoff`, not both".into()));
        }
        (Some(d), None) => Some(Delay::Fixed(
            parse_duration(&d).map_err(|e| fail(e.to_string()))?,
        )),
        (None, Some(b)) => {
            let duration = |text: &str| parse_duration(text).map_err(|e| fail(e.to_string()));
            if !(b.factor.is_finite() && b.factor >= 1.0) {
                return Err(fail(
                    "backoff `factor` must be a number of at least 1".into(),
                ));
            }
            Some(Delay::Exponential {
                initial: duration(&b.initial)?,
                factor: b.factor,
                max: duration(&b.max)?,
            })
        }
        (None, None) => None,
    };
    Ok(Retry {
        name,
        controller,
        provides: raw.provides,
        requires: raw.requires,
        rebind: raw.rebind,
        inject: raw.inject,
        delay,
        limits: raw.limits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAGA: &str = r#"
flow = "order"
pattern = "linear"

[store]
sku = "widget"

[limits]
timeout = "5s"

[[children]]
task = "reserve"
plugin = "reserve_stock"
provides = "reservation"

[[children]]
flow = "after"
pattern = "graph"
links = [["a", "b"]]

  [[children.children]]
  task = "a"
  plugin = "add"
  inject = { x = 1, y = 2 }
  provides = ["p", "q"]

  [[children.children]]
  task = "b"
  plugin = "add"
  rebind = { x = "p" }
  priority = 3
  limits = { memory = "16MiB" }
"#;

    #[test]
    fn parses_nested_toml() -> Result<(), SpecError> {
        let spec = FlowSpec::parse(SAGA, SpecFormat::Toml, "saga.toml")?;
        assert_eq!(spec.flow.name, "order");
        assert_eq!(spec.store.get("sku"), Some(&Value::from("widget")));
        assert_eq!(spec.limits.timeout, Some(std::time::Duration::from_secs(5)));
        let tasks = spec.flow.tasks();
        assert_eq!(tasks.len(), 3);
        assert_eq!(
            tasks[1].provides,
            Some(Provides::Positional(vec!["p".into(), "q".into()]))
        );
        assert_eq!(tasks[2].priority, 3);
        assert_eq!(tasks[2].limits.memory, Some(16 << 20));
        let Node::Flow(inner) = &spec.flow.children[1] else {
            panic!("expected a nested flow")
        };
        assert_eq!(inner.links, vec![("a".to_string(), "b".to_string())]);
        Ok(())
    }

    #[test]
    fn parses_retries() -> Result<(), SpecError> {
        let text = r#"
flow = "outer"
retry = { kind = "times", attempts = 3, provides = "attempt", backoff = { initial = "10ms", max = "1s" } }

[[children]]
flow = "servers"
retry = { name = "r", kind = "for_each", values = ["a", "b"], provides = "ip", revert_all = true }
  [[children.children]]
  task = "connect"
  plugin = "connect"

[[children]]
flow = "custom"
retry = { name = "budget", plugin = "transient_retry", inject = { budget = 2 } }
"#;
        let spec = FlowSpec::parse(text, SpecFormat::Toml, "r.toml")?;
        let outer = spec.flow.retry.as_ref().expect("outer retry");
        assert_eq!(outer.name, "outer-retry");
        assert!(matches!(
            outer.controller,
            Controller::Times {
                attempts: 3,
                revert_all: false
            }
        ));
        assert!(matches!(outer.delay, Some(Delay::Exponential { .. })));
        let Node::Flow(servers) = &spec.flow.children[0] else {
            panic!("expected a flow")
        };
        let r = servers.retry.as_ref().expect("retry");
        assert!(
            matches!(&r.controller, Controller::ForEach { values, revert_all: true } if values.len() == 2)
        );
        let Node::Flow(custom) = &spec.flow.children[1] else {
            panic!("expected a flow")
        };
        assert!(
            matches!(&custom.retry.as_ref().expect("retry").controller, Controller::Plugin { plugin } if plugin == "transient_retry")
        );
        Ok(())
    }

    #[test]
    fn rejects_malformed_retries_naming_them() {
        let cases = [
            (
                "retry = { name = \"r\", kind = \"times\" }",
                "retry 'r': kind `times` needs `attempts`",
            ),
            (
                "retry = { name = \"r\", kind = \"sometimes\" }",
                "unknown kind 'sometimes'",
            ),
            ("retry = { name = \"r\" }", "needs `kind`"),
            (
                "retry = { name = \"r\", kind = \"times\", attempts = 2, values = [1] }",
                "`values` to kind for_each",
            ),
            (
                "retry = { name = \"r\", kind = \"always_revert\", delay = \"1 day\" }",
                "invalid duration",
            ),
            (
                "retry = { name = \"r\", kind = \"times\", attempts = 1, colour = 1 }",
                "colour",
            ),
        ];
        for (line, expected) in cases {
            let e = error_of(&format!("flow = \"f\"\n{line}\n"));
            assert!(e.contains(expected), "{line}: {e}");
        }
        let e = error_of(
            "flow = \"f\"\n[[children]]\ntask = \"t\"\nplugin = \"p\"\nretry = { kind = \"always_revert\" }\n",
        );
        assert!(e.contains("belong to flows"), "{e}");
    }

    #[test]
    fn parses_json() -> Result<(), SpecError> {
        let text = r#"{"flow": "f", "pattern": "unordered", "children": [
            {"task": "t", "plugin": "add", "provides": {"total": "sum"}}]}"#;
        let spec = FlowSpec::parse(text, SpecFormat::Json, "f.json")?;
        assert_eq!(spec.flow.pattern, Pattern::Unordered);
        assert!(matches!(
            spec.flow.tasks()[0].provides,
            Some(Provides::Keyed(_))
        ));
        Ok(())
    }

    fn error_of(text: &str) -> String {
        match FlowSpec::parse(text, SpecFormat::Toml, "bad.toml") {
            Ok(_) => panic!("spec should be rejected: {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn rejects_malformed_nodes_naming_them() {
        let e = error_of("flow = \"f\"\n[[children]]\ntask = \"t\"\n");
        assert!(
            e.contains("node 't'") && e.contains("needs `plugin`"),
            "{e}"
        );
        let e = error_of("flow = \"f\"\n[[children]]\nplugin = \"add\"\n");
        assert!(e.contains("f.children[0]") && e.contains("`task"), "{e}");
        let e = error_of("task = \"t\"\nplugin = \"add\"\n");
        assert!(e.contains("top level"), "{e}");
        let e = error_of("flow = \"f\"\nlinks = [[\"a\", \"b\"]]\n");
        assert!(e.contains("only allowed in graph"), "{e}");
        let e = error_of(
            "flow = \"f\"\n[[children]]\ntask = \"t\"\nplugin = \"p\"\nlimits = { timeout = \"soon\" }\n",
        );
        assert!(e.contains("invalid duration 'soon'"), "{e}");
        let e = error_of("flow = \"f\"\ncolour = \"red\"\n");
        assert!(e.contains("colour"), "{e}");
        let e = error_of("flow = \"f\"\npattern = \"spiral\"\n");
        assert!(e.contains("spiral"), "{e}");
    }
}
