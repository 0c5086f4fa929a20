//! Where a source's records reach the sinks, worked out from the topology alone.
//!
//! A record reaches the sinks once per path from its source to a sink. The paths are told
//! apart by their last hop, the *sink edge* (the edge of the job from an operator into a sink
//! operator): for each source task and sink edge, [`SinkPaths`] knows how many copies of each
//! record come through that edge, and whether order can be checked there.
//!
//! Order is promised per path: along one path every channel is FIFO and every task processes
//! its input in order, so the copies of one source's records of one key come into a sink
//! input channel in offset order, if they all came along one path. They do not when two paths
//! meet before the sink (a diamond joined upstream, a broadcast or a rebalance followed by a
//! hash edge, which brings a key's records through several tasks): then the copies of one
//! record interleave on the channel and no protocol can keep them in order. For each source
//! operator and sink edge the number of paths a key's records can take to one channel of the
//! edge is bounded from the operator graph, and order is checked on the edge's channels only
//! where that bound is one.

use crate::scenario::Partition;
use crate::topology::Topology;

/// Marks a channel that does not go into a sink.
pub const NOT_INTO_A_SINK: u32 = u32::MAX;

/// The paths from every source to the sinks.
#[derive(Debug, Clone)]
pub struct SinkPaths {
    /// Per channel: the index of its sink edge, or [`NOT_INTO_A_SINK`].
    pub edge_of_channel: Vec<u32>,
    /// Per sink edge: "upstream -> sink", operator names.
    pub edge_names: Vec<String>,
    /// Per task and sink edge (`task * edges + edge`): copies of each record of that source
    /// task that reach the sinks through that edge; zero for tasks other than sources.
    pub copies: Vec<u64>,
    /// Per task and sink edge: a source task's records of one key come into each channel of
    /// the edge along one path at most, so they must come in offset order.
    pub ordered: Vec<bool>,
}

/// One edge of the operator graph.
#[derive(Debug, Clone, Copy)]
struct OpEdge {
    from: usize,
    to: usize,
    partition: Partition,
}

impl SinkPaths {
    /// The paths of `topo` (a dataflow job; a process graph has no sink edges).
    pub fn new(topo: &Topology) -> Self {
        let ops = topo.groups.len();
        let mut parallelism = vec![0u64; ops];
        let mut first_task: Vec<Option<usize>> = vec![None; ops];
        for (t, spec) in topo.tasks.iter().enumerate() {
            let g = spec.group as usize;
            parallelism[g] += 1;
            first_task[g].get_or_insert(t);
        }
        let is_sink = |g: usize| first_task[g].is_some_and(|t| topo.tasks[t].role.is_sink());
        let is_source = |g: usize| first_task[g].is_some_and(|t| topo.tasks[t].role.is_source());
        // Every task of an operator has the same kind of outputs: read the first one's.
        let mut op_edges = Vec::new();
        for (g, first) in first_task.iter().enumerate() {
            let Some(t) = *first else { continue };
            for out in &topo.tasks[t].outputs {
                if let Some(&c) = out.channels.first() {
                    let to = topo.tasks[topo.channels[c as usize].dst as usize].group as usize;
                    op_edges.push(OpEdge {
                        from: g,
                        to,
                        partition: out.partition,
                    });
                }
            }
        }
        let sink_edges: Vec<usize> = (0..op_edges.len())
            .filter(|&e| is_sink(op_edges[e].to))
            .collect();
        let n = sink_edges.len();
        let edge_index = |from: usize, to: usize| {
            sink_edges
                .iter()
                .position(|&e| op_edges[e].from == from && op_edges[e].to == to)
        };
        let mut edge_of_channel = vec![NOT_INTO_A_SINK; topo.channels.len()];
        for (c, ch) in topo.channels.iter().enumerate() {
            let (from, to) = (
                topo.tasks[ch.src as usize].group as usize,
                topo.tasks[ch.dst as usize].group as usize,
            );
            if is_sink(to) {
                if let Some(e) = edge_index(from, to) {
                    edge_of_channel[c] = e as u32;
                }
            }
        }
        let edge_names = sink_edges
            .iter()
            .map(|&e| {
                format!(
                    "{} -> {}",
                    topo.groups[op_edges[e].from], topo.groups[op_edges[e].to]
                )
            })
            .collect();

        let order = topological(ops, &op_edges);
        // Copies of one record of an operator's task reaching each sink edge; the edges form
        // no cycle, so downstream operators are done first in reverse topological order.
        let mut op_copies = vec![0u64; ops * n];
        for &g in order.iter().rev() {
            for e in op_edges.iter().filter(|e| e.from == g) {
                let fan = if e.partition == Partition::Broadcast {
                    parallelism[e.to]
                } else {
                    1
                };
                if is_sink(e.to) {
                    if let Some(i) = edge_index(e.from, e.to) {
                        let c = &mut op_copies[g * n + i];
                        *c = c.saturating_add(fan);
                    }
                } else {
                    for i in 0..n {
                        let add = op_copies[e.to * n + i].saturating_mul(fan);
                        let c = &mut op_copies[g * n + i];
                        *c = c.saturating_add(add);
                    }
                }
            }
        }
        // Per source operator: for each operator, a bound on the paths by which one key of
        // one source task reaches a single task of it (`most`) and all its tasks (`all`).
        let mut op_ordered = vec![false; ops * n];
        for s in (0..ops).filter(|&g| is_source(g)) {
            let (mut most, mut all) = (vec![0u64; ops], vec![0u64; ops]);
            most[s] = 1;
            all[s] = 1;
            for &g in &order {
                for e in op_edges.iter().filter(|e| e.from == g && !is_sink(e.to)) {
                    let (m, a) = match e.partition {
                        Partition::Forward => (most[g], all[g]),
                        // A key goes to one task, whichever task sends it.
                        Partition::Hash => (all[g], all[g]),
                        // Any task may get a key from every sender.
                        Partition::Rebalance | Partition::Broadcast => {
                            (all[g], all[g].saturating_mul(parallelism[e.to]))
                        }
                    };
                    most[e.to] = most[e.to].saturating_add(m);
                    all[e.to] = all[e.to].saturating_add(a);
                }
            }
            for (i, &e) in sink_edges.iter().enumerate() {
                op_ordered[s * n + i] = most[op_edges[e].from] <= 1;
            }
        }
        let mut copies = vec![0u64; topo.tasks.len() * n];
        let mut ordered = vec![false; topo.tasks.len() * n];
        for (t, spec) in topo.tasks.iter().enumerate() {
            if spec.role.is_source() {
                let g = spec.group as usize;
                copies[t * n..(t + 1) * n].copy_from_slice(&op_copies[g * n..(g + 1) * n]);
                ordered[t * n..(t + 1) * n].copy_from_slice(&op_ordered[g * n..(g + 1) * n]);
            }
        }
        SinkPaths {
            edge_of_channel,
            edge_names,
            copies,
            ordered,
        }
    }

    /// Number of sink edges.
    pub fn edges(&self) -> usize {
        self.edge_names.len()
    }
}

/// The operators in an order where every edge goes forward (Kahn's algorithm; ties by index).
/// Operators on a cycle, which validation refuses, are left out.
fn topological(ops: usize, edges: &[OpEdge]) -> Vec<usize> {
    let mut indegree = vec![0usize; ops];
    for e in edges {
        indegree[e.to] += 1;
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..ops).filter(|&g| indegree[g] == 0).collect();
    let mut order = Vec::with_capacity(ops);
    while let Some(g) = ready.pop_first() {
        order.push(g);
        for e in edges.iter().filter(|e| e.from == g) {
            indegree[e.to] -= 1;
            if indegree[e.to] == 0 {
                ready.insert(e.to);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn paths(operators: &str, edges: &str) -> (Topology, SinkPaths) {
        let json = format!(
            r#"{{"duration": "1ms", "dataflow": {{"operators": [{operators}], "edges": [{edges}]}}}}"#
        );
        let s = Scenario::from_json(json.as_bytes(), "t").unwrap();
        let topo = Topology::build(&s, 0).unwrap();
        let p = SinkPaths::new(&topo);
        (topo, p)
    }

    /// (copies, ordered) of source task `t` per sink edge.
    fn of(p: &SinkPaths, t: usize) -> (Vec<u64>, Vec<bool>) {
        let n = p.edges();
        (
            p.copies[t * n..(t + 1) * n].to_vec(),
            p.ordered[t * n..(t + 1) * n].to_vec(),
        )
    }

    #[test]
    fn a_diamond_joined_at_the_sink_has_one_ordered_path_per_edge() {
        let (_, p) = paths(
            r#"{"name": "src", "kind": {"source": {}}, "parallelism": 2},
               {"name": "a", "kind": {"map": {}}, "parallelism": 3},
               {"name": "b", "kind": {"keyed_count": {}}, "parallelism": 2},
               {"name": "sink", "kind": {"sink": {}}}"#,
            r#"{"from": "src", "to": "a"}, {"from": "src", "to": "b"},
               {"from": "a", "to": "sink"}, {"from": "b", "to": "sink"}"#,
        );
        assert_eq!(p.edge_names, vec!["a -> sink", "b -> sink"]);
        assert_eq!(of(&p, 0), (vec![1, 1], vec![true, true]));
        assert_eq!(of(&p, 1), (vec![1, 1], vec![true, true]));
        assert!(p.edge_of_channel.iter().filter(|&&e| e == 0).count() == 3);
    }

    #[test]
    fn paths_that_meet_before_the_sink_are_counted_but_not_ordered() {
        let (_, p) = paths(
            r#"{"name": "src", "kind": {"source": {}}},
               {"name": "a", "kind": {"map": {}}},
               {"name": "b", "kind": {"map": {}}},
               {"name": "j", "kind": {"join": {}}, "parallelism": 2},
               {"name": "sink", "kind": {"sink": {}}}"#,
            r#"{"from": "src", "to": "a"}, {"from": "src", "to": "b"},
               {"from": "a", "to": "j"}, {"from": "b", "to": "j"},
               {"from": "j", "to": "sink", "partition": "rebalance"}"#,
        );
        assert_eq!(of(&p, 0), (vec![2], vec![false]));
    }

    #[test]
    fn hash_after_hash_keeps_a_key_on_one_path_rebalance_then_hash_does_not() {
        // As in the shipped failures job: two hash exchanges, then the sink.
        let (_, p) = paths(
            r#"{"name": "src", "kind": {"source": {}}, "parallelism": 2},
               {"name": "j", "kind": {"map": {}}, "parallelism": 3},
               {"name": "c", "kind": {"keyed_count": {}}, "parallelism": 2},
               {"name": "sink", "kind": {"sink": {}}, "parallelism": 2}"#,
            r#"{"from": "src", "to": "j"}, {"from": "j", "to": "c"},
               {"from": "c", "to": "sink", "partition": "rebalance"}"#,
        );
        assert_eq!(of(&p, 0), (vec![1], vec![true]));
        // As in the shipped back-pressure job: a rebalance spreads a key over the maps, and
        // the hash after it brings it back to one count task through all of them.
        let (_, p) = paths(
            r#"{"name": "src", "kind": {"source": {}}},
               {"name": "m", "kind": {"map": {}}, "parallelism": 4},
               {"name": "c", "kind": {"keyed_count": {}}, "parallelism": 4},
               {"name": "sink", "kind": {"sink": {}}}"#,
            r#"{"from": "src", "to": "m", "partition": "rebalance"}, {"from": "m", "to": "c"},
               {"from": "c", "to": "sink"}"#,
        );
        assert_eq!(of(&p, 0), (vec![1], vec![false]));
        // A rebalance straight into the sink keeps each channel's records on one path.
        let (_, p) = paths(
            r#"{"name": "src", "kind": {"source": {}}},
               {"name": "m", "kind": {"map": {}}, "parallelism": 4},
               {"name": "sink", "kind": {"sink": {}}, "parallelism": 2}"#,
            r#"{"from": "src", "to": "m", "partition": "rebalance"},
               {"from": "m", "to": "sink", "partition": "rebalance"}"#,
        );
        assert_eq!(of(&p, 0), (vec![1], vec![true]));
    }

    #[test]
    fn broadcasts_multiply_copies_and_forward_keeps_paths_apart() {
        let (_, p) = paths(
            r#"{"name": "src", "kind": {"source": {}}, "parallelism": 2},
               {"name": "f", "kind": {"map": {}}, "parallelism": 2},
               {"name": "m", "kind": {"map": {}}, "parallelism": 3},
               {"name": "sink", "kind": {"sink": {}}, "parallelism": 2}"#,
            r#"{"from": "src", "to": "f", "partition": "forward"},
               {"from": "f", "to": "m", "partition": "broadcast"},
               {"from": "m", "to": "sink", "partition": "broadcast"}"#,
        );
        // Three map tasks, each to both sink tasks; one path into each channel.
        assert_eq!(of(&p, 1), (vec![6], vec![true]));
        // A broadcast then a hash: the three copies meet in one task.
        let (_, p) = paths(
            r#"{"name": "src", "kind": {"source": {}}},
               {"name": "m", "kind": {"map": {}}, "parallelism": 3},
               {"name": "c", "kind": {"keyed_count": {}}, "parallelism": 2},
               {"name": "sink", "kind": {"sink": {}}}"#,
            r#"{"from": "src", "to": "m", "partition": "broadcast"}, {"from": "m", "to": "c"},
               {"from": "c", "to": "sink"}"#,
        );
        assert_eq!(of(&p, 0), (vec![3], vec![false]));
    }
}
