//! The reference performance workloads behind `snapsim bench`.
//!
//! Each workload is an ordinary scenario run through [`crate::simulate`], the same path as
//! `snapsim run`: engine, channels, protocol, trace hash and the online checker. An "event" is
//! one entry taken from the engine's queue (an arrival on a channel, the end of a piece of work,
//! a timer, a trigger). Wall-clock time is measured here; reading the process's memory from
//! the operating system is left to the command line, the only code that touches the system.

use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::protocols::ProtocolKind;
use crate::scenario::{Scenario, ScenarioError};
use crate::{simulate, RunOptions};

/// One reference workload: a scenario, a protocol and what it keeps in flight.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The name printed and written in `--json` lines (`bank-64`, `bank-1m`, `dataflow-bp`).
    pub name: &'static str,
    /// The protocol it runs under.
    pub protocol: ProtocolKind,
    /// The scenario.
    pub scenario: Scenario,
    /// Messages the workload keeps in flight (the bank's circulating transfers), if fixed.
    pub in_flight: Option<u64>,
}

/// What one measured run did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Events taken from the engine's queue.
    pub events: u64,
    /// Wall-clock time of the run, building the world included.
    pub wall: Duration,
}

/// A bank relay: `procs` processes on a random `k`-out mesh (ring edge included), each
/// starting `per_proc` transfers that are passed on forever, so `procs * per_proc` messages
/// stay in flight. Chandy-Lamport snapshots every `interval` when given.
/// The workloads name their protocols as a scenario file would.
fn protocol(name: &str) -> ProtocolKind {
    ProtocolKind::named(name).expect("a bench workload names a registered protocol")
}

fn bank(
    name: &str,
    procs: u64,
    k: u64,
    per_proc: u64,
    latency: &str,
    duration: &str,
    snapshot_interval: Option<&str>,
) -> Scenario {
    let checkpointing = match snapshot_interval {
        Some(i) => {
            format!(r#", "checkpointing": {{"protocol": "chandy-lamport", "interval": "{i}"}}"#)
        }
        None => String::new(),
    };
    let json = format!(
        r#"{{
  "name": "{name}",
  "seed": 1,
  "duration": "{duration}",
  "network": {{"latency": {{"exponential": {{"mean": "{latency}"}}}}}},
  "processes": {{
    "count": {procs},
    "graph": {{"random_k_out": {{"k": {k}, "ring": true}}}},
    "workload": {{"bank": {{"initial_balance": 1000000000, "max_amount": 10,
                           "initial_transfers": {per_proc}, "relay": true}}}},
    "cost": "1us"
  }}{checkpointing}
}}"#
    );
    Scenario::from_json(json.as_bytes(), name).expect("the bench's bank scenario is valid")
}

/// `bank-64`: 64 processes, 4 outgoing channels each, 10,048 transfers in flight, a
/// Chandy-Lamport snapshot every 100 ms of simulated time (markers are under 0.1% of events).
/// About 20 million events; `quick` runs a tenth of it.
pub fn bank_64(quick: bool) -> Workload {
    bank_64_named("bank-64", if quick { "600ms" } else { "6s" })
}

/// `bank-64` cut to about 5 million events, for the seed sweep.
pub fn bank_64_sweep(quick: bool) -> Workload {
    bank_64_named("sweep", if quick { "150ms" } else { "1500ms" })
}

fn bank_64_named(name: &'static str, duration: &str) -> Workload {
    Workload {
        name,
        protocol: protocol("chandy-lamport"),
        scenario: bank(name, 64, 4, 157, "1ms", duration, Some("100ms")),
        in_flight: Some(64 * 157),
    }
}

/// `bank-1m`: 1,024 processes, 8 outgoing channels each, 1,000,448 transfers in flight,
/// no snapshots (so that the memory measured is the engine's, not recorded channel state).
/// About 14 million events; `quick` runs a tenth of them with a tenth of the messages.
pub fn bank_1m(quick: bool) -> Workload {
    let (per_proc, duration) = if quick { (98, "200ms") } else { (977, "500ms") };
    Workload {
        name: "bank-1m",
        protocol: ProtocolKind::baseline(),
        scenario: bank("bank-1m", 1024, 8, per_proc, "10ms", duration, None),
        in_flight: Some(1024 * per_proc),
    }
}

/// The same workload with one transfer per process: the same topology with almost nothing in
/// flight, the memory baseline that a per-message figure is measured against.
pub fn baseline(w: &Workload) -> Workload {
    let mut b = w.clone();
    if let Some(p) = b.scenario.processes.as_mut() {
        if let crate::scenario::ProcessWorkload::Bank(spec) = &mut p.workload {
            spec.initial_transfers = 1;
            b.in_flight = Some(u64::from(p.count.unwrap_or(1)));
        }
    }
    b
}

/// `dataflow-bp`: the shipped back-pressure job (four sources into a sink that keeps up with
/// five eighths of their rate) for 4 s of simulated time, under `protocol`.
pub fn dataflow_bp(protocol: ProtocolKind, quick: bool) -> Workload {
    let mut scenario = Scenario::from_json(
        include_bytes!("../scenarios/backpressure.json"),
        "scenarios/backpressure.json",
    )
    .expect("the shipped back-pressure scenario is valid");
    let ms = if quick { 500 } else { 4000 };
    scenario.duration = crate::scenario::units::Duration(ms * crate::engine::MS);
    Workload {
        name: "dataflow-bp",
        protocol,
        scenario,
        in_flight: None,
    }
}

/// Bytes of a pooled message that are its payload rather than the engine's bookkeeping: the
/// key and the value (8 bytes each), the origin (a 4-byte source and an 8-byte offset) and
/// the creation time (8). The engine adds the sequence number, arrival time, size, kind, tag,
/// priority and the queue link.
pub const PAYLOAD_BYTES: f64 = 36.0;

/// Why a benchmark run gave no figure.
#[derive(Debug)]
pub enum BenchError {
    /// The workload could not be built or run.
    Scenario(ScenarioError),
    /// The run failed its own verification: its figures would mean nothing.
    Violation(String),
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchError::Scenario(e) => write!(f, "{e}"),
            BenchError::Violation(v) => write!(f, "the run failed its own verification: {v}"),
        }
    }
}

impl From<ScenarioError> for BenchError {
    fn from(e: ScenarioError) -> Self {
        BenchError::Scenario(e)
    }
}

/// Parses a 1,000-process scenario (a bank on a random 4-out mesh) from its JSON text and
/// builds its world, ready to run: the time a user waits before the first event.
pub fn build_1000() -> Result<(Duration, usize), ScenarioError> {
    let json = r#"{
  "name": "build-1000", "seed": 1, "duration": "1s",
  "processes": {
    "count": 1000,
    "graph": {"random_k_out": {"k": 4, "ring": true}},
    "workload": {"bank": {"initial_transfers": 10, "relay": true}}
  },
  "checkpointing": {"protocol": "chandy-lamport", "interval": "100ms"}
}"#;
    let start = Instant::now();
    let scenario = Scenario::from_json(json.as_bytes(), "build-1000")?;
    let sim = crate::sim::Simulation::new(
        &scenario,
        protocol("chandy-lamport"),
        scenario.seed,
        crate::trace::TraceMode::HashOnly,
        None,
    )?;
    let elapsed = start.elapsed();
    Ok((elapsed, sim.topology().channels.len()))
}

/// Runs `workload` once with `seed` and checks the run: a benchmark of wrong runs means
/// nothing, so a violation is an error.
pub fn measure(workload: &Workload, seed: u64) -> Result<Measurement, BenchError> {
    let opts = RunOptions {
        protocol: workload.protocol,
        seed: Some(seed),
        ..RunOptions::default()
    };
    let start = Instant::now();
    let result = simulate(&workload.scenario, &opts, &mut |_, _| {})?;
    let wall = start.elapsed();
    if !result.verdict.ok {
        return Err(BenchError::Violation(format!(
            "{} seed {seed}: {:?}",
            workload.name, result.verdict.violations
        )));
    }
    Ok(Measurement {
        events: result.events,
        wall,
    })
}

/// Runs `workload` once for every seed on a pool of `threads` threads; the wall time is that
/// of the whole batch.
pub fn measure_batch(
    workload: &Workload,
    seeds: &[u64],
    threads: usize,
) -> Result<Measurement, BenchError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| ScenarioError::new(workload.name, format!("no thread pool: {e}")))?;
    let start = Instant::now();
    let runs: Result<Vec<Measurement>, BenchError> =
        pool.install(|| seeds.par_iter().map(|&s| measure(workload, s)).collect());
    let wall = start.elapsed();
    Ok(Measurement {
        events: runs?.iter().map(|m| m.events).sum(),
        wall,
    })
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_builds_and_a_quick_run_verifies() {
        for w in [
            bank_64(true),
            bank_64_sweep(true),
            bank_1m(true),
            baseline(&bank_1m(false)),
            dataflow_bp(protocol("aligned"), true),
            dataflow_bp(protocol("unaligned"), true),
        ] {
            w.scenario
                .validate()
                .unwrap_or_else(|e| panic!("{}: {e}", w.name));
        }
        let m = measure(&bank_64_sweep(true), 1).expect("runs and verifies");
        assert!(m.events > 100_000, "{} events", m.events);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }
}
