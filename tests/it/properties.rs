//! Property-based tests over generated scenarios (proptest).
//!
//! A generated case is a handful of parameters (topology shape and size, latencies, buffers,
//! rates, key skew, failure schedule, protocol, seed) rendered as scenario JSON and loaded like
//! any scenario file. When a property fails, proptest shrinks the case and the smallest one is
//! written to `<target>/tmp/proptest-cases/<property>.json` with the `snapsim run` command that
//! reproduces it. Regressions are kept in `proptest-regressions/properties.txt`.

use crate::support::protocol;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestCaseError, TestRunner};
use serde_json::{json, Value};

use snapsim::mutant::Mutant;
use snapsim::protocols::ProtocolKind;
use snapsim::report::RunResult;
use snapsim::scenario::Scenario;
use snapsim::trace::TraceMode;
use snapsim::{simulate, RunOptions};

/// `cases` generated cases from a fixed seed, so that CI sees the same cases every time.
/// `PROPTEST_CASES` and `PROPTEST_RNG_SEED` override both, to explore further.
fn config(cases: u32) -> Config {
    let mut c = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = cases;
    }
    if matches!(c.rng_seed, RngSeed::Random) {
        c.rng_seed = RngSeed::Fixed(0x2026_1122);
    }
    c.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(
        "proptest-regressions/properties.txt",
    )));
    c
}

/// A failure in a generated job.
#[derive(Debug, Clone)]
enum Fault {
    At(u32),
    AfterFraction(f64),
    Alignment(u64),
    Upload(u64),
}

/// The parameters of a generated dataflow job.
#[derive(Debug, Clone)]
struct Job {
    two_sources: bool,
    source_parallelism: u32,
    rate_k: u32,
    keys: u64,
    zipf: Option<f64>,
    record_size: u32,
    /// 0 keyed count, 1 map, 2 join (with two sources).
    middle: u8,
    middle_parallelism: u32,
    rebalance: bool,
    middle_cost_us: u32,
    sink_parallelism: u32,
    sink_cost_us: u32,
    latency_min_us: u32,
    latency_spread_us: u32,
    buffer_kib: u32,
    interval_ms: u32,
    duration_ms: u32,
    faults: Vec<Fault>,
    /// Records in each task of source `a`'s log: a finite log ends its input early, while the
    /// other source (and the crashes) go on.
    a_records: Option<u32>,
    /// How `b` feeds the middle operator: 0 hash, 1 broadcast, 2 rebalance (hash into a join).
    b_partition: u8,
    /// A second path from `a` to the sink through a map (a diamond): each record reaches the
    /// sink once per path.
    diamond: bool,
    /// The `recovery` section; `None`: a plain restart delay.
    recovery: Option<Value>,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        (10u32..200).prop_map(Fault::At),
        (0.2f64..0.9).prop_map(Fault::AfterFraction),
        (1u64..5).prop_map(Fault::Alignment),
        (1u64..5).prop_map(Fault::Upload),
    ]
}

fn job() -> impl Strategy<Value = Job> {
    (
        (
            any::<bool>(),
            1u32..=2,
            2u32..20,
            1u64..200,
            prop::option::of(0.5f64..2.0),
            50u32..400,
        ),
        (
            0u8..3,
            1u32..=3,
            any::<bool>(),
            0u32..10,
            1u32..=2,
            0u32..30,
        ),
        (10u32..400, 0u32..400, 1u32..=16, 10u32..40, 100u32..220),
        prop::collection::vec(fault(), 0..3),
        (
            prop::option::weighted(0.4, 50u32..2000),
            0u8..3,
            prop::bool::weighted(0.3),
        ),
    )
        .prop_map(|(s, m, n, faults, e)| Job {
            two_sources: s.0,
            source_parallelism: s.1,
            rate_k: s.2,
            keys: s.3,
            zipf: s.4,
            record_size: s.5,
            middle: if m.0 == 2 && !s.0 { 0 } else { m.0 },
            middle_parallelism: m.1,
            rebalance: m.2,
            middle_cost_us: m.3,
            sink_parallelism: m.4,
            sink_cost_us: m.5,
            latency_min_us: n.0,
            latency_spread_us: n.1,
            buffer_kib: n.2,
            interval_ms: n.3,
            duration_ms: n.4,
            faults,
            a_records: e.0,
            b_partition: e.1,
            diamond: e.2,
            recovery: None,
        })
}

/// A restart strategy (or none), local recovery, a restore bandwidth and a detection time.
fn recovery() -> impl Strategy<Value = Value> {
    let strategy = prop_oneof![
        Just(None),
        (0u32..4, 1u32..10).prop_map(|(attempts, delay)| Some(
            json!({"fixed_delay": {"attempts": attempts, "delay": format!("{delay}ms")}})
        )),
        (1u32..4, 20u32..200, 1u32..10).prop_map(|(max, interval, delay)| Some(json!({
            "failure_rate": {"max_failures_per_interval": max, "failure_rate_interval": format!("{interval}ms"), "delay": format!("{delay}ms")}
        }))),
        (
            1u32..5,
            0u32..15,
            1.0f64..3.0,
            10u32..100,
            0.0f64..0.5,
            prop::option::of(1u32..4)
        )
            .prop_map(|(initial, extra, multiplier, threshold, jitter, attempts)| {
                let mut e = json!({
                    "initial_backoff": format!("{initial}ms"),
                    "max_backoff": format!("{}ms", initial + extra),
                    "backoff_multiplier": multiplier,
                    "reset_backoff_threshold": format!("{threshold}ms"),
                    "jitter_factor": jitter
                });
                if let Some(a) = attempts {
                    e["attempts_before_reset_backoff"] = json!(a);
                }
                Some(json!({"exponential_delay": e}))
            }),
    ];
    (
        strategy,
        any::<bool>(),
        prop::option::of(1u32..100),
        prop::option::of(1u32..400),
        0u32..3,
    )
        .prop_map(|(strategy, local, restore_mb, local_mb, detection_ms)| {
            let mut r = json!({"detection": format!("{detection_ms}ms")});
            match strategy {
                Some(s) => r["restart_strategy"] = s,
                None => r["restart_delay"] = json!("5ms"),
            }
            if let Some(mb) = restore_mb {
                r["restore_bandwidth"] = json!(format!("{mb}MB/s"));
            }
            if local {
                r["local_recovery"] = json!(true);
                if let Some(mb) = local_mb {
                    r["local_bandwidth"] = json!(format!("{mb}MB/s"));
                }
            }
            r
        })
}

/// Jobs of [`job`] with a generated `recovery` section.
fn job_with_recovery() -> impl Strategy<Value = Job> {
    (job(), recovery()).prop_map(|(mut j, r)| {
        j.recovery = Some(r);
        j
    })
}

/// Jobs in which one input ends while the job goes on and then crashes: two sources, the
/// first with a log that ends just after a checkpoint's trigger (its barrier, then its last
/// records and its end of input, may overtake the other source's barrier), and a crash within
/// the next interval, after that checkpoint has completed, besides up to two other failures.
/// At-least-once's checkpoint then holds a task that has taken an end of input its sender had
/// not sent when it recorded: recovery must not take that input as ended twice.
fn job_with_an_early_end() -> impl Strategy<Value = Job> {
    (
        job(),
        1u32..4,
        0u32..1500,
        0u32..1000,
        prop::collection::vec(fault(), 0..3),
    )
        .prop_map(|(mut j, k, delta_us, crash_permille, mut faults)| {
            j.two_sources = true;
            let end_us = (k * j.interval_ms * 1000 + delta_us).min(j.duration_ms * 500);
            j.a_records = Some((end_us * j.rate_k / 1000).max(1));
            let crash_ms = end_us / 1000 + 2 + (j.interval_ms - 2) * crash_permille / 1000;
            faults.push(Fault::At(crash_ms));
            j.faults = faults;
            j
        })
}

fn render(j: &Job, protocol: ProtocolKind) -> Value {
    let source = |keys: u64, records: Option<u32>| {
        let mut s = json!({"rate": format!("{}/s", j.rate_k * 1000), "keys": keys, "record_size": format!("{}B", j.record_size)});
        if let Some(e) = j.zipf {
            s["key_distribution"] = json!({"zipf": {"exponent": e}});
        }
        if let Some(n) = records {
            s["records"] = json!(n);
        }
        s
    };
    let mut operators = vec![
        json!({"name": "a", "kind": {"source": source(j.keys, j.a_records)}, "parallelism": j.source_parallelism}),
    ];
    let mut edges = Vec::new();
    let partition = if j.rebalance && j.middle != 2 {
        "rebalance"
    } else {
        "hash"
    };
    let middle = match j.middle {
        0 => json!({"keyed_count": {}}),
        1 => json!({"map": {}}),
        _ => json!({"join": {}}),
    };
    operators.push(json!({"name": "m", "kind": middle, "parallelism": j.middle_parallelism, "cost": format!("{}us", j.middle_cost_us)}));
    edges.push(json!({"from": "a", "to": "m", "partition": partition}));
    if j.two_sources {
        let b_partition = match j.b_partition {
            1 => "broadcast",
            2 if j.middle != 2 => "rebalance",
            _ => "hash",
        };
        operators
            .push(json!({"name": "b", "kind": {"source": source(j.keys, None)}, "parallelism": 1}));
        edges.push(json!({"from": "b", "to": "m", "partition": b_partition}));
    }
    if j.diamond {
        operators.push(json!({"name": "d", "kind": {"map": {}}, "parallelism": j.middle_parallelism, "cost": format!("{}us", j.middle_cost_us)}));
        edges.push(json!({"from": "a", "to": "d", "partition": "hash"}));
        edges.push(json!({"from": "d", "to": "sink", "partition": "hash"}));
    }
    operators.push(json!({"name": "sink", "kind": {"sink": {"transactional": true}}, "parallelism": j.sink_parallelism, "cost": format!("{}us", j.sink_cost_us)}));
    edges.push(json!({"from": "m", "to": "sink", "partition": "hash"}));
    let failures: Vec<Value> = j
        .faults
        .iter()
        .map(|f| match *f {
            Fault::At(ms) => json!({"crash": {"at": format!("{}ms", ms.min(j.duration_ms))}}),
            Fault::AfterFraction(x) => json!({"after_checkpoints": {"fraction": x}}),
            Fault::Alignment(c) => json!({"during_alignment": {"checkpoint": c}}),
            Fault::Upload(c) => json!({"during_upload": {"checkpoint": c}}),
        })
        .collect();
    // The state backend, picked from the case's other draws so that the generator's stream
    // (and every earlier case) stays as it was: none, or heap, incremental RocksDB with
    // compaction, or the changelog.
    let mut checkpointing = json!({
        "protocol": protocol.name(),
        "interval": format!("{}ms", j.interval_ms),
        "alignment_timeout": (["2ms", "500us", "20ms"][(j.interval_ms % 3) as usize]),
        "force_aligned_pointwise": !j.keys.is_multiple_of(4),
        "storage_bandwidth": "50MB/s",
        "sync_copy": "20us"
    });
    let backend = match (j.keys + u64::from(j.interval_ms)) % 5 {
        2 => Some(json!({"kind": "heap", "sync_per_entry": "50ns"})),
        3 => Some(
            json!({"kind": "rocksdb", "incremental": true, "compaction_trigger": 3, "num_retained": 2, "request_latency": "50us"}),
        ),
        4 => Some(
            json!({"kind": "rocksdb", "changelog": true, "materialization_interval": format!("{}ms", 2 * j.interval_ms)}),
        ),
        _ => None,
    };
    if let Some(b) = backend {
        checkpointing["state_backend"] = b;
    }
    let mut network = json!({
        "latency": {"uniform": {"min": format!("{}us", j.latency_min_us), "max": format!("{}us", j.latency_min_us + j.latency_spread_us)}},
        "out_buffer": format!("{}KiB", j.buffer_kib),
        "in_buffer": format!("{}KiB", j.buffer_kib)
    });
    if j.buffer_kib.is_multiple_of(3) {
        // Flink's buffer model with debloating, quick enough to resize within a short run;
        // overdraft from none to a few buffers.
        network = json!({
            "latency": network["latency"],
            "buffers": {"segment_size": format!("{}KiB", j.buffer_kib / 3), "floating_per_gate": 4,
                        "max_overdraft_buffers_per_gate": j.latency_spread_us % 3},
            "buffer_debloat": {"enabled": true, "target": "2ms", "period": "5ms", "samples": 3}
        });
    }
    json!({
        "name": "generated",
        "duration": format!("{}ms", j.duration_ms),
        "network": network,
        "dataflow": {"operators": operators, "edges": edges},
        "checkpointing": checkpointing,
        "failures": failures,
        "recovery": j.recovery.clone().unwrap_or_else(|| json!({"restart_delay": "5ms"}))
    })
}

/// Runs a generated case; on any failed expectation writes it out as a scenario file.
fn run_case(
    property: &str,
    scenario: &Value,
    protocol: ProtocolKind,
    mutant: Option<Mutant>,
    seed: u64,
    expect: impl Fn(&RunResult) -> Result<(), String>,
) -> Result<RunResult, TestCaseError> {
    let text = serde_json::to_string_pretty(scenario).unwrap();
    let s = Scenario::from_json(text.as_bytes(), "generated")
        .map_err(|e| TestCaseError::fail(format!("generated an invalid scenario: {e}\n{text}")))?;
    let opts = RunOptions {
        protocol,
        seed: Some(seed),
        trace: TraceMode::HashOnly,
        mutant,
        max_events: snapsim::DEFAULT_MAX_EVENTS,
    };
    let result =
        simulate(&s, &opts, &mut |_, _| {}).map_err(|e| TestCaseError::fail(e.to_string()))?;
    if let Err(why) = expect(&result) {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("proptest-cases");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{property}.json"));
        let _ = std::fs::write(&path, &text);
        return Err(TestCaseError::fail(format!(
            "{why}\nreproduce: snapsim run {} --protocol {} --seed {seed}",
            path.display(),
            opts.label()
        )));
    }
    Ok(result)
}

fn keeps_promises(r: &RunResult) -> Result<(), String> {
    let eo = r.verdict.exactly_once.unwrap_or_default();
    if r.verdict.ok
        && r.verdict.consistent
        && eo.lost == 0
        && eo.duplicated == 0
        && eo.out_of_order == 0
    {
        Ok(())
    } else {
        Err(format!("{:?}; {:?}", eo, r.verdict.violations))
    }
}

/// [`keeps_promises`], except that a job whose restart strategy gave up may not have
/// delivered what it read before it failed.
fn keeps_promises_or_failed(r: &RunResult) -> Result<(), String> {
    let eo = r.verdict.exactly_once.unwrap_or_default();
    let lost_ok = eo.lost == 0 || r.job_failed.is_some();
    if r.verdict.ok && r.verdict.consistent && lost_ok && eo.duplicated == 0 && eo.out_of_order == 0
    {
        Ok(())
    } else {
        Err(format!(
            "{:?}; {:?}; job failed {:?}",
            eo, r.verdict.violations, r.job_failed
        ))
    }
}

/// The protocols that promise consistent cuts and exactly-once.
fn correct() -> Vec<ProtocolKind> {
    ProtocolKind::all()
        .filter(|p| p.promises().exactly_once)
        .collect()
}

proptest! {
    #![proptest_config(config(256))]

    /// Every correct protocol records consistent cuts and, across failures, delivers every
    /// record exactly once to a transactional sink.
    #[test]
    fn correct_protocols_are_consistent_and_exactly_once(j in job(), p in 0usize..5, seed in 0u64..1000) {
        run_case("exactly_once", &render(&j, correct()[p]), correct()[p], None, seed, keeps_promises)?;
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// With restart strategies, local recovery and restore costs the promises still hold: a
    /// job that restarts ends exactly-once (its final counts as without failures), a job whose
    /// strategy gives up has neither duplicates nor inconsistent cuts.
    #[test]
    fn correct_protocols_keep_their_promises_under_restart_strategies(j in job_with_recovery(), p in 0usize..5, seed in 0u64..1000) {
        run_case("restart_strategies", &render(&j, correct()[p]), correct()[p], None, seed, keeps_promises_or_failed)?;
    }
}

proptest! {
    #![proptest_config(config(96))]

    /// Aligned barriers never record channel state.
    #[test]
    fn aligned_records_no_channel_state(j in job(), seed in 0u64..1000) {
        run_case("aligned_no_channel_state", &render(&j, protocol("aligned")), protocol("aligned"), None, seed, |r| {
            match r.checkpoints.iter().find(|c| c.channel_state_bytes > 0) {
                Some(c) => Err(format!("checkpoint {} recorded {} bytes of channel state", c.id, c.channel_state_bytes)),
                None => keeps_promises(r),
            }
        })?;
    }

    /// At-least-once may duplicate but never loses a record.
    #[test]
    fn at_least_once_never_loses(j in job(), seed in 0u64..1000) {
        run_case("at_least_once", &render(&j, protocol("at-least-once")), protocol("at-least-once"), None, seed, never_loses)?;
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// At-least-once never loses a record when an input ends before the job does and the job
    /// crashes (the end of input may be in a checkpoint that its sender's part is not).
    #[test]
    fn at_least_once_never_loses_when_an_input_ends_early(j in job_with_an_early_end(), seed in 0u64..1000) {
        run_case("at_least_once_early_end", &render(&j, protocol("at-least-once")), protocol("at-least-once"), None, seed, never_loses)?;
    }
}

/// At-least-once's promise: duplicates and records out of order are allowed, losses are not.
fn never_loses(r: &RunResult) -> Result<(), String> {
    let eo = r.verdict.exactly_once.unwrap_or_default();
    if r.verdict.ok && eo.lost == 0 {
        Ok(())
    } else {
        Err(format!("{eo:?}; {:?}", r.verdict.violations))
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// The same scenario and seed give the same trace, failures included.
    #[test]
    fn the_same_seed_gives_the_same_trace(j in job(), p in 0usize..5, seed in 0u64..1000) {
        let v = render(&j, correct()[p]);
        let a = run_case("determinism", &v, correct()[p], None, seed, |_| Ok(()))?;
        run_case("determinism", &v, correct()[p], None, seed, |b| {
            if b.to_json() == a.to_json() { Ok(()) } else { Err(format!("trace {} then {}", a.trace_hash, b.trace_hash)) }
        })?;
    }
}

fn bank() -> impl Strategy<Value = Value> {
    (2u32..9, 1u32..4, 200u32..3000, 50u32..3000, 0u32..20, 10u32..60, prop::collection::vec(20u32..300, 0..3)).prop_map(
        |(n, k, interval_us, latency_us, cost_us, cp_ms, crashes)| {
            let failures: Vec<Value> = crashes.iter().map(|ms| json!({"crash": {"at": format!("{ms}ms")}})).collect();
            json!({
                "name": "generated-bank",
                "duration": "300ms",
                "network": {"latency": {"exponential": {"mean": format!("{latency_us}us")}}},
                "processes": {
                    "count": n,
                    "graph": {"random_k_out": {"k": k.min(n - 1), "ring": true}},
                    "workload": {"bank": {"transfer_interval": format!("{interval_us}us"), "max_amount": 50}},
                    "cost": format!("{cost_us}us")
                },
                "checkpointing": {"protocol": "chandy-lamport", "interval": format!("{cp_ms}ms")},
                "failures": failures,
                "recovery": {"restart_delay": "5ms"}
            })
        },
    )
}

proptest! {
    #![proptest_config(config(128))]

    /// Every snapshot of the bank, and its end state across crashes, holds the initial total.
    #[test]
    fn the_bank_conserves_its_total(b in bank(), seed in 0u64..1000) {
        run_case("bank", &b, protocol("chandy-lamport"), None, seed, |r| {
            if r.verdict.ok && r.verdict.consistent { Ok(()) } else { Err(format!("{:?}", r.verdict.violations)) }
        })?;
    }
}

/// Each mutant breaks a promise in some generated case: the generator reaches the situations
/// that matter (back-pressure, several inputs, failures at the right moments).
#[test]
fn every_mutant_is_caught_by_some_generated_case() {
    for &m in Mutant::ALL {
        let mut runner = TestRunner::new(Config {
            cases: 1,
            rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
            ..Config::default()
        });
        // A fixed stream of cases, tried in order until one catches the mutant.
        let caught = (0..60).any(|i| {
            let j = job().new_tree(&mut runner).unwrap().current();
            let v = render(&j, m.base());
            run_case("mutant", &v, m.base(), Some(m), i, |r| {
                if r.verdict.ok {
                    Ok(())
                } else {
                    Err(String::new())
                }
            })
            .is_err()
        });
        assert!(caught, "{m} survived 60 generated cases");
    }
}
