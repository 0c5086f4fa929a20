//! Flink's alignment timeout (>= 1.16): announcements of queued barriers, the input-side switch
//! that prioritises them, the output-side timeout, and forward/broadcast edges that stay
//! aligned (FLINK-21945). The known answers of the design notes, on the shipped back-pressure
//! job and on small jobs built here.

use serde_json::Value;
use snapsim::coordinator::CheckpointRecord;
use snapsim::scenario::Scenario;
use snapsim::trace::TraceMode;

use crate::support::{protocol, run, scenarios_dir};

/// `scenarios/backpressure.json` with `alignment_timeout` set to `timeout`.
fn backpressure(timeout: &str) -> Scenario {
    let text = std::fs::read_to_string(scenarios_dir().join("backpressure.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["checkpointing"]["alignment_timeout"] = Value::from(timeout);
    Scenario::from_json(v.to_string().as_bytes(), "backpressure").unwrap()
}

/// The checkpoints taken while the job ran.
fn running(cps: &[CheckpointRecord]) -> Vec<&CheckpointRecord> {
    cps.iter().filter(|c| c.completed_while_running()).collect()
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// (median duration, median channel bytes) of the checkpoints taken while the job ran.
fn costs(s: &Scenario, proto: &str) -> (u64, u64) {
    let (r, _) = run(s, protocol(proto), None, TraceMode::HashOnly);
    assert!(
        r.verdict.ok && r.verdict.consistent,
        "{proto}: {:?}",
        r.verdict.violations
    );
    let cps = running(&r.checkpoints);
    assert!(cps.len() >= 8, "{proto}: {} checkpoints", cps.len());
    (
        median(cps.iter().map(|c| c.duration_ns).collect()),
        median(cps.iter().map(|c| c.channel_state_bytes).collect()),
    )
}

#[test]
fn a_timeout_of_zero_is_exactly_the_unaligned_run() {
    let s = backpressure("0ms");
    let (a, _) = run(&s, protocol("aligned-timeout"), None, TraceMode::HashOnly);
    let (u, _) = run(&s, protocol("unaligned"), None, TraceMode::HashOnly);
    assert_eq!(a.trace_hash, u.trace_hash);
    let name = |json: String, p: &str| json.replace(&format!("\"{p}\""), "\"P\"");
    assert_eq!(
        name(a.to_json(), "aligned-timeout"),
        name(u.to_json(), "unaligned")
    );
}

#[test]
fn as_the_timeout_falls_the_checkpoints_approach_unaligned_ones() {
    let steps: Vec<(u64, u64)> = ["100ms", "50ms", "20ms", "5ms", "1ms"]
        .iter()
        .map(|t| costs(&backpressure(t), "aligned-timeout"))
        .collect();
    for w in steps.windows(2) {
        assert!(
            w[1].0 < w[0].0,
            "duration falls with the timeout: {steps:?}"
        );
        assert!(
            w[1].1 > w[0].1,
            "channel state grows as the timeout falls: {steps:?}"
        );
    }
    let (ud, ub) = costs(&backpressure("1ms"), "unaligned");
    let (d, b) = steps[steps.len() - 1];
    let near = |x: u64, y: u64| x.abs_diff(y) * 100 <= y * 15;
    assert!(
        near(d, ud) && near(b, ub),
        "1 ms: {d} ns, {b} B; unaligned {ud} ns, {ub} B"
    );
    // Each timed-out checkpoint takes about the timeout plus the trip of the last barriers:
    // the timer counts from the trigger, so a queued barrier no longer waits for the data.
    let (d20, _) = steps[2];
    assert!(
        (20_000_000..30_000_000 + ud).contains(&d20),
        "20 ms: {d20} ns"
    );
}

#[test]
fn a_timeout_above_the_aligned_duration_is_the_aligned_run() {
    let s = backpressure("1s");
    let (t, _) = run(&s, protocol("aligned-timeout"), None, TraceMode::HashOnly);
    let (a, _) = run(&s, protocol("aligned"), None, TraceMode::HashOnly);
    let key = |c: &CheckpointRecord| {
        (
            c.id,
            c.status,
            c.trigger_ns,
            c.end_ns,
            c.state_bytes,
            c.channel_state_bytes,
            c.alignment_ns_max,
            c.start_delay_ns_max,
        )
    };
    let tk: Vec<_> = t.checkpoints.iter().map(key).collect();
    let ak: Vec<_> = a.checkpoints.iter().map(key).collect();
    assert_eq!(tk, ak);
    assert!(t.checkpoints.iter().all(|c| c.channel_state_bytes == 0));
    assert_eq!(t.metrics.records_out, a.metrics.records_out);
}

/// For a timeout T, a task at depth d (sources at 0) takes its snapshot by trigger + T + d hops,
/// a hop being the longest link latency, the longest record, and the synchronous copy.
#[test]
fn a_task_at_depth_d_goes_unaligned_by_the_deadline_plus_d_hops() {
    let timeout = 5_000_000;
    let s = backpressure("5ms");
    let (r, out) = run(&s, protocol("aligned-timeout"), None, TraceMode::HashOnly);
    assert!(r.verdict.ok);
    let hop = 300_000 + 20_000 + 50_000 + 1_000;
    let topo = snapsim::topology::Topology::build(&s, 1).unwrap();
    let mut checked = 0;
    for snap in out
        .snapshots
        .iter()
        .filter(|g| !g.tasks.iter().all(|t| t.ended))
    {
        for local in &snap.tasks {
            let depth = u64::from(topo.tasks[local.task as usize].group);
            let late = local.taken_at - snap.trigger_ns;
            assert!(
                late <= timeout + depth * hop,
                "checkpoint {}: {} at depth {depth} took its snapshot {late} ns after the trigger",
                snap.id,
                topo.tasks[local.task as usize].name
            );
            checked += 1;
        }
    }
    assert!(checked > 100);
}

/// `src →forward→ map →keyBy→ sink`, the sink too slow for the source.
fn forward_then_key_by(protocol: &str, force: bool) -> Scenario {
    let json = format!(
        r#"{{
  "name": "forward-keyby",
  "duration": "300ms",
  "network": {{"latency": {{"constant": "100us"}}, "out_buffer": "8KiB", "in_buffer": "8KiB"}},
  "dataflow": {{
    "operators": [
      {{"name": "src", "kind": {{"source": {{"rate": "40000/s", "keys": 100, "record_size": "100B"}}}}, "parallelism": 2}},
      {{"name": "map", "kind": {{"map": {{}}}}, "parallelism": 2, "cost": "2us"}},
      {{"name": "sink", "kind": {{"sink": {{"transactional": true}}}}, "parallelism": 2, "cost": "80us"}}
    ],
    "edges": [
      {{"from": "src", "to": "map", "partition": "forward"}},
      {{"from": "map", "to": "sink", "partition": "hash"}}
    ]
  }},
  "checkpointing": {{"protocol": "{protocol}", "interval": "50ms", "alignment_timeout": "1ms",
                     "force_aligned_pointwise": {force}}}
}}"#
    );
    Scenario::from_json(json.as_bytes(), "forward-keyby").unwrap()
}

/// Channel-state bytes recorded on the forward edge and on the keyBy edge.
fn edge_bytes(s: &Scenario, proto: &str) -> (u64, u64) {
    let (r, out) = run(s, protocol(proto), None, TraceMode::HashOnly);
    assert!(
        r.verdict.ok && r.verdict.consistent,
        "{:?}",
        r.verdict.violations
    );
    let topo = snapsim::topology::Topology::build(s, 1).unwrap();
    let (mut fwd, mut key) = (0, 0);
    for snap in &out.snapshots {
        for local in &snap.tasks {
            for (ch, msgs) in local.input_state.iter().chain(&local.output_state) {
                let bytes: u64 = msgs.iter().map(|m| u64::from(m.bytes)).sum();
                let src = topo.channels[*ch as usize].src as usize;
                if topo.tasks[src].group == 0 {
                    fwd += bytes;
                } else {
                    key += bytes;
                }
            }
        }
    }
    (fwd, key)
}

#[test]
fn forward_edges_stay_aligned_under_unaligned_checkpoints() {
    for proto in ["unaligned", "aligned-timeout"] {
        let (fwd, key) = edge_bytes(&forward_then_key_by(proto, true), proto);
        assert_eq!(fwd, 0, "{proto}: the forward edge is never recorded");
        assert!(
            key > 0,
            "{proto}: the keyBy edge is recorded under back-pressure"
        );
        // With the rule off, the forward edge goes unaligned too.
        let (fwd, _) = edge_bytes(&forward_then_key_by(proto, false), proto);
        assert!(
            fwd > 0,
            "{proto}: without the rule the forward edge is recorded"
        );
    }
}

#[test]
fn force_aligned_pointwise_is_validated() {
    let bad = forward_then_key_by("unaligned", true);
    let mut v: Value = serde_json::to_value(&bad).unwrap();
    v["checkpointing"]["force_aligned_pointwise"] = Value::from("yes");
    let e = Scenario::from_json(v.to_string().as_bytes(), "x").unwrap_err();
    assert!(e.to_string().contains("force_aligned_pointwise"), "{e}");
    let text = std::fs::read_to_string(scenarios_dir().join("bank.json")).unwrap();
    let mut bank: Value = serde_json::from_str(&text).unwrap();
    bank["checkpointing"]["force_aligned_pointwise"] = Value::from(false);
    let e = Scenario::from_json(bank.to_string().as_bytes(), "x").unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("checkpointing.force_aligned_pointwise") && text.contains("only for jobs"),
        "{text}"
    );
}

#[test]
fn the_timeout_mutants_are_caught() {
    use snapsim::mutant::Mutant;
    let scenarios = [backpressure("20ms")];
    for m in [
        Mutant::TimeoutForgetsJumped,
        Mutant::OutputTimeoutForgetsCopied,
    ] {
        let found = snapsim::campaign::hunt(m, &scenarios, 2, snapsim::DEFAULT_MAX_EVENTS)
            .unwrap_or_else(|| panic!("{m} not caught"));
        let r = found.result.expect("verified");
        assert!(
            r.verdict.violations[0].message.contains("channel"),
            "{m}: {:?}",
            r.verdict.violations[0]
        );
    }
}
