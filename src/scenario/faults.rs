//! Faults to inject and how the job recovers from them.

use super::*;

/// One fault, written as an object with one key naming its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FailureSpec {
    /// `{"crash": {"at": "500ms"}}`: a crash at a time, optionally repeated `every` interval
    /// until the end of `duration`.
    Crash {
        /// When.
        at: Duration,
        /// Repeat with this period.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        every: Option<Duration>,
        /// Tasks that die (for the report; recovery is global, as in Flink). Default: all.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tasks: Vec<String>,
    },
    /// `{"after_checkpoints": {"fraction": 0.25}}`: a crash `delay` after checkpoint
    /// `round(fraction * duration / interval)` completes (at least checkpoint 1).
    AfterCheckpoints {
        /// Fraction of the checkpoints the run is expected to take, in (0, 1].
        fraction: f64,
        /// Time after the completion; default half a checkpoint interval.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delay: Option<Duration>,
    },
    /// `{"during_alignment": {"checkpoint": 3}}`: a crash when the first barrier (or marker) of
    /// that checkpoint reaches a task with several inputs (the given one, if named).
    DuringAlignment {
        /// Checkpoint id.
        checkpoint: u64,
        /// Only at this task (or any task of this operator).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<String>,
    },
    /// `{"during_upload": {"checkpoint": 3}}`: a crash when every task has recorded its part of
    /// that checkpoint and the uploads are in flight.
    DuringUpload {
        /// Checkpoint id.
        checkpoint: u64,
    },
    /// `{"during_recovery": {"recovery": 1}}`: a crash halfway through the n-th recovery.
    DuringRecovery {
        /// Which recovery (1 is the first).
        recovery: u32,
    },
    /// `{"random": {"mean_interval": "300ms"}}`: crashes at exponential intervals (from the
    /// failure stream of the seed) until the end of `duration`.
    Random {
        /// Mean time between crashes.
        mean_interval: Duration,
    },
    /// `{"stall": {"from": "a", "to": "b", "at": "100ms", "duration": "20ms"}}`: nothing crosses
    /// the matching channels for a while; they are not broken, only slow.
    Stall {
        /// Sending task or operator; absent = any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        /// Receiving task or operator; absent = any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        /// When the stall starts.
        at: Duration,
        /// How long it lasts.
        duration: Duration,
    },
    /// `{"upload_failure": {"checkpoint": 2}}`: the storage rejects that checkpoint's upload, so
    /// the checkpoint fails (and counts towards `tolerable_failures`).
    UploadFailure {
        /// Checkpoint id.
        checkpoint: u64,
    },
}

/// Recovery settings (Flink's restart strategy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverySpec {
    /// Time from a crash until the restored job resumes, after detection and before the
    /// tasks download their state. Restarts are unlimited. Not given together with
    /// `restart_strategy`, whose delay replaces it.
    #[serde(default = "default_restart_delay")]
    pub restart_delay: Duration,
    /// Time from a failure until the job notices it (Flink: a task's exception at once, a lost
    /// TaskManager after `heartbeat.timeout`).
    #[serde(default)]
    pub detection: Duration,
    /// Bandwidth at which each task downloads its part of the restored checkpoint (its state
    /// and its recorded channel state), all tasks at once; absent: restoring takes no time
    /// and the channel-state replay is not counted in the downtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_bandwidth: Option<Bandwidth>,
    /// Flink's restart strategy (`restart-strategy.type`): how long to wait before each
    /// restart, and when to give up and fail the job. Absent: `restart_delay` before every
    /// restart, never giving up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_strategy: Option<RestartStrategySpec>,
    /// Task-local recovery (Flink's `state.backend.local-recovery`): a task restarted on its
    /// previous slot reads its keyed state from the local copy; channel state and the state
    /// of tasks whose machine was lost (a crash's `tasks`) still come from remote storage.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub local_recovery: bool,
    /// Bandwidth at which a task reads its local copy of keyed state; absent: reading it
    /// locally takes no time. Only with `local_recovery`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_bandwidth: Option<Bandwidth>,
}

/// One of Flink's restart strategies, written as an object with one key naming it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RestartStrategySpec {
    /// `{"fixed_delay": {"attempts": 3, "delay": "1s"}}`: `delay` before each restart; the
    /// failure after `attempts` restarts fails the job.
    FixedDelay {
        /// Restarts allowed (Flink's default 1).
        #[serde(default = "one")]
        attempts: u32,
        /// Wait before each restart (Flink's default 1 s).
        #[serde(default = "one_second")]
        delay: Duration,
    },
    /// `{"failure_rate": {"max_failures_per_interval": 3, "failure_rate_interval": "10s"}}`:
    /// `delay` before each restart, unless this failure and the `max_failures_per_interval`
    /// before it all fall within `failure_rate_interval`: then the job fails.
    FailureRate {
        /// Failures tolerated within the interval (Flink's default 1).
        #[serde(default = "one")]
        max_failures_per_interval: u32,
        /// The interval (Flink's default 1 min).
        #[serde(default = "one_minute")]
        failure_rate_interval: Duration,
        /// Wait before each restart (Flink's default 1 s).
        #[serde(default = "one_second")]
        delay: Duration,
    },
    /// `{"exponential_delay": {}}`: the wait starts at `initial_backoff` and is multiplied by
    /// `backoff_multiplier` at each failure up to `max_backoff`, with a random jitter of up to
    /// `jitter_factor` of it either way; a quiet period of `reset_backoff_threshold` plus the
    /// current backoff resets it. Defaults are Flink 1.19's.
    ExponentialDelay {
        /// The first wait (Flink's default 1 s).
        #[serde(default = "one_second")]
        initial_backoff: Duration,
        /// The longest wait (Flink's default 1 min since 1.19; 5 min before).
        #[serde(default = "one_minute")]
        max_backoff: Duration,
        /// Growth per failure, at least 1 (Flink's default 1.5 since 1.19; 2.0 before).
        #[serde(default = "default_multiplier")]
        backoff_multiplier: f64,
        /// Quiet time after which the backoff goes back to `initial_backoff` (Flink's
        /// default 1 h).
        #[serde(default = "one_hour")]
        reset_backoff_threshold: Duration,
        /// Jitter as a fraction of the backoff, in [0, 1] (Flink's default 0.1).
        #[serde(default = "default_jitter")]
        jitter_factor: f64,
        /// Restarts allowed before a reset of the backoff; the next failure fails the job
        /// (Flink 1.19's `attempts-before-reset-backoff`). Absent: unlimited.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempts_before_reset_backoff: Option<u32>,
    },
}

fn one() -> u32 {
    1
}

fn one_second() -> Duration {
    Duration(1_000_000_000)
}

fn one_minute() -> Duration {
    Duration(60_000_000_000)
}

fn one_hour() -> Duration {
    Duration(3_600_000_000_000)
}

fn default_multiplier() -> f64 {
    1.5
}

fn default_jitter() -> f64 {
    0.1
}

/// The restart delay when `restart_strategy` is absent.
pub fn default_restart_delay() -> Duration {
    Duration(10_000_000)
}

impl RestartStrategySpec {
    /// The longest wait the strategy ever asks for before a restart.
    pub fn max_delay(&self) -> Duration {
        match self {
            RestartStrategySpec::FixedDelay { delay, .. }
            | RestartStrategySpec::FailureRate { delay, .. } => *delay,
            RestartStrategySpec::ExponentialDelay { max_backoff, .. } => *max_backoff,
        }
    }
}

impl RecoverySpec {
    /// The longest wait before a restart: the strategy's, or `restart_delay`.
    pub fn max_restart_delay(&self) -> Duration {
        self.restart_strategy
            .as_ref()
            .map_or(self.restart_delay, RestartStrategySpec::max_delay)
    }
}

impl Default for RecoverySpec {
    fn default() -> Self {
        RecoverySpec {
            restart_delay: default_restart_delay(),
            detection: Duration(0),
            restore_bandwidth: None,
            restart_strategy: None,
            local_recovery: false,
            local_bandwidth: None,
        }
    }
}
