//! Process graphs: who may send to whom, and what the processes do (a bank or a script).

use super::*;

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
