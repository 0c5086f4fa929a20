//! The failure plan: the scenario's faults turned into concrete times and triggers.
//!
//! Timed and random crashes become a sorted list of times (random ones drawn from the seed's
//! `failures` stream, so adding a failure shifts no other draw). Named moments (after a
//! checkpoint, during an alignment, an upload or a recovery) become one-shot triggers that the
//! simulation fires when the moment comes.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::rng::unit;
use crate::engine::{RngStreams, Time};
use crate::network::{ChannelId, TaskId};
use crate::scenario::{FailureSpec, Scenario};
use crate::topology::Topology;

/// A link stall: nothing crosses `channels` from `at` until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    /// Start.
    pub at: Time,
    /// End.
    pub until: Time,
    /// The stalled channels.
    pub channels: Vec<ChannelId>,
}

/// Every fault of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailurePlan {
    /// Times of timed, periodic and random crashes, sorted.
    pub crash_times: Vec<Time>,
    /// Checkpoint id → delay after its completion at which to crash.
    pub after_checkpoint: BTreeMap<u64, Time>,
    /// (checkpoint id, tasks it may happen at; `None` = any task with several inputs).
    pub during_alignment: Vec<(u64, Option<BTreeSet<TaskId>>)>,
    /// Checkpoints during whose uploads to crash.
    pub during_upload: BTreeSet<u64>,
    /// Recoveries (1-based) in the middle of which to crash again.
    pub during_recovery: BTreeSet<u32>,
    /// Checkpoints whose upload the storage rejects.
    pub upload_failures: BTreeSet<u64>,
    /// Link stalls, in scenario order.
    pub stalls: Vec<Stall>,
    /// Time from a crash to the restored job's resumption.
    pub restart_delay: Time,
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
            ..Default::default()
        };
        let mut rng = RngStreams::new(seed).stream("failures");
        for f in &s.failures {
            match f {
                FailureSpec::Crash { at, every, .. } => {
                    let mut t = at.ns();
                    plan.crash_times.push(t);
                    if let Some(e) = every {
                        while t.saturating_add(e.ns()) <= limit {
                            t += e.ns();
                            plan.crash_times.push(t);
                        }
                    }
                }
                FailureSpec::AfterCheckpoints { fraction, delay } => {
                    let interval = interval.unwrap_or(limit).max(1);
                    let expected = (limit / interval).max(1);
                    let id = ((fraction * expected as f64).round() as u64).max(1);
                    let delay = delay.map_or(interval / 2, |d| d.ns());
                    plan.after_checkpoint.insert(id, delay);
                }
                FailureSpec::DuringAlignment { checkpoint, task } => {
                    let tasks = task.as_ref().map(|sel| {
                        (0..topo.tasks.len() as TaskId)
                            .filter(|&t| topo.matches(sel, t))
                            .collect()
                    });
                    plan.during_alignment.push((*checkpoint, tasks));
                }
                FailureSpec::DuringUpload { checkpoint } => {
                    plan.during_upload.insert(*checkpoint);
                }
                FailureSpec::DuringRecovery { recovery } => {
                    plan.during_recovery.insert(*recovery);
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
                        plan.crash_times.push(t);
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
                    });
                }
                FailureSpec::UploadFailure { checkpoint } => {
                    plan.upload_failures.insert(*checkpoint);
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
