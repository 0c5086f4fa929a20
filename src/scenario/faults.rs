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
    /// tasks download their state.
    #[serde(default = "default_restart_delay")]
    pub restart_delay: Duration,
    /// Time from a failure until the job notices it (Flink: a task's exception at once, a lost
    /// TaskManager after `heartbeat.timeout`).
    #[serde(default)]
    pub detection: Duration,
    /// Bandwidth at which each task downloads its part of the restored checkpoint (its state
    /// and its recorded channel state), all tasks at once; absent: restoring takes no time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_bandwidth: Option<Bandwidth>,
}

fn default_restart_delay() -> Duration {
    Duration(10_000_000)
}

impl Default for RecoverySpec {
    fn default() -> Self {
        RecoverySpec {
            restart_delay: default_restart_delay(),
            detection: Duration(0),
            restore_bandwidth: None,
        }
    }
}
