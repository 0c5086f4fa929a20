//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use snapsim::protocols::ProtocolKind;
use snapsim::report::RunResult;
use snapsim::scenario::Scenario;
use snapsim::sim::RunOutput;
use snapsim::trace::TraceMode;
use snapsim::{simulate_full, RunOptions};

/// The repository's `scenarios/` directory.
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Every shipped scenario file, sorted by name.
pub fn shipped() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(scenarios_dir())
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

/// Loads a shipped scenario by name (without `.json`).
pub fn load(name: &str) -> Scenario {
    let path = scenarios_dir().join(format!("{name}.json"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Scenario::from_json(&bytes, name).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses an inline scenario.
pub fn parse(json: &str) -> Scenario {
    Scenario::from_json(json.as_bytes(), "inline").unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a scenario and returns the result and the raw output.
pub fn run(
    s: &Scenario,
    protocol: ProtocolKind,
    seed: Option<u64>,
    trace: TraceMode,
) -> (RunResult, RunOutput) {
    let opts = RunOptions {
        protocol,
        seed,
        trace,
        mutant: None,
        max_events: snapsim::DEFAULT_MAX_EVENTS,
    };
    simulate_full(s, &opts, &mut |_, _| {}).expect("scenario runs")
}

/// The registered protocol called `name`.
pub fn protocol(name: &str) -> ProtocolKind {
    ProtocolKind::named(name).unwrap_or_else(|| panic!("no protocol called {name}"))
}
