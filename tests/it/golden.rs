//! Pins a digest of every shipped scenario's results file under every protocol that applies to
//! it, run with the scenario's own seed: any change of results shows here, by name. Every one
//! of those runs must also verify (and record consistent cuts where its protocol promises
//! them); a pin that matches also shows the run is the same from build to build.
//!
//! When a change of results is intended, regenerate the pins and say why in the README's
//! changelog:
//!
//! ```text
//! SNAPSIM_BLESS=1 cargo test --release golden
//! ```
//!
//! `SNAPSIM_GOLDEN_DUMP=DIR` also writes every results file into `DIR`, so that two builds'
//! files can be compared with `diff -r`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use snapsim::campaign::applicable;
use snapsim::scenario::Scenario;
use snapsim::trace::TraceMode;
use snapsim::{simulate, RunOptions};

use crate::support::shipped;

fn pins_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/data/golden.txt")
}

/// `(scenario, protocol)` to the results file of that run.
fn results() -> BTreeMap<(String, String), String> {
    let mut jobs = Vec::new();
    for path in shipped() {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let scenario = Scenario::from_json(&bytes, &stem).unwrap();
        for protocol in applicable(&scenario) {
            jobs.push((stem.clone(), scenario.clone(), protocol));
        }
    }
    jobs.into_par_iter()
        .map(|(stem, scenario, protocol)| {
            let opts = RunOptions {
                protocol,
                trace: TraceMode::HashOnly,
                ..RunOptions::default()
            };
            let result = simulate(&scenario, &opts, &mut |_, _| {})
                .unwrap_or_else(|e| panic!("{stem} under {protocol}: {e}"));
            let verdict = &result.verdict;
            assert!(
                verdict.ok,
                "{stem} under {protocol}: {:?}",
                verdict.violations
            );
            if protocol.promises().consistent_cuts {
                assert!(verdict.consistent, "{stem} under {protocol}");
            }
            ((stem, protocol.to_string()), result.to_json())
        })
        .collect()
}

fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[test]
fn every_shipped_results_file_matches_its_pin() {
    let results = results();
    if let Some(dir) = std::env::var_os("SNAPSIM_GOLDEN_DUMP") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        for ((scenario, protocol), json) in &results {
            std::fs::write(dir.join(format!("{scenario}-{protocol}.json")), json).unwrap();
        }
    }
    let actual: String = results
        .iter()
        .map(|((scenario, protocol), json)| format!("{scenario} {protocol} {}\n", digest(json)))
        .collect();
    if std::env::var_os("SNAPSIM_BLESS").is_some() {
        std::fs::write(pins_path(), &actual).unwrap();
        return;
    }
    let pinned = std::fs::read_to_string(pins_path()).unwrap_or_default();
    let lines = |s: &str| -> BTreeMap<String, String> {
        s.lines()
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let (want, got) = (lines(&pinned), lines(&actual));
    let mut changed = Vec::new();
    for key in want.keys().chain(got.keys()) {
        if want.get(key) != got.get(key) && !changed.contains(key) {
            changed.push(key.clone());
        }
    }
    assert!(
        changed.is_empty(),
        "results changed for: {}.\nIf the change is intended, regenerate the pins with \
         `SNAPSIM_BLESS=1 cargo test --release golden` and say why in the README's changelog.",
        changed.join(", ")
    );
}
