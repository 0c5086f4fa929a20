//! `snapsim compare`: per-run results, summaries that agree with the table, and charts.

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
    for chart in ["duration", "size", "size-vs-duration"] {
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
        snapsim::protocols::ProtocolKind::Aligned,
        None,
        snapsim::engine::TraceMode::HashOnly,
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
