//! `snapsim bench`: the machine-readable lines carry the contract's fields, and a bad flag
//! is bad input.

use std::process::Command;

fn snapsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_snapsim"))
}

#[test]
fn quick_json_lines_carry_the_contract_fields() {
    let out = snapsim()
        .args([
            "bench", "--quick", "--json", "--only", "bank-64", "--only", "sweep",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = lines
        .iter()
        .map(|l| l["workload"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bank-64", "sweep"]);
    for line in &lines {
        for key in [
            "events",
            "events_per_sec",
            "ns_per_event",
            "peak_rss_bytes",
            "bytes_per_inflight_msg",
        ] {
            assert!(line.get(key).is_some(), "{key} missing from {line}");
        }
        assert!(line["events"].as_u64().unwrap() > 100_000, "{line}");
        let eps = line["events_per_sec"].as_f64().unwrap();
        let ns = line["ns_per_event"].as_f64().unwrap();
        // The two rates describe the same wall time (ns/event is rounded to 0.1).
        assert!((eps * ns / 1e9 - 1.0).abs() < 0.01, "{line}");
    }
    let sweep = &lines[1];
    assert!(sweep["threads"].as_u64().unwrap() >= 1);
    assert!(sweep["speedup"].as_f64().unwrap() > 0.0);
}

#[test]
fn an_unknown_workload_is_bad_input() {
    let out = snapsim()
        .args(["bench", "--only", "bank-65"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--only") && err.contains("bank-65"), "{err}");
}
