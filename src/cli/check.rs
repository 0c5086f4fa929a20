//! `snapsim check`: runs verified over many seeds, or every mutant shown to be caught.
//!
//! Over seeds, each violation is printed with the command that reproduces it, and a table
//! counts the runs, violations and exactly-once errors per scenario and protocol.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;

use snapsim::campaign;
use snapsim::mutant::Mutant;
use snapsim::protocols::ProtocolKind;
use snapsim::report::{group, RunResult};
use snapsim::scenario::Scenario;
use snapsim::RunOptions;

use super::args::{parse_protocol, protocol_for, Choice};
use super::files::{add_results_file, load};
use super::output::{printable, shown, OutputSet};
use super::progress::{count_bar, run_with_bar};
use super::{limits, max_events, Failure};

#[derive(Args)]
pub(super) struct CheckArgs {
    /// Scenario files.
    #[arg(required_unless_present = "list")]
    scenarios: Vec<PathBuf>,
    /// Only these protocols (comma separated); default: every protocol that applies.
    #[arg(long = "protocols", visible_alias = "protocol", value_delimiter = ',', value_parser = parse_protocol)]
    protocol: Vec<Choice>,
    /// Seeds per scenario and protocol (seeds 0..N of the scenario's seed stream).
    #[arg(long, default_value_t = 10)]
    seeds: u32,
    /// Run every mutant instead and show that each is caught.
    #[arg(long)]
    mutants: bool,
    /// With --mutants: list them and exit.
    #[arg(long, requires = "mutants")]
    list: bool,
    /// Also write every run's results file into this folder.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// One line of `check`'s table: a scenario under one protocol, over its seeds.
#[derive(Default)]
struct CheckRow {
    runs: u32,
    violations: u32,
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
}

/// The rows of the table, by scenario index and what ran.
type Table = BTreeMap<(usize, String), CheckRow>;

pub(super) fn check(args: CheckArgs) -> Result<(), Failure> {
    if args.list {
        for m in Mutant::ALL {
            outln!("{:<40} {}", m.to_string(), m.description());
        }
        return Ok(());
    }
    campaign::check_seeds(args.seeds, limits()).map_err(Failure::BadInput)?;
    let mut scenarios = Vec::new();
    for path in &args.scenarios {
        scenarios.push(load(path)?);
    }
    let per_scenario = if args.mutants {
        Mutant::ALL.len()
    } else if args.protocol.is_empty() {
        ProtocolKind::all().count()
    } else {
        args.protocol.len()
    };
    campaign::check_runs(
        &[
            scenarios.len() as u64,
            per_scenario as u64,
            u64::from(args.seeds),
        ],
        limits(),
    )
    .map_err(Failure::BadInput)?;
    let set = results_set(&args, &scenarios)?;
    if args.mutants {
        check_mutants(&args, &scenarios)
    } else {
        check_protocols(&args, &scenarios, set)
    }
}

/// The folder `--out` names for the results files, refused when two scenarios share a name
/// (their files would collide); none with `--mutants`, which writes no results files.
fn results_set(args: &CheckArgs, scenarios: &[Scenario]) -> Result<Option<OutputSet>, Failure> {
    let Some(dir) = args.out.as_ref().filter(|_| !args.mutants) else {
        return Ok(None);
    };
    for (i, a) in scenarios.iter().enumerate() {
        if let Some(j) = scenarios[..i].iter().position(|b| b.name() == a.name()) {
            return Err(Failure::BadInput(format!(
                "{} and {}: both scenarios are named `{}`, so their results files would \
                 overwrite each other in {}; give one another `name`",
                shown(&args.scenarios[j]),
                shown(&args.scenarios[i]),
                printable(a.name()),
                shown(dir)
            )));
        }
    }
    Ok(Some(OutputSet::begin("--out", dir)?))
}

/// Hunts every mutant over the scenarios and seeds; a mutant no run catches is a failure of
/// the checkers.
fn check_mutants(args: &CheckArgs, scenarios: &[Scenario]) -> Result<(), Failure> {
    let show = |i: usize| shown(&args.scenarios[i]);
    let mut missed = 0;
    let bar = count_bar(Mutant::ALL.len(), "mutants");
    for &m in Mutant::ALL {
        let found = campaign::hunt(m, scenarios, args.seeds, max_events());
        if let Some(b) = &bar {
            b.inc(1);
        }
        let caught = found.as_ref().and_then(|o| {
            let r = o.result.as_ref().ok()?;
            Some((o, r.verdict.violations.first()?))
        });
        match caught {
            Some((o, v)) => {
                outln!(
                    "caught  {m}: {} seed {}: {}: {}",
                    show(o.scenario),
                    o.seed,
                    v.kind,
                    v.message
                );
                outln!(
                    "        reproduce: snapsim run {} --protocol {m} --seed {}",
                    show(o.scenario),
                    o.seed
                );
            }
            None => {
                missed += 1;
                outln!(
                    "MISSED  {m}: no violation over {} scenario(s) x {} seeds",
                    scenarios.len(),
                    args.seeds
                );
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    outln!(
        "{} of {} mutants caught",
        Mutant::ALL.len() - missed,
        Mutant::ALL.len()
    );
    if missed == 0 {
        Ok(())
    } else {
        Err(Failure::Violation)
    }
}

/// Runs every scenario under the chosen protocols (or all that apply) over the seeds, reports
/// each violation with how to reproduce it, checks determinism, and prints the table.
fn check_protocols(
    args: &CheckArgs,
    scenarios: &[Scenario],
    mut set: Option<OutputSet>,
) -> Result<(), Failure> {
    let show = |i: usize| shown(&args.scenarios[i]);
    let chosen: Vec<(ProtocolKind, Option<Mutant>)> = args
        .protocol
        .iter()
        .map(|c| (c.protocol, c.mutant))
        .collect();
    for (i, s) in scenarios.iter().enumerate() {
        for &(p, _) in &chosen {
            protocol_for(s, Some(p))
                .map_err(|e| Failure::BadInput(format!("{}: --protocol: {e}", show(i))))?;
        }
    }
    let mut jobs = campaign::check_jobs(
        scenarios,
        (!chosen.is_empty()).then_some(&chosen[..]),
        args.seeds,
    );
    for (_, opts) in &mut jobs {
        opts.max_events = max_events();
    }
    let outcomes = run_with_bar(scenarios, &jobs);
    let mut rows = Table::default();
    let mut bad = 0;
    for o in &outcomes {
        let row = rows.entry((o.scenario, o.label.clone())).or_default();
        row.runs += 1;
        let r = o
            .result
            .as_ref()
            .map_err(|e| Failure::BadInput(format!("{}: {e}", show(o.scenario))))?;
        if let Some(set) = set.as_mut() {
            add_results_file(set, r)?;
        }
        if let Some(eo) = &r.verdict.exactly_once {
            row.lost += eo.lost;
            row.duplicated += eo.duplicated;
            row.out_of_order += eo.out_of_order;
        }
        if !r.verdict.ok {
            bad += 1;
            row.violations += 1;
            report_violations(&show(o.scenario), o, r);
        }
    }
    bad += check_determinism(args, scenarios, &jobs)?;
    if let Some(set) = set {
        set.commit()?;
    }
    print_table(&rows, &show);
    outln!("{} runs, {} with violations", outcomes.len(), bad);
    if let Some(dir) = &args.out {
        outln!("results files written to {}", shown(dir));
    }
    if bad == 0 {
        Ok(())
    } else {
        Err(Failure::Violation)
    }
}

/// What went wrong in one run of the scenario shown as `scenario`, and how to run it again.
fn report_violations(scenario: &str, o: &campaign::Outcome, r: &RunResult) {
    if let Some(eo) = &r.verdict.exactly_once {
        outln!(
            "{} under {} seed {}: lost {}, duplicated {}, out of order {}",
            scenario,
            o.label,
            o.seed,
            group(eo.lost),
            group(eo.duplicated),
            group(eo.out_of_order)
        );
    }
    for v in &r.verdict.violations {
        outln!(
            "{} under {} seed {}: {}: {}",
            scenario,
            o.label,
            o.seed,
            v.kind,
            v.message
        );
    }
    outln!(
        "  reproduce: snapsim run {} --protocol {} --seed {}",
        scenario,
        o.label,
        o.seed
    );
}

/// Determinism, as madsim checks it: the first run of each scenario, twice. Returns how many
/// scenarios differed between the two.
fn check_determinism(
    args: &CheckArgs,
    scenarios: &[Scenario],
    jobs: &[(usize, RunOptions)],
) -> Result<usize, Failure> {
    let show = |i: usize| shown(&args.scenarios[i]);
    let mut differed = 0;
    for (i, s) in scenarios.iter().enumerate() {
        if let Some((_, opts)) = jobs.iter().find(|(j, _)| *j == i) {
            match campaign::check_determinism(s, opts) {
                Ok(None) => {}
                Ok(Some((a, b))) => {
                    differed += 1;
                    outln!(
                        "{} under {}: not deterministic: trace hashes {a} and {b}",
                        show(i),
                        opts.label()
                    );
                }
                Err(e) => return Err(Failure::BadInput(format!("{}: {e}", show(i)))),
            }
        }
    }
    Ok(differed)
}

/// The table: a line per scenario and protocol, scenarios shown by `show`.
fn print_table(rows: &Table, show: &dyn Fn(usize) -> String) {
    outln!(
        "{:<36} {:<24} {:>6} {:>11} {:>10} {:>10} {:>12}",
        "scenario",
        "protocol",
        "runs",
        "violations",
        "lost",
        "duplicated",
        "out of order"
    );
    for ((i, label), row) in rows {
        outln!(
            "{:<36} {:<24} {:>6} {:>11} {:>10} {:>10} {:>12}",
            show(*i),
            label,
            row.runs,
            row.violations,
            group(row.lost),
            group(row.duplicated),
            group(row.out_of_order)
        );
    }
}
