//! `snapsim compare`: one scenario under several protocols and seeds; table, summaries, charts.

use std::path::PathBuf;

use clap::Args;

use snapsim::campaign;
use snapsim::mutant::Mutant;
use snapsim::protocols::ProtocolKind;
use snapsim::report::charts::{self, Chart, TimelineData};
use snapsim::report::summary::{self, ProtocolSummary};
use snapsim::report::RunResult;
use snapsim::scenario::Scenario;

use super::args::{parse_protocol, protocol_for, Choice};
use super::files::{add_results_file, load, write_charts};
use super::output::{shown, OutputSet};
use super::progress::run_with_bar;
use super::{limits, max_events, Failure};

#[derive(Args)]
pub(super) struct CompareArgs {
    /// The scenario file.
    scenario: PathBuf,
    /// Protocols to compare (comma separated); default: every protocol that applies.
    #[arg(long, visible_alias = "protocol", value_delimiter = ',', value_parser = parse_protocol)]
    protocols: Vec<Choice>,
    /// Seeds per protocol (seeds 0..N of the scenario's seed stream).
    #[arg(long, default_value_t = 3)]
    seeds: u32,
    /// Directory for per-run results, summary.json, summary.csv and the charts.
    #[arg(long, default_value = "results")]
    out: PathBuf,
}

pub(super) fn compare(args: CompareArgs) -> Result<(), Failure> {
    campaign::check_seeds(args.seeds, limits()).map_err(Failure::BadInput)?;
    let scenario = load(&args.scenario)?;
    let chosen = chosen_protocols(&args, &scenario)?;
    campaign::check_runs(&[chosen.len() as u64, u64::from(args.seeds)], limits())
        .map_err(Failure::BadInput)?;
    let mut set = OutputSet::begin("--out", &args.out)?;
    let scenarios = [scenario];
    let mut jobs = campaign::check_jobs(&scenarios, Some(&chosen), args.seeds);
    for (_, opts) in &mut jobs {
        opts.max_events = max_events();
    }
    let mut results = Vec::new();
    for o in run_with_bar(&scenarios, &jobs) {
        results.push(
            o.result
                .map_err(|e| Failure::BadInput(format!("{}: {e}", shown(&args.scenario))))?,
        );
    }
    let name = scenarios[0].name().to_string();
    for r in &results {
        add_results_file(&mut set, r)?;
    }
    let rows = summary::summarise(&results);
    set.add("summary.json", summary::to_json(&rows).as_bytes())?;
    set.add("summary.csv", summary::to_csv(&rows).as_bytes())?;
    let seeds = format!(
        "{} seed{}",
        args.seeds,
        if args.seeds == 1 { "" } else { "s" }
    );
    let written = write_charts(
        &mut set,
        &format!("{name}-"),
        compare_charts(&name, &seeds, &results, &rows),
    )?;
    set.commit()?;
    let seed_list: Vec<u64> = campaign::seeds(scenarios[0].seed, args.seeds);
    print_report(&args, &name, &seeds, &seed_list, &results, &rows, &written);
    if results.iter().all(|r| r.verdict.ok) {
        Ok(())
    } else {
        for r in results.iter().filter(|r| !r.verdict.ok) {
            outln!(
                "  {} seed {}: {:?}",
                r.protocol,
                r.seed,
                r.verdict.violations.first().map(|v| &v.message)
            );
        }
        Err(Failure::Violation)
    }
}

/// The protocols `--protocols` names, or every one that applies; each must fit the scenario.
fn chosen_protocols(
    args: &CompareArgs,
    scenario: &Scenario,
) -> Result<Vec<(ProtocolKind, Option<Mutant>)>, Failure> {
    let chosen: Vec<(ProtocolKind, Option<Mutant>)> = if args.protocols.is_empty() {
        campaign::applicable(scenario)
            .into_iter()
            .map(|p| (p, None))
            .collect()
    } else {
        args.protocols
            .iter()
            .map(|c| (c.protocol, c.mutant))
            .collect()
    };
    for &(p, _) in &chosen {
        protocol_for(scenario, Some(p)).map_err(|e| {
            Failure::BadInput(format!("{}: --protocols: {e}", shown(&args.scenario)))
        })?;
    }
    Ok(chosen)
}

/// Duration, size and size against duration over all runs; record latency; downtime when a run
/// failed; checkpointed against full size and the phases when a state backend is set; then a
/// timeline per protocol.
fn compare_charts(
    name: &str,
    seeds: &str,
    results: &[RunResult],
    rows: &[ProtocolSummary],
) -> Vec<Result<Chart, String>> {
    let mut all = vec![
        charts::duration(
            results,
            &format!("{name}: checkpoint duration per protocol ({seeds})"),
        ),
        charts::size(
            results,
            &format!("{name}: snapshot size per protocol ({seeds})"),
        ),
        charts::size_vs_duration(
            results,
            &format!("{name}: size against duration, one point per checkpoint"),
        ),
    ];
    let costs = [
        charts::latency(
            results,
            &format!("{name}: record latency per protocol ({seeds})"),
        ),
        charts::downtime(
            results,
            &format!("{name}: downtime per failure, by part ({seeds})"),
        ),
        charts::checkpointed_vs_full(
            results,
            &format!("{name}: checkpointed against full size, first seed"),
        ),
        charts::phases(
            results,
            &format!("{name}: sync and async phase per protocol ({seeds})"),
        ),
    ];
    all.extend(costs.into_iter().filter_map(Result::transpose));
    for row in rows {
        if let Some(r) = results.iter().find(|r| r.protocol == row.protocol) {
            all.push(timeline_chart(name, r));
        }
    }
    all
}

/// Throughput, back-pressure, checkpoints and crashes over time in one run (a protocol's first
/// seed).
fn timeline_chart(name: &str, r: &RunResult) -> Result<Chart, String> {
    let tl = &r.metrics.timeline;
    let bucket_ms = tl.bucket_ns as f64 / 1e6;
    let data = TimelineData {
        bucket_ms,
        throughput: tl
            .records_out
            .iter()
            .map(|&n| n as f64 / (tl.bucket_ns as f64 / 1e9))
            .collect(),
        backpressured: tl.backpressured_tasks.clone(),
        checkpoints: r
            .checkpoints
            .iter()
            .map(|c| {
                (
                    c.trigger_ns as f64 / 1e6,
                    c.end_ns as f64 / 1e6,
                    c.completed(),
                )
            })
            .collect(),
        crashes: r.failures.iter().map(|f| f.at_ns as f64 / 1e6).collect(),
    };
    charts::timeline(
        &format!("timeline-{}", r.protocol),
        &format!(
            "{name} under {} (seed {}): throughput and back-pressure over time",
            r.protocol, r.seed
        ),
        &r.protocol,
        &data,
    )
}

/// What ran, the summary table, what the failures did, and where the files went.
fn print_report(
    args: &CompareArgs,
    name: &str,
    seeds: &str,
    seed_list: &[u64],
    results: &[RunResult],
    rows: &[ProtocolSummary],
    written: &[String],
) {
    outln!(
        "{name}: {} runs ({} protocols x {seeds}: {})",
        results.len(),
        rows.len(),
        seed_list
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    out!("{}", summary::to_table(rows));
    let with_failures: Vec<_> = results
        .iter()
        .filter_map(|r| Some((r, r.failures_line()?)))
        .collect();
    if !with_failures.is_empty() {
        outln!("failures:");
        for (r, line) in with_failures {
            outln!("  {:<16} seed {:<20} {line}", r.protocol, r.seed);
        }
    }
    outln!(
        "written to {}: per-run JSON, summary.json, summary.csv, charts {}",
        shown(&args.out),
        written.join(", ")
    );
}
