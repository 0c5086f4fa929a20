//! The failure plan: the scenario's faults turned into concrete times and triggers.
//!
//! Timed and random crashes become a sorted list of times (random ones drawn from the seed's
//! `failures` stream, so adding a failure shifts no other draw). Named moments (after a
//! checkpoint, during an alignment, an upload or a recovery) become one-shot triggers that the
//! simulation fires when the moment comes.

mod restart;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::engine::rng::unit;
use crate::engine::{RngStreams, Time};
use crate::network::{ChannelId, TaskId};
use crate::scenario::{FailureSpec, Scenario};
use crate::topology::Topology;

pub use restart::{Decision, RestartStrategy};

/// One failure and its recovery.
///
/// For a single failure `downtime_ns` is exactly `detection_ns + restart_ns + restore_ns +
/// replay_ns` (a crash while the job is still down from an earlier one makes the earlier
/// one's downtime run on until the common restart). The fields after `cause` appear only
/// when their feature is on, so runs without them keep their results files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureRecord {
    /// When it happened.
    pub at_ns: Time,
    /// The checkpoint restored, `None` when none had completed.
    pub restored_checkpoint: Option<u64>,
    /// Records the sources read again.
    pub replayed_records: u64,
    /// Time from the failure until processing resumed (with `restore_bandwidth`: until the
    /// restored channel state was consumed). 0 for the failure that failed the job.
    pub downtime_ns: Time,
    /// Planned time until the failure was detected.
    pub detection_ns: Time,
    /// The restart delay: `restart_delay`, or the restart strategy's wait.
    pub restart_ns: Time,
    /// Planned time for the slowest task to read its part of the restored checkpoint
    /// (`restore_remote_ns + restore_local_ns` of that task).
    pub restore_ns: Time,
    /// What caused it: `crash`, `after-checkpoint 3`, `during-alignment 5`, ...
    pub cause: String,
    /// With local recovery: the slowest task's download from remote storage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_remote_ns: Option<Time>,
    /// With local recovery: the slowest task's read of its local copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_local_ns: Option<Time>,
    /// With `restore_bandwidth`: time from the restart until every task had taken the
    /// in-flight data put back from the restored channel state (measured in the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_ns: Option<Time>,
    /// This failure made the restart strategy give up: the job failed here.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub failed_job: bool,
}

/// The end of a job whose restart strategy gave up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobFailure {
    /// When the job failed (the failure's time; the run stops there).
    pub at_ns: Time,
    /// The failure that ended it (its `cause`).
    pub cause: String,
    /// Why the strategy gave up.
    pub reason: String,
}

/// A link stall: nothing crosses `channels` from `at` until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    /// Start.
    pub at: Time,
    /// End.
    pub until: Time,
    /// The stalled channels.
    pub channels: Vec<ChannelId>,
    /// Index of the failure in the scenario's `failures`.
    pub spec: usize,
}

/// Every fault of a run. Each entry keeps the index of the scenario's failure it comes from
/// (`failures[i]`), so that a failure that never fires can be reported with why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailurePlan {
    /// Times of timed, periodic and random crashes, sorted, with the failure each comes from.
    pub crash_times: Vec<(Time, usize)>,
    /// Checkpoint id → (delay after its completion at which to crash, failure).
    pub after_checkpoint: BTreeMap<u64, (Time, usize)>,
    /// (checkpoint id, tasks it may happen at; `None` = any task with several inputs, failure).
    pub during_alignment: Vec<(u64, Option<BTreeSet<TaskId>>, usize)>,
    /// Checkpoints during whose uploads to crash → failure.
    pub during_upload: BTreeMap<u64, usize>,
    /// Recoveries (1-based) in the middle of which to crash again → failure.
    pub during_recovery: BTreeMap<u32, usize>,
    /// Checkpoints whose upload the storage rejects → failure.
    pub upload_failures: BTreeMap<u64, usize>,
    /// Link stalls, in scenario order.
    pub stalls: Vec<Stall>,
    /// Time from a crash's detection to the restart (before the tasks download their state).
    pub restart_delay: Time,
    /// Time from a crash until it is detected.
    pub detection: Time,
    /// Bytes per second each task downloads its part of the restored checkpoint at.
    pub restore_bandwidth: Option<u64>,
    /// Task-local recovery of keyed state.
    pub local_recovery: bool,
    /// Bytes per second a task reads its local copy at; `None`: free.
    pub local_bandwidth: Option<u64>,
    /// Per failure of the scenario: for a crash, the tasks whose machine (and so slot and
    /// local copy) it loses; empty for failures that keep every slot.
    pub lost_slots: Vec<Vec<bool>>,
    /// Each failure of the scenario, described for reports (`failures[0] (crash at 500ms)`).
    pub descriptions: Vec<String>,
    /// Failures that can never fire, known when the plan is made: (failure, why).
    pub never: Vec<(usize, String)>,
}

/// A planned failure that did not happen, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnfiredFailure {
    /// Which failure: its index in the scenario's `failures` and what it is, such as
    /// `failures[1] (crash at 5s)`; for repeated crashes also how many did not happen.
    pub failure: String,
    /// Why it did not happen.
    pub reason: String,
}

/// A short description of a failure for reports.
pub fn describe(f: &FailureSpec) -> String {
    match f {
        FailureSpec::Crash { at, every, .. } => match every {
            Some(e) => format!("crash at {at} every {e}"),
            None => format!("crash at {at}"),
        },
        FailureSpec::AfterCheckpoints { fraction, .. } => {
            format!("after_checkpoints {fraction}")
        }
        FailureSpec::DuringAlignment { checkpoint, task } => match task {
            Some(t) => format!("during_alignment of checkpoint {checkpoint} at {t}"),
            None => format!("during_alignment of checkpoint {checkpoint}"),
        },
        FailureSpec::DuringUpload { checkpoint } => {
            format!("during_upload of checkpoint {checkpoint}")
        }
        FailureSpec::DuringRecovery { recovery } => format!("during_recovery {recovery}"),
        FailureSpec::Random { mean_interval } => format!("random every {mean_interval} on average"),
        FailureSpec::Stall { at, duration, .. } => format!("stall at {at} for {duration}"),
        FailureSpec::UploadFailure { checkpoint } => {
            format!("upload_failure of checkpoint {checkpoint}")
        }
    }
}

/// The tasks whose machine failure `f` loses, so that they restart on a new slot without
/// their local copy of state: a crash's `tasks` (all of them when it names none), every
/// task for random crashes (which name none either). The named moments (after a
/// checkpoint, during an alignment, an upload or a recovery) are task failures: every task
/// keeps its slot. Empty when no task loses its slot.
pub fn lost_slots(f: &FailureSpec, topo: &Topology) -> Vec<bool> {
    let n = topo.tasks.len();
    match f {
        FailureSpec::Crash { tasks, .. } if !tasks.is_empty() => (0..n as TaskId)
            .map(|t| tasks.iter().any(|sel| topo.matches(sel, t)))
            .collect(),
        FailureSpec::Crash { .. } | FailureSpec::Random { .. } => vec![true; n],
        _ => Vec::new(),
    }
}

impl FailurePlan {
    /// The plan of `s` on `topo` for `seed`.
    pub fn new(s: &Scenario, topo: &Topology, seed: u64) -> Self {
        let limit = s.duration.ns();
        let interval = s
            .checkpointing
            .as_ref()
            .and_then(|c| c.interval)
            .map(|d| d.ns());
        let mut plan = FailurePlan {
            restart_delay: s.recovery.restart_delay.ns(),
            detection: s.recovery.detection.ns(),
            restore_bandwidth: s.recovery.restore_bandwidth.map(|b| b.0),
            local_recovery: s.recovery.local_recovery,
            local_bandwidth: s.recovery.local_bandwidth.map(|b| b.0),
            lost_slots: if s.recovery.local_recovery {
                s.failures.iter().map(|f| lost_slots(f, topo)).collect()
            } else {
                Vec::new()
            },
            descriptions: s
                .failures
                .iter()
                .enumerate()
                .map(|(i, f)| format!("failures[{i}] ({})", describe(f)))
                .collect(),
            ..Default::default()
        };
        let mut rng = RngStreams::new(seed).stream("failures");
        // A second failure on the same moment as an earlier one would be the same crash.
        let same =
            |first: usize| format!("the same moment as failures[{first}], which crashes the job");
        for (spec, f) in s.failures.iter().enumerate() {
            match f {
                FailureSpec::Crash { at, every, .. } => {
                    let mut t = at.ns();
                    plan.crash_times.push((t, spec));
                    if let Some(e) = every {
                        while t.saturating_add(e.ns()) <= limit {
                            t += e.ns();
                            plan.crash_times.push((t, spec));
                        }
                    }
                }
                FailureSpec::AfterCheckpoints { fraction, delay } => {
                    let interval = interval.unwrap_or(limit).max(1);
                    let expected = (limit / interval).max(1);
                    let id = ((fraction * expected as f64).round() as u64).max(1);
                    let delay = delay.map_or(interval / 2, |d| d.ns());
                    match plan.after_checkpoint.get(&id) {
                        Some(&(_, first)) => plan.never.push((spec, same(first))),
                        None => {
                            plan.after_checkpoint.insert(id, (delay, spec));
                        }
                    }
                }
                FailureSpec::DuringAlignment { checkpoint, task } => {
                    let tasks = task.as_ref().map(|sel| {
                        (0..topo.tasks.len() as TaskId)
                            .filter(|&t| topo.matches(sel, t))
                            .collect()
                    });
                    if !topo.tasks.iter().any(|t| t.inputs.len() >= 2) {
                        plan.never.push((
                            spec,
                            "no task has several inputs, so no alignment ever happens".into(),
                        ));
                    } else if tasks.as_ref().is_some_and(|ts: &BTreeSet<TaskId>| {
                        ts.iter().all(|&t| topo.tasks[t as usize].inputs.len() < 2)
                    }) {
                        plan.never.push((
                            spec,
                            "the named task has a single input, so it never aligns".into(),
                        ));
                    } else {
                        plan.during_alignment.push((*checkpoint, tasks, spec));
                    }
                }
                FailureSpec::DuringUpload { checkpoint } => {
                    match plan.during_upload.get(checkpoint) {
                        Some(&first) => plan.never.push((spec, same(first))),
                        None => {
                            plan.during_upload.insert(*checkpoint, spec);
                        }
                    }
                }
                FailureSpec::DuringRecovery { recovery } => {
                    match plan.during_recovery.get(recovery) {
                        Some(&first) => plan.never.push((spec, same(first))),
                        None => {
                            plan.during_recovery.insert(*recovery, spec);
                        }
                    }
                }
                FailureSpec::Random { mean_interval } => {
                    let mut t: Time = 0;
                    loop {
                        let u = 1.0 - unit(&mut rng);
                        let gap = ((-(u.ln()) * mean_interval.ns() as f64).round() as Time).max(1);
                        t = t.saturating_add(gap);
                        if t > limit {
                            break;
                        }
                        plan.crash_times.push((t, spec));
                    }
                }
                FailureSpec::Stall {
                    from,
                    to,
                    at,
                    duration,
                } => {
                    let channels = topo
                        .channels
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| {
                            from.as_deref().is_none_or(|f| topo.matches(f, c.src))
                                && to.as_deref().is_none_or(|t| topo.matches(t, c.dst))
                        })
                        .map(|(i, _)| i as ChannelId)
                        .collect();
                    plan.stalls.push(Stall {
                        at: at.ns(),
                        until: at.ns().saturating_add(duration.ns()),
                        channels,
                        spec,
                    });
                }
                FailureSpec::UploadFailure { checkpoint } => {
                    match plan.upload_failures.get(checkpoint) {
                        Some(&first) => plan.never.push((
                            spec,
                            format!("failures[{first}] already rejects that checkpoint's upload"),
                        )),
                        None => {
                            plan.upload_failures.insert(*checkpoint, spec);
                        }
                    }
                }
            }
        }
        plan.crash_times.sort_unstable();
        plan
    }

    /// True when the plan injects nothing.
    pub fn is_empty(&self) -> bool {
        self.crash_times.is_empty()
            && self.after_checkpoint.is_empty()
            && self.during_alignment.is_empty()
            && self.during_upload.is_empty()
            && self.during_recovery.is_empty()
            && self.upload_failures.is_empty()
            && self.stalls.is_empty()
    }
}

/// Warnings about planned failures that cannot fire, or may well not, as `field: message`
/// lines (for `snapsim validate`). The run itself reports every failure that did not fire in
/// the results file's `unfired_failures`; these are what can be told from the file alone.
pub fn warnings(s: &Scenario) -> Vec<String> {
    let limit = s.duration.ns();
    let cp = s.checkpointing.as_ref();
    let no_checkpoints = cp.is_none_or(|c| {
        c.protocol
            .parse::<crate::protocols::ProtocolKind>()
            .is_ok_and(|p| !p.takes_snapshots())
    });
    let interval = cp.and_then(|c| c.interval).map(|d| d.ns());
    // Periodic checkpoints the run can take, and one final checkpoint of a dataflow job.
    let expected = interval.map_or(0, |i| limit / i.max(1)) + u64::from(s.dataflow.is_some());
    let aligning = match &s.dataflow {
        // A task has several inputs when its operator's incoming edges bring two channels.
        Some(d) => d.operators.iter().any(|op| {
            d.edges
                .iter()
                .filter(|e| e.to == op.name)
                .map(|e| match e.partition {
                    crate::scenario::Partition::Forward => 1,
                    _ => d
                        .operators
                        .iter()
                        .find(|o| o.name == e.from)
                        .map_or(1, |o| u64::from(o.parallelism)),
                })
                .sum::<u64>()
                >= 2
        }),
        None => true,
    };
    let mut out = Vec::new();
    for (i, f) in s.failures.iter().enumerate() {
        let path = format!("failures[{i}]");
        let checkpoint = |kind: &str, id: u64, out: &mut Vec<String>| {
            if no_checkpoints {
                out.push(format!(
                    "{path}.{kind}: cannot fire: the scenario takes no checkpoints (protocol none) unless --protocol names one"
                ));
            } else if id > expected {
                out.push(format!(
                    "{path}.{kind}.checkpoint: checkpoint {id} may never be taken: the run takes about {expected} checkpoints"
                ));
            }
        };
        match f {
            FailureSpec::Crash { at, .. } if at.ns() > limit => out.push(format!(
                "{path}.crash.at: {at} is after the scenario's duration ({}): the job will most likely have finished",
                s.duration
            )),
            FailureSpec::Stall { at, .. } if at.ns() >= limit => out.push(format!(
                "{path}.stall.at: {at} is not before the scenario's duration ({}): the job will most likely have finished",
                s.duration
            )),
            FailureSpec::AfterCheckpoints { .. } if no_checkpoints => out.push(format!(
                "{path}.after_checkpoints: cannot fire: the scenario takes no checkpoints (protocol none) unless --protocol names one"
            )),
            FailureSpec::DuringAlignment { checkpoint: id, .. } => {
                if aligning {
                    checkpoint("during_alignment", *id, &mut out);
                } else {
                    out.push(format!(
                        "{path}.during_alignment: cannot fire: no task has several inputs, so no alignment happens"
                    ));
                }
            }
            FailureSpec::DuringUpload { checkpoint: id } => {
                checkpoint("during_upload", *id, &mut out)
            }
            FailureSpec::UploadFailure { checkpoint: id } => {
                checkpoint("upload_failure", *id, &mut out)
            }
            _ => {}
        }
    }
    out
}
