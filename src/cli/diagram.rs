//! `snapsim diagram`: a space-time diagram of one run, as SVG.

use std::path::PathBuf;

use clap::Args;

use snapsim::report::fmt_ns;

use super::args::{parse_protocol, parse_time, Choice};
use super::output::{shown, OutputSet};
use super::trace::traced_run;
use super::Failure;

#[derive(Args)]
pub(super) struct DiagramArgs {
    /// The scenario file.
    scenario: PathBuf,
    /// Protocol (default: the scenario's).
    #[arg(long, value_parser = parse_protocol)]
    protocol: Option<Choice>,
    /// Seed of the run; overrides the scenario's.
    #[arg(long)]
    seed: Option<u64>,
    /// Start of the time window, such as 200ms (default: the start).
    #[arg(long, value_parser = parse_time)]
    from: Option<u64>,
    /// End of the time window (default: the end of the run).
    #[arg(long, value_parser = parse_time)]
    until: Option<u64>,
    /// Output SVG file.
    #[arg(long)]
    out: PathBuf,
}

pub(super) fn diagram(args: DiagramArgs) -> Result<(), Failure> {
    let (mut set, name) = OutputSet::begin_file("--out", &args.out)?;
    let (scenario, result, out) = traced_run(&args.scenario, args.protocol, args.seed)?;
    let topo = snapsim::topology::Topology::build(&scenario, result.seed)
        .map_err(|e| Failure::BadInput(format!("{}: {e}", shown(&args.scenario))))?;
    let from = args.from.unwrap_or(0);
    let until = args.until.unwrap_or(result.sim_time_ns);
    if until <= from {
        return Err(Failure::BadInput(format!(
            "--until must lie after --from ({} <= {})",
            fmt_ns(until),
            fmt_ns(from)
        )));
    }
    let title = format!(
        "{} under {} (seed {}), {} to {}",
        result.scenario,
        result.protocol,
        result.seed,
        fmt_ns(from),
        fmt_ns(until)
    );
    let svg = snapsim::report::diagram::svg(
        out.trace.events(),
        &topo,
        &out.snapshots,
        (from, until),
        &title,
        Some(&out.labels),
    );
    set.add(&name, svg.as_bytes())?;
    set.commit()?;
    outln!("space-time diagram written to {}", shown(&args.out));
    Ok(())
}
