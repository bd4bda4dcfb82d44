//! Tests of the redb logbook through the `Logbook` trait.

use crate::*;
use std::collections::BTreeMap;
use taskbox_model::{AtomFailure, AtomState, Decision, Failure, FlowState};

fn new_flow(atoms: u32) -> NewFlow {
    NewFlow {
        book: "tests".into(),
        name: "chain".into(),
        definition: "{\"flow\":1}".into(),
        meta: BTreeMap::from([("plugins".into(), "/p".into())]),
        atoms: (0..atoms)
            .map(|i| AtomDetail::pending(i, &format!("a{i}"), AtomKind::Task, "add"))
            .collect(),
    }
}

#[test]
fn flows_atoms_and_transitions_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("book.redb");
    let id = {
        let book = RedbLogbook::open(&path).expect("open");
        let mut flow = book.create_flow(new_flow(3)).expect("create");
        assert_eq!(flow.state, FlowState::Pending);
        let mut atom = book.atoms(flow.id).expect("atoms").remove(1);
        atom.state = AtomState::Failure;
        atom.failure = Some(Failure::new("boom", "it broke"));
        flow.state = FlowState::Reverting;
        flow.failures.push(AtomFailure {
            atom: atom.name.clone(),
            failure: Failure::new("boom", "it broke"),
        });
        let steps = [
            Transition {
                at_ms: 1,
                kind: TransitionKind::Atom {
                    atom: 1,
                    from: AtomState::Running,
                    to: AtomState::Failure,
                },
            },
            Transition {
                at_ms: 2,
                kind: TransitionKind::Decision {
                    retry: 0,
                    atom: 1,
                    decision: Decision::RevertAll,
                },
            },
        ];
        book.save(&flow, &[&atom], &steps[..1]).expect("save");
        book.save(&flow, &[], &steps[1..]).expect("save");
        flow.id
    };
    // Reopened: everything is there.
    let book = RedbLogbook::open(&path).expect("reopen");
    let flow = book.flow(id).expect("flow");
    assert_eq!(flow.state, FlowState::Reverting);
    assert_eq!(flow.failures.len(), 1);
    assert_eq!(flow.meta["plugins"], "/p");
    let atoms = book.atoms(id).expect("atoms");
    assert_eq!(atoms.len(), 3);
    assert_eq!(atoms[1].state, AtomState::Failure);
    assert_eq!(atoms[2].state, AtomState::Pending);
    let story = book.transitions(id).expect("transitions");
    assert_eq!(story.len(), 2);
    assert!(matches!(story[1].kind, TransitionKind::Decision { .. }));
    assert_eq!(book.definition(id).expect("definition"), "{\"flow\":1}");
    assert_eq!(book.books().expect("books")[0].name, "tests");
    // Ids are never reused, and deleting forgets everything.
    let second = book.create_flow(new_flow(1)).expect("create");
    assert_eq!(second.id, FlowId(id.0 + 1));
    book.delete_flow(id).expect("delete");
    assert!(matches!(book.flow(id), Err(LogbookError::UnknownFlow(_))));
    assert!(book.atoms(id).expect("atoms").is_empty());
    assert!(book.transitions(id).expect("transitions").is_empty());
    assert_eq!(book.flows().expect("flows").len(), 1);
}

#[test]
fn unknown_schema_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("book.redb");
    {
        let db = redb::Database::create(&path).expect("create");
        let txn = db.begin_write().expect("write");
        {
            let mut meta = txn
                .open_table(redb::TableDefinition::<&str, u64>::new("meta"))
                .expect("meta");
            meta.insert("schema_version", 99).expect("insert");
        }
        txn.commit().expect("commit");
    }
    let err = RedbLogbook::open(&path).expect_err("version 99");
    let text = err.to_string();
    assert!(text.contains("schema version 99"), "{text}");
    assert!(
        text.contains(&format!("reads version {SCHEMA_VERSION}")),
        "{text}"
    );
}

#[test]
fn a_file_that_is_not_a_logbook_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("junk.redb");
    std::fs::write(&path, vec![7u8; 8192]).expect("write");
    let err = RedbLogbook::open(&path).expect_err("junk");
    assert!(err.to_string().contains("junk.redb"), "{err}");
}

#[test]
fn a_second_open_is_refused_while_the_first_lives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("book.redb");
    let _first = RedbLogbook::open(&path).expect("open");
    let err = RedbLogbook::open(&path).expect_err("second");
    assert!(matches!(err, LogbookError::InUse { .. }), "{err}");
}

#[test]
fn unknown_flows_are_named() {
    let book = RedbLogbook::in_memory().expect("memory");
    let err = book.flow(FlowId(42)).expect_err("missing");
    assert_eq!(err.to_string(), "no flow 42 in the logbook");
    assert!(book.definition(FlowId(42)).is_err());
}

#[test]
fn a_power_cut_keeps_every_commit_that_returned() {
    // Cut the power at every sync of a run of commits: the disk always
    // opens, and holds exactly the commits that returned Ok.
    let mut cut = 1;
    loop {
        let disk = PowerCut::new();
        let book = RedbLogbook::with_backend(disk.clone(), "disk").expect("open");
        let mut flow = book.create_flow(new_flow(2)).expect("create");
        disk.cut_at_sync(cut);
        let mut landed = 0;
        for i in 0..5u64 {
            flow.updated_ms = i;
            if book.save(&flow, &[], &[]).is_err() {
                break;
            }
            landed = i + 1;
        }
        let was_cut = disk.is_cut();
        drop(book);
        for image in [disk.durable_image(), disk.written_image()] {
            let reopened =
                RedbLogbook::with_backend(PowerCut::from_image(image), "disk").expect("reopen");
            let updated = reopened.flow(flow.id).expect("flow").updated_ms;
            if landed > 0 {
                assert!(updated + 1 >= landed, "cut {cut}: lost a commit");
            }
        }
        if !was_cut {
            break;
        }
        cut += 1;
    }
    assert!(cut > 3, "only {cut} syncs were cut");
}
