//! The command line as a whole: every subcommand on broken inputs, closed pipes, signals,
//! special `--out` targets, sweeps that cannot be merged, and the usage messages.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn snapsim(dir: &Path, args: &[&str]) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_snapsim"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("start snapsim");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file and folder under `dir`, as paths relative to it, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, into: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            into.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() && !path.is_symlink() {
                walk(root, &path, into);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// Waits for a child spawned with a piped stderr; its exit status and what it wrote there.
fn finish(mut child: std::process::Child) -> (std::process::ExitStatus, String) {
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut stderr).unwrap();
    }
    (child.wait().unwrap(), stderr)
}

fn quickstart() -> PathBuf {
    crate::support::scenarios_dir().join("quickstart.json")
}

fn no_panic(o: &Outcome, what: &str) {
    assert!(
        matches!(o.code, Some(0..=2)),
        "{what}: exit {:?}\n{}",
        o.code,
        o.stderr
    );
    assert!(
        !o.stderr.contains("panicked") && !o.stderr.contains("RUST_BACKTRACE"),
        "{what}: {}",
        o.stderr
    );
}

#[test]
fn every_subcommand_refuses_broken_scenarios_with_exit_2_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("empty.json"), b"").unwrap();
    std::fs::write(
        root.join("truncated.json"),
        br#"{"name": "x", "duration": "1"#,
    )
    .unwrap();
    std::fs::write(root.join("garbage.json"), b"\x00\xff\x1b[31m").unwrap();
    std::fs::create_dir(root.join("folder.json")).unwrap();
    let before = tree(root);
    for input in [
        "missing.json",
        "empty.json",
        "truncated.json",
        "garbage.json",
        "folder.json",
    ] {
        let commands: Vec<Vec<&str>> = vec![
            vec!["run", input, "--out", "o"],
            vec!["validate", input],
            vec!["compare", input, "--out", "o"],
            vec!["sweep", input, "--vary", "seed=1,2", "--out", "o"],
            vec!["check", input, "--seeds", "1"],
            vec!["check", input, "--mutants", "--seeds", "1"],
            vec!["trace", input, "--format", "jsonl", "--out", "t.jsonl"],
            vec!["diagram", input, "--out", "d.svg"],
        ];
        for args in commands {
            let o = snapsim(root, &args);
            no_panic(&o, &format!("{args:?}"));
            assert_eq!(o.code, Some(2), "{args:?}: {}", o.stderr);
            assert!(
                o.stderr.contains(input),
                "{args:?} names the file: {}",
                o.stderr
            );
            assert!(
                !o.stderr.contains('\u{1b}'),
                "{args:?}: raw control characters: {}",
                o.stderr
            );
            assert_eq!(tree(root), before, "{args:?} left files behind");
        }
    }
}

#[test]
fn bad_flags_and_bad_out_targets_are_refused_before_any_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let q = quickstart();
    let q = q.to_str().unwrap();
    std::fs::write(root.join("plain"), b"mine").unwrap();
    std::os::unix::fs::symlink("/dev/null", root.join("null-link")).unwrap();
    assert!(Command::new("mkfifo")
        .arg(root.join("fifo"))
        .status()
        .unwrap()
        .success());
    let before = tree(root);
    let cases: Vec<Vec<&str>> = vec![
        vec!["run", q, "--out", "plain"],
        vec!["run", q, "--out", "fifo"],
        vec!["run", q, "--out", "null-link"],
        vec!["compare", q, "--out", "/dev/null"],
        vec!["compare", q, "--seeds", "0"],
        vec!["check", q, "--seeds", "0"],
        vec!["run", q, "--protocol", "no-such-protocol"],
        vec!["run", q, "--no-such-flag"],
        vec!["trace", q, "--format", "jsonl", "--out", "fifo"],
        vec!["trace", q, "--format", "jsonl", "--out", "null-link"],
        vec!["diagram", q, "--out", "."],
        vec!["diagram", q, "--out", "/dev/null"],
    ];
    for args in cases {
        let started = Instant::now();
        let o = snapsim(root, &args);
        no_panic(&o, &format!("{args:?}"));
        assert_eq!(o.code, Some(2), "{args:?}: {}", o.stderr);
        // Refused before simulating: quickstart takes far longer than this to run 3 seeds.
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?}");
        assert_eq!(tree(root), before, "{args:?} changed the folder");
    }
    assert_eq!(std::fs::read(root.join("plain")).unwrap(), b"mine");
    assert!(std::fs::symlink_metadata(root.join("null-link"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_closed_stdout_stops_the_printing_not_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_snapsim"))
        .args(["check", "--mutants", "--list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let (status, stderr) = finish(child);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A run whose reader goes away after a byte still writes its results file.
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_snapsim"))
        .args(["run", quickstart().to_str().unwrap(), "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut one = [0u8; 1];
    let mut stdout = child.stdout.take().unwrap();
    stdout.read_exact(&mut one).unwrap();
    drop(stdout);
    let (status, stderr) = finish(child);
    assert!(matches!(status.code(), Some(0 | 1)), "{status:?} {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(tree(&out).len(), 1, "{:?}", tree(&out));
}

#[test]
fn an_interrupted_compare_leaves_no_partial_or_stray_file() {
    let dir = tempfile::tempdir().unwrap();
    let bp = crate::support::scenarios_dir().join("backpressure.json");
    for (signal, delay_ms) in [(libc::SIGINT, 300), (libc::SIGTERM, 600)] {
        let out = dir.path().join(format!("out{signal}"));
        let child = Command::new(env!("CARGO_BIN_EXE_snapsim"))
            .args(["compare", bp.to_str().unwrap(), "--seeds", "20", "--out"])
            .arg(&out)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SAFETY: signals our own child, which is still running or a zombie we have not reaped.
        unsafe {
            libc::kill(child.id() as libc::pid_t, signal);
        }
        let (status, stderr) = finish(child);
        assert!(!stderr.contains("panicked"), "{stderr}");
        match status.code() {
            // Interrupted: nothing at all, not even the folder.
            Some(2) => assert!(!out.exists(), "{:?}", tree(&out)),
            // Finished before the signal: the whole set.
            Some(0) => assert!(out.join("summary.csv").exists()),
            other => panic!("exit {other:?}: {stderr}"),
        }
        let stray: Vec<String> = tree(dir.path())
            .into_iter()
            .filter(|p| p.contains("staging") || p.contains(".tmp"))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }
}

#[test]
fn merge_refuses_folders_that_are_not_shards_of_one_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let q = quickstart();
    let q = q.to_str().unwrap();
    for (i, vary) in ["seed=1,2", "seed=3,4"].iter().enumerate() {
        let o = snapsim(
            root,
            &[
                "sweep",
                q,
                "--vary",
                vary,
                "--protocols",
                "none",
                "--seeds",
                "1",
                "--shard",
                "0/2",
                "--out",
                &format!("part{i}"),
            ],
        );
        assert_eq!(o.code, Some(0), "{}", o.stderr);
    }
    std::fs::create_dir(root.join("novary")).unwrap();
    std::fs::write(
        root.join("novary/sweep.meta.json"),
        br#"{"scenario":"q","vary":[],"protocols":["none"],"seeds":1,"points":1}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("novary/sweep.jsonl"),
        std::fs::read(root.join("part0/sweep.jsonl")).unwrap(),
    )
    .unwrap();
    // Rows of another grid under this grid's description.
    std::fs::create_dir(root.join("mixed")).unwrap();
    std::fs::copy(
        root.join("part0/sweep.meta.json"),
        root.join("mixed/sweep.meta.json"),
    )
    .unwrap();
    std::fs::copy(
        root.join("part1/sweep.jsonl"),
        root.join("mixed/sweep.jsonl"),
    )
    .unwrap();
    let before = tree(root);
    for args in [
        vec!["merge", "part0", "part1", "--out", "merged"],
        vec!["merge", "novary", "--out", "merged"],
        vec!["merge", "mixed", "--out", "merged"],
        vec!["merge", "nowhere", "--out", "merged"],
    ] {
        let o = snapsim(root, &args);
        no_panic(&o, &format!("{args:?}"));
        assert_eq!(o.code, Some(2), "{args:?}: {}", o.stderr);
        assert_eq!(tree(root), before, "{args:?} left files behind");
    }
}

#[test]
fn usage_errors_show_what_is_missing_and_how_to_call() {
    let dir = tempfile::tempdir().unwrap();
    let o = snapsim(dir.path(), &[]);
    assert_eq!(o.code, Some(2));
    assert!(
        o.stderr.contains("Usage:") && o.stderr.contains("compare"),
        "{}",
        o.stderr
    );
    let o = snapsim(dir.path(), &["run"]);
    assert_eq!(o.code, Some(2));
    assert!(
        o.stderr.contains("<SCENARIO>") && o.stderr.contains("Usage:"),
        "{}",
        o.stderr
    );
    let o = snapsim(dir.path(), &["trace", "x.json"]);
    assert_eq!(o.code, Some(2));
    assert!(
        o.stderr.contains("--format") && o.stderr.contains("--out"),
        "{}",
        o.stderr
    );
    // One spelling of the protocol list everywhere, the other accepted too.
    for args in [
        vec!["check", "--protocols", "aligned", "--help"],
        vec!["check", "--protocol", "aligned", "--help"],
        vec!["compare", "--protocol", "aligned", "--help"],
        vec!["sweep", "--protocol", "aligned", "--help"],
    ] {
        let o = snapsim(dir.path(), &args);
        assert_eq!(o.code, Some(0), "{args:?}: {}", o.stderr);
    }
}

#[test]
fn check_writes_results_files_on_request_and_refuses_colliding_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::copy(quickstart(), root.join("a.json")).unwrap();
    std::fs::copy(quickstart(), root.join("b.json")).unwrap();
    let o = snapsim(
        root,
        &["check", "a.json", "b.json", "--seeds", "1", "--out", "o"],
    );
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(
        o.stderr.contains("a.json") && o.stderr.contains("b.json"),
        "{}",
        o.stderr
    );
    assert!(!root.join("o").exists());
    let o = snapsim(
        root,
        &[
            "check",
            "a.json",
            "--protocols",
            "aligned,none",
            "--seeds",
            "2",
            "--out",
            "o",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stdout.contains("lost") && o.stdout.contains("out of order"),
        "{}",
        o.stdout
    );
    assert_eq!(
        tree(&root.join("o")).len(),
        4,
        "{:?}",
        tree(&root.join("o"))
    );
}

#[test]
fn compare_names_its_seeds_and_what_failures_did() {
    let dir = tempfile::tempdir().unwrap();
    let failures = crate::support::scenarios_dir().join("failures.json");
    let o = snapsim(
        dir.path(),
        &[
            "compare",
            failures.to_str().unwrap(),
            "--protocols",
            "aligned",
            "--seeds",
            "2",
            "--out",
            "o",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let seeds = snapsim::campaign::seeds(crate::support::load("failures").seed, 2);
    for s in seeds {
        assert!(o.stdout.contains(&s.to_string()), "seed {s}: {}", o.stdout);
    }
    assert!(
        o.stdout.contains("failures:") && o.stdout.contains("replayed"),
        "{}",
        o.stdout
    );
}

/// Every command that takes a protocol refuses one that cannot run a process graph as bad
/// input, names the scenario and the flag, and writes nothing.
#[test]
fn every_command_refuses_a_barrier_protocol_on_a_process_graph() {
    let dir = tempfile::tempdir().unwrap();
    let bank = crate::support::scenarios_dir().join("bank.json");
    let bank = bank.to_str().unwrap();
    let cases: [&[&str]; 5] = [
        &["run", bank, "--protocol", "aligned", "--out", "o"],
        &["compare", bank, "--protocols", "aligned", "--out", "o"],
        &["check", bank, "--protocols", "unaligned", "--out", "o"],
        &[
            "trace",
            bank,
            "--protocol",
            "aligned",
            "--format",
            "jsonl",
            "--out",
            "o/t",
        ],
        &[
            "diagram",
            bank,
            "--protocol",
            "stop-the-world",
            "--out",
            "o/d.svg",
        ],
    ];
    for args in cases {
        let o = snapsim(dir.path(), args);
        no_panic(&o, args[0]);
        assert_eq!(o.code, Some(2), "{args:?}: {}", o.stderr);
        assert!(
            o.stderr.contains("bank.json: --protocol") && o.stderr.contains("needs a dataflow job"),
            "{args:?}: {}",
            o.stderr
        );
        assert_eq!(tree(dir.path()), Vec::<String>::new(), "{args:?}");
    }
}
