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
    /// Flink's buffer model in place of `out_buffer` and `in_buffer`: a number of buffers of
    /// one size, exclusive per channel and floating per input gate. Absent: the byte budgets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffers: Option<BuffersSpec>,
    /// Flink's buffer debloating: each input gate sizes its buffers so that what is in flight
    /// takes `target` to consume. Implies the buffer model (with its defaults if `buffers` is
    /// absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer_debloat: Option<BufferDebloatSpec>,
}

/// Flink's network buffers (`taskmanager.memory.segment-size`,
/// `taskmanager.network.memory.buffers-per-channel`, `floating-buffers-per-gate`,
/// `max-overdraft-buffers-per-gate`).
///
/// A record takes its bytes of a buffer: records smaller than a buffer share it and a larger
/// one spans buffers, so a channel's credit is its buffers times the buffer size, in bytes.
/// An input gate is a task's input from one upstream operator; its floating buffers are split
/// evenly over its channels (the first channels take one more when they do not divide).
/// The sender holds one buffer per channel, the one it is filling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuffersSpec {
    /// Size of one buffer, and the largest size debloating uses.
    #[serde(default = "default_segment")]
    pub segment_size: ByteSize,
    /// Buffers each input channel owns.
    #[serde(default = "default_exclusive")]
    pub exclusive_per_channel: u32,
    /// Buffers each input gate shares among its channels.
    #[serde(default = "default_floating")]
    pub floating_per_gate: u32,
    /// Extra output buffers a task may take to finish the record it is emitting when its
    /// output is full; 0 makes it wait in the middle of the record.
    #[serde(default = "default_overdraft")]
    pub max_overdraft_buffers_per_gate: u32,
}

fn default_segment() -> ByteSize {
    ByteSize(32 * 1024)
}
fn default_exclusive() -> u32 {
    2
}
fn default_floating() -> u32 {
    8
}
fn default_overdraft() -> u32 {
    5
}

impl Default for BuffersSpec {
    fn default() -> Self {
        BuffersSpec {
            segment_size: default_segment(),
            exclusive_per_channel: default_exclusive(),
            floating_per_gate: default_floating(),
            max_overdraft_buffers_per_gate: default_overdraft(),
        }
    }
}

/// Flink's `taskmanager.network.memory.buffer-debloat.*` options, with Flink's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BufferDebloatSpec {
    /// Debloating runs only when true.
    #[serde(default)]
    pub enabled: bool,
    /// Time the data in flight to a gate should take to consume.
    #[serde(default = "default_target")]
    pub target: Duration,
    /// How often each gate recomputes its buffer size.
    #[serde(default = "default_period")]
    pub period: Duration,
    /// Periods the moving average of the buffer size spans.
    #[serde(default = "default_samples")]
    pub samples: u32,
    /// Least change of the buffer size, in percent of the old one, that is announced.
    #[serde(default = "default_threshold")]
    pub threshold_percentages: u32,
    /// Smallest buffer size (the largest is `buffers.segment_size`).
    #[serde(default = "default_min_size")]
    pub min_size: ByteSize,
}

fn default_target() -> Duration {
    Duration(1_000_000_000)
}
fn default_period() -> Duration {
    Duration(200_000_000)
}
fn default_samples() -> u32 {
    20
}
fn default_threshold() -> u32 {
    25
}
fn default_min_size() -> ByteSize {
    ByteSize(256)
}

impl Default for BufferDebloatSpec {
    fn default() -> Self {
        BufferDebloatSpec {
            enabled: false,
            target: default_target(),
            period: default_period(),
            samples: default_samples(),
            threshold_percentages: default_threshold(),
            min_size: default_min_size(),
        }
    }
}

impl NetworkSpec {
    /// The buffer model in force: the one given, or Flink's defaults when debloating is on
    /// without one; `None` means the byte budgets.
    pub fn buffer_model(&self) -> Option<BuffersSpec> {
        match (self.buffers, self.debloat()) {
            (Some(b), _) => Some(b),
            (None, Some(_)) => Some(BuffersSpec::default()),
            (None, None) => None,
        }
    }

    /// The debloating options, when debloating is on.
    pub fn debloat(&self) -> Option<BufferDebloatSpec> {
        self.buffer_debloat.filter(|d| d.enabled)
    }

    /// Checks the buffer model and debloating fields, and that no link gives byte budgets
    /// the buffer model replaces: the path of the first bad field and what is wrong.
    pub fn check_buffers(&self, links: &[LinkOverride]) -> Result<(), (String, String)> {
        let bad = |path: &str, msg: &str| Err((path.to_string(), msg.to_string()));
        if let Some(b) = &self.buffers {
            if b.segment_size.0 == 0 {
                return bad("network.buffers.segment_size", "must be larger than zero");
            }
            if b.segment_size.0 > u64::from(u32::MAX) {
                return bad("network.buffers.segment_size", "must be at most 4GiB");
            }
            if b.exclusive_per_channel == 0 && b.floating_per_gate == 0 {
                return bad(
                    "network.buffers.exclusive_per_channel",
                    "with no floating buffers a channel needs at least one exclusive buffer",
                );
            }
            if b.exclusive_per_channel > 1 << 20 {
                return bad(
                    "network.buffers.exclusive_per_channel",
                    "must be at most 1048576",
                );
            }
            if b.floating_per_gate > 1 << 20 {
                return bad(
                    "network.buffers.floating_per_gate",
                    "must be at most 1048576",
                );
            }
            if b.max_overdraft_buffers_per_gate > 1 << 20 {
                return bad(
                    "network.buffers.max_overdraft_buffers_per_gate",
                    "must be at most 1048576",
                );
            }
        }
        if let Some(d) = &self.buffer_debloat {
            let max = self.buffers.unwrap_or_default().segment_size.0;
            let p = "network.buffer_debloat";
            if d.target.0 == 0 {
                return bad(&format!("{p}.target"), "must be longer than zero");
            }
            if d.period.0 == 0 {
                return bad(&format!("{p}.period"), "must be longer than zero");
            }
            if d.samples == 0 {
                return bad(&format!("{p}.samples"), "must be at least 1");
            }
            if d.threshold_percentages > 100 {
                return bad(
                    &format!("{p}.threshold_percentages"),
                    "is a percentage: at most 100",
                );
            }
            if d.min_size.0 == 0 {
                return bad(&format!("{p}.min_size"), "must be larger than zero");
            }
            if d.min_size.0 > max {
                return Err((
                    format!("{p}.min_size"),
                    format!(
                        "{} is above the largest buffer size, the segment size of {}",
                        d.min_size,
                        ByteSize(max)
                    ),
                ));
            }
        }
        if self.buffer_model().is_some() {
            for (i, l) in links.iter().enumerate() {
                for (field, v) in [("in_buffer", l.in_buffer), ("out_buffer", l.out_buffer)] {
                    if v.is_some() {
                        return Err((
                            format!("links[{i}].{field}"),
                            "byte budgets cannot be combined with the buffer model of \
                             `network.buffers` or `network.buffer_debloat`"
                                .to_string(),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
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
            buffers: None,
            buffer_debloat: None,
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
