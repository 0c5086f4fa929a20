//! Every shipped scenario validates and runs, and the schema file is in step with the code.

use snapsim::scenario::Scenario;
use snapsim::trace::TraceMode;

use crate::support::{load, protocol, run, scenarios_dir, shipped};

#[test]
fn the_required_scenarios_are_shipped() {
    let names: Vec<String> = shipped()
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for required in ["quickstart", "backpressure", "bank", "cl-paper", "big"] {
        assert!(
            names.iter().any(|n| n == required),
            "missing scenarios/{required}.json"
        );
    }
}

#[test]
fn every_shipped_scenario_validates_and_round_trips() {
    for path in shipped() {
        let bytes = std::fs::read(&path).unwrap();
        let s =
            Scenario::from_json(&bytes, "x").unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Serialising and parsing again gives the same scenario: no field is lost.
        let again = serde_json::to_vec(&s).unwrap();
        assert_eq!(
            Scenario::from_json(&again, "x").unwrap(),
            s,
            "{}",
            path.display()
        );
    }
}

#[test]
fn every_small_shipped_scenario_runs_and_verifies() {
    for name in ["quickstart", "backpressure", "bank", "cl-paper"] {
        let s = load(name);
        let (result, _) = run(&s, protocol("none"), None, TraceMode::HashOnly);
        assert!(result.verdict.ok, "{name}: {:?}", result.verdict.violations);
        assert!(result.events > 0, "{name} ran no event");
    }
}

#[test]
fn big_has_a_thousand_processes_and_five_million_events() {
    let s = load("big");
    let (result, out) = run(&s, protocol("none"), None, TraceMode::HashOnly);
    assert!(out.tasks.len() >= 1000, "{} processes", out.tasks.len());
    assert!(result.events >= 5_000_000, "{} events", result.events);
    assert!(result.verdict.ok, "{:?}", result.verdict.violations);
}

#[test]
fn huge_has_ten_thousand_processes_and_a_million_transfers_and_builds() {
    let s = load("huge");
    let sim =
        snapsim::sim::Simulation::new(&s, protocol("chandy-lamport"), 1, TraceMode::HashOnly, None)
            .expect("builds");
    assert_eq!(sim.topology().tasks.len(), 10_000);
    let procs = s.processes.as_ref().expect("a process graph");
    let snapsim::scenario::ProcessWorkload::Bank(bank) = &procs.workload else {
        panic!("a bank");
    };
    assert_eq!(bank.initial_transfers * 10_000, 1_000_000);
}

#[test]
fn quickstart_moves_every_record_to_the_sink_once() {
    let (result, _) = run(
        &load("quickstart"),
        protocol("none"),
        None,
        TraceMode::HashOnly,
    );
    // Two sources at 50,000/s for 2 s.
    assert_eq!(result.metrics.records_in, 200_000);
    assert_eq!(result.metrics.records_out, 200_000);
    let eo = result
        .verdict
        .exactly_once
        .expect("a job with sources and sinks");
    assert_eq!((eo.lost, eo.duplicated, eo.out_of_order), (0, 0, 0));
}

#[test]
fn the_bank_conserves_money_and_moves_it() {
    let (result, out) = run(&load("bank"), protocol("none"), None, TraceMode::HashOnly);
    let (initial, end) = out.bank_totals.expect("a bank");
    assert_eq!(initial, 8 * 1000);
    assert_eq!(end, initial);
    assert!(result.metrics.data_messages > 1000, "transfers happened");
    assert!(
        result.verdict.exactly_once.is_none(),
        "no sources and sinks"
    );
}

#[test]
fn the_paper_script_ends_in_the_expected_states() {
    let (_, out) = run(&load("cl-paper"), protocol("none"), None, TraceMode::Full);
    // p: A -(send M)-> B -(receive M')-> A; q: C -(send M')-> D -(receive M)-> C.
    assert_eq!(out.script_states, vec![Some("A".into()), Some("C".into())]);
}

#[test]
fn the_schema_file_is_in_step_with_the_code() {
    let on_disk =
        std::fs::read_to_string(scenarios_dir().join("schema").join("scenario.schema.json"))
            .expect("scenarios/schema/scenario.schema.json");
    assert!(
        on_disk == Scenario::json_schema(),
        "scenarios/schema/scenario.schema.json is out of date; regenerate it with `cargo run -- schema > scenarios/schema/scenario.schema.json`"
    );
}

#[test]
fn the_readme_lists_every_field_of_the_schema() {
    let readme =
        std::fs::read_to_string(scenarios_dir().join("README.md")).expect("scenarios/README.md");
    let schema: serde_json::Value = serde_json::from_str(&Scenario::json_schema()).unwrap();
    let mut missing = Vec::new();
    let mut visit = |props: &serde_json::Map<String, serde_json::Value>| {
        for key in props.keys() {
            if !readme.contains(&format!("`{key}`")) {
                missing.push(key.clone());
            }
        }
    };
    if let Some(p) = schema["properties"].as_object() {
        visit(p);
    }
    for def in schema["$defs"]
        .as_object()
        .into_iter()
        .flat_map(|d| d.values())
    {
        if let Some(p) = def["properties"].as_object() {
            visit(p);
        }
        for variant in def["oneOf"].as_array().into_iter().flatten() {
            if let Some(p) = variant["properties"].as_object() {
                visit(p);
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "scenarios/README.md does not describe: {missing:?}"
    );
}
