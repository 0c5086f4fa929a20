//! Exactly-once across failures: keyed state ends as it would have without them.

use std::collections::BTreeMap;

use super::verdict::{Promises, Verdict, Violation, ViolationKind};
use crate::topology::Topology;
use crate::workload::Behaviour;

/// Compares the keyed state at the end of a run with failures (`got`, every task's state)
/// against the same run without them (`reference`); with exactly-once they must be equal.
pub fn compare_final_states(
    topo: &Topology,
    got: &[Behaviour],
    reference: &[Behaviour],
    promises: Promises,
    verdict: &mut Verdict,
) {
    // Records per key (per side of a join), summed over the operator's tasks: what
    // exactly-once guarantees. Values computed downstream of a join depend on how its inputs
    // interleave, and which task counts a key behind a rebalance edge depends on round-robin
    // positions that restart after a recovery (as Flink's do); neither is part of the promise.
    let per_operator = |states: &[Behaviour]| {
        let mut ops: BTreeMap<u32, BTreeMap<u64, (u64, u64)>> = BTreeMap::new();
        for (t, b) in states.iter().enumerate() {
            if let Behaviour::Keyed { state, .. } | Behaviour::Join { state, .. } = b {
                let op = ops.entry(topo.tasks[t].group).or_default();
                for (k, e) in &state.entries {
                    let v = op.entry(*k).or_default();
                    v.0 += e.count;
                    v.1 += e.count_right;
                }
            }
        }
        ops
    };
    let got_ops = per_operator(got);
    let mut found = Vec::new();
    for (op, want) in per_operator(reference) {
        let got = got_ops.get(&op).cloned().unwrap_or_default();
        if got == want {
            continue;
        }
        let differing = want.iter().filter(|(k, v)| got.get(k) != Some(v)).count()
            + got.keys().filter(|k| !want.contains_key(k)).count();
        let example = want
            .iter()
            .find(|(k, v)| got.get(k) != Some(v))
            .map(|(k, v)| {
                format!(
                    "; key {k}: {} records against {} without failures",
                    got.get(k).map_or(0, |e| e.0 + e.1),
                    v.0 + v.1
                )
            })
            .unwrap_or_default();
        found.push(Violation {
            kind: ViolationKind::FinalStateMismatch,
            message: format!(
                "operator {}: {differing} keys end with a different count than in the same run without failures{example}",
                topo.groups[op as usize]
            ),
        });
    }
    if !found.is_empty() {
        verdict.add_findings(found, promises);
    }
}
