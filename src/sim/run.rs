//! Running a simulation to the end and collecting what it produced.

use super::Simulation;
use crate::engine::{self, Model, Time};
use crate::failure::UnfiredFailure;
use crate::human::fmt_ns;
use crate::trace::{Trace, TraceMode};
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
    pub checkpoints: Vec<crate::coordinator::CheckpointRecord>,
    /// Every completed snapshot, with its content.
    pub snapshots: Vec<crate::snapshot::GlobalSnapshot>,
    /// Times the failed checkpoints exceeded `tolerable_failures`.
    pub job_failures: u32,
    /// The job failed: its restart strategy gave up.
    pub job_failure: Option<crate::failure::JobFailure>,
    /// Names of scripted states and messages, by label index.
    pub labels: crate::workload::Labels,
    /// Every failure and its recovery.
    pub failures: Vec<crate::failure::FailureRecord>,
    /// Every task's state at the end.
    pub final_states: Vec<Behaviour>,
    /// The run stopped because it used up its budget of events, not because it ended.
    pub over_budget: bool,
    /// Planned failures that did not happen, and why, in the scenario's order.
    pub unfired: Vec<crate::failure::UnfiredFailure>,
    /// Per task: for a source, how many records of its log it read (one past the highest
    /// offset); 0 for other tasks.
    pub source_log_ends: Vec<u64>,
    /// Per input gate, what buffer debloating came to; empty when it is off.
    pub debloat: Vec<super::GateSummary>,
}

impl Simulation {
    /// Runs to the end: sources stop at the scenario's duration (or earlier), in-flight data
    /// drains, and the run ends when the job is finished (every task of a dataflow job has
    /// finished and the final checkpoint is done) or nothing is left to happen but checkpoint
    /// triggers and planned failures. `progress` is called now and then with the simulated
    /// time and the events so far.
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
        if self.rec.replaying != 0 {
            self.end_replay(now);
        }
        let over_budget = self.over_budget() && !self.job_done();
        let unfired = self.unfired_failures(now, over_budget);
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
            over_budget,
            unfired,
            source_log_ends: self.tasks.iter().map(|t| t.log_end).collect(),
            debloat: self.debloat_summaries(),
            failures: std::mem::take(&mut self.failure_log),
            final_states: self.tasks.iter().map(|t| t.behaviour.clone()).collect(),
            labels: self.labels.clone(),
            checkpoints,
            snapshots,
            job_failures,
            job_failure: self.rec.job_failure.take(),
            events,
            sim_time_ns: now,
            trace: std::mem::replace(&mut self.trace, Trace::new(TraceMode::HashOnly)),
            counters: std::mem::take(&mut self.counters),
            tasks,
            bank_totals,
            script_states,
        }
    }

    /// Every planned failure that did not happen, with why, in the scenario's order.
    fn unfired_failures(&mut self, end: Time, over_budget: bool) -> Vec<UnfiredFailure> {
        let ended = if over_budget {
            format!("the run stopped at its event budget at {}", fmt_ns(end))
        } else if let Some(f) = &self.rec.job_failure {
            format!("the job failed at {}", fmt_ns(f.at_ns))
        } else {
            format!("the job finished at {}", fmt_ns(end))
        };
        let mut out = std::mem::take(&mut self.unfired);
        let plan = &self.plan;
        let desc = |spec: usize| plan.descriptions[spec].clone();
        // Timed crashes still to come, one entry per failure.
        let mut by_spec: std::collections::BTreeMap<usize, (u64, Time)> = Default::default();
        for &(t, spec) in &plan.crash_times[self.next_crash.min(plan.crash_times.len())..] {
            let e = by_spec.entry(spec).or_insert((0, t));
            e.0 += 1;
        }
        for (spec, (n, first)) in by_spec {
            let failure = if n > 1 {
                format!("{}: {n} crashes", desc(spec))
            } else {
                desc(spec)
            };
            let reason = if n > 1 {
                format!("planned from {} on, after {ended}", fmt_ns(first))
            } else {
                format!("planned at {}, after {ended}", fmt_ns(first))
            };
            out.push((spec, UnfiredFailure { failure, reason }));
        }
        for (&spec, &at) in self.planned_crashes.values().map(|(s, a)| (s, a)) {
            out.push((
                spec,
                UnfiredFailure {
                    failure: desc(spec),
                    reason: format!("its crash was due at {}, after {ended}", fmt_ns(at)),
                },
            ));
        }
        let protocol = self.protocol;
        let coord = &self.coord;
        let completed = coord.completed_count();
        let checkpoint_reason = |id: u64, what: &str| -> String {
            if !protocol.takes_snapshots() {
                format!("the run takes no checkpoints (protocol {protocol})")
            } else if !coord.knows(id) {
                format!(
                    "checkpoint {id} was never triggered (the run took {} checkpoints; {ended})",
                    coord.next_id() - 1
                )
            } else {
                format!("checkpoint {id} {what}")
            }
        };
        for (&id, &(_, spec)) in &plan.after_checkpoint {
            let reason = checkpoint_reason(
                id,
                &format!("never completed ({completed} checkpoints completed)"),
            );
            out.push((
                spec,
                UnfiredFailure {
                    failure: desc(spec),
                    reason,
                },
            ));
        }
        for (id, tasks, spec) in &plan.during_alignment {
            let at = if tasks.is_some() {
                "the named task"
            } else {
                "a task with several inputs"
            };
            let reason =
                checkpoint_reason(*id, &format!("never reached {at} by a barrier or marker"));
            out.push((
                *spec,
                UnfiredFailure {
                    failure: desc(*spec),
                    reason,
                },
            ));
        }
        for (&id, &spec) in &plan.during_upload {
            let reason = checkpoint_reason(
                id,
                "never had every task's part recorded with uploads in flight",
            );
            out.push((
                spec,
                UnfiredFailure {
                    failure: desc(spec),
                    reason,
                },
            ));
        }
        for (&id, &spec) in &plan.upload_failures {
            let reason = checkpoint_reason(id, "never uploaded while it was in flight");
            out.push((
                spec,
                UnfiredFailure {
                    failure: desc(spec),
                    reason,
                },
            ));
        }
        for (&n, &spec) in &plan.during_recovery {
            out.push((
                spec,
                UnfiredFailure {
                    failure: desc(spec),
                    reason: format!(
                        "the job recovered only {} times; recovery {n} never happened",
                        self.recoveries
                    ),
                },
            ));
        }
        for (i, stall) in plan.stalls.iter().enumerate() {
            if !self.stalls_begun[i] {
                out.push((
                    stall.spec,
                    UnfiredFailure {
                        failure: desc(stall.spec),
                        reason: format!("planned at {}, after {ended}", fmt_ns(stall.at)),
                    },
                ));
            }
        }
        for (spec, why) in &plan.never {
            out.push((
                *spec,
                UnfiredFailure {
                    failure: desc(*spec),
                    reason: why.clone(),
                },
            ));
        }
        out.sort_by_key(|(spec, _)| *spec);
        out.into_iter().map(|(_, u)| u).collect()
    }

    fn wire_amounts(&self) -> i64 {
        self.channels.iter().map(|c| c.wire_value(&self.pool)).sum()
    }

    /// Events waiting in the queue (for tests).
    pub fn pending_events(&mut self) -> usize {
        self.scheduler().pending()
    }
}
