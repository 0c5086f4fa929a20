//! `snapsim run`: one scenario once, a summary on the terminal and its results file.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use snapsim::engine::Time;
use snapsim::report::{fmt_ns, RunResult};
use snapsim::scenario::FailureSpec;
use snapsim::trace::TraceMode;
use snapsim::{simulate, RunOptions};

use super::args::{parse_failure, parse_protocol, protocol_for, Choice};
use super::files::{add_results_file, load};
use super::output::{shown, OutputSet};
use super::progress::Progress;
use super::{limits, max_events, Failure};

#[derive(Args)]
pub(super) struct RunArgs {
    /// The scenario file (JSON).
    scenario: PathBuf,
    /// Snapshot protocol: chandy-lamport, aligned, unaligned, aligned-timeout, at-least-once,
    /// stop-the-world or none; default: the scenario's `checkpointing.protocol`.
    #[arg(long, value_parser = parse_protocol)]
    protocol: Option<Choice>,
    /// Add a failure: at=500ms, every=300ms, after=0.25 (of the checkpoints), alignment=3,
    /// upload=3, recovery=1, random=300ms (mean interval), upload-failure=2. Repeatable.
    #[arg(long = "fail", value_parser = parse_failure)]
    fail: Vec<FailureSpec>,
    /// Seed of the run; overrides the scenario's.
    #[arg(long)]
    seed: Option<u64>,
    /// Directory for the results file.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

pub(super) fn run(args: RunArgs) -> Result<(), Failure> {
    let mut scenario = load(&args.scenario)?;
    scenario.failures.extend(args.fail.iter().cloned());
    scenario
        .validate_limited(limits())
        .map_err(|e| Failure::BadInput(format!("{}: --fail: {e}", shown(&args.scenario))))?;
    // A chosen protocol that cannot run this job is refused by the simulator.
    let choice = match args.protocol {
        Some(p) => p,
        None => Choice {
            protocol: protocol_for(&scenario, None)
                .map_err(|e| Failure::BadInput(format!("{}: {e}", shown(&args.scenario))))?,
            mutant: None,
        },
    };
    let opts = RunOptions {
        protocol: choice.protocol,
        seed: args.seed,
        trace: TraceMode::HashOnly,
        mutant: choice.mutant,
        max_events: max_events(),
    };
    let mut set = OutputSet::begin("--out", &args.out)?;
    let mut progress = Progress::new(!args.quiet, scenario.duration.ns());
    let wall = Instant::now();
    let result = simulate(&scenario, &opts, &mut |t, e| progress.update(t, e))
        .map_err(|e| Failure::BadInput(format!("{}: {e}", shown(&args.scenario))))?;
    progress.finish();
    let elapsed = wall.elapsed().as_secs_f64();
    let file = add_results_file(&mut set, &result)?;
    set.commit()?;
    if !args.quiet {
        print_summary(&result, elapsed, &file);
    }
    if result.verdict.ok {
        Ok(())
    } else {
        Err(Failure::Violation)
    }
}

/// The run's summary, how fast it ran in `elapsed` seconds, and where its results went.
fn print_summary(result: &RunResult, elapsed: f64, file: &std::path::Path) {
    out!("{}", result.summary());
    outln!(
        "  {:<14}{:.2} s, {:.2} M events/s ({} per event)",
        "wall time",
        elapsed,
        result.events as f64 / elapsed.max(1e-9) / 1e6,
        fmt_ns((elapsed * 1e9 / result.events.max(1) as f64) as Time)
    );
    outln!("  {:<14}{}", "results", shown(file));
}
