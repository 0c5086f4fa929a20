//! What a restart costs and whether there is one: the restart strategy's answer to each
//! failure (and the job's end when it gives up), the bytes each task reads to restore its
//! part of the checkpoint (remotely, or from its local copy), and the measured replay of the
//! restored channel state.
//!
//! **Model** of task-local recovery (Flink's `state.backend.local-recovery`): every task
//! keeps a local copy of the keyed state of each checkpoint it takes. A task restarted on its
//! previous slot reads its keyed state from that copy (over `local_bandwidth`, free without
//! one) and only its recorded channel state from remote storage, which Flink never keeps
//! locally; a task whose machine was lost (see [`crate::failure::lost_slots`]) reads
//! everything remotely. A task's restore takes its remote bytes over `restore_bandwidth`
//! plus its local bytes over `local_bandwidth`; the slowest task sets the restore time.
//!
//! **Model** of the channel-state replay: the recovered in-flight data is put back in front
//! of each channel and taken before any new input, and, as in Flink, no checkpoint is
//! triggered until then (the trigger fails and the next periodic one tries again).
//! The replay is measured in every run: from the restart until every task has taken the last
//! message put back, and it counts in the downtime, which is how a big unaligned or
//! Chandy-Lamport snapshot makes recovery slow even when downloading it costs nothing. A crash
//! during the replay ends it.

use super::Simulation;
use crate::engine::Time;
use crate::failure::{Decision, JobFailure, RestartStrategy};
use crate::network::ChannelId;
use crate::protocols::Mutant;
use crate::scenario::{RestartStrategySpec, Scenario};
use crate::snapshot::LocalSnapshot;

/// Recovery's running state.
#[derive(Debug, Clone)]
pub(super) struct RecoveryRt {
    /// The restart strategy.
    strategy: RestartStrategy,
    /// What the strategy is, for the message when it gives up.
    described: String,
    /// Set when the strategy gave up.
    pub(super) job_failure: Option<JobFailure>,
    /// Per task: its slot (and local copy) was lost by a crash since the last restart.
    lost: Vec<bool>,
    /// Messages put back into each channel at the last restart and not yet taken (only
    /// while a replay is measured).
    replay_left: Vec<u32>,
    /// Messages put back at the last restart and not yet taken, over all channels; non-zero
    /// only while a replay is measured, so the task loop checks only this.
    pub(super) replaying: u64,
    /// When the measured replay began.
    replay_from: Time,
    /// The failures the last restart ended (from here to the end of the log).
    replay_failures: usize,
}

impl Default for RecoveryRt {
    fn default() -> Self {
        RecoveryRt {
            strategy: RestartStrategy::Unlimited { delay: 0 },
            described: String::new(),
            job_failure: None,
            lost: Vec::new(),
            replay_left: Vec::new(),
            replaying: 0,
            replay_from: 0,
            replay_failures: 0,
        }
    }
}

impl RecoveryRt {
    /// The recovery state of `s`, with `tasks` tasks and `channels` channels.
    pub(super) fn new(s: &Scenario, seed: u64, tasks: usize, channels: usize) -> Self {
        let described = match &s.recovery.restart_strategy {
            None => String::new(),
            Some(RestartStrategySpec::FixedDelay { attempts, .. }) => {
                format!("fixed-delay allows {attempts} restarts, all used")
            }
            Some(RestartStrategySpec::FailureRate {
                max_failures_per_interval,
                failure_rate_interval,
                ..
            }) => format!(
                "failure-rate allows {max_failures_per_interval} failures per {failure_rate_interval}, and this is one more"
            ),
            Some(RestartStrategySpec::ExponentialDelay {
                attempts_before_reset_backoff,
                ..
            }) => format!(
                "exponential-delay allows {} restarts before its backoff resets, all used",
                attempts_before_reset_backoff.unwrap_or(u32::MAX)
            ),
        };
        RecoveryRt {
            strategy: RestartStrategy::new(&s.recovery, seed),
            described,
            lost: if s.recovery.local_recovery {
                vec![false; tasks]
            } else {
                Vec::new()
            },
            replay_left: vec![0; channels],
            ..RecoveryRt::default()
        }
    }
}

impl Simulation {
    /// Asks the restart strategy about the failure at `now` from `spec` (the scenario's
    /// failure, if planned), ending a measured replay and noting the slots it loses. Returns
    /// the wait before the restart, or `None` when the job fails.
    pub(super) fn decide_restart(&mut self, now: Time, spec: Option<usize>) -> Option<Time> {
        if self.rec.replaying > 0 {
            self.end_replay(now);
        }
        if let Some(lost) = spec.and_then(|s| self.plan.lost_slots.get(s)) {
            for (t, &l) in lost.iter().enumerate() {
                self.rec.lost[t] |= l;
            }
        }
        match self.rec.strategy.on_failure(now) {
            Decision::Restart(wait) => Some(wait),
            Decision::GiveUp => None,
        }
    }

    /// The job fails at `now` on the failure `cause`: the run stops here.
    pub(super) fn fail_job(&mut self, now: Time, cause: String) {
        self.rec.job_failure = Some(JobFailure {
            at_ns: now,
            cause,
            reason: self.rec.described.clone(),
        });
    }

    /// The bytes task `t` reads to restore its part `local` of a checkpoint: (from remote
    /// storage, from its local copy). The one place a restore's bytes are decided: a state
    /// backend that must also replay a log adds its bytes here.
    pub(super) fn restore_bytes(&self, t: usize, local: &LocalSnapshot) -> (u64, u64) {
        let channel = local.channel_state_bytes();
        if self.slot_kept(t) {
            (channel, local.state_bytes)
        } else {
            (local.state_bytes + channel, 0)
        }
    }

    /// True when task `t` restarts on its slot with its local copy.
    fn slot_kept(&self, t: usize) -> bool {
        self.plan.local_recovery && !self.rec.lost.get(t).copied().unwrap_or(true)
    }

    /// How long the slowest task takes to read its part of the checkpoint a restart would
    /// restore now: (remote, local) of that task (the first of equals); the remote part
    /// includes the changelog's replay.
    pub(super) fn restore_parts(&self) -> (Time, Time) {
        let Some(snap) = self.coord.last_completed() else {
            return (0, 0);
        };
        let over = |bytes: u64, bw: Option<u64>| {
            bw.map_or(0, |bw| {
                (u128::from(bytes) * 1_000_000_000).div_ceil(u128::from(bw)) as Time
            })
        };
        let mut slowest = (0, 0);
        for (t, part) in snap.tasks.iter().enumerate() {
            let (remote, local) = self.restore_bytes(t, part);
            // The changelog backend replays its log since the materialisation once the state
            // is read (0 without it); counted with the remote part.
            let parts = (
                over(remote, self.plan.restore_bandwidth) + part.restore_replay_ns(),
                over(local, self.plan.local_bandwidth),
            );
            if parts.0 + parts.1 > slowest.0 + slowest.1 {
                slowest = parts;
            }
        }
        slowest
    }

    /// The local copy a task restored on its slot reads instead of `snap`'s state: the same
    /// state (so `None`), or, for the stale-copy mutant, that of the checkpoint before it
    /// (a source's read position included: the copy holds the task's whole state).
    pub(super) fn local_copy_of(
        &self,
        t: usize,
        snap: &crate::snapshot::GlobalSnapshot,
    ) -> Option<crate::workload::Behaviour> {
        if self.mutant != Some(Mutant::LocalRecoveryStaleCopy) || !self.slot_kept(t) {
            return None;
        }
        let older = self.coord.completed_before(snap.id)?;
        Some(older.tasks[t].state.clone())
    }

    /// After a restart: every slot is the task's again, and the replay of the `put_back`
    /// messages per channel is measured.
    /// `first` is the first failure the restart ends.
    pub(super) fn begin_replay(&mut self, now: Time, put_back: &[(ChannelId, u32)], first: usize) {
        self.rec.lost.iter_mut().for_each(|l| *l = false);
        if self.rec.replay_left.is_empty() {
            return;
        }
        self.rec.replay_from = now;
        self.rec.replay_failures = first;
        let mut total = 0;
        for &(c, n) in put_back {
            self.rec.replay_left[c as usize] = n;
            total += u64::from(n);
        }
        self.rec.replaying = total;
        if total == 0 {
            self.end_replay(now);
        }
    }

    /// Restored in-flight data is still waiting to be taken after the last recovery.
    pub(super) fn replay_in_progress(&self) -> bool {
        self.rec.replaying > 0
    }

    /// A task took a message from channel `ch` while a replay is measured.
    #[cold]
    pub(super) fn replayed(&mut self, ch: ChannelId) {
        let left = &mut self.rec.replay_left[ch as usize];
        if *left > 0 {
            *left -= 1;
            self.rec.replaying -= 1;
            if self.rec.replaying == 0 {
                let now = self.sched.now();
                self.end_replay(now);
            }
        }
    }

    /// The measured replay ends at `now` (the last message put back was taken, or a crash
    /// came first): it joins the downtime of the failures the restart ended.
    pub(super) fn end_replay(&mut self, now: Time) {
        self.rec.replaying = 0;
        self.rec.replay_left.iter_mut().for_each(|l| *l = 0);
        let replay = now - self.rec.replay_from;
        let from = self.rec.replay_failures;
        let to = self.failure_log.len();
        for f in &mut self.failure_log[from.min(to)..] {
            f.replay_ns = Some(replay);
            f.downtime_ns += replay;
        }
    }

    /// The job failed because its restart strategy gave up.
    pub fn job_failure(&self) -> Option<&JobFailure> {
        self.rec.job_failure.as_ref()
    }
}
