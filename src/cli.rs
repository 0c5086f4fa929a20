//! Commands, flags, files and exit codes. The only code that touches the filesystem.
//!
//! Exit codes: 0 success and every verification passed; 1 a verification found a violation;
//! 2 bad input (unreadable or invalid scenario, unknown protocol, bad flag). Results are
//! written to a temporary file and renamed into place, so no partial file is ever left.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration as WallDuration, Instant};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use snapsim::campaign;
use snapsim::engine::{Time, TraceMode};
use snapsim::mutant::Mutant;
use snapsim::protocols::ProtocolKind;
use snapsim::report::{fmt_ns, group};
use snapsim::scenario::FailureSpec;
use snapsim::scenario::Scenario;
use snapsim::{simulate, RunOptions};

const ABOUT: &str = "A deterministic simulator for distributed snapshot protocols";

#[derive(Parser)]
#[command(name = "snapsim", version, about = ABOUT, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario once, print a summary and write the results file.
    #[command(
        after_help = "Example:\n  snapsim run scenarios/quickstart.json --seed 7 --out results/"
    )]
    Run(RunArgs),
    /// Check scenario files without running them.
    #[command(after_help = "Example:\n  snapsim validate scenarios/*.json")]
    Validate(ValidateArgs),
    /// Run a scenario under several protocols and seeds; a table, summaries and charts.
    #[command(
        after_help = "Example:\n  snapsim compare scenarios/backpressure.json --protocols aligned,unaligned --seeds 3 --out results/backpressure"
    )]
    Compare(CompareArgs),
    /// Verify runs over many seeds, or show that every mutant is caught.
    #[command(
        after_help = "Examples:\n  snapsim check scenarios/failures.json --seeds 50\n  snapsim check scenarios/*.json --mutants\n  snapsim check --mutants --list"
    )]
    Check(CheckArgs),
    /// Print the JSON Schema of scenario files.
    #[command(after_help = "Example:\n  snapsim schema > scenarios/schema.json")]
    Schema,
}

#[derive(Args)]
struct RunArgs {
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

#[derive(Args)]
struct ValidateArgs {
    /// Scenario files.
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
}

/// A protocol, or a deliberately broken variant of one.
#[derive(Debug, Clone, Copy)]
struct Choice {
    protocol: ProtocolKind,
    mutant: Option<Mutant>,
}

fn parse_protocol(s: &str) -> Result<Choice, String> {
    if let Some(name) = s.strip_prefix("mutant:") {
        let m = Mutant::from_name(name).ok_or_else(|| {
            let names: Vec<_> = Mutant::ALL.iter().map(|m| m.name()).collect();
            format!(
                "unknown mutant `{name}`; expected one of: {}",
                names.join(", ")
            )
        })?;
        return Ok(Choice {
            protocol: m.base(),
            mutant: Some(m),
        });
    }
    Ok(Choice {
        protocol: s.parse()?,
        mutant: None,
    })
}

fn parse_failure(s: &str) -> Result<FailureSpec, String> {
    FailureSpec::from_flag(s)
}

#[derive(Args)]
struct CompareArgs {
    /// The scenario file.
    scenario: PathBuf,
    /// Protocols to compare (comma separated); default: every protocol that applies.
    #[arg(long, value_delimiter = ',', value_parser = parse_protocol)]
    protocols: Vec<Choice>,
    /// Seeds per protocol (seeds 0..N of the scenario's seed stream).
    #[arg(long, default_value_t = 3)]
    seeds: u32,
    /// Directory for per-run results, summary.json, summary.csv and the charts.
    #[arg(long, default_value = "results")]
    out: PathBuf,
}

#[derive(Args)]
struct CheckArgs {
    /// Scenario files.
    #[arg(required_unless_present = "list")]
    scenarios: Vec<PathBuf>,
    /// Only these protocols (comma separated); default: every protocol that applies.
    #[arg(long, value_delimiter = ',', value_parser = parse_protocol)]
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
}

/// Failures, by exit code.
enum Failure {
    /// Exit 2: the input is bad; the message names the file, the field and the problem.
    BadInput(String),
    /// Exit 1: a run was verified and found wrong.
    Violation,
    /// Exit 2: the environment refused (an unwritable output directory).
    Io(anyhow::Error),
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            eprintln!("snapsim: error: {}", first.trim_start_matches("error: "));
            eprintln!("  (see `snapsim --help`)");
            return 2;
        }
    };
    let outcome = match cli.command {
        Command::Run(args) => run(args),
        Command::Validate(args) => validate(args),
        Command::Check(args) => check(args),
        Command::Compare(args) => compare(args),
        Command::Schema => {
            print!("{}", Scenario::json_schema());
            Ok(())
        }
    };
    match outcome {
        Ok(()) => 0,
        Err(Failure::Violation) => 1,
        Err(Failure::BadInput(msg)) => {
            eprintln!("snapsim: error: {msg}");
            2
        }
        Err(Failure::Io(e)) => {
            eprintln!("snapsim: error: {e:#}");
            2
        }
    }
}

/// Reads and validates a scenario file; every problem names the file.
fn load(path: &Path) -> Result<Scenario, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::BadInput(format!("{}: cannot read: {e}", path.display())))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scenario")
        .to_string();
    Scenario::from_json(&bytes, &stem)
        .map_err(|e| Failure::BadInput(format!("{}: {e}", path.display())))
}

/// The protocol a scenario names (validation has checked the name).
fn scenario_protocol(s: &Scenario) -> Result<ProtocolKind, String> {
    match &s.checkpointing {
        Some(c) => c
            .protocol
            .parse()
            .map_err(|e| format!("checkpointing.protocol: {e}")),
        None => Ok(ProtocolKind::None),
    }
}

fn validate(args: ValidateArgs) -> Result<(), Failure> {
    let mut first_error = None;
    for path in &args.scenarios {
        match load(path) {
            Ok(s) => println!("{}: ok ({})", path.display(), s.name()),
            Err(Failure::BadInput(msg)) => {
                eprintln!("snapsim: error: {msg}");
                first_error.get_or_insert(msg);
            }
            Err(other) => return Err(other),
        }
    }
    match first_error {
        // Every bad file has been reported above; report the count once more for scripts.
        Some(_) => Err(Failure::BadInput(format!(
            "{} of {} scenario files are invalid",
            args.scenarios.iter().filter(|p| load(p).is_err()).count(),
            args.scenarios.len()
        ))),
        None => Ok(()),
    }
}

/// Writes `content` to `path` atomically: a temporary file in the same directory, renamed.
fn write_atomic(path: &Path, content: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("results");
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// A progress bar on stderr that appears only after a second, only on a terminal.
struct Progress {
    enabled: bool,
    started: Instant,
    limit: Time,
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(enabled: bool, limit: Time) -> Self {
        Progress {
            enabled: enabled && std::io::stderr().is_terminal(),
            started: Instant::now(),
            limit,
            bar: None,
        }
    }

    fn update(&mut self, now: Time, events: u64) {
        if !self.enabled || self.started.elapsed() < WallDuration::from_secs(1) {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let b = ProgressBar::new(self.limit.max(1));
            b.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {percent}% of simulated time, {msg} (eta {eta})")
                    .expect("valid template"),
            );
            b
        });
        bar.set_position(now.min(self.limit));
        bar.set_message(format!("{} events", group(events)));
    }

    fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

fn run(args: RunArgs) -> Result<(), Failure> {
    let scenario = load(&args.scenario)?;
    let mut scenario = scenario;
    scenario.failures.extend(args.fail.iter().cloned());
    scenario
        .validate()
        .map_err(|e| Failure::BadInput(format!("{}: --fail: {e}", args.scenario.display())))?;
    let choice = match args.protocol {
        Some(p) => p,
        None => Choice {
            protocol: scenario_protocol(&scenario)
                .map_err(|e| Failure::BadInput(format!("{}: {e}", args.scenario.display())))?,
            mutant: None,
        },
    };
    let opts = RunOptions {
        protocol: choice.protocol,
        seed: args.seed,
        trace: TraceMode::HashOnly,
        mutant: choice.mutant,
    };
    let mut progress = Progress::new(!args.quiet, scenario.duration.ns());
    let wall = Instant::now();
    let result = simulate(&scenario, &opts, &mut |t, e| progress.update(t, e))
        .map_err(|e| Failure::BadInput(format!("{}: {e}", args.scenario.display())))?;
    progress.finish();
    let elapsed = wall.elapsed().as_secs_f64();
    let file = args.out.join(format!(
        "{}-{}-seed{}.json",
        result.scenario, result.protocol, result.seed
    ));
    write_atomic(&file, result.to_json().as_bytes()).map_err(Failure::Io)?;
    if !args.quiet {
        print!("{}", result.summary());
        println!(
            "  {:<14}{:.2} s, {:.2} M events/s ({} per event)",
            "wall time",
            elapsed,
            result.events as f64 / elapsed.max(1e-9) / 1e6,
            fmt_ns((elapsed * 1e9 / result.events.max(1) as f64) as Time)
        );
        println!("  {:<14}{}", "results", file.display());
    }
    if result.verdict.ok {
        Ok(())
    } else {
        Err(Failure::Violation)
    }
}

fn check(args: CheckArgs) -> Result<(), Failure> {
    if args.list {
        for m in Mutant::ALL {
            println!("{:<40} {}", m.to_string(), m.description());
        }
        return Ok(());
    }
    let mut scenarios = Vec::new();
    for path in &args.scenarios {
        scenarios.push(load(path)?);
    }
    let show = |i: usize| args.scenarios[i].display().to_string();
    if args.mutants {
        let mut missed = 0;
        for &m in Mutant::ALL {
            match campaign::hunt(m, &scenarios, args.seeds) {
                Some(o) => {
                    let r = o.result.as_ref().expect("hunt returns verified runs");
                    let v = &r.verdict.violations[0];
                    println!(
                        "caught  {m}: {} seed {}: {}: {}",
                        show(o.scenario),
                        o.seed,
                        v.kind,
                        v.message
                    );
                    println!(
                        "        reproduce: snapsim run {} --protocol {m} --seed {}",
                        show(o.scenario),
                        o.seed
                    );
                }
                None => {
                    missed += 1;
                    println!(
                        "MISSED  {m}: no violation over {} scenario(s) x {} seeds",
                        scenarios.len(),
                        args.seeds
                    );
                }
            }
        }
        println!(
            "{} of {} mutants caught",
            Mutant::ALL.len() - missed,
            Mutant::ALL.len()
        );
        return if missed == 0 {
            Ok(())
        } else {
            Err(Failure::Violation)
        };
    }
    let chosen: Vec<(ProtocolKind, Option<Mutant>)> = args
        .protocol
        .iter()
        .map(|c| (c.protocol, c.mutant))
        .collect();
    for (i, s) in scenarios.iter().enumerate() {
        for &(p, _) in &chosen {
            if s.processes.is_some() && !p.supports_process_graphs() {
                return Err(Failure::BadInput(format!(
                    "{}: --protocol: `{p}` needs a dataflow job; process graphs support chandy-lamport and none",
                    show(i)
                )));
            }
        }
    }
    let jobs = campaign::check_jobs(
        &scenarios,
        (!chosen.is_empty()).then_some(&chosen[..]),
        args.seeds,
    );
    let outcomes = campaign::run_all(&scenarios, &jobs);
    let mut bad = 0;
    let mut rows: std::collections::BTreeMap<(usize, String), (u32, u32)> = Default::default();
    for o in &outcomes {
        let row = rows.entry((o.scenario, o.label.clone())).or_default();
        row.0 += 1;
        match &o.result {
            Ok(r) if r.verdict.ok => {}
            Ok(r) => {
                bad += 1;
                row.1 += 1;
                for v in &r.verdict.violations {
                    println!(
                        "{} under {} seed {}: {}: {}",
                        show(o.scenario),
                        o.label,
                        o.seed,
                        v.kind,
                        v.message
                    );
                }
                println!(
                    "  reproduce: snapsim run {} --protocol {} --seed {}",
                    show(o.scenario),
                    o.label,
                    o.seed
                );
            }
            Err(e) => return Err(Failure::BadInput(format!("{}: {e}", show(o.scenario)))),
        }
    }
    // Determinism, as madsim checks it: the first run of each scenario, twice.
    for (i, s) in scenarios.iter().enumerate() {
        if let Some((_, opts)) = jobs.iter().find(|(j, _)| *j == i) {
            match campaign::check_determinism(s, opts) {
                Ok(None) => {}
                Ok(Some((a, b))) => {
                    bad += 1;
                    println!(
                        "{} under {}: not deterministic: trace hashes {a} and {b}",
                        show(i),
                        opts.label()
                    );
                }
                Err(e) => return Err(Failure::BadInput(format!("{}: {e}", show(i)))),
            }
        }
    }
    println!(
        "{:<36} {:<16} {:>6} {:>11}",
        "scenario", "protocol", "runs", "violations"
    );
    for ((i, label), (runs, v)) in &rows {
        println!("{:<36} {:<16} {:>6} {:>11}", show(*i), label, runs, v);
    }
    println!("{} runs, {} with violations", outcomes.len(), bad);
    if bad == 0 {
        Ok(())
    } else {
        Err(Failure::Violation)
    }
}

fn compare(args: CompareArgs) -> Result<(), Failure> {
    let scenario = load(&args.scenario)?;
    let chosen: Vec<(ProtocolKind, Option<Mutant>)> = if args.protocols.is_empty() {
        campaign::applicable(&scenario)
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
        if scenario.processes.is_some() && !p.supports_process_graphs() {
            return Err(Failure::BadInput(format!(
                "{}: --protocols: `{p}` needs a dataflow job; process graphs support chandy-lamport and none",
                args.scenario.display()
            )));
        }
    }
    let scenarios = [scenario];
    let jobs = campaign::check_jobs(&scenarios, Some(&chosen), args.seeds);
    let mut results = Vec::new();
    for o in campaign::run_all(&scenarios, &jobs) {
        results.push(
            o.result
                .map_err(|e| Failure::BadInput(format!("{}: {e}", args.scenario.display())))?,
        );
    }
    let name = scenarios[0].name().to_string();
    for r in &results {
        let file = args
            .out
            .join(format!("{}-{}-seed{}.json", r.scenario, r.protocol, r.seed));
        write_atomic(&file, r.to_json().as_bytes()).map_err(Failure::Io)?;
    }
    let rows = snapsim::report::summary::summarise(&results);
    write_atomic(
        &args.out.join("summary.json"),
        snapsim::report::summary::to_json(&rows).as_bytes(),
    )
    .map_err(Failure::Io)?;
    write_atomic(
        &args.out.join("summary.csv"),
        snapsim::report::summary::to_csv(&rows).as_bytes(),
    )
    .map_err(Failure::Io)?;
    let seeds = format!(
        "{} seed{}",
        args.seeds,
        if args.seeds == 1 { "" } else { "s" }
    );
    let charts = [
        snapsim::report::charts::duration(
            &results,
            &format!("{name}: checkpoint duration per protocol ({seeds})"),
        ),
        snapsim::report::charts::size(
            &results,
            &format!("{name}: snapshot size per protocol ({seeds})"),
        ),
        snapsim::report::charts::size_vs_duration(
            &results,
            &format!("{name}: size against duration, one point per checkpoint"),
        ),
    ];
    let mut written = Vec::new();
    for chart in charts {
        let chart = chart.map_err(|e| Failure::Io(anyhow::anyhow!("drawing a chart: {e}")))?;
        let stem = args.out.join(format!("{name}-{}", chart.name));
        write_atomic(&stem.with_extension("svg"), chart.svg.as_bytes()).map_err(Failure::Io)?;
        write_atomic(&stem.with_extension("png"), &chart.png).map_err(Failure::Io)?;
        written.push(stem.with_extension("svg").display().to_string());
    }
    println!(
        "{name}: {} runs ({} protocols x {seeds})",
        results.len(),
        rows.len()
    );
    print!("{}", snapsim::report::summary::to_table(&rows));
    println!(
        "written to {}: per-run JSON, summary.json, summary.csv, charts {}",
        args.out.display(),
        written.join(", ")
    );
    if results.iter().all(|r| r.verdict.ok) {
        Ok(())
    } else {
        for r in results.iter().filter(|r| !r.verdict.ok) {
            println!(
                "  {} seed {}: {:?}",
                r.protocol,
                r.seed,
                r.verdict.violations.first().map(|v| &v.message)
            );
        }
        Err(Failure::Violation)
    }
}
