//! Flink's buffer model and buffer debloating in the running job.
//!
//! With `network.buffers` (or debloating, which implies it) every channel's byte budgets come
//! from its buffers ([`ChannelBuffers`]): the receiver's credit is its buffers times the buffer
//! size, the sender's queue one buffer. An input gate is a task's input from one upstream
//! operator (a process's inputs form one gate).
//!
//! With debloating on, each gate measures the bytes its task takes over the time the gate was
//! not idle: the measurement pauses when the task looks for input and finds none, and resumes
//! when data arrives or is taken. Every `period` a [`Event::DebloatTick`] steps every gate's
//! [`GateDebloater`]; a size it announces goes to every channel of the gate, on both sides:
//! the senders cut new buffers at that size, so the channels' budgets in bytes follow it while
//! the number of buffers stays. Nothing here runs when debloating is off: the tick is never
//! scheduled and the hooks in the task loop test one `Option`.

use super::{Event, Simulation};
use crate::engine::Time;
use crate::network::buffers::{buffers_for, ChannelBuffers};
use crate::network::debloat::{DebloatConfig, GateDebloater};
use crate::network::{Channel, ChannelId, TaskId};
use crate::protocols::Mutant;
use crate::scenario::Scenario;
use crate::topology::Topology;

/// No gate: a channel whose receiver is not debloated.
const NO_GATE: u32 = u32::MAX;

/// One input gate while the job runs.
#[derive(Debug, Clone)]
struct Gate {
    task: TaskId,
    /// The upstream operator's index.
    from_group: u32,
    channels: Vec<ChannelId>,
    buffers: Vec<ChannelBuffers>,
    deb: GateDebloater,
    /// Sum of the sizes in force at each tick, and of the bytes in flight to the gate.
    size_sum: u128,
    in_flight_sum: u128,
    in_flight_max: u64,
    announcements: u64,
}

/// Debloating's state: the gates and, per channel, the gate it feeds.
#[derive(Debug, Clone)]
pub(super) struct DebloatRt {
    cfg: DebloatConfig,
    gates: Vec<Gate>,
    gate_of: Vec<u32>,
    /// Per task: its gates, as a range of `gates`.
    task_gates: Vec<(u32, u32)>,
    ticks: u64,
}

/// What one input gate's debloating came to, for the results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateSummary {
    /// The receiving task's name.
    pub task: String,
    /// The upstream operator (or process group) the gate reads from.
    pub from: String,
    /// The buffer size in force at the end.
    pub final_size: u64,
    /// The buffer size averaged over the periods.
    pub mean_size: u64,
    /// Data bytes in flight to the gate (its senders' queues, the wire and its input
    /// queues), averaged over the periods.
    pub mean_in_flight: u64,
    /// The most data bytes in flight to the gate seen at a period.
    pub max_in_flight: u64,
    /// Sizes announced to the senders.
    pub announcements: u64,
}

/// The input gates of `topo`: per task, its inputs grouped by upstream operator in the order
/// they are first met.
fn gates_of(topo: &Topology) -> Vec<(TaskId, u32, Vec<ChannelId>)> {
    let mut gates = Vec::new();
    for (t, spec) in topo.tasks.iter().enumerate() {
        let first = gates.len();
        for &ch in &spec.inputs {
            let group = topo.tasks[topo.channels[ch as usize].src as usize].group;
            match gates[first..]
                .iter_mut()
                .find(|(_, g, _): &&mut (TaskId, u32, Vec<ChannelId>)| *g == group)
            {
                Some(gate) => gate.2.push(ch),
                None => gates.push((t as TaskId, group, vec![ch])),
            }
        }
    }
    gates
}

/// Overdraft buffers: which tasks wait in the middle of a record for output buffers.
///
/// The simulation emits a record's outputs all at once when its processing ends, and an
/// output queue takes them even when full. Beyond the queue's one buffer per channel, what a
/// record's outputs take is the overdraft, counted in buffers (of the channel's size) over
/// each output edge (Flink's result partition). Up to `limit` the task finishes the record as
/// if nothing happened: it is back-pressured, takes no new input, but still handles barriers
/// at the head of its inputs. Beyond it the task did not get the buffers it needed and waits
/// in the middle of the record, doing nothing at all (no barrier, no trigger, no timer) until
/// its output queues have room again. With `limit` 0 every record that overfills an output
/// waits so, as in Flink before overdraft buffers.
#[derive(Debug, Clone)]
pub(super) struct OverdraftRt {
    limit: u64,
    stuck: Vec<bool>,
}

/// The runtime state of the buffer model: debloating and overdraft, each when in force.
pub(super) type BufferRt = (Option<Box<DebloatRt>>, Option<Box<OverdraftRt>>);

/// Applies the scenario's buffer model to the channels' budgets, and returns debloating's
/// state when it is on and the overdraft's when the buffer model is. Without a buffer model
/// the channels keep their byte budgets and neither exists. The mutant that drops data when
/// a buffer shrinks runs debloating on every scenario, with a short target and period.
pub(super) fn setup(
    scenario: &Scenario,
    topo: &Topology,
    channels: &mut [Channel],
    mutant: Option<Mutant>,
) -> BufferRt {
    let forced = mutant == Some(Mutant::DebloatDropsOnShrink);
    let model = match scenario.network.buffer_model() {
        Some(m) => m,
        None if forced => crate::scenario::BuffersSpec::default(),
        None => return (None, None),
    };
    let size = model.segment_size.bytes();
    let mut gates = Vec::new();
    let mut gate_of = vec![NO_GATE; channels.len()];
    let mut task_gates = vec![(0, 0); topo.tasks.len()];
    let spec = scenario.network.debloat();
    let mut cfg = spec.map(|d| DebloatConfig {
        target: d.target.ns(),
        period: d.period.ns(),
        samples: d.samples,
        threshold_percent: d.threshold_percentages,
        min_size: d.min_size.bytes(),
        max_size: size,
    });
    if forced && cfg.is_none() {
        cfg = Some(DebloatConfig {
            target: 1_000_000,
            period: 10_000_000,
            samples: 1,
            threshold_percent: 25,
            min_size: 256,
            max_size: size,
        });
    }
    let overdraft = Some(Box::new(OverdraftRt {
        limit: u64::from(model.max_overdraft_buffers_per_gate),
        stuck: vec![false; topo.tasks.len()],
    }));
    for (task, from_group, chans) in gates_of(topo) {
        let n = chans.len();
        let buffers: Vec<ChannelBuffers> = (0..n)
            .map(|i| {
                ChannelBuffers::in_gate(model.exclusive_per_channel, model.floating_per_gate, n, i)
            })
            .collect();
        for (&ch, b) in chans.iter().zip(&buffers) {
            let c = &mut channels[ch as usize].config;
            c.in_capacity = b.in_capacity(size);
            c.out_capacity = b.out_capacity(size);
            gate_of[ch as usize] = gates.len() as u32;
        }
        let range = &mut task_gates[task as usize];
        if range.1 == range.0 {
            *range = (gates.len() as u32, gates.len() as u32);
        }
        range.1 += 1;
        if let Some(cfg) = &cfg {
            gates.push(Gate {
                task,
                from_group,
                channels: chans,
                buffers,
                deb: GateDebloater::new(cfg),
                size_sum: 0,
                in_flight_sum: 0,
                in_flight_max: 0,
                announcements: 0,
            });
        }
    }
    let debloat = cfg.map(|cfg| {
        Box::new(DebloatRt {
            cfg,
            gates,
            gate_of,
            task_gates,
            ticks: 0,
        })
    });
    (debloat, overdraft)
}

impl DebloatRt {
    /// `bytes` were taken from channel `ch` at `now`: the gate has data, and counts them.
    #[inline]
    pub(super) fn took(&mut self, ch: ChannelId, bytes: u32, now: Time) {
        if let Some(g) = self.gates.get_mut(self.gate_of[ch as usize] as usize) {
            g.deb.throughput.resume(now);
            g.deb.throughput.incoming(u64::from(bytes));
        }
    }

    /// Data arrived on `ch` at `now`: its gate's measurement runs again.
    #[inline]
    pub(super) fn arrived(&mut self, ch: ChannelId, now: Time) {
        if let Some(g) = self.gates.get_mut(self.gate_of[ch as usize] as usize) {
            g.deb.throughput.resume(now);
        }
    }

    /// `task` looked for input at `now` and found none: its gates are idle.
    #[inline]
    pub(super) fn idle(&mut self, task: TaskId, now: Time) {
        let (a, b) = self.task_gates[task as usize];
        for g in &mut self.gates[a as usize..b as usize] {
            g.deb.throughput.pause(now);
        }
    }

    /// What each gate came to, naming tasks and operators from `topo`.
    fn summaries(&self, topo: &Topology) -> Vec<GateSummary> {
        let ticks = u128::from(self.ticks.max(1));
        self.gates
            .iter()
            .map(|g| GateSummary {
                task: topo.tasks[g.task as usize].name.clone(),
                from: topo.groups[g.from_group as usize].clone(),
                final_size: g.deb.size,
                mean_size: if self.ticks == 0 {
                    g.deb.size
                } else {
                    (g.size_sum / ticks) as u64
                },
                mean_in_flight: (g.in_flight_sum / ticks) as u64,
                max_in_flight: g.in_flight_max,
                announcements: g.announcements,
            })
            .collect()
    }
}

impl Simulation {
    /// Queues the first debloating tick, one period after `now`, if debloating is on.
    pub(super) fn schedule_debloat(&mut self, now: Time) {
        if let Some(d) = &self.debloat {
            let next = (now / d.cfg.period + 1).saturating_mul(d.cfg.period);
            if next <= self.limit {
                self.sched.at(next, Event::DebloatTick);
                self.weak_events += 1;
            }
        }
    }

    /// Every period: each gate recomputes its buffer size and announces it when it moved
    /// enough; the channels of a gate with a new size get budgets at that size, and may send
    /// what the new credit allows.
    pub(super) fn on_debloat_tick(&mut self) {
        self.weak_events -= 1;
        let now = self.sched.now();
        self.schedule_debloat(now);
        let Some(mut d) = self.debloat.take() else {
            return;
        };
        d.ticks += 1;
        let cfg = d.cfg;
        for g in &mut d.gates {
            let size = g.deb.size;
            let mut in_use = 0;
            let mut in_flight = 0;
            for &ch in &g.channels {
                let c = &self.channels[ch as usize];
                let bytes = c.credit_in_use() + c.out_bytes();
                in_use += buffers_for(bytes, size);
                in_flight += bytes;
            }
            g.in_flight_sum += u128::from(in_flight);
            g.in_flight_max = g.in_flight_max.max(in_flight);
            if let Some(new) = g.deb.step(&cfg, now, in_use) {
                g.announcements += 1;
                for (&ch, b) in g.channels.iter().zip(&g.buffers) {
                    let c = &mut self.channels[ch as usize].config;
                    c.in_capacity = b.in_capacity(new);
                    c.out_capacity = b.out_capacity(new);
                    if self.mutant == Some(Mutant::DebloatDropsOnShrink) {
                        self.channels[ch as usize].drop_out_excess(&mut self.pool);
                    }
                    self.pump(ch);
                }
            }
            g.size_sum += u128::from(g.deb.size);
        }
        self.debloat = Some(d);
    }

    /// After a restart the tasks are new: none waits for overdraft buffers, every gate
    /// starts again at the largest size, and the ticks resume on their period.
    pub(super) fn restart_debloat(&mut self, now: Time) {
        if let Some(o) = self.overdraft.as_mut() {
            o.stuck.fill(false);
        }
        let Some(d) = self.debloat.as_mut() else {
            return;
        };
        let cfg = d.cfg;
        for g in &mut d.gates {
            g.deb = GateDebloater::new(&cfg);
            for (&ch, b) in g.channels.iter().zip(&g.buffers) {
                let c = &mut self.channels[ch as usize].config;
                c.in_capacity = b.in_capacity(cfg.max_size);
                c.out_capacity = b.out_capacity(cfg.max_size);
            }
        }
        self.schedule_debloat(now);
    }

    /// After `task` emitted a record: if its outputs took more overdraft buffers on one
    /// output edge than allowed, it waits in the middle of the record (busy, with nothing
    /// scheduled) until its output queues have room.
    pub(super) fn check_overdraft(&mut self, task: TaskId) {
        let Some(o) = self.overdraft.as_deref_mut() else {
            return;
        };
        let t = &mut self.tasks[task as usize];
        if t.full_outputs == 0 || o.stuck[task as usize] {
            return;
        }
        let over = self.topo.tasks[task as usize].outputs.iter().any(|edge| {
            let taken: u64 = edge
                .channels
                .iter()
                .map(|&ch| {
                    let c = &self.channels[ch as usize];
                    buffers_for(c.out_excess(), c.config.out_capacity)
                })
                .sum();
            taken > o.limit
        });
        if over {
            o.stuck[task as usize] = true;
            t.busy = true;
            t.work = super::Work::Idle;
            // The wait counts as back-pressure, ended where back-pressure ends.
            if !t.out_blocked {
                let now = self.sched.now();
                t.out_blocked = true;
                t.blocked_since = now;
                self.trace.record(crate::trace::TraceEvent::BackPressure {
                    t: now,
                    task,
                    on: true,
                });
            }
        }
    }

    /// `task`'s output queues have room again: if it was waiting for overdraft buffers, it
    /// finishes the record and looks for work.
    pub(super) fn release_overdraft(&mut self, task: TaskId) {
        let Some(o) = self.overdraft.as_deref_mut() else {
            return;
        };
        if std::mem::take(&mut o.stuck[task as usize]) {
            self.tasks[task as usize].busy = false;
            self.request_start(task);
        }
    }

    /// What debloating came to per gate; empty when it is off.
    pub(super) fn debloat_summaries(&self) -> Vec<GateSummary> {
        self.debloat
            .as_ref()
            .map_or_else(Vec::new, |d| d.summaries(&self.topo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_has_one_gate_per_upstream_operator() {
        let s = crate::scenario::Scenario::from_json(
            br#"{"duration": "1s",
              "network": {"buffers": {"exclusive_per_channel": 1, "floating_per_gate": 3}},
              "dataflow": {
                "operators": [
                  {"name": "a", "kind": {"source": {"rate": "10/s"}}, "parallelism": 2},
                  {"name": "b", "kind": {"source": {"rate": "10/s"}}},
                  {"name": "j", "kind": {"map": {}}, "parallelism": 2}
                ],
                "edges": [
                  {"from": "a", "to": "j", "partition": "rebalance"},
                  {"from": "b", "to": "j", "partition": "rebalance"}
                ]}}"#,
            "t",
        )
        .expect("valid");
        let topo = Topology::build(&s, 0).expect("builds");
        let gates = gates_of(&topo);
        assert_eq!(
            gates.len(),
            4,
            "two tasks of j, each with an input from a and from b"
        );
        assert_eq!(gates[0].2.len(), 2);
        assert_eq!(gates[1].2.len(), 1);
        let mut channels: Vec<Channel> = topo
            .channels
            .iter()
            .map(|c| Channel::new(c.src, c.dst, c.config))
            .collect();
        let (debloat, overdraft) = setup(&s, &topo, &mut channels, None);
        assert!(debloat.is_none(), "debloating is off");
        assert_eq!(overdraft.expect("the buffer model is on").limit, 5);
        // From a: 1 exclusive + 3 floating over 2 channels (2 and 1); from b: 1 + 3.
        let caps: Vec<u64> = gates[0]
            .2
            .iter()
            .chain(&gates[1].2)
            .map(|&ch| channels[ch as usize].config.in_capacity / (32 * 1024))
            .collect();
        assert_eq!(caps, vec![3, 2, 4]);
        assert_eq!(channels[0].config.out_capacity, 32 * 1024);
    }
}
