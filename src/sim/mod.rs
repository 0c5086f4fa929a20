//! The simulated world: tasks and channels driven by the engine.
//!
//! This is the [`Model`] the engine runs. It owns the channels, the tasks' runtime state and
//! their behaviours, and one protocol state machine per task. It decides what a task does
//! next, routes what behaviours emit, applies the commands protocols return, and records
//! everything that happens in the [`Trace`].
//!
//! This file holds the [`Simulation`] itself, its [`Event`]s and the dispatch of each event
//! to the file that handles it:
//!
//! - `build`: the world of a scenario, built step by step, and its first events.
//! - `runtime`: what is kept per task and per channel while the job runs.
//! - `tasks`: the task loop: what a task does next, and what finished work does.
//! - `flow`: routing, sending, credits and back-pressure, arrivals.
//! - `commands`: protocol handlers and the commands they return.
//! - `recording`: local snapshots and the recording of channel state.
//! - `checkpoints`: triggers, acknowledgements, uploads, aborts, the final checkpoint.
//! - `scripts`: scripted steps of process graphs.
//! - `recovery`: crashes, stalls and restoring from a checkpoint.
//! - `counters`: run-wide counters and the timeline.
//! - `run`: running to the end and what a run produced.

mod build;
mod checkpoints;
mod commands;
mod counters;
mod debloat;
mod flow;
mod recording;
mod recovery;
mod restarts;
mod run;
mod runtime;
mod scripts;
mod tasks;

pub use counters::{Counters, MAX_BUCKETS};
pub use debloat::GateSummary;
pub use run::{RunOutput, TaskSummary};

use std::collections::VecDeque;

use crate::coordinator::{AbortReason, Coordinator};
use crate::engine::{Model, Scheduler, Time};
use crate::network::{Channel, ChannelId, Message, MessagePool, TaskId};
use crate::protocols::{Command, Mutant, Params, ProtocolKind, TaskProtocol};
use crate::topology::Topology;
use crate::trace::Trace;
use crate::workload::{Behaviour, Labels, Target};
use runtime::{Action, ChanRt, TaskRt, Work};
use scripts::ScriptStepRt;

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
    /// Buffer debloating's period: every input gate recomputes its buffer size. Scheduled
    /// only when debloating is on.
    DebloatTick,
}

/// Size of a control message on the wire (Flink's barrier is a few dozen bytes).
pub const CONTROL_BYTES: u32 = 32;

/// The least processing cost of work that could otherwise repeat forever at one instant: a
/// source without a `rate` reads at most one record per nanosecond, and a relaying bank
/// process passes a transfer on at least a nanosecond after it arrived. Without it a zero
/// cost (and zero latency) would let simulated time stand still while work never ends.
pub const MIN_LOOP_COST: Time = 1;

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
    mutant: Option<Mutant>,
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
    /// Buffer debloating, when it is on.
    debloat: Option<Box<debloat::DebloatRt>>,
    /// Overdraft buffers, with the buffer model.
    overdraft: Option<Box<debloat::OverdraftRt>>,
    /// The restart strategy, lost slots and the measured replay.
    rec: restarts::RecoveryRt,
    /// The protocol wants announcements of queued barriers (and may prioritise them).
    announce: bool,
    /// Control messages announced by the current arrival.
    announced: Vec<Message>,
}

impl Simulation {
    /// The job is over: every task of a dataflow job has finished and, with checkpoints,
    /// the final checkpoint has completed (or expired, and would expire again).
    fn job_done(&self) -> bool {
        self.topo.is_dataflow
            && self.ended_tasks == self.tasks.len()
            && (!self.protocol.takes_snapshots() || self.final_done || self.final_given_up)
    }

    /// The run has handled as many events as its budget allows.
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
            Event::Script(i) => self.on_script(i),
            Event::CheckpointTimer => self.on_checkpoint_timer(),
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
            Event::Expire(id) => self.on_expire(id),
            Event::Crash(cause) => self.crash(cause),
            Event::Restart => self.restart(),
            Event::Stall(i) => self.on_stall(i),
            Event::DebloatTick => self.on_debloat_tick(),
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
