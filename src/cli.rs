//! Commands, flags, files and exit codes. The only code that touches the filesystem.
//!
//! Exit codes: 0 success and every verification passed; 1 a verification found a violation;
//! 2 bad input (unreadable or invalid scenario, unknown protocol, bad flag). Results are
//! written to a temporary file and renamed into place, so no partial file is ever left.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration as WallDuration, Instant};

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use snapsim::campaign;
use snapsim::engine::Time;
use snapsim::mutant::Mutant;
use snapsim::protocols::ProtocolKind;
use snapsim::report::{fmt_ns, group};
use snapsim::scenario::FailureSpec;
use snapsim::scenario::Scenario;
use snapsim::trace::TraceMode;
use snapsim::{simulate, RunOptions};

#[macro_use]
mod output;
mod bench;

use output::{printable, shown, OutputSet};

const ABOUT: &str = "A deterministic simulator for distributed snapshot protocols";

#[derive(Parser)]
#[command(name = "snapsim", version, about = ABOUT, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Raise a size limit deliberately: KEY=VALUE, such as memory=8GiB or tasks=none
    /// (repeatable). Keys: memory (2GiB), file (16MiB), tasks, channels, in-flight, timeline,
    /// checkpoints, records, steps, failures, seeds, runs; the defaults are in the README.
    #[arg(long = "limit", global = true, value_name = "KEY=VALUE", value_parser = parse_limit)]
    limit: Vec<String>,
    /// Most events one run may take; past it the run stops with an error (exit 2), so no
    /// scenario can stall a check or a sweep.
    #[arg(long, global = true, default_value_t = snapsim::DEFAULT_MAX_EVENTS, value_parser = clap::value_parser!(u64).range(1..))]
    max_events: u64,
}

/// `--max-events` of this invocation.
static MAX_EVENTS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

fn max_events() -> u64 {
    MAX_EVENTS
        .get()
        .copied()
        .unwrap_or(snapsim::DEFAULT_MAX_EVENTS)
}

/// The limits of this invocation: the defaults raised by `--limit`.
static LIMITS: std::sync::OnceLock<snapsim::scenario::Limits> = std::sync::OnceLock::new();

fn limits() -> &'static snapsim::scenario::Limits {
    LIMITS.get_or_init(Default::default)
}

fn parse_limit(s: &str) -> Result<String, String> {
    snapsim::scenario::Limits::default().set(s)?;
    Ok(s.to_string())
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
    /// Vary scenario fields over a grid, under protocols and seeds, in parallel.
    #[command(
        after_help = "Examples:\n  snapsim sweep scenarios/backpressure.json --vary 'dataflow.operators[4].cost=5us,10us,20us,40us' --protocols aligned,unaligned --seeds 3 --out results/sweep\n  snapsim sweep ... --shard 0/2 --out part0   # then: snapsim merge part0 part1 --out results/sweep"
    )]
    Sweep(SweepArgs),
    /// Join sharded sweep outputs into one, identical to an unsharded sweep.
    #[command(after_help = "Example:\n  snapsim merge part0 part1 --out results/sweep")]
    Merge(MergeArgs),
    /// Export a run's events for other tools: JSON lines, Perfetto, or ShiViz.
    #[command(
        after_help = "Example:\n  snapsim trace scenarios/cl-paper.json --format perfetto --out cl-paper.perfetto.json"
    )]
    Trace(TraceArgs),
    /// Draw a space-time diagram of a run as SVG.
    #[command(
        after_help = "Example:\n  snapsim diagram scenarios/cl-paper.json --out results/cl-paper-diagram.svg\n  snapsim diagram scenarios/quickstart.json --from 200ms --until 203ms --out q.svg"
    )]
    Diagram(DiagramArgs),
    /// Verify runs over many seeds, or show that every mutant is caught.
    #[command(
        after_help = "Examples:\n  snapsim check scenarios/failures.json --seeds 50\n  snapsim check scenarios/*.json --mutants\n  snapsim check --mutants --list"
    )]
    Check(CheckArgs),
    /// Run the reference performance workloads: events/s, ns/event, peak memory.
    #[command(after_help = "Examples:\n  snapsim bench\n  snapsim bench --json --quick")]
    Bench(bench::BenchArgs),
    /// Print the JSON Schema of scenario files.
    #[command(after_help = "Example:\n  snapsim schema > scenarios/schema/scenario.schema.json")]
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
struct SweepArgs {
    /// The scenario file.
    scenario: PathBuf,
    /// A field and its values: PATH=V1,V2,... (repeatable; several make a grid).
    #[arg(long = "vary", required = true, value_parser = parse_vary)]
    vary: Vec<(String, Vec<String>)>,
    /// Protocols (comma separated); default: every protocol that applies.
    #[arg(long, visible_alias = "protocol", value_delimiter = ',', value_parser = parse_protocol)]
    protocols: Vec<Choice>,
    /// Seeds per point (seeds 0..N of the scenario's seed stream).
    #[arg(long, default_value_t = 3)]
    seeds: u32,
    /// Worker threads; default: all cores. Results do not depend on it.
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only slice I of N (0-based), for array jobs; join the slices with `snapsim merge`.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
    /// Output directory.
    #[arg(long, default_value = "results")]
    out: PathBuf,
}

#[derive(Args)]
struct MergeArgs {
    /// Directories written by `snapsim sweep --shard`.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "results")]
    out: PathBuf,
}

fn parse_vary(s: &str) -> Result<(String, Vec<String>), String> {
    let (path, values) = s.split_once('=').ok_or_else(|| {
        format!("`{s}`: write PATH=V1,V2,..., such as checkpointing.interval=50ms,100ms")
    })?;
    let values: Vec<String> = values
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
        .collect();
    if path.is_empty() || values.is_empty() {
        return Err(format!("`{s}`: needs a field path and at least one value"));
    }
    Ok((path.to_string(), values))
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}`: write I/N with 0 <= I < N, such as 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// What a sweep was: written beside its rows so that shards can be merged.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct SweepMeta {
    scenario: String,
    vary: Vec<(String, Vec<String>)>,
    protocols: Vec<String>,
    seeds: u32,
    points: usize,
    /// Present only in a shard's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shard: Option<(usize, usize)>,
}

/// Writes each chart as `DIR/PREFIXNAME.svg` and `.png`; returns the SVG paths.
fn write_charts(
    set: &mut OutputSet,
    prefix: &str,
    charts: impl IntoIterator<Item = Result<snapsim::report::charts::Chart, String>>,
) -> Result<Vec<String>, Failure> {
    let mut written = Vec::new();
    for chart in charts {
        let chart = chart.map_err(|e| Failure::Io(anyhow::anyhow!("drawing a chart: {e}")))?;
        let stem = format!("{prefix}{}", chart.name);
        let svg = set.add(&format!("{stem}.svg"), chart.svg.as_bytes())?;
        set.add(&format!("{stem}.png"), &chart.png)?;
        written.push(shown(&svg));
    }
    Ok(written)
}

/// The sweep's description as its file holds it.
fn meta_json(meta: &SweepMeta) -> Vec<u8> {
    let text = serde_json::to_string_pretty(meta).unwrap_or_default();
    (text + "\n").into_bytes()
}

/// A bar counting `n` pieces of work on stderr, when it is a terminal.
fn count_bar(n: usize, what: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let b = ProgressBar::new(n as u64);
    let template = format!(
        "{{spinner}} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {what} (eta {{eta}})"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        b.set_style(style);
    }
    Some(b)
}

/// Runs jobs in parallel with a progress bar over them.
fn run_with_bar(scenarios: &[Scenario], jobs: &[(usize, RunOptions)]) -> Vec<campaign::Outcome> {
    let bar = count_bar(jobs.len(), "runs");
    let tick = || {
        if let Some(b) = &bar {
            b.inc(1);
        }
    };
    let outcomes = campaign::run_all_ticking(scenarios, jobs, &tick);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    outcomes
}

/// Writes a complete sweep: meta, JSONL, CSV and the charts against the first varied field.
fn write_sweep(
    meta: &SweepMeta,
    rows: &[campaign::SweepRow],
    set: &mut OutputSet,
) -> Result<Vec<String>, Failure> {
    set.add("sweep.meta.json", &meta_json(meta))?;
    set.add("sweep.jsonl", campaign::rows_jsonl(rows).as_bytes())?;
    set.add("sweep.csv", campaign::rows_csv(rows).as_bytes())?;
    let Some((path, values)) = meta.vary.first() else {
        return Err(Failure::BadInput("the sweep varies no field".into()));
    };
    // One line per protocol and value of the other varied fields.
    let mut keys: Vec<String> = Vec::new();
    for r in rows {
        let mut k = r.protocol.clone();
        for (p, v) in r.vary.iter().skip(1) {
            k.push_str(&format!(" {p}={v}"));
        }
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let series = |metric: &dyn Fn(&campaign::SweepRow) -> Option<f64>| -> Vec<snapsim::report::charts::Series> {
        keys.iter()
            .map(|k| snapsim::report::charts::Series {
                name: k.clone(),
                samples: values
                    .iter()
                    .map(|v| {
                        rows.iter()
                            .filter(|r| r.vary.first().is_some_and(|(_, rv)| rv == v))
                            .filter(|r| {
                                let mut kk = r.protocol.clone();
                                for (p, v) in r.vary.iter().skip(1) {
                                    kk.push_str(&format!(" {p}={v}"));
                                }
                                &kk == k
                            })
                            .filter_map(metric)
                            .collect()
                    })
                    .collect(),
            })
            .collect()
    };
    let charts = [
        snapsim::report::charts::lines(
            "sweep-duration",
            &format!(
                "{}: median checkpoint duration against {path}",
                meta.scenario
            ),
            path,
            "checkpoint duration (ms)",
            values,
            &series(&|r| r.duration_p50_ns.map(|d| d as f64 / 1e6)),
        ),
        snapsim::report::charts::lines(
            "sweep-size",
            &format!("{}: median snapshot size against {path}", meta.scenario),
            path,
            "operator + channel state (KiB)",
            values,
            &series(&|r| match (r.state_bytes_p50, r.channel_state_bytes_p50) {
                (Some(a), Some(b)) => Some((a + b) as f64 / 1024.0),
                _ => None,
            }),
        ),
    ];
    write_charts(set, "", charts)
}

fn sweep(args: SweepArgs) -> Result<(), Failure> {
    let scenario = load(&args.scenario)?;
    let protocols: Vec<ProtocolKind> = if args.protocols.is_empty() {
        campaign::applicable(&scenario)
    } else {
        args.protocols.iter().map(|c| c.protocol).collect()
    };
    if args.jobs.is_some_and(|j| j > 1024) {
        return Err(Failure::BadInput(
            "--jobs: at most 1024 worker threads".to_string(),
        ));
    }
    let grid = campaign::SweepGrid::new(&scenario, &args.vary, &protocols, args.seeds, limits())
        .map_err(|e| Failure::BadInput(format!("{}: {e}", shown(&args.scenario))))?;
    // Every point's scenario must be valid before anything runs.
    for c in 0..grid.combos() {
        campaign::point_scenario(&scenario, &grid.combo(c), limits())
            .map_err(|e| Failure::BadInput(format!("{}: --vary {e}", shown(&args.scenario))))?;
    }
    let total = grid.len();
    let mut set = OutputSet::begin("--out", &args.out)?;
    let mine = grid.indices(args.shard);
    let bar = count_bar(mine.len(), "runs");
    let tick = || {
        if let Some(b) = &bar {
            b.inc(1);
        }
    };
    let run = || campaign::run_points(&scenario, &grid, &mine, limits(), max_events(), &tick);
    let rows = match args.jobs {
        Some(j) => rayon::ThreadPoolBuilder::new()
            .num_threads(j.max(1))
            .build()
            .map_err(|e| Failure::Io(anyhow::anyhow!("starting {j} threads: {e}")))?
            .install(run),
        None => run(),
    }
    .map_err(|e| Failure::BadInput(format!("{}: {e}", shown(&args.scenario))))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let meta = SweepMeta {
        scenario: scenario.name().to_string(),
        vary: args.vary.clone(),
        protocols: protocols.iter().map(|p| p.name().to_string()).collect(),
        seeds: args.seeds,
        points: total,
        shard: args.shard,
    };
    if let Some((shard_i, shard_n)) = args.shard {
        set.add("sweep.meta.json", &meta_json(&meta))?;
        set.add("sweep.jsonl", campaign::rows_jsonl(&rows).as_bytes())?;
        set.commit()?;
        outln!(
            "shard {}/{}: {} of {} runs written to {}; join the shards with `snapsim merge`",
            shard_i,
            shard_n,
            rows.len(),
            total,
            shown(&args.out)
        );
    } else {
        let written = write_sweep(&meta, &rows, &mut set)?;
        set.commit()?;
        outln!(
            "{} runs written to {} (sweep.jsonl, sweep.csv, charts {})",
            rows.len(),
            shown(&args.out),
            written.join(", ")
        );
    }
    let bad = rows.iter().filter(|r| !r.ok).count();
    if bad == 0 {
        Ok(())
    } else {
        outln!("{bad} runs with violations; see sweep.csv (column ok)");
        Err(Failure::Violation)
    }
}

fn merge(args: MergeArgs) -> Result<(), Failure> {
    let mut set = OutputSet::begin("--out", &args.out)?;
    let mut meta: Option<SweepMeta> = None;
    let mut rows: Vec<campaign::SweepRow> = Vec::new();
    for dir in &args.dirs {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).map_err(|e| {
                Failure::BadInput(format!("{}: cannot read: {e}", shown(&dir.join(name))))
            })
        };
        let m: SweepMeta = serde_json::from_str(&read("sweep.meta.json")?).map_err(|e| {
            Failure::BadInput(format!("{}: {e}", shown(&dir.join("sweep.meta.json"))))
        })?;
        let mut plain = m.clone();
        plain.shard = None;
        match &meta {
            None => meta = Some(plain),
            Some(first) if *first != plain => {
                return Err(Failure::BadInput(format!(
                    "{}: a shard of a different sweep",
                    shown(dir)
                )))
            }
            _ => {}
        }
        for (i, line) in read("sweep.jsonl")?.lines().enumerate() {
            let row: campaign::SweepRow = serde_json::from_str(line).map_err(|e| {
                Failure::BadInput(format!(
                    "{}: line {}: {e}",
                    shown(&dir.join("sweep.jsonl")),
                    i + 1
                ))
            })?;
            rows.push(row);
        }
    }
    let Some(meta) = meta else {
        return Err(Failure::BadInput("merge: name at least one folder".into()));
    };
    if meta.vary.is_empty() {
        return Err(Failure::BadInput(format!(
            "{}: sweep.meta.json: vary: the sweep varies no field; is it a sweep's output?",
            shown(&args.dirs[0])
        )));
    }
    // Every row must belong to this grid: the same fields in the same order, known values.
    for r in &rows {
        let fits = r.vary.len() == meta.vary.len()
            && r.vary
                .iter()
                .zip(&meta.vary)
                .all(|((p, v), (mp, mv))| p == mp && mv.contains(v))
            && meta.protocols.contains(&r.protocol);
        if !fits {
            return Err(Failure::BadInput(format!(
                "sweep.jsonl: run {} ({} {}) is not a point of the sweep in sweep.meta.json; \
                 are the folders shards of one sweep?",
                r.index,
                printable(&r.protocol),
                printable(
                    &r.vary
                        .iter()
                        .map(|(p, v)| format!("{p}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            )));
        }
    }
    rows.sort_by_key(|r| r.index);
    rows.dedup_by_key(|r| r.index);
    if rows.len() != meta.points || rows.iter().enumerate().any(|(i, r)| r.index != i) {
        return Err(Failure::BadInput(format!(
            "the shards hold {} of the sweep's {} runs; is one missing?",
            rows.len(),
            meta.points
        )));
    }
    let written = write_sweep(&meta, &rows, &mut set)?;
    set.commit()?;
    outln!(
        "{} runs merged into {} (sweep.jsonl, sweep.csv, charts {})",
        rows.len(),
        shown(&args.out),
        written.join(", ")
    );
    Ok(())
}

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
struct TraceArgs {
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

#[derive(Args)]
struct DiagramArgs {
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

fn parse_time(s: &str) -> Result<u64, String> {
    s.parse::<snapsim::scenario::Duration>().map(|d| d.ns())
}

/// Runs a scenario with its full trace kept, for exports and diagrams.
fn traced_run(
    path: &Path,
    protocol: Option<Choice>,
    seed: Option<u64>,
) -> Result<
    (
        Scenario,
        snapsim::report::RunResult,
        snapsim::sim::RunOutput,
    ),
    Failure,
> {
    let scenario = load(path)?;
    let choice = match protocol {
        Some(c) => c,
        None => Choice {
            protocol: scenario_protocol(&scenario)
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

fn trace(args: TraceArgs) -> Result<(), Failure> {
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

fn diagram(args: DiagramArgs) -> Result<(), Failure> {
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

#[derive(Args)]
struct CompareArgs {
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

#[derive(Args)]
struct CheckArgs {
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
        Command::Run(args) => run(args),
        Command::Validate(args) => validate(args),
        Command::Check(args) => check(args),
        Command::Compare(args) => compare(args),
        Command::Trace(args) => trace(args),
        Command::Sweep(args) => sweep(args),
        Command::Merge(args) => merge(args),
        Command::Diagram(args) => diagram(args),
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

/// Reads and validates a scenario file; every problem names the file.
fn load(path: &Path) -> Result<Scenario, Failure> {
    use std::io::Read;
    // Read at most one byte past the size limit: the parser refuses anything longer.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(limits().file_bytes.saturating_add(1))
                .read_to_end(&mut bytes)
        })
        .map_err(|e| Failure::BadInput(format!("{}: cannot read: {e}", shown(path))))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scenario")
        .to_string();
    Scenario::from_json_limited(&bytes, &stem, limits())
        .map_err(|e| Failure::BadInput(format!("{}: {e}", shown(path))))
}

/// The protocol a scenario names (validation has checked the name).
fn scenario_protocol(s: &Scenario) -> Result<ProtocolKind, String> {
    match &s.checkpointing {
        Some(c) => c
            .protocol
            .parse()
            .map_err(|e| format!("checkpointing.protocol: {e}")),
        None => Ok(ProtocolKind::baseline()),
    }
}

fn validate(args: ValidateArgs) -> Result<(), Failure> {
    let mut invalid = 0;
    for path in &args.scenarios {
        match load(path) {
            Ok(s) => {
                outln!("{}: ok ({})", shown(path), s.name());
                for warning in snapsim::failure::warnings(&s) {
                    errln!("snapsim: warning: {}: {}", shown(path), printable(&warning));
                }
            }
            Err(Failure::BadInput(msg)) => {
                errln!("snapsim: error: {msg}");
                invalid += 1;
            }
            Err(other) => return Err(other),
        }
    }
    if invalid == 0 {
        return Ok(());
    }
    // Every bad file has been reported above; report the count once more for scripts.
    Err(Failure::BadInput(format!(
        "{invalid} of {} scenario files are invalid",
        args.scenarios.len()
    )))
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
        .validate_limited(limits())
        .map_err(|e| Failure::BadInput(format!("{}: --fail: {e}", shown(&args.scenario))))?;
    let choice = match args.protocol {
        Some(p) => p,
        None => Choice {
            protocol: scenario_protocol(&scenario)
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
    let file = set.add(
        &snapsim::scenario::results_file_name(&result.scenario, &result.protocol, result.seed),
        result.to_json().as_bytes(),
    )?;
    set.commit()?;
    if !args.quiet {
        out!("{}", result.summary());
        outln!(
            "  {:<14}{:.2} s, {:.2} M events/s ({} per event)",
            "wall time",
            elapsed,
            result.events as f64 / elapsed.max(1e-9) / 1e6,
            fmt_ns((elapsed * 1e9 / result.events.max(1) as f64) as Time)
        );
        outln!("  {:<14}{}", "results", shown(&file));
    }
    if result.verdict.ok {
        Ok(())
    } else {
        Err(Failure::Violation)
    }
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

fn check(args: CheckArgs) -> Result<(), Failure> {
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
    let show = |i: usize| shown(&args.scenarios[i]);
    let mut set = match &args.out {
        Some(dir) if !args.mutants => {
            // Results files are named after the scenario: two files of one name would collide.
            for (i, a) in scenarios.iter().enumerate() {
                if let Some(j) = scenarios[..i].iter().position(|b| b.name() == a.name()) {
                    return Err(Failure::BadInput(format!(
                        "{} and {}: both scenarios are named `{}`, so their results files would \
                         overwrite each other in {}; give one another `name`",
                        show(j),
                        show(i),
                        printable(a.name()),
                        shown(dir)
                    )));
                }
            }
            Some(OutputSet::begin("--out", dir)?)
        }
        _ => None,
    };
    if args.mutants {
        let mut missed = 0;
        let bar = count_bar(Mutant::ALL.len(), "mutants");
        for &m in Mutant::ALL {
            let found = campaign::hunt(m, &scenarios, args.seeds, max_events());
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
    let mut jobs = campaign::check_jobs(
        &scenarios,
        (!chosen.is_empty()).then_some(&chosen[..]),
        args.seeds,
    );
    for (_, opts) in &mut jobs {
        opts.max_events = max_events();
    }
    let outcomes = run_with_bar(&scenarios, &jobs);
    let mut bad = 0;
    let mut rows: std::collections::BTreeMap<(usize, String), CheckRow> = Default::default();
    for o in &outcomes {
        let row = rows.entry((o.scenario, o.label.clone())).or_default();
        row.runs += 1;
        if let (Some(set), Ok(r)) = (set.as_mut(), &o.result) {
            let file = snapsim::scenario::results_file_name(&r.scenario, &r.protocol, r.seed);
            set.add(&file, r.to_json().as_bytes())?;
        }
        if let Ok(Some(eo)) = o.result.as_ref().map(|r| &r.verdict.exactly_once) {
            row.lost += eo.lost;
            row.duplicated += eo.duplicated;
            row.out_of_order += eo.out_of_order;
        }
        match &o.result {
            Ok(r) if r.verdict.ok => {}
            Ok(r) => {
                bad += 1;
                row.violations += 1;
                if let Some(eo) = &r.verdict.exactly_once {
                    outln!(
                        "{} under {} seed {}: lost {}, duplicated {}, out of order {}",
                        show(o.scenario),
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
                        show(o.scenario),
                        o.label,
                        o.seed,
                        v.kind,
                        v.message
                    );
                }
                outln!(
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
    if let Some(set) = set {
        set.commit()?;
    }
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
    for ((i, label), row) in &rows {
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

fn compare(args: CompareArgs) -> Result<(), Failure> {
    campaign::check_seeds(args.seeds, limits()).map_err(Failure::BadInput)?;
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
                shown(&args.scenario)
            )));
        }
    }
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
        let file = snapsim::scenario::results_file_name(&r.scenario, &r.protocol, r.seed);
        set.add(&file, r.to_json().as_bytes())?;
    }
    let rows = snapsim::report::summary::summarise(&results);
    set.add(
        "summary.json",
        snapsim::report::summary::to_json(&rows).as_bytes(),
    )?;
    set.add(
        "summary.csv",
        snapsim::report::summary::to_csv(&rows).as_bytes(),
    )?;
    let seed_list: Vec<u64> = campaign::seeds(scenarios[0].seed, args.seeds);
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
    // A timeline per protocol, from its first seed.
    let mut charts: Vec<Result<snapsim::report::charts::Chart, String>> =
        charts.into_iter().collect();
    for row in &rows {
        let Some(r) = results.iter().find(|r| r.protocol == row.protocol) else {
            continue;
        };
        let tl = &r.metrics.timeline;
        let bucket_ms = tl.bucket_ns as f64 / 1e6;
        let data = snapsim::report::charts::TimelineData {
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
                        c.status == "completed",
                    )
                })
                .collect(),
            crashes: r.failures.iter().map(|f| f.at_ns as f64 / 1e6).collect(),
        };
        charts.push(snapsim::report::charts::timeline(
            &format!("timeline-{}", r.protocol),
            &format!(
                "{name} under {} (seed {}): throughput and back-pressure over time",
                r.protocol, r.seed
            ),
            &r.protocol,
            &data,
        ));
    }
    let written = write_charts(&mut set, &format!("{name}-"), charts)?;
    set.commit()?;
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
    out!("{}", snapsim::report::summary::to_table(&rows));
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
