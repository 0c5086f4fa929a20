//! Verification of a run, from its trace and recorded states only.
//!
//! The checker never looks inside the simulation: it reads the trace as it is produced, the
//! snapshots the run recorded, every task's state at the end, and the one figure only the
//! simulation can count (the bank's money still in flight at the end, which the trace does
//! not carry).
//!
//! - `online.rs`: every check that observes the trace, as one observer, and the handle that
//!   gives it back after the run.
//! - `cut.rs`: consistent cuts, from the sends and receives before each local snapshot.
//! - `exactly_once.rs`: every record's copies counted at the sinks, per path (`paths.rs`).
//! - `conservation.rs`: the bank's money in every snapshot and at the end.
//! - `final_state.rs`: keyed state at the end against the same run without failures.
//! - `verdict.rs`: the kinds of findings, and how they are sorted into broken promises and
//!   expected ones.

mod conservation;
mod cut;
mod exactly_once;
mod final_state;
mod online;
mod paths;
mod verdict;

pub use conservation::BankTotals;
pub use cut::CutTracker;
pub use exactly_once::{all_sinks_transactional, has_sources_and_sinks, OutputChecker};
pub use final_state::compare_final_states;
pub use online::{OnlineChecker, OnlineHandle};
pub use paths::{SinkPaths, NOT_INTO_A_SINK};
pub use verdict::{ExactlyOnce, Promises, Verdict, Violation, ViolationKind, MAX_PER_KIND};

use crate::snapshot::GlobalSnapshot;
use crate::topology::Topology;

/// Checks a finished run: every completed snapshot's cut, the sink outputs (for jobs) and
/// conservation (for the bank), from what `online` saw of the trace (taken, to free its
/// bookkeeping as soon as it is read), the recorded `snapshots` and, for the bank, its
/// totals. Findings about what the protocol does not promise are reported as expected
/// instead of failing the run.
pub fn verify(
    topo: &Topology,
    online: OnlineChecker,
    snapshots: &[GlobalSnapshot],
    bank: Option<BankTotals>,
    promises: Promises,
) -> Verdict {
    let names: Vec<String> = topo.tasks.iter().map(|t| t.name.clone()).collect();
    let mut found = Vec::new();
    if let Some(cuts) = &online.cuts {
        for snap in snapshots {
            cuts.check(snap, topo, &mut found);
        }
    }
    for snap in snapshots {
        // With a state backend, what the snapshot's files rebuild is its recorded state.
        for t in snap.tasks.iter().filter(|t| !t.files_rebuild_state()) {
            found.push(Violation {
                kind: ViolationKind::IncompleteSnapshot,
                message: format!(
                    "snapshot {}: the files of task {} rebuild a state other than the one it held when it recorded",
                    snap.id, names[t.task as usize]
                ),
            });
        }
    }
    let mut exactly_once = None;
    if let Some(outputs) = &online.outputs {
        let (counters, v) = outputs.finish(&names);
        found.extend(v);
        exactly_once = Some(counters);
    }
    if let Some(totals) = bank {
        conservation::check_conservation(snapshots, totals, &mut found);
    }
    let mut verdict = Verdict::new(exactly_once);
    verdict.add_findings(found, promises);
    verdict
}
