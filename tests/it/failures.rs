//! Failures, recovery, mutants and `snapsim check`.
//!
//! The shipped `failures.json` pins the headline promise: the job crashes at three named
//! moments and every exactly-once protocol still delivers each record once. Small inline jobs
//! pin one recovery rule each, every mutant must be caught with a message that points at the
//! culprit, and the command line is checked end to end. Runs are costly (a run with failures
//! also runs its failure-free reference), so seeds are few and batches go through
//! [`campaign::run_all`], which runs them in parallel.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration as WallDuration, Instant};

use serde_json::{json, Value};
use snapsim::campaign;
use snapsim::checker::{ExactlyOnce, ViolationKind};
use snapsim::mutant::Mutant;
use snapsim::protocols::ProtocolKind;
use snapsim::report::RunResult;
use snapsim::scenario::{Duration, FailureSpec, Scenario};
use snapsim::sim::Simulation;
use snapsim::trace::TraceMode;

use crate::support::{load, parse, protocol, run, scenarios_dir};

/// Seeds per scenario and protocol: a `failures.json` run takes up to a second.
const SEEDS: u32 = 3;

/// The protocols that promise exactly-once (with transactional sinks).
fn exactly_once() -> Vec<ProtocolKind> {
    ProtocolKind::all()
        .filter(|p| p.promises().exactly_once)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `s` under each of `protocols` for the first [`SEEDS`] seeds of its stream, run in parallel;
/// results in (protocol, seed) order.
fn campaign_runs(s: &Scenario, protocols: &[ProtocolKind]) -> Vec<RunResult> {
    let scenarios = [s.clone()];
    let chosen: Vec<_> = protocols.iter().map(|&p| (p, None)).collect();
    let jobs = campaign::check_jobs(&scenarios, Some(&chosen), SEEDS);
    campaign::run_all(&scenarios, &jobs)
        .into_iter()
        .map(|o| {
            o.result
                .unwrap_or_else(|e| panic!("{} seed {}: {e}", o.label, o.seed))
        })
        .collect()
}

/// One run of `s` (its own seed unless given).
fn go(s: &Scenario, protocol: ProtocolKind, seed: Option<u64>) -> RunResult {
    run(s, protocol, seed, TraceMode::HashOnly).0
}

/// What to print when an assertion about `r` fails: the run, how to reproduce it (for a
/// shipped scenario), and the checker's findings.
fn context(r: &RunResult) -> String {
    let file = scenarios_dir().join(format!("{}.json", r.scenario));
    let reproduce = if file.exists() {
        format!(
            " (reproduce: snapsim run scenarios/{}.json --protocol {} --seed {})",
            r.scenario, r.protocol, r.seed
        )
    } else {
        String::new()
    };
    format!(
        "{} under {} seed {}{reproduce}\n  failures: {:?}\n  verdict: {:?}",
        r.scenario, r.protocol, r.seed, r.failures, r.verdict
    )
}

/// The exactly-once counters of a job's run.
fn counters(r: &RunResult) -> ExactlyOnce {
    r.verdict
        .exactly_once
        .unwrap_or_else(|| panic!("a job has exactly-once counters\n{}", context(r)))
}

/// Asserts the strongest verdict: ok, consistent, and every record once, in order.
#[track_caller]
fn assert_exactly_once(r: &RunResult) {
    assert!(r.verdict.ok && r.verdict.consistent, "{}", context(r));
    assert_eq!(counters(r), ExactlyOnce::default(), "{}", context(r));
}

fn dur(text: &str) -> Duration {
    text.parse().expect("a valid duration")
}

/// A small job on which one recovery rule at a time is easy to see: two sources hash into a
/// two-task count (so barriers align) and a transactional sink, checkpointed every 50 ms,
/// restarting 20 ms after a crash. Tests add failures and change fields with [`set`].
fn small_job(failures: Value) -> Value {
    json!({
        "name": "small",
        "duration": "400ms",
        "network": {
            "latency": {"uniform": {"min": "100us", "max": "300us"}},
            "bandwidth": "1GiB/s"
        },
        "dataflow": {
            "operators": [
                {"name": "src", "kind": {"source": {"rate": "20000/s", "keys": 100}}, "parallelism": 2, "cost": "1us"},
                {"name": "count", "kind": {"keyed_count": {}}, "parallelism": 2, "cost": "5us"},
                {"name": "sink", "kind": {"sink": {"transactional": true}}, "cost": "2us"}
            ],
            "edges": [
                {"from": "src", "to": "count", "partition": "hash"},
                {"from": "count", "to": "sink", "partition": "hash"}
            ]
        },
        "checkpointing": {"protocol": "aligned", "interval": "50ms", "storage_bandwidth": "100MB/s"},
        "failures": failures,
        "recovery": {"restart_delay": "20ms"}
    })
}

/// `v` with the field at the JSON pointer `at` set to `value` (added if absent).
fn set(mut v: Value, at: &str, value: Value) -> Value {
    let (parent, key) = at.rsplit_once('/').expect("a JSON pointer");
    v.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at {parent}"))
        .insert(key.to_string(), value);
    v
}

fn scenario(v: &Value) -> Scenario {
    parse(&v.to_string())
}

/// The restart delay of [`small_job`], in ns.
const RESTART_NS: u64 = 20_000_000;

// ---------------------------------------------------------------------------------------------
// The shipped failures scenario
// ---------------------------------------------------------------------------------------------

/// The headline of issue 4: three crashes at named moments, each restoring the last completed
/// checkpoint and replaying the sources, and still every record exactly once.
#[test]
fn shipped_failures_keep_exactly_once_under_every_exactly_once_protocol() {
    let s = load("failures");
    let delay = s.recovery.restart_delay.ns();
    assert_eq!(delay, 20_000_000, "the scenario restarts after 20 ms");
    for r in campaign_runs(&s, &exactly_once()) {
        let why = context(&r);
        assert_exactly_once(&r);
        assert!(r.verdict.expected.is_empty(), "{why}");
        assert_eq!(r.failures.len(), 3, "{why}");
        for (f, moment) in
            r.failures
                .iter()
                .zip(["after-checkpoint", "during-alignment", "during-upload"])
        {
            assert!(f.cause.starts_with(moment), "expected {moment}: {why}");
            if moment == "during-alignment" {
                assert!(
                    f.cause.contains(" at count["),
                    "the file names count: {why}"
                );
            }
            let restored = f
                .restored_checkpoint
                .unwrap_or_else(|| panic!("{moment} restored nothing: {why}"));
            // The cause names the checkpoint: the one completed before the crash, or the one
            // in flight, which never completes and so is never restored.
            let named: u64 = f.cause.split(' ').nth(1).unwrap().parse().unwrap();
            if moment == "after-checkpoint" {
                assert!(restored >= named, "{why}");
            } else {
                assert!(restored < named, "{why}");
            }
            assert!(f.replayed_records > 0, "{moment}: {why}");
            // Detection and download are free here: the restart delay plus the measured
            // replay of the restored channel state.
            assert_eq!(f.restart_ns, delay, "{moment}: {why}");
            assert_eq!(
                f.downtime_ns,
                delay + f.replay_ns.expect("always measured"),
                "{moment}: {why}"
            );
        }
    }
}

/// At-least-once recovers too, but replays what its inconsistent checkpoints already counted:
/// the duplicates are reported, as expected, and lose it nothing.
#[test]
fn at_least_once_recovers_with_duplicates_reported_as_expected() {
    for r in campaign_runs(&load("failures"), &[protocol("at-least-once")]) {
        let why = context(&r);
        let eo = counters(&r);
        assert!(r.verdict.ok, "{why}");
        assert!(r.verdict.violations.is_empty(), "{why}");
        assert_eq!(eo.lost, 0, "{why}");
        assert!(eo.duplicated > 0, "{why}");
        assert!(!r.verdict.expected.is_empty(), "{why}");
        assert_eq!(r.failures.len(), 3, "{why}");
    }
}

// ---------------------------------------------------------------------------------------------
// Recovery rules, one at a time
// ---------------------------------------------------------------------------------------------

/// With no completed checkpoint, recovery starts the job from scratch: sources from offset 0,
/// and the transactional sink's uncommitted output is discarded, so nothing doubles.
#[test]
fn a_crash_before_the_first_checkpoint_restarts_from_the_beginning() {
    let r = go(
        &scenario(&small_job(json!([{"crash": {"at": "5ms"}}]))),
        protocol("aligned"),
        None,
    );
    let why = context(&r);
    assert_exactly_once(&r);
    assert_eq!(r.failures.len(), 1, "{why}");
    let f = &r.failures[0];
    assert_eq!(
        (
            f.at_ns,
            f.restored_checkpoint,
            f.downtime_ns,
            f.cause.as_str()
        ),
        (5_000_000, None, RESTART_NS, "crash"),
        "{why}"
    );
    assert!(f.replayed_records > 0, "{why}");
}

/// Only a transactional sink hides replayed output. A plain sink shows it twice, which the
/// checker reports as expected (the protocol never promised otherwise), not as a violation.
#[test]
fn a_plain_sink_shows_replayed_output_as_expected_duplicates() {
    for transactional in [true, false] {
        let job = set(
            small_job(json!([{"crash": {"at": "175ms"}}])),
            "/dataflow/operators/2/kind/sink/transactional",
            json!(transactional),
        );
        let r = go(&scenario(&job), protocol("aligned"), None);
        let why = format!("transactional {transactional}: {}", context(&r));
        let eo = counters(&r);
        assert!(r.verdict.ok && r.verdict.violations.is_empty(), "{why}");
        assert_eq!(eo.lost, 0, "{why}");
        assert_eq!(r.failures.len(), 1, "{why}");
        assert!(r.failures[0].restored_checkpoint.is_some(), "{why}");
        if transactional {
            assert_exactly_once(&r);
        } else {
            assert!(eo.duplicated > 0, "{why}");
            assert!(
                r.verdict
                    .expected
                    .iter()
                    .any(|v| v.kind == ViolationKind::DuplicatedRecord),
                "{why}"
            );
        }
    }
}

/// A second crash halfway through the first restart delays the recovery; both are recorded,
/// both restore the same checkpoint, and the job still finishes exactly-once.
#[test]
fn a_crash_during_recovery_is_recorded_and_the_job_still_finishes_exactly_once() {
    let r = go(
        &scenario(&small_job(json!([
            {"crash": {"at": "120ms"}},
            {"during_recovery": {"recovery": 1}}
        ]))),
        protocol("aligned"),
        None,
    );
    let why = context(&r);
    assert_exactly_once(&r);
    let causes: Vec<&str> = r.failures.iter().map(|f| f.cause.as_str()).collect();
    assert_eq!(causes, ["crash", "during-recovery 1"], "{why}");
    let (first, second) = (&r.failures[0], &r.failures[1]);
    assert_eq!(second.at_ns, first.at_ns + RESTART_NS / 2, "{why}");
    assert!(first.restored_checkpoint.is_some(), "{why}");
    assert_eq!(
        first.restored_checkpoint, second.restored_checkpoint,
        "{why}"
    );
    // Processing resumes one full delay after the second crash.
    assert_eq!(second.downtime_ns, RESTART_NS, "{why}");
    assert_eq!(first.downtime_ns, RESTART_NS + RESTART_NS / 2, "{why}");
}

/// Random crashes come from the seed's own stream: the same seed crashes at the same times
/// (the same results file), another seed at other times.
#[test]
fn random_crashes_are_deterministic_for_a_seed_and_differ_between_seeds() {
    let s = scenario(&small_job(json!([{"random": {"mean_interval": "80ms"}}])));
    let seeds = campaign::seeds(s.seed, 2);
    let a = go(&s, protocol("aligned"), Some(seeds[0]));
    let again = go(&s, protocol("aligned"), Some(seeds[0]));
    let b = go(&s, protocol("aligned"), Some(seeds[1]));
    assert_eq!(a.to_json(), again.to_json(), "seed {}", seeds[0]);
    let times = |r: &RunResult| r.failures.iter().map(|f| f.at_ns).collect::<Vec<_>>();
    assert!(!a.failures.is_empty() && !b.failures.is_empty());
    assert_ne!(times(&a), times(&b), "seeds {seeds:?} crashed alike");
    for r in [&a, &b] {
        assert!(
            r.failures.iter().all(|f| f.cause == "crash"),
            "{}",
            context(r)
        );
        assert_exactly_once(r);
    }
}

/// A stalled link is slow, not broken: the records behind it arrive late, but all of them,
/// and there is no crash.
#[test]
fn a_stalled_link_delays_records_but_loses_none() {
    let calm = go(&scenario(&small_job(json!([]))), protocol("aligned"), None);
    let stalled = go(
        &scenario(&small_job(json!([
            {"stall": {"from": "count", "to": "sink", "at": "100ms", "duration": "30ms"}}
        ]))),
        protocol("aligned"),
        None,
    );
    let why = context(&stalled);
    assert_exactly_once(&stalled);
    assert!(stalled.failures.is_empty(), "{why}");
    assert_eq!(
        stalled.metrics.records_out, calm.metrics.records_out,
        "{why}"
    );
    let p99 = |r: &RunResult| r.metrics.latency_p99_ns.expect("records arrived");
    assert!(
        p99(&stalled) > p99(&calm) + 10_000_000,
        "p99 {} ns with the stall, {} ns without",
        p99(&stalled),
        p99(&calm)
    );
}

/// A rejected upload fails that checkpoint. Within `tolerable_failures` the job carries on;
/// beyond it the job fails and recovers, as Flink's `CheckpointFailureManager` does.
#[test]
fn a_rejected_upload_fails_its_checkpoint_and_the_job_only_beyond_the_tolerance() {
    for tolerable in [1, 0] {
        let job = set(
            small_job(json!([{"upload_failure": {"checkpoint": 2}}])),
            "/checkpointing/tolerable_failures",
            json!(tolerable),
        );
        let r = go(&scenario(&job), protocol("aligned"), None);
        let why = format!("tolerable_failures {tolerable}: {}", context(&r));
        assert_exactly_once(&r);
        let second = r
            .checkpoints
            .iter()
            .find(|c| c.id == 2)
            .expect("checkpoint 2");
        assert_eq!(second.status.as_str(), "aborted", "{why}");
        let causes: Vec<&str> = r.failures.iter().map(|f| f.cause.as_str()).collect();
        if tolerable == 0 {
            assert_eq!(causes, ["tolerable-failures exceeded"], "{why}");
            assert_eq!(r.failures[0].restored_checkpoint, Some(1), "{why}");
        } else {
            assert!(causes.is_empty(), "{why}");
            assert!(
                r.checkpoints
                    .iter()
                    .filter(|c| c.id != 2)
                    .all(|c| c.completed()),
                "{why}"
            );
        }
    }
}

/// A crash after the job has finished must not undo it: the final commit made all output
/// visible, so replaying from an older checkpoint (or the beginning) would write it twice.
/// Regression: it did, until the final checkpoint of a finished job was modelled.
#[test]
fn a_crash_after_the_job_finished_changes_nothing() {
    // Bounded sources finish after about 25 ms, well before the crash at 200 ms.
    let job = set(
        small_job(json!([{"crash": {"at": "200ms"}}])),
        "/dataflow/operators/0/kind/source/records",
        json!(500),
    );
    let r = go(&scenario(&job), protocol("aligned"), None);
    assert_exactly_once(&r);
    assert_eq!(r.metrics.records_in, 1_000, "{}", context(&r));
}

/// A crash at time zero is one crash, not an endless loop of crashes at time zero.
#[test]
fn a_crash_at_time_zero_happens_once() {
    // Run in a child with a memory cap and a deadline: the bug eats ~400 MB/s.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zero.json");
    let job = small_job(json!([{"crash": {"at": "0ns"}}]));
    std::fs::write(&file, job.to_string()).unwrap();
    let out = snapsim_bounded(
        dir.path(),
        &["run", file.to_str().unwrap(), "--out", "out", "--quiet"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let results = read_results(&dir.path().join("out"));
    assert_eq!(results["failures"].as_array().map(Vec::len), Some(1));
}

// ---------------------------------------------------------------------------------------------
// The bank across crashes
// ---------------------------------------------------------------------------------------------

/// Money is conserved across two crashes only if recovery restores the balances and the
/// transfers recorded in flight; a recovery that drops the channel state loses money.
#[test]
fn the_bank_conserves_its_total_across_two_crashes() {
    let mut s = load("bank");
    s.failures = vec![
        FailureSpec::Crash {
            at: dur("550ms"),
            every: None,
            tasks: vec![],
        },
        FailureSpec::Crash {
            at: dur("1270ms"),
            every: None,
            tasks: vec![],
        },
    ];
    for r in campaign_runs(&s, &[protocol("chandy-lamport")]) {
        let why = context(&r);
        assert!(r.verdict.ok && r.verdict.consistent, "{why}");
        assert_eq!(r.failures.len(), 2, "{why}");
        assert!(
            r.failures.iter().all(|f| f.restored_checkpoint.is_some()),
            "{why}"
        );
    }
    // The same crashes with the channel state left out of recovery break conservation.
    let broken = Simulation::new(
        &s,
        protocol("chandy-lamport"),
        s.seed,
        TraceMode::HashOnly,
        Some(Mutant::RecoverySkipsChannelState),
    )
    .unwrap()
    .run(&mut |_, _| {});
    let (initial, end) = broken.bank_totals.expect("a bank");
    assert_ne!(initial, end, "dropping the recorded transfers loses money");
}

// ---------------------------------------------------------------------------------------------
// Mutants
// ---------------------------------------------------------------------------------------------

/// The checker is trusted because it catches every deliberately broken variant on the
/// shipped job scenarios, and says where: a snapshot, a channel, or a record by its offset.
#[test]
fn every_mutant_is_caught_with_a_specific_message() {
    let scenarios = [load("quickstart"), load("backpressure"), load("failures")];
    for &m in Mutant::ALL {
        let found = campaign::hunt(m, &scenarios, SEEDS, snapsim::DEFAULT_MAX_EVENTS)
            .unwrap_or_else(|| panic!("{m} not caught in {SEEDS} seeds"));
        let r = found.result.expect("hunt returns verified runs");
        let first = &r.verdict.violations[0];
        let specific = ["snapshot ", "channel ", " offset "]
            .iter()
            .any(|w| first.message.contains(w));
        assert!(specific, "{m}: vague message: {first:?}");
        assert_eq!(found.label, m.to_string());
    }
}

// ---------------------------------------------------------------------------------------------
// The `--fail` short forms
// ---------------------------------------------------------------------------------------------

#[test]
fn every_documented_fail_flag_parses() {
    let cases = [
        (
            "at=500ms",
            FailureSpec::Crash {
                at: dur("500ms"),
                every: None,
                tasks: vec![],
            },
        ),
        (
            "every=300ms",
            FailureSpec::Crash {
                at: dur("300ms"),
                every: Some(dur("300ms")),
                tasks: vec![],
            },
        ),
        (
            "after=0.25",
            FailureSpec::AfterCheckpoints {
                fraction: 0.25,
                delay: None,
            },
        ),
        (
            "alignment=3",
            FailureSpec::DuringAlignment {
                checkpoint: 3,
                task: None,
            },
        ),
        ("upload=3", FailureSpec::DuringUpload { checkpoint: 3 }),
        ("recovery=1", FailureSpec::DuringRecovery { recovery: 1 }),
        (
            "random=300ms",
            FailureSpec::Random {
                mean_interval: dur("300ms"),
            },
        ),
        (
            "upload-failure=2",
            FailureSpec::UploadFailure { checkpoint: 2 },
        ),
    ];
    for (flag, want) in cases {
        assert_eq!(FailureSpec::from_flag(flag), Ok(want), "{flag}");
    }
}

#[test]
fn malformed_fail_flags_are_rejected_naming_the_problem() {
    let cases = [
        ("at500ms", "KIND=VALUE"),
        ("crash=5ms", "unknown failure `crash`"),
        ("=5ms", "unknown failure"),
        ("at=500", "no unit"),
        ("at=", "not a duration"),
        ("every=soon", "not a duration"),
        ("random=5parsecs", "unit"),
        ("after=half", "`half` is not a fraction"),
        ("alignment=three", "`three` is not a whole number"),
        ("upload=-1", "`-1` is not a whole number"),
        ("recovery=1.5", "`1.5` is not a whole number"),
        ("upload-failure=", "is not a whole number"),
    ];
    for (flag, problem) in cases {
        match FailureSpec::from_flag(flag) {
            Ok(spec) => panic!("{flag} was accepted as {spec:?}"),
            Err(e) => assert!(
                e.contains(problem),
                "{flag}: {e:?} does not say {problem:?}"
            ),
        }
    }
}

/// The README gives ranges: a fraction in (0, 1], checkpoint and recovery numbers from 1, and
/// a repetition or mean interval must be longer than zero (zero loops forever).
#[test]
fn out_of_range_failures_are_rejected() {
    for flag in [
        "after=0",
        "after=1.5",
        "after=NaN",
        "alignment=0",
        "upload=0",
        "recovery=0",
        "recovery=4294967297",
        "upload-failure=0",
        "every=0ns",
        "random=0ns",
    ] {
        assert!(
            FailureSpec::from_flag(flag).is_err(),
            "{flag} accepted as {:?}",
            FailureSpec::from_flag(flag)
        );
    }
    for failure in [
        json!({"after_checkpoints": {"fraction": 2.0}}),
        json!({"during_upload": {"checkpoint": 0}}),
        json!({"during_recovery": {"recovery": 0}}),
        json!({"crash": {"at": "10ms", "every": "0ns"}}),
        json!({"random": {"mean_interval": "0ns"}}),
    ] {
        let job = small_job(json!([failure]));
        assert!(
            Scenario::from_json(job.to_string().as_bytes(), "t").is_err(),
            "{failure} accepted"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------------------------

/// Runs the binary in `dir` (so a stray default `results/` would land there, not in the repo).
fn snapsim(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_snapsim"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("start snapsim")
}

/// Like [`snapsim`], for a run that may never end: 1 GB of memory and 10 s at most.
fn snapsim_bounded(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1000000 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_snapsim"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start snapsim");
    let deadline = Instant::now() + WallDuration::from_secs(10);
    while child.try_wait().expect("wait for snapsim").is_none() && Instant::now() < deadline {
        std::thread::sleep(WallDuration::from_millis(20));
    }
    let _ = child.kill();
    child.wait_with_output().expect("collect snapsim's output")
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The one results file in `dir`.
fn read_results(dir: &Path) -> Value {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap()
}

fn shipped(name: &str) -> String {
    scenarios_dir()
        .join(format!("{name}.json"))
        .to_string_lossy()
        .into_owned()
}

/// `--fail` adds to the scenario's failures: an early crash before the three of the file.
#[test]
fn run_with_fail_adds_a_crash_to_the_results_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = snapsim(
        dir.path(),
        &[
            "run",
            &shipped("failures"),
            "--fail",
            "at=100ms",
            "--out",
            "out",
            "--quiet",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let results = read_results(&dir.path().join("out"));
    let failures = results["failures"].as_array().expect("a failures array");
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert_eq!(failures[0]["at_ns"], 100_000_000);
    assert_eq!(failures[0]["cause"], "crash");
    assert_eq!(results["verdict"]["ok"], true);
}

#[test]
fn check_passes_a_correct_protocol_and_prints_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = snapsim(
        dir.path(),
        &[
            "check",
            &shipped("failures"),
            "--protocol",
            "aligned",
            "--seeds",
            "2",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("scenario") && l.contains("violations")),
        "no table header\n{}",
        describe(&out)
    );
    assert!(
        stdout.contains("2 runs, 0 with violations"),
        "{}",
        describe(&out)
    );
}

/// `check --protocol mutant:NAME` runs the mutant and prints a command that reproduces it.
#[test]
fn check_catches_a_mutant_and_says_how_to_reproduce_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = snapsim(
        dir.path(),
        &[
            "check",
            &shipped("quickstart"),
            "--protocol",
            "mutant:aligned-no-block",
            "--seeds",
            "2",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let prefix = format!("reproduce: snapsim run {} ", shipped("quickstart"));
    let reproduce = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no reproduce line\n{}", describe(&out)));
    let rest = reproduce.strip_prefix(&prefix).unwrap();
    let seed = rest
        .strip_prefix("--protocol mutant:aligned-no-block --seed ")
        .unwrap_or_else(|| panic!("{reproduce}"));
    assert!(seed.parse::<u64>().is_ok(), "{reproduce}");
}

#[test]
fn check_lists_every_mutant() {
    let dir = tempfile::tempdir().unwrap();
    let out = snapsim(dir.path(), &["check", "--mutants", "--list"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(stdout.lines().count(), Mutant::ALL.len(), "{stdout}");
    for m in Mutant::ALL {
        assert!(
            stdout.lines().any(|l| l.starts_with(&m.to_string())),
            "{m} missing\n{stdout}"
        );
    }
}

/// A barrier protocol on a process graph is bad input (exit 2), not a failed check.
#[test]
fn check_refuses_a_barrier_protocol_on_a_process_graph() {
    let dir = tempfile::tempdir().unwrap();
    let out = snapsim(
        dir.path(),
        &["check", &shipped("bank"), "--protocol", "aligned"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bank.json") && stderr.contains("needs a dataflow job"),
        "{}",
        describe(&out)
    );
}

/// Downtime as Flink spends it (flink-costs.md d.1): detection, the restart delay and the
/// slowest task's download of its part of the restored checkpoint, state and channel state.
/// With a single crash the downtime is exactly that sum, and each part is in the results.
#[test]
fn downtime_is_detection_plus_restart_plus_the_slowest_restore() {
    let mut s = load("failures");
    s.failures.truncate(1);
    s.recovery.detection = snapsim::scenario::Duration(3_000_000);
    s.recovery.restore_bandwidth = Some("1MB/s".parse().unwrap());
    s.validate().unwrap();
    for p in ["aligned", "unaligned"] {
        let (r, out) = run(&s, protocol(p), None, TraceMode::HashOnly);
        assert!(r.verdict.ok, "{p}: {:?}", r.verdict.violations);
        let f = &r.failures[0];
        let id = f.restored_checkpoint.expect("a checkpoint was restored");
        let snap = out.snapshots.iter().find(|g| g.id == id).unwrap();
        let slowest = snap
            .tasks
            .iter()
            .map(|t| t.state_bytes + t.channel_state_bytes())
            .max()
            .unwrap();
        let restore = (slowest * 1_000_000_000).div_ceil(1_000_000);
        assert!(restore > 0, "{p}");
        assert_eq!(
            (f.detection_ns, f.restart_ns, f.restore_ns),
            (3_000_000, 20_000_000, restore),
            "{p}"
        );
        // The measured replay of the restored channel state joins the downtime.
        let replay = f.replay_ns.expect("always measured");
        assert_eq!(
            f.downtime_ns,
            3_000_000 + 20_000_000 + restore + replay,
            "{p}"
        );
    }
    // Without a restore bandwidth or detection time, downtime is the restart delay alone.
    let (r, _) = run(
        &load("failures"),
        protocol("aligned"),
        None,
        TraceMode::HashOnly,
    );
    assert!(r
        .failures
        .iter()
        .all(|f| f.restore_ns == 0 && f.detection_ns == 0));
    assert_eq!(r.failures[0].downtime_ns, 20_000_000);
}
