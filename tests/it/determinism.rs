//! The same scenario and seed give the same run; another seed gives another run.

use snapsim::trace::TraceMode;

use crate::support::{load, protocol, run};

/// Runs twice and compares results files byte for byte, the way madsim's
/// `check_determinism` does, naming the scenario and seed on a mismatch.
fn check_determinism(name: &str, seed: u64) -> String {
    let s = load(name);
    let (a, _) = run(&s, protocol("none"), Some(seed), TraceMode::HashOnly);
    let (b, _) = run(&s, protocol("none"), Some(seed), TraceMode::HashOnly);
    assert_eq!(
        a.to_json(),
        b.to_json(),
        "{name} seed {seed} is not deterministic; reproduce with `snapsim run scenarios/{name}.json --seed {seed}`"
    );
    a.trace_hash
}

#[test]
fn same_seed_same_bytes_different_seed_different_trace() {
    for name in ["quickstart", "backpressure", "bank"] {
        let h1 = check_determinism(name, 1);
        let h2 = check_determinism(name, 2);
        assert_ne!(h1, h2, "{name}: seeds 1 and 2 gave the same trace");
    }
}

#[test]
fn full_and_hash_only_traces_hash_alike() {
    let s = load("backpressure");
    let (a, _) = run(&s, protocol("none"), None, TraceMode::HashOnly);
    let (b, out) = run(&s, protocol("none"), None, TraceMode::Full);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(out.trace.events().len() as u64, out.trace.len());
}

#[test]
fn adding_a_source_does_not_shift_the_other_tasks_draws() {
    // The latencies drawn by `orders[0]` come from its own stream; a second source feeding a
    // different operator must not change them.
    let base = r#"{"duration": "20ms",
      "network": {"latency": {"uniform": {"min": "10us", "max": "900us"}}},
      "dataflow": {"operators": [
        {"name": "orders", "kind": {"source": {"rate": "10000/s"}}},
        {"name": "sink", "kind": {"sink": {}}}EXTRA_OPS
      ], "edges": [{"from": "orders", "to": "sink"}EXTRA_EDGES]}}"#;
    let one = crate::support::parse(&base.replace("EXTRA_OPS", "").replace("EXTRA_EDGES", ""));
    let two = crate::support::parse(
        &base
            .replace(
                "EXTRA_OPS",
                r#", {"name": "other", "kind": {"source": {"rate": "7000/s"}}}, {"name": "sink2", "kind": {"sink": {}}}"#,
            )
            .replace("EXTRA_EDGES", r#", {"from": "other", "to": "sink2"}"#),
    );
    let arrivals = |s| {
        let (_, out) = run(s, protocol("none"), Some(3), TraceMode::Full);
        out.trace
            .events()
            .iter()
            .filter_map(|e| match *e {
                snapsim::trace::TraceEvent::Receive { t, ch: 0, seq } => Some((t, seq)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let a = arrivals(&one);
    assert!(a.len() > 100);
    assert_eq!(a, arrivals(&two));
}
