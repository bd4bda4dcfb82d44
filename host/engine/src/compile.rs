//! Compiling a flow tree into an [`ExecGraph`], with every check that can
//! be made before anything runs.

use crate::graph::{ArgBinding, ArgSource, AtomKind, AtomNode, ExecGraph, FlowNode};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use taskbox_model::{Controller, Flow, LimitOverrides, Node, Pattern, Provides, Retry, Task};

/// What a plugin says it takes and gives (from its `describe`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signature {
    /// Required arguments.
    pub requires: Vec<String>,
    /// Optional arguments.
    pub optional: Vec<String>,
    /// Default provides.
    pub provides: Provides,
    /// True for a retry controller component, false for a task.
    pub retry: bool,
}

/// Looks up plugin signatures while compiling.
pub trait Catalog {
    /// The signature of `plugin`, or `None` when it is not loaded.
    fn signature(&self, plugin: &str) -> Option<Signature>;

    /// True when no plugins are loaded and signatures are unknown: an
    /// atom's arguments are then what its spec declares and rebinds, and
    /// plugin kinds are not checked.
    fn spec_only(&self) -> bool {
        false
    }
}

impl Catalog for taskbox_sandbox::PluginSet {
    fn signature(&self, plugin: &str) -> Option<Signature> {
        self.get(plugin).map(|p| {
            let info = p.info();
            Signature {
                requires: info.requires.clone(),
                optional: info.optional.clone(),
                provides: info.provides.clone(),
                retry: p.is_retry(),
            }
        })
    }
}

/// Compiles without plugins, from what the spec declares. Used to draw a
/// flow's graph without loading anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpecOnly;

impl Catalog for SpecOnly {
    fn signature(&self, _plugin: &str) -> Option<Signature> {
        Some(Signature::default())
    }

    fn spec_only(&self) -> bool {
        true
    }
}

/// A flow that cannot run. Every variant names the atoms involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// Two nodes share a name.
    #[error("duplicate name '{0}': atom and flow names must be unique")]
    DuplicateName(String),
    /// A task names a plugin that is not loaded.
    #[error("atom '{atom}' uses plugin '{plugin}', which is not in the plugin directory{hint}")]
    UnknownPlugin {
        /// The atom.
        atom: String,
        /// The plugin.
        plugin: String,
        /// Why it may be missing.
        hint: String,
    },
    /// The order contains a cycle.
    #[error("cycle between atoms: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// A required argument has no source.
    #[error(
        "atom '{atom}' requires '{name}'{rebound}, but no atom before it provides it and the initial store has no '{name}'"
    )]
    MissingRequirement {
        /// The atom.
        atom: String,
        /// The store name it needs.
        name: String,
        /// " (argument 'x' rebound)" when rebound.
        rebound: String,
    },
    /// Two providers of one name are not ordered.
    #[error(
        "atoms '{first}' and '{second}' both provide '{name}' and neither runs before the other, so the value of '{name}' would be ambiguous"
    )]
    AmbiguousProviders {
        /// The name.
        name: String,
        /// One provider.
        first: String,
        /// The other.
        second: String,
    },
    /// Siblings of an unordered flow depend on each other.
    #[error(
        "unordered flow '{flow}': '{consumer}' requires '{name}', which its sibling '{provider}' provides; siblings of an unordered flow must be independent (use a linear or graph flow)"
    )]
    UnorderedDependency {
        /// The flow.
        flow: String,
        /// The consuming child.
        consumer: String,
        /// The providing child.
        provider: String,
        /// The name.
        name: String,
    },
    /// A graph link names a node that is not a child of the flow.
    #[error("graph flow '{flow}': link names '{name}', which is not a child of this flow")]
    UnknownLink {
        /// The flow.
        flow: String,
        /// The unknown name.
        name: String,
    },
    /// A task names a retry plugin, or a retry a task plugin.
    #[error("atom '{atom}' uses plugin '{plugin}', which is {actual}; {hint}")]
    WrongPluginKind {
        /// The atom.
        atom: String,
        /// The plugin.
        plugin: String,
        /// "a retry controller" or "a task".
        actual: String,
        /// What to do instead.
        hint: String,
    },
    /// `rebind` names an argument the plugin does not take.
    #[error("atom '{atom}' rebinds argument '{arg}', which plugin '{plugin}' does not take")]
    UnknownArgument {
        /// The atom.
        atom: String,
        /// The argument.
        arg: String,
        /// The plugin.
        plugin: String,
    },
}

/// The entry and exit atoms of a compiled subtree.
#[derive(Default, Clone)]
struct Ends {
    entries: Vec<usize>,
    exits: Vec<usize>,
    /// Store names required by atoms of the subtree.
    requires: BTreeSet<String>,
    /// Store names provided by atoms of the subtree.
    provides: BTreeSet<String>,
}

/// An atom's declared arguments, with its plugin's signature merged in.
struct Resolved<'a> {
    name: &'a str,
    rebind: &'a BTreeMap<String, String>,
    inject: &'a BTreeMap<String, Value>,
    requires: Vec<String>,
    optional: Vec<String>,
}

struct Compiler<'a> {
    catalog: &'a dyn Catalog,
    defaults: LimitOverrides,
    atoms: Vec<AtomNode>,
    tasks: Vec<Resolved<'a>>,
    edges: BTreeSet<(usize, usize)>,
    flows: Vec<FlowNode>,
    names: HashSet<String>,
    /// Retry atoms of the flows being compiled, innermost last.
    controllers: Vec<usize>,
}

/// Compiles `flow`. `store` holds the names the initial store will have;
/// `defaults` are the flow file's limits, under each task's own.
pub fn compile(
    flow: &Flow,
    catalog: &dyn Catalog,
    store: &BTreeSet<String>,
    defaults: &LimitOverrides,
) -> Result<ExecGraph, CompileError> {
    let mut c = Compiler {
        catalog,
        defaults: *defaults,
        atoms: Vec::new(),
        tasks: Vec::new(),
        edges: BTreeSet::new(),
        flows: Vec::new(),
        names: HashSet::new(),
        controllers: Vec::new(),
    };
    c.flow(flow, None)?;
    let n = c.atoms.len();
    let mut succs = vec![Vec::new(); n];
    let mut preds = vec![Vec::new(); n];
    for &(a, b) in &c.edges {
        succs[a].push(b);
        preds[b].push(a);
    }
    let topo = topo_order(&c.atoms, &succs, &preds)?;
    let mut graph = ExecGraph {
        index: c
            .atoms
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.clone(), i))
            .collect(),
        atoms: c.atoms,
        succs,
        preds,
        flows: c.flows,
        topo,
    };
    bind_arguments(&mut graph, &c.tasks, store)?;
    Ok(graph)
}

impl<'a> Compiler<'a> {
    fn claim_name(&mut self, name: &str) -> Result<(), CompileError> {
        if self.names.insert(name.to_string()) {
            Ok(())
        } else {
            Err(CompileError::DuplicateName(name.to_string()))
        }
    }

    fn node(&mut self, node: &'a Node, flow: usize) -> Result<Ends, CompileError> {
        match node {
            Node::Task(task) => self.task(task, flow),
            Node::Flow(inner) => self.flow(inner, Some(flow)),
        }
    }

    /// The signature of `plugin` used by `atom`, checking it is a retry
    /// controller when `retry` and a task otherwise.
    fn signature(&self, atom: &str, plugin: &str, retry: bool) -> Result<Signature, CompileError> {
        let signature =
            self.catalog
                .signature(plugin)
                .ok_or_else(|| CompileError::UnknownPlugin {
                    atom: atom.to_string(),
                    plugin: plugin.to_string(),
                    hint: format!(" (expected {plugin}.wasm)"),
                })?;
        if signature.retry != retry && !self.catalog.spec_only() {
            let (actual, hint) = if signature.retry {
                ("a retry controller", "attach it to a flow with `retry`")
            } else {
                ("a task", "use it as a task, not as a flow's retry")
            };
            return Err(CompileError::WrongPluginKind {
                atom: atom.to_string(),
                plugin: plugin.to_string(),
                actual: actual.into(),
                hint: hint.into(),
            });
        }
        Ok(signature)
    }

    /// Records an atom and returns its ends.
    fn atom(&mut self, node: AtomNode, resolved: Resolved<'a>) -> Result<Ends, CompileError> {
        self.claim_name(&node.name)?;
        for arg in resolved.rebind.keys() {
            let declared = resolved.requires.contains(arg) || resolved.optional.contains(arg);
            if !declared && !self.catalog.spec_only() {
                return Err(CompileError::UnknownArgument {
                    atom: node.name.clone(),
                    arg: arg.clone(),
                    plugin: node.runs(),
                });
            }
        }
        let index = self.atoms.len();
        let symbol = |arg: &String| resolved.rebind.get(arg).unwrap_or(arg).clone();
        let ends = Ends {
            entries: vec![index],
            exits: vec![index],
            requires: resolved
                .requires
                .iter()
                .filter(|a| !resolved.inject.contains_key(*a))
                .map(symbol)
                .collect(),
            provides: node
                .provides
                .names()
                .into_iter()
                .map(String::from)
                .collect(),
        };
        self.atoms.push(node);
        self.tasks.push(resolved);
        Ok(ends)
    }

    fn task(&mut self, task: &'a Task, flow: usize) -> Result<Ends, CompileError> {
        let signature = self.signature(&task.name, &task.plugin, false)?;
        let mut requires = task.requires.clone().unwrap_or(signature.requires);
        if self.catalog.spec_only() {
            requires.extend(
                task.rebind
                    .keys()
                    .filter(|k| !requires.contains(k))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        }
        let node = AtomNode {
            name: task.name.clone(),
            kind: AtomKind::Task,
            plugin: task.plugin.clone(),
            priority: task.priority,
            args: Vec::new(),
            provides: task.provides.clone().unwrap_or(signature.provides),
            limits: task.limits.or(&self.defaults),
            flow,
            controller: self.controllers.last().copied(),
        };
        self.atom(
            node,
            Resolved {
                name: &task.name,
                rebind: &task.rebind,
                inject: &task.inject,
                requires,
                optional: task.optional.clone().unwrap_or(signature.optional),
            },
        )
    }

    fn retry(&mut self, retry: &'a Retry, flow: usize) -> Result<Ends, CompileError> {
        let (plugin, signature) = match &retry.controller {
            Controller::Plugin { plugin } => {
                (plugin.clone(), self.signature(&retry.name, plugin, true)?)
            }
            builtin => (
                String::new(),
                Signature {
                    requires: builtin.builtin_requires(),
                    ..Signature::default()
                },
            ),
        };
        let provides = match &retry.provides {
            Some(name) => Provides::Single(name.clone()),
            None => signature.provides,
        };
        let node = AtomNode {
            name: retry.name.clone(),
            kind: AtomKind::Retry {
                controller: retry.controller.clone(),
                delay: retry.delay,
            },
            plugin,
            priority: 0,
            args: Vec::new(),
            provides,
            limits: retry.limits.or(&self.defaults),
            flow,
            controller: self.controllers.last().copied(),
        };
        self.atom(
            node,
            Resolved {
                name: &retry.name,
                rebind: &retry.rebind,
                inject: &retry.inject,
                requires: retry.requires.clone().unwrap_or(signature.requires),
                optional: signature.optional,
            },
        )
    }

    fn link(&mut self, from: &Ends, to: &Ends) {
        for &a in &from.exits {
            for &b in &to.entries {
                self.edges.insert((a, b));
            }
        }
    }

    fn flow(&mut self, flow: &'a Flow, parent: Option<usize>) -> Result<Ends, CompileError> {
        self.claim_name(&flow.name)?;
        let me = self.flows.len();
        self.flows.push(FlowNode {
            name: flow.name.clone(),
            pattern: flow.pattern,
            parent,
        });
        // The retry runs first and governs every atom inside the flow.
        let retry = match &flow.retry {
            Some(retry) => {
                let ends = self.retry(retry, me)?;
                self.controllers.push(ends.entries[0]);
                Some(ends)
            }
            None => None,
        };
        let mut children = Vec::with_capacity(flow.children.len());
        for child in &flow.children {
            children.push(self.node(child, me)?);
        }
        if retry.is_some() {
            self.controllers.pop();
        }
        let mut ends = Ends::default();
        for child in &children {
            ends.requires.extend(child.requires.iter().cloned());
            ends.provides.extend(child.provides.iter().cloned());
        }
        // What the subtree needs from outside: what it does not provide itself.
        let internal = ends.provides.clone();
        match flow.pattern {
            Pattern::Linear => {
                let nonempty: Vec<&Ends> =
                    children.iter().filter(|c| !c.entries.is_empty()).collect();
                for pair in nonempty.windows(2) {
                    self.link(pair[0], pair[1]);
                }
                if let (Some(first), Some(last)) = (nonempty.first(), nonempty.last()) {
                    ends.entries = first.entries.clone();
                    ends.exits = last.exits.clone();
                }
            }
            Pattern::Unordered => {
                for (i, consumer) in children.iter().enumerate() {
                    for (j, provider) in children.iter().enumerate() {
                        if i == j {
                            continue;
                        }
                        if let Some(name) = consumer.requires.iter().find(|n| {
                            provider.provides.contains(*n) && !consumer.provides.contains(*n)
                        }) {
                            return Err(CompileError::UnorderedDependency {
                                flow: flow.name.clone(),
                                consumer: flow.children[i].name().to_string(),
                                provider: flow.children[j].name().to_string(),
                                name: name.clone(),
                            });
                        }
                    }
                }
                for child in &children {
                    ends.entries.extend(&child.entries);
                    ends.exits.extend(&child.exits);
                }
            }
            Pattern::Graph => self.graph_flow(flow, &children, &mut ends)?,
        }
        ends.requires.retain(|n| !internal.contains(n));
        if let Some(retry) = retry {
            self.link(&retry, &ends);
            if ends.exits.is_empty() {
                ends.exits = retry.exits.clone();
            }
            ends.entries = retry.entries;
            ends.requires.extend(retry.requires);
            ends.provides.extend(retry.provides);
        }
        Ok(ends)
    }

    fn graph_flow(
        &mut self,
        flow: &Flow,
        children: &[Ends],
        ends: &mut Ends,
    ) -> Result<(), CompileError> {
        let position: HashMap<&str, usize> = flow
            .children
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name(), i))
            .collect();
        let mut child_edges = BTreeSet::new();
        for (from, to) in &flow.links {
            let find = |name: &String| {
                position
                    .get(name.as_str())
                    .copied()
                    .ok_or_else(|| CompileError::UnknownLink {
                        flow: flow.name.clone(),
                        name: name.clone(),
                    })
            };
            child_edges.insert((find(from)?, find(to)?));
        }
        for (i, consumer) in children.iter().enumerate() {
            for (j, provider) in children.iter().enumerate() {
                let needs = consumer
                    .requires
                    .iter()
                    .any(|n| provider.provides.contains(n) && !consumer.provides.contains(n));
                if i != j && needs {
                    child_edges.insert((j, i));
                }
            }
        }
        for &(a, b) in &child_edges {
            self.link(&children[a], &children[b]);
        }
        for (i, child) in children.iter().enumerate() {
            if !child_edges.iter().any(|&(_, b)| b == i) {
                ends.entries.extend(&child.entries);
            }
            if !child_edges.iter().any(|&(a, _)| a == i) {
                ends.exits.extend(&child.exits);
            }
        }
        Ok(())
    }
}

/// Kahn's algorithm; on a cycle, names the atoms of one cycle.
fn topo_order(
    atoms: &[AtomNode],
    succs: &[Vec<usize>],
    preds: &[Vec<usize>],
) -> Result<Vec<usize>, CompileError> {
    let mut indegree: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut queue: VecDeque<usize> = (0..atoms.len()).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(atoms.len());
    while let Some(a) = queue.pop_front() {
        order.push(a);
        for &b in &succs[a] {
            indegree[b] -= 1;
            if indegree[b] == 0 {
                queue.push_back(b);
            }
        }
    }
    if order.len() == atoms.len() {
        return Ok(order);
    }
    // Walk backwards through unfinished predecessors until a node repeats.
    let Some(start) = (0..atoms.len()).find(|&i| indegree[i] > 0) else {
        return Ok(order);
    };
    let mut path = vec![start];
    let mut seen = HashMap::from([(start, 0usize)]);
    let mut current = start;
    while let Some(&prev) = preds[current].iter().find(|&&p| indegree[p] > 0) {
        if let Some(&at) = seen.get(&prev) {
            // `path[at..]` walks the cycle backwards; reverse it and close it.
            let mut cycle: Vec<String> = path[at..]
                .iter()
                .rev()
                .map(|&i| atoms[i].name.clone())
                .collect();
            cycle.push(cycle[0].clone());
            return Err(CompileError::Cycle(cycle));
        }
        seen.insert(prev, path.len());
        path.push(prev);
        current = prev;
    }
    Err(CompileError::Cycle(vec![atoms[start].name.clone()]))
}

/// True when `ancestor` runs before `atom` (a path `ancestor → … → atom`).
/// `rank` is each atom's topological position, used to prune the search.
fn runs_before(graph: &ExecGraph, rank: &[usize], ancestor: usize, atom: usize) -> bool {
    if rank[ancestor] >= rank[atom] {
        return false;
    }
    // The common case, a direct predecessor, needs no search.
    if graph.preds[atom].contains(&ancestor) {
        return true;
    }
    let mut seen = HashSet::new();
    let mut stack = vec![atom];
    while let Some(a) = stack.pop() {
        for &p in &graph.preds[a] {
            if p == ancestor {
                return true;
            }
            if rank[p] > rank[ancestor] && seen.insert(p) {
                stack.push(p);
            }
        }
    }
    false
}

/// Resolves every argument of every atom to its source and checks that
/// providers of one name are ordered.
fn bind_arguments(
    graph: &mut ExecGraph,
    tasks: &[Resolved<'_>],
    store: &BTreeSet<String>,
) -> Result<(), CompileError> {
    let mut rank = vec![0; graph.atoms.len()];
    for (position, &atom) in graph.topo.iter().enumerate() {
        rank[atom] = position;
    }
    // Providers of each name, in topological order.
    let mut providers: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &atom in &graph.topo {
        for name in graph.atoms[atom].provides.names() {
            providers.entry(name.to_string()).or_default().push(atom);
        }
    }
    for (name, list) in &providers {
        for pair in list.windows(2) {
            if !runs_before(graph, &rank, pair[0], pair[1]) {
                return Err(CompileError::AmbiguousProviders {
                    name: name.clone(),
                    first: graph.atoms[pair[0]].name.clone(),
                    second: graph.atoms[pair[1]].name.clone(),
                });
            }
        }
    }
    for (atom, resolved) in tasks.iter().enumerate() {
        let mut args = Vec::new();
        let declared = resolved
            .requires
            .iter()
            .map(|a| (a, true))
            .chain(resolved.optional.iter().map(|a| (a, false)));
        for (arg, required) in declared {
            if resolved.inject.contains_key(arg) {
                continue;
            }
            let symbol = resolved.rebind.get(arg).unwrap_or(arg);
            // The nearest provider that runs before this atom.
            let provider = providers.get(symbol).and_then(|list| {
                // Providers are in topological order: skip those ranked after
                // this atom without looking at them.
                let earlier = list.partition_point(|&p| rank[p] < rank[atom]);
                list[..earlier]
                    .iter()
                    .rev()
                    .find(|&&p| runs_before(graph, &rank, p, atom))
                    .copied()
            });
            let source = match provider {
                Some(p) => Some(ArgSource::Atom {
                    atom: p,
                    name: symbol.clone(),
                }),
                None if store.contains(symbol) => Some(ArgSource::Store(symbol.clone())),
                None if required => {
                    return Err(CompileError::MissingRequirement {
                        atom: resolved.name.to_string(),
                        name: symbol.clone(),
                        rebound: if symbol == arg {
                            String::new()
                        } else {
                            format!(" (argument '{arg}' rebound)")
                        },
                    });
                }
                None => None,
            };
            if let Some(source) = source {
                args.push(ArgBinding {
                    arg: arg.clone(),
                    source,
                });
            }
        }
        for (arg, value) in resolved.inject {
            args.push(ArgBinding {
                arg: arg.clone(),
                source: ArgSource::Inject(value.clone()),
            });
        }
        graph.atoms[atom].args = args;
    }
    Ok(())
}
