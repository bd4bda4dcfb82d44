//! Flows and task atoms, with a builder API.

use crate::limits::LimitOverrides;
use crate::retry::Retry;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// How a flow orders its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// One after another, in the order given.
    Linear,
    /// In any order, possibly at the same time; children must not depend on
    /// each other.
    Unordered,
    /// Ordered by explicit links and by data: a child that requires a name
    /// another child provides runs after it.
    Graph,
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pattern::Linear => "linear",
            Pattern::Unordered => "unordered",
            Pattern::Graph => "graph",
        })
    }
}

/// How a task's result is published to the flow's store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provides {
    /// Not stored.
    #[default]
    None,
    /// The whole result under one name.
    Single(String),
    /// The result is an array; element `i` is stored under name `i`.
    Positional(Vec<String>),
    /// The result is an object; each entry stores `result[key]` under `name`
    /// (map from name to key).
    Keyed(BTreeMap<String, String>),
}

impl Provides {
    /// The names this provides.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Provides::None => Vec::new(),
            Provides::Single(n) => vec![n.as_str()],
            Provides::Positional(v) => v.iter().map(String::as_str).collect(),
            Provides::Keyed(m) => m.keys().map(String::as_str).collect(),
        }
    }
}

/// A task atom: one call of a plugin's `execute` (and `revert` on failure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Unique name of the atom in its flow.
    pub name: String,
    /// Name of the plugin (the `.wasm` file's stem in the plugin directory).
    pub plugin: String,
    /// Required arguments; `None` takes them from the plugin's `describe`.
    pub requires: Option<Vec<String>>,
    /// Optional arguments; `None` takes them from the plugin's `describe`.
    pub optional: Option<Vec<String>>,
    /// Where the result goes; `None` takes it from the plugin's `describe`.
    pub provides: Option<Provides>,
    /// Argument name → store name it is read from.
    pub rebind: BTreeMap<String, String>,
    /// Argument name → fixed value, taking precedence over the store.
    pub inject: BTreeMap<String, Value>,
    /// Higher runs (and reverts) first among atoms ready at the same time.
    pub priority: i32,
    /// Sandbox limits for this atom.
    pub limits: LimitOverrides,
}

impl Task {
    /// A task named `name` running `plugin`, everything else from `describe`.
    pub fn new(name: impl Into<String>, plugin: impl Into<String>) -> Self {
        Task {
            name: name.into(),
            plugin: plugin.into(),
            requires: None,
            optional: None,
            provides: None,
            rebind: BTreeMap::new(),
            inject: BTreeMap::new(),
            priority: 0,
            limits: LimitOverrides::default(),
        }
    }

    /// Reads argument `arg` from store name `from`.
    #[must_use]
    pub fn rebind(mut self, arg: impl Into<String>, from: impl Into<String>) -> Self {
        self.rebind.insert(arg.into(), from.into());
        self
    }

    /// Passes `value` as argument `arg`.
    #[must_use]
    pub fn inject(mut self, arg: impl Into<String>, value: Value) -> Self {
        self.inject.insert(arg.into(), value);
        self
    }

    /// Stores the whole result under `name`.
    #[must_use]
    pub fn provides(mut self, name: impl Into<String>) -> Self {
        self.provides = Some(Provides::Single(name.into()));
        self
    }

    /// Sets how the result is stored.
    #[must_use]
    pub fn provides_as(mut self, provides: Provides) -> Self {
        self.provides = Some(provides);
        self
    }

    /// Overrides the required arguments.
    #[must_use]
    pub fn requires(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.requires = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the priority.
    #[must_use]
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Sets this atom's limits.
    #[must_use]
    pub fn limits(mut self, limits: LimitOverrides) -> Self {
        self.limits = limits;
        self
    }
}

/// A node of a flow: a task or a nested flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Node {
    /// A task atom.
    Task(Task),
    /// A nested flow.
    Flow(Flow),
}

impl Node {
    /// The node's name.
    pub fn name(&self) -> &str {
        match self {
            Node::Task(t) => &t.name,
            Node::Flow(f) => &f.name,
        }
    }
}

/// A flow: children ordered by a pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// Unique name.
    pub name: String,
    /// How children are ordered.
    pub pattern: Pattern,
    /// Tasks and nested flows.
    pub children: Vec<Node>,
    /// Explicit `(from, to)` ordering between children (graph flows only).
    pub links: Vec<(String, String)>,
    /// The retry controller consulted when an atom inside fails.
    pub retry: Option<Retry>,
}

impl Flow {
    /// An empty flow with `pattern`.
    pub fn new(name: impl Into<String>, pattern: Pattern) -> Self {
        Flow {
            name: name.into(),
            pattern,
            children: Vec::new(),
            links: Vec::new(),
            retry: None,
        }
    }

    /// Attaches a retry controller.
    #[must_use]
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = Some(retry);
        self
    }

    /// An empty linear flow.
    pub fn linear(name: impl Into<String>) -> Self {
        Flow::new(name, Pattern::Linear)
    }

    /// An empty unordered flow.
    pub fn unordered(name: impl Into<String>) -> Self {
        Flow::new(name, Pattern::Unordered)
    }

    /// An empty graph flow.
    pub fn graph(name: impl Into<String>) -> Self {
        Flow::new(name, Pattern::Graph)
    }

    /// Adds a task.
    #[must_use]
    pub fn task(mut self, task: Task) -> Self {
        self.children.push(Node::Task(task));
        self
    }

    /// Adds a nested flow.
    #[must_use]
    pub fn flow(mut self, flow: Flow) -> Self {
        self.children.push(Node::Flow(flow));
        self
    }

    /// Orders child `from` before child `to` (graph flows).
    #[must_use]
    pub fn link(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.links.push((from.into(), to.into()));
        self
    }

    /// Every task in the flow, depth first, in declaration order.
    pub fn tasks(&self) -> Vec<&Task> {
        let mut out = Vec::new();
        self.collect_tasks(&mut out);
        out
    }

    fn collect_tasks<'a>(&'a self, out: &mut Vec<&'a Task>) {
        for child in &self.children {
            match child {
                Node::Task(t) => out.push(t),
                Node::Flow(f) => f.collect_tasks(out),
            }
        }
    }
}
