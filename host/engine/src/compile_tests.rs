//! Unit tests of the compiler: graph shape and every validation error.

use crate::compile::{Catalog, CompileError, Signature, compile};
use crate::graph::{ArgSource, ExecGraph};
use std::collections::{BTreeMap, BTreeSet};
use taskbox_model::{Flow, LimitOverrides, Provides, Retry, Task};

/// Plugins by name: `name(requires) -> provides`.
pub(crate) struct Fake(BTreeMap<&'static str, Signature>);

impl Fake {
    pub(crate) fn new() -> Self {
        let sig = |requires: &[&str], provides: Provides| Signature {
            requires: requires.iter().map(|s| s.to_string()).collect(),
            optional: Vec::new(),
            provides,
            retry: false,
        };
        Fake(BTreeMap::from([
            ("source", sig(&[], Provides::Single("x".into()))),
            ("double", sig(&["x"], Provides::Single("y".into()))),
            ("sink", sig(&["y"], Provides::None)),
            (
                "pair",
                sig(&[], Provides::Positional(vec!["a".into(), "b".into()])),
            ),
            ("noop", sig(&[], Provides::None)),
            (
                "maybe",
                Signature {
                    optional: vec!["x".into()],
                    ..Signature::default()
                },
            ),
            (
                "decider",
                Signature {
                    requires: vec!["budget".into()],
                    retry: true,
                    ..Signature::default()
                },
            ),
        ]))
    }
}

impl Catalog for Fake {
    fn signature(&self, plugin: &str) -> Option<Signature> {
        self.0.get(plugin).cloned()
    }
}

pub(crate) fn build(flow: &Flow, store: &[&str]) -> Result<ExecGraph, CompileError> {
    let store: BTreeSet<String> = store.iter().map(|s| s.to_string()).collect();
    compile(flow, &Fake::new(), &store, &LimitOverrides::default())
}

fn edges(graph: &ExecGraph) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (a, succs) in graph.succs.iter().enumerate() {
        for &b in succs {
            out.push((graph.atoms[a].name.clone(), graph.atoms[b].name.clone()));
        }
    }
    out.sort();
    out
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[test]
fn linear_flow_chains_children_and_binds_data() -> Result<(), CompileError> {
    let flow = Flow::linear("f")
        .task(Task::new("s", "source"))
        .task(Task::new("d", "double"))
        .task(Task::new("k", "sink"));
    let graph = build(&flow, &[])?;
    assert_eq!(edges(&graph), vec![pair("d", "k"), pair("s", "d")]);
    let d = &graph.atoms[1];
    assert_eq!(
        d.args[0].source,
        ArgSource::Atom {
            atom: 0,
            name: "x".into()
        }
    );
    Ok(())
}

#[test]
fn nested_linear_of_unordered_links_every_exit_to_every_entry() -> Result<(), CompileError> {
    let flow = Flow::linear("f")
        .flow(
            Flow::unordered("u1")
                .task(Task::new("a", "noop"))
                .task(Task::new("b", "noop")),
        )
        .flow(
            Flow::unordered("u2")
                .task(Task::new("c", "noop"))
                .task(Task::new("d", "noop")),
        );
    let graph = build(&flow, &[])?;
    assert_eq!(
        edges(&graph),
        vec![
            pair("a", "c"),
            pair("a", "d"),
            pair("b", "c"),
            pair("b", "d")
        ]
    );
    Ok(())
}

#[test]
fn graph_flow_orders_by_data_and_links() -> Result<(), CompileError> {
    // Declared out of order: data puts source before double before sink.
    let flow = Flow::graph("g")
        .task(Task::new("k", "sink"))
        .task(Task::new("d", "double"))
        .task(Task::new("s", "source"))
        .task(Task::new("n", "noop"))
        .link("k", "n");
    let graph = build(&flow, &[])?;
    assert_eq!(
        edges(&graph),
        vec![pair("d", "k"), pair("k", "n"), pair("s", "d")]
    );
    let order: Vec<&str> = graph
        .topo
        .iter()
        .map(|&i| graph.atoms[i].name.as_str())
        .collect();
    assert_eq!(order, vec!["s", "d", "k", "n"]);
    Ok(())
}

#[test]
fn rebind_inject_and_store_sources() -> Result<(), CompileError> {
    let flow = Flow::linear("f")
        .task(Task::new("p", "pair"))
        .task(Task::new("d", "double").rebind("x", "b"))
        .task(Task::new("k", "sink").inject("y", 7.into()))
        .task(Task::new("d2", "double").provides("z"));
    let graph = build(&flow, &["x"])?;
    assert_eq!(
        graph.atoms[1].args[0].source,
        ArgSource::Atom {
            atom: 0,
            name: "b".into()
        }
    );
    assert_eq!(graph.atoms[2].args[0].source, ArgSource::Inject(7.into()));
    assert_eq!(graph.atoms[3].args[0].source, ArgSource::Store("x".into()));
    assert_eq!(graph.atoms[3].provides, Provides::Single("z".into()));
    Ok(())
}

#[test]
fn nearest_earlier_provider_wins() -> Result<(), CompileError> {
    let flow = Flow::linear("f")
        .task(Task::new("s1", "source"))
        .task(Task::new("s2", "source"))
        .task(Task::new("d", "double"));
    let graph = build(&flow, &[])?;
    assert_eq!(
        graph.atoms[2].args[0].source,
        ArgSource::Atom {
            atom: 1,
            name: "x".into()
        }
    );
    Ok(())
}

#[test]
fn rejects_duplicate_names() {
    let flow = Flow::linear("f")
        .task(Task::new("a", "noop"))
        .task(Task::new("a", "noop"));
    assert_eq!(
        build(&flow, &[]),
        Err(CompileError::DuplicateName("a".into()))
    );
    let flow = Flow::linear("f").flow(Flow::linear("f"));
    assert_eq!(
        build(&flow, &[]),
        Err(CompileError::DuplicateName("f".into()))
    );
}

#[test]
fn rejects_cycles_naming_the_atoms() {
    let flow = Flow::graph("g")
        .task(Task::new("a", "noop"))
        .task(Task::new("b", "noop"))
        .task(Task::new("c", "noop"))
        .link("a", "b")
        .link("b", "c")
        .link("c", "a");
    match build(&flow, &[]) {
        Err(CompileError::Cycle(names)) => {
            assert_eq!(names.len(), 4, "{names:?}");
            assert_eq!(names.first(), names.last());
            for n in ["a", "b", "c"] {
                assert!(names.contains(&n.to_string()), "{names:?}");
            }
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
}

#[test]
fn rejects_missing_requirements() {
    let flow = Flow::linear("f").task(Task::new("d", "double"));
    let err = build(&flow, &[])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("atom 'd' requires 'x'"), "{err}");
    // A provider that runs later does not count.
    let flow = Flow::linear("f")
        .task(Task::new("d", "double"))
        .task(Task::new("s", "source"));
    assert!(matches!(
        build(&flow, &[]),
        Err(CompileError::MissingRequirement { .. })
    ));
    let flow = Flow::linear("f").task(Task::new("d", "double").rebind("x", "w"));
    let err = build(&flow, &[])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("requires 'w' (argument 'x' rebound)"), "{err}");
    assert!(build(&Flow::linear("f").task(Task::new("d", "double")), &["x"]).is_ok());
}

#[test]
fn rejects_ambiguous_providers() {
    let flow = Flow::linear("f").flow(
        Flow::graph("g")
            .task(Task::new("s1", "source"))
            .task(Task::new("s2", "source")),
    );
    let err = build(&flow, &[]);
    assert!(
        matches!(err, Err(CompileError::AmbiguousProviders { ref name, .. }) if name == "x"),
        "{err:?}"
    );
}

#[test]
fn rejects_dependencies_inside_unordered_flows() {
    let flow = Flow::unordered("u")
        .task(Task::new("s", "source"))
        .task(Task::new("d", "double"));
    let err = build(&flow, &[])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("unordered flow 'u': 'd' requires 'x', which its sibling 's' provides"),
        "{err}"
    );
}

#[test]
fn rejects_unknown_plugins_links_and_arguments() {
    let flow = Flow::linear("f").task(Task::new("a", "nope"));
    assert!(matches!(
        build(&flow, &[]),
        Err(CompileError::UnknownPlugin { .. })
    ));
    let flow = Flow::graph("g")
        .task(Task::new("a", "noop"))
        .link("a", "zz");
    assert!(matches!(
        build(&flow, &[]),
        Err(CompileError::UnknownLink { .. })
    ));
    let flow = Flow::linear("f").task(Task::new("a", "noop").rebind("q", "x"));
    assert!(matches!(
        build(&flow, &[]),
        Err(CompileError::UnknownArgument { .. })
    ));
}

#[test]
fn dot_output_has_clusters_and_edges() -> Result<(), CompileError> {
    let flow = Flow::linear("outer")
        .task(Task::new("s", "source"))
        .flow(Flow::unordered("inner").task(Task::new("d", "double")));
    let dot = build(&flow, &[])?.to_dot();
    assert!(dot.starts_with("digraph taskbox {"), "{dot}");
    assert!(dot.contains("subgraph \"cluster_inner\""), "{dot}");
    assert!(dot.contains("\"s\" -> \"d\";"), "{dot}");
    Ok(())
}

#[test]
fn long_chains_compile_in_linear_time_shape() -> Result<(), CompileError> {
    let mut flow = Flow::linear("chain").task(Task::new("t0", "source"));
    for i in 1..5000 {
        flow = flow.task(
            Task::new(format!("t{i}"), "double")
                .rebind("x", "x")
                .provides("x"),
        );
    }
    let graph = build(&flow, &[])?;
    assert_eq!(graph.edge_count(), 4999);
    assert_eq!(
        graph.atoms[4999].args[0].source,
        ArgSource::Atom {
            atom: 4998,
            name: "x".into()
        }
    );
    Ok(())
}

#[test]
fn a_retry_runs_before_its_flow_and_controls_its_atoms() -> Result<(), CompileError> {
    let flow = Flow::linear("outer")
        .task(Task::new("first", "noop"))
        .flow(
            Flow::unordered("inner")
                .retry(Retry::for_each("r", vec![1.into(), 2.into()]).provides("x"))
                .task(Task::new("d", "double"))
                .task(Task::new("n", "noop")),
        )
        .task(Task::new("last", "noop"));
    let graph = build(&flow, &[])?;
    assert_eq!(
        edges(&graph),
        vec![
            pair("d", "last"),
            pair("first", "r"),
            pair("n", "last"),
            pair("r", "d"),
            pair("r", "n")
        ]
    );
    let r = graph.atom_index("r").expect("r");
    assert!(graph.atoms[r].is_retry());
    assert_eq!(graph.atoms[r].controller, None);
    let d = graph.atom_index("d").expect("d");
    assert_eq!(graph.atoms[d].controller, Some(r));
    assert_eq!(
        graph.atoms[d].args[0].source,
        ArgSource::Atom {
            atom: r,
            name: "x".into()
        }
    );
    assert_eq!(
        graph.atoms[graph.atom_index("last").expect("last")].controller,
        None
    );
    Ok(())
}

#[test]
fn nested_retries_know_their_parent() -> Result<(), CompileError> {
    let flow = Flow::linear("outer").retry(Retry::times("r1", 2)).flow(
        Flow::linear("inner")
            .retry(Retry::times("r2", 2))
            .task(Task::new("t", "noop")),
    );
    let graph = build(&flow, &[])?;
    let index = |n: &str| graph.atom_index(n).expect("atom");
    assert_eq!(graph.atoms[index("r2")].controller, Some(index("r1")));
    assert_eq!(graph.atoms[index("t")].controller, Some(index("r2")));
    assert_eq!(edges(&graph), vec![pair("r1", "r2"), pair("r2", "t")]);
    Ok(())
}

#[test]
fn plugin_kinds_are_checked() {
    let flow = Flow::linear("f").task(Task::new("t", "decider"));
    assert!(matches!(
        build(&flow, &[]),
        Err(CompileError::WrongPluginKind { .. })
    ));
    let flow = Flow::linear("f").retry(Retry::plugin("r", "noop"));
    let err = build(&flow, &[])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("atom 'r' uses plugin 'noop', which is a task"),
        "{err}"
    );
    let flow = Flow::linear("f").retry(Retry::plugin("r", "decider"));
    let err = build(&flow, &[])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("atom 'r' requires 'budget'"), "{err}");
    let flow = Flow::linear("f").retry(Retry::plugin("r", "decider").inject("budget", 3.into()));
    assert!(build(&flow, &[]).is_ok());
    let flow = Flow::linear("f").retry(Retry::parameterized_for_each("r", "servers"));
    let err = build(&flow, &[])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("requires 'servers' (argument 'values' rebound)"),
        "{err}"
    );
}
