//! The command line: the flags every command takes, dispatch to a file per command, exit codes.
//!
//! It is the only code that touches the filesystem. Exit codes: 0 success and every
//! verification passed; 1 a verification found a violation; 2 bad input (unreadable or invalid
//! scenario, unknown protocol, bad flag). Results are written to a temporary file and renamed
//! into place, so no partial file is ever left.
//!
//! Each command's file holds its flags and its steps. What they share: `args` parses flags
//! (and knows which protocol fits which scenario), `files` loads scenarios and names results
//! files, `progress` draws bars, `output` writes to the terminal and moves output files into
//! place.

use clap::{Parser, Subcommand};

use snapsim::scenario::Scenario;

#[macro_use]
mod output;
mod args;
mod bench;
mod check;
mod compare;
mod diagram;
mod files;
mod progress;
mod run;
mod sweep;
mod trace;
mod validate;

use output::printable;

const ABOUT: &str = "A deterministic simulator for distributed snapshot protocols";

#[derive(Parser)]
#[command(name = "snapsim", version, about = ABOUT, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Raise a size limit deliberately: KEY=VALUE, such as memory=8GiB or tasks=none
    /// (repeatable). Keys: memory (2GiB), file (16MiB), tasks, channels, in-flight, timeline,
    /// checkpoints, records, steps, failures, seeds, runs; the defaults are in the README.
    #[arg(long = "limit", global = true, value_name = "KEY=VALUE", value_parser = args::parse_limit)]
    limit: Vec<String>,
    /// Most events one run may take; past it the run stops with an error (exit 2), so no
    /// scenario can stall a check or a sweep.
    #[arg(long, global = true, default_value_t = snapsim::DEFAULT_MAX_EVENTS, value_parser = clap::value_parser!(u64).range(1..))]
    max_events: u64,
}

/// `--max-events` of this invocation.
static MAX_EVENTS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// The most events one run of this invocation may take.
fn max_events() -> u64 {
    MAX_EVENTS
        .get()
        .copied()
        .unwrap_or(snapsim::DEFAULT_MAX_EVENTS)
}

/// The limits of this invocation: the defaults raised by `--limit`.
static LIMITS: std::sync::OnceLock<snapsim::scenario::Limits> = std::sync::OnceLock::new();

/// The size limits of this invocation.
fn limits() -> &'static snapsim::scenario::Limits {
    LIMITS.get_or_init(Default::default)
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario once, print a summary and write the results file.
    #[command(
        after_help = "Example:\n  snapsim run scenarios/quickstart.json --seed 7 --out results/"
    )]
    Run(run::RunArgs),
    /// Check scenario files without running them.
    #[command(after_help = "Example:\n  snapsim validate scenarios/*.json")]
    Validate(validate::ValidateArgs),
    /// Run a scenario under several protocols and seeds; a table, summaries and charts.
    #[command(
        after_help = "Example:\n  snapsim compare scenarios/backpressure.json --protocols aligned,unaligned --seeds 3 --out results/backpressure"
    )]
    Compare(compare::CompareArgs),
    /// Vary scenario fields over a grid, under protocols and seeds, in parallel.
    #[command(
        after_help = "Examples:\n  snapsim sweep scenarios/backpressure.json --vary 'dataflow.operators[4].cost=5us,10us,20us,40us' --protocols aligned,unaligned --seeds 3 --out results/sweep\n  snapsim sweep ... --shard 0/2 --out part0   # then: snapsim merge part0 part1 --out results/sweep"
    )]
    Sweep(sweep::SweepArgs),
    /// Join sharded sweep outputs into one, identical to an unsharded sweep.
    #[command(after_help = "Example:\n  snapsim merge part0 part1 --out results/sweep")]
    Merge(sweep::MergeArgs),
    /// Export a run's events for other tools: JSON lines, Perfetto, or ShiViz.
    #[command(
        after_help = "Example:\n  snapsim trace scenarios/cl-paper.json --format perfetto --out cl-paper.perfetto.json"
    )]
    Trace(trace::TraceArgs),
    /// Draw a space-time diagram of a run as SVG.
    #[command(
        after_help = "Example:\n  snapsim diagram scenarios/cl-paper.json --out results/cl-paper-diagram.svg\n  snapsim diagram scenarios/quickstart.json --from 200ms --until 203ms --out q.svg"
    )]
    Diagram(diagram::DiagramArgs),
    /// Verify runs over many seeds, or show that every mutant is caught.
    #[command(
        after_help = "Examples:\n  snapsim check scenarios/failures.json --seeds 50\n  snapsim check scenarios/*.json --mutants\n  snapsim check --mutants --list"
    )]
    Check(check::CheckArgs),
    /// Run the reference performance workloads: events/s, ns/event, peak memory.
    #[command(after_help = "Examples:\n  snapsim bench\n  snapsim bench --json --quick")]
    Bench(bench::BenchArgs),
    /// Print the JSON Schema of scenario files.
    #[command(after_help = "Example:\n  snapsim schema > scenarios/schema/scenario.schema.json")]
    Schema,
}

/// Failures, by exit code.
#[derive(Debug)]
enum Failure {
    /// Exit 2: the input is bad; the message names the file, the field and the problem.
    BadInput(String),
    /// Exit 1: a run was verified and found wrong.
    Violation,
    /// Exit 2: the environment refused (an unwritable output directory).
    Io(anyhow::Error),
}

/// Runs the command the arguments name; returns the exit code.
pub fn main() -> i32 {
    output::clean_up_on_signals();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            out!("{}", e.render());
            return 0;
        }
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // Bare `snapsim` (or a command without its subcommand): the usage, as an error.
            errln!("{}", e.render().to_string().trim_end());
            return 2;
        }
        Err(e) => {
            // The whole message: what is wrong, what was expected, and the usage line.
            let text = printable(&e.render().to_string());
            errln!(
                "snapsim: error: {}",
                text.trim_start_matches("error: ").trim_end()
            );
            return 2;
        }
    };
    let mut chosen = snapsim::scenario::Limits::default();
    for flag in &cli.limit {
        // Checked by the parser already.
        let _ = chosen.set(flag);
    }
    let _ = LIMITS.set(chosen);
    let _ = MAX_EVENTS.set(cli.max_events);
    let outcome = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Validate(args) => validate::validate(args),
        Command::Check(args) => check::check(args),
        Command::Compare(args) => compare::compare(args),
        Command::Trace(args) => trace::trace(args),
        Command::Sweep(args) => sweep::sweep(args),
        Command::Merge(args) => sweep::merge(args),
        Command::Diagram(args) => diagram::diagram(args),
        Command::Bench(args) => bench::bench(args),
        Command::Schema => {
            out!("{}", Scenario::json_schema());
            Ok(())
        }
    };
    match outcome {
        Ok(()) => 0,
        Err(Failure::Violation) => 1,
        Err(Failure::BadInput(msg)) => {
            errln!("snapsim: error: {msg}");
            2
        }
        Err(Failure::Io(e)) => {
            errln!("snapsim: error: {e:#}");
            2
        }
    }
}
