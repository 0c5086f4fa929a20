//! Dataflow jobs: operators, what they do, and the partitioned edges between them.

use super::*;

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
    /// Key groups a keyed exchange into this operator routes by (Flink's max parallelism);
    /// absent: Flink's default for the operator's parallelism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallelism: Option<u32>,
}

impl OperatorSpec {
    /// The max parallelism in effect: the one set, or Flink's default for the parallelism.
    pub fn effective_max_parallelism(&self) -> u32 {
        self.max_parallelism
            .unwrap_or_else(|| crate::keygroups::default_max_parallelism(self.parallelism))
    }
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
