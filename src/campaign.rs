//! Many runs at once: `snapsim check` over seeds and protocols, and the search for each
//! mutant's first violation. Runs go in parallel (rayon); results come back in a fixed order,
//! so the output does not depend on the number of threads.

use rayon::prelude::*;

use crate::engine::{RngStreams, TraceMode};
use crate::mutant::Mutant;
use crate::protocols::ProtocolKind;
use crate::report::RunResult;
use crate::scenario::Scenario;
use crate::{simulate, RunOptions};

/// Seeds `0..n` of a scenario's seed stream: the `n` first draws of the `seeds` stream of
/// the scenario's own seed.
pub fn seeds(base: u64, n: u32) -> Vec<u64> {
    let mut rng = RngStreams::new(base).stream("seeds");
    (0..n)
        .map(|_| rand::RngCore::next_u64(&mut rng) >> 16)
        .collect()
}

/// The protocols that apply to a scenario (all but barrier protocols on process graphs).
pub fn applicable(s: &Scenario) -> Vec<ProtocolKind> {
    ProtocolKind::ALL
        .iter()
        .copied()
        .filter(|p| s.processes.is_none() || p.supports_process_graphs())
        .collect()
}

/// The outcome of one run in a campaign.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Index of the scenario in the campaign's list.
    pub scenario: usize,
    /// What ran: a protocol or a mutant.
    pub label: String,
    /// The seed.
    pub seed: u64,
    /// The verified result (or why it could not run).
    pub result: Result<RunResult, String>,
}

/// Runs every (scenario, options) job in parallel and returns the outcomes in job order.
pub fn run_all(scenarios: &[Scenario], jobs: &[(usize, RunOptions)]) -> Vec<Outcome> {
    jobs.par_iter()
        .map(|(i, opts)| Outcome {
            scenario: *i,
            label: opts.label(),
            seed: opts.seed.unwrap_or(scenarios[*i].seed),
            result: simulate(&scenarios[*i], opts, &mut |_, _| {}).map_err(|e| e.to_string()),
        })
        .collect()
}

/// The jobs of `snapsim check`: every scenario under each protocol or mutant (those given, or
/// every protocol that applies) for each of `n` seeds.
pub fn check_jobs(
    scenarios: &[Scenario],
    chosen: Option<&[(ProtocolKind, Option<Mutant>)]>,
    n: u32,
) -> Vec<(usize, RunOptions)> {
    let mut jobs = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        let list: Vec<(ProtocolKind, Option<Mutant>)> = chosen.map_or_else(
            || applicable(s).into_iter().map(|p| (p, None)).collect(),
            |c| c.to_vec(),
        );
        for (p, mutant) in list {
            for seed in seeds(s.seed, n) {
                jobs.push((
                    i,
                    RunOptions {
                        protocol: p,
                        seed: Some(seed),
                        trace: TraceMode::HashOnly,
                        mutant,
                    },
                ));
            }
        }
    }
    jobs
}

/// Runs a scenario twice with the same seed and compares the trace hashes (madsim's
/// `check_determinism`). Returns the two hashes when they differ.
pub fn check_determinism(
    s: &Scenario,
    opts: &RunOptions,
) -> Result<Option<(String, String)>, String> {
    let a = simulate(s, opts, &mut |_, _| {}).map_err(|e| e.to_string())?;
    let b = simulate(s, opts, &mut |_, _| {}).map_err(|e| e.to_string())?;
    Ok((a.trace_hash != b.trace_hash).then_some((a.trace_hash, b.trace_hash)))
}

/// The first run in which `mutant` breaks a promise: scenarios in order, seeds in order.
/// Seeds are tried in parallel batches, the earliest hit wins, so the answer does not depend on
/// the number of threads.
pub fn hunt(mutant: Mutant, scenarios: &[Scenario], n: u32) -> Option<Outcome> {
    for (i, s) in scenarios.iter().enumerate() {
        if s.processes.is_some() && !mutant.base().supports_process_graphs() {
            continue;
        }
        let jobs: Vec<(usize, RunOptions)> = seeds(s.seed, n)
            .into_iter()
            .map(|seed| {
                (
                    i,
                    RunOptions {
                        protocol: mutant.base(),
                        seed: Some(seed),
                        trace: TraceMode::HashOnly,
                        mutant: Some(mutant),
                    },
                )
            })
            .collect();
        for batch in jobs.chunks(rayon::current_num_threads().max(1) * 2) {
            let found = run_all(scenarios, batch)
                .into_iter()
                .find(|o| o.result.as_ref().is_ok_and(|r| !r.verdict.ok));
            if found.is_some() {
                return found;
            }
        }
    }
    None
}
