//! The simulated world: tasks and channels driven by the engine.
//!
//! This is the [`Model`] the engine runs. It owns the channels, the tasks' runtime state and
//! their behaviours, and one protocol state machine per task. It decides what a task does
//! next, routes what behaviours emit, applies the commands protocols return, and records
//! everything that happens in the [`Trace`].
//!
//! A task does one thing at a time. Taking a message out of an input queue returns its credit
//! at once; the message's effect (state change, outputs) happens when its processing cost has
//! elapsed, atomically, so no snapshot can fall between a record's state change and its
//! outputs. Before a task starts new work it checks that none of its output queues is full:
//! a full one stops it, which is how back-pressure travels upstream.

mod recovery;
mod run;

pub use run::{RunOutput, TaskSummary};

use std::collections::VecDeque;

use crate::coordinator::{AbortReason, Coordinator, CoordinatorConfig};
use crate::engine::rng::RngStream;
use crate::engine::{Model, RngStreams, Scheduler, Time};
use crate::network::{Channel, ChannelId, Message, MessagePool, MsgKind, TaskId};
use crate::protocols::{Command, Control, Params, ProtocolKind, TaskProtocol, TaskView};
use crate::scenario::{Partition, ProcessWorkload, Scenario, ScenarioError};
use crate::snapshot::LocalSnapshot;
use crate::topology::{Role, Topology};
use crate::trace::{Trace, TraceEvent, TraceMode};
use crate::workload::{
    BankState, Behaviour, KeyedState, Labels, ScriptState, SinkState, SourceLog, Target,
};

/// The engine's events. Everything else is a consequence of one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The head message on a channel's wire reaches the receiver.
    Arrive(ChannelId),
    /// A task finishes its current piece of work.
    Done(TaskId),
    /// A source's next record becomes due.
    Wake(TaskId),
    /// A bank process's transfer timer fires.
    Timer(TaskId),
    /// A scripted step (index into the script) happens.
    Script(u32),
    /// The coordinator's periodic checkpoint trigger.
    CheckpointTimer,
    /// A trigger that had to wait (for `min_pause` or a free slot) may go now.
    DeferredTrigger,
    /// A task's upload of its part of a checkpoint finished.
    UploadDone(TaskId, u64),
    /// A checkpoint's timeout passed.
    Expire(u64),
    /// A protocol's timer at a task.
    ProtocolTimer(TaskId, u64),
    /// The job crashes; the number indexes the list of causes.
    Crash(u32),
    /// The restart delay after a crash has passed: restore and resume.
    Restart,
    /// A link stall (index into the failure plan) begins.
    Stall(u32),
}

/// Size of a control message on the wire (Flink's barrier is a few dozen bytes).
pub const CONTROL_BYTES: u32 = 32;

/// The least processing cost of work that could otherwise repeat forever at one instant: a
/// source without a `rate` reads at most one record per nanosecond, and a relaying bank
/// process passes a transfer on at least a nanosecond after it arrived. Without it a zero
/// cost (and zero latency) would let simulated time stand still while work never ends.
pub const MIN_LOOP_COST: Time = 1;

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

/// Something a task does on its own rather than in response to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Start snapshot `id` here.
    Initiate(u64),
    /// Run scripted step `i` (send and/or change state).
    Script(u32),
    /// Start a bank transfer.
    Transfer,
    /// Deliver a protocol timer (at a work boundary, never in the middle of a record).
    Timer(u64),
}

/// A task's queue of actions. A bank's initial transfers are a count rather than queued
/// entries: a million of them at time zero would otherwise take 16 bytes each at the peak.
/// The count sits where the entries would: after anything pushed to the front since, before
/// anything pushed to the back.
#[derive(Debug, Default)]
struct ActionQueue {
    queue: VecDeque<Action>,
    /// Entries at the front of `queue` that come before the initial transfers.
    ahead: usize,
    /// Initial transfers still to run.
    transfers: u64,
}

impl ActionQueue {
    fn push_initial_transfers(&mut self, n: u64) {
        debug_assert!(self.queue.is_empty() && self.transfers == 0);
        self.transfers += n;
    }

    #[inline]
    fn push_back(&mut self, a: Action) {
        self.queue.push_back(a);
    }

    fn push_front(&mut self, a: Action) {
        self.queue.push_front(a);
        if self.transfers > 0 {
            self.ahead += 1;
        }
    }

    #[inline]
    fn front(&self) -> Option<Action> {
        if self.ahead == 0 && self.transfers > 0 {
            Some(Action::Transfer)
        } else {
            self.queue.front().copied()
        }
    }

    #[inline]
    fn pop_front(&mut self) -> Option<Action> {
        if self.ahead > 0 {
            self.ahead -= 1;
            self.queue.pop_front()
        } else if self.transfers > 0 {
            self.transfers -= 1;
            Some(Action::Transfer)
        } else {
            self.queue.pop_front()
        }
    }

    fn clear(&mut self) {
        *self = ActionQueue::default();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    Idle,
    /// Processing the message in this pooled record, taken from this channel.
    Input(ChannelId, u32),
    SourceRecord(u64),
    Action(Action),
}

/// Per-channel state of the simulation that is not the channel's own.
#[derive(Debug, Clone, Default)]
struct ChanRt {
    /// The channel is in its receiver's ready queue.
    in_ready: bool,
    /// The receiver's protocol has blocked this input.
    blocked: bool,
    /// The sender's output queue is full (as last counted).
    full: bool,
    /// Index of this channel among its receiver's inputs.
    input_index: u32,
    /// Snapshots recording what arrives on this channel.
    recording: Vec<u64>,
    /// (snapshot id, data messages overtaken) of the last priority control message taken.
    last_priority: Option<(u64, u64)>,
    /// The receiver has taken this channel's end of input.
    eof_taken: bool,
}

struct TaskRt {
    busy: bool,
    work: Work,
    /// Inputs with queued messages, in the order they became ready (round-robin).
    ready: VecDeque<ChannelId>,
    /// Output channels whose queue is full; the task may not start work while above zero.
    full_outputs: u32,
    out_blocked: bool,
    blocked_since: Time,
    backpressure_ns: Time,
    open_inputs: u32,
    ended: bool,
    wake_at: Option<Time>,
    cost: Time,
    net_rng: RngStream,
    work_rng: RngStream,
    behaviour: Behaviour,
    actions: ActionQueue,
    records_in: u64,
    records_out: u64,
    in_start_queue: bool,
    /// Local snapshots taken and not yet acknowledged.
    local: Vec<LocalSnapshot>,
    /// A halted source (stop-the-world).
    paused: bool,
    /// Synchronous snapshot time still to spend before the next piece of work.
    sync_pending: Time,
    /// For a source: one past the highest offset it ever read. Records below it are replayed
    /// after a recovery whatever the time; records at or above it are new and are read only
    /// before the source's stop time. Not part of the snapshot: recovery keeps it.
    log_end: u64,
}

/// Run-wide counters the summary reports.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Records read by sources.
    pub source_records: u64,
    /// Records written by sinks.
    pub sink_records: u64,
    /// Data messages sent on any channel.
    pub data_messages: u64,
    /// Control messages sent on any channel.
    pub control_messages: u64,
    /// End-to-end latency of every record that reached a sink.
    pub latencies: Vec<Time>,
    /// Width of a timeline bucket: a hundredth of the scenario's duration, doubled as often
    /// as needed to keep a long run within [`MAX_BUCKETS`] buckets.
    pub bucket_ns: Time,
    /// Records written by sinks, per bucket.
    pub timeline_out: Vec<u64>,
    /// Task-nanoseconds spent back-pressured, per bucket.
    pub timeline_bp: Vec<u64>,
    /// When a source first read a record (the start of the job's active time).
    pub first_read_ns: Option<Time>,
    /// When a sink last wrote a record (the end of the job's active time).
    pub last_output_ns: Time,
}

/// The most buckets a timeline holds: a run longer than twice its scenario's duration gets
/// wider buckets rather than more, so the results file grows with the work done, not with
/// simulated time.
pub const MAX_BUCKETS: usize = 200;

impl Counters {
    /// The bucket of time `t`, widening every bucket (merging neighbours in pairs) until
    /// it is one of the first [`MAX_BUCKETS`].
    pub fn bucket(&mut self, t: Time) -> usize {
        let w = self.bucket_ns.max(1);
        if t / w < MAX_BUCKETS as Time {
            return (t / w) as usize;
        }
        let mut w = w;
        while t / w >= MAX_BUCKETS as Time {
            w = w.saturating_mul(2);
            for v in [&mut self.timeline_out, &mut self.timeline_bp] {
                let merged: Vec<u64> = v.chunks(2).map(|c| c.iter().sum()).collect();
                *v = merged;
            }
        }
        self.bucket_ns = w;
        (t / w) as usize
    }

    /// Counts one record written by a sink at `t`.
    pub fn add_output(&mut self, t: Time) {
        let b = self.bucket(t);
        if self.timeline_out.len() <= b {
            self.timeline_out.resize(b + 1, 0);
        }
        self.timeline_out[b] += 1;
        self.last_output_ns = t;
    }

    /// Spreads a back-pressured interval over the timeline buckets it covers.
    pub fn add_backpressure(&mut self, from: Time, to: Time) {
        if to > from {
            self.bucket(to - 1);
        }
        let w = self.bucket_ns.max(1);
        let mut t = from;
        while t < to {
            let b = (t / w) as usize;
            let end = ((b as Time + 1) * w).min(to);
            if self.timeline_bp.len() <= b {
                self.timeline_bp.resize(b + 1, 0);
            }
            self.timeline_bp[b] += end - t;
            t = end;
        }
    }
}

struct ScriptStepRt {
    task: TaskId,
    initiate: Option<u64>,
    send: Option<(TaskId, u32, Option<Time>)>,
    becomes: Option<u32>,
}

/// A simulation ready to run.
pub struct Simulation {
    topo: Topology,
    channels: Vec<Channel>,
    /// Where every queued message lives.
    pool: MessagePool,
    chan_rt: Vec<ChanRt>,
    tasks: Vec<TaskRt>,
    protocols: Vec<Box<dyn TaskProtocol>>,
    protocol: ProtocolKind,
    trace: Trace,
    labels: Labels,
    script: Vec<ScriptStepRt>,
    /// Tasks to look at once the current event's effects are applied, in request order; a
    /// vector read front to back and cleared when done (cheaper than a ring buffer).
    start_queue: Vec<TaskId>,
    out_buf: Vec<(Target, Message)>,
    cmd_buf: Vec<Command>,
    counters: Counters,
    limit: Time,
    transfer_mean: Option<Time>,
    initial_total: Option<i64>,
    sched: Scheduler<Event>,
    coord: Coordinator,
    /// Where the coordinator's triggers go: the sources, or a process graph's initiators.
    initiators: Vec<TaskId>,
    pending_aborts: VecDeque<(u64, AbortReason)>,
    in_aborts: bool,
    /// Queued events that must not keep a finished run alive (checkpoint expiries).
    weak_events: usize,
    /// The scenario's faults.
    plan: crate::failure::FailurePlan,
    /// Between a crash and the restart: nothing runs.
    down: bool,
    /// Every failure so far.
    failure_log: Vec<crate::failure::FailureRecord>,
    /// Causes of crashes, indexed by `Event::Crash`.
    causes: Vec<String>,
    /// Recoveries started so far.
    recoveries: u32,
    /// Each task's behaviour at time zero, restored when no checkpoint has completed.
    initial_behaviours: Vec<Behaviour>,
    /// Each source's read position when the job crashed, for the replayed-records count.
    offsets_at_crash: Vec<u64>,
    /// The deliberately broken variant being run, if any.
    mutant: Option<crate::mutant::Mutant>,
    /// The scenario's scripted step times, to re-schedule after a crash.
    script_times: Vec<Time>,
    /// The protocol's parameters, to make fresh protocol instances after a restart.
    params: Params,
    /// A checkpoint holding every task's final state has completed.
    final_done: bool,
    /// The final checkpoint expired: it would expire again (the same states, the same
    /// uploads), so the job ends without it.
    final_given_up: bool,
    /// Tasks that have finished (sent their end of input).
    ended_tasks: usize,
    /// The last final checkpoint triggered.
    final_id: Option<u64>,
    /// Events handled so far, against `max_events`.
    handled: u64,
    /// The run's budget of events; past it the run stops and says so.
    max_events: u64,
    /// The next of the plan's timed crashes to fire.
    next_crash: usize,
    /// The cause of the queued timed crash, if one is queued.
    timed_cause: Option<u32>,
    /// Queued crashes of one-shot planned failures, by cause: (failure, due time).
    planned_crashes: std::collections::BTreeMap<u32, (usize, Time)>,
    /// Planned failures that did not happen, and why, as found during the run.
    unfired: Vec<(usize, crate::failure::UnfiredFailure)>,
    /// Stalls in time order (ties in file order).
    stall_order: Vec<u32>,
    /// Which stalls have begun (or are known never to).
    stalls_begun: Vec<bool>,
    /// After a crash: the position in `stall_order` of the next stall to queue.
    stall_chain: Option<usize>,
    /// Scripted steps in time order (ties in file order).
    script_order: Vec<u32>,
    /// After a crash: the position in `script_order` of the queued scripted step.
    script_chain: Option<usize>,
    /// The first failure record not yet ended by a restart.
    unresolved_failures: usize,
}

impl Simulation {
    /// Builds the world of a validated scenario for one `seed` and `protocol`.
    pub fn new(
        scenario: &Scenario,
        protocol: ProtocolKind,
        seed: u64,
        mode: TraceMode,
        mutant: Option<crate::mutant::Mutant>,
    ) -> Result<Simulation, ScenarioError> {
        let topo = Topology::build(scenario, seed)?;
        protocol
            .check_graph(!topo.is_dataflow)
            .map_err(|why| ScenarioError::new("--protocol", why))?;
        let streams = RngStreams::new(seed);
        let limit = scenario.duration.ns();
        let mut labels = Labels::default();
        let mut transfer_mean = None;
        let mut initial_total = None;
        let mut initial_transfers = 0;

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

        let mut tasks = Vec::with_capacity(topo.tasks.len());
        for (id, t) in topo.tasks.iter().enumerate() {
            let mut work_rng = streams.stream(&format!("workload/{}", t.name));
            let behaviour = match &t.role {
                Role::Source(spec) => {
                    let log_seed = rand::RngCore::next_u64(&mut work_rng);
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
                        transfer_mean = b.transfer_interval.map(|d| d.ns());
                        initial_transfers = b.initial_transfers;
                        *initial_total.get_or_insert(0) += b.initial_balance as i64;
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
            };
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
        // The bank's neighbour choices come from the task's workload stream.
        for t in tasks.iter_mut() {
            if let Behaviour::Bank(b) = &mut t.behaviour {
                b.rng = Some(t.work_rng.clone());
            }
        }

        let mut script = Vec::new();
        if let Some(ProcessWorkload::Script(sc)) = scenario.processes.as_ref().map(|p| &p.workload)
        {
            let ids: std::collections::BTreeMap<&str, TaskId> = topo
                .tasks
                .iter()
                .enumerate()
                .map(|(i, t)| (t.name.as_str(), i as TaskId))
                .collect();
            for st in &sc.steps {
                let task = *ids.get(st.process.as_str()).expect("validated");
                script.push(ScriptStepRt {
                    task,
                    initiate: st.initiate_snapshot,
                    send: st.send.as_ref().map(|s| {
                        (
                            *ids.get(s.to.as_str()).expect("validated"),
                            labels.intern(&s.message),
                            s.latency.map(|d| d.ns()),
                        )
                    }),
                    becomes: st.becomes.as_deref().map(|b| labels.intern(b)),
                });
            }
        }

        let cp = scenario.checkpointing.as_ref();
        let params = cp.map_or_else(
            || Params::resolve(protocol, &|_| None),
            |c| c.params_for(protocol),
        );
        let protocols = topo
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let view = TaskView {
                    task: i as TaskId,
                    now: 0,
                    inputs: t.inputs.len(),
                    is_source: t.role.is_source(),
                };
                let inner = protocol.instantiate(&view, &params);
                recovery::mutate(inner, mutant)
            })
            .collect();
        let initiators: Vec<TaskId> = if topo.is_dataflow {
            (0..topo.tasks.len() as TaskId)
                .filter(|&t| topo.tasks[t as usize].role.is_source())
                .collect()
        } else {
            match cp.and_then(|c| c.initiators.as_ref()) {
                Some(names) => names.iter().filter_map(|n| topo.task_id(n)).collect(),
                None => vec![0],
            }
        };
        let mut coord_cfg = CoordinatorConfig::from_spec(cp);
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
            transfer_mean,
            initial_total,
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
        };
        sim.initial_behaviours = sim.tasks.iter().map(|t| t.behaviour.clone()).collect();
        if let Some(ProcessWorkload::Script(sc)) = scenario.processes.as_ref().map(|p| &p.workload)
        {
            sim.script_times = sc.steps.iter().map(|st| st.at.ns()).collect();
        }
        let mut order: Vec<u32> = (0..sim.script_times.len() as u32).collect();
        order.sort_by_key(|&i| sim.script_times[i as usize]);
        sim.script_order = order;
        sim.plan = crate::failure::FailurePlan::new(scenario, &sim.topo, seed);
        let mut order: Vec<u32> = (0..sim.plan.stalls.len() as u32).collect();
        order.sort_by_key(|&i| sim.plan.stalls[i as usize].at);
        sim.stall_order = order;
        sim.stalls_begun = vec![false; sim.plan.stalls.len()];
        sim.schedule_failures(true);
        if protocol.takes_snapshots() {
            if let Some(interval) = sim.coord.config().interval {
                if interval <= limit {
                    sim.sched.at(interval, Event::CheckpointTimer);
                    sim.weak_events += 1;
                }
            }
        }
        sim.schedule_initial(scenario, initial_transfers);
        Ok(sim)
    }

    fn schedule_initial(&mut self, scenario: &Scenario, initial_transfers: u64) {
        if let Some(ProcessWorkload::Script(sc)) = scenario.processes.as_ref().map(|p| &p.workload)
        {
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

    /// The job is over: every task of a dataflow job has finished and, with checkpoints,
    /// the final checkpoint has completed (or expired, and would expire again).
    fn job_done(&self) -> bool {
        self.topo.is_dataflow
            && self.ended_tasks == self.tasks.len()
            && (!self.protocol.takes_snapshots() || self.final_done || self.final_given_up)
    }

    /// After a crash a scripted step queues the next one when it comes up.
    fn next_chained_script(&mut self, _step: u32) {
        if let Some(pos) = self.script_chain {
            self.script_chain = Some(pos + 1);
            self.schedule_chained_script();
        }
    }

    fn over_budget(&self) -> bool {
        self.handled >= self.max_events
    }

    /// The trace (its hash, and its events in full mode).
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Mutable access to the trace, to attach an observer before running.
    pub fn trace_mut(&mut self) -> &mut Trace {
        &mut self.trace
    }

    /// The expanded topology.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// The protocol in use.
    pub fn protocol(&self) -> ProtocolKind {
        self.protocol
    }

    fn view(&self, task: TaskId) -> TaskView {
        TaskView {
            task,
            now: self.sched.now(),
            inputs: self.topo.tasks[task as usize].inputs.len(),
            is_source: self.topo.tasks[task as usize].role.is_source(),
        }
    }

    // ----- scheduling helpers -------------------------------------------------------------

    /// Queues `task` to look for new work once the current event's effects are applied. A
    /// work list instead of recursion keeps long back-pressure cascades off the call stack.
    #[inline]
    fn request_start(&mut self, task: TaskId) {
        let t = &mut self.tasks[task as usize];
        if !t.in_start_queue {
            t.in_start_queue = true;
            self.start_queue.push(task);
        }
    }

    fn drain_starts(&mut self) {
        let mut next = 0;
        while let Some(&task) = self.start_queue.get(next) {
            next += 1;
            self.tasks[task as usize].in_start_queue = false;
            self.try_start(task);
        }
        self.start_queue.clear();
    }

    fn schedule_transfer_timer(&mut self, task: TaskId) {
        let Some(mean) = self.transfer_mean else {
            return;
        };
        let t = &mut self.tasks[task as usize];
        let gap = crate::engine::rng::exponential(&mut t.work_rng, mean).max(1);
        let at = self.sched.now().saturating_add(gap);
        if at <= self.limit {
            self.sched.at(at, Event::Timer(task));
        }
    }

    fn ensure_arrival(&mut self, ch: ChannelId) {
        let c = &mut self.channels[ch as usize];
        if let Some(t) = c.next_arrival() {
            if c.scheduled_arrival().is_none_or(|s| t < s) {
                c.set_scheduled_arrival(Some(t));
                self.sched.at(t, Event::Arrive(ch));
            }
        }
    }

    /// Recounts whether `ch`'s output queue is full and updates its sender.
    #[inline]
    fn sync_full(&mut self, ch: ChannelId) {
        let full = self.channels[ch as usize].out_full();
        let cr = &mut self.chan_rt[ch as usize];
        if full == cr.full {
            return;
        }
        cr.full = full;
        let src = self.channels[ch as usize].src;
        let t = &mut self.tasks[src as usize];
        if full {
            t.full_outputs += 1;
        } else {
            t.full_outputs -= 1;
            if t.full_outputs == 0 && t.out_blocked {
                t.out_blocked = false;
                t.backpressure_ns += self.sched.now() - t.blocked_since;
                let since = t.blocked_since;
                self.counters.add_backpressure(since, self.sched.now());
                self.trace.record(TraceEvent::BackPressure {
                    t: self.sched.now(),
                    task: src,
                    on: false,
                });
                self.request_start(src);
            }
        }
    }

    fn pump(&mut self, ch: ChannelId) {
        if self.channels[ch as usize].out_queue_len() == 0 {
            // Nothing waits to go on the wire, and the queue was already counted as not full.
            return;
        }
        let src = self.channels[ch as usize].src as usize;
        let now = self.sched.now();
        let moved = self.channels[ch as usize]
            .pump(&mut self.pool, now, &mut self.tasks[src].net_rng)
            .moved;
        if moved > 0 {
            self.ensure_arrival(ch);
        }
        self.sync_full(ch);
    }

    fn send(&mut self, ch: ChannelId, msg: &Message, latency: Option<Time>) {
        let c = &mut self.channels[ch as usize];
        let now = self.sched.now();
        let rng = &mut self.tasks[c.src as usize].net_rng;
        let (seq, moved, queued) = c.send_and_pump(&mut self.pool, msg, latency, now, rng);
        if msg.is_data() {
            self.counters.data_messages += 1;
        } else {
            self.counters.control_messages += 1;
        }
        self.trace.record(TraceEvent::Send {
            t: self.sched.now(),
            ch,
            seq,
            bytes: msg.bytes,
            kind: msg.kind as u8,
            tag: msg.tag,
            num: msg.num,
        });
        if moved > 0 {
            self.ensure_arrival(ch);
        }
        if queued {
            self.sync_full(ch);
        }
    }

    /// Sends what a behaviour emitted, routing `Target::Route` through every output edge.
    fn emit_all(&mut self, task: TaskId) {
        let mut out = std::mem::take(&mut self.out_buf);
        // By reference: copying each 64-byte message out of the buffer cost more than the
        // rest of the loop.
        for (target, msg) in &out {
            match *target {
                Target::Channel(ch) => self.send(ch, msg, None),
                Target::Route => {
                    for e in 0..self.topo.tasks[task as usize].outputs.len() {
                        let edge = &self.topo.tasks[task as usize].outputs[e];
                        let n = edge.channels.len();
                        match edge.partition {
                            Partition::Broadcast => {
                                for i in 0..n {
                                    let ch = self.topo.tasks[task as usize].outputs[e].channels[i];
                                    self.send(ch, msg, None);
                                }
                            }
                            Partition::Forward => {
                                let ch = edge.channels[0];
                                self.send(ch, msg, None);
                            }
                            Partition::Hash => {
                                let ch = edge.channels[(msg.num % n as u64) as usize];
                                self.send(ch, msg, None);
                            }
                            Partition::Rebalance => {
                                // Round-robin by the task's output count keeps it stateless.
                                let i = (self.tasks[task as usize].records_out % n as u64) as usize;
                                let ch = edge.channels[i];
                                self.send(ch, msg, None);
                            }
                        }
                    }
                    self.tasks[task as usize].records_out += 1;
                }
            }
        }
        out.clear();
        self.out_buf = out;
    }

    fn broadcast_control(&mut self, task: TaskId, msg: Message) {
        // Nothing follows an end of input on a channel.
        if self.tasks[task as usize].ended {
            return;
        }
        for e in 0..self.topo.tasks[task as usize].outputs.len() {
            for i in 0..self.topo.tasks[task as usize].outputs[e].channels.len() {
                let ch = self.topo.tasks[task as usize].outputs[e].channels[i];
                self.send(ch, &msg, None);
            }
        }
    }

    /// Runs a protocol handler at `task` and applies the commands it returns.
    fn with_protocol(
        &mut self,
        task: TaskId,
        f: impl FnOnce(&mut dyn TaskProtocol, &TaskView, &mut Vec<Command>),
    ) {
        let view = self.view(task);
        let mut cmds = std::mem::take(&mut self.cmd_buf);
        f(self.protocols[task as usize].as_mut(), &view, &mut cmds);
        self.apply_commands(task, &mut cmds);
        self.cmd_buf = cmds;
    }

    fn apply_commands(&mut self, task: TaskId, cmds: &mut Vec<Command>) {
        let now = self.sched.now();
        for cmd in cmds.drain(..) {
            match cmd {
                Command::Snapshot {
                    id,
                    overtake_outputs,
                    aligning_since,
                } => self.take_local_snapshot(task, id, overtake_outputs, aligning_since),
                Command::Broadcast { tag, id, priority } => {
                    let mut msg = Message::control(tag, id, CONTROL_BYTES, priority);
                    msg.created_at = self.coord.trigger_time(id);
                    self.broadcast_control(task, msg);
                }
                Command::Record { input, id } => self.start_recording(task, input, id),
                Command::Block(input) => {
                    let ch = self.topo.tasks[task as usize].inputs[input];
                    self.chan_rt[ch as usize].blocked = true;
                }
                Command::UnblockAll => self.unblock_all(task),
                Command::Ack { id } => self.acknowledge(task, id),
                Command::Decline { id, reason } => {
                    self.pending_aborts.push_back((id, reason.into()))
                }
                Command::SetTimer { at, token } => {
                    self.sched
                        .at(at.max(now), Event::ProtocolTimer(task, token));
                }
                Command::PauseSource => self.tasks[task as usize].paused = true,
            }
        }
        self.process_aborts();
    }

    fn unblock_all(&mut self, task: TaskId) {
        for i in 0..self.topo.tasks[task as usize].inputs.len() {
            let ch = self.topo.tasks[task as usize].inputs[i];
            let cr = &mut self.chan_rt[ch as usize];
            if cr.blocked {
                cr.blocked = false;
                if !cr.in_ready && self.channels[ch as usize].inbox_len() > 0 {
                    cr.in_ready = true;
                    self.tasks[task as usize].ready.push_back(ch);
                }
            }
        }
        self.request_start(task);
    }

    /// Records the task's state (its real content) for snapshot `id`.
    fn take_local_snapshot(
        &mut self,
        task: TaskId,
        id: u64,
        overtake_outputs: bool,
        aligning_since: Time,
    ) {
        let now = self.sched.now();
        let ti = task as usize;
        let spec = &self.topo.tasks[ti];
        let held_back_bytes = spec
            .inputs
            .iter()
            .filter(|&&c| self.chan_rt[c as usize].blocked)
            .map(|&c| self.channels[c as usize].buffered_bytes(&self.pool).2)
            .sum();
        let mut output_state = Vec::new();
        if overtake_outputs {
            for edge in &spec.outputs {
                for &ch in &edge.channels {
                    let data: Vec<Message> = self.channels[ch as usize]
                        .out_queue(&self.pool)
                        .filter(|m| m.is_data())
                        .collect();
                    if !data.is_empty() {
                        output_state.push((ch, data));
                    }
                }
            }
        }
        let sent = spec
            .outputs
            .iter()
            .flat_map(|e| e.channels.iter())
            .map(|&c| (c, self.channels[c as usize].sent()))
            .collect();
        let closed_inputs = spec
            .inputs
            .iter()
            .map(|&c| self.chan_rt[c as usize].eof_taken)
            .collect();
        let ended = self.tasks[ti].ended;
        let state = self.tasks[ti].behaviour.clone();
        let state_bytes = state.state_bytes();
        if self.is_transactional_sink(task) {
            // Two-phase commit: the open transaction is pre-committed with the snapshot.
            self.trace
                .record(TraceEvent::SinkPrecommit { t: now, task, id });
            if self.mutant == Some(crate::mutant::Mutant::SinkEarlyCommit) {
                self.trace
                    .record(TraceEvent::SinkCommit { t: now, task, id });
            }
        }
        self.trace.record(TraceEvent::LocalSnapshot {
            t: now,
            task,
            id,
            bytes: state_bytes,
        });
        let t = &mut self.tasks[ti];
        t.local.retain(|l| l.id != id);
        t.local.push(LocalSnapshot {
            task,
            id,
            taken_at: now,
            state,
            state_bytes,
            input_state: Vec::new(),
            output_state,
            aligning_since,
            held_back_bytes,
            acked_at: 0,
            sent,
            closed_inputs,
            ended,
        });
        t.sync_pending += self.coord.config().sync_copy;
    }

    /// Starts recording input `input` of `task` for snapshot `id`: what is queued now, up to
    /// the snapshot's own control message, and then what arrives until that message arrives.
    fn start_recording(&mut self, task: TaskId, input: usize, id: u64) {
        let ch = self.topo.tasks[task as usize].inputs[input];
        let cr = &mut self.chan_rt[ch as usize];
        let c = &self.channels[ch as usize];
        let mut recorded = Vec::new();
        let mut done = false;
        if let Some((pid, overtaken)) = cr.last_priority {
            if pid == id {
                // The barrier just taken from this input jumped over exactly these.
                recorded.extend(
                    c.inbox(&self.pool)
                        .filter(|m| m.is_data())
                        .take(overtaken as usize),
                );
                done = true;
            }
        }
        if !done {
            let mut inbox = c.inbox(&self.pool);
            while let Some(m) = inbox.next() {
                if m.kind == MsgKind::Control && m.num == id {
                    if m.priority {
                        recorded.clear();
                        let k = m.value as usize;
                        recorded.extend(inbox.by_ref().filter(|m| m.is_data()).take(k));
                    }
                    done = true;
                    break;
                }
                if m.is_data() {
                    recorded.push(m);
                }
            }
        }
        if !done && !cr.recording.contains(&id) {
            cr.recording.push(id);
        }
        if let Some(local) = self.tasks[task as usize]
            .local
            .iter_mut()
            .find(|l| l.id == id)
        {
            local.input_state.push((ch, recorded));
        }
    }

    fn acknowledge(&mut self, task: TaskId, id: u64) {
        let now = self.sched.now();
        let ti = task as usize;
        let Some(pos) = self.tasks[ti].local.iter().position(|l| l.id == id) else {
            return;
        };
        let mut snap = self.tasks[ti].local.swap_remove(pos);
        snap.acked_at = now;
        for &ch in &self.topo.tasks[ti].inputs {
            self.chan_rt[ch as usize].recording.retain(|&r| r != id);
        }
        if let Some(done_at) = self.coord.acknowledge(task, snap, now) {
            self.sched.at(done_at, Event::UploadDone(task, id));
            if self.coord.all_acked(id) && self.plan.during_upload.remove(&id).is_some() {
                self.schedule_crash(format!("during-upload {id}"));
            }
        }
    }

    /// Applies the coordinator's aborts queued by declines and expiries, telling every task.
    fn process_aborts(&mut self) {
        if self.in_aborts {
            return;
        }
        let job_failures = self.coord.job_failures;
        self.in_aborts = true;
        let mut final_expired = false;
        while let Some((id, reason)) = self.pending_aborts.pop_front() {
            // Its uploads still queued no longer keep the run alive.
            let uploads = self.coord.uploads_in_flight(id);
            if !self.coord.abort(id, reason, self.sched.now()) {
                continue;
            }
            self.weak_events += uploads;
            if reason == AbortReason::Expired && self.final_id == Some(id) {
                // The final checkpoint would expire again: the same final states, the same
                // uploads. The job ends without it instead of restarting forever.
                final_expired = true;
                self.final_given_up = true;
            }
            self.trace.record(TraceEvent::CheckpointEnd {
                t: self.sched.now(),
                id,
                completed: false,
            });
            for t in 0..self.tasks.len() {
                self.tasks[t].local.retain(|l| l.id != id);
            }
            for cr in &mut self.chan_rt {
                if !cr.recording.is_empty() {
                    cr.recording.retain(|&r| r != id);
                }
            }
            for t in 0..self.tasks.len() as TaskId {
                self.with_protocol(t, |p, v, out| p.on_abort(v, id, out));
            }
            self.after_checkpoint_end();
        }
        self.in_aborts = false;
        if self.coord.job_failures > job_failures && !final_expired {
            // Too many failed checkpoints in a row fail the job, which then restarts.
            self.schedule_crash("tolerable-failures exceeded".to_string());
        }
    }

    /// Resumes halted sources once no checkpoint is in flight, and fires a trigger that had
    /// to wait.
    fn after_checkpoint_end(&mut self) {
        self.final_done = self
            .coord
            .last_completed()
            .is_some_and(|s| s.tasks.iter().all(|t| t.ended));
        self.maybe_final_checkpoint();
        if self.coord.pending_ids().is_empty() {
            for t in 0..self.tasks.len() {
                if self.tasks[t].paused {
                    self.tasks[t].paused = false;
                    self.request_start(t as TaskId);
                }
            }
        }
        if self.coord.trigger_wanted {
            if let Some(at) = self.coord.next_allowed() {
                // Not weak: a checkpoint wanted while the job ran is still taken.
                self.sched
                    .at(at.max(self.sched.now()), Event::DeferredTrigger);
            }
        }
    }

    fn try_trigger(&mut self) {
        let now = self.sched.now();
        // A finished job takes no more checkpoints.
        if self
            .initiators
            .iter()
            .all(|&t| self.tasks[t as usize].ended)
        {
            return;
        }
        match self.coord.next_allowed() {
            None => self.coord.trigger_wanted = true,
            Some(at) if at > now => {
                self.coord.trigger_wanted = true;
                self.sched.at(at, Event::DeferredTrigger);
            }
            Some(_) => {
                self.coord.trigger_wanted = false;
                let id = self.coord.trigger(now);
                for t in 0..self.tasks.len() as TaskId {
                    self.ack_finished(t, id);
                }
                let timeout = self.coord.config().timeout;
                self.sched
                    .at(now.saturating_add(timeout), Event::Expire(id));
                self.weak_events += 1;
                for i in 0..self.initiators.len() {
                    let t = self.initiators[i];
                    // A finished initiator has already acknowledged with its final state.
                    if !self.tasks[t as usize].ended {
                        self.tasks[t as usize]
                            .actions
                            .push_back(Action::Initiate(id));
                        self.request_start(t);
                    }
                }
            }
        }
    }

    fn on_upload_done(&mut self, id: u64) {
        if self.plan.upload_failures.contains_key(&id) && self.coord.is_pending(id) {
            // The storage rejected the upload: the checkpoint fails.
            self.plan.upload_failures.remove(&id);
            self.coord.drop_upload(id);
            self.pending_aborts
                .push_back((id, AbortReason::UploadFailed));
            self.process_aborts();
            return;
        }
        if !self.coord.upload_done(id, self.sched.now()) {
            return;
        }
        if let Some((delay, spec)) = self.plan.after_checkpoint.remove(&id) {
            let cause = self.cause(format!("after-checkpoint {id}"));
            self.sched.after(delay, Event::Crash(cause));
            self.weak_events += 1;
            let at = self.sched.now().saturating_add(delay);
            self.planned_crashes.insert(cause, (spec, at));
        }
        self.trace.record(TraceEvent::CheckpointEnd {
            t: self.sched.now(),
            id,
            completed: true,
        });
        for t in 0..self.tasks.len() as TaskId {
            if self.is_transactional_sink(t) {
                self.trace.record(TraceEvent::SinkCommit {
                    t: self.sched.now(),
                    task: t,
                    id,
                });
            }
            self.with_protocol(t, |p, v, out| p.on_complete(v, id, out));
        }
        for old in self.coord.older_pending(id) {
            self.pending_aborts.push_back((old, AbortReason::Subsumed));
        }
        self.process_aborts();
        self.after_checkpoint_end();
    }

    fn is_transactional_sink(&self, task: TaskId) -> bool {
        matches!(
            self.tasks[task as usize].behaviour,
            Behaviour::Sink(SinkState {
                transactional: true,
                ..
            })
        )
    }

    /// Sends end of input downstream once a task will produce nothing more.
    fn end_task(&mut self, task: TaskId) {
        if self.tasks[task as usize].ended {
            return;
        }
        if self.is_transactional_sink(task) {
            let now = self.sched.now();
            if !self.protocol.takes_snapshots() {
                // Without checkpoints the last transaction commits when the job ends.
                self.trace.record(TraceEvent::SinkCommit {
                    t: now,
                    task,
                    id: u64::MAX,
                });
            } else {
                // As in Flink (FLIP-147): the last transaction is pre-committed into the first
                // checkpoint that holds this sink's final state, and commits when that (or a
                // later) checkpoint completes.
                let id = self
                    .coord
                    .pending_ids()
                    .into_iter()
                    .find(|&id| !self.coord.has_acked(task, id))
                    .unwrap_or_else(|| self.coord.next_id());
                self.trace
                    .record(TraceEvent::SinkPrecommit { t: now, task, id });
            }
        }
        self.trace.record(TraceEvent::EndOfInput {
            t: self.sched.now(),
            task,
        });
        self.broadcast_control(task, Message::end_of_input());
        self.tasks[task as usize].ended = true;
        self.ended_tasks += 1;
        for id in self.coord.pending_ids() {
            self.ack_finished(task, id);
        }
        self.maybe_final_checkpoint();
    }

    /// Once every task has finished, one more checkpoint records their final states and lets
    /// the sinks' last transactions commit (Flink's final checkpoint).
    fn maybe_final_checkpoint(&mut self) {
        if !self.protocol.takes_snapshots()
            || self.final_done
            || self.final_given_up
            || !self.coord.pending_ids().is_empty()
            || !self.tasks.iter().all(|t| t.ended)
        {
            return;
        }
        let now = self.sched.now();
        let id = self.coord.trigger(now);
        self.final_id = Some(id);
        let timeout = self.coord.config().timeout;
        self.sched
            .at(now.saturating_add(timeout), Event::Expire(id));
        self.weak_events += 1;
        for t in 0..self.tasks.len() as TaskId {
            self.ack_finished(t, id);
        }
    }

    // ----- the task loop -----------------------------------------------------------------

    /// Asks the processor for the record `task` will take next, from the head of its first
    /// ready input: with many messages in flight it is cold, and the take waits for it.
    #[inline]
    fn prefetch_next_input(&self, task: TaskId) {
        if let Some(&ch) = self.tasks[task as usize].ready.front() {
            self.channels[ch as usize].prefetch_inbox_head(&self.pool);
        }
    }

    /// Takes the next message from input channel `ch` and starts processing it.
    fn take_from(&mut self, task: TaskId, ch: ChannelId) {
        let ti = task as usize;
        let c = &mut self.channels[ch as usize];
        let held = c
            .take_held(&self.pool)
            .expect("the caller checked the input queue");
        let msg = self.pool.held(held);
        let cr = &mut self.chan_rt[ch as usize];
        if c.inbox_len() > 0 {
            if !cr.in_ready {
                cr.in_ready = true;
                self.tasks[ti].ready.push_back(ch);
            }
        } else if cr.in_ready {
            cr.in_ready = false;
            self.tasks[ti].ready.retain(|&r| r != ch);
        }
        if msg.priority && msg.kind == MsgKind::Control {
            cr.last_priority = Some((msg.num, msg.value as u64));
        }
        self.prefetch_next_input(task);
        let t = &mut self.tasks[ti];
        t.busy = true;
        t.work = Work::Input(ch, held);
        let cost = if msg.is_data() { t.cost } else { 0 };
        self.sched.after(cost, Event::Done(task));
        // The freed credit may let the sender put more on the wire.
        self.pump(ch);
    }

    fn try_start(&mut self, task: TaskId) {
        let now = self.sched.now();
        let ti = task as usize;
        if self.tasks[ti].busy || self.down {
            return;
        }
        // Protocol actions (initiations, timers) need no output space: control messages take
        // no credit, as Flink's events take no buffer.
        while let Some(a @ (Action::Initiate(_) | Action::Timer(_))) =
            self.tasks[ti].actions.front()
        {
            self.tasks[ti].actions.pop_front();
            match a {
                Action::Initiate(id) => self.initiate(task, id),
                Action::Timer(token) => {
                    self.with_protocol(task, |p, v, out| p.on_timer(v, token, out))
                }
                _ => unreachable!("matched above"),
            }
        }
        let t = &mut self.tasks[ti];
        if t.sync_pending > 0 {
            // The synchronous part of a snapshot: the task does nothing else meanwhile.
            t.busy = true;
            t.work = Work::Idle;
            self.sched
                .at(now.saturating_add(t.sync_pending), Event::Done(task));
            t.sync_pending = 0;
            return;
        }
        if t.full_outputs > 0 && !t.out_blocked {
            t.out_blocked = true;
            t.blocked_since = now;
            self.trace.record(TraceEvent::BackPressure {
                t: now,
                task,
                on: true,
            });
        }
        if t.out_blocked {
            // A back-pressured task still handles control messages at the head of an input:
            // they need no output buffer (this is what lets unaligned barriers through).
            let found = t.ready.iter().copied().find(|&ch| {
                !self.chan_rt[ch as usize].blocked
                    && self.channels[ch as usize].control_at_head(&self.pool)
            });
            if let Some(ch) = found {
                self.take_from(task, ch);
            }
            return;
        }
        if let Some(a) = t.actions.pop_front() {
            t.busy = true;
            t.work = Work::Action(a);
            self.sched.after(0, Event::Done(task));
            return;
        }
        if let Behaviour::Source(log) = &t.behaviour {
            if t.paused {
                return;
            }
            match log.due(log.offset) {
                None => self.end_task(task),
                // A new record is read only if it is emitted before the stop time; records
                // read before a crash are replayed whenever recovery needs them.
                Some(_) if log.offset >= t.log_end && now.saturating_add(t.cost) >= log.stop_at => {
                    self.end_task(task)
                }
                Some(due) if due <= now => {
                    let offset = log.offset;
                    t.busy = true;
                    t.work = Work::SourceRecord(offset);
                    let cost = t.cost;
                    self.sched.after(cost, Event::Done(task));
                }
                Some(due) => {
                    if t.wake_at != Some(due) {
                        t.wake_at = Some(due);
                        self.sched.at(due, Event::Wake(task));
                    }
                }
            }
            return;
        }
        while let Some(&ch) = self.tasks[ti].ready.front() {
            let cr = &mut self.chan_rt[ch as usize];
            if cr.blocked || self.channels[ch as usize].inbox_len() == 0 {
                cr.in_ready = false;
                self.tasks[ti].ready.pop_front();
                continue;
            }
            // Round-robin: the channel goes to the back if it still has messages.
            self.tasks[ti].ready.pop_front();
            cr.in_ready = false;
            self.take_from(task, ch);
            return;
        }
    }

    /// A finished task takes part in every later checkpoint with its final state, as in
    /// Flink since FLIP-147: nothing it could still receive or send would change the cut.
    fn ack_finished(&mut self, task: TaskId, id: u64) {
        let ti = task as usize;
        if !self.tasks[ti].ended
            || !self.coord.is_pending(id)
            || self.coord.has_acked(task, id)
            || self.tasks[ti].local.iter().any(|l| l.id == id)
        {
            return;
        }
        let now = self.sched.now();
        self.take_local_snapshot(task, id, false, now);
        self.tasks[ti].sync_pending = 0;
        self.acknowledge(task, id);
    }

    fn start_checkpoint(&mut self, id: u64) {
        self.coord.start(id, self.sched.now());
        for t in 0..self.tasks.len() as TaskId {
            self.ack_finished(t, id);
        }
    }

    fn initiate(&mut self, task: TaskId, id: u64) {
        let now = self.sched.now();
        if !self.coord.knows(id) {
            self.start_checkpoint(id);
        }
        self.trace.record(TraceEvent::Initiate { t: now, task, id });
        self.with_protocol(task, |p, v, out| p.on_trigger(v, id, out));
    }

    fn on_done(&mut self, task: TaskId) {
        let now = self.sched.now();
        let ti = task as usize;
        let work = std::mem::replace(&mut self.tasks[ti].work, Work::Idle);
        self.tasks[ti].busy = false;
        match work {
            Work::Idle => {}
            Work::Input(ch, held) => {
                let msg = self.pool.held(held);
                self.pool.release_held(held);
                self.trace.record(TraceEvent::Receive {
                    t: now,
                    ch,
                    seq: msg.seq,
                });
                let input = self.chan_rt[ch as usize].input_index as usize;
                match msg.kind {
                    MsgKind::Data => self.process_record(task, input, &msg),
                    MsgKind::Control => {
                        let ctl = Control {
                            tag: msg.tag,
                            id: msg.num,
                            trigger_time: msg.created_at,
                            priority: msg.priority,
                        };
                        self.check_alignment_failure(task, ctl.id);
                        self.with_protocol(task, |p, v, out| p.on_control(v, input, ctl, out));
                        self.chan_rt[ch as usize].last_priority = None;
                    }
                    MsgKind::EndOfInput => {
                        self.chan_rt[ch as usize].eof_taken = true;
                        self.with_protocol(task, |p, v, out| p.on_end_of_input(v, input, out));
                        let t = &mut self.tasks[ti];
                        t.open_inputs -= 1;
                        if t.open_inputs == 0 {
                            self.end_task(task);
                        }
                    }
                }
            }
            Work::SourceRecord(offset) => {
                let Behaviour::Source(log) = &mut self.tasks[ti].behaviour else {
                    unreachable!("only sources read records")
                };
                let msg = log.record(offset, now);
                log.offset = offset + 1;
                let rt = &mut self.tasks[ti];
                rt.log_end = rt.log_end.max(offset + 1);
                self.counters.source_records += 1;
                self.counters.first_read_ns.get_or_insert(now);
                self.trace.record(TraceEvent::SourceEmit {
                    t: now,
                    task,
                    offset,
                });
                self.out_buf.push((Target::Route, msg));
                self.emit_all(task);
            }
            Work::Action(Action::Transfer) => {
                if let Behaviour::Bank(b) = &mut self.tasks[ti].behaviour {
                    b.now = now;
                    b.start_transfer(&mut self.out_buf);
                }
                self.emit_all(task);
            }
            Work::Action(Action::Script(i)) => self.run_script_step(i),
            Work::Action(Action::Initiate(id)) => self.initiate(task, id),
            Work::Action(Action::Timer(token)) => {
                self.with_protocol(task, |p, v, out| p.on_timer(v, token, out));
            }
        }
        self.request_start(task);
    }

    fn process_record(&mut self, task: TaskId, input: usize, msg: &Message) {
        let now = self.sched.now();
        let ti = task as usize;
        self.tasks[ti].records_in += 1;
        if let Behaviour::Bank(b) = &mut self.tasks[ti].behaviour {
            b.now = now;
        }
        if let Behaviour::Script(s) = &mut self.tasks[ti].behaviour {
            if let Some(label) = s.receive(msg.value as u32) {
                self.trace.record(TraceEvent::StateChange {
                    t: now,
                    task,
                    label,
                });
            }
            return;
        }
        let reached_sink = self.tasks[ti]
            .behaviour
            .on_record(input, msg, &mut self.out_buf);
        if reached_sink {
            self.counters.sink_records += 1;
            self.counters.latencies.push(now - msg.created_at);
            self.counters.add_output(now);
            self.trace.record(TraceEvent::SinkOutput {
                t: now,
                task,
                source: msg.origin.source,
                offset: msg.origin.offset,
                key: msg.num,
            });
        }
        self.emit_all(task);
    }

    fn run_script_step(&mut self, i: u32) {
        let now = self.sched.now();
        let step = &self.script[i as usize];
        let (task, send, becomes) = (step.task, step.send, step.becomes);
        if let Some((to, label, latency)) = send {
            let ch = self.topo.tasks[task as usize].outputs[0]
                .channels
                .iter()
                .copied()
                .find(|&c| self.channels[c as usize].dst == to)
                .expect("validated: a channel exists");
            let msg = Message::data(
                16,
                u64::from(label),
                i64::from(label),
                Default::default(),
                now,
            );
            self.send(ch, &msg, latency);
        }
        if let Some(label) = becomes {
            if let Behaviour::Script(s) = &mut self.tasks[task as usize].behaviour {
                s.state = label;
            }
            self.trace.record(TraceEvent::StateChange {
                t: now,
                task,
                label,
            });
        }
    }

    fn on_arrive(&mut self, ch: ChannelId) {
        let now = self.sched.now();
        let c = &mut self.channels[ch as usize];
        if c.scheduled_arrival() != Some(now) {
            return; // superseded by an earlier arrival on a reordering channel
        }
        c.set_scheduled_arrival(None);
        let dst = c.dst;
        let cr = &mut self.chan_rt[ch as usize];
        let (n, priority) = if cr.recording.is_empty() {
            c.arrive(&mut self.pool, now)
        } else {
            let local = &mut self.tasks[dst as usize].local;
            let recording = &mut cr.recording;
            c.arrive_each(&mut self.pool, now, |m| {
                if m.is_data() {
                    for id in recording.iter() {
                        if let Some(l) = local.iter_mut().find(|l| l.id == *id) {
                            if let Some((_, msgs)) =
                                l.input_state.iter_mut().find(|(c, _)| *c == ch)
                            {
                                msgs.push(*m);
                            }
                        }
                    }
                } else if m.kind == MsgKind::Control {
                    // The snapshot's own control message ends its recording on this channel.
                    recording.retain(|&id| id != m.num);
                }
            })
        };
        if n > 0 {
            let cr = &mut self.chan_rt[ch as usize];
            if !cr.blocked {
                let ready = &mut self.tasks[dst as usize].ready;
                if priority {
                    // A priority message is handled next: its channel goes to the front.
                    if cr.in_ready {
                        ready.retain(|&r| r != ch);
                    }
                    ready.push_front(ch);
                    cr.in_ready = true;
                } else if !cr.in_ready {
                    cr.in_ready = true;
                    ready.push_back(ch);
                }
            }
            self.request_start(dst);
        }
        self.ensure_arrival(ch);
    }
}

impl Model for Simulation {
    type Event = Event;

    fn scheduler(&mut self) -> &mut Scheduler<Event> {
        &mut self.sched
    }

    /// Nothing of the job is left to happen: a dataflow job whose tasks have all finished
    /// (and whose final checkpoint is done), or only events that cannot change the outcome
    /// are queued (periodic checkpoint triggers, expiries, planned failures and stalls). Or the
    /// run has used up its budget of events.
    fn finished(&self) -> bool {
        self.sched.pending() == self.weak_events || self.job_done() || self.over_budget()
    }

    /// With a million messages in flight the record a task takes next is cold when it
    /// takes it; asking for it one event ahead hides part of that miss.
    #[inline]
    fn prefetch(&self, next: &Event) {
        if let Event::Done(task) = *next {
            self.prefetch_next_input(task);
        }
    }

    /// Only once the messages outgrow the processor's caches: below that the records are
    /// found there anyway, and looking for the next event is wasted work (bank-64's 10,000
    /// messages in flight take 640 KiB and gain nothing).
    fn wants_prefetch(&self) -> bool {
        const CACHE_SCALE: usize = 16 << 20;
        self.pool.footprint() > CACHE_SCALE
    }

    fn handle(&mut self, event: Event) {
        self.handled += 1;
        match event {
            Event::Arrive(ch) => self.on_arrive(ch),
            Event::Done(task) => self.on_done(task),
            Event::Wake(task) => {
                self.tasks[task as usize].wake_at = None;
                self.request_start(task);
            }
            Event::Timer(task) => {
                self.tasks[task as usize]
                    .actions
                    .push_back(Action::Transfer);
                self.schedule_transfer_timer(task);
                self.request_start(task);
            }
            Event::Script(i) if self.down => {
                self.next_chained_script(i);
            }
            Event::Script(i) => {
                self.next_chained_script(i);
                let step = &self.script[i as usize];
                let task = step.task;
                if let Some(id) = step.initiate {
                    self.tasks[task as usize]
                        .actions
                        .push_back(Action::Initiate(id));
                }
                if step.send.is_some() || step.becomes.is_some() {
                    self.tasks[task as usize]
                        .actions
                        .push_back(Action::Script(i));
                }
                self.request_start(task);
            }
            Event::CheckpointTimer => {
                self.weak_events -= 1;
                if let Some(interval) = self.coord.config().interval {
                    let next = self.sched.now().saturating_add(interval);
                    if next <= self.limit {
                        self.sched.at(next, Event::CheckpointTimer);
                        self.weak_events += 1;
                    }
                }
                self.try_trigger();
            }
            Event::DeferredTrigger => {
                if self.coord.trigger_wanted {
                    self.try_trigger();
                }
            }
            Event::UploadDone(_task, id) if !self.coord.is_pending(id) => {
                // An upload of a checkpoint given up meanwhile (counted weak when it was).
                self.weak_events -= 1;
            }
            Event::UploadDone(_task, id) => self.on_upload_done(id),
            Event::Expire(id) => {
                self.weak_events -= 1;
                if self.coord.is_pending(id) {
                    self.pending_aborts.push_back((id, AbortReason::Expired));
                    self.process_aborts();
                }
            }
            Event::Crash(cause) => self.crash(cause),
            Event::Restart => self.restart(),
            Event::Stall(i) => {
                self.weak_events -= 1;
                self.stalls_begun[i as usize] = true;
                if let Some(pos) = self.stall_chain {
                    self.stall_chain = Some(pos + 1);
                    self.schedule_chained_stall();
                }
                self.stall(i);
            }
            Event::ProtocolTimer(task, token) => {
                self.tasks[task as usize]
                    .actions
                    .push_front(Action::Timer(token));
                self.request_start(task);
            }
        }
        self.drain_starts();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_run_widens_the_timeline_instead_of_growing_it() {
        let mut c = Counters {
            bucket_ns: 10,
            ..Counters::default()
        };
        for t in [0, 5, 15, 1_995] {
            c.add_output(t);
        }
        assert_eq!((c.bucket_ns, c.timeline_out.len()), (10, 200));
        // Far beyond: buckets double until the time fits, counts are kept.
        c.add_output(1_000_000);
        assert!(c.timeline_out.len() <= MAX_BUCKETS);
        assert_eq!(c.bucket_ns, 10 << 9);
        assert_eq!(c.timeline_out.iter().sum::<u64>(), 5);
        assert_eq!(
            c.timeline_out[0], 4,
            "the first four fall in the first wide bucket"
        );
        c.add_backpressure(0, 10_000_000);
        assert!(c.timeline_bp.len() <= MAX_BUCKETS);
        assert_eq!(c.timeline_bp.iter().sum::<u64>(), 10_000_000);
        assert_eq!(c.last_output_ns, 1_000_000);
    }
}
