//! Running a simulation to the end and collecting what it produced.

use super::Simulation;
use crate::engine::{self, Model, Time, Trace, TraceMode};
use crate::workload::Behaviour;

/// Per-task figures at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSummary {
    /// Task name.
    pub name: String,
    /// Data records the task processed from its inputs.
    pub records_in: u64,
    /// Records it emitted (each routed record counts once).
    pub records_out: u64,
    /// Time the task spent stopped by a full output queue.
    pub backpressure_ns: Time,
    /// Size of its state at the end.
    pub state_bytes: u64,
}

/// Everything a finished run produced.
#[derive(Debug)]
pub struct RunOutput {
    /// Events taken from the engine's queue.
    pub events: u64,
    /// Simulated time of the last event.
    pub sim_time_ns: Time,
    /// The trace (hash, observer and, in full mode, the events).
    pub trace: Trace,
    /// Run-wide counters.
    pub counters: super::Counters,
    /// Per-task figures.
    pub tasks: Vec<TaskSummary>,
    /// For the bank: the total money at the start and at the end (balances plus transfers
    /// still in flight).
    pub bank_totals: Option<(i64, i64)>,
    /// Final state label of every scripted process, by task.
    pub script_states: Vec<Option<String>>,
    /// Every checkpoint the coordinator started, by id.
    pub checkpoints: Vec<crate::report::CheckpointRecord>,
    /// Every completed snapshot, with its content.
    pub snapshots: Vec<crate::snapshot::GlobalSnapshot>,
    /// Times the failed checkpoints exceeded `tolerable_failures`.
    pub job_failures: u32,
    /// Names of scripted states and messages, by label index.
    pub labels: crate::workload::Labels,
    /// Every failure and its recovery.
    pub failures: Vec<crate::report::FailureRecord>,
    /// Every task's state at the end.
    pub final_states: Vec<Behaviour>,
}

impl Simulation {
    /// Runs to the end: sources stop at the scenario's duration (or earlier), in-flight data
    /// drains, and the run ends when nothing is left to happen. `progress` is called now and
    /// then with the simulated time and the events so far.
    pub fn run(mut self, progress: &mut dyn FnMut(Time, u64)) -> RunOutput {
        let slice = (self.limit / 100).max(1);
        let mut events = 0;
        let mut until: Time = 0;
        loop {
            // Slices keep the progress bar moving; a far-away next event is jumped to at once.
            until = until
                .saturating_add(slice)
                .max(self.sched.next_time().unwrap_or(0));
            let stats = engine::run(&mut self, until);
            events += stats.events;
            progress(self.sched.now(), events);
            if !stats.hit_limit || self.finished() {
                break;
            }
        }
        let now = self.sched.now();
        for t in 0..self.tasks.len() {
            if self.tasks[t].out_blocked {
                let since = self.tasks[t].blocked_since;
                self.counters.add_backpressure(since, now);
            }
        }
        // Checkpoints still in flight when the job ends never complete.
        for id in self.coord.pending_ids() {
            self.coord
                .abort(id, crate::coordinator::AbortReason::JobFinished, now);
        }
        let tasks = self
            .tasks
            .iter()
            .zip(&self.topo.tasks)
            .map(|(rt, spec)| TaskSummary {
                name: spec.name.clone(),
                records_in: rt.records_in,
                records_out: rt.records_out,
                backpressure_ns: rt.backpressure_ns
                    + if rt.out_blocked {
                        now - rt.blocked_since
                    } else {
                        0
                    },
                state_bytes: rt.behaviour.state_bytes(),
            })
            .collect();
        let bank_totals = self.initial_total.map(|initial| {
            let balances: i64 = self
                .tasks
                .iter()
                .map(|t| match &t.behaviour {
                    Behaviour::Bank(b) => b.balance,
                    _ => 0,
                })
                .sum();
            let in_flight: i64 = self
                .channels
                .iter()
                .flat_map(|c| c.out_queue(&self.pool).chain(c.inbox(&self.pool)))
                .filter(|m| m.is_data())
                .map(|m| m.value)
                .sum();
            (initial, balances + in_flight + self.wire_amounts())
        });
        let script_states = self
            .tasks
            .iter()
            .map(|t| match &t.behaviour {
                Behaviour::Script(s) => Some(self.labels.name(s.state).to_string()),
                _ => None,
            })
            .collect();
        let coord = std::mem::replace(
            &mut self.coord,
            crate::coordinator::Coordinator::new(
                crate::coordinator::CoordinatorConfig::from_spec(None),
                0,
            ),
        );
        let (checkpoints, snapshots, job_failures) = coord.into_results();
        RunOutput {
            failures: std::mem::take(&mut self.failure_log),
            final_states: self.tasks.iter().map(|t| t.behaviour.clone()).collect(),
            labels: self.labels.clone(),
            checkpoints,
            snapshots,
            job_failures,
            events,
            sim_time_ns: now,
            trace: std::mem::replace(&mut self.trace, Trace::new(TraceMode::HashOnly)),
            counters: std::mem::take(&mut self.counters),
            tasks,
            bank_totals,
            script_states,
        }
    }

    fn wire_amounts(&self) -> i64 {
        self.channels.iter().map(|c| c.wire_value(&self.pool)).sum()
    }

    /// Events waiting in the queue (for tests).
    pub fn pending_events(&mut self) -> usize {
        self.scheduler().pending()
    }
}
