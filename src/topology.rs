//! The expanded topology: tasks and channels built from a scenario.
//!
//! Dataflow operators become `parallelism` tasks named `op[i]`; edges become channels according
//! to their partitioning. Process graphs become one task per process and one channel per edge.
//! The order of tasks and channels is fixed by the scenario file (operators and edges in file
//! order), never by a hash, so that channel ids are stable.

use std::collections::BTreeSet;

use crate::engine::rng::below;
use crate::engine::{RngStreams, Time};
use crate::keygroups;
use crate::network::{ChannelConfig, ChannelId, Latency, TaskId};
use crate::scenario::{
    GraphSpec, KeyedSpec, LatencySpec, NetworkSpec, OperatorKind, Partition, ProcessWorkload,
    Scenario, ScenarioError, SinkSpec, SourceSpec,
};

/// What a task does.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// Reads a replayable log.
    Source(SourceSpec),
    /// Stateless pass-through.
    Map,
    /// Count per key.
    KeyedCount(KeyedSpec),
    /// Sum per key.
    KeyedSum(KeyedSpec),
    /// Two-input keyed operator; inputs `0..left_inputs` are the first side.
    Join {
        /// Options.
        spec: KeyedSpec,
        /// How many of the task's inputs (the first ones) belong to the first edge.
        left_inputs: usize,
    },
    /// Writes results.
    Sink(SinkSpec),
    /// A process of a peer-to-peer system (bank or script).
    Process,
}

impl Role {
    /// True for sources.
    pub fn is_source(&self) -> bool {
        matches!(self, Role::Source(_))
    }
    /// True for sinks.
    pub fn is_sink(&self) -> bool {
        matches!(self, Role::Sink(_))
    }
}

/// One group of output channels of a task, fed by one partitioner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputEdge {
    /// How records are routed.
    pub partition: Partition,
    /// The channels, indexed by downstream subtask.
    pub channels: Vec<ChannelId>,
    /// The receiving operator's max parallelism: the key groups a keyed edge routes by.
    pub max_parallelism: u32,
}

/// One task (a parallel instance of an operator, or a process).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// Unique name: `op[i]` or the process name.
    pub name: String,
    /// Index of the operator (dataflow) or 0 (processes).
    pub group: u32,
    /// Index within the operator.
    pub subtask: u32,
    /// What the task does.
    pub role: Role,
    /// Processing time per record or message.
    pub cost: Time,
    /// Input channels, in edge order.
    pub inputs: Vec<ChannelId>,
    /// Output channel groups, one per outgoing edge (one in total for processes).
    pub outputs: Vec<OutputEdge>,
}

/// One channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSpec {
    /// Sender.
    pub src: TaskId,
    /// Receiver.
    pub dst: TaskId,
    /// Properties after overrides.
    pub config: ChannelConfig,
    /// Barriers on this channel always travel aligned: it belongs to a node with a forward or
    /// broadcast input edge, which Flink does not checkpoint unaligned (FLINK-21945).
    pub aligned_only: bool,
}

/// The whole topology.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// Tasks by id.
    pub tasks: Vec<TaskSpec>,
    /// Channels by id.
    pub channels: Vec<ChannelSpec>,
    /// Operator names (dataflow) or a single `"processes"` group.
    pub groups: Vec<String>,
    /// True for a dataflow job, false for a process graph.
    pub is_dataflow: bool,
}

fn latency(spec: &LatencySpec) -> Latency {
    match *spec {
        LatencySpec::Constant(d) => Latency::Constant(d.ns()),
        LatencySpec::Uniform { min, max } => Latency::Uniform {
            min: min.ns(),
            max: max.ns(),
        },
        LatencySpec::Exponential { mean } => Latency::Exponential { mean: mean.ns() },
        LatencySpec::Normal { mean, std_dev } => Latency::Normal {
            mean: mean.ns(),
            std_dev: std_dev.ns(),
        },
    }
}

fn base_config(n: &NetworkSpec) -> ChannelConfig {
    ChannelConfig {
        latency: latency(&n.latency),
        bandwidth: n.bandwidth.map(|b| b.0),
        out_capacity: n.out_buffer.bytes(),
        in_capacity: n.in_buffer.bytes(),
        fifo: n.fifo,
    }
}

/// Marks every input channel of a task that has a forward or broadcast input edge as
/// aligned-only (Flink's `StreamPartitioner.isSupportsUnalignedCheckpoint` and FLINK-21945: one
/// such input edge makes all of the node's input edges unsupported). Tasks of one operator
/// share their input edges, so the rule holds per node.
fn mark_aligned_only(tasks: &[TaskSpec], channels: &mut [ChannelSpec]) {
    let mut pointwise = vec![false; tasks.len()];
    for t in tasks {
        for e in &t.outputs {
            if matches!(e.partition, Partition::Forward | Partition::Broadcast) {
                for &c in &e.channels {
                    pointwise[channels[c as usize].dst as usize] = true;
                }
            }
        }
    }
    for c in channels.iter_mut() {
        c.aligned_only = pointwise[c.dst as usize];
    }
}

impl Topology {
    /// True when `task`'s inputs do not support unaligned checkpoints (see
    /// [`ChannelSpec::aligned_only`]).
    pub fn aligned_inputs(&self, task: TaskId) -> bool {
        self.tasks[task as usize]
            .inputs
            .first()
            .is_some_and(|&c| self.channels[c as usize].aligned_only)
    }

    /// Builds the topology of a validated scenario with the run's `seed` (used only by random
    /// graph generators without a seed of their own).
    pub fn build(s: &Scenario, seed: u64) -> Result<Topology, ScenarioError> {
        let mut topo = if let Some(df) = &s.dataflow {
            Self::dataflow(s, df)
        } else if let Some(ps) = &s.processes {
            Self::processes(s, ps, seed)?
        } else {
            return Err(ScenarioError::new(".", "missing the topology"));
        };
        topo.apply_overrides(s);
        Ok(topo)
    }

    fn dataflow(s: &Scenario, df: &crate::scenario::DataflowSpec) -> Topology {
        let mut tasks = Vec::new();
        let mut first_task = Vec::new();
        for (g, op) in df.operators.iter().enumerate() {
            first_task.push(tasks.len() as TaskId);
            let role = match &op.kind {
                OperatorKind::Source(src) => Role::Source(src.clone()),
                OperatorKind::Map(_) => Role::Map,
                OperatorKind::KeyedCount(k) => Role::KeyedCount(k.clone()),
                OperatorKind::KeyedSum(k) => Role::KeyedSum(k.clone()),
                OperatorKind::Join(k) => Role::Join {
                    spec: k.clone(),
                    left_inputs: 0,
                },
                OperatorKind::Sink(k) => Role::Sink(k.clone()),
            };
            for i in 0..op.parallelism {
                tasks.push(TaskSpec {
                    name: format!("{}[{i}]", op.name),
                    group: g as u32,
                    subtask: i,
                    role: role.clone(),
                    cost: op.cost.map_or(0, |c| c.ns()),
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                });
            }
        }
        let index = |name: &str| {
            df.operators
                .iter()
                .position(|o| o.name == name)
                .expect("validated edge endpoints exist")
        };
        let config = base_config(&s.network);
        let mut channels = Vec::new();
        for e in &df.edges {
            let (from, to) = (index(&e.from), index(&e.to));
            let (pf, pt) = (df.operators[from].parallelism, df.operators[to].parallelism);
            for i in 0..pf {
                let src = first_task[from] + i;
                let targets: Vec<u32> = match e.partition {
                    Partition::Forward => vec![i],
                    _ => (0..pt).collect(),
                };
                let mut out = OutputEdge {
                    partition: e.partition,
                    channels: Vec::new(),
                    max_parallelism: df.operators[to].effective_max_parallelism(),
                };
                for j in targets {
                    let dst = first_task[to] + j;
                    let id = channels.len() as ChannelId;
                    channels.push(ChannelSpec {
                        src,
                        dst,
                        config,
                        aligned_only: false,
                    });
                    out.channels.push(id);
                    tasks[dst as usize].inputs.push(id);
                }
                tasks[src as usize].outputs.push(out);
            }
            // The first edge into a join is its left side.
            for j in 0..pt {
                let t = &mut tasks[(first_task[to] + j) as usize];
                if let Role::Join { left_inputs, .. } = &mut t.role {
                    if *left_inputs == 0 {
                        *left_inputs = t.inputs.len();
                    }
                }
            }
        }
        let force = s
            .checkpointing
            .as_ref()
            .is_none_or(|c| c.force_aligned_pointwise);
        if force {
            mark_aligned_only(&tasks, &mut channels);
        }
        Topology {
            tasks,
            channels,
            groups: df.operators.iter().map(|o| o.name.clone()).collect(),
            is_dataflow: true,
        }
    }

    fn processes(
        s: &Scenario,
        ps: &crate::scenario::ProcessSpec,
        seed: u64,
    ) -> Result<Topology, ScenarioError> {
        let names: Vec<String> = match (&ps.names, ps.count) {
            (Some(n), _) => n.clone(),
            (None, Some(c)) => (0..c).map(|i| format!("p{i}")).collect(),
            (None, None) => return Err(ScenarioError::new("processes", "give `count` or `names`")),
        };
        let n = names.len();
        let mut edges: Vec<(usize, usize)> = Vec::new();
        match &ps.graph {
            GraphSpec::Ring { bidirectional } => {
                for i in 0..n {
                    edges.push((i, (i + 1) % n));
                    if *bidirectional && n > 2 {
                        edges.push((i, (i + n - 1) % n));
                    }
                }
                if *bidirectional && n == 2 {
                    // Two processes: the ring edges already go both ways.
                }
            }
            GraphSpec::FullMesh {} => {
                for i in 0..n {
                    for j in 0..n {
                        if i != j {
                            edges.push((i, j));
                        }
                    }
                }
            }
            GraphSpec::RandomKOut {
                k,
                ring,
                seed: graph_seed,
            } => {
                let mut rng = RngStreams::new(graph_seed.unwrap_or(seed)).stream("topology");
                for i in 0..n {
                    let mut chosen = BTreeSet::new();
                    if *ring {
                        chosen.insert((i + 1) % n);
                    }
                    while chosen.len() < *k as usize {
                        let j = below(&mut rng, n as u64) as usize;
                        if j != i {
                            chosen.insert(j);
                        }
                    }
                    edges.extend(chosen.into_iter().map(|j| (i, j)));
                }
            }
            GraphSpec::Edges(list) => {
                let pos = |name: &str| names.iter().position(|n| n == name).expect("validated");
                edges.extend(list.iter().map(|(a, b)| (pos(a), pos(b))));
            }
        }
        let config = base_config(&s.network);
        let cost = ps.cost.map_or(0, |c| c.ns());
        let mut tasks: Vec<TaskSpec> = names
            .iter()
            .enumerate()
            .map(|(i, name)| TaskSpec {
                name: name.clone(),
                group: 0,
                subtask: i as u32,
                role: Role::Process,
                cost,
                inputs: Vec::new(),
                outputs: vec![OutputEdge {
                    partition: Partition::Rebalance,
                    channels: Vec::new(),
                    // Process graphs route no keys.
                    max_parallelism: keygroups::UPPER_BOUND_MAX_PARALLELISM,
                }],
            })
            .collect();
        let mut channels = Vec::with_capacity(edges.len());
        for (a, b) in edges {
            let id = channels.len() as ChannelId;
            channels.push(ChannelSpec {
                src: a as TaskId,
                dst: b as TaskId,
                config,
                aligned_only: false,
            });
            tasks[a].outputs[0].channels.push(id);
            tasks[b].inputs.push(id);
        }
        if let ProcessWorkload::Script(sc) = &ps.workload {
            for (i, st) in sc.steps.iter().enumerate() {
                if let Some(send) = &st.send {
                    let from = names
                        .iter()
                        .position(|n| *n == st.process)
                        .expect("validated");
                    let to = names.iter().position(|n| *n == send.to).expect("validated");
                    if !tasks[from].outputs[0]
                        .channels
                        .iter()
                        .any(|&c| channels[c as usize].dst == to as TaskId)
                    {
                        return Err(ScenarioError::new(
                            format!("processes.workload.script.steps[{i}].send.to"),
                            format!("there is no channel from `{}` to `{}`", st.process, send.to),
                        ));
                    }
                }
            }
        }
        Ok(Topology {
            tasks,
            channels,
            groups: vec!["processes".to_string()],
            is_dataflow: false,
        })
    }

    /// True when `selector` names `task` or (in a job) its operator.
    pub fn matches(&self, selector: &str, task: TaskId) -> bool {
        let t = &self.tasks[task as usize];
        t.name == selector || (self.is_dataflow && self.groups[t.group as usize] == selector)
    }

    fn apply_overrides(&mut self, s: &Scenario) {
        for o in &s.tasks {
            for id in 0..self.tasks.len() {
                if self.matches(&o.task, id as TaskId) {
                    self.tasks[id].cost = o.cost.ns();
                }
            }
        }
        for link in &s.links {
            for c in 0..self.channels.len() {
                let (src, dst) = (self.channels[c].src, self.channels[c].dst);
                let from_ok = link.from.as_deref().is_none_or(|f| self.matches(f, src));
                let to_ok = link.to.as_deref().is_none_or(|t| self.matches(t, dst));
                if !(from_ok && to_ok) {
                    continue;
                }
                let cfg = &mut self.channels[c].config;
                if let Some(l) = &link.latency {
                    cfg.latency = latency(l);
                }
                if let Some(b) = link.bandwidth {
                    cfg.bandwidth = Some(b.0);
                }
                if let Some(b) = link.out_buffer {
                    cfg.out_capacity = b.bytes();
                }
                if let Some(b) = link.in_buffer {
                    cfg.in_capacity = b.bytes();
                }
                if let Some(f) = link.fifo {
                    cfg.fifo = f;
                }
            }
        }
    }

    /// The id of the task called `name`.
    pub fn task_id(&self, name: &str) -> Option<TaskId> {
        self.tasks
            .iter()
            .position(|t| t.name == name)
            .map(|i| i as TaskId)
    }
}
