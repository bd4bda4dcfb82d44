//! The execution graph a flow compiles to.

use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write;
use taskbox_model::{Controller, Delay, LimitOverrides, Pattern, Provides};

/// Where one argument of an atom comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgSource {
    /// A fixed value from the atom's `inject`.
    Inject(Value),
    /// A name of the initial store.
    Store(String),
    /// A name provided by an earlier atom (by index in [`ExecGraph::atoms`]).
    Atom {
        /// Index of the providing atom.
        atom: usize,
        /// The provided name.
        name: String,
    },
}

/// One argument binding of an atom.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgBinding {
    /// The argument name the plugin sees.
    pub arg: String,
    /// Where its value comes from.
    pub source: ArgSource,
}

/// What an atom is.
#[derive(Debug, Clone, PartialEq)]
pub enum AtomKind {
    /// A task: `execute` and `revert` of a task plugin.
    Task,
    /// A retry controller of a flow.
    Retry {
        /// Who decides (builtin or plugin).
        controller: Controller,
        /// Pause between attempts (builtins).
        delay: Option<Delay>,
    },
}

/// A compiled atom.
#[derive(Debug, Clone, PartialEq)]
pub struct AtomNode {
    /// Unique name.
    pub name: String,
    /// Task or retry.
    pub kind: AtomKind,
    /// Plugin it runs; empty for builtin retries.
    pub plugin: String,
    /// Higher runs and reverts first among ready atoms.
    pub priority: i32,
    /// Resolved arguments.
    pub args: Vec<ArgBinding>,
    /// How its result is published.
    pub provides: Provides,
    /// Limits of the task, merged over the flow file's defaults.
    pub limits: LimitOverrides,
    /// Index of the innermost flow holding it, in [`ExecGraph::flows`].
    pub flow: usize,
    /// The retry atom consulted when this atom fails: the retry of the
    /// innermost enclosing flow that has one (for a retry atom, the one
    /// around its own flow). `None`: a failure reverts the whole flow.
    pub controller: Option<usize>,
}

impl AtomNode {
    /// True for retry atoms.
    pub fn is_retry(&self) -> bool {
        matches!(self.kind, AtomKind::Retry { .. })
    }

    /// What to show for it: the plugin, or the builtin controller's name.
    pub fn runs(&self) -> String {
        match &self.kind {
            AtomKind::Retry { controller, .. } => match controller {
                Controller::Plugin { plugin } => format!("retry {plugin}"),
                Controller::Times { attempts, .. } => format!("retry times({attempts})"),
                Controller::ForEach { values, .. } => {
                    format!("retry for_each({} values)", values.len())
                }
                Controller::ParameterizedForEach { .. } => "retry parameterized_for_each".into(),
                Controller::AlwaysRevert => "retry always_revert".into(),
                Controller::AlwaysRevertAll => "retry always_revert_all".into(),
            },
            AtomKind::Task => self.plugin.clone(),
        }
    }
}

/// A flow of the tree, kept for display.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowNode {
    /// Name.
    pub name: String,
    /// Pattern.
    pub pattern: Pattern,
    /// Enclosing flow, `None` for the root.
    pub parent: Option<usize>,
}

/// Atoms and the order between them: an edge `a → b` means `b` runs after
/// `a` completes and reverts before `a` reverts.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecGraph {
    /// Atoms in declaration order.
    pub atoms: Vec<AtomNode>,
    /// Successors of each atom.
    pub succs: Vec<Vec<usize>>,
    /// Predecessors of each atom.
    pub preds: Vec<Vec<usize>>,
    /// Flows of the tree; index 0 is the root.
    pub flows: Vec<FlowNode>,
    /// A topological order of the atoms.
    pub topo: Vec<usize>,
    pub(crate) index: HashMap<String, usize>,
}

impl ExecGraph {
    /// Index of the atom named `name`.
    pub fn atom_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.succs.iter().map(Vec::len).sum()
    }

    /// The graph in Graphviz DOT, one cluster per flow.
    pub fn to_dot(&self) -> String {
        let mut out =
            String::from("digraph taskbox {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
        self.write_cluster(&mut out, 0, 1);
        for (from, succs) in self.succs.iter().enumerate() {
            for to in succs {
                let _ = writeln!(
                    out,
                    "  {} -> {};",
                    quote(&self.atoms[from].name),
                    quote(&self.atoms[*to].name)
                );
            }
        }
        out.push_str("}\n");
        out
    }

    fn write_cluster(&self, out: &mut String, flow: usize, depth: usize) {
        let pad = "  ".repeat(depth);
        let f = &self.flows[flow];
        let _ = writeln!(
            out,
            "{pad}subgraph {} {{",
            quote(&format!("cluster_{}", f.name))
        );
        let _ = writeln!(
            out,
            "{pad}  label={};",
            quote(&format!("{} ({})", f.name, f.pattern))
        );
        for atom in self.atoms.iter().filter(|a| a.flow == flow) {
            let _ = writeln!(
                out,
                "{pad}  {} [label={}];",
                quote(&atom.name),
                quote(&format!("{}\n{}", atom.name, atom.runs()))
            );
        }
        for (child, _) in self
            .flows
            .iter()
            .enumerate()
            .filter(|(_, c)| c.parent == Some(flow))
        {
            self.write_cluster(out, child, depth + 1);
        }
        let _ = writeln!(out, "{pad}}}");
    }
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
