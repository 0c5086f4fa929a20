//! Back-pressure is real: a slow receiver bounds what is in flight and slows its senders.

use std::collections::BTreeMap;

use snapsim::trace::{TraceEvent, TraceMode};

use crate::support::{parse, protocol, run};

const SLOW_SINK: &str = r#"{
  "duration": "100ms",
  "network": {"latency": {"constant": "50us"}, "out_buffer": "1KiB", "in_buffer": "2KiB"},
  "dataflow": {
    "operators": [
      {"name": "src", "kind": {"source": {"rate": "100000/s", "record_size": "100B"}}},
      {"name": "sink", "kind": {"sink": {}}, "cost": "100us"}
    ],
    "edges": [{"from": "src", "to": "sink", "partition": "forward"}]
  }
}"#;

#[test]
fn a_full_receiver_stops_its_sender() {
    let (result, out) = run(&parse(SLOW_SINK), protocol("none"), None, TraceMode::Full);
    // The sink takes 10,000 records/s; the source would produce 100,000/s.
    let mut in_flight: i64 = 0;
    let mut max_in_flight = 0;
    let mut last_emit = 0;
    for e in out.trace.events() {
        match *e {
            TraceEvent::Send { kind: 0, .. } => in_flight += 1,
            TraceEvent::Receive { .. } => in_flight -= 1,
            TraceEvent::SourceEmit { t, .. } => last_emit = t,
            _ => {}
        }
        max_in_flight = max_in_flight.max(in_flight);
    }
    // Output queue (1 KiB) + credit (2 KiB) hold 30 records of 100 B, plus the one being
    // processed and the one that overfilled the output queue.
    assert!(max_in_flight <= 32, "{max_in_flight} records in flight");
    // The source was throttled to the sink's pace, and stops reading at the duration: it
    // read about the 1,000 records the sink took in 100 ms (plus what the buffers hold), not
    // the 10,000 its rate would have.
    let read = result.metrics.records_in;
    assert!((1_000..=1_040).contains(&read), "{read} records read");
    assert!(
        last_emit < 100_000_000,
        "last record read at {last_emit} ns"
    );
    let src = &out.tasks[0];
    assert!(
        src.backpressure_ns > 80_000_000,
        "source blocked {} ns",
        src.backpressure_ns
    );
    assert!(result.verdict.ok);
}

#[test]
fn without_a_bottleneck_there_is_no_back_pressure() {
    let fast = SLOW_SINK.replace(r#""cost": "100us""#, r#""cost": "1us""#);
    let (result, out) = run(&parse(&fast), protocol("none"), None, TraceMode::HashOnly);
    assert_eq!(result.metrics.backpressure_ns_total, 0);
    assert!(out.sim_time_ns < 101_000_000);
}

#[test]
fn back_pressure_travels_upstream_through_a_chain() {
    let chain = r#"{
      "duration": "50ms",
      "network": {"latency": {"constant": "20us"}, "out_buffer": "1KiB", "in_buffer": "1KiB"},
      "dataflow": {
        "operators": [
          {"name": "src", "kind": {"source": {"rate": "200000/s"}}},
          {"name": "a", "kind": {"map": {}}, "cost": "1us"},
          {"name": "b", "kind": {"map": {}}, "cost": "1us"},
          {"name": "sink", "kind": {"sink": {}}, "cost": "50us"}
        ],
        "edges": [
          {"from": "src", "to": "a", "partition": "forward"},
          {"from": "a", "to": "b", "partition": "forward"},
          {"from": "b", "to": "sink", "partition": "forward"}
        ]
      }
    }"#;
    let (_, out) = run(&parse(chain), protocol("none"), None, TraceMode::Full);
    let blocked: BTreeMap<&str, u64> = out
        .tasks
        .iter()
        .map(|t| (t.name.as_str(), t.backpressure_ns))
        .collect();
    for name in ["src[0]", "a[0]", "b[0]"] {
        assert!(
            blocked[name] > 0,
            "{name} was never back-pressured: {blocked:?}"
        );
    }
    assert_eq!(blocked["sink[0]"], 0);
}
