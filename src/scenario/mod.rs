//! Scenario files: the format, loading with precise error messages, validation and the schema.
//!
//! A scenario is plain data. [`Scenario::from_json`] parses it and checks every rule that the
//! type system cannot (names that must exist, numbers that must be positive), and reports the
//! first problem with the field path, such as `dataflow.operators[2].parallelism`. Loading never
//! panics, whatever the bytes.

pub mod estimate;
pub mod limits;
mod shape;
pub mod units;
mod validate;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use estimate::Estimate;
pub use limits::Limits;

use crate::protocols::{Params, ProtocolKind};
pub use units::{Bandwidth, ByteSize, Duration, Rate};

/// The longest scenario `name`: result file names add the protocol and the seed to it and
/// must stay within the 255 bytes file systems allow.
pub const MAX_NAME_LEN: usize = 100;

/// True for the characters a scenario `name` may hold: ASCII letters, digits, `-`, `_`, `.`.
pub fn name_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// A valid scenario name made from a file stem: other characters become `_`, and it is cut
/// to [`MAX_NAME_LEN`].
fn file_name_from(stem: &str) -> String {
    let mut name: String = stem
        .chars()
        .map(|c| if name_char_ok(c) { c } else { '_' })
        .take(MAX_NAME_LEN)
        .collect();
    if name.starts_with(['.', '-']) {
        name.replace_range(0..1, "_");
    }
    if name.is_empty() {
        name.push_str("scenario");
    }
    name
}

/// The results file name of one run, `<scenario>-<protocol>-seed<seed>.json`, safe on every
/// file system: a mutant's `mutant:NAME` is written `mutant_NAME`.
pub fn results_file_name(scenario: &str, protocol: &str, seed: u64) -> String {
    let protocol: String = protocol
        .chars()
        .map(|c| if name_char_ok(c) { c } else { '_' })
        .collect();
    format!("{scenario}-{protocol}-seed{seed}.json")
}

/// serde's message without its `invalid length N, expected ...` phrasing, which names the
/// length found as if it were the one wanted.
fn plain_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // Drop serde_json's " at line L column C" only when a field path already says where.
    if let Some(rest) = text.strip_prefix("invalid length ") {
        if let Some((n, expected)) = rest.split_once(", expected ") {
            let expected = expected.split(" at line ").next().unwrap_or(expected);
            return format!(
                "found {n} element{}; expected {expected}",
                if n == "1" { "" } else { "s" }
            );
        }
    }
    text
}

/// A problem with a scenario, naming the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ScenarioError {
    /// The path of the offending field, such as `network.latency` (`.` for the whole file).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ScenarioError {
    /// A problem at `path`. Control characters that the input put into either are escaped,
    /// so that a message never writes raw control codes to a terminal.
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ScenarioError {
            path: limits::escape(&path.into()),
            message: limits::escape(&message.into()),
        }
    }
}

/// One simulation set-up: the topology, the workload, the network and (later) the protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The JSON Schema the file follows, for editors; accepted and ignored.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Short name used in result file names; defaults to the file name without `.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the scenario shows, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The seed from which every random stream of the run is derived.
    #[serde(default)]
    pub seed: u64,
    /// Simulated time limit. The run also ends earlier when nothing is left to happen.
    pub duration: Duration,
    /// Defaults for every channel.
    #[serde(default)]
    pub network: NetworkSpec,
    /// Per-channel overrides, applied in order; later entries win.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkOverride>,
    /// A dataflow job (sources, operators, sinks). Exactly one of `dataflow` and `processes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataflow: Option<DataflowSpec>,
    /// A process graph (peer-to-peer systems). Exactly one of `dataflow` and `processes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<ProcessSpec>,
    /// Per-task overrides of the processing cost (a straggler), applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskOverride>,
    /// The snapshot protocol and the checkpoint coordinator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpointing: Option<CheckpointingSpec>,
    /// Faults to inject.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<FailureSpec>,
    /// How the job recovers from a crash.
    #[serde(default)]
    pub recovery: RecoverySpec,
}

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
    /// Time from a crash until the restored job resumes.
    #[serde(default = "default_restart_delay")]
    pub restart_delay: Duration,
}

fn default_restart_delay() -> Duration {
    Duration(10_000_000)
}

impl Default for RecoverySpec {
    fn default() -> Self {
        RecoverySpec {
            restart_delay: default_restart_delay(),
        }
    }
}

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

fn default_protocol() -> String {
    ProtocolKind::baseline().name().to_string()
}
fn default_checkpoint_timeout() -> Duration {
    Duration(600_000_000_000)
}

/// Channel defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Propagation latency.
    #[serde(default = "default_latency")]
    pub latency: LatencySpec,
    /// Link bandwidth; absent means messages take no time to serialise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<Bandwidth>,
    /// Bytes the sender may queue per channel before it is back-pressured.
    #[serde(default = "default_buffer")]
    pub out_buffer: ByteSize,
    /// Bytes of credit the receiver grants per channel (on the wire plus queued).
    #[serde(default = "default_buffer")]
    pub in_buffer: ByteSize,
    /// FIFO delivery; `false` lets messages overtake each other.
    #[serde(default = "default_true")]
    pub fifo: bool,
}

fn default_latency() -> LatencySpec {
    LatencySpec::Constant(Duration(100_000))
}
fn default_buffer() -> ByteSize {
    ByteSize(32 * 1024)
}
fn default_true() -> bool {
    true
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            latency: default_latency(),
            bandwidth: None,
            out_buffer: default_buffer(),
            in_buffer: default_buffer(),
            fifo: true,
        }
    }
}

/// A latency model, written as an object with one key naming the model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LatencySpec {
    /// `{"constant": "1ms"}`
    Constant(Duration),
    /// `{"uniform": {"min": "1ms", "max": "3ms"}}`
    Uniform {
        /// Smallest latency.
        min: Duration,
        /// Largest latency.
        max: Duration,
    },
    /// `{"exponential": {"mean": "1ms"}}`
    Exponential {
        /// Mean latency.
        mean: Duration,
    },
    /// `{"normal": {"mean": "1ms", "std_dev": "200us"}}`, clipped at zero.
    Normal {
        /// Mean latency.
        mean: Duration,
        /// Standard deviation.
        std_dev: Duration,
    },
}

/// Overrides for the channels that match `from` and `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkOverride {
    /// Sending task (`"count[2]"`) or operator/process name (all its tasks); absent = any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Receiving task or operator/process name; absent = any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Latency of the matching channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
    /// Bandwidth of the matching channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<Bandwidth>,
    /// Output buffer of the matching channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_buffer: Option<ByteSize>,
    /// Input buffer (credit) of the matching channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_buffer: Option<ByteSize>,
    /// FIFO delivery on the matching channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fifo: Option<bool>,
}

/// A dataflow job: operators with a parallelism, connected by partitioned edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataflowSpec {
    /// The operators; each becomes `parallelism` tasks named `name[i]`.
    pub operators: Vec<OperatorSpec>,
    /// The edges between operators.
    pub edges: Vec<EdgeSpec>,
}

/// One operator of a dataflow job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorSpec {
    /// Unique name.
    pub name: String,
    /// What the operator does.
    pub kind: OperatorKind,
    /// Number of parallel tasks.
    #[serde(default = "one")]
    pub parallelism: u32,
    /// Processing time per record at each task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Duration>,
}

fn one() -> u32 {
    1
}

/// The operator kinds, written as an object with one key: `{"keyed_count": {}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OperatorKind {
    /// Reads a replayable log.
    Source(SourceSpec),
    /// Passes each record on unchanged.
    Map(MapSpec),
    /// Counts records per key; the state grows with the number of keys seen.
    KeyedCount(KeyedSpec),
    /// Sums record values per key.
    KeyedSum(KeyedSpec),
    /// Two inputs (the first and second incoming edge); counts per key and side.
    Join(KeyedSpec),
    /// Writes results.
    Sink(SinkSpec),
}

/// A replayable source: each record has a unique increasing offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Records per second per task; absent means as fast as back-pressure allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// Records per task before the log ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    /// Stop reading after this much simulated time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    /// Number of distinct keys (keys are 0..keys).
    #[serde(default = "default_keys")]
    pub keys: u64,
    /// How keys are drawn.
    #[serde(default)]
    pub key_distribution: KeyDistribution,
    /// Size of one record on the wire.
    #[serde(default = "default_record_size")]
    pub record_size: ByteSize,
}

fn default_keys() -> u64 {
    1000
}
fn default_record_size() -> ByteSize {
    ByteSize(100)
}

/// How a source draws its keys.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyDistribution {
    /// Every key equally likely: `"uniform"`.
    #[default]
    Uniform,
    /// Skewed: `{"zipf": {"exponent": 1.1}}`; key 0 is the most frequent.
    Zipf {
        /// The skew; larger is more skewed. Must be positive.
        exponent: f64,
    },
}

/// Options of a stateless map (none yet besides the operator's `cost`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MapSpec {}

/// Options of a keyed, stateful operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyedSpec {
    /// Bytes of state per key held (reported as the operator's state size).
    #[serde(default = "default_state_per_key")]
    pub state_per_key: ByteSize,
    /// Size of each record the operator emits; absent keeps the input record's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_size: Option<ByteSize>,
}

fn default_state_per_key() -> ByteSize {
    ByteSize(16)
}

/// Options of a sink.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SinkSpec {
    /// Two-phase commit: output becomes visible only when a checkpoint completes.
    #[serde(default)]
    pub transactional: bool,
}

/// An edge between two operators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeSpec {
    /// Upstream operator.
    pub from: String,
    /// Downstream operator.
    pub to: String,
    /// How records are routed to the downstream tasks.
    #[serde(default)]
    pub partition: Partition,
}

/// Routing of records over an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Partition {
    /// Task i sends to task i; both operators need the same parallelism.
    Forward,
    /// By key: key modulo the downstream parallelism.
    #[default]
    Hash,
    /// Round-robin over the downstream tasks.
    Rebalance,
    /// Every record to every downstream task.
    Broadcast,
}

/// A process graph for peer-to-peer systems.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    /// Number of processes, named `p0`, `p1`, ... (give `count` or `names`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Explicit process names (give `count` or `names`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// Who may send to whom.
    pub graph: GraphSpec,
    /// What the processes do.
    pub workload: ProcessWorkload,
    /// Processing time per received message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Duration>,
}

/// The channels of a process graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum GraphSpec {
    /// `{"ring": {"bidirectional": false}}`: p_i to p_(i+1), and back if bidirectional.
    Ring {
        /// Also add the reverse edges.
        #[serde(default)]
        bidirectional: bool,
    },
    /// `{"full_mesh": {}}`: every process to every other.
    FullMesh {},
    /// `{"random_k_out": {"k": 4, "ring": true}}`: each process to k distinct random others.
    RandomKOut {
        /// Outgoing channels per process.
        k: u32,
        /// Make the ring edge p_i to p_(i+1) one of the k, which keeps the graph strongly
        /// connected (needed for a marker to reach everyone).
        #[serde(default = "default_true")]
        ring: bool,
        /// Seed of the graph; absent uses the run's seed, so the graph changes with `--seed`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
    },
    /// `{"edges": [["p", "q"], ["q", "p"]]}`: explicit directed edges.
    Edges(Vec<(String, String)>),
}

/// Process-graph workloads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ProcessWorkload {
    /// Money transfers between neighbours; the total is conserved.
    Bank(BankSpec),
    /// A scripted run, for textbook examples.
    Script(ScriptSpec),
}

/// The peer-to-peer bank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BankSpec {
    /// Starting balance of every process.
    #[serde(default = "default_balance")]
    pub initial_balance: u64,
    /// Mean time between transfers a process starts on its own (exponential); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_interval: Option<Duration>,
    /// Largest amount of one transfer (amounts are uniform in 1..=max, capped by the balance).
    #[serde(default = "default_max_amount")]
    pub max_amount: u64,
    /// Size of a transfer message.
    #[serde(default = "default_transfer_size")]
    pub message_size: ByteSize,
    /// Transfers each process sends at time zero.
    #[serde(default)]
    pub initial_transfers: u64,
    /// A process that receives a transfer passes the same amount on to a random neighbour:
    /// a closed system with a constant number of messages in flight.
    #[serde(default)]
    pub relay: bool,
}

fn default_balance() -> u64 {
    1000
}
fn default_max_amount() -> u64 {
    10
}
fn default_transfer_size() -> ByteSize {
    ByteSize(64)
}

/// A scripted run: named states, timed sends and snapshot initiations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptSpec {
    /// Each process's state at time zero (a label such as `"A"`); default `"init"`.
    #[serde(default)]
    pub initial_states: BTreeMap<String, String>,
    /// Timed actions, run in the order of their times (ties in file order).
    pub steps: Vec<ScriptStep>,
    /// State changes on receipt of a named message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_receive: Vec<ReceiveRule>,
}

/// One scripted action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptStep {
    /// When it happens.
    pub at: Duration,
    /// Who acts.
    pub process: String,
    /// Send a named message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<ScriptSend>,
    /// The process's state after the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub becomes: Option<String>,
    /// Start snapshot number n here (Chandy-Lamport initiation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiate_snapshot: Option<u64>,
}

/// A scripted send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptSend {
    /// Receiver; there must be a channel to it.
    pub to: String,
    /// The message's name, such as `"M"`.
    pub message: String,
    /// Latency of this message; absent uses the channel's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Duration>,
}

/// A state change on receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveRule {
    /// The receiving process.
    pub process: String,
    /// The message's name.
    pub message: String,
    /// The state after receiving it.
    pub becomes: String,
}

/// Overrides for the tasks that match `task`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskOverride {
    /// A task (`"sink[0]"`, `"p3"`) or an operator name (all its tasks).
    pub task: String,
    /// Processing time per record or message.
    pub cost: Duration,
}

impl Scenario {
    /// Parses and validates a scenario from JSON bytes under the default [`Limits`].
    /// `fallback_name` (usually the file stem) is used when the file gives no `name`.
    pub fn from_json(bytes: &[u8], fallback_name: &str) -> Result<Scenario, ScenarioError> {
        Self::from_json_limited(bytes, fallback_name, &Limits::default())
    }

    /// Parses and validates a scenario from JSON bytes, refusing what exceeds `limits`: a
    /// file above `limits.file_bytes` is refused before it is parsed, and a scenario whose
    /// [`limits::estimate`] exceeds a limit after it.
    pub fn from_json_limited(
        bytes: &[u8],
        fallback_name: &str,
        limits: &Limits,
    ) -> Result<Scenario, ScenarioError> {
        if bytes.len() as u64 > limits.file_bytes {
            return Err(ScenarioError::new(
                ".",
                format!(
                    "the file has {} bytes, above the limit of {} for a scenario file; \
                     raise it with --limit file={}",
                    bytes.len(),
                    limits.file_bytes,
                    ByteSize(bytes.len() as u64)
                ),
            ));
        }
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(ScenarioError::new(
                ".",
                "the file is empty; a scenario is a JSON object",
            ));
        }
        let json_error = |path: String, inner: serde_json::Error| {
            let message = match inner.classify() {
                serde_json::error::Category::Eof => format!(
                    "the file ends too early (line {}, column {}): is it truncated?",
                    inner.line(),
                    inner.column()
                ),
                serde_json::error::Category::Syntax => format!("not valid JSON: {inner}"),
                _ => plain_error(&inner),
            };
            ScenarioError::new(path, message)
        };
        // Syntax and shape first, allocating nothing per element, then the typed pass.
        let shape = match shape::scan(bytes) {
            Err((path, e)) if e.classify() != serde_json::error::Category::Data => {
                return Err(json_error(path, e));
            }
            other => other,
        };
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let parsed: Result<Scenario, _> = serde_path_to_error::deserialize(&mut *de);
        let typed = parsed.map_err(|e| {
            // serde_path_to_error marks a position it could not name with `?`.
            let path = e.path().to_string();
            let path = path.trim_end_matches(".?").trim_end_matches('?');
            let path = if path.is_empty() { "." } else { path }.to_string();
            let inner = e.into_inner();
            // serde reading a struct from an array of its fields says "invalid length".
            let as_fields = inner.to_string().starts_with("invalid length ");
            (as_fields, json_error(path, inner))
        });
        // The typed pass names what was expected; the shape pass explains a struct written
        // as an array, which serde either accepts or reports as a wrong length.
        let mut scenario = match (typed, shape) {
            (Err((as_fields, typed)), Err((path, e)))
                if as_fields
                    || path == "."
                    || (typed.path.starts_with(&path) && typed.path != path) =>
            {
                return Err(json_error(path, e))
            }
            (Ok(_), Err((path, e))) => return Err(json_error(path, e)),
            (Err((_, e)), _) => return Err(e),
            (Ok(s), Ok(())) => s,
        };
        if scenario.name.is_none() {
            scenario.name = Some(file_name_from(fallback_name));
        }
        validate::validate(&scenario, limits)?;
        Ok(scenario)
    }

    /// Checks every rule again under the default [`Limits`], after a change such as failures
    /// added on the command line.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        validate::validate(self, &Limits::default())
    }

    /// Checks every rule again under `limits`.
    pub fn validate_limited(&self, limits: &Limits) -> Result<(), ScenarioError> {
        validate::validate(self, limits)
    }

    /// What the scenario will need (tasks, channels, memory...), from its fields alone.
    pub fn estimate(&self) -> limits::Estimate {
        limits::estimate(self)
    }

    /// The scenario's name (set by [`Scenario::from_json`]).
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("scenario")
    }

    /// The JSON Schema of the scenario format, pretty-printed.
    pub fn json_schema() -> String {
        let mut schema = serde_json::to_value(schemars::schema_for!(Scenario))
            .expect("a schema always serialises");
        declare_protocol_params(&mut schema["$defs"]["CheckpointingSpec"]);
        // Back through schemars' type, which writes keywords in a readable order.
        let schema = schemars::Schema::try_from(schema).expect("still a schema");
        serde_json::to_string_pretty(&schema).expect("a schema always serialises") + "\n"
    }
}

impl FailureSpec {
    /// Parses the command line's short form of a failure:
    /// `at=500ms`, `every=300ms` (from one interval on), `after=0.25` (a fraction of the
    /// checkpoints), `alignment=3`, `upload=3`, `recovery=1`, `random=300ms` (mean interval),
    /// `upload-failure=2`.
    pub fn from_flag(flag: &str) -> Result<FailureSpec, String> {
        let (kind, value) = flag.split_once('=').ok_or_else(|| {
            format!("`{flag}` is not a failure; write KIND=VALUE, such as at=500ms or after=0.5")
        })?;
        let dur = |v: &str| v.parse::<Duration>();
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("`{v}` is not a whole number"))
        };
        let spec = match kind {
            "at" => FailureSpec::Crash { at: dur(value)?, every: None, tasks: vec![] },
            "every" => {
                let e = dur(value)?;
                FailureSpec::Crash { at: e, every: Some(e), tasks: vec![] }
            }
            "after" => FailureSpec::AfterCheckpoints {
                fraction: value.parse().map_err(|_| format!("`{value}` is not a fraction"))?,
                delay: None,
            },
            "alignment" => FailureSpec::DuringAlignment { checkpoint: num(value)?, task: None },
            "upload" => FailureSpec::DuringUpload { checkpoint: num(value)? },
            "recovery" => FailureSpec::DuringRecovery {
                recovery: u32::try_from(num(value)?).map_err(|_| format!("`{value}` is too large"))?,
            },
            "random" => FailureSpec::Random { mean_interval: dur(value)? },
            "upload-failure" => FailureSpec::UploadFailure { checkpoint: num(value)? },
            other => {
                return Err(format!(
                    "unknown failure `{other}`; expected at, every, after, alignment, upload, recovery, random or upload-failure"
                ))
            }
        };
        spec.check_ranges()
            .map_err(|(field, msg)| format!("`{flag}`: {field} {msg}"))?;
        Ok(spec)
    }
}

/// The `checkpointing` schema lists every protocol by name and every parameter a protocol
/// declares, and nothing else.
fn declare_protocol_params(spec: &mut serde_json::Value) {
    let mut params: BTreeMap<&str, &crate::protocols::Param> = BTreeMap::new();
    for p in ProtocolKind::all() {
        for param in p.params() {
            params.insert(param.name, param);
        }
    }
    if let Some(props) = spec["properties"].as_object_mut() {
        for (name, param) in params {
            let default = serde_json::to_value(Duration(param.default_ns))
                .expect("a duration always serialises");
            props.insert(
                name.to_string(),
                serde_json::json!({
                    "description": param.doc,
                    "$ref": "#/$defs/Duration",
                    "default": default,
                }),
            );
        }
    }
    let names: Vec<&str> = ProtocolKind::all().map(|p| p.name()).collect();
    spec["properties"]["protocol"]["enum"] = serde_json::json!(names);
    spec["additionalProperties"] = serde_json::Value::Bool(false);
}
