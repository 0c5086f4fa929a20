//! State backends: the sizes incremental checkpoints upload, the changelog, restores from the
//! files, the per-checkpoint figures, the mutant that forgets a changed key, and validation.

use std::process::Command;

use serde_json::{json, Value};
use snapsim::scenario::Scenario;
use snapsim::trace::TraceMode;
use snapsim::workload::Behaviour;

use crate::support::{load, protocol, run};

/// One uniform source into one keyed count into a sink; `backend` is the state backend.
fn job(keys: u64, backend: Value) -> Value {
    json!({
        "name": "backend",
        "seed": 3,
        "duration": "1s",
        "network": { "latency": { "uniform": { "min": "100us", "max": "200us" } } },
        "dataflow": {
            "operators": [
                { "name": "src", "kind": { "source": { "rate": "20000/s", "keys": keys, "record_size": "50B" } } },
                { "name": "count", "kind": { "keyed_count": { "state_per_key": "100B" } }, "cost": "2us" },
                { "name": "sink", "kind": { "sink": {} } }
            ],
            "edges": [
                { "from": "src", "to": "count", "partition": "hash" },
                { "from": "count", "to": "sink", "partition": "forward" }
            ]
        },
        "checkpointing": {
            "protocol": "aligned",
            "interval": "50ms",
            "storage_bandwidth": "100MB/s",
            "state_backend": backend
        }
    })
}

fn scenario(v: &Value) -> Scenario {
    Scenario::from_json(v.to_string().as_bytes(), "inline").unwrap_or_else(|e| panic!("{e}"))
}

/// Records the keyed count had counted in each completed snapshot, by id.
fn counted(out: &snapsim::sim::RunOutput) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = out
        .snapshots
        .iter()
        .map(|s| {
            let n = s
                .tasks
                .iter()
                .map(|t| match &t.state {
                    Behaviour::Keyed { state, .. } => {
                        state.entries.values().map(|e| e.count).sum::<u64>()
                    }
                    _ => 0,
                })
                .sum();
            (s.id, n)
        })
        .collect();
    v.sort_unstable();
    v
}

/// Uniform keys, no compaction: the delta a checkpoint uploads averages the coupon
/// collector's K·(1 − (1 − 1/K)^n)·s, n the updates since the previous checkpoint.
#[test]
fn incremental_deltas_follow_the_coupon_collector() {
    let k = 2000u64;
    let s = 100.0;
    let backend = json!({ "kind": "rocksdb", "incremental": true, "compaction_trigger": 0 });
    let mut got = 0.0;
    let mut want = 0.0;
    let mut samples = 0;
    for seed in 0..4 {
        let sc = scenario(&job(k, backend.clone()));
        let (r, out) = run(&sc, protocol("aligned"), Some(seed), TraceMode::HashOnly);
        assert!(r.verdict.ok, "{:?}", r.verdict.violations);
        let counts = counted(&out);
        for pair in counts.windows(2) {
            let ((_, before), (id, after)) = (pair[0], pair[1]);
            let rec = r.checkpoints.iter().find(|c| c.id == id).unwrap();
            if rec.at_end || pair[0].0 + 1 != id {
                continue;
            }
            let costs = rec.costs.expect("figures with a backend");
            // The source's and the sink's 8-byte states go whole, each time.
            let delta = costs.checkpointed_bytes - 16;
            let n = (after - before) as f64;
            got += delta as f64;
            want += k as f64 * (1.0 - (1.0 - 1.0 / k as f64).powf(n)) * s;
            samples += 1;
        }
    }
    assert!(samples >= 40, "{samples} checkpoints");
    let ratio = got / want;
    assert!(
        (0.98..=1.02).contains(&ratio),
        "mean delta {} against {} expected",
        got / samples as f64,
        want / samples as f64
    );
}

/// Without a backend nothing is added to the results; with one the figures are there, and
/// the full size is what the files hold, larger than the last delta once files accumulate.
#[test]
fn figures_appear_only_with_a_backend_and_full_size_exceeds_the_delta() {
    let mut plain = job(500, json!(null));
    plain["checkpointing"]
        .as_object_mut()
        .unwrap()
        .remove("state_backend");
    let (r, _) = run(
        &scenario(&plain),
        protocol("aligned"),
        None,
        TraceMode::HashOnly,
    );
    let text = r.to_json();
    for field in [
        "checkpointed_bytes",
        "full_bytes",
        "sync_ns_max",
        "unaligned_tasks",
    ] {
        assert!(!text.contains(field), "{field} without a backend");
    }
    let sc = scenario(&job(
        5000,
        json!({ "kind": "rocksdb", "incremental": true, "compaction_trigger": 4, "num_retained": 2 }),
    ));
    let (r, _) = run(&sc, protocol("aligned"), None, TraceMode::HashOnly);
    assert!(r.verdict.ok, "{:?}", r.verdict.violations);
    let text = r.to_json();
    assert!(text.contains("\"checkpointed_bytes\""));
    let done: Vec<_> = r
        .checkpoints
        .iter()
        .filter(|c| c.completed_while_running())
        .map(|c| c.costs.unwrap())
        .collect();
    assert!(done.iter().any(|c| c.full_bytes > c.checkpointed_bytes));
    // A compaction makes the next checkpoint upload the rewritten file: a spike up to the
    // whole state.
    let state = 5000 * 100;
    assert!(
        done.iter().any(|c| c.checkpointed_bytes >= state * 9 / 10),
        "{done:?}"
    );
    assert!(done.iter().all(|c| c.unaligned_tasks == 0), "aligned");
}

/// Heap: the sync phase grows with the entries; RocksDB: with the memtable flushed.
#[test]
fn the_sync_phase_grows_with_the_state() {
    let sync = |keys: u64, backend: Value| {
        let (r, _) = run(
            &scenario(&job(keys, backend)),
            protocol("aligned"),
            None,
            TraceMode::HashOnly,
        );
        let c = r.checkpoints.iter().find(|c| c.id == 10).unwrap();
        c.costs.unwrap().sync_ns_max
    };
    let heap = json!({ "kind": "heap", "sync_per_entry": "100ns" });
    assert_eq!(sync(100, heap.clone()), 100 * 100);
    assert_eq!(sync(500, heap), 500 * 100, "every key is there by then");
    // 50 ms at 20,000 records per second: about 1,000 updates of 100 B at 100 MB/s ≈ 1 ms.
    let rocks = sync(
        100,
        json!({ "kind": "rocksdb", "disk_bandwidth": "100MB/s" }),
    );
    assert!((900_000..=1_100_000).contains(&rocks), "{rocks}");
}

/// The changelog: checkpoints upload only the log's tail until the materialisation; a restore
/// replays the log since then, and every failure still ends with exactly-once counts.
#[test]
fn the_changelog_uploads_the_tail_and_a_restore_replays_it() {
    let mut v = job(
        200,
        json!({ "kind": "heap", "changelog": true, "materialization_interval": "300ms", "replay_bandwidth": "1MB/s" }),
    );
    v["failures"] = json!([{ "crash": { "at": "420ms", "every": "250ms" } }]);
    let sc = scenario(&v);
    let (r, out) = run(&sc, protocol("aligned"), None, TraceMode::HashOnly);
    assert!(r.verdict.ok, "{:?}", r.verdict.violations);
    assert!(!r.failures.is_empty());
    let mut replays = 0;
    for s in &out.snapshots {
        let t = &s.tasks[1];
        let files = t
            .backend
            .files
            .as_ref()
            .expect("the changelog references files");
        // 1 MB/s: a microsecond per byte.
        assert_eq!(t.restore_replay_ns(), t.backend.replay_bytes * 1000);
        if t.backend.replay_bytes > 0 {
            replays += 1;
            assert!(files.len() >= 2 || s.trigger_ns < 300_000_000);
        }
    }
    assert!(replays > 0);
    // Each restore's time is the slowest task's replay (no restore bandwidth: the download
    // itself takes no time).
    let mut replayed = 0;
    for f in &r.failures {
        let Some(id) = f.restored_checkpoint else {
            continue;
        };
        let snap = out.snapshots.iter().find(|s| s.id == id).unwrap();
        let slowest = snap
            .tasks
            .iter()
            .map(|t| t.restore_replay_ns())
            .max()
            .unwrap();
        assert_eq!(f.restore_ns, slowest, "{f:?}");
        replayed += u64::from(slowest > 0);
    }
    assert!(replayed > 0, "{:?}", r.failures);
    // A tail of about 1,000 changes of 100 B per checkpoint; a materialisation uploads the
    // 200 keys' 20 KB (and the source's and sink's 8 B each) instead.
    let sizes: Vec<u64> = r
        .checkpoints
        .iter()
        .filter(|c| c.completed_while_running())
        .map(|c| c.costs.unwrap().checkpointed_bytes)
        .collect();
    assert!(sizes.contains(&(200 * 100 + 16)), "{sizes:?}");
    assert!(
        sizes.iter().any(|b| (80_000..120_000).contains(b)),
        "{sizes:?}"
    );
}

/// Incremental checkpoints over failures: restores rebuild the state from the files, and the
/// counts end as without failures (the existing checkers), for each retention.
#[test]
fn restores_from_incremental_files_keep_exactly_once() {
    for retained in [1, 3] {
        let mut v = job(
            300,
            json!({ "kind": "rocksdb", "incremental": true, "compaction_trigger": 3, "num_retained": retained, "request_latency": "200us" }),
        );
        v["failures"] = json!([
            { "crash": { "at": "330ms", "every": "200ms" } },
            { "during_upload": { "checkpoint": 4 } }
        ]);
        let (r, _) = run(
            &scenario(&v),
            protocol("aligned"),
            None,
            TraceMode::HashOnly,
        );
        assert!(r.verdict.ok, "{:?}", r.verdict.violations);
        assert!(r.failures.len() >= 3);
    }
}

/// Unaligned checkpoints under back-pressure: tasks that went unaligned are counted, and the
/// in-flight data persisted is split into input and output.
#[test]
fn unaligned_tasks_and_persisted_in_flight_data_are_reported() {
    let mut s = load("backpressure");
    let mut v: Value = serde_json::to_value(&s).unwrap();
    v["checkpointing"]["state_backend"] = json!({ "kind": "heap" });
    s = serde_json::from_value(v).unwrap();
    let (r, _) = run(&s, protocol("unaligned"), None, TraceMode::HashOnly);
    assert!(r.verdict.ok);
    let c: Vec<_> = r
        .checkpoints
        .iter()
        .filter(|c| c.completed_while_running())
        .collect();
    assert!(c.iter().any(|c| c.costs.unwrap().unaligned_tasks > 0));
    for c in c {
        let k = c.costs.unwrap();
        assert_eq!(
            k.persisted_in_bytes + k.persisted_out_bytes,
            c.channel_state_bytes
        );
        assert_eq!(k.persisted_out_bytes, c.overtaken_bytes);
        // Which tasks went unaligned: as many as counted, each once, each a task of the run.
        assert_eq!(c.unaligned_task_ids.len() as u64, k.unaligned_tasks);
        assert!(c.unaligned_task_ids.windows(2).all(|w| w[0] < w[1]));
        assert!(c
            .unaligned_task_ids
            .iter()
            .all(|&t| (t as usize) < r.metrics.tasks.len()));
    }
    // Aligned checkpoints of the same job: no task goes unaligned, and the file says nothing.
    let (aligned, _) = run(&s, protocol("aligned"), None, TraceMode::HashOnly);
    assert!(aligned
        .checkpoints
        .iter()
        .all(|c| c.unaligned_task_ids.is_empty()));
    assert!(!aligned.to_json().contains("unaligned_task_ids"));
    assert!(r.to_json().contains("unaligned_task_ids"));
}

/// `check --mutants` catches the incremental checkpoint that forgets a changed key on a
/// scenario with failures and incremental checkpoints on.
#[test]
fn check_mutants_catches_the_forgotten_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inc.json");
    let mut v = job(
        300,
        json!({ "kind": "rocksdb", "incremental": true, "num_retained": 2 }),
    );
    v["failures"] = json!([{ "crash": { "at": "330ms" } }]);
    std::fs::write(&path, v.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_snapsim"))
        .args(["check", "--mutants", "--seeds", "1"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("incremental-forgets-changed-key"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.starts_with("caught"), "{stdout}");
    assert!(line.contains("snapshot "), "{line}");
    // With the failure, the restored counts are wrong too: the restore used the files.
    let sc = scenario(&v);
    let opts = snapsim::RunOptions {
        protocol: protocol("aligned"),
        mutant: snapsim::mutant::Mutant::from_name("incremental-forgets-changed-key"),
        ..Default::default()
    };
    let r = snapsim::simulate(&sc, &opts, &mut |_, _| {}).unwrap();
    // The sink is not transactional: exactly-once findings are expected ones, but there.
    let kinds: Vec<String> = r
        .verdict
        .violations
        .iter()
        .chain(&r.verdict.expected)
        .map(|v| v.kind.to_string())
        .collect();
    assert!(
        kinds.contains(&"final-state-mismatch".to_string()),
        "{kinds:?}"
    );
}

/// Every bad value of the section is refused with its field path (exit 2 from the binary).
#[test]
fn bad_backend_values_are_refused_with_the_field() {
    let cases = [
        (
            json!({ "kind": "heap", "incremental": true }),
            "incremental",
            "rocksdb",
        ),
        (json!({ "kind": "lsm" }), "kind", "heap"),
        (
            json!({ "kind": "heap", "num_retained": 0 }),
            "num_retained",
            "at least 1",
        ),
        (
            json!({ "kind": "rocksdb", "compaction_trigger": 1 }),
            "compaction_trigger",
            "at least 2",
        ),
        (
            json!({ "kind": "heap", "compaction_trigger": 8 }),
            "compaction_trigger",
            "rocksdb",
        ),
        (
            json!({ "kind": "rocksdb", "disk_bandwidth": "0B/s" }),
            "disk_bandwidth",
            "zero",
        ),
        (
            json!({ "kind": "rocksdb", "write_buffer_size": "0B" }),
            "write_buffer_size",
            "zero",
        ),
        (
            json!({ "kind": "heap", "materialization_interval": "1s" }),
            "materialization_interval",
            "changelog",
        ),
        (
            json!({ "kind": "heap", "replay_bandwidth": "1MB/s" }),
            "replay_bandwidth",
            "changelog",
        ),
        (
            json!({ "kind": "heap", "changelog": true, "materialization_interval": "0s" }),
            "materialization_interval",
            "zero",
        ),
        (
            json!({ "kind": "heap", "changelog": true, "replay_bandwidth": "0B/s" }),
            "replay_bandwidth",
            "zero",
        ),
        (
            json!({ "kind": "heap", "request_latency": "fast" }),
            "request_latency",
            "duration",
        ),
        (
            json!({ "kind": "heap", "incremantal": true }),
            "incremantal",
            "unknown field",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (backend, field, why)) in cases.into_iter().enumerate() {
        let v = job(100, backend);
        let e = Scenario::from_json(v.to_string().as_bytes(), "inline")
            .expect_err(&format!("case {i} accepted"))
            .to_string();
        assert!(e.contains("checkpointing.state_backend"), "{e}");
        assert!(e.contains(field) && e.contains(why), "case {i}: {e}");
        let path = dir.path().join(format!("bad{i}.json"));
        std::fs::write(&path, v.to_string()).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_snapsim"))
            .arg("validate")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "case {i}");
    }
}
