//! Restart strategies, the job failing when one gives up, task-local recovery and the parts
//! of each failure's downtime (flink-costs.md d).
//!
//! Each known answer of the design page is reproduced by a run: exponential-delay's 1, 2, 4,
//! 8, 10, 10 s and its reset, failure-rate's fourth failure within 10 s, fixed-delay's
//! (N+1)-th failure, local recovery saving exactly the slowest task's remote keyed state, and
//! every downtime the exact sum of its parts.

use serde_json::{json, Value};
use snapsim::checker::ViolationKind;
use snapsim::mutant::Mutant;
use snapsim::report::RunResult;
use snapsim::scenario::Scenario;
use snapsim::sim::RunOutput;
use snapsim::trace::TraceMode;
use snapsim::{simulate_full, RunOptions};

use crate::support::{load, parse, protocol, run};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// A small job: a slow source hashing into a two-task count and a transactional sink,
/// checkpointed every `interval`, with the given failures and recovery settings.
fn job(duration: &str, rate: &str, interval: &str, failures: Value, recovery: Value) -> Scenario {
    parse(
        &json!({
            "name": "restarts",
            "duration": duration,
            "network": {"latency": {"constant": "100us"}, "bandwidth": "1GiB/s"},
            "dataflow": {
                "operators": [
                    {"name": "src", "kind": {"source": {"rate": rate, "keys": 50}}, "parallelism": 2, "cost": "1us"},
                    {"name": "count", "kind": {"keyed_count": {"state_per_key": "1KiB"}}, "parallelism": 2, "cost": "5us"},
                    {"name": "sink", "kind": {"sink": {"transactional": true}}, "cost": "2us"}
                ],
                "edges": [
                    {"from": "src", "to": "count", "partition": "hash"},
                    {"from": "count", "to": "sink", "partition": "hash"}
                ]
            },
            "checkpointing": {"protocol": "aligned", "interval": interval},
            "failures": failures,
            "recovery": recovery
        })
        .to_string(),
    )
}

fn go(s: &Scenario, p: &str) -> (RunResult, RunOutput) {
    run(s, protocol(p), None, TraceMode::HashOnly)
}

fn why(r: &RunResult) -> String {
    format!(
        "{} seed {}: failures {:?}\njob_failed {:?}\nverdict {:?}",
        r.protocol, r.seed, r.failures, r.job_failed, r.verdict
    )
}

/// Every failure the job restarted from: the downtime is exactly the sum of its parts.
#[track_caller]
fn assert_parts_sum(r: &RunResult) {
    for f in r.failures.iter().filter(|f| !f.failed_job) {
        assert_eq!(
            f.downtime_ns,
            f.detection_ns + f.restart_ns + f.restore_ns + f.replay_ns.unwrap_or(0),
            "{}",
            why(r)
        );
        if let (Some(remote), Some(local)) = (f.restore_remote_ns, f.restore_local_ns) {
            assert_eq!(f.restore_ns, remote + local, "{}", why(r));
        }
    }
}

fn waits(r: &RunResult) -> Vec<u64> {
    r.failures.iter().map(|f| f.restart_ns).collect()
}

// ---------------------------------------------------------------------------------------------
// Known answers of the strategies
// ---------------------------------------------------------------------------------------------

/// The page's exponential-delay: initial 1 s, multiplier 2, max 10 s, jitter 0; failures in
/// quick succession (each one 1 s after the job is back) wait 1, 2, 4, 8, 10, 10 s.
#[test]
fn exponential_delay_waits_one_two_four_eight_ten_ten_seconds() {
    // Crashes 1 s after each restart: at 1 s, then 1 s + 1 + 1, ...
    let mut at = S;
    let mut crashes = Vec::new();
    for wait in [1, 2, 4, 8, 10, 10] {
        crashes.push(json!({"crash": {"at": format!("{}ms", at / MS)}}));
        at += wait * S + S;
    }
    let s = job(
        "45s",
        "20/s",
        "500ms",
        Value::Array(crashes),
        json!({"restart_strategy": {"exponential_delay": {
            "initial_backoff": "1s", "max_backoff": "10s", "backoff_multiplier": 2.0,
            "jitter_factor": 0.0
        }}}),
    );
    let (r, _) = go(&s, "aligned");
    assert_eq!(
        waits(&r),
        [1, 2, 4, 8, 10, 10].map(|w| w * S).to_vec(),
        "{}",
        why(&r)
    );
    assert!(r.verdict.ok && r.job_failed.is_none(), "{}", why(&r));
    assert_parts_sum(&r);
}

/// After a quiet period of at least the threshold plus the current backoff the wait is back
/// to the initial backoff; just short of it, it keeps growing.
#[test]
fn exponential_delay_resets_after_a_quiet_period_of_threshold_plus_current() {
    let strategy = json!({"restart_strategy": {"exponential_delay": {
        "initial_backoff": "1ms", "max_backoff": "10ms", "backoff_multiplier": 2.0,
        "reset_backoff_threshold": "50ms", "jitter_factor": 0.0
    }}});
    // 1, 2, 4 ms; then 54 ms after the third failure (threshold 50 + current 4): 1 ms again.
    let crashes = |gap: u64| {
        json!([
            {"crash": {"at": "20ms"}},
            {"crash": {"at": "40ms"}},
            {"crash": {"at": "60ms"}},
            {"crash": {"at": format!("{}us", (60 * MS + gap) / 1000)}}
        ])
    };
    let (r, _) = go(
        &job(
            "300ms",
            "2000/s",
            "10ms",
            crashes(54 * MS),
            strategy.clone(),
        ),
        "aligned",
    );
    assert_eq!(waits(&r), [MS, 2 * MS, 4 * MS, MS], "{}", why(&r));
    let (r, _) = go(
        &job("300ms", "2000/s", "10ms", crashes(54 * MS - 1000), strategy),
        "aligned",
    );
    assert_eq!(waits(&r), [MS, 2 * MS, 4 * MS, 8 * MS], "{}", why(&r));
}

/// Jitter comes from the seed's own stream: the same seed waits the same, another seed
/// otherwise, always within the factor.
#[test]
fn exponential_delay_jitter_is_drawn_from_the_seed() {
    let s = job(
        "400ms",
        "2000/s",
        "10ms",
        json!([{"crash": {"at": "20ms", "every": "40ms"}}]),
        json!({"restart_strategy": {"exponential_delay": {
            "initial_backoff": "10ms", "max_backoff": "10ms", "jitter_factor": 0.5
        }}}),
    );
    let a = run(&s, protocol("aligned"), Some(1), TraceMode::HashOnly).0;
    let again = run(&s, protocol("aligned"), Some(1), TraceMode::HashOnly).0;
    let b = run(&s, protocol("aligned"), Some(2), TraceMode::HashOnly).0;
    assert_eq!(a.to_json(), again.to_json());
    assert_ne!(waits(&a), waits(&b));
    for w in waits(&a).into_iter().chain(waits(&b)) {
        assert!((5 * MS..=10 * MS).contains(&w), "{w}");
    }
    assert_parts_sum(&a);
}

/// `FailureRateRestartBackoffTimeStrategyTest.testFailuresExceedingRate`: 3 failures per
/// 10 s; three inside 10 s restart, the fourth fails the job and the run stops there.
#[test]
fn failure_rate_three_per_ten_seconds_fails_the_job_at_the_fourth() {
    let s = job(
        "20s",
        "20/s",
        "500ms",
        json!([{"crash": {"at": "1s", "every": "2s"}}]),
        json!({"restart_strategy": {"failure_rate": {
            "max_failures_per_interval": 3, "failure_rate_interval": "10s", "delay": "100ms"
        }}}),
    );
    let (r, _) = go(&s, "aligned");
    assert_eq!(r.failures.len(), 4, "{}", why(&r));
    assert_eq!(
        r.failures.iter().map(|f| f.failed_job).collect::<Vec<_>>(),
        [false, false, false, true]
    );
    let failed = r.job_failed.as_ref().expect("the job failed");
    assert_eq!(failed.at_ns, 7 * S, "{}", why(&r));
    assert_eq!(failed.cause, "crash");
    assert!(failed.reason.contains("failure-rate"), "{}", failed.reason);
    assert_eq!(r.sim_time_ns, 7 * S, "the run stops where the job failed");
    // What was planned later says why it never fired.
    assert!(r
        .unfired_failures
        .iter()
        .any(|u| u.reason.contains("the job failed at 7")));
    assert_parts_sum(&r);
    let json = r.to_json();
    assert!(json.contains("\"job_failed\"") && json.contains("\"failed_job\": true"));
    // Spread out so that no four fall within 10 s, it restarts every time.
    let s = job(
        "20s",
        "20/s",
        "500ms",
        json!([{"crash": {"at": "1s", "every": "4s"}}]),
        json!({"restart_strategy": {"failure_rate": {
            "max_failures_per_interval": 3, "failure_rate_interval": "10s", "delay": "100ms"
        }}}),
    );
    let (r, _) = go(&s, "aligned");
    assert!(
        r.job_failed.is_none() && r.failures.len() == 5,
        "{}",
        why(&r)
    );
    assert!(r.verdict.ok, "{}", why(&r));
}

/// Fixed-delay with N attempts: N restarts, and the (N+1)-th failure fails the job.
#[test]
fn fixed_delay_fails_the_job_at_the_failure_after_its_attempts() {
    for attempts in [0u64, 1, 3] {
        let s = job(
            "400ms",
            "2000/s",
            "10ms",
            json!([{"crash": {"at": "20ms", "every": "30ms"}}]),
            json!({"restart_strategy": {"fixed_delay": {"attempts": attempts, "delay": "5ms"}}}),
        );
        let (r, _) = go(&s, "aligned");
        assert_eq!(r.failures.len() as u64, attempts + 1, "{}", why(&r));
        assert!(r.failures.last().unwrap().failed_job, "{}", why(&r));
        let failed = r.job_failed.as_ref().expect("the job failed");
        assert_eq!(failed.at_ns, 20 * MS + attempts * 30 * MS);
        assert!(r.failures[..attempts as usize]
            .iter()
            .all(|f| f.restart_ns == 5 * MS && !f.failed_job));
    }
}

/// Without a strategy, today's behaviour: `restart_delay` before every restart, forever.
#[test]
fn without_a_strategy_every_crash_restarts_after_the_restart_delay() {
    let s = job(
        "400ms",
        "2000/s",
        "10ms",
        json!([{"crash": {"at": "20ms", "every": "30ms"}}]),
        json!({"restart_delay": "5ms"}),
    );
    let (r, _) = go(&s, "aligned");
    assert_eq!(r.failures.len(), 13, "{}", why(&r));
    assert!(r.job_failed.is_none() && r.failures.iter().all(|f| f.restart_ns == 5 * MS));
    assert!(!r.to_json().contains("job_failed"));
}

// ---------------------------------------------------------------------------------------------
// A failed job and the checker
// ---------------------------------------------------------------------------------------------

/// The job fails under every exactly-once protocol: what it read and did not commit is not a
/// broken promise (it is reported as expected, saying why), and the cuts of its completed
/// checkpoints are still checked.
#[test]
fn a_failed_job_is_not_blamed_for_what_it_never_delivered() {
    let s = job(
        "300ms",
        "5000/s",
        "10ms",
        json!([{"crash": {"at": "45ms"}}, {"crash": {"at": "95ms"}}]),
        json!({"restart_strategy": {"fixed_delay": {"attempts": 1, "delay": "5ms"}}}),
    );
    for p in ["aligned", "unaligned"] {
        let (r, _) = go(&s, p);
        assert!(r.job_failed.is_some(), "{}", why(&r));
        assert!(r.verdict.ok && r.verdict.consistent, "{}", why(&r));
        let eo = r.verdict.exactly_once.unwrap();
        assert!(
            eo.lost > 0,
            "the failed job delivered everything? {}",
            why(&r)
        );
        assert_eq!(eo.duplicated, 0, "{}", why(&r));
        assert!(
            r.verdict
                .expected
                .iter()
                .any(|v| v.kind == ViolationKind::LostRecord && v.message.contains("job failed")),
            "{}",
            why(&r)
        );
        assert!(r.checkpoints.iter().any(|c| c.completed()), "{}", why(&r));
    }
}

/// The checker still checks duplicates of a failed job: a recovery that rewinds its sources
/// too far is caught although the job then fails.
#[test]
fn a_failed_job_still_has_its_duplicates_caught() {
    let s = job(
        "300ms",
        "5000/s",
        "10ms",
        json!([{"crash": {"at": "45ms"}}, {"crash": {"at": "95ms"}}]),
        json!({"restart_strategy": {"fixed_delay": {"attempts": 1, "delay": "5ms"}}}),
    );
    let opts = RunOptions {
        mutant: Some(Mutant::SourceRewindTooFar),
        trace: TraceMode::HashOnly,
        ..RunOptions::default()
    };
    let (r, _) = simulate_full(&s, &opts, &mut |_, _| {}).unwrap();
    assert!(r.job_failed.is_some(), "{}", why(&r));
    assert!(!r.verdict.ok, "{}", why(&r));
    assert!(r
        .verdict
        .violations
        .iter()
        .any(|v| v.kind == ViolationKind::DuplicatedRecord));
}

/// A job failure from too many failed checkpoints goes through the strategy as well: with no
/// restart allowed, the first one fails the job.
#[test]
fn exceeding_tolerable_failures_goes_through_the_restart_strategy() {
    let s = job(
        "300ms",
        "5000/s",
        "10ms",
        json!([{"upload_failure": {"checkpoint": 3}}]),
        json!({"restart_strategy": {"fixed_delay": {"attempts": 0}}}),
    );
    let (r, _) = go(&s, "aligned");
    let failed = r.job_failed.as_ref().expect("the job failed");
    assert_eq!(failed.cause, "tolerable-failures exceeded", "{}", why(&r));
    assert!(r.verdict.ok, "{}", why(&r));
}

// ---------------------------------------------------------------------------------------------
// Local recovery and the parts of the downtime
// ---------------------------------------------------------------------------------------------

fn failures_with(recovery: Value) -> Scenario {
    let mut v: Value = serde_json::from_slice(
        &std::fs::read(crate::support::scenarios_dir().join("failures.json")).unwrap(),
    )
    .unwrap();
    v["failures"] = json!([{ "after_checkpoints": { "fraction": 0.25 } }]);
    v["recovery"] = recovery;
    parse(&v.to_string())
}

fn ceil_ns(bytes: u64, bw: u64) -> u64 {
    (bytes * S).div_ceil(bw)
}

/// flink-costs.md d: with local recovery on the same slot the downtime is lower by exactly
/// the slowest task's remote keyed-state bytes over the restore bandwidth (aligned: no
/// channel state, so the restore is free); tasks whose machine was lost read remotely.
#[test]
fn local_recovery_on_the_same_slot_saves_the_slowest_remote_keyed_state() {
    let base = json!({"restart_delay": "20ms", "detection": "3ms", "restore_bandwidth": "1MB/s"});
    let mut local = base.clone();
    local["local_recovery"] = json!(true);
    let (remote_run, out) = go(&failures_with(base), "aligned");
    let (local_run, _) = go(&failures_with(local.clone()), "aligned");
    let (f, g) = (&remote_run.failures[0], &local_run.failures[0]);
    assert_eq!(f.restored_checkpoint, g.restored_checkpoint);
    let snap = out
        .snapshots
        .iter()
        .find(|s| Some(s.id) == f.restored_checkpoint)
        .unwrap();
    let slowest = snap.tasks.iter().map(|t| t.state_bytes).max().unwrap();
    assert!(slowest > 0);
    assert_eq!(f.restore_ns, ceil_ns(slowest, 1_000_000));
    assert_eq!(g.restore_ns, 0);
    assert_eq!(f.downtime_ns - g.downtime_ns, ceil_ns(slowest, 1_000_000));
    assert_eq!(
        (g.restore_remote_ns, g.restore_local_ns),
        (Some(0), Some(0))
    );
    assert_eq!(f.restore_remote_ns, None, "only with local recovery");
    assert_parts_sum(&remote_run);
    assert_parts_sum(&local_run);
    assert!(remote_run.verdict.ok && local_run.verdict.ok);
    // Over a local bandwidth, the local read takes its time.
    let mut slow_local = local.clone();
    slow_local["local_bandwidth"] = json!("4MB/s");
    let (r, _) = go(&failures_with(slow_local), "aligned");
    let h = &r.failures[0];
    assert_eq!(h.restore_local_ns, Some(ceil_ns(slowest, 4_000_000)));
    assert_eq!(h.restore_ns, ceil_ns(slowest, 4_000_000));
    assert_parts_sum(&r);
}

/// A crash naming tasks loses their machines: they read remotely, the others locally.
#[test]
fn a_crash_naming_tasks_loses_their_slots_only() {
    let mut v: Value = serde_json::from_slice(
        &std::fs::read(crate::support::scenarios_dir().join("failures.json")).unwrap(),
    )
    .unwrap();
    v["failures"] = json!([{ "crash": { "at": "950ms", "tasks": ["count"] } }]);
    v["recovery"] =
        json!({"restart_delay": "20ms", "restore_bandwidth": "1MB/s", "local_recovery": true});
    let (r, out) = go(&parse(&v.to_string()), "aligned");
    let f = &r.failures[0];
    let snap = out
        .snapshots
        .iter()
        .find(|s| Some(s.id) == f.restored_checkpoint)
        .unwrap();
    let topo = snapsim::topology::Topology::build(&parse(&v.to_string()), 1).unwrap();
    let lost = (0..topo.tasks.len())
        .filter(|&t| topo.matches("count", t as u32))
        .map(|t| snap.tasks[t].state_bytes)
        .max()
        .unwrap();
    assert_eq!(f.restore_remote_ns, Some(ceil_ns(lost, 1_000_000)));
    assert_eq!(f.restore_ns, ceil_ns(lost, 1_000_000));
    assert!(r.verdict.ok, "{}", why(&r));
    // Without a task list the crash loses every machine: all reads are remote.
    v["failures"] = json!([{ "crash": { "at": "950ms" } }]);
    let (r, out) = go(&parse(&v.to_string()), "aligned");
    let f = &r.failures[0];
    let snap = out
        .snapshots
        .iter()
        .find(|s| Some(s.id) == f.restored_checkpoint)
        .unwrap();
    let all = snap.tasks.iter().map(|t| t.state_bytes).max().unwrap();
    assert_eq!(f.restore_ns, ceil_ns(all, 1_000_000));
}

/// The replay of the restored channel state is measured and joins the downtime; unaligned
/// checkpoints have some, and the downtime is the exact sum.
#[test]
fn the_channel_state_replay_is_part_of_the_downtime() {
    let s = failures_with(
        json!({"restart_delay": "20ms", "detection": "3ms", "restore_bandwidth": "1MB/s", "local_recovery": true}),
    );
    for p in ["aligned", "unaligned"] {
        let (r, out) = go(&s, p);
        assert!(r.verdict.ok, "{}", why(&r));
        let f = &r.failures[0];
        let replay = f.replay_ns.expect("always measured");
        let snap = out
            .snapshots
            .iter()
            .find(|g| Some(g.id) == f.restored_checkpoint)
            .unwrap();
        let channel = snap
            .tasks
            .iter()
            .map(|t| t.channel_state_bytes())
            .max()
            .unwrap();
        if channel == 0 {
            assert_eq!(replay, 0, "{p}");
        } else {
            assert!(replay > 0, "{p}");
            // Local recovery leaves the channel state remote.
            assert_eq!(f.restore_ns, ceil_ns(channel, 1_000_000), "{p}");
        }
        assert_parts_sum(&r);
    }
    // Without a restore bandwidth the download is free, but the replay still costs: the
    // unaligned job stays down longer than its restart delay, the aligned one does not.
    let shipped = load("failures");
    let (u, _) = go(&shipped, "unaligned");
    let (a, _) = go(&shipped, "aligned");
    assert!(u.failures.iter().all(|f| f.replay_ns.is_some()));
    assert!(u.failures.iter().any(|f| f.replay_ns > Some(0)));
    assert!(a.failures.iter().all(|f| f.replay_ns == Some(0)));
    assert_parts_sum(&u);
    assert_parts_sum(&a);
}

/// As in Flink, no checkpoint is triggered while a recovery's restored in-flight data is still
/// being taken: the triggers that fall in a replay fail and the next periodic one goes.
#[test]
fn no_checkpoint_is_triggered_during_a_replay() {
    let (r, _) = go(&load("failures"), "unaligned");
    assert!(r.verdict.ok, "{}", why(&r));
    let mut replays = 0;
    for f in r.failures.iter().filter(|f| !f.failed_job) {
        let replay = f.replay_ns.expect("always measured");
        let from = f.at_ns + f.downtime_ns - replay;
        let to = f.at_ns + f.downtime_ns;
        if replay > 0 {
            replays += 1;
        }
        for c in &r.checkpoints {
            assert!(
                !(from < c.trigger_ns && c.trigger_ns < to),
                "checkpoint {} triggered at {} during the replay {from}..{to}",
                c.id,
                c.trigger_ns
            );
        }
    }
    assert!(replays > 0, "the unaligned job replays channel state");
}

/// The stale-local-copy mutant: a task restored on its slot from the local copy of an older
/// checkpoint. The checker must catch it (its counts end lower than without failures).
#[test]
fn a_stale_local_copy_is_caught() {
    let opts = RunOptions {
        mutant: Some(Mutant::LocalRecoveryStaleCopy),
        trace: TraceMode::HashOnly,
        ..RunOptions::default()
    };
    let (r, _) = simulate_full(&load("failures"), &opts, &mut |_, _| {}).unwrap();
    assert!(!r.verdict.ok, "{}", why(&r));
    // Restored behind the checkpoint whose output was committed, it delivers records twice.
    assert!(r
        .verdict
        .violations
        .iter()
        .any(|v| v.kind == ViolationKind::DuplicatedRecord && v.message.contains(" offset ")));
    // The correct local recovery passes the same scenario.
    let mut s = load("failures");
    s.recovery.local_recovery = true;
    let (r, _) = go(&s, "aligned");
    assert!(r.verdict.ok, "{}", why(&r));
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn rejected(recovery: Value, path: &str, says: &str) {
    let s = json!({
        "duration": "10ms",
        "dataflow": {"operators": [
            {"name": "src", "kind": {"source": {}}}, {"name": "sink", "kind": {"sink": {}}}
        ], "edges": [{"from": "src", "to": "sink"}]},
        "recovery": recovery
    });
    let e = Scenario::from_json(s.to_string().as_bytes(), "t").unwrap_err();
    assert_eq!(e.path, path, "{e}");
    assert!(e.message.contains(says), "{e}");
}

#[test]
fn bad_recovery_settings_are_refused_with_their_field() {
    let strategy = |kind: &str, fields: Value| json!({"restart_strategy": {kind: fields}});
    let at = "recovery.restart_strategy";
    rejected(
        json!({"restart_delay": "1s", "restart_strategy": {"fixed_delay": {}}}),
        "recovery.restart_delay",
        "replaces it",
    );
    rejected(
        strategy("fixed_delay", json!({"delay": "0s"})),
        &format!("{at}.fixed_delay.delay"),
        "longer than zero",
    );
    rejected(
        strategy("failure_rate", json!({"max_failures_per_interval": 0})),
        &format!("{at}.failure_rate.max_failures_per_interval"),
        "at least 1",
    );
    rejected(
        strategy("failure_rate", json!({"failure_rate_interval": "0ms"})),
        &format!("{at}.failure_rate.failure_rate_interval"),
        "longer than zero",
    );
    rejected(
        strategy("failure_rate", json!({"delay": "0ms"})),
        &format!("{at}.failure_rate.delay"),
        "longer than zero",
    );
    let e = format!("{at}.exponential_delay");
    rejected(
        strategy("exponential_delay", json!({"initial_backoff": "0s"})),
        &format!("{e}.initial_backoff"),
        "longer than zero",
    );
    rejected(
        strategy(
            "exponential_delay",
            json!({"initial_backoff": "2s", "max_backoff": "1s"}),
        ),
        &format!("{e}.max_backoff"),
        "shorter than initial_backoff",
    );
    rejected(
        strategy("exponential_delay", json!({"backoff_multiplier": 0.5})),
        &format!("{e}.backoff_multiplier"),
        "at least 1",
    );
    rejected(
        strategy("exponential_delay", json!({"jitter_factor": 1.5})),
        &format!("{e}.jitter_factor"),
        "between 0 and 1",
    );
    rejected(
        strategy("exponential_delay", json!({"jitter_factor": -0.1})),
        &format!("{e}.jitter_factor"),
        "between 0 and 1",
    );
    rejected(
        strategy(
            "exponential_delay",
            json!({"attempts_before_reset_backoff": 0}),
        ),
        &format!("{e}.attempts_before_reset_backoff"),
        "at least 1",
    );
    rejected(
        json!({"local_bandwidth": "1MB/s"}),
        "recovery.local_bandwidth",
        "local_recovery",
    );
    rejected(
        json!({"local_recovery": true, "local_bandwidth": "0MB/s"}),
        "recovery.local_bandwidth",
        "larger than zero",
    );
}

/// The command line refuses a bad strategy with exit code 2, naming the field.
#[test]
fn the_command_line_refuses_a_bad_strategy_with_exit_code_two() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    let s = json!({
        "duration": "10ms",
        "dataflow": {"operators": [
            {"name": "src", "kind": {"source": {}}}, {"name": "sink", "kind": {"sink": {}}}
        ], "edges": [{"from": "src", "to": "sink"}]},
        "recovery": {"restart_strategy": {"exponential_delay": {"jitter_factor": 2}}}
    });
    std::fs::write(&path, s.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_snapsim"))
        .args(["validate", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("recovery.restart_strategy.exponential_delay.jitter_factor"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The new fields are in the schema.
#[test]
fn the_schema_has_the_recovery_fields() {
    let schema = serde_json::to_string(&schemars::schema_for!(Scenario)).unwrap();
    for field in [
        "restart_strategy",
        "fixed_delay",
        "failure_rate",
        "exponential_delay",
        "reset_backoff_threshold",
        "attempts_before_reset_backoff",
        "local_recovery",
        "local_bandwidth",
    ] {
        assert!(schema.contains(field), "{field}");
    }
}
