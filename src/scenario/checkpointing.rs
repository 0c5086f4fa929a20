//! The protocol, the checkpoint coordinator and its storage, and the protocols' own parameters.

use super::*;

/// The snapshot protocol, the checkpoint coordinator (Flink's `CheckpointCoordinator`) and the
/// checkpoint storage.
///
/// Fields other than the coordinator's are protocol parameters, declared by the protocols
/// themselves: validation refuses a name no protocol declares, and the schema lists every
/// declared one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckpointingSpec {
    /// Protocol name (the schema lists them; the default takes no snapshots); `--protocol`
    /// overrides it.
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// Time between checkpoint triggers; absent: only scripted initiations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Checkpoints in flight at once.
    #[serde(default = "one")]
    pub max_concurrent: u32,
    /// Least time between the end of one checkpoint and the trigger of the next.
    #[serde(default)]
    pub min_pause: Duration,
    /// A checkpoint not complete this long after its trigger expires.
    #[serde(default = "default_checkpoint_timeout")]
    pub timeout: Duration,
    /// Consecutive failed (expired or declined) checkpoints tolerated before the job fails.
    #[serde(default)]
    pub tolerable_failures: u32,
    /// Bandwidth of the checkpoint storage, shared by all uploads; absent: uploads are instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_bandwidth: Option<Bandwidth>,
    /// Synchronous part of each local snapshot, during which the task does nothing else.
    #[serde(default)]
    pub sync_copy: Duration,
    /// Forward (pointwise) and broadcast edges do not support unaligned checkpoints, and a node
    /// with one such input edge aligns all its inputs, as in Flink (FLINK-21945): barriers on
    /// them travel aligned even in an unaligned or timed-out checkpoint. `false` lets every
    /// edge go unaligned, for comparison.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub force_aligned_pointwise: bool,
    /// Process graphs: the processes the coordinator triggers (default: the first process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiators: Option<Vec<String>>,
    /// Protocol parameters by name, as the protocols declare them; kept as written until
    /// validation has checked the name and parsed the duration, so that a message can name
    /// the field.
    #[serde(flatten)]
    pub params: BTreeMap<String, serde_json::Value>,
}

impl CheckpointingSpec {
    /// The duration set for parameter `name`: `None` when absent, `Err` when not a duration.
    pub fn param(&self, name: &str) -> Option<Result<Duration, String>> {
        self.params
            .get(name)
            .map(|v| Duration::deserialize(v).map_err(|e| e.to_string()))
    }

    /// The values of `protocol`'s parameters: those this (validated) section sets, the rest
    /// defaults.
    pub fn params_for(&self, protocol: ProtocolKind) -> Params {
        Params::resolve(protocol, &|name| {
            self.param(name).and_then(|d| d.ok()).map(|d| d.ns())
        })
    }
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}
fn default_protocol() -> String {
    ProtocolKind::baseline().name().to_string()
}
fn default_checkpoint_timeout() -> Duration {
    Duration(600_000_000_000)
}
