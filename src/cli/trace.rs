//! `snapsim trace`: a run's events exported for other tools.
//!
//! The fully traced run it makes, [`traced_run`], is the one `snapsim diagram` draws too.

use std::path::{Path, PathBuf};

use clap::Args;

use snapsim::report::{group, RunResult};
use snapsim::scenario::Scenario;
use snapsim::sim::RunOutput;
use snapsim::trace::TraceMode;
use snapsim::RunOptions;

use super::args::{parse_protocol, protocol_for, Choice};
use super::files::load;
use super::output::{shown, OutputSet};
use super::progress::Progress;
use super::{max_events, Failure};

/// Trace export formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// One JSON object per event.
    Jsonl,
    /// Chrome trace-event JSON for Perfetto and chrome://tracing.
    Perfetto,
    /// A ShiViz log with vector clocks (the parser regex goes to FILE.regex).
    Shiviz,
}

#[derive(Args)]
pub(super) struct TraceArgs {
    /// The scenario file.
    scenario: PathBuf,
    /// Protocol (default: the scenario's).
    #[arg(long, value_parser = parse_protocol)]
    protocol: Option<Choice>,
    /// Seed of the run; overrides the scenario's.
    #[arg(long)]
    seed: Option<u64>,
    /// Output format.
    #[arg(long, value_enum)]
    format: Format,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
}

/// Runs a scenario with its full trace kept, for exports and diagrams.
pub(super) fn traced_run(
    path: &Path,
    protocol: Option<Choice>,
    seed: Option<u64>,
) -> Result<(Scenario, RunResult, RunOutput), Failure> {
    let scenario = load(path)?;
    // A chosen protocol that cannot run this job is refused by the simulator.
    let choice = match protocol {
        Some(c) => c,
        None => Choice {
            protocol: protocol_for(&scenario, None)
                .map_err(|e| Failure::BadInput(format!("{}: {e}", shown(path))))?,
            mutant: None,
        },
    };
    let opts = RunOptions {
        protocol: choice.protocol,
        seed,
        trace: TraceMode::Full,
        mutant: choice.mutant,
        max_events: max_events(),
    };
    let mut progress = Progress::new(true, scenario.duration.ns());
    let (result, out) = snapsim::simulate_full(&scenario, &opts, &mut |t, e| progress.update(t, e))
        .map_err(|e| Failure::BadInput(format!("{}: {e}", shown(path))))?;
    progress.finish();
    Ok((scenario, result, out))
}

pub(super) fn trace(args: TraceArgs) -> Result<(), Failure> {
    let (mut set, name) = OutputSet::begin_file("--out", &args.out)?;
    let (scenario, result, out) = traced_run(&args.scenario, args.protocol, args.seed)?;
    let topo = snapsim::topology::Topology::build(&scenario, result.seed)
        .map_err(|e| Failure::BadInput(format!("{}: {e}", shown(&args.scenario))))?;
    let events = out.trace.events();
    let text = match args.format {
        Format::Jsonl => snapsim::report::export::jsonl(events),
        Format::Perfetto => snapsim::report::export::perfetto(events, &topo),
        Format::Shiviz => {
            let (log, regex) = snapsim::report::export::shiviz(events, &topo);
            let regex_file = set.add(&format!("{name}.regex"), format!("{regex}\n").as_bytes())?;
            outln!(
                "ShiViz parser regex (also in {}): {regex}",
                shown(&regex_file)
            );
            log
        }
    };
    set.add(&name, text.as_bytes())?;
    set.commit()?;
    outln!(
        "{} events of {} under {} (seed {}) written to {}",
        group(events.len() as u64),
        result.scenario,
        result.protocol,
        result.seed,
        shown(&args.out)
    );
    Ok(())
}
