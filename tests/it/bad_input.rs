//! Malformed input to the `snapsim` binary: every case must exit with code 2, print one error
//! line naming the file, the field and the problem, never panic, and write nothing.
//!
//! Each case is one call to a small checker such as [`rejects`], which writes the scenario to a
//! fresh temporary directory, runs `snapsim run <file> --out <dir>/out` there and checks all of
//! the above. Scenarios are made by editing a small valid base ([`job`], [`bank`], [`script`])
//! with [`with`] and [`without`]. The regression tests at the end pin bugs found this way.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

/// How long one invocation may take before it counts as hung and is killed.
const TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

/// What one invocation of the binary did.
struct Outcome {
    /// `None` when it was killed after [`TIMEOUT`].
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
    args: Vec<String>,
}

impl Outcome {
    fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Everything about the run, for assertion messages.
    fn describe(&self) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => format!("killed after {TIMEOUT:?} (hung)"),
        };
        format!(
            "snapsim {}\n  status: {status}\n  stdout:\n{}\n  stderr:\n{}",
            self.args.join(" "),
            self.stdout,
            self.stderr
        )
    }
}

/// A fresh temporary directory with `in/` (scenario files) and `out/` (the `--out` directory),
/// which is also the working directory of the binary, so that a stray default `results/`
/// directory would be noticed too.
struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        fs::create_dir(dir.path().join("in")).expect("create in/");
        fs::create_dir(dir.path().join("out")).expect("create out/");
        Sandbox { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn out(&self) -> PathBuf {
        self.root().join("out")
    }

    /// Writes a scenario file under `in/` and returns its path.
    fn input(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.root().join("in").join(name);
        fs::write(&path, bytes).expect("write the scenario file");
        path
    }

    /// Runs the binary with `args` in the sandbox, killing it if it hangs.
    fn snapsim<S: AsRef<OsStr>>(&self, args: &[S]) -> Outcome {
        let mut child = Command::new(env!("CARGO_BIN_EXE_snapsim"))
            .args(args)
            .current_dir(self.root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start snapsim");
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for snapsim") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(5));
        };
        Outcome {
            status,
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
            args: args
                .iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect(),
        }
    }

    /// `snapsim run <scenario> --out <sandbox>/out <extra...>`.
    fn run(&self, scenario: &Path, extra: &[&str]) -> Outcome {
        let mut args: Vec<&OsStr> =
            vec![OsStr::new("run"), scenario.as_os_str(), OsStr::new("--out")];
        let out = self.out();
        args.push(out.as_os_str());
        args.extend(extra.iter().map(OsStr::new));
        self.snapsim(&args)
    }

    /// Nothing was written: `out/` is empty (no results, no temporary files) and nothing
    /// appeared next to `in/` and `out/`.
    #[track_caller]
    fn assert_nothing_written(&self, outcome: &Outcome) {
        let mut top = list(self.root());
        top.sort();
        assert_eq!(
            top,
            ["in", "out"],
            "files appeared in the working directory\n{}",
            outcome.describe()
        );
        let out = list(&self.out());
        assert!(
            out.is_empty(),
            "the out directory is not empty: {out:?}\n{}",
            outcome.describe()
        );
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn list(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The checkers
// ---------------------------------------------------------------------------------------------

/// Exit code 2, no panic, nothing on stdout, exactly one `snapsim: error:` line on stderr that
/// contains every needle, and nothing written.
#[track_caller]
fn assert_bad_input(sandbox: &Sandbox, outcome: &Outcome, needles: &[&str]) {
    let ctx = outcome.describe();
    assert!(!outcome.stderr.contains("panicked"), "it panicked\n{ctx}");
    assert_eq!(outcome.code(), Some(2), "wrong exit code\n{ctx}");
    assert_eq!(outcome.stdout, "", "bad input printed to stdout\n{ctx}");
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr is not one line\n{ctx}");
    assert!(
        lines[0].starts_with("snapsim: error: "),
        "stderr is not an error line\n{ctx}"
    );
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "the error does not mention {needle:?}\n{ctx}"
        );
    }
    sandbox.assert_nothing_written(outcome);
}

/// `snapsim run` on a file with these bytes fails as bad input; the error names the file and
/// contains every needle (the field path and the problem).
#[track_caller]
fn rejects_bytes(bytes: &[u8], needles: &[&str]) {
    let sandbox = Sandbox::new();
    let path = sandbox.input("scenario.json", bytes);
    let outcome = sandbox.run(&path, &[]);
    let file = path.display().to_string();
    let mut all = vec![file.as_str()];
    all.extend_from_slice(needles);
    assert_bad_input(&sandbox, &outcome, &all);
}

/// [`rejects_bytes`] for JSON text.
#[track_caller]
fn rejects(json: &str, needles: &[&str]) {
    rejects_bytes(json.as_bytes(), needles);
}

/// [`rejects`] for a scenario built as a value.
#[track_caller]
fn rejects_value(scenario: &Value, needles: &[&str]) {
    rejects(&pretty(scenario), needles);
}

/// A command line that clap refuses: exit code 2, no panic, one `error:` line containing every
/// needle (clap adds a usage hint on the following lines), and nothing written.
#[track_caller]
fn rejects_args(extra: &[&str], needles: &[&str]) {
    let sandbox = Sandbox::new();
    let path = sandbox.input("good.json", pretty(&job()).as_bytes());
    let outcome = sandbox.run(&path, extra);
    let ctx = outcome.describe();
    assert!(!outcome.stderr.contains("panicked"), "it panicked\n{ctx}");
    assert_eq!(outcome.code(), Some(2), "wrong exit code\n{ctx}");
    let errors: Vec<&str> = outcome
        .stderr
        .lines()
        .filter(|l| l.starts_with("snapsim: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "expected one error line\n{ctx}");
    for needle in needles {
        assert!(
            errors[0].contains(needle),
            "the error does not mention {needle:?}\n{ctx}"
        );
    }
    sandbox.assert_nothing_written(&outcome);
}

// ---------------------------------------------------------------------------------------------
// Valid bases and edits
// ---------------------------------------------------------------------------------------------

/// A small valid dataflow job: `src` (1 task) -> `count` (2 tasks) -> `sink` (1 task).
fn job() -> Value {
    json!({
        "duration": "20ms",
        "network": { "latency": { "constant": "100us" } },
        "dataflow": {
            "operators": [
                { "name": "src", "kind": { "source": { "rate": "10000/s", "records": 50, "keys": 10 } } },
                { "name": "count", "kind": { "keyed_count": {} }, "parallelism": 2 },
                { "name": "sink", "kind": { "sink": {} } }
            ],
            "edges": [
                { "from": "src", "to": "count", "partition": "hash" },
                { "from": "count", "to": "sink", "partition": "rebalance" }
            ]
        }
    })
}

/// A small valid bank on a ring of three processes `p0`, `p1`, `p2`.
fn bank() -> Value {
    json!({
        "duration": "20ms",
        "processes": {
            "count": 3,
            "graph": { "ring": {} },
            "workload": { "bank": { "transfer_interval": "1ms" } }
        }
    })
}

/// A small valid script on explicit edges: `a` sends `M` to `b`, which then becomes `got`.
fn script() -> Value {
    json!({
        "duration": "20ms",
        "processes": {
            "names": ["a", "b"],
            "graph": { "edges": [["a", "b"], ["b", "a"]] },
            "workload": { "script": {
                "steps": [{ "at": "1ms", "process": "a", "send": { "to": "b", "message": "M" } }],
                "on_receive": [{ "process": "b", "message": "M", "becomes": "got" }]
            } }
        }
    })
}

/// `scenario` with the value at the JSON pointer `pointer` set to `value` (an object member is
/// added if missing; an array index `-` appends).
fn with(mut scenario: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    match scenario.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(key.to_string(), value);
        }
        Some(Value::Array(items)) if key == "-" => items.push(value),
        Some(Value::Array(items)) => {
            items[key.parse::<usize>().expect("an array index")] = value;
        }
        _ => panic!("{parent} is not an object or array in the base scenario"),
    }
    scenario
}

/// `scenario` without the object member at `pointer`.
fn without(mut scenario: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    let removed = scenario
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .and_then(|map| map.remove(key));
    assert!(removed.is_some(), "{pointer} is not in the base scenario");
    scenario
}

fn pretty(scenario: &Value) -> String {
    serde_json::to_string_pretty(scenario).expect("a value serialises")
}

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.json")
}

/// Deterministic pseudo-random bytes (xorshift), so that a failure reproduces.
fn garbage(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 56) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The bases are valid, so that every rejection below is caused by its edit
// ---------------------------------------------------------------------------------------------

#[test]
fn the_bases_run_and_write_one_results_file() {
    for (name, scenario) in [("job", job()), ("bank", bank()), ("script", script())] {
        let sandbox = Sandbox::new();
        let path = sandbox.input(&format!("{name}.json"), pretty(&scenario).as_bytes());
        let outcome = sandbox.run(&path, &["--quiet"]);
        assert_eq!(outcome.code(), Some(0), "{}", outcome.describe());
        assert_eq!(
            list(&sandbox.out()),
            [format!("{name}-none-seed0.json")],
            "{}",
            outcome.describe()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Not a scenario at all
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_file() {
    rejects("", &[": .: ", "the file is empty"]);
}

#[test]
fn whitespace_only_file() {
    rejects(" \n\t\r\n  \n", &[": .: ", "the file is empty"]);
}

#[test]
fn truncated_json() {
    let text = fs::read(quickstart()).expect("read quickstart.json");
    rejects_bytes(
        &text[..text.len() / 2],
        &["the file ends too early", "truncated"],
    );
}

#[test]
fn binary_garbage() {
    let mut bytes = vec![0u8, 0xff, 0xfe, 0xc3, 0x28];
    bytes.extend(garbage(4096));
    rejects_bytes(&bytes, &[": .: ", "not valid JSON"]);
}

#[test]
fn invalid_utf8_inside_a_string() {
    let mut bytes = br#"{"name": "bad"#.to_vec();
    bytes.extend([0xff, 0xfe, 0x00]);
    bytes.extend(br#"", "duration": "1s"}"#);
    rejects_bytes(&bytes, &["name", "not valid JSON"]);
}

#[test]
fn json_array_instead_of_object() {
    rejects("[]", &[": .: ", "a scenario is a JSON object"]);
}

#[test]
fn json_string_instead_of_object() {
    rejects(r#""quickstart""#, &[": .: ", "invalid type: string"]);
}

#[test]
fn duplicate_field() {
    rejects(
        r#"{"duration": "1s", "duration": "2s"}"#,
        &["duplicate field `duration`"],
    );
}

// ---------------------------------------------------------------------------------------------
// Types, names and units
// ---------------------------------------------------------------------------------------------

#[test]
fn wrong_type_parallelism_as_string() {
    rejects_value(
        &with(job(), "/dataflow/operators/2/parallelism", json!("2")),
        &[
            "dataflow.operators[2].parallelism",
            "invalid type: string \"2\", expected u32",
        ],
    );
}

#[test]
fn unknown_top_level_field() {
    rejects_value(
        &with(job(), "/seeds", json!([1, 2])),
        &["seeds: unknown field `seeds`"],
    );
}

#[test]
fn unknown_field_in_a_source_spec() {
    rejects_value(
        &with(
            job(),
            "/dataflow/operators/0/kind/source/rate_per_task",
            json!("1/s"),
        ),
        &[
            "dataflow.operators[0].kind.source.rate_per_task",
            "unknown field `rate_per_task`",
        ],
    );
}

#[test]
fn unknown_field_in_network() {
    rejects_value(
        &with(job(), "/network/jitter", json!("1ms")),
        &["network.jitter", "unknown field `jitter`"],
    );
}

#[test]
fn misspelled_operator_kind() {
    rejects_value(
        &with(
            job(),
            "/dataflow/operators/1/kind",
            json!({ "keyed_cuont": {} }),
        ),
        &[
            "dataflow.operators[1].kind",
            "unknown variant `keyed_cuont`",
            "keyed_count",
        ],
    );
}

#[test]
fn misspelled_partition() {
    rejects_value(
        &with(job(), "/dataflow/edges/1/partition", json!("shuffle")),
        &["dataflow.edges[1].partition", "unknown variant `shuffle`"],
    );
}

#[test]
fn negative_seed() {
    rejects_value(
        &with(job(), "/seed", json!(-1)),
        &["seed", "invalid value: integer `-1`, expected u64"],
    );
}

#[test]
fn negative_record_count() {
    rejects_value(
        &with(
            job(),
            "/dataflow/operators/0/kind/source/records",
            json!(-5),
        ),
        &[
            "dataflow.operators[0].kind.source.records",
            "integer `-5`, expected u64",
        ],
    );
}

#[test]
fn zero_duration() {
    rejects_value(
        &with(job(), "/duration", json!("0ms")),
        &["duration: must be longer than zero"],
    );
}

#[test]
fn duration_without_unit() {
    rejects_value(
        &with(job(), "/duration", json!("5")),
        &["duration", "`5` has no unit"],
    );
}

#[test]
fn duration_as_a_bare_number() {
    rejects_value(
        &with(job(), "/duration", json!(5)),
        &["duration", "invalid type: integer `5`", "with a unit"],
    );
}

#[test]
fn duration_with_unknown_unit() {
    rejects_value(
        &with(job(), "/duration", json!("5 parsecs")),
        &["duration", "unknown unit `parsecs`"],
    );
}

#[test]
fn negative_duration() {
    rejects_value(
        &with(job(), "/network/latency/constant", json!("-1ms")),
        &["network.latency.constant", "must start with a number"],
    );
}

#[test]
fn size_with_unknown_unit() {
    rejects_value(
        &with(job(), "/network/out_buffer", json!("32kb")),
        &["network.out_buffer", "unknown unit `kb`"],
    );
}

#[test]
fn rate_without_time_unit() {
    rejects_value(
        &with(
            job(),
            "/dataflow/operators/0/kind/source/rate",
            json!("10000"),
        ),
        &["dataflow.operators[0].kind.source.rate", "not a rate"],
    );
}

#[test]
fn zero_bandwidth() {
    rejects_value(
        &with(job(), "/network/bandwidth", json!("0Gbit/s")),
        &["network.bandwidth: must be larger than zero"],
    );
}

// ---------------------------------------------------------------------------------------------
// Dataflow rules
// ---------------------------------------------------------------------------------------------

#[test]
fn zero_parallelism() {
    rejects_value(
        &with(job(), "/dataflow/operators/1/parallelism", json!(0)),
        &["dataflow.operators[1].parallelism: must be at least 1"],
    );
}

#[test]
fn duplicate_operator_name() {
    rejects_value(
        &with(job(), "/dataflow/operators/2/name", json!("count")),
        &[
            "dataflow.operators[2].name",
            "`count` is used by two operators",
        ],
    );
}

#[test]
fn operator_name_with_brackets() {
    rejects_value(
        &with(job(), "/dataflow/operators/2/name", json!("sink[0]")),
        &["dataflow.operators[2].name", "may not contain"],
    );
}

#[test]
fn edge_to_a_missing_operator() {
    rejects_value(
        &with(job(), "/dataflow/edges/1/to", json!("nowhere")),
        &["dataflow.edges[1].to", "no operator is called `nowhere`"],
    );
}

#[test]
fn forward_edge_between_different_parallelisms() {
    rejects_value(
        &with(job(), "/dataflow/edges/0/partition", json!("forward")),
        &[
            "dataflow.edges[0].partition",
            "forward needs equal parallelism, but `src` has 1 and `count` has 2",
        ],
    );
}

#[test]
fn join_with_one_input() {
    rejects_value(
        &with(job(), "/dataflow/operators/1/kind", json!({ "join": {} })),
        &[
            "dataflow.operators[1]",
            "join `count` needs exactly two incoming edges, has 1",
        ],
    );
}

#[test]
fn edge_out_of_a_sink() {
    rejects_value(
        &with(
            job(),
            "/dataflow/edges/-",
            json!({ "from": "sink", "to": "count" }),
        ),
        &[
            "dataflow.edges[2].from",
            "`sink` is a sink and has no output",
        ],
    );
}

#[test]
fn cycle() {
    let scenario = with(
        job(),
        "/dataflow",
        json!({
            "operators": [
                { "name": "src", "kind": { "source": { "records": 10 } } },
                { "name": "a", "kind": { "map": {} } },
                { "name": "b", "kind": { "map": {} } },
                { "name": "sink", "kind": { "sink": {} } }
            ],
            "edges": [
                { "from": "src", "to": "a" },
                { "from": "a", "to": "b" },
                { "from": "b", "to": "a" },
                { "from": "b", "to": "sink" }
            ]
        }),
    );
    rejects_value(&scenario, &["dataflow.edges", "the edges form a cycle"]);
}

#[test]
fn no_source() {
    rejects_value(
        &with(job(), "/dataflow/operators/0/kind", json!({ "map": {} })),
        &["dataflow.operators", "at least one source"],
    );
}

#[test]
fn zipf_exponent_zero() {
    rejects_value(
        &with(
            job(),
            "/dataflow/operators/0/kind/source/key_distribution",
            json!({ "zipf": { "exponent": 0.0 } }),
        ),
        &[
            "dataflow.operators[0].kind.source.key_distribution.zipf.exponent",
            "must be a positive number",
        ],
    );
}

#[test]
fn uniform_latency_min_above_max() {
    rejects_value(
        &with(
            job(),
            "/network/latency",
            json!({ "uniform": { "min": "3ms", "max": "1ms" } }),
        ),
        &[
            "network.latency",
            "uniform latency has min 3ms above max 1ms",
        ],
    );
}

#[test]
fn link_to_an_unknown_task() {
    rejects_value(
        &with(
            job(),
            "/links",
            json!([{ "from": "count[2]", "latency": { "constant": "1ms" } }]),
        ),
        &["links[0].from", "no task or operator is called `count[2]`"],
    );
}

#[test]
fn task_override_of_an_unknown_task() {
    rejects_value(
        &with(
            job(),
            "/tasks",
            json!([{ "task": "counter", "cost": "1ms" }]),
        ),
        &["tasks[0].task", "no task or operator is called `counter`"],
    );
}

// ---------------------------------------------------------------------------------------------
// Topology choice and process graphs
// ---------------------------------------------------------------------------------------------

#[test]
fn both_dataflow_and_processes() {
    let scenario = with(job(), "/processes", bank()["processes"].clone());
    rejects_value(
        &scenario,
        &[": .: ", "give either `dataflow` or `processes`, not both"],
    );
}

#[test]
fn neither_dataflow_nor_processes() {
    rejects_value(
        &without(job(), "/dataflow"),
        &[": .: ", "missing the topology"],
    );
}

#[test]
fn process_count_and_names() {
    rejects_value(
        &with(bank(), "/processes/names", json!(["x", "y"])),
        &["processes: give `count` or `names`, not both"],
    );
}

#[test]
fn process_edge_to_a_missing_process() {
    rejects_value(
        &with(script(), "/processes/graph/edges/1", json!(["b", "zz"])),
        &["processes.graph.edges[1][1]", "no process is called `zz`"],
    );
}

#[test]
fn random_k_out_with_k_not_below_count() {
    rejects_value(
        &with(
            bank(),
            "/processes/graph",
            json!({ "random_k_out": { "k": 3 } }),
        ),
        &[
            "processes.graph.random_k_out.k",
            "must be below the number of processes (3)",
        ],
    );
}

#[test]
fn ring_of_one_process() {
    rejects_value(
        &with(bank(), "/processes/count", json!(1)),
        &["processes.graph", "needs at least two processes"],
    );
}

#[test]
fn bank_max_amount_zero() {
    rejects_value(
        &with(bank(), "/processes/workload/bank/max_amount", json!(0)),
        &["processes.workload.bank.max_amount: must be between 1 and"],
    );
}

#[test]
fn script_send_over_a_missing_channel() {
    rejects_value(
        &with(script(), "/processes/graph/edges", json!([["b", "a"]])),
        &[
            "processes.workload.script.steps[0].send.to",
            "there is no channel from `a` to `b`",
        ],
    );
}

/// The same on a generated ring, where the channel is only known once the topology is built.
#[test]
fn script_send_over_a_missing_channel_of_a_ring() {
    rejects_value(
        &ring_script_against_the_ring(),
        &[
            "processes.workload.script.steps[0].send.to",
            "there is no channel from `p1` to `p0`",
        ],
    );
}

/// A script on the one-way ring `p0 -> p1 -> p2 -> p0` in which `p1` sends to `p0`.
fn ring_script_against_the_ring() -> Value {
    json!({
        "duration": "20ms",
        "processes": {
            "count": 3,
            "graph": { "ring": {} },
            "workload": { "script": {
                "steps": [{ "at": "1ms", "process": "p1", "send": { "to": "p0", "message": "M" } }]
            } }
        }
    })
}

#[test]
fn script_step_that_does_nothing() {
    rejects_value(
        &with(
            script(),
            "/processes/workload/script/steps/0",
            json!({ "at": "1ms", "process": "a" }),
        ),
        &["processes.workload.script.steps[0]", "a step must"],
    );
}

#[test]
fn script_snapshot_id_zero() {
    rejects_value(
        &with(
            script(),
            "/processes/workload/script/steps/0/initiate_snapshot",
            json!(0),
        ),
        &[
            "processes.workload.script.steps[0].initiate_snapshot",
            "snapshot ids start at 1",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Paths and the command line
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_path() {
    let sandbox = Sandbox::new();
    let path = sandbox.root().join("in").join("no-such-scenario.json");
    let outcome = sandbox.run(&path, &[]);
    let file = path.display().to_string();
    assert_bad_input(&sandbox, &outcome, &[&file, "cannot read"]);
}

#[test]
fn directory_as_scenario_path() {
    let sandbox = Sandbox::new();
    let path = sandbox.root().join("in").join("scenarios.json");
    fs::create_dir(&path).expect("create a directory");
    let outcome = sandbox.run(&path, &[]);
    let file = path.display().to_string();
    assert_bad_input(&sandbox, &outcome, &[&file, "cannot read"]);
}

#[test]
fn unknown_protocol() {
    rejects_args(
        &["--protocol", "paxos"],
        &["--protocol", "unknown protocol `paxos`", "none"],
    );
}

#[test]
fn non_numeric_seed() {
    rejects_args(&["--seed", "seven"], &["--seed", "'seven'"]);
}

#[test]
fn negative_seed_flag() {
    rejects_args(&["--seed=-1"], &["--seed", "'-1'"]);
}

#[test]
fn unknown_flag() {
    rejects_args(&["--bogus"], &["unexpected argument '--bogus'"]);
}

// ---------------------------------------------------------------------------------------------
// snapsim validate
// ---------------------------------------------------------------------------------------------

#[test]
fn validate_accepts_quickstart() {
    let sandbox = Sandbox::new();
    let outcome = sandbox.snapsim(&[OsStr::new("validate"), quickstart().as_os_str()]);
    let ctx = outcome.describe();
    assert_eq!(outcome.code(), Some(0), "{ctx}");
    assert_eq!(outcome.stderr, "", "{ctx}");
    assert!(outcome.stdout.contains("ok (quickstart)"), "{ctx}");
    sandbox.assert_nothing_written(&outcome);
}

#[test]
fn validate_reports_the_bad_file_among_good_ones() {
    let sandbox = Sandbox::new();
    let good = sandbox.input("good.json", pretty(&job()).as_bytes());
    let bad = sandbox.input(
        "bad.json",
        pretty(&with(job(), "/dataflow/operators/1/parallelism", json!(0))).as_bytes(),
    );
    let outcome = sandbox.snapsim(&[OsStr::new("validate"), good.as_os_str(), bad.as_os_str()]);
    let ctx = outcome.describe();
    assert!(!outcome.stderr.contains("panicked"), "{ctx}");
    assert_eq!(outcome.code(), Some(2), "{ctx}");
    assert!(
        outcome.stdout.contains(&format!("{}: ok", good.display())),
        "{ctx}"
    );
    assert!(!outcome.stderr.contains("good.json"), "{ctx}");
    assert!(
        outcome.stderr.contains(&format!(
            "snapsim: error: {}: dataflow.operators[1].parallelism: must be at least 1",
            bad.display()
        )),
        "{ctx}"
    );
    assert!(
        outcome.stderr.contains("1 of 2 scenario files are invalid"),
        "{ctx}"
    );
    sandbox.assert_nothing_written(&outcome);
}

// ---------------------------------------------------------------------------------------------
// Known bugs: wanted behaviour that the binary does not have yet
// ---------------------------------------------------------------------------------------------

/// Regression: serde accepts a struct written as a JSON array of its fields in declaration
/// order; the loader must insist on objects.
#[test]
fn positional_array_is_not_a_scenario() {
    rejects(
        r#"[null, null, 1, "10ms", {"latency": {"constant": "1ms"}, "out_buffer": "1KiB",
            "in_buffer": "1KiB", "fifo": true}, [],
            {"operators": [{"name": "s", "kind": {"source": {"records": 5}}},
                           {"name": "k", "kind": {"sink": {}}}],
             "edges": [{"from": "s", "to": "k"}]}, null, []]"#,
        &[": .: "],
    );
}

/// Regression: content after the scenario object (even a second object) must be rejected.
#[test]
fn trailing_characters_are_rejected() {
    rejects(&format!("{} xx", pretty(&job())), &["trailing characters"]);
}

/// Regression: the scenario name is part of the results file name, so `"../escaped"` or
/// `"a/b"` must not be able to write outside `--out`.
#[test]
fn scenario_name_cannot_leave_the_out_directory() {
    rejects_value(&with(job(), "/name", json!("../escaped")), &[": name: "]);
}

/// Regression: `snapsim validate` must check scripted sends on generated graphs as `run` does.
#[test]
fn validate_checks_script_channels_of_generated_graphs() {
    let sandbox = Sandbox::new();
    let path = sandbox.input(
        "ring-script.json",
        pretty(&ring_script_against_the_ring()).as_bytes(),
    );
    let outcome = sandbox.snapsim(&[OsStr::new("validate"), path.as_os_str()]);
    let ctx = outcome.describe();
    assert_eq!(outcome.code(), Some(2), "{ctx}");
    assert!(
        outcome
            .stderr
            .contains("processes.workload.script.steps[0].send.to"),
        "{ctx}"
    );
}

/// Regression: a `max_amount` whose sums overflow `i64` must be rejected, not panic at run time.
#[test]
fn bank_max_amount_beyond_i64() {
    rejects_value(
        &with(
            bank(),
            "/processes/workload/bank/max_amount",
            json!(u64::MAX),
        ),
        &["processes.workload.bank.max_amount"],
    );
}

/// Regression: an event far beyond `duration` (a script step, a huge latency) must not make
/// the run loop spin through billions of empty progress slices.
#[test]
fn event_far_beyond_the_duration_does_not_hang() {
    let scenario = with(
        with(script(), "/duration", json!("1ms")),
        "/processes/workload/script/steps/0/at",
        json!("100000min"),
    );
    let sandbox = Sandbox::new();
    let path = sandbox.input("far.json", pretty(&scenario).as_bytes());
    let outcome = sandbox.run(&path, &["--quiet"]);
    let ctx = outcome.describe();
    assert!(outcome.status.is_some(), "{ctx}");
    assert!(!outcome.stderr.contains("panicked"), "{ctx}");
    assert!(matches!(outcome.code(), Some(0 | 2)), "{ctx}");
}

/// Regression: the error for a bad `output_size` must name the real field path, which
/// includes the operator kind.
#[test]
fn bad_output_size_names_its_field() {
    rejects_value(
        &with(
            job(),
            "/dataflow/operators/1/kind/keyed_count/output_size",
            json!("0B"),
        ),
        &["dataflow.operators[1].kind.keyed_count.output_size"],
    );
}

/// Regression: huge durations must neither overflow the simulated clock nor panic.
#[test]
fn huge_transfer_interval_does_not_panic() {
    let scenario = with(
        with(bank(), "/duration", json!("307445734min")),
        "/processes/workload/bank/transfer_interval",
        json!("307445734min"),
    );
    let sandbox = Sandbox::new();
    let path = sandbox.input("slow-bank.json", pretty(&scenario).as_bytes());
    let outcome = sandbox.run(&path, &["--quiet"]);
    let ctx = outcome.describe();
    assert!(!outcome.stderr.contains("panicked"), "{ctx}");
    assert!(matches!(outcome.code(), Some(0 | 2)), "{ctx}");
}
