//! The engine's side of the logbook: which atoms changed since the last
//! commit, and the transitions to append. One scheduler step becomes one
//! commit (TaskFlow's semantics allow grouping: nothing the step changed has
//! had consequences yet).

use std::sync::Arc;
use taskbox_logbook::{
    AtomDetail, FlowDetail, Logbook, LogbookError, Transition, TransitionKind, now_ms,
};
use taskbox_model::{AtomFailure, AtomState, Decision, FlowState};

/// What the journal copies into an atom's record when it commits.
pub(crate) trait AtomSnapshot {
    /// Writes the current runtime state into `detail`.
    fn fill(&self, detail: &mut AtomDetail);
}

/// Pending changes of one flow, and the records they go into.
pub(crate) struct Journal {
    logbook: Arc<dyn Logbook>,
    flow: FlowDetail,
    details: Vec<AtomDetail>,
    dirty: Vec<usize>,
    is_dirty: Vec<bool>,
    flow_dirty: bool,
    transitions: Vec<Transition>,
}

impl Journal {
    pub(crate) fn new(
        logbook: Arc<dyn Logbook>,
        flow: FlowDetail,
        details: Vec<AtomDetail>,
    ) -> Journal {
        let atoms = details.len();
        Journal {
            logbook,
            flow,
            details,
            dirty: Vec::new(),
            is_dirty: vec![false; atoms],
            flow_dirty: false,
            transitions: Vec::new(),
        }
    }

    /// The flow record as last committed (or loaded).
    pub(crate) fn flow(&self) -> &FlowDetail {
        &self.flow
    }

    /// The atom records as last committed (or loaded).
    pub(crate) fn details(&self) -> &[AtomDetail] {
        &self.details
    }

    /// Records that atoms now run other plugins: `(atom, hash, version)`.
    /// Each record keeps the hash it had in its meta `previous_plugin_hash`.
    pub(crate) fn repin(
        &mut self,
        changes: &[(usize, String, String)],
    ) -> Result<(), LogbookError> {
        for (atom, hash, version) in changes {
            let detail = &mut self.details[*atom];
            let previous = std::mem::replace(&mut detail.plugin_hash, hash.clone());
            detail.meta.insert("previous_plugin_hash".into(), previous);
            detail.version.clone_from(version);
        }
        let changed: Vec<&AtomDetail> = changes.iter().map(|(a, ..)| &self.details[*a]).collect();
        self.logbook.save(&self.flow, &changed, &[])
    }

    /// Atom `atom` changed.
    pub(crate) fn mark(&mut self, atom: usize) {
        if !self.is_dirty[atom] {
            self.is_dirty[atom] = true;
            self.dirty.push(atom);
        }
    }

    pub(crate) fn atom_moved(&mut self, atom: usize, from: AtomState, to: AtomState) {
        self.mark(atom);
        self.push(TransitionKind::Atom {
            atom: index(atom),
            from,
            to,
        });
    }

    pub(crate) fn flow_moved(&mut self, from: FlowState, to: FlowState) {
        // Every phase passed through counts, even within one step (RUNNING
        // -> REVERTING -> SUSPENDING): a resumed run continues the last.
        if matches!(to, FlowState::Running | FlowState::Reverting) {
            self.flow.phase = to;
        }
        self.flow_dirty = true;
        self.push(TransitionKind::Flow { from, to });
    }

    pub(crate) fn decided(&mut self, retry: usize, atom: usize, decision: Decision) {
        self.mark(retry);
        self.push(TransitionKind::Decision {
            retry: index(retry),
            atom: index(atom),
            decision,
        });
    }

    fn push(&mut self, kind: TransitionKind) {
        self.transitions.push(Transition {
            at_ms: now_ms(),
            kind,
        });
    }

    /// True when nothing changed since the last commit.
    pub(crate) fn is_clean(&self) -> bool {
        self.dirty.is_empty() && !self.flow_dirty && self.transitions.is_empty()
    }

    /// Commits every change since the last commit, in one transaction.
    pub(crate) fn commit(
        &mut self,
        atoms: &[impl AtomSnapshot],
        state: FlowState,
        failures: &[AtomFailure],
    ) -> Result<(), LogbookError> {
        if self.is_clean() {
            return Ok(());
        }
        for &atom in &self.dirty {
            atoms[atom].fill(&mut self.details[atom]);
        }
        self.flow.state = state;
        if self.flow.failures.as_slice() != failures {
            self.flow.failures = failures.to_vec();
        }
        self.flow.updated_ms = now_ms();
        let changed: Vec<&AtomDetail> = self.dirty.iter().map(|&a| &self.details[a]).collect();
        self.logbook.save(&self.flow, &changed, &self.transitions)?;
        for atom in self.dirty.drain(..) {
            self.is_dirty[atom] = false;
        }
        self.flow_dirty = false;
        self.transitions.clear();
        Ok(())
    }
}

fn index(atom: usize) -> u32 {
    u32::try_from(atom).unwrap_or(u32::MAX)
}
