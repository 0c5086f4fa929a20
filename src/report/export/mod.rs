//! Trace exports for outside viewers: JSON Lines, Perfetto and ShiViz.
//!
//! One file per format: `jsonl` (one JSON object per event), `perfetto` (Chrome trace-event
//! JSON, which Perfetto and `chrome://tracing` open) and `shiviz` (a log with vector clocks).
//!
//! Every function here is pure: it takes the events a run kept ([`TraceMode::Full`]) and
//! returns text; the command line writes it. The output depends only on the events and the
//! topology (ordered maps and vectors, never a hash map), so it is byte-identical across runs.
//! Receives are matched to their sends by [`crate::trace::matching`], which also tells a
//! message restored from a checkpoint's channel state from one sent again.
//!
//! [`TraceMode::Full`]: crate::trace::TraceMode::Full

mod jsonl;
mod perfetto;
mod shiviz;

pub use jsonl::jsonl;
pub use perfetto::perfetto;
pub use shiviz::{shiviz, SHIVIZ_REGEX};

use crate::network::MsgKind;
use crate::protocols::control_kind;

/// A readable name for a message kind and control tag: `data`, `end-of-input`, the control
/// kind's name, or `control N` for a tag no protocol declares.
fn message_name(kind: u8, tag: u8) -> String {
    if kind == MsgKind::Data as u8 {
        "data".to_string()
    } else if kind == MsgKind::EndOfInput as u8 {
        "end-of-input".to_string()
    } else {
        control_kind(tag).map_or_else(|| format!("control {tag}"), |k| k.name.to_string())
    }
}

/// Runs shared by the tests of every export.
#[cfg(test)]
mod test_runs {
    use crate::protocols::ProtocolKind;
    use crate::scenario::Scenario;
    use crate::topology::Topology;
    use crate::trace::{TraceEvent, TraceMode};
    use crate::RunOptions;

    /// A small job: two sources, a keyed count, a sink; mild back-pressure.
    const JOB: &str = r#"{
      "seed": 7,
      "duration": "20ms",
      "network": {"latency": {"uniform": {"min": "50us", "max": "150us"}},
                  "out_buffer": "2KiB", "in_buffer": "2KiB"},
      "dataflow": {
        "operators": [
          {"name": "src", "kind": {"source": {"rate": "50000/s", "keys": 20, "record_size": "100B"}},
           "parallelism": 2},
          {"name": "count", "kind": {"keyed_count": {}}, "parallelism": 2, "cost": "5us"},
          {"name": "sink", "kind": {"sink": {}}, "cost": "12us"}
        ],
        "edges": [
          {"from": "src", "to": "count", "partition": "hash"},
          {"from": "count", "to": "sink", "partition": "rebalance"}
        ]
      },
      "checkpointing": {"protocol": "aligned", "interval": "4ms"}
    }"#;

    fn run(json: &[u8], name: &str, protocol: ProtocolKind) -> (Topology, Vec<TraceEvent>) {
        let s = Scenario::from_json(json, name).unwrap();
        let opts = RunOptions {
            protocol,
            trace: TraceMode::Full,
            ..RunOptions::default()
        };
        let (_, out) = crate::simulate_full(&s, &opts, &mut |_, _| {}).unwrap();
        let topo = Topology::build(&s, s.seed).unwrap();
        (topo, out.trace.events().to_vec())
    }

    /// The paper's Chandy-Lamport example.
    pub fn cl_paper() -> (Topology, Vec<TraceEvent>) {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/cl-paper.json"
        ))
        .unwrap();
        run(&bytes, "cl-paper", "chandy-lamport".parse().unwrap())
    }

    /// The small job under aligned checkpoints.
    pub fn job() -> (Topology, Vec<TraceEvent>) {
        run(JOB.as_bytes(), "job", "aligned".parse().unwrap())
    }

    /// The job with a crash in the middle, under unaligned checkpoints (which record channel
    /// state, so messages are restored after the recovery).
    pub fn job_with_crash() -> (Topology, Vec<TraceEvent>) {
        let json = JOB.replace(
            r#""checkpointing""#,
            r#""failures": [{"crash": {"at": "11ms"}}],
               "recovery": {"restart_delay": "1ms"},
               "checkpointing""#,
        );
        run(json.as_bytes(), "job-crash", "unaligned".parse().unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::control_kinds;

    #[test]
    fn message_names_come_from_the_control_kinds() {
        let control = MsgKind::Control as u8;
        assert_eq!(message_name(MsgKind::Data as u8, 0), "data");
        assert_eq!(message_name(MsgKind::EndOfInput as u8, 0), "end-of-input");
        for k in control_kinds() {
            assert_eq!(message_name(control, k.tag), k.name);
        }
        assert_eq!(message_name(control, 200), "control 200");
    }
}
