//! snapsim: a deterministic simulator for distributed snapshot protocols.
//!
//! snapsim models processes and FIFO channels with latency, bandwidth, bounded buffers and
//! credit-based back-pressure, runs snapshot protocols on them (Chandy-Lamport, Flink's aligned
//! and unaligned barriers and their relatives), verifies every run, and reports what each
//! snapshot cost.
//!
//! ```
//! use snapsim::{scenario::Scenario, simulate, RunOptions};
//!
//! let json = br#"{
//!   "duration": "10ms",
//!   "dataflow": {
//!     "operators": [
//!       {"name": "src", "kind": {"source": {"rate": "10000/s", "keys": 10}}},
//!       {"name": "count", "kind": {"keyed_count": {}}, "parallelism": 2},
//!       {"name": "sink", "kind": {"sink": {}}}
//!     ],
//!     "edges": [
//!       {"from": "src", "to": "count", "partition": "hash"},
//!       {"from": "count", "to": "sink", "partition": "rebalance"}
//!     ]
//!   }
//! }"#;
//! let scenario = Scenario::from_json(json, "example").unwrap();
//! let result = simulate(&scenario, &RunOptions::default(), &mut |_, _| {}).unwrap();
//! assert_eq!(result.metrics.records_out, 100);
//! assert!(result.verdict.ok);
//! ```
//!
//! # Determinism contract
//!
//! The same scenario, protocol and seed give the same run, event for event, and the same
//! results file, byte for byte, on any machine:
//!
//! - Simulated time is an integer number of nanoseconds ([`engine::Time`]); no floating-point
//!   clock.
//! - Events are ordered by (time, sequence number), the sequence number being assigned when
//!   the event is scheduled; events at the same instant run in the order they were scheduled.
//! - Randomness comes only from ChaCha8 streams derived from the one seed, one stream per named
//!   purpose ([`engine::RngStreams`]): each task's network latencies, each task's workload,
//!   each bank process's transfer choices, the failures, the topology generator. Adding a task
//!   adds streams and shifts no other stream's draws.
//! - A source's log is a pure function of (source, offset), so a rewound source replays exactly
//!   the records it produced before.
//! - Nothing that affects the run iterates a hash map; ordered maps and vectors only.
//! - Wall-clock measurements go to the terminal, never into results files.
//!
//! # Architecture
//!
//! See `ARCHITECTURE.md` (its layer table is enforced by a test). In short: [`engine`] is a
//! protocol-agnostic event kernel; [`network`] models channels; [`trace`] records what
//! happened; [`protocols`] are sans-IO state machines, each declared once in a registry;
//! [`topology`] and [`workload`] describe the world; [`sim`] drives them all on the engine;
//! [`checker`] verifies a run from its trace and recorded snapshots; [`report`] shapes results;
//! [`scenario`] reads and validates input.

#![warn(missing_docs)]

pub mod bench;
pub mod campaign;
pub mod checker;
pub mod coordinator;
pub mod engine;
pub mod failure;
pub mod human;
pub mod keygroups;
pub mod network;
pub mod protocols;
pub use protocols::mutants as mutant;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod snapshot;
pub mod topology;
pub mod trace;
pub mod workload;

use engine::Time;
use protocols::ProtocolKind;
use report::RunResult;
use scenario::{Scenario, ScenarioError};
use trace::TraceMode;

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The snapshot protocol.
    pub protocol: ProtocolKind,
    /// The seed; `None` uses the scenario's.
    pub seed: Option<u64>,
    /// Whether to keep the trace's events in memory.
    pub trace: TraceMode,
    /// Run a deliberately broken variant instead (its base protocol replaces `protocol`).
    pub mutant: Option<mutant::Mutant>,
    /// The most events one run may take from the queue (the reference run without failures
    /// that a run with failures is compared with has the same budget). A run that needs more
    /// stops with an error naming `--max-events` rather than running on.
    /// [`DEFAULT_MAX_EVENTS`] by default.
    pub max_events: u64,
}

/// The default budget of events per run: 200 million, about twenty times the largest shipped
/// scenario (`huge.json`, about 9.3 million events) and a minute or so of simulation.
pub const DEFAULT_MAX_EVENTS: u64 = 200_000_000;

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            protocol: ProtocolKind::baseline(),
            seed: None,
            trace: TraceMode::HashOnly,
            mutant: None,
            max_events: DEFAULT_MAX_EVENTS,
        }
    }
}

/// The error of a run that used up its budget of events.
fn over_budget(opts: &RunOptions, out: &sim::RunOutput, what: &str) -> ScenarioError {
    ScenarioError::new(
        "--max-events",
        format!(
            "{what} stopped after {} events at simulated time {}, the limit of events per run; \
             shorten the scenario or raise the limit with --max-events",
            human::group(opts.max_events),
            human::fmt_ns(out.sim_time_ns)
        ),
    )
}

impl RunOptions {
    /// The name of what runs: a protocol or `mutant:NAME`.
    pub fn label(&self) -> String {
        match self.mutant {
            Some(m) => m.to_string(),
            None => self.protocol.name().to_string(),
        }
    }
}

/// Runs `scenario` once and verifies it. `progress` is called now and then with the simulated
/// time and the number of events so far.
pub fn simulate(
    scenario: &Scenario,
    opts: &RunOptions,
    progress: &mut dyn FnMut(Time, u64),
) -> Result<RunResult, ScenarioError> {
    simulate_full(scenario, opts, progress).map(|(result, _)| result)
}

/// Like [`simulate`], and also returns the raw output (trace, per-task figures, final states).
pub fn simulate_full(
    scenario: &Scenario,
    opts: &RunOptions,
    progress: &mut dyn FnMut(Time, u64),
) -> Result<(RunResult, sim::RunOutput), ScenarioError> {
    let seed = opts.seed.unwrap_or(scenario.seed);
    let protocol = opts.mutant.map_or(opts.protocol, |m| m.base());
    let mut scenario = scenario.clone();
    if opts.mutant.is_some_and(|m| m.reorders_channels()) {
        scenario.network.fifo = false;
        for link in &mut scenario.links {
            link.fifo = Some(false);
        }
    }
    if opts.mutant.is_some_and(|m| m.forces_local_recovery()) {
        scenario.recovery.local_recovery = true;
    }
    let mut sim = sim::Simulation::new(&scenario, protocol, seed, opts.trace, opts.mutant)?;
    let topo = sim.topology().clone();
    let online =
        checker::OnlineChecker::new(&topo, protocol.takes_snapshots()).attach(sim.trace_mut());
    sim.set_max_events(opts.max_events);
    let mut out = sim.run(progress);
    if out.over_budget {
        return Err(over_budget(opts, &out, "the run"));
    }
    let online = online.take_back(&mut out.trace);
    // A mutant is judged by what it claims, not by what its base protocol promises.
    let claimed = opts.mutant.map_or(protocol.promises(), |m| m.claimed());
    let promises = checker::Promises {
        consistent_cuts: claimed.consistent_cuts,
        exactly_once: claimed.exactly_once && checker::all_sinks_transactional(&topo),
    };
    // The bank's start is the scenario's; its end counts transfers in flight, which only the
    // simulation sees.
    let bank = out
        .bank_totals
        .and_then(|(_, end)| checker::BankTotals::new(&scenario, &topo, end));
    let mut verdict = checker::verify(&topo, online, &out.snapshots, bank, promises);
    if let Some(f) = &out.job_failure {
        // A failed job has no final state to compare: it stopped where it failed.
        verdict.job_failed(&human::fmt_ns(f.at_ns));
    } else if !scenario.failures.is_empty() && checker::has_sources_and_sinks(&topo) {
        // Exactly-once also means the state ends as it would have without failures.
        let mut calm = scenario.clone();
        calm.failures.clear();
        // The reference reads exactly the records the sources read in this run (the run
        // may read fewer new records before the duration ends, having lost time to failures).
        let mut reference = sim::Simulation::new(&calm, protocol, seed, TraceMode::HashOnly, None)?;
        reference.read_exactly(&out.source_log_ends);
        reference.set_max_events(opts.max_events);
        let reference = reference.run(&mut |_, _| {});
        if reference.over_budget {
            return Err(over_budget(
                opts,
                &reference,
                "the reference run without failures",
            ));
        }
        checker::compare_final_states(
            &topo,
            &out.final_states,
            &reference.final_states,
            promises,
            &mut verdict,
        );
    }
    let result = RunResult::new(scenario.name(), &opts.label(), seed, &mut out, verdict);
    Ok((result, out))
}
