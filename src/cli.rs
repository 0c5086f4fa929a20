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

use snapsim::engine::{Time, TraceMode};
use snapsim::protocols::ProtocolKind;
use snapsim::report::{fmt_ns, group};
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
    protocol: Option<ProtocolKind>,
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

fn parse_protocol(s: &str) -> Result<ProtocolKind, String> {
    s.parse()
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
    let protocol = match args.protocol {
        Some(p) => p,
        None => scenario_protocol(&scenario)
            .map_err(|e| Failure::BadInput(format!("{}: {e}", args.scenario.display())))?,
    };
    let opts = RunOptions {
        protocol,
        seed: args.seed,
        trace: TraceMode::HashOnly,
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
