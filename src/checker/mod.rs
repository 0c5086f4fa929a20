//! Verification of a run, from its trace and recorded states only.
//!
//! The [`OutputChecker`] observes the trace as it is produced (a long run's trace is too large
//! to keep) and counts, for every record a source emitted, how often it reached a sink. A
//! record reaches the sinks once per path from its source to a sink (broadcast edges and
//! diamonds make several); each path's copy is owed on its own, told apart by the edge it
//! takes into the sink, so fewer through an edge is a loss and more a duplicate, even where
//! another path makes up the total. Order is promised per path: records of one key from one
//! source must come into a sink input channel in offset order wherever they all come along
//! one path (see [`SinkPaths`] for where that holds); copies that came along different paths
//! may interleave.
//!
//! A transactional sink's output counts only once committed: its writes go into an open
//! transaction, which a snapshot pre-commits and the checkpoint's completion commits.

mod cut;
mod paths;

pub use cut::CutTracker;
pub use paths::SinkPaths;
use paths::NOT_INTO_A_SINK;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::sim::RunOutput;
use crate::topology::Topology;
use crate::trace::{TraceEvent, TraceObserver};
use crate::workload::Behaviour;

/// Every online check, as one trace observer.
#[derive(Debug, Clone)]
pub struct OnlineChecker {
    /// Exactly-once counting, for jobs with sources and sinks.
    pub outputs: Option<OutputChecker>,
    /// Sent and received counts at every snapshot; `None` when the run takes no snapshots.
    pub cuts: Option<CutTracker>,
}

impl OnlineChecker {
    /// The checks that apply to `topo`; `snapshots` is false for runs that take none, which
    /// then skip the per-message bookkeeping of cuts.
    pub fn new(topo: &Topology, snapshots: bool) -> Self {
        OnlineChecker {
            outputs: has_sources_and_sinks(topo).then(|| OutputChecker::new(topo)),
            cuts: snapshots.then(|| CutTracker::new(topo)),
        }
    }
}

impl TraceObserver for OnlineChecker {
    fn observe(&mut self, event: &TraceEvent) {
        if let Some(o) = self.outputs.as_mut() {
            o.observe(event);
        }
        if let Some(c) = self.cuts.as_mut() {
            c.observe(event);
        }
    }

    // Exactly-once counting ignores sends; it needs a receive's channel to tell the paths
    // into a sink apart.

    fn observe_send(&mut self, event: &TraceEvent) {
        if let (Some(c), &TraceEvent::Send { ch, seq, kind, .. }) = (self.cuts.as_mut(), event) {
            c.send(ch, seq, kind);
        }
    }

    fn observe_receive(&mut self, event: &TraceEvent) {
        if let &TraceEvent::Receive { ch, seq, .. } = event {
            if let Some(o) = self.outputs.as_mut() {
                o.receive_on(ch);
            }
            if let Some(c) = self.cuts.as_mut() {
                c.receive(ch, seq);
            }
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// What kind of rule was broken, such as `lost-record` or `conservation`.
    pub kind: String,
    /// What exactly, naming tasks, records and ids.
    pub message: String,
}

/// Exactly-once counters at the sinks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExactlyOnce {
    /// Copies of records that did not reach the sinks: per record and path into a sink, the
    /// copies missing.
    pub lost: u64,
    /// Extra copies that reached the sinks, per record and path into a sink.
    pub duplicated: u64,
    /// Records that came into a sink after a later record of the same source and key along
    /// the same path (on the same input channel, where one path leads to it).
    pub out_of_order: u64,
}

/// The checker's conclusion about one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// True when the protocol kept every promise it makes.
    pub ok: bool,
    /// True when every recorded cut is consistent.
    pub consistent: bool,
    /// Counters for jobs with sources and sinks; `None` for process graphs.
    pub exactly_once: Option<ExactlyOnce>,
    /// Broken promises: at most [`MAX_PER_KIND`] of each kind, then a count of the rest.
    pub violations: Vec<Violation>,
    /// Findings the protocol does not promise to avoid (at-least-once's inconsistent cuts),
    /// reported rather than hidden, summarised the same way.
    pub expected: Vec<Violation>,
}

/// How many findings of one kind are listed before the rest are only counted.
pub const MAX_PER_KIND: usize = 5;

const CUT_KINDS: &[&str] = &[
    "orphan-message",
    "missing-channel-state",
    "extra-channel-state",
    "channel-state-order",
    "incomplete-snapshot",
];

/// Keeps the first few findings of each kind and counts the others.
fn summarise(found: Vec<Violation>) -> Vec<Violation> {
    let mut kept: Vec<Violation> = Vec::new();
    let mut extra: BTreeMap<String, usize> = BTreeMap::new();
    for v in found {
        if kept.iter().filter(|k| k.kind == v.kind).count() < MAX_PER_KIND {
            kept.push(v);
        } else {
            *extra.entry(v.kind).or_default() += 1;
        }
    }
    for (kind, n) in extra {
        kept.push(Violation {
            message: format!("{n} more findings of this kind"),
            kind,
        });
    }
    kept
}

/// One write at a sink: (input channel, source task, offset, key).
type SinkWrite = (u32, u32, u64, u64);

/// Streams over the trace and counts sink outputs per source record and path.
///
/// Each output is attributed to the sink's input channel it came in on: the task's last
/// receive, since a record's outputs are recorded when its processing ends, right after it
/// was taken from its input.
#[derive(Debug, Clone)]
pub struct OutputChecker {
    paths: SinkPaths,
    /// Per channel: (sender, receiver).
    channel_ends: Vec<(u32, u32)>,
    emitted: Vec<u64>,
    /// Per source task: copies seen per (offset, sink edge), at `offset * edges + edge`.
    counts: Vec<Vec<u16>>,
    /// Per task: the input channel of its last receive.
    current_input: Vec<u32>,
    /// Per (sink input channel, source task, key): the highest offset seen.
    last_offset: BTreeMap<(u32, u32, u64), u64>,
    out_of_order: u64,
    /// The first record out of order: (sink, channel, source, offset, key, the later offset).
    first_out_of_order: Option<(u32, u32, u32, u64, u64, u64)>,
    transactional: Vec<bool>,
    /// Per transactional sink: the open transaction and the pre-committed ones by id.
    open: Vec<Vec<SinkWrite>>,
    precommitted: Vec<BTreeMap<u64, Vec<SinkWrite>>>,
}

impl OutputChecker {
    /// A checker for the sources and sinks of `topo`.
    pub fn new(topo: &Topology) -> Self {
        let paths = SinkPaths::new(topo);
        OutputChecker {
            channel_ends: topo.channels.iter().map(|c| (c.src, c.dst)).collect(),
            paths,
            emitted: vec![0; topo.tasks.len()],
            counts: vec![Vec::new(); topo.tasks.len()],
            current_input: vec![NOT_INTO_A_SINK; topo.tasks.len()],
            last_offset: BTreeMap::new(),
            out_of_order: 0,
            first_out_of_order: None,
            transactional: topo
                .tasks
                .iter()
                .map(|t| matches!(&t.role, crate::topology::Role::Sink(s) if s.transactional))
                .collect(),
            open: vec![Vec::new(); topo.tasks.len()],
            precommitted: vec![BTreeMap::new(); topo.tasks.len()],
        }
    }

    /// Sees the receiver of channel `ch` take its next message.
    #[inline]
    pub fn receive_on(&mut self, ch: u32) {
        let c = ch as usize;
        if self
            .paths
            .edge_of_channel
            .get(c)
            .is_some_and(|&e| e != NOT_INTO_A_SINK)
        {
            self.current_input[self.channel_ends[c].1 as usize] = ch;
        }
    }

    /// Counts one visible output at sink `task` of `source` at `offset` with `key`, which
    /// came in on channel `ch`.
    fn count(&mut self, task: u32, ch: u32, source: u32, offset: u64, key: u64) {
        let n = self.paths.edges();
        let Some(&edge) = self.paths.edge_of_channel.get(ch as usize) else {
            return;
        };
        if edge == NOT_INTO_A_SINK {
            return;
        }
        let counts = &mut self.counts[source as usize];
        let i = offset as usize * n + edge as usize;
        if counts.len() <= i {
            counts.resize((offset as usize + 1) * n, 0);
        }
        counts[i] = counts[i].saturating_add(1);
        if self.paths.ordered[source as usize * n + edge as usize] {
            let last = self.last_offset.entry((ch, source, key)).or_insert(offset);
            if offset < *last {
                self.out_of_order += 1;
                self.first_out_of_order
                    .get_or_insert((task, ch, source, offset, key, *last));
            } else {
                *last = offset;
            }
        }
    }

    /// The counters, with an example of each kind of violation, given the task names.
    pub fn finish(&self, names: &[String]) -> (ExactlyOnce, Vec<Violation>) {
        let mut eo = ExactlyOnce {
            out_of_order: self.out_of_order,
            ..Default::default()
        };
        let n = self.paths.edges();
        let mut first_lost = None;
        let mut first_dup = None;
        for (src, &emitted) in self.emitted.iter().enumerate() {
            let counts = &self.counts[src];
            for offset in 0..emitted {
                for e in 0..n {
                    let want = self.paths.copies[src * n + e];
                    let got = u64::from(counts.get(offset as usize * n + e).copied().unwrap_or(0));
                    if got < want {
                        eo.lost += want - got;
                        first_lost.get_or_insert((src, offset, e, got, want));
                    } else if got > want {
                        eo.duplicated += got - want;
                        first_dup.get_or_insert((src, offset, e, got, want));
                    }
                }
            }
        }
        // Name the path only where there are several.
        let through = |e: usize| {
            if n > 1 {
                format!(" through {}", self.paths.edge_names[e])
            } else {
                String::new()
            }
        };
        let mut v = Vec::new();
        if let Some((s, o, e, got, want)) = first_lost {
            v.push(Violation {
                kind: "lost-record".into(),
                message: format!(
                    "{} records lost; the first: {} offset {o} reached the sinks {got} times{}, expected {want}",
                    eo.lost, names[s], through(e)
                ),
            });
        }
        if let Some((s, o, e, got, want)) = first_dup {
            v.push(Violation {
                kind: "duplicated-record".into(),
                message: format!(
                    "{} duplicate outputs; the first: {} offset {o} reached the sinks {got} times{}, expected {want}",
                    eo.duplicated, names[s], through(e)
                ),
            });
        }
        if let Some((task, ch, source, offset, key, last)) = self.first_out_of_order {
            let from = &names[self.channel_ends[ch as usize].0 as usize];
            v.push(Violation {
                kind: "out-of-order".into(),
                message: format!(
                    "{} records out of order; the first: {} got {} offset {offset} (key {key}) from {from} after offset {last} on the same path",
                    self.out_of_order, names[task as usize], names[source as usize]
                ),
            });
        }
        (eo, v)
    }
}

impl OutputChecker {
    /// Sees one trace event.
    #[inline]
    pub fn observe(&mut self, event: &TraceEvent) {
        match *event {
            TraceEvent::SourceEmit { task, offset, .. } => {
                let e = &mut self.emitted[task as usize];
                *e = (*e).max(offset + 1);
            }
            TraceEvent::SinkOutput {
                task,
                source,
                offset,
                key,
                ..
            } => {
                let ch = self.current_input[task as usize];
                if self.transactional[task as usize] {
                    self.open[task as usize].push((ch, source, offset, key));
                } else {
                    self.count(task, ch, source, offset, key);
                }
            }
            TraceEvent::Recover { .. } => {
                // Transactions not committed when the job crashed are gone.
                self.open.iter_mut().for_each(Vec::clear);
                self.precommitted.iter_mut().for_each(BTreeMap::clear);
            }
            TraceEvent::SinkPrecommit { task, id, .. } => {
                let txn = std::mem::take(&mut self.open[task as usize]);
                self.precommitted[task as usize]
                    .entry(id)
                    .or_default()
                    .extend(txn);
            }
            TraceEvent::SinkCommit { task, id, .. } => {
                let t = task as usize;
                let mut visible: Vec<SinkWrite> = Vec::new();
                let later = self.precommitted[t].split_off(&id.saturating_add(1));
                for (_, txn) in std::mem::replace(&mut self.precommitted[t], later) {
                    visible.extend(txn);
                }
                if id == u64::MAX {
                    visible.extend(std::mem::take(&mut self.open[t]));
                }
                for (ch, source, offset, key) in visible {
                    self.count(task, ch, source, offset, key);
                }
            }
            _ => {}
        }
    }
}

/// What a run's protocol promises; findings about anything else are reported as expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Promises {
    /// Every recorded cut is consistent (all but at-least-once).
    pub consistent_cuts: bool,
    /// Every record is counted exactly once at the sinks, also across failures (an
    /// exactly-once protocol with only transactional sinks). Without it, duplicates, records
    /// out of order and a final state that differs from the failure-free run are expected.
    pub exactly_once: bool,
}

/// True when every sink of the job is transactional.
pub fn all_sinks_transactional(topo: &Topology) -> bool {
    topo.tasks
        .iter()
        .all(|t| !matches!(&t.role, crate::topology::Role::Sink(s) if !s.transactional))
}

const EXACTLY_ONCE_KINDS: &[&str] = &["duplicated-record", "out-of-order", "final-state-mismatch"];

/// Checks a finished run: every completed snapshot's cut and invariants, the sink outputs
/// (for jobs) and conservation at the end (for the bank). Findings about what the protocol
/// does not promise are reported as expected instead of failing the run.
pub fn verify(topo: &Topology, run: &mut RunOutput, promises: Promises) -> Verdict {
    let names: Vec<String> = topo.tasks.iter().map(|t| t.name.clone()).collect();
    let mut violations = Vec::new();
    let mut exactly_once = None;
    if let Some(obs) = run.trace.take_observer() {
        let any: Box<dyn std::any::Any> = obs;
        if let Ok(checker) = any.downcast::<OnlineChecker>() {
            if let Some(cuts) = &checker.cuts {
                for snap in &run.snapshots {
                    cuts.check(snap, topo, &mut violations);
                }
            }
            if let Some(o) = &checker.outputs {
                let (eo, v) = o.finish(&names);
                violations.extend(v);
                exactly_once = Some(eo);
            }
        }
    }
    if let Some((initial, end)) = run.bank_totals {
        for snap in &run.snapshots {
            let balances: i64 = snap
                .tasks
                .iter()
                .map(|t| match &t.state {
                    Behaviour::Bank(b) => b.balance,
                    _ => 0,
                })
                .sum();
            let in_flight: i64 = snap
                .tasks
                .iter()
                .flat_map(|t| t.input_state.iter().chain(&t.output_state))
                .flat_map(|(_, msgs)| msgs)
                .map(|m| m.value)
                .sum();
            if balances + in_flight != initial {
                violations.push(Violation {
                    kind: "conservation".into(),
                    message: format!(
                        "snapshot {} records {balances} in balances and {in_flight} in channels: {} in all, but the bank holds {initial}",
                        snap.id,
                        balances + in_flight
                    ),
                });
            }
        }
        if initial != end {
            violations.push(Violation {
                kind: "conservation".into(),
                message: format!(
                    "the bank held {initial} at the start and {end} at the end (balances plus transfers in flight)"
                ),
            });
        }
    }
    let mut verdict = Verdict {
        ok: true,
        consistent: true,
        exactly_once,
        violations: Vec::new(),
        expected: Vec::new(),
    };
    add_findings(&mut verdict, violations, promises);
    verdict
}

/// Sorts findings into broken promises and expected ones, and updates `ok` and `consistent`.
fn add_findings(verdict: &mut Verdict, found: Vec<Violation>, promises: Promises) {
    let mut violations = std::mem::take(&mut verdict.violations);
    let mut expected = std::mem::take(&mut verdict.expected);
    for v in found {
        let kind = v.kind.as_str();
        if CUT_KINDS.contains(&kind) {
            verdict.consistent = false;
        }
        let excused = (!promises.consistent_cuts && CUT_KINDS.contains(&kind))
            || (!promises.exactly_once && EXACTLY_ONCE_KINDS.contains(&kind));
        if excused {
            expected.push(v);
        } else {
            violations.push(v);
        }
    }
    verdict.ok = violations.is_empty();
    verdict.violations = summarise(violations);
    verdict.expected = summarise(expected);
}

/// Compares the keyed state at the end of a run with failures against the same run without
/// them; with exactly-once they must be equal.
pub fn compare_final_states(
    topo: &Topology,
    run: &RunOutput,
    reference: &RunOutput,
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
    let got_ops = per_operator(&run.final_states);
    let mut found = Vec::new();
    for (op, want) in per_operator(&reference.final_states) {
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
            kind: "final-state-mismatch".into(),
            message: format!(
                "operator {}: {differing} keys end with a different count than in the same run without failures{example}",
                topo.groups[op as usize]
            ),
        });
    }
    if !found.is_empty() {
        add_findings(verdict, found, promises);
    }
}

/// Whether the topology has sources and sinks, so that exactly-once can be checked.
pub fn has_sources_and_sinks(topo: &Topology) -> bool {
    topo.tasks.iter().any(|t| t.role.is_source()) && topo.tasks.iter().any(|t| t.role.is_sink())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn job(transactional: bool) -> Topology {
        let json = format!(
            r#"{{"duration": "1ms", "dataflow": {{"operators": [
                {{"name": "src", "kind": {{"source": {{}}}}}},
                {{"name": "sink", "kind": {{"sink": {{"transactional": {transactional}}}}}}}
            ], "edges": [{{"from": "src", "to": "sink"}}]}}}}"#
        );
        let s = Scenario::from_json(json.as_bytes(), "t").unwrap();
        Topology::build(&s, 0).unwrap()
    }

    fn out(offset: u64) -> TraceEvent {
        TraceEvent::SinkOutput {
            t: 0,
            task: 1,
            source: 0,
            offset,
            key: 0,
        }
    }

    fn emit(c: &mut OutputChecker, offset: u64) {
        c.observe(&TraceEvent::SourceEmit {
            t: 0,
            task: 0,
            offset,
        });
    }

    #[test]
    fn transactional_output_counts_only_once_committed() {
        let names = vec!["src[0]".to_string(), "sink[0]".to_string()];
        let mut c = OutputChecker::new(&job(true));
        c.receive_on(0);
        for o in 0..3 {
            emit(&mut c, o);
        }
        c.observe(&out(0));
        c.observe(&TraceEvent::SinkPrecommit {
            t: 1,
            task: 1,
            id: 1,
        });
        c.observe(&out(1));
        c.observe(&TraceEvent::SinkPrecommit {
            t: 2,
            task: 1,
            id: 2,
        });
        c.observe(&out(2));
        // Nothing committed yet: all three are missing.
        assert_eq!(c.finish(&names).0.lost, 3);
        c.observe(&TraceEvent::SinkCommit {
            t: 3,
            task: 1,
            id: 1,
        });
        assert_eq!(
            c.finish(&names).0.lost,
            2,
            "only checkpoint 1's transaction is visible"
        );
        c.observe(&TraceEvent::SinkCommit {
            t: 4,
            task: 1,
            id: u64::MAX,
        });
        let (eo, v) = c.finish(&names);
        assert_eq!((eo.lost, eo.duplicated), (0, 0), "{v:?}");
    }

    #[test]
    fn plain_sinks_count_every_write_and_duplicates_show() {
        let names = vec!["src[0]".to_string(), "sink[0]".to_string()];
        let mut c = OutputChecker::new(&job(false));
        c.receive_on(0);
        emit(&mut c, 0);
        emit(&mut c, 1);
        c.observe(&out(0));
        c.observe(&out(0));
        let (eo, v) = c.finish(&names);
        assert_eq!((eo.lost, eo.duplicated), (1, 1));
        assert!(v
            .iter()
            .any(|v| v.kind == "lost-record" && v.message.contains("src[0] offset 1")));
    }

    /// One source into two maps, both into one sink (a diamond); channels 2 and 3 are the
    /// maps' channels into the sink.
    fn diamond() -> Topology {
        let json = r#"{"duration": "1ms", "dataflow": {"operators": [
            {"name": "src", "kind": {"source": {}}},
            {"name": "a", "kind": {"map": {}}},
            {"name": "b", "kind": {"map": {}}},
            {"name": "sink", "kind": {"sink": {}}}
        ], "edges": [{"from": "src", "to": "a"}, {"from": "src", "to": "b"},
                     {"from": "a", "to": "sink"}, {"from": "b", "to": "sink"}]}}"#;
        let topo = Topology::build(&Scenario::from_json(json.as_bytes(), "t").unwrap(), 0).unwrap();
        assert_eq!(
            (
                topo.channels[2].src,
                topo.channels[3].src,
                topo.channels[3].dst
            ),
            (1, 2, 3)
        );
        topo
    }

    fn names4() -> Vec<String> {
        ["src[0]", "a[0]", "b[0]", "sink[0]"]
            .map(String::from)
            .to_vec()
    }

    /// Sink output of `offset` (key 0) coming in on channel `ch`.
    fn via(c: &mut OutputChecker, ch: u32, offset: u64) {
        c.receive_on(ch);
        c.observe(&TraceEvent::SinkOutput {
            t: 0,
            task: 3,
            source: 0,
            offset,
            key: 0,
        });
    }

    #[test]
    fn the_two_copies_of_a_diamond_may_interleave_but_each_path_keeps_its_order() {
        let mut c = OutputChecker::new(&diamond());
        for o in 0..4 {
            emit(&mut c, o);
        }
        // Path b runs two records ahead of path a: across paths that is no disorder.
        for (ch, o) in [
            (3, 0),
            (3, 1),
            (2, 0),
            (3, 2),
            (2, 1),
            (3, 3),
            (2, 2),
            (2, 3),
        ] {
            via(&mut c, ch, o);
        }
        let (eo, v) = c.finish(&names4());
        assert_eq!(
            (eo.lost, eo.duplicated, eo.out_of_order),
            (0, 0, 0),
            "{v:?}"
        );
        // Within path a, offset 1 after offset 3 is out of order.
        let mut c = OutputChecker::new(&diamond());
        for o in 0..4 {
            emit(&mut c, o);
        }
        for (ch, o) in [
            (2, 0),
            (2, 2),
            (2, 3),
            (2, 1),
            (3, 0),
            (3, 1),
            (3, 2),
            (3, 3),
        ] {
            via(&mut c, ch, o);
        }
        let (eo, v) = c.finish(&names4());
        assert_eq!((eo.lost, eo.duplicated, eo.out_of_order), (0, 0, 1));
        assert!(
            v.iter().any(|v| v.kind == "out-of-order"
                && v.message
                    .contains("src[0] offset 1 (key 0) from a[0] after offset 3")),
            "{v:?}"
        );
    }

    #[test]
    fn each_path_owes_its_own_copy() {
        // Offset 1 comes twice through a and never through b: one lost and one duplicate,
        // not two copies in all.
        let mut c = OutputChecker::new(&diamond());
        for o in 0..2 {
            emit(&mut c, o);
        }
        for (ch, o) in [(2, 0), (3, 0), (2, 1), (2, 1)] {
            via(&mut c, ch, o);
        }
        let (eo, v) = c.finish(&names4());
        assert_eq!((eo.lost, eo.duplicated), (1, 1));
        assert!(
            v.iter().any(|v| v.kind == "lost-record"
                && v.message.contains(
                    "src[0] offset 1 reached the sinks 0 times through b -> sink, expected 1"
                )),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|v| v.kind == "duplicated-record" && v.message.contains("through a -> sink")),
            "{v:?}"
        );
    }
}
