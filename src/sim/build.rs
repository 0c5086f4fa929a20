//! Building the world of a scenario, step by step, and queueing its first events.

use std::collections::VecDeque;

use super::runtime::{ActionQueue, ChanRt, TaskRt, Work};
use super::scripts::ScriptStepRt;
use super::{recovery, Counters, Event, Simulation, MIN_LOOP_COST};
use crate::coordinator::{Coordinator, CoordinatorConfig};
use crate::engine::{RngStreams, Scheduler, Time};
use crate::network::{Channel, MessagePool, TaskId};
use crate::protocols::{Mutant, Params, ProtocolKind, TaskProtocol, TaskView};
use crate::scenario::{ProcessWorkload, Scenario, ScenarioError};
use crate::topology::{Role, TaskSpec, Topology};
use crate::trace::{Trace, TraceMode};
use crate::workload::{
    BankState, Behaviour, KeyedState, Labels, ScriptState, SinkState, SourceLog,
};

/// A task's processing cost per record, raised to [`MIN_LOOP_COST`] where zero would let the
/// task spin forever at one instant.
fn min_cost(role: &Role, behaviour: &Behaviour, cost: Time) -> Time {
    let spins = match (role, behaviour) {
        (Role::Source(spec), _) => spec.rate.is_none(),
        (_, Behaviour::Bank(b)) => b.relay,
        _ => false,
    };
    if spins {
        cost.max(MIN_LOOP_COST)
    } else {
        cost
    }
}

/// What building a bank's processes finds out about the bank as a whole.
#[derive(Debug, Default)]
struct BankSetup {
    /// Mean time between a process's transfers (none: only the initial ones).
    transfer_mean: Option<Time>,
    /// The money in the bank at the start (none: not a bank).
    initial_total: Option<i64>,
    /// Transfers every process starts at time zero.
    initial_transfers: u64,
}

/// The scenario's script, if its process graph runs one.
fn script_of(scenario: &Scenario) -> Option<&crate::scenario::ScriptSpec> {
    match scenario.processes.as_ref().map(|p| &p.workload) {
        Some(ProcessWorkload::Script(sc)) => Some(sc),
        _ => None,
    }
}

/// One channel per topology edge, and the simulation's state of each.
fn build_channels(topo: &Topology) -> (Vec<Channel>, Vec<ChanRt>) {
    let mut channels: Vec<Channel> = topo
        .channels
        .iter()
        .map(|c| Channel::new(c.src, c.dst, c.config))
        .collect();
    channels.shrink_to_fit();
    let mut chan_rt: Vec<ChanRt> = (0..channels.len()).map(|_| ChanRt::default()).collect();
    for t in &topo.tasks {
        for (i, &c) in t.inputs.iter().enumerate() {
            chan_rt[c as usize].input_index = i as u32;
        }
    }
    (channels, chan_rt)
}

/// The behaviour of task `id` at time zero.
fn behaviour_of(
    scenario: &Scenario,
    id: usize,
    t: &TaskSpec,
    work_rng: &mut crate::engine::rng::RngStream,
    limit: Time,
    labels: &mut Labels,
    bank: &mut BankSetup,
) -> Behaviour {
    match &t.role {
        Role::Source(spec) => {
            let log_seed = rand::RngCore::next_u64(work_rng);
            Behaviour::Source(SourceLog::new(id as TaskId, spec, log_seed, limit))
        }
        Role::Map => Behaviour::Map,
        Role::KeyedCount(k) | Role::KeyedSum(k) => Behaviour::Keyed {
            state: KeyedState::new(k.state_per_key.bytes()),
            sum: matches!(t.role, Role::KeyedSum(_)),
            output_size: k.output_size.map(|b| b.bytes() as u32),
        },
        Role::Join { spec, left_inputs } => Behaviour::Join {
            state: KeyedState::new(spec.state_per_key.bytes()),
            left_inputs: *left_inputs,
            output_size: spec.output_size.map(|b| b.bytes() as u32),
        },
        Role::Sink(s) => Behaviour::Sink(SinkState {
            records: 0,
            transactional: s.transactional,
        }),
        Role::Process => match scenario.processes.as_ref().map(|p| &p.workload) {
            Some(ProcessWorkload::Bank(b)) => {
                bank.transfer_mean = b.transfer_interval.map(|d| d.ns());
                bank.initial_transfers = b.initial_transfers;
                *bank.initial_total.get_or_insert(0) += b.initial_balance as i64;
                Behaviour::Bank(BankState {
                    balance: b.initial_balance as i64,
                    max_amount: b.max_amount,
                    message_size: b.message_size.bytes() as u32,
                    relay: b.relay,
                    active_until: limit,
                    received: 0,
                    sent: 0,
                    now: 0,
                    neighbours: t.outputs[0].channels.clone(),
                    rng: None,
                })
            }
            Some(ProcessWorkload::Script(sc)) => {
                let initial = sc
                    .initial_states
                    .get(&t.name)
                    .map_or("init", String::as_str);
                let on_receive = sc
                    .on_receive
                    .iter()
                    .filter(|r| r.process == t.name)
                    .map(|r| (labels.intern(&r.message), labels.intern(&r.becomes)))
                    .collect();
                Behaviour::Script(ScriptState {
                    state: labels.intern(initial),
                    on_receive,
                    received: 0,
                })
            }
            None => Behaviour::Map,
        },
    }
}

/// Every task's runtime state at time zero, with its random streams.
fn build_tasks(
    scenario: &Scenario,
    topo: &Topology,
    streams: &RngStreams,
    limit: Time,
    labels: &mut Labels,
    bank: &mut BankSetup,
) -> Vec<TaskRt> {
    let mut tasks = Vec::with_capacity(topo.tasks.len());
    for (id, t) in topo.tasks.iter().enumerate() {
        let mut work_rng = streams.stream(&format!("workload/{}", t.name));
        let behaviour = behaviour_of(scenario, id, t, &mut work_rng, limit, labels, bank);
        tasks.push(TaskRt {
            busy: false,
            work: Work::Idle,
            ready: VecDeque::new(),
            full_outputs: 0,
            out_blocked: false,
            blocked_since: 0,
            backpressure_ns: 0,
            open_inputs: t.inputs.len() as u32,
            ended: false,
            wake_at: None,
            cost: min_cost(&t.role, &behaviour, t.cost),
            net_rng: streams.stream(&format!("network/{}", t.name)),
            work_rng,
            behaviour,
            actions: ActionQueue::default(),
            records_in: 0,
            records_out: 0,
            in_start_queue: false,
            local: Vec::new(),
            paused: false,
            sync_pending: 0,
            log_end: 0,
        });
    }
    // The bank's transfer choices (amount, neighbour) get a stream of their own: a clone of
    // the workload stream, which draws the gaps between transfers, would replay the same
    // numbers and tie each choice to the gap before it.
    for (t, spec) in tasks.iter_mut().zip(&topo.tasks) {
        if let Behaviour::Bank(b) = &mut t.behaviour {
            b.rng = Some(streams.stream(&format!("bank/{}", spec.name)));
        }
    }
    tasks
}

/// One protocol state machine per task (broken as the mutant says, if any).
fn build_protocols(
    topo: &Topology,
    protocol: ProtocolKind,
    params: &Params,
    mutant: Option<Mutant>,
) -> Vec<Box<dyn TaskProtocol>> {
    topo.tasks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let view = TaskView {
                task: i as TaskId,
                now: 0,
                inputs: t.inputs.len(),
                is_source: t.role.is_source(),
                aligned_inputs: topo.aligned_inputs(i as TaskId),
            };
            let inner = protocol.instantiate(&view, params);
            recovery::mutate(inner, mutant)
        })
        .collect()
}

/// Where the coordinator's triggers go: a dataflow job's sources, or the process graph's
/// named initiators (the first process if none are named).
fn initiators_of(topo: &Topology, cp: Option<&crate::scenario::CheckpointingSpec>) -> Vec<TaskId> {
    if topo.is_dataflow {
        (0..topo.tasks.len() as TaskId)
            .filter(|&t| topo.tasks[t as usize].role.is_source())
            .collect()
    } else {
        match cp.and_then(|c| c.initiators.as_ref()) {
            Some(names) => names.iter().filter_map(|n| topo.task_id(n)).collect(),
            None => vec![0],
        }
    }
}

impl Simulation {
    /// Builds the world of a validated scenario for one `seed` and `protocol`.
    pub fn new(
        scenario: &Scenario,
        protocol: ProtocolKind,
        seed: u64,
        mode: TraceMode,
        mutant: Option<Mutant>,
    ) -> Result<Simulation, ScenarioError> {
        let topo = Topology::build(scenario, seed)?;
        protocol
            .check_graph(!topo.is_dataflow)
            .map_err(|why| ScenarioError::new("--protocol", why))?;
        if let Some(c) = &scenario.checkpointing {
            protocol
                .check_concurrency(c.max_concurrent)
                .map_err(|why| ScenarioError::new("--protocol", why))?;
        }
        let streams = RngStreams::new(seed);
        let limit = scenario.duration.ns();
        let mut labels = Labels::default();
        let mut bank = BankSetup::default();
        let (mut channels, chan_rt) = build_channels(&topo);
        let (debloat, overdraft) = super::debloat::setup(scenario, &topo, &mut channels, mutant);
        // Labels are numbered in the order they are first met: the tasks' before the steps'.
        let tasks = build_tasks(scenario, &topo, &streams, limit, &mut labels, &mut bank);
        let script = script_of(scenario)
            .map(|sc| ScriptStepRt::all(sc, &topo, &mut labels))
            .unwrap_or_default();
        let cp = scenario.checkpointing.as_ref();
        let params = cp.map_or_else(
            || Params::resolve(protocol, &|_| None),
            |c| c.params_for(protocol),
        );
        let protocols = build_protocols(&topo, protocol, &params, mutant);
        let announce = protocol.announces(&params);
        let initiators = initiators_of(&topo, cp);
        let mut coord_cfg = CoordinatorConfig::from_spec(cp);
        coord_cfg.apply_mutant(mutant);
        if let Some(most) = protocol.max_concurrent() {
            coord_cfg.max_concurrent = coord_cfg.max_concurrent.min(most);
        }
        let coord = Coordinator::new(coord_cfg, topo.tasks.len());
        let mut sim = Simulation {
            topo,
            channels,
            pool: MessagePool::new(),
            chan_rt,
            tasks,
            protocols,
            protocol,
            trace: Trace::new(mode),
            labels,
            script,
            start_queue: Vec::new(),
            out_buf: Vec::new(),
            cmd_buf: Vec::new(),
            counters: Counters {
                bucket_ns: (limit / 100).max(1),
                ..Counters::default()
            },
            limit,
            transfer_mean: bank.transfer_mean,
            initial_total: bank.initial_total,
            sched: Scheduler::new(),
            coord,
            initiators,
            pending_aborts: VecDeque::new(),
            in_aborts: false,
            weak_events: 0,
            plan: crate::failure::FailurePlan::default(),
            down: false,
            failure_log: Vec::new(),
            causes: Vec::new(),
            recoveries: 0,
            initial_behaviours: Vec::new(),
            offsets_at_crash: Vec::new(),
            mutant,
            script_times: Vec::new(),
            params,
            final_done: false,
            final_given_up: false,
            ended_tasks: 0,
            final_id: None,
            handled: 0,
            max_events: u64::MAX,
            next_crash: 0,
            timed_cause: None,
            planned_crashes: std::collections::BTreeMap::new(),
            unfired: Vec::new(),
            stall_order: Vec::new(),
            stalls_begun: Vec::new(),
            stall_chain: None,
            script_order: Vec::new(),
            script_chain: None,
            unresolved_failures: 0,
            debloat,
            overdraft,
            rec: Default::default(),
            announce,
            announced: Vec::new(),
        };
        sim.prepare_recovery(scenario, seed);
        sim.schedule_initial(scenario, bank.initial_transfers);
        Ok(sim)
    }

    /// Keeps what a restart needs (the behaviours at time zero, the scripted steps' times)
    /// and queues the scenario's planned failures.
    fn prepare_recovery(&mut self, scenario: &Scenario, seed: u64) {
        self.initial_behaviours = self.tasks.iter().map(|t| t.behaviour.clone()).collect();
        if let Some(sc) = script_of(scenario) {
            self.script_times = sc.steps.iter().map(|st| st.at.ns()).collect();
        }
        let mut order: Vec<u32> = (0..self.script_times.len() as u32).collect();
        order.sort_by_key(|&i| self.script_times[i as usize]);
        self.script_order = order;
        self.plan = crate::failure::FailurePlan::new(scenario, &self.topo, seed);
        self.rec =
            super::restarts::RecoveryRt::new(scenario, seed, self.tasks.len(), self.channels.len());
        let mut order: Vec<u32> = (0..self.plan.stalls.len() as u32).collect();
        order.sort_by_key(|&i| self.plan.stalls[i as usize].at);
        self.stall_order = order;
        self.stalls_begun = vec![false; self.plan.stalls.len()];
        self.schedule_failures(true);
    }

    /// Queues the first checkpoint trigger, the scripted steps and the banks' transfers, and
    /// lets every task look for work.
    fn schedule_initial(&mut self, scenario: &Scenario, initial_transfers: u64) {
        if self.protocol.takes_snapshots() {
            if let Some(interval) = self.coord.config().interval {
                if interval <= self.limit {
                    self.sched.at(interval, Event::CheckpointTimer);
                    self.weak_events += 1;
                }
            }
        }
        self.schedule_debloat(0);
        if let Some(sc) = script_of(scenario) {
            // Steps run in time order, ties in file order (the queue's sequence numbers).
            let mut order: Vec<usize> = (0..sc.steps.len()).collect();
            order.sort_by_key(|&i| sc.steps[i].at.ns());
            for i in order {
                self.sched.at(sc.steps[i].at.ns(), Event::Script(i as u32));
            }
        }
        for id in 0..self.tasks.len() {
            let task = id as TaskId;
            if matches!(self.tasks[id].behaviour, Behaviour::Bank(_)) {
                self.tasks[id]
                    .actions
                    .push_initial_transfers(initial_transfers);
                self.schedule_transfer_timer(task);
            }
            self.request_start(task);
        }
        self.drain_starts();
    }

    /// Sets the run's budget of events: once it has handled this many, the run stops and
    /// [`RunOutput::over_budget`] says so.
    pub fn set_max_events(&mut self, max_events: u64) {
        self.max_events = max_events;
    }

    /// Gives every source exactly the records of `log_ends` (by task: how many records that
    /// source read in another run) and no time limit, so that a reference run reads the same
    /// logs as the run it is compared with.
    pub fn read_exactly(&mut self, log_ends: &[u64]) {
        for (t, &end) in self.tasks.iter_mut().zip(log_ends) {
            if let Behaviour::Source(log) = &mut t.behaviour {
                log.len = log.len.min(end);
                log.stop_at = Time::MAX;
            }
        }
        for (b, &end) in self.initial_behaviours.iter_mut().zip(log_ends) {
            if let Behaviour::Source(log) = b {
                log.len = log.len.min(end);
                log.stop_at = Time::MAX;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::RngCore;

    use super::*;

    #[test]
    fn the_bank_draws_from_a_stream_of_its_own() {
        let bytes = include_bytes!("../../scenarios/bank.json");
        let scenario = Scenario::from_json(bytes, "bank").unwrap();
        let sim = Simulation::new(
            &scenario,
            ProtocolKind::baseline(),
            1,
            TraceMode::HashOnly,
            None,
        )
        .unwrap();
        let streams = RngStreams::new(1);
        let draws = |mut rng: crate::engine::RngStream| -> Vec<u64> {
            (0..4).map(|_| rng.next_u64()).collect()
        };
        let mut banks = 0;
        for (t, spec) in sim.tasks.iter().zip(&sim.topo.tasks) {
            let Behaviour::Bank(b) = &t.behaviour else {
                continue;
            };
            banks += 1;
            let bank = draws(b.rng.clone().unwrap());
            assert_eq!(bank, draws(streams.stream(&format!("bank/{}", spec.name))));
            assert_ne!(
                bank,
                draws(streams.stream(&format!("workload/{}", spec.name))),
                "the bank replays the workload stream"
            );
        }
        assert!(banks > 0);
    }
}
