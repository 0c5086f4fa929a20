//! The comparison of protocols over seeds: one row per protocol, the same numbers in the
//! terminal table, `summary.json` and `summary.csv`.

use serde::Serialize;

use super::{fmt_bytes, fmt_ns, percentile, RunResult};
use crate::engine::Time;

/// One protocol's figures over all its runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtocolSummary {
    /// Protocol (or mutant) name.
    pub protocol: String,
    /// Runs (seeds).
    pub runs: u64,
    /// Checkpoints completed, over all runs.
    pub completed: u64,
    /// Checkpoints aborted or expired, over all runs.
    pub failed: u64,
    /// Median checkpoint duration.
    pub duration_p50_ns: Option<Time>,
    /// 99th percentile checkpoint duration.
    pub duration_p99_ns: Option<Time>,
    /// Median operator state per checkpoint.
    pub state_bytes_p50: Option<u64>,
    /// Median channel state per checkpoint.
    pub channel_state_bytes_p50: Option<u64>,
    /// Median of the longest alignment per checkpoint.
    pub alignment_ns_p50: Option<Time>,
    /// Mean throughput over runs (records per simulated second at the sinks).
    pub throughput_per_sec: f64,
    /// Runs whose verdict was ok.
    pub ok_runs: u64,
    /// Median over runs of each run's median source-to-sink record latency.
    pub latency_p50_ns: Option<Time>,
    /// Median over runs of each run's 99th-percentile record latency.
    pub latency_p99_ns: Option<Time>,
    /// Failures over all runs.
    pub failures: u64,
    /// Mean downtime per failure (detection, restart and restore), over the failures the
    /// job restarted from.
    pub downtime_ns_mean: Option<Time>,
    /// Runs whose job failed because the restart strategy gave up.
    pub jobs_failed: u64,
}

fn median(mut v: Vec<u64>) -> Option<u64> {
    v.sort_unstable();
    percentile(&v, 50)
}

/// Summarises `runs` per protocol, in first-seen order.
pub fn summarise(runs: &[RunResult]) -> Vec<ProtocolSummary> {
    let mut names: Vec<&str> = Vec::new();
    for r in runs {
        if !names.contains(&r.protocol.as_str()) {
            names.push(&r.protocol);
        }
    }
    names
        .into_iter()
        .map(|p| {
            let mine: Vec<&RunResult> = runs.iter().filter(|r| r.protocol == p).collect();
            let cps: Vec<_> = mine.iter().flat_map(|r| &r.checkpoints).collect();
            let done: Vec<_> = cps.iter().filter(|c| c.completed()).collect();
            let completed = done.len() as u64;
            // Durations and sizes describe checkpoints taken while the job ran.
            let done: Vec<_> = done.into_iter().filter(|c| !c.at_end).collect();
            let downtimes: Vec<Time> = mine
                .iter()
                .flat_map(|r| r.failures.iter().filter(|f| !f.failed_job))
                .map(|f| f.downtime_ns)
                .collect();
            let mut d: Vec<Time> = done.iter().map(|c| c.duration_ns).collect();
            d.sort_unstable();
            ProtocolSummary {
                protocol: p.to_string(),
                runs: mine.len() as u64,
                completed,
                failed: cps.len() as u64 - completed,
                duration_p50_ns: percentile(&d, 50),
                duration_p99_ns: percentile(&d, 99),
                state_bytes_p50: median(done.iter().map(|c| c.state_bytes).collect()),
                channel_state_bytes_p50: median(
                    done.iter().map(|c| c.channel_state_bytes).collect(),
                ),
                alignment_ns_p50: median(done.iter().map(|c| c.alignment_ns_max).collect()),
                throughput_per_sec: (mine
                    .iter()
                    .map(|r| r.metrics.throughput_per_sec)
                    .sum::<f64>()
                    / mine.len().max(1) as f64)
                    .round(),
                ok_runs: mine.iter().filter(|r| r.verdict.ok).count() as u64,
                latency_p50_ns: median(
                    mine.iter()
                        .filter_map(|r| r.metrics.latency_p50_ns)
                        .collect(),
                ),
                latency_p99_ns: median(
                    mine.iter()
                        .filter_map(|r| r.metrics.latency_p99_ns)
                        .collect(),
                ),
                failures: mine.iter().map(|r| r.failures.len() as u64).sum(),
                downtime_ns_mean: (!downtimes.is_empty())
                    .then(|| downtimes.iter().sum::<Time>() / downtimes.len() as Time),
                jobs_failed: mine.iter().filter(|r| r.job_failed.is_some()).count() as u64,
            }
        })
        .collect()
}

/// `summary.json`.
pub fn to_json(rows: &[ProtocolSummary]) -> String {
    serde_json::to_string_pretty(rows).expect("summaries serialise") + "\n"
}

/// `summary.csv`, with a header line; empty cells where a figure does not exist.
pub fn to_csv(rows: &[ProtocolSummary]) -> String {
    let opt = |v: Option<u64>| v.map_or(String::new(), |x| x.to_string());
    let mut s = String::from(
        "protocol,runs,completed,failed,duration_p50_ns,duration_p99_ns,state_bytes_p50,channel_state_bytes_p50,alignment_ns_p50,throughput_per_sec,ok_runs,latency_p50_ns,latency_p99_ns,failures,downtime_ns_mean,jobs_failed\n",
    );
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.protocol,
            r.runs,
            r.completed,
            r.failed,
            opt(r.duration_p50_ns),
            opt(r.duration_p99_ns),
            opt(r.state_bytes_p50),
            opt(r.channel_state_bytes_p50),
            opt(r.alignment_ns_p50),
            r.throughput_per_sec,
            r.ok_runs,
            opt(r.latency_p50_ns),
            opt(r.latency_p99_ns),
            r.failures,
            opt(r.downtime_ns_mean),
            r.jobs_failed
        ));
    }
    s
}

/// The table for the terminal.
pub fn to_table(rows: &[ProtocolSummary]) -> String {
    let cell = |v: Option<u64>, f: fn(u64) -> String| v.map_or("-".to_string(), f);
    let mut s = format!(
        "{:<16} {:>5} {:>9} {:>6} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>8}\n",
        "protocol",
        "runs",
        "completed",
        "failed",
        "dur p50",
        "dur p99",
        "state",
        "channel",
        "alignment",
        "records/s",
        "lat p99",
        "downtime",
        "verdict"
    );
    for r in rows {
        s.push_str(&format!(
            "{:<16} {:>5} {:>9} {:>6} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>8}\n",
            r.protocol,
            r.runs,
            r.completed,
            r.failed,
            cell(r.duration_p50_ns, fmt_ns),
            cell(r.duration_p99_ns, fmt_ns),
            cell(r.state_bytes_p50, fmt_bytes),
            cell(r.channel_state_bytes_p50, fmt_bytes),
            cell(r.alignment_ns_p50, fmt_ns),
            super::group(r.throughput_per_sec as u64),
            cell(r.latency_p99_ns, fmt_ns),
            cell(r.downtime_ns_mean, fmt_ns),
            format!("{}/{} ok", r.ok_runs, r.runs)
        ));
    }
    s
}
