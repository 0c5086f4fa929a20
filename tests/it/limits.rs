//! Sizes that validate must be runnable: every oversized or badly formed case is refused by
//! `snapsim validate` (and `run`) with exit 2 and the field in the message, within a time
//! limit and under a cap on the address space, so that nothing is built or allocated in
//! proportion to what the file asks for. `--limit` raises a limit deliberately.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Each refusal must come this fast.
const TIME_LIMIT: Duration = Duration::from_secs(10);
/// Address space for the binary, in KiB (`ulimit -v`): far below what the refused
/// scenarios would need, and what the allocations of the old defects asked for.
const MEMORY_CAP_KIB: u64 = 1 << 20;

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `snapsim ARGS` in `dir` under [`MEMORY_CAP_KIB`] of address space.
fn snapsim(dir: &Path, args: &[&str]) -> Outcome {
    snapsim_capped(dir, args, MEMORY_CAP_KIB)
}

/// Runs `snapsim ARGS` in `dir` under `cap_kib` KiB of address space.
fn snapsim_capped(dir: &Path, args: &[&str], cap_kib: u64) -> Outcome {
    let started = Instant::now();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {cap_kib} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_snapsim"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null());
    let out = cmd.output().expect("start snapsim");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).expect("write scenario");
    p
}

/// `validate` and `run` both refuse `scenario` with exit 2, quickly, within the memory cap,
/// naming `field` and every needle, and `run` writes nothing.
#[track_caller]
fn refused(scenario: &[u8], field: &str, needles: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = write(dir.path(), "case.json", scenario);
    let file = file.to_str().expect("utf-8 path");
    let mut first = String::new();
    for args in [
        vec!["validate", file],
        vec!["run", file, "--out", "out", "--quiet"],
    ] {
        let o = snapsim(dir.path(), &args);
        let what = format!(
            "snapsim {}: exit {:?} after {:?}\nstderr: {}",
            args.join(" "),
            o.code,
            o.took,
            o.stderr
        );
        assert_eq!(o.code, Some(2), "{what}");
        assert!(o.took < TIME_LIMIT, "{what}");
        let line = o.stderr.lines().next().unwrap_or_default().to_string();
        assert!(
            line.contains(&format!("case.json: {field}: ")),
            "no field `{field}`: {what}"
        );
        for n in needles {
            assert!(line.contains(n), "no `{n}`: {what}");
        }
        assert!(
            !o.stderr.chars().any(|c| c.is_control() && c != '\n'),
            "raw control characters: {what}"
        );
        first = line;
    }
    assert!(!dir.path().join("out").exists(), "run wrote output");
    first
}

fn refused_value(v: &Value, field: &str, needles: &[&str]) -> String {
    refused(v.to_string().as_bytes(), field, needles)
}

fn job() -> Value {
    json!({
        "duration": "10ms",
        "dataflow": {
            "operators": [
                {"name": "src", "kind": {"source": {"rate": "1000/s"}}},
                {"name": "sink", "kind": {"sink": {}}}
            ],
            "edges": [{"from": "src", "to": "sink"}]
        }
    })
}

fn procs(count: u64, graph: Value) -> Value {
    json!({
        "duration": "1ms",
        "processes": {"count": count, "graph": graph, "workload": {"bank": {}}}
    })
}

#[test]
fn topologies_too_large_to_build_are_refused_without_building_them() {
    refused_value(
        &procs(20_000, json!({"full_mesh": {}})),
        "processes.graph.full_mesh",
        &["399980000 channels", "--limit channels="],
    );
    refused_value(
        &procs(1_000_000, json!({"ring": {}})),
        "processes.count",
        &["GB of memory", "--limit memory=4GiB"],
    );
    refused_value(
        &procs(3_000_000, json!({"ring": {}})),
        "processes.count",
        &["3000000 tasks", "--limit tasks="],
    );
    let mut wide = job();
    wide["dataflow"]["operators"][1]["parallelism"] = json!(4_294_967_295u64);
    refused_value(
        &wide,
        "dataflow.operators[1].parallelism",
        &["more than snapsim can number"],
    );
    let mut bank = procs(1000, json!({"ring": {}}));
    bank["processes"]["workload"]["bank"]["initial_transfers"] = json!(1_000_000_000u64);
    refused_value(
        &bank,
        "processes.workload.bank.initial_transfers",
        &["messages in flight", "--limit in-flight="],
    );
}

/// Long simulated time costs nothing by itself: a run's timeline widens its buckets instead
/// of adding more, so these run at once and write small results files.
#[test]
fn long_simulated_time_alone_is_no_reason_to_refuse() {
    let mut latency = job();
    latency["duration"] = json!("1ms");
    latency["network"] = json!({"latency": {"constant": "100000s"}});
    let mut storage = job();
    storage["checkpointing"] =
        json!({"protocol": "aligned", "interval": "2ms", "storage_bandwidth": "1B/s"});
    let script = json!({
        "duration": "1ms",
        "processes": {
            "names": ["p", "q"],
            "graph": {"edges": [["p", "q"]]},
            "workload": {"script": {"steps": [{"at": "100000s", "process": "p", "becomes": "B"}]}}
        }
    });
    let mut slow = job();
    slow["dataflow"]["operators"][1]["cost"] = json!("1000s");
    for (i, s) in [latency, storage, script, slow].iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            &format!("long{i}.json"),
            s.to_string().as_bytes(),
        );
        let out = dir.path().join("out");
        let o = snapsim_capped(
            dir.path(),
            &["run", f.to_str().unwrap(), "--out", out.to_str().unwrap()],
            1 << 20,
        );
        assert!(matches!(o.code, Some(0 | 1)), "case {i}: {}", o.stderr);
        for entry in std::fs::read_dir(&out).unwrap() {
            let len = entry.unwrap().metadata().unwrap().len();
            assert!(len < 1 << 20, "case {i}: a results file of {len} bytes");
        }
    }
}

#[test]
fn counts_derived_from_durations_are_refused() {
    let mut s = job();
    s["duration"] = json!("1000s");
    s["checkpointing"] = json!({"protocol": "aligned", "interval": "1ns"});
    refused_value(&s, "checkpointing.interval", &["checkpoint triggers"]);

    let mut s = job();
    s["failures"] = json!([{"crash": {"at": "1ms", "every": "1ns"}}]);
    refused_value(&s, "failures[0].crash.every", &["failures"]);

    let mut fast = job();
    fast["duration"] = json!("100min");
    fast["dataflow"]["operators"][0]["parallelism"] = json!(1000);
    fast["dataflow"]["operators"][0]["kind"]["source"]["rate"] = json!("1000M/s");
    refused_value(
        &fast,
        "dataflow.operators[0].kind.source.rate",
        &["--limit records="],
    );
}

#[test]
fn limits_can_be_raised_and_every_command_documents_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let ring = write(
        dir.path(),
        "ring.json",
        procs(1_000_000, json!({"ring": {}})).to_string().as_bytes(),
    );
    let ring = ring.to_str().unwrap();
    let o = snapsim(dir.path(), &["validate", ring, "--limit", "memory=4GiB"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let small = write(
        dir.path(),
        "small.json",
        procs(1000, json!({"ring": {}})).to_string().as_bytes(),
    );
    let small = small.to_str().unwrap();
    let o = snapsim(dir.path(), &["--limit", "tasks=999", "validate", small]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.contains("processes.count: ") && o.stderr.contains("limit of 999"));
    for bad in ["memory", "colour=3", "tasks=many", "memory=8 parsecs"] {
        let o = snapsim(dir.path(), &["validate", small, "--limit", bad]);
        assert_eq!(o.code, Some(2), "--limit {bad}: {}", o.stderr);
        assert!(o.stderr.contains("--limit"), "--limit {bad}: {}", o.stderr);
    }
    for cmd in [
        "run", "validate", "compare", "sweep", "merge", "trace", "diagram", "check", "schema",
    ] {
        let o = snapsim(dir.path(), &[cmd, "--help"]);
        assert_eq!(o.code, Some(0), "{cmd} --help");
        assert!(
            o.stdout.contains("--limit <KEY=VALUE>"),
            "{cmd} --help: {}",
            o.stdout
        );
    }
}

#[test]
fn seeds_and_sweep_grids_are_bounded_before_anything_is_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let s = write(dir.path(), "job.json", job().to_string().as_bytes());
    let s = s.to_str().unwrap();
    let values: String = (0..1000).map(|i| format!("{i}us,")).collect();
    let grid: Vec<String> = (0..3)
        .map(|i| format!("dataflow.operators[{}].cost={values}", i % 2))
        .collect();
    let mut sweep = vec![
        "sweep",
        s,
        "--protocols",
        "none",
        "--seeds",
        "1",
        "--out",
        "o",
    ];
    for g in &grid {
        sweep.extend(["--vary", g.as_str()]);
    }
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["check", s, "--seeds", "0"],
            "--seeds: must be at least 1",
        ),
        (
            vec!["compare", s, "--seeds", "0", "--out", "o"],
            "--seeds: must be at least 1",
        ),
        (
            vec![
                "sweep", s, "--vary", "seed=1,2", "--seeds", "0", "--out", "o",
            ],
            "--seeds: must be at least 1",
        ),
        (vec!["check", s, "--seeds", "4294967295"], "--limit seeds="),
        (
            vec!["compare", s, "--seeds", "4294967295", "--out", "o"],
            "--limit seeds=",
        ),
        (sweep, "--limit runs="),
    ];
    for (args, needle) in cases {
        let o = snapsim(dir.path(), &args);
        let what = format!("{}: {:?} {:?}\n{}", args[0], o.code, o.took, o.stderr);
        assert_eq!(o.code, Some(2), "{what}");
        assert!(o.took < TIME_LIMIT, "{what}");
        assert!(o.stderr.contains(needle), "{what}");
        assert!(!o.stdout.contains("0 runs"), "{what}");
        assert!(!dir.path().join("o").exists(), "{what}");
    }
}

#[test]
fn files_too_large_are_refused_before_parsing_and_parsing_stays_small() {
    // 17 MiB of whitespace inside a valid scenario: above the 16 MiB default.
    let mut padded = job().to_string().into_bytes();
    padded.splice(1..1, std::iter::repeat_n(b' ', 17 << 20));
    refused(&padded, ".", &["--limit file="]);

    // 300,000 scripted steps (about 14 MiB) parse in 256 MiB of address space (at the
    // 1.7 KB per step parsing once took, they needed over 500 MB), then are refused by a
    // lowered limit on steps.
    let steps: Vec<Value> = (0..300_000)
        .map(|_| json!({"at": "1ms", "process": "p", "becomes": "B"}))
        .collect();
    let script = json!({
        "duration": "10ms",
        "processes": {
            "names": ["p", "q"],
            "graph": {"edges": [["p", "q"]]},
            "workload": {"script": {"steps": steps}}
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "steps.json", script.to_string().as_bytes());
    let f = f.to_str().unwrap();
    let o = snapsim_capped(dir.path(), &["validate", f], 256 << 10);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let o = snapsim(dir.path(), &["validate", f, "--limit", "steps=1000"]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(
        o.stderr.contains("processes.workload.script.steps: "),
        "{}",
        o.stderr
    );
    assert!(o.took < TIME_LIMIT);
}

#[test]
fn names_that_cannot_be_file_names_are_refused() {
    let mut s = job();
    s["name"] = json!("x".repeat(300));
    refused_value(&s, "name", &["300 characters", "at most 100"]);
    for bad in ["a/b", "..", "-x", "a b", "a:b", "a\u{1b}[2Jb", "tab\there"] {
        s["name"] = json!(bad);
        let why = if bad.starts_with(['.', '-']) {
            "may not start"
        } else {
            "ASCII letters"
        };
        refused_value(&s, "name", &[why]);
    }
}

#[test]
fn broken_json_names_the_field_and_what_was_expected() {
    let text = job().to_string();
    let cut = text.find("\"sink\"").unwrap();
    let line = refused(
        &text.as_bytes()[..cut],
        "dataflow.edges[0].to",
        &["line 1", "truncated"],
    );
    assert!(!line.contains(": ?"), "{line}");
    refused(
        br#"{"duration": "1ms", "network": {"latency": {"constant" "1ms"}}}"#,
        "network.latency",
        &["not valid JSON", "column"],
    );
    let mut s = job();
    s["network"] = json!([]);
    refused_value(&s, "network", &["expected a JSON object"]);
    s["network"] = json!(["100us"]);
    refused_value(&s, "network", &["expected a JSON object"]);
    s["network"] = json!({});
    s["duration"] = json!(["1s"]);
    refused_value(&s, "duration", &["expected a duration written as a string"]);
    let mut s = procs(2, json!({"edges": [[]]}));
    s["processes"]["count"] = Value::Null;
    s["processes"]["names"] = json!(["p", "q"]);
    let line = refused_value(
        &s,
        "processes.graph.edges[0]",
        &["found 0 elements; expected"],
    );
    assert!(!line.contains("invalid length"), "{line}");
    let mut s = job();
    s["bogus\u{7}\u{1b}[31m"] = json!(1);
    refused_value(
        &s,
        "bogus\\u{7}\\u{1b}[31m",
        &["unknown field `bogus\\u{7}"],
    );
    let mut s = job();
    s["dataflow"]["operators"][0]["kind"]["source"]["rate"] = json!("50x/s");
    refused_value(
        &s,
        "dataflow.operators[0].kind.source.rate",
        &["k (thousands)", "M (millions)"],
    );
}

#[test]
fn rates_with_suffixes_and_schema_fields_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = job();
    s["$schema"] = json!("schema/scenario.schema.json");
    s["dataflow"]["operators"][0]["kind"]["source"]["rate"] = json!("50k/s");
    let f = write(dir.path(), "ok.json", s.to_string().as_bytes());
    let o = snapsim(dir.path(), &["validate", f.to_str().unwrap()]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
}

#[test]
fn the_docs_glob_over_scenarios_validates_every_shipped_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    // What a shell makes of `scenarios/*.json`.
    let mut files: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 7, "{files:?}");
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let o = snapsim(&dir, &args);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(dir.join("schema").join("scenario.schema.json").is_file());
}

#[test]
fn validate_reports_each_bad_file_once_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.json", job().to_string().as_bytes());
    let bad = write(dir.path(), "bad.json", b"{\"duration\": \"0s\"}");
    let bad2 = write(dir.path(), "bad2.json", b"{");
    let paths: Vec<&str> = [&good, &bad, &bad2]
        .iter()
        .map(|p| p.to_str().unwrap())
        .collect();
    let mut args = vec!["validate"];
    args.extend(paths);
    let o = snapsim(dir.path(), &args);
    assert_eq!(o.code, Some(2));
    assert_eq!(o.stderr.matches("bad.json: ").count(), 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("2 of 3 scenario files are invalid"),
        "{}",
        o.stderr
    );
}

#[test]
fn mutant_results_files_have_safe_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = job();
    s["checkpointing"] = json!({"protocol": "aligned", "interval": "2ms"});
    let f = write(dir.path(), "m.json", s.to_string().as_bytes());
    let o = snapsim(
        dir.path(),
        &[
            "run",
            f.to_str().unwrap(),
            "--protocol",
            "mutant:aligned-no-block",
            "--out",
            "out",
            "--quiet",
        ],
    );
    assert!(matches!(o.code, Some(0 | 1)), "{}", o.stderr);
    let names: Vec<String> = fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["m-mutant_aligned-no-block-seed0.json".to_string()]
    );
}
