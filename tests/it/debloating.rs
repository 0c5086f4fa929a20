//! Flink's buffer model and buffer debloating: the known answers of flink-benchmarks'
//! `CheckpointingTimeBenchmark` shape, exactly-once under debloating, and the validation of
//! every field.

use serde_json::{json, Value};
use snapsim::scenario::Scenario;
use snapsim::trace::TraceMode;

use crate::support::{protocol, run};

/// Checkpoints after the warm-up (the buffers start at the segment size, and what they held
/// then has to drain first), not the final one.
const WARM_NS: u64 = 16_000_000_000;

/// source →rebalance→ map … →rebalance→ slow sink, parallelism 4, with `exchanges` network
/// exchanges. Each sink takes 1,000 records of 100 B per second (100 KB/s); the sources would
/// send 5,000 each.
fn benchmark(exchanges: usize, debloat: Option<&str>) -> Value {
    let mut ops = vec![json!({"name": "source",
        "kind": {"source": {"rate": "5000/s", "keys": 100, "record_size": "100B"}},
        "parallelism": 4, "cost": "1us"})];
    for i in 1..exchanges {
        ops.push(json!({"name": format!("map{i}"), "kind": {"map": {}},
            "parallelism": 4, "cost": "10us"}));
    }
    ops.push(json!({"name": "sink", "kind": {"sink": {}}, "parallelism": 4, "cost": "1ms"}));
    let edges: Vec<Value> = ops
        .windows(2)
        .map(|w| json!({"from": w[0]["name"], "to": w[1]["name"], "partition": "rebalance"}))
        .collect();
    let mut network = json!({"latency": {"constant": "100us"},
        "buffers": {"segment_size": "32KiB", "exclusive_per_channel": 2, "floating_per_gate": 8}});
    if let Some(target) = debloat {
        network["buffer_debloat"] = json!({"enabled": true, "target": target});
    }
    json!({"seed": 1, "duration": "30s", "network": network,
        "dataflow": {"operators": ops, "edges": edges},
        "checkpointing": {"protocol": "aligned", "interval": "2s"}})
}

fn parse(v: &Value) -> Scenario {
    Scenario::from_json(v.to_string().as_bytes(), "bench").unwrap_or_else(|e| panic!("{e}"))
}

/// (mean duration, mean channel state) of the completed checkpoints triggered after the
/// warm-up, and the run's result. Without debloating an aligned checkpoint outlasts the
/// warm-up: then the longest completed checkpoint.
fn measure(v: &Value, proto: &str) -> (u64, u64, snapsim::report::RunResult) {
    let (result, _) = run(&parse(v), protocol(proto), None, TraceMode::HashOnly);
    assert!(result.verdict.ok, "{:?}", result.verdict);
    let late: Vec<_> = result
        .checkpoints
        .iter()
        .filter(|c| c.trigger_ns >= WARM_NS && !c.at_end)
        .filter(|c| c.status == snapsim::coordinator::CheckpointStatus::Completed)
        .collect();
    if late.len() < 3 && v["network"].get("buffer_debloat").is_none() {
        let longest = result
            .checkpoints
            .iter()
            .filter(|c| c.status == snapsim::coordinator::CheckpointStatus::Completed)
            .map(|c| c.duration_ns)
            .max()
            .expect("a checkpoint completed");
        return (longest, 0, result);
    }
    assert!(
        late.len() >= 3,
        "{} checkpoints after the warm-up",
        late.len()
    );
    let n = late.len() as u64;
    let duration = late.iter().map(|c| c.duration_ns).sum::<u64>() / n;
    let channel = late.iter().map(|c| c.channel_state_bytes).sum::<u64>() / n;
    (duration, channel, result)
}

fn assert_near(what: &str, got: u64, want: u64, tolerance_percent: u64) {
    let lo = want * (100 - tolerance_percent) / 100;
    let hi = want * (100 + tolerance_percent) / 100;
    assert!(
        (lo..=hi).contains(&got),
        "{what}: {got} not within {tolerance_percent} % of {want}"
    );
}

#[test]
fn an_aligned_checkpoint_takes_about_the_target_per_exchange() {
    // Flink's benchmark: target 300 ms, two exchanges, aligned checkpoint ≈ 600 ms.
    let (two, _, result) = measure(&benchmark(2, Some("300ms")), "aligned");
    assert_near("two exchanges", two, 600_000_000, 25);
    // Debloating is reported per gate: 4 maps and 4 sinks.
    let gates = &result.metrics.buffer_debloat;
    assert_eq!(gates.len(), 8);
    for g in gates {
        assert!(
            g.final_buffer_size < 32 * 1024 && g.final_buffer_size >= 256,
            "{g:?}"
        );
        assert!(g.announcements > 0, "{g:?}");
    }
    // The 1.14 release's chart: five exchanges, about five times the target.
    let (five, _, _) = measure(&benchmark(5, Some("300ms")), "aligned");
    assert_near("five exchanges", five, 1_500_000_000, 25);
}

#[test]
fn without_debloating_the_full_buffers_make_an_aligned_checkpoint_much_longer() {
    let (on, _, _) = measure(&benchmark(2, Some("300ms")), "aligned");
    let (off, _, result) = measure(&benchmark(2, None), "aligned");
    assert!(off > 5 * on, "off {off} ns against on {on} ns");
    assert!(
        result.metrics.buffer_debloat.is_empty(),
        "no gate figures when off"
    );
    // A longer target means more in flight, and longer checkpoints.
    let (longer, _, _) = measure(&benchmark(2, Some("600ms")), "aligned");
    assert!(
        longer > on + on / 2,
        "600 ms target {longer} ns against 300 ms {on} ns"
    );
}

#[test]
fn unaligned_channel_state_is_throughput_times_target_summed_over_gates() {
    // Eight gates (4 maps, 4 sinks) each taking 100 KB/s: 8 × 100 KB/s × 300 ms = 240 KB.
    let (_, bytes, _) = measure(&benchmark(2, Some("300ms")), "unaligned");
    assert_near("unaligned channel state", bytes, 240_000, 25);
    let (_, off, _) = measure(&benchmark(2, None), "unaligned");
    assert!(off > 4 * bytes, "off {off} B against on {bytes} B");
}

#[test]
fn exactly_once_holds_under_debloating_across_crashes() {
    for proto in ["aligned", "unaligned", "aligned-timeout"] {
        let mut v = benchmark(2, Some("100ms"));
        v["duration"] = json!("6s");
        v["failures"] = json!([{"crash": {"at": "2500ms"}}, {"crash": {"at": "4100ms"}}]);
        v["network"]["buffer_debloat"]["period"] = json!("50ms");
        let (result, _) = run(&parse(&v), protocol(proto), None, TraceMode::HashOnly);
        assert!(result.verdict.ok, "{proto}: {:?}", result.verdict);
        assert_eq!(result.failures.len(), 2, "{proto}");
    }
}

#[test]
fn the_buffer_model_bounds_what_is_in_flight_by_buffers_times_size() {
    // One channel: 2 exclusive + 8 floating buffers of 1 KiB at the receiver, one at the
    // sender; records of 100 B share buffers.
    let v = json!({"duration": "200ms",
        "network": {"latency": {"constant": "50us"},
            "buffers": {"segment_size": "1KiB", "exclusive_per_channel": 2, "floating_per_gate": 8}},
        "dataflow": {"operators": [
            {"name": "src", "kind": {"source": {"rate": "100000/s", "record_size": "100B"}}},
            {"name": "sink", "kind": {"sink": {}}, "cost": "100us"}],
          "edges": [{"from": "src", "to": "sink", "partition": "forward"}]}});
    let (result, out) = run(&parse(&v), protocol("none"), None, TraceMode::Full);
    let mut in_flight: i64 = 0;
    let mut most = 0;
    for e in out.trace.events() {
        match *e {
            snapsim::trace::TraceEvent::Send { kind: 0, .. } => in_flight += 1,
            snapsim::trace::TraceEvent::Receive { .. } => in_flight -= 1,
            _ => {}
        }
        most = most.max(in_flight);
    }
    // 11 KiB hold 112 records of 100 B, plus the one being processed and the one that
    // overfilled the output queue.
    assert!((100..=115).contains(&most), "{most} records in flight");
    assert!(result.verdict.ok);
}

/// Scenario JSON with `network` replaced, checked to fail at `path` with `needle`.
fn rejects(network: Value, links: Option<Value>, path: &str, needle: &str) {
    let mut v = json!({"duration": "1s", "network": network,
        "dataflow": {"operators": [
            {"name": "src", "kind": {"source": {"rate": "10/s"}}},
            {"name": "sink", "kind": {"sink": {}}}],
          "edges": [{"from": "src", "to": "sink"}]}});
    if let Some(l) = links {
        v["links"] = l;
    }
    let e = Scenario::from_json(v.to_string().as_bytes(), "bad")
        .expect_err(&format!("{network} should be rejected"));
    assert_eq!(e.path, path, "{e}");
    assert!(e.message.contains(needle), "{e}");
}

#[test]
fn every_bad_buffer_field_is_rejected_naming_its_path() {
    let b = "network.buffers";
    rejects(
        json!({"buffers": {"segment_size": "0B"}}),
        None,
        &format!("{b}.segment_size"),
        "larger than zero",
    );
    rejects(
        json!({"buffers": {"segment_size": "8GiB"}}),
        None,
        &format!("{b}.segment_size"),
        "at most",
    );
    rejects(
        json!({"buffers": {"exclusive_per_channel": 0, "floating_per_gate": 0}}),
        None,
        &format!("{b}.exclusive_per_channel"),
        "at least one",
    );
    rejects(
        json!({"buffers": {"exclusive_per_channel": 2000000}}),
        None,
        &format!("{b}.exclusive_per_channel"),
        "at most",
    );
    rejects(
        json!({"buffers": {"floating_per_gate": 2000000}}),
        None,
        &format!("{b}.floating_per_gate"),
        "at most",
    );
    rejects(
        json!({"buffers": {"max_overdraft_buffers_per_gate": 2000000}}),
        None,
        &format!("{b}.max_overdraft_buffers_per_gate"),
        "at most",
    );
    let d = "network.buffer_debloat";
    rejects(
        json!({"buffer_debloat": {"target": "0ms"}}),
        None,
        &format!("{d}.target"),
        "longer than zero",
    );
    rejects(
        json!({"buffer_debloat": {"period": "0ms"}}),
        None,
        &format!("{d}.period"),
        "longer than zero",
    );
    rejects(
        json!({"buffer_debloat": {"samples": 0}}),
        None,
        &format!("{d}.samples"),
        "at least 1",
    );
    rejects(
        json!({"buffer_debloat": {"threshold_percentages": 101}}),
        None,
        &format!("{d}.threshold_percentages"),
        "at most 100",
    );
    rejects(
        json!({"buffer_debloat": {"min_size": "0B"}}),
        None,
        &format!("{d}.min_size"),
        "larger than zero",
    );
    rejects(
        json!({"buffers": {"segment_size": "1KiB"}, "buffer_debloat": {"min_size": "2KiB"}}),
        None,
        &format!("{d}.min_size"),
        "segment size",
    );
    rejects(
        json!({"buffer_debloat": {"enabled": true}}),
        Some(json!([{"to": "sink", "in_buffer": "1KiB"}])),
        "links[0].in_buffer",
        "buffer model",
    );
    rejects(
        json!({"buffers": {}}),
        Some(json!([{"to": "sink", "out_buffer": "1KiB"}])),
        "links[0].out_buffer",
        "buffer model",
    );
    // Unknown and mistyped fields are the parser's.
    let e = Scenario::from_json(
        br#"{"duration": "1s", "network": {"buffer_debloat": {"enabeld": true}},
            "dataflow": {"operators": [{"name": "s", "kind": {"source": {}}}], "edges": []}}"#,
        "bad",
    )
    .expect_err("unknown field");
    assert!(e.to_string().contains("enabeld"), "{e}");
}

#[test]
fn the_new_fields_are_in_the_schema_with_flinks_defaults() {
    let schema = Scenario::json_schema();
    for field in [
        "buffer_debloat",
        "segment_size",
        "exclusive_per_channel",
        "floating_per_gate",
        "max_overdraft_buffers_per_gate",
        "threshold_percentages",
        "min_size",
    ] {
        assert!(schema.contains(field), "{field} missing from the schema");
    }
    let d = snapsim::scenario::BufferDebloatSpec::default();
    assert_eq!(
        (d.enabled, d.target.ns(), d.period.ns()),
        (false, 1_000_000_000, 200_000_000)
    );
    assert_eq!(
        (d.samples, d.threshold_percentages, d.min_size.bytes()),
        (20, 25, 256)
    );
    let b = snapsim::scenario::BuffersSpec::default();
    assert_eq!(b.segment_size.bytes(), 32 * 1024);
    assert_eq!(
        (
            b.exclusive_per_channel,
            b.floating_per_gate,
            b.max_overdraft_buffers_per_gate
        ),
        (2, 8, 5)
    );
}

/// Records of 4 KiB through 1 KiB buffers under back-pressure: every record overfills its
/// output queue by three buffers.
fn big_records(overdraft: u32) -> Value {
    json!({"seed": 1, "duration": "3s",
      "network": {"latency": {"constant": "100us"},
        "buffers": {"segment_size": "1KiB", "exclusive_per_channel": 2, "floating_per_gate": 2,
                    "max_overdraft_buffers_per_gate": overdraft}},
      "dataflow": {
        "operators": [
          {"name": "source", "kind": {"source": {"rate": "2000/s", "keys": 100, "record_size": "4KiB"}},
           "parallelism": 2, "cost": "1us"},
          {"name": "map", "kind": {"map": {}}, "parallelism": 2, "cost": "10us"},
          {"name": "sink", "kind": {"sink": {}}, "parallelism": 2, "cost": "2ms"}],
        "edges": [
          {"from": "source", "to": "map", "partition": "rebalance"},
          {"from": "map", "to": "sink", "partition": "rebalance"}]},
      "checkpointing": {"protocol": "unaligned", "interval": "500ms"}})
}

#[test]
fn overdraft_buffers_let_a_task_finish_its_record_and_take_an_unaligned_barrier() {
    let durations = |overdraft: u32| -> Vec<u64> {
        let (result, _) = run(
            &parse(&big_records(overdraft)),
            protocol("unaligned"),
            None,
            TraceMode::HashOnly,
        );
        assert!(result.verdict.ok, "{:?}", result.verdict);
        assert!(result.metrics.backpressure_ns_total > 0);
        result
            .checkpoints
            .iter()
            .filter(|c| !c.at_end)
            .map(|c| c.duration_ns)
            .collect()
    };
    // Three extra buffers per record fit in Flink's default of five: the barrier overtakes
    // at once. Without overdraft the map waits in the middle of each record for the sink to
    // consume (2 ms a record), and the barrier waits with it.
    let with = durations(5);
    let without = durations(0);
    let two = durations(2);
    assert_eq!(with.len(), 6);
    assert!(with.iter().all(|&d| d < 1_000_000), "{with:?}");
    assert!(without.iter().all(|&d| d > 2_000_000), "{without:?}");
    assert_eq!(two, without, "two buffers are too few for a record's three");
    assert_eq!(durations(3), with, "three are enough");
}

#[test]
fn a_bad_debloating_field_exits_with_code_2_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("bad.json");
    let mut v = benchmark(2, Some("300ms"));
    v["network"]["buffer_debloat"]["samples"] = json!(0);
    std::fs::write(&path, v.to_string()).expect("written");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_snapsim"))
        .arg("validate")
        .arg(&path)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("network.buffer_debloat.samples"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
