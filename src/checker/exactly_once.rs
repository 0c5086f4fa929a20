//! Exactly-once counting at the sinks: every record's copies, per path, counted from the trace.
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

use std::collections::BTreeMap;

use super::paths::{SinkPaths, NOT_INTO_A_SINK};
use super::verdict::{ExactlyOnce, Violation, ViolationKind};
use crate::topology::{Role, Topology};
use crate::trace::TraceEvent;

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
                .map(|t| matches!(&t.role, Role::Sink(s) if s.transactional))
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
                kind: ViolationKind::LostRecord,
                message: format!(
                    "{} records lost; the first: {} offset {o} reached the sinks {got} times{}, expected {want}",
                    eo.lost, names[s], through(e)
                ),
            });
        }
        if let Some((s, o, e, got, want)) = first_dup {
            v.push(Violation {
                kind: ViolationKind::DuplicatedRecord,
                message: format!(
                    "{} duplicate outputs; the first: {} offset {o} reached the sinks {got} times{}, expected {want}",
                    eo.duplicated, names[s], through(e)
                ),
            });
        }
        if let Some((task, ch, source, offset, key, last)) = self.first_out_of_order {
            let from = &names[self.channel_ends[ch as usize].0 as usize];
            v.push(Violation {
                kind: ViolationKind::OutOfOrder,
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

/// Whether the topology has sources and sinks, so that exactly-once can be checked.
pub fn has_sources_and_sinks(topo: &Topology) -> bool {
    topo.tasks.iter().any(|t| t.role.is_source()) && topo.tasks.iter().any(|t| t.role.is_sink())
}

/// True when every sink of the job is transactional: only then can a protocol count every
/// record exactly once across failures.
pub fn all_sinks_transactional(topo: &Topology) -> bool {
    topo.tasks
        .iter()
        .all(|t| !matches!(&t.role, Role::Sink(s) if !s.transactional))
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
            .any(|v| v.kind == ViolationKind::LostRecord && v.message.contains("src[0] offset 1")));
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
            v.iter().any(|v| v.kind == ViolationKind::OutOfOrder
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
            v.iter().any(|v| v.kind == ViolationKind::LostRecord
                && v.message.contains(
                    "src[0] offset 1 reached the sinks 0 times through b -> sink, expected 1"
                )),
            "{v:?}"
        );
        assert!(
            v.iter().any(|v| v.kind == ViolationKind::DuplicatedRecord
                && v.message.contains("through a -> sink")),
            "{v:?}"
        );
    }
}
