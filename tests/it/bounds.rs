//! Every run ends, is bounded by its scenario, and reports true figures: sources stop at
//! `duration`, nothing spins at one instant, the run ends with the job, throughput is
//! measured over the job's active time, timelines stay small, a run has a budget of events,
//! and planned failures that did not fire are reported with why.

use std::time::Duration;

use serde_json::json;
use snapsim::scenario::Scenario;
use snapsim::trace::{TraceEvent, TraceMode};
use snapsim::{simulate, simulate_full, RunOptions};

use crate::support::{protocol, run};

const MS: u64 = 1_000_000;

fn scenario(v: serde_json::Value) -> Scenario {
    Scenario::from_json(v.to_string().as_bytes(), "bounds").unwrap_or_else(|e| panic!("{e}"))
}

/// A source feeding a sink, with the given source options and costs.
fn pipeline(
    duration: &str,
    source: serde_json::Value,
    src_cost: &str,
    sink_cost: &str,
) -> Scenario {
    scenario(json!({
        "duration": duration,
        "network": {"latency": {"constant": "0ns"}},
        "dataflow": {
            "operators": [
                {"name": "src", "kind": {"source": source}, "cost": src_cost},
                {"name": "sink", "kind": {"sink": {}}, "cost": sink_cost}
            ],
            "edges": [{"from": "src", "to": "sink"}]
        }
    }))
}

/// Offsets read for the first time, with when (a replayed offset is not new).
fn new_reads(events: &[TraceEvent]) -> Vec<(u64, u64)> {
    let mut seen = std::collections::BTreeSet::new();
    events
        .iter()
        .filter_map(|e| match *e {
            TraceEvent::SourceEmit { t, task, offset } if seen.insert((task, offset)) => {
                Some((t, offset))
            }
            _ => None,
        })
        .collect()
}

/// Runs in a thread and fails if it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}"))
}

#[test]
fn a_source_without_rate_or_records_stops_at_the_duration() {
    // Zero costs and zero latency as well: the source must still let time advance.
    for (duration, own) in [("10ms", None), ("50ms", Some("10ms"))] {
        let mut src = json!({});
        if let Some(d) = own {
            src["duration"] = json!(d);
        }
        let s = pipeline(duration, src, "0ns", "0ns");
        let stop = own.map_or(s.duration.ns(), |_| 10 * MS);
        let (r, reads) = within(Duration::from_secs(60), move || {
            let (r, out) = run(&s, protocol("none"), None, TraceMode::Full);
            (r, new_reads(out.trace.events()))
        });
        assert!(!reads.is_empty());
        assert!(
            reads.iter().all(|&(t, _)| t < stop),
            "a new record read at or after {stop} ns"
        );
        // At most one record per nanosecond without a rate.
        assert!(r.metrics.records_in <= stop, "{}", r.metrics.records_in);
        assert!(r.verdict.ok, "{:?}", r.verdict.violations);
    }
}

#[test]
fn a_source_behind_its_rate_stops_reading_at_the_duration() {
    // 1,000,000 records/s into a sink that takes 100,000/s: the source falls behind.
    let s = pipeline("10ms", json!({"rate": "1000000/s"}), "0ns", "10us");
    let (r, out) = run(&s, protocol("none"), None, TraceMode::Full);
    let reads = new_reads(out.trace.events());
    assert!(reads.iter().all(|&(t, _)| t < 10 * MS));
    // What was read before the end drains: about a buffer's worth, not ten times the run.
    assert!(r.sim_time_ns < 20 * MS, "ran until {} ns", r.sim_time_ns);
    assert!(
        r.metrics.records_in < 10_000 / 4,
        "{}",
        r.metrics.records_in
    );
    assert_eq!(r.metrics.records_in, r.metrics.records_out);
}

#[test]
fn replays_after_a_crash_are_not_cut_at_the_duration() {
    // A crash just before the end rewinds the source; the records it had read are replayed
    // after the duration, so nothing is lost, and no new record is read.
    let s = scenario(json!({
        "duration": "20ms",
        "network": {"latency": {"constant": "100us"}},
        "dataflow": {
            "operators": [
                {"name": "src", "kind": {"source": {"rate": "100000/s"}}, "cost": "1us"},
                {"name": "count", "kind": {"keyed_count": {}}, "cost": "2us"},
                {"name": "sink", "kind": {"sink": {"transactional": true}}, "cost": "2us"}
            ],
            "edges": [{"from": "src", "to": "count"}, {"from": "count", "to": "sink"}]
        },
        "checkpointing": {"protocol": "aligned", "interval": "5ms"},
        "failures": [{"crash": {"at": "19ms"}}]
    }));
    let (r, out) = run(&s, protocol("aligned"), None, TraceMode::Full);
    assert_eq!(r.failures.len(), 1);
    assert!(new_reads(out.trace.events())
        .iter()
        .all(|&(t, _)| t < 20 * MS));
    assert!(r.verdict.ok, "{:?}", r.verdict.violations);
    let eo = r.verdict.exactly_once.expect("sources and sinks");
    assert_eq!((eo.lost, eo.duplicated), (0, 0));
}

#[test]
fn a_relaying_bank_with_zero_cost_and_latency_advances_time() {
    let s = scenario(json!({
        "duration": "1ms",
        "network": {"latency": {"constant": "0ns"}},
        "processes": {
            "count": 2,
            "graph": {"ring": {}},
            "workload": {"bank": {"initial_transfers": 1, "relay": true}}
        }
    }));
    let r = within(Duration::from_secs(60), move || {
        run(&s, protocol("none"), None, TraceMode::HashOnly).0
    });
    // One hop per nanosecond at most (an arrival and a finished transfer each), so the
    // run is bounded by its duration.
    assert!(r.events <= 4 * 1_000_000 + 16, "{} events", r.events);
    assert!(r.sim_time_ns >= MS);
    assert!(r.verdict.ok);
}

#[test]
fn a_checkpoint_timeout_shorter_than_the_upload_ends_the_run() {
    // Every upload takes a second and every checkpoint expires after a millisecond: the job
    // restarts on each expiry until the duration, and then gives up on the final checkpoint.
    let s = scenario(json!({
        "duration": "100ms",
        "dataflow": {
            "operators": [
                {"name": "src", "kind": {"source": {"rate": "10000/s"}}, "cost": "1us"},
                {"name": "count", "kind": {"keyed_count": {"state_per_key": "1KiB"}}},
                {"name": "sink", "kind": {"sink": {"transactional": true}}, "cost": "2us"}
            ],
            "edges": [{"from": "src", "to": "count"}, {"from": "count", "to": "sink"}]
        },
        "checkpointing": {"protocol": "aligned", "interval": "20ms", "timeout": "1ms",
                          "storage_bandwidth": "1MB/s"}
    }));
    for tolerable in [0, 3] {
        let mut s = s.clone();
        s.checkpointing.as_mut().expect("set").tolerable_failures = tolerable;
        let r = within(Duration::from_secs(60), move || {
            run(&s, protocol("aligned"), None, TraceMode::HashOnly).0
        });
        assert!(r.sim_time_ns < 500 * MS, "ran until {} ns", r.sim_time_ns);
        assert!(r.checkpoints.iter().all(|c| !c.completed()));
        assert_eq!(
            r.checkpoints.last().map(|c| c.status.as_str()),
            Some("expired")
        );
    }
}

#[test]
fn a_run_past_its_budget_of_events_stops_with_an_error() {
    let s = crate::support::load("quickstart");
    let opts = RunOptions {
        protocol: protocol("aligned"),
        max_events: 10_000,
        ..RunOptions::default()
    };
    let err = simulate(&s, &opts, &mut |_, _| {}).expect_err("over budget");
    assert_eq!(err.path, "--max-events");
    assert!(err.message.contains("10,000 events"), "{}", err.message);
    // The default is generous: this scenario takes about a million events.
    let ok = RunOptions {
        protocol: protocol("aligned"),
        ..RunOptions::default()
    };
    let r = simulate(&s, &ok, &mut |_, _| {}).expect("within the default budget");
    assert!(r.events * 100 < snapsim::DEFAULT_MAX_EVENTS, "{}", r.events);
}

/// 10,000 records at 20,000/s in a 5 s scenario: the job takes half a second.
fn known_rate(checkpoints: Option<&str>) -> Scenario {
    let mut v = json!({
        "duration": "5s",
        "network": {"latency": {"constant": "100us"}},
        "dataflow": {
            "operators": [
                {"name": "src", "kind": {"source": {"rate": "20000/s", "records": 10000}}, "cost": "1us"},
                {"name": "count", "kind": {"keyed_count": {}}, "parallelism": 2, "cost": "5us"},
                {"name": "sink", "kind": {"sink": {"transactional": true}}, "cost": "2us"}
            ],
            "edges": [{"from": "src", "to": "count"}, {"from": "count", "to": "sink"}]
        }
    });
    if let Some(interval) = checkpoints {
        v["checkpointing"] = json!({"protocol": "aligned", "interval": interval});
    }
    scenario(v)
}

#[test]
fn throughput_is_measured_over_the_jobs_active_time() {
    let (none, _) = run(
        &known_rate(None),
        protocol("none"),
        None,
        TraceMode::HashOnly,
    );
    for interval in ["100ms", "50ms"] {
        let (aligned, _) = run(
            &known_rate(Some(interval)),
            protocol("aligned"),
            None,
            TraceMode::HashOnly,
        );
        assert_eq!(aligned.metrics.records_out, 10_000);
        let (a, n) = (
            aligned.metrics.throughput_per_sec,
            none.metrics.throughput_per_sec,
        );
        assert!((a - 20_000.0).abs() < 200.0, "aligned {a} records/s");
        assert!((a - n).abs() / n < 0.01, "aligned {a} against none {n}");
        // The run ends with the job (and its final checkpoint), not at the duration.
        assert!(aligned.sim_time_ns < 600 * MS, "{}", aligned.sim_time_ns);
        assert!(aligned
            .checkpoints
            .last()
            .is_some_and(|c| c.at_end && c.completed()));
        // The timeline ends with the job too.
        let tl = &aligned.metrics.timeline;
        assert!(tl.records_out.len() as u64 * tl.bucket_ns <= aligned.sim_time_ns + tl.bucket_ns);
    }
    assert!((none.metrics.throughput_per_sec - 20_000.0).abs() < 200.0);
    assert!(none.sim_time_ns < 600 * MS);
}

#[test]
fn a_crash_planned_after_the_jobs_end_does_not_stretch_the_run() {
    let mut s = known_rate(Some("100ms"));
    s.failures = serde_json::from_value(json!([
        {"crash": {"at": "4s"}},
        {"stall": {"at": "3s", "duration": "1s"}},
        {"crash": {"at": "2s", "every": "1s"}}
    ]))
    .expect("failures");
    let (r, _) = run(&s, protocol("aligned"), None, TraceMode::HashOnly);
    assert!(r.sim_time_ns < 600 * MS, "{}", r.sim_time_ns);
    assert!(r.failures.is_empty());
    let unfired: Vec<&str> = r
        .unfired_failures
        .iter()
        .map(|u| u.failure.as_str())
        .collect();
    assert_eq!(unfired.len(), 3, "{:?}", r.unfired_failures);
    assert!(unfired[0].starts_with("failures[0]"));
    assert!(unfired[1].starts_with("failures[1]"));
    assert!(unfired[2].starts_with("failures[2]") && unfired[2].contains("4 crashes"));
    assert!(r
        .unfired_failures
        .iter()
        .all(|u| u.reason.contains("after the job finished")));
    assert!(r.summary().contains("did not fire"));
    assert!(r.to_json().contains("\"unfired_failures\""));
}

#[test]
fn failures_that_cannot_fire_are_reported_with_why() {
    let mut s = known_rate(Some("100ms"));
    s.failures = serde_json::from_value(json!([
        {"during_alignment": {"checkpoint": 1}},
        {"during_upload": {"checkpoint": 60}},
        {"upload_failure": {"checkpoint": 40}},
        {"during_recovery": {"recovery": 2}},
        {"after_checkpoints": {"fraction": 1.0}}
    ]))
    .expect("failures");
    let (r, _) = run(&s, protocol("aligned"), None, TraceMode::HashOnly);
    let reasons: Vec<String> = r
        .unfired_failures
        .iter()
        .map(|u| format!("{}: {}", u.failure, u.reason))
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons[0].starts_with("failures[1]") && reasons[0].contains("never triggered"));
    assert!(reasons[1].starts_with("failures[2]") && reasons[1].contains("never triggered"));
    assert!(reasons[2].starts_with("failures[3]") && reasons[2].contains("recovered only 1"));
    assert!(reasons[3].starts_with("failures[4]"));
    let warnings = snapsim::failure::warnings(&s);
    assert!(warnings
        .iter()
        .any(|w| w.starts_with("failures[1].during_upload.checkpoint")));

    let (none, _) = run(&s, protocol("none"), None, TraceMode::HashOnly);
    assert!(none
        .unfired_failures
        .iter()
        .any(|u| u.reason.contains("no checkpoints")));
}

#[test]
fn an_alignment_failure_on_a_job_without_alignments_is_reported() {
    let mut s = pipeline("10ms", json!({"rate": "10000/s"}), "1us", "1us");
    s.checkpointing = serde_json::from_value(json!({"protocol": "aligned", "interval": "2ms"}))
        .expect("checkpointing");
    s.failures =
        serde_json::from_value(json!([{"during_alignment": {"checkpoint": 2}}])).expect("failures");
    let (r, _) = run(&s, protocol("aligned"), None, TraceMode::HashOnly);
    assert_eq!(r.unfired_failures.len(), 1);
    assert!(r.unfired_failures[0].reason.contains("several inputs"));
    assert!(snapsim::failure::warnings(&s)
        .iter()
        .any(|w| w.starts_with("failures[0].during_alignment: cannot fire")));
}

#[test]
fn crashes_cost_the_same_however_many_are_planned() {
    // A crash every 5 us over 100 ms: 20,000 crashes, nearly all while the job is down.
    // Rescheduling every later crash at each crash made this quadratic in memory and time.
    let mut counts = Vec::new();
    for duration in ["50ms", "100ms"] {
        let mut s = known_rate(Some("10ms"));
        s.duration = duration.parse().expect("duration");
        s.failures = serde_json::from_value(json!([{"crash": {"at": "1ms", "every": "5us"}}]))
            .expect("failures");
        let r = within(Duration::from_secs(120), move || {
            let opts = RunOptions {
                protocol: protocol("aligned"),
                ..RunOptions::default()
            };
            simulate_full(&s, &opts, &mut |_, _| {}).expect("runs").0
        });
        counts.push((r.failures.len() as u64, r.events));
    }
    let (small, large) = (counts[0], counts[1]);
    assert!(large.0 > 15_000, "{large:?}");
    // Work per crash stays flat: twice the crashes, about twice the events.
    let per_crash = |c: (u64, u64)| c.1 as f64 / c.0 as f64;
    assert!(
        per_crash(large) < 1.5 * per_crash(small),
        "{small:?} against {large:?}"
    );
}

#[test]
fn long_runs_get_wider_timeline_buckets_not_more() {
    // A 1 ms scenario whose records take 1,000 s to arrive, and a 1 B/s storage link.
    let s = scenario(json!({
        "duration": "1ms",
        "network": {"latency": {"constant": "1000s"}},
        "dataflow": {
            "operators": [
                {"name": "src", "kind": {"source": {"rate": "4000/s"}}},
                {"name": "sink", "kind": {"sink": {}}}
            ],
            "edges": [{"from": "src", "to": "sink"}]
        },
        "checkpointing": {"protocol": "aligned", "interval": "500us", "storage_bandwidth": "1B/s",
                          "timeout": "100000s"}
    }));
    for p in [protocol("none"), protocol("aligned")] {
        let (r, _) = run(&s, p, None, TraceMode::HashOnly);
        assert_eq!(r.metrics.records_out, 4);
        let tl = &r.metrics.timeline;
        assert!(
            tl.records_out.len() <= snapsim::sim::MAX_BUCKETS,
            "{}",
            tl.records_out.len()
        );
        assert!(tl.backpressured_tasks.len() <= snapsim::sim::MAX_BUCKETS);
        assert_eq!(tl.records_out.iter().sum::<u64>(), 4);
        assert!(r.to_json().len() < 64 * 1024, "{} bytes", r.to_json().len());
    }
}

#[test]
fn scripted_snapshots_cost_the_same_however_many_there_are() {
    // 20,000 scripted sends with distinct names and 20,000 scripted snapshots. Each local
    // snapshot used to copy every message received so far, and every name was interned by
    // a scan: quadratic in memory and time (gigabytes here).
    let k = 20_000u64;
    let mut steps = Vec::new();
    for i in 0..k {
        steps.push(json!({"at": format!("{}us", i * 10), "process": "p",
                          "send": {"to": "q", "message": format!("m{i}")}, "becomes": format!("s{i}")}));
        steps.push(json!({"at": format!("{}us", i * 10 + 5), "process": "p",
                          "initiate_snapshot": i + 1}));
    }
    let s = scenario(json!({
        "duration": format!("{}us", k * 10 + 100),
        "network": {"latency": {"constant": "3us"}},
        "processes": {
            "names": ["p", "q"],
            "graph": {"edges": [["p", "q"], ["q", "p"]]},
            "workload": {"script": {"steps": steps}}
        },
        "checkpointing": {"protocol": "chandy-lamport"}
    }));
    let r = within(Duration::from_secs(60), move || {
        run(&s, protocol("chandy-lamport"), None, TraceMode::HashOnly).0
    });
    assert_eq!(r.checkpoints.len() as u64, k);
    assert!(r.verdict.ok, "{:?}", r.verdict.violations);
}
