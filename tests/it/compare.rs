//! `snapsim compare`: per-run results, summaries that agree with the table, and charts.

use crate::support::protocol;
use std::process::Command;

use snapsim::report::summary;

fn snapsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_snapsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("snapsim runs")
}

#[test]
fn compare_writes_results_summaries_and_charts_that_agree() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let o = snapsim(&[
        "compare",
        "scenarios/backpressure.json",
        "--protocols",
        "aligned,unaligned",
        "--seeds",
        "2",
        "--out",
        out,
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files
            .iter()
            .filter(|f| f.starts_with("backpressure-aligned-seed"))
            .count(),
        2
    );
    // Without failures there is no downtime to chart.
    assert!(!files.iter().any(|f| f.contains("downtime")), "{files:?}");
    for chart in ["duration", "size", "size-vs-duration", "latency"] {
        let svg =
            std::fs::read_to_string(dir.path().join(format!("backpressure-{chart}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("backpressure"),
            "{chart}.svg"
        );
        assert!(svg.contains("aligned") || chart == "size-vs-duration");
        let png = std::fs::read(dir.path().join(format!("backpressure-{chart}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{chart}.png is a PNG");
        assert!(
            png.len() > 10_000,
            "{chart}.png has content (text and marks), {} bytes",
            png.len()
        );
    }
    // summary.json, summary.csv and the table carry the same numbers.
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    let csv = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(csv.lines().count(), 3);
    for (row, line) in rows.iter().zip(csv.lines().skip(1)) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], row["protocol"].as_str().unwrap());
        assert_eq!(cells[4], row["duration_p50_ns"].to_string());
        assert_eq!(cells.len(), 20, "{line}");
        assert_eq!(cells[12], row["latency_p99_ns"].to_string());
        let lat = snapsim::report::fmt_ns(row["latency_p99_ns"].as_u64().unwrap());
        let table_line = stdout.lines().find(|l| l.starts_with(cells[0])).unwrap();
        assert!(table_line.contains(&lat), "{table_line} lacks {lat}");
        let p50 = snapsim::report::fmt_ns(row["duration_p50_ns"].as_u64().unwrap());
        let table_line = stdout.lines().find(|l| l.starts_with(cells[0])).unwrap();
        assert!(table_line.contains(&p50), "{table_line} lacks {p50}");
    }
    // The emergent comparison is visible in the summary.
    let p50 = |i: usize| rows[i]["duration_p50_ns"].as_u64().unwrap();
    assert!(
        p50(1) * 3 < p50(0),
        "unaligned faster than aligned under back-pressure"
    );
}

#[test]
fn summaries_leave_out_the_final_checkpoint() {
    let s = crate::support::load("quickstart");
    let (r, _) = crate::support::run(
        &s,
        protocol("aligned"),
        None,
        snapsim::trace::TraceMode::HashOnly,
    );
    let last = r.checkpoints.last().unwrap();
    assert!(
        last.at_end,
        "the job ends with a final checkpoint of finished tasks"
    );
    assert!(r.checkpoints.iter().filter(|c| c.at_end).count() == 1);
    let rows = summary::summarise(std::slice::from_ref(&r));
    assert_eq!(rows[0].completed as usize, r.checkpoints.len());
    assert!(
        rows[0].duration_p50_ns.unwrap() > last.duration_ns,
        "periodic checkpoints take longer than the final one"
    );
}

fn read_dir_sorted(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// A sweep's output does not depend on the thread count or on being run in shards.
#[test]
fn sweep_output_is_the_same_on_one_thread_two_threads_and_two_merged_shards() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let base = [
        "sweep",
        "scenarios/quickstart.json",
        "--vary",
        "checkpointing.interval=100ms,300ms",
        "--protocols",
        "aligned,unaligned",
        "--seeds",
        "2",
    ];
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        let o = snapsim(&args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let (j1, j2, s0, s1, merged) = (d("j1"), d("j2"), d("s0"), d("s1"), d("merged"));
    run(&["--jobs", "1", "--out", &j1]);
    run(&["--jobs", "2", "--out", &j2]);
    run(&["--shard", "0/2", "--out", &s0]);
    run(&["--shard", "1/2", "--out", &s1]);
    let o = snapsim(&["merge", &s0, &s1, "--out", &merged]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let reference = read_dir_sorted(dir.path().join("j1").as_path());
    assert_eq!(
        reference.len(),
        7,
        "meta, jsonl, csv and two charts in two formats"
    );
    assert_eq!(read_dir_sorted(dir.path().join("j2").as_path()), reference);
    assert_eq!(
        read_dir_sorted(dir.path().join("merged").as_path()),
        reference
    );
    let csv = std::fs::read_to_string(dir.path().join("j1/sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 2 * 2);
    // A missing shard is reported, not papered over.
    let o = snapsim(&["merge", &s0, "--out", &d("partial")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("one missing"));
}

/// Sweeps chart the costs their scenario has: downtime with failures, checkpointed bytes with a
/// state backend; the figures survive a sharded sweep's merge.
#[test]
fn sweeps_chart_downtime_and_checkpointed_size_when_the_scenario_has_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let ok = |args: &[&str]| {
        let o = snapsim(args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let column = |dir: &str, name: &str| -> Vec<(String, Option<u64>)> {
        let csv = std::fs::read_to_string(format!("{dir}/sweep.csv")).unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let at = header.iter().position(|h| *h == name).unwrap();
        lines
            .map(|l| {
                let cells: Vec<&str> = l.split(',').collect();
                (cells[1].to_string(), cells[at].parse().ok())
            })
            .collect()
    };
    let vary = "recovery.local_recovery=false,true";
    let common = [
        "scenarios/recovery-cost.json",
        "--vary",
        vary,
        "--protocols",
        "aligned",
        "--seeds",
        "1",
    ];
    let whole = d("whole");
    ok(&[&["sweep"][..], &common, &["--out", &whole]].concat());
    ok(&[
        &["sweep"][..],
        &common,
        &["--shard", "0/2", "--out", &d("s0")],
    ]
    .concat());
    ok(&[
        &["sweep"][..],
        &common,
        &["--shard", "1/2", "--out", &d("s1")],
    ]
    .concat());
    ok(&["merge", &d("s0"), &d("s1"), "--out", &d("merged")]);
    assert_eq!(
        read_dir_sorted(dir.path().join("merged").as_path()),
        read_dir_sorted(dir.path().join("whole").as_path())
    );
    assert!(dir.path().join("whole/sweep-downtime.png").exists());
    assert!(!dir.path().join("whole/sweep-checkpointed.png").exists());
    let downtime = column(&whole, "downtime_ns_mean");
    assert_eq!(downtime[0].0, "false");
    let (remote, local) = (downtime[0].1.unwrap(), downtime[1].1.unwrap());
    assert!(
        local < remote,
        "local recovery {local} against remote {remote}"
    );

    let inc = d("inc");
    ok(&[
        "sweep",
        "scenarios/incremental.json",
        "--vary",
        "checkpointing.state_backend.incremental=false,true",
        "--protocols",
        "aligned",
        "--seeds",
        "1",
        "--out",
        &inc,
    ]);
    assert!(dir.path().join("inc/sweep-checkpointed.svg").exists());
    let uploaded = column(&inc, "checkpointed_bytes_p50");
    let full = column(&inc, "full_bytes_p50");
    let (all, delta) = (uploaded[0].1.unwrap(), uploaded[1].1.unwrap());
    assert!(delta * 3 < all, "incremental uploads {delta} against {all}");
    // A full checkpoint uploads what it references.
    assert_eq!(full[0].1, Some(all));
}

#[test]
fn trace_exports_and_the_paper_diagram_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    for (format, file) in [
        ("jsonl", "t.jsonl"),
        ("perfetto", "t.json"),
        ("shiviz", "t.log"),
    ] {
        let o = snapsim(&[
            "trace",
            "scenarios/cl-paper.json",
            "--format",
            format,
            "--out",
            &p(file),
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let perfetto: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("t.json")).unwrap()).unwrap();
    assert!(perfetto["traceEvents"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    assert!(std::fs::read_to_string(p("t.log.regex"))
        .unwrap()
        .contains("(?<host>"));
    let o = snapsim(&["diagram", "scenarios/cl-paper.json", "--out", &p("d.svg")]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let svg = std::fs::read_to_string(p("d.svg")).unwrap();
    assert!(svg.contains("M&apos;") || svg.contains("M'"));
    let o = snapsim(&[
        "diagram",
        "scenarios/cl-paper.json",
        "--from",
        "5ms",
        "--until",
        "1ms",
        "--out",
        &p("x.svg"),
    ]);
    assert_eq!(o.status.code(), Some(2));
}
