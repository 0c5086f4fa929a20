//! `snapsim sweep` and `snapsim merge`: a grid of scenario variants, whole or in shards.
//!
//! A shard writes its rows and a description of the whole sweep; merge checks that the
//! shards belong to one sweep and writes what the unsharded sweep would have written.

use std::path::{Path, PathBuf};

use clap::Args;

use snapsim::campaign::{self, SweepGrid, SweepRow};
use snapsim::protocols::ProtocolKind;
use snapsim::report::charts::{self, Series};
use snapsim::scenario::Scenario;

use super::args::{parse_protocol, parse_shard, parse_vary, Choice};
use super::files::{load, write_charts};
use super::output::{printable, shown, OutputSet};
use super::progress::count_bar;
use super::{limits, max_events, Failure};

#[derive(Args)]
pub(super) struct SweepArgs {
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
pub(super) struct MergeArgs {
    /// Directories written by `snapsim sweep --shard`.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "results")]
    out: PathBuf,
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

pub(super) fn sweep(args: SweepArgs) -> Result<(), Failure> {
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
    let grid = checked_grid(&args, &scenario, &protocols)?;
    let total = grid.len();
    let mut set = OutputSet::begin("--out", &args.out)?;
    let rows = run_shard(&args, &scenario, &grid)?;
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

/// The sweep's grid, once every point's scenario is known to be valid: nothing runs before.
fn checked_grid(
    args: &SweepArgs,
    scenario: &Scenario,
    protocols: &[ProtocolKind],
) -> Result<SweepGrid, Failure> {
    let grid = SweepGrid::new(scenario, &args.vary, protocols, args.seeds, limits())
        .map_err(|e| Failure::BadInput(format!("{}: {e}", shown(&args.scenario))))?;
    for c in 0..grid.combos() {
        campaign::point_scenario(scenario, &grid.combo(c), limits())
            .map_err(|e| Failure::BadInput(format!("{}: --vary {e}", shown(&args.scenario))))?;
    }
    Ok(grid)
}

/// Runs this invocation's share of the grid (all of it without `--shard`) on `--jobs`
/// threads, with a progress bar.
fn run_shard(
    args: &SweepArgs,
    scenario: &Scenario,
    grid: &SweepGrid,
) -> Result<Vec<SweepRow>, Failure> {
    let mine = grid.indices(args.shard);
    let bar = count_bar(mine.len(), "runs");
    let tick = || {
        if let Some(b) = &bar {
            b.inc(1);
        }
    };
    let run = || campaign::run_points(scenario, grid, &mine, limits(), max_events(), &tick);
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
    Ok(rows)
}

pub(super) fn merge(args: MergeArgs) -> Result<(), Failure> {
    let mut set = OutputSet::begin("--out", &args.out)?;
    let mut meta: Option<SweepMeta> = None;
    let mut rows: Vec<SweepRow> = Vec::new();
    for dir in &args.dirs {
        let m = read_meta(dir)?;
        match &meta {
            None => meta = Some(m),
            Some(first) if *first != m => {
                return Err(Failure::BadInput(format!(
                    "{}: a shard of a different sweep",
                    shown(dir)
                )))
            }
            _ => {}
        }
        rows.extend(read_rows(dir)?);
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
    check_rows_fit(&meta, &rows)?;
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

/// A file of a shard's folder.
fn read_in(dir: &Path, name: &str) -> Result<String, Failure> {
    std::fs::read_to_string(dir.join(name))
        .map_err(|e| Failure::BadInput(format!("{}: cannot read: {e}", shown(&dir.join(name)))))
}

/// A shard's description without the shard it was, so that shards of one sweep compare equal.
fn read_meta(dir: &Path) -> Result<SweepMeta, Failure> {
    let mut meta: SweepMeta = serde_json::from_str(&read_in(dir, "sweep.meta.json")?)
        .map_err(|e| Failure::BadInput(format!("{}: {e}", shown(&dir.join("sweep.meta.json")))))?;
    meta.shard = None;
    Ok(meta)
}

/// A shard's rows.
fn read_rows(dir: &Path) -> Result<Vec<SweepRow>, Failure> {
    let mut rows = Vec::new();
    for (i, line) in read_in(dir, "sweep.jsonl")?.lines().enumerate() {
        let row: SweepRow = serde_json::from_str(line).map_err(|e| {
            Failure::BadInput(format!(
                "{}: line {}: {e}",
                shown(&dir.join("sweep.jsonl")),
                i + 1
            ))
        })?;
        rows.push(row);
    }
    Ok(rows)
}

/// Refuses a row that is no point of the grid `meta` describes: the same fields in the same
/// order, known values, a protocol of the sweep.
fn check_rows_fit(meta: &SweepMeta, rows: &[SweepRow]) -> Result<(), Failure> {
    for r in rows {
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
    Ok(())
}

/// The sweep's description as its file holds it.
fn meta_json(meta: &SweepMeta) -> Vec<u8> {
    let text = serde_json::to_string_pretty(meta).unwrap_or_default();
    (text + "\n").into_bytes()
}

/// Writes a complete sweep: meta, JSONL, CSV and the charts against the first varied field.
fn write_sweep(
    meta: &SweepMeta,
    rows: &[SweepRow],
    set: &mut OutputSet,
) -> Result<Vec<String>, Failure> {
    set.add("sweep.meta.json", &meta_json(meta))?;
    set.add("sweep.jsonl", campaign::rows_jsonl(rows).as_bytes())?;
    set.add("sweep.csv", campaign::rows_csv(rows).as_bytes())?;
    let Some((path, values)) = meta.vary.first() else {
        return Err(Failure::BadInput("the sweep varies no field".into()));
    };
    let series = |metric: &dyn Fn(&SweepRow) -> Option<f64>| line_series(rows, values, metric);
    // Titles name the field by its last part; the x axis gives the whole path.
    let field = path.rsplit('.').next().unwrap_or(path);
    let charts = [
        charts::lines(
            "sweep-duration",
            &format!(
                "{}: median checkpoint duration against {field}",
                meta.scenario
            ),
            path,
            "checkpoint duration (ms)",
            values,
            &series(&|r| r.duration_p50_ns.map(|d| d as f64 / 1e6)),
        ),
        charts::lines(
            "sweep-size",
            &format!("{}: median snapshot size against {field}", meta.scenario),
            path,
            "operator + channel state (KiB)",
            values,
            &series(&|r| match (r.state_bytes_p50, r.channel_state_bytes_p50) {
                (Some(a), Some(b)) => Some((a + b) as f64 / 1024.0),
                _ => None,
            }),
        ),
    ];
    // Costs only some scenarios have: downtime (failures), checkpointed bytes (a state backend).
    let has = |metric: &dyn Fn(&SweepRow) -> Option<u64>| rows.iter().any(|r| metric(r).is_some());
    let mut costs = Vec::new();
    if has(&|r| r.downtime_ns_mean) {
        costs.push(charts::lines(
            "sweep-downtime",
            &format!(
                "{}: mean downtime per failure against {field}",
                meta.scenario
            ),
            path,
            "downtime per failure (ms)",
            values,
            &series(&|r| r.downtime_ns_mean.map(|d| d as f64 / 1e6)),
        ));
    }
    if has(&|r| r.checkpointed_bytes_p50) {
        costs.push(charts::lines(
            "sweep-checkpointed",
            &format!(
                "{}: median checkpointed size against {field}",
                meta.scenario
            ),
            path,
            "bytes uploaded per checkpoint (KiB)",
            values,
            &series(&|r| r.checkpointed_bytes_p50.map(|b| b as f64 / 1024.0)),
        ));
    }
    write_charts(set, "", charts.into_iter().chain(costs))
}

/// One chart line per protocol and value of the other varied fields, with a sample of
/// `metric` at each of the first varied field's `values`.
fn line_series(
    rows: &[SweepRow],
    values: &[String],
    metric: &dyn Fn(&SweepRow) -> Option<f64>,
) -> Vec<Series> {
    let mut keys: Vec<String> = Vec::new();
    for r in rows {
        let k = line_name(r);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.iter()
        .map(|k| Series {
            name: k.clone(),
            samples: values
                .iter()
                .map(|v| {
                    rows.iter()
                        .filter(|r| r.vary.first().is_some_and(|(_, rv)| rv == v))
                        .filter(|r| &line_name(r) == k)
                        .filter_map(metric)
                        .collect()
                })
                .collect(),
        })
        .collect()
}

/// The chart line a row belongs to: its protocol and the values of all but the first varied
/// field, such as `aligned dataflow.operators[4].cost=5us`.
fn line_name(r: &SweepRow) -> String {
    let mut name = r.protocol.clone();
    for (p, v) in r.vary.iter().skip(1) {
        name.push_str(&format!(" {p}={v}"));
    }
    name
}
