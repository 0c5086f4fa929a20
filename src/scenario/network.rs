//! Channels: the defaults every channel starts from and per-channel overrides.

use super::*;

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
