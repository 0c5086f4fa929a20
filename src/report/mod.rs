//! Results of runs: the results file (JSON, byte-identical for the same inputs) and the human
//! summary. Nothing here touches the filesystem; the command line writes what this produces.

pub mod charts;
pub mod diagram;
pub mod export;
pub mod summary;

use serde::Serialize;

use crate::checker::Verdict;
use crate::coordinator::CheckpointRecord;
use crate::engine::Time;
use crate::failure::FailureRecord;
pub use crate::human::{fmt_bytes, fmt_ns, group};
use crate::sim::RunOutput;

/// Figures of a run beyond the contract's minimum.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Records read by sources.
    pub records_in: u64,
    /// Records written by sinks.
    pub records_out: u64,
    /// Records written per second of the job's active time (`active_ns`); 0 when that is
    /// zero.
    pub throughput_per_sec: f64,
    /// The job's active time: from the first record a source read to the last record a sink
    /// wrote (0 without either). Unlike `sim_time_ns` it leaves out a final checkpoint and
    /// anything else after the last output.
    pub active_ns: Time,
    /// Median source-to-sink latency.
    pub latency_p50_ns: Option<Time>,
    /// 99th percentile source-to-sink latency.
    pub latency_p99_ns: Option<Time>,
    /// Data messages sent over all channels.
    pub data_messages: u64,
    /// Control messages sent over all channels.
    pub control_messages: u64,
    /// Time tasks spent stopped by back-pressure, summed over tasks.
    pub backpressure_ns_total: Time,
    /// Throughput and back-pressure over time.
    pub timeline: Timeline,
    /// Per task.
    pub tasks: Vec<TaskMetrics>,
    /// Per input gate, what buffer debloating came to; absent when it is off.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buffer_debloat: Vec<GateMetrics>,
}

/// One input gate under buffer debloating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateMetrics {
    /// The receiving task.
    pub task: String,
    /// The upstream operator (or process group) the gate reads from.
    pub from: String,
    /// The buffer size in force at the end, in bytes.
    pub final_buffer_size: u64,
    /// The buffer size averaged over the debloating periods, in bytes.
    pub mean_buffer_size: u64,
    /// Data bytes in flight to the gate (senders' queues, wire, input queues), averaged over
    /// the periods.
    pub mean_in_flight_bytes: u64,
    /// The most data bytes in flight to the gate seen at a period.
    pub max_in_flight_bytes: u64,
    /// Buffer sizes announced to the senders.
    pub announcements: u64,
}

/// A run over time, in buckets of a hundredth of the scenario's duration (wider for a run
/// longer than twice the duration: at most 200 buckets). It ends with the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// Width of a bucket.
    pub bucket_ns: Time,
    /// Records written by sinks in each bucket.
    pub records_out: Vec<u64>,
    /// Average number of back-pressured tasks in each bucket.
    pub backpressured_tasks: Vec<f64>,
}

/// Per-task figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskMetrics {
    /// Task name.
    pub name: String,
    /// Records processed.
    pub records_in: u64,
    /// Records emitted.
    pub records_out: u64,
    /// Time stopped by back-pressure.
    pub backpressure_ns: Time,
    /// State size at the end.
    pub state_bytes: u64,
}

/// The results file of one run, in the contract's field order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    /// Scenario name.
    pub scenario: String,
    /// Protocol name.
    pub protocol: String,
    /// The seed of this run.
    pub seed: u64,
    /// Events taken from the engine's queue.
    pub events: u64,
    /// Simulated time of the last event.
    pub sim_time_ns: Time,
    /// Every checkpoint.
    pub checkpoints: Vec<CheckpointRecord>,
    /// Every failure.
    pub failures: Vec<FailureRecord>,
    /// Every planned failure that did not happen, with why, in the scenario's order.
    pub unfired_failures: Vec<crate::failure::UnfiredFailure>,
    /// Set when the restart strategy gave up and the job failed (the run stopped there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_failed: Option<crate::failure::JobFailure>,
    /// The checker's verdict.
    pub verdict: Verdict,
    /// Throughput, latency, back-pressure.
    pub metrics: Metrics,
    /// Hash of the event trace.
    pub trace_hash: String,
}

/// A failure's downtime split into its parts, ` (detection 3 ms, restart 20 ms, ...)`, when it
/// has more than the restart delay; empty otherwise.
fn downtime_parts(f: &FailureRecord) -> String {
    if f.detection_ns == 0 && f.restore_ns == 0 && f.replay_ns.is_none() {
        return String::new();
    }
    let mut parts = vec![
        format!("detection {}", fmt_ns(f.detection_ns)),
        format!("restart {}", fmt_ns(f.restart_ns)),
    ];
    match (f.restore_remote_ns, f.restore_local_ns) {
        (Some(remote), Some(local)) => parts.push(format!(
            "restore {} remote + {} local",
            fmt_ns(remote),
            fmt_ns(local)
        )),
        _ => parts.push(format!("restore {}", fmt_ns(f.restore_ns))),
    }
    if let Some(replay) = f.replay_ns {
        parts.push(format!("replay {}", fmt_ns(replay)));
    }
    format!(" ({})", parts.join(", "))
}

/// The `p`-th percentile (0..=100) of sorted values, nearest rank.
pub fn percentile(sorted: &[Time], p: u32) -> Option<Time> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

impl RunResult {
    /// Assembles the results of a finished and verified run.
    pub fn new(
        scenario: &str,
        protocol: &str,
        seed: u64,
        run: &mut RunOutput,
        verdict: Verdict,
    ) -> Self {
        let lat = &mut run.counters.latencies;
        lat.sort_unstable();
        let records_out = run.counters.sink_records;
        let active_ns = match run.counters.first_read_ns {
            Some(first) if records_out > 0 => run.counters.last_output_ns.saturating_sub(first),
            _ => 0,
        };
        let secs = active_ns as f64 / 1e9;
        let metrics = Metrics {
            records_in: run.counters.source_records,
            records_out,
            throughput_per_sec: if secs > 0.0 {
                (records_out as f64 / secs).round()
            } else {
                0.0
            },
            active_ns,
            latency_p50_ns: percentile(lat, 50),
            latency_p99_ns: percentile(lat, 99),
            data_messages: run.counters.data_messages,
            control_messages: run.counters.control_messages,
            backpressure_ns_total: run.tasks.iter().map(|t| t.backpressure_ns).sum(),
            timeline: {
                let c = &run.counters;
                let n = c.timeline_out.len().max(c.timeline_bp.len());
                let mut out = c.timeline_out.clone();
                out.resize(n, 0);
                let mut bp: Vec<f64> = c
                    .timeline_bp
                    .iter()
                    .map(|&ns| (ns as f64 / c.bucket_ns as f64 * 1000.0).round() / 1000.0)
                    .collect();
                bp.resize(n, 0.0);
                Timeline {
                    bucket_ns: c.bucket_ns,
                    records_out: out,
                    backpressured_tasks: bp,
                }
            },
            tasks: run
                .tasks
                .iter()
                .map(|t| TaskMetrics {
                    name: t.name.clone(),
                    records_in: t.records_in,
                    records_out: t.records_out,
                    backpressure_ns: t.backpressure_ns,
                    state_bytes: t.state_bytes,
                })
                .collect(),
            buffer_debloat: run
                .debloat
                .iter()
                .map(|g| GateMetrics {
                    task: g.task.clone(),
                    from: g.from.clone(),
                    final_buffer_size: g.final_size,
                    mean_buffer_size: g.mean_size,
                    mean_in_flight_bytes: g.mean_in_flight,
                    max_in_flight_bytes: g.max_in_flight,
                    announcements: g.announcements,
                })
                .collect(),
        };
        RunResult {
            scenario: scenario.to_string(),
            protocol: protocol.to_string(),
            seed,
            events: run.events,
            sim_time_ns: run.sim_time_ns,
            checkpoints: std::mem::take(&mut run.checkpoints),
            failures: std::mem::take(&mut run.failures),
            unfired_failures: std::mem::take(&mut run.unfired),
            job_failed: run.job_failure.take(),
            verdict,
            metrics,
            trace_hash: run.trace.hash_hex(),
        }
    }

    /// The results file's content.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results always serialise") + "\n"
    }

    /// One line on what the run's failures did (none when it had none planned or fired):
    /// crashes, the checkpoints restored, records replayed, downtime, and how many did not
    /// fire.
    pub fn failures_line(&self) -> Option<String> {
        if self.failures.is_empty() && self.unfired_failures.is_empty() {
            return None;
        }
        let restored: Vec<String> = self
            .failures
            .iter()
            .filter(|f| !f.failed_job)
            .map(|f| {
                f.restored_checkpoint
                    .map_or("none".into(), |c| c.to_string())
            })
            .collect();
        let mut line = format!(
            "{} crash{}",
            self.failures.len(),
            if self.failures.len() == 1 { "" } else { "es" }
        );
        if !self.failures.is_empty() {
            line.push_str(&format!(
                ", restored checkpoints {}, {} records replayed, {} down",
                restored.join(" "),
                group(self.failures.iter().map(|f| f.replayed_records).sum()),
                fmt_ns(self.failures.iter().map(|f| f.downtime_ns).sum())
            ));
        }
        if let Some(j) = &self.job_failed {
            line.push_str(&format!("; the job failed at {}", fmt_ns(j.at_ns)));
        }
        if !self.unfired_failures.is_empty() {
            line.push_str(&format!(
                "; {} planned failure{} did not fire",
                self.unfired_failures.len(),
                if self.unfired_failures.len() == 1 {
                    ""
                } else {
                    "s"
                }
            ));
        }
        Some(line)
    }

    /// A readable summary for the terminal.
    pub fn summary(&self) -> String {
        let m = &self.metrics;
        let mut s = String::new();
        let line = |s: &mut String, k: &str, v: String| s.push_str(&format!("  {k:<14}{v}\n"));
        s.push_str(&format!(
            "{} under {} (seed {})\n",
            self.scenario, self.protocol, self.seed
        ));
        line(
            &mut s,
            "simulated",
            format!(
                "{}  in {} events",
                fmt_ns(self.sim_time_ns),
                group(self.events)
            ),
        );
        if m.records_in > 0 || m.records_out > 0 {
            line(
                &mut s,
                "records",
                format!(
                    "{} in, {} out, {}/s",
                    group(m.records_in),
                    group(m.records_out),
                    group(m.throughput_per_sec as u64)
                ),
            );
        }
        if let (Some(p50), Some(p99)) = (m.latency_p50_ns, m.latency_p99_ns) {
            line(
                &mut s,
                "latency",
                format!("p50 {}, p99 {}", fmt_ns(p50), fmt_ns(p99)),
            );
        }
        line(
            &mut s,
            "messages",
            format!(
                "{} data, {} control",
                group(m.data_messages),
                group(m.control_messages)
            ),
        );
        let worst = m.tasks.iter().max_by_key(|t| t.backpressure_ns);
        match worst {
            Some(w) if w.backpressure_ns > 0 && self.sim_time_ns > 0 => line(
                &mut s,
                "back-pressure",
                format!(
                    "{} task-time in total; most at {} ({:.0}% of the run)",
                    fmt_ns(m.backpressure_ns_total),
                    w.name,
                    100.0 * w.backpressure_ns as f64 / self.sim_time_ns as f64
                ),
            ),
            _ => line(&mut s, "back-pressure", "none".into()),
        }
        let state: u64 = m.tasks.iter().map(|t| t.state_bytes).sum();
        line(&mut s, "state", format!("{} at the end", fmt_bytes(state)));
        if !self.checkpoints.is_empty() {
            s.push_str(&self.checkpoint_table(8));
        }
        let v = &self.verdict;
        let mut verdict = if v.ok {
            "OK".to_string()
        } else {
            "VIOLATED".to_string()
        };
        if let Some(eo) = &v.exactly_once {
            verdict.push_str(&format!(
                ": lost {}, duplicated {}, out of order {}",
                eo.lost, eo.duplicated, eo.out_of_order
            ));
        }
        line(&mut s, "verdict", verdict);
        let completed = self.checkpoints.iter().filter(|c| c.completed()).count();
        if !self.checkpoints.is_empty() {
            let mut d: Vec<Time> = self
                .checkpoints
                .iter()
                .filter(|c| c.completed())
                .map(|c| c.duration_ns)
                .collect();
            d.sort_unstable();
            let size: u64 = self
                .checkpoints
                .iter()
                .filter(|c| c.completed())
                .map(|c| c.state_bytes + c.channel_state_bytes)
                .max()
                .unwrap_or(0);
            line(
                &mut s,
                "checkpoints",
                format!(
                    "{completed} completed, {} aborted or expired; duration p50 {}, max {}; largest {}",
                    self.checkpoints.len() - completed,
                    percentile(&d, 50).map_or("-".into(), fmt_ns),
                    d.last().map_or("-".into(), |&x| fmt_ns(x)),
                    fmt_bytes(size)
                ),
            );
        }
        for f in self.failures.iter().filter(|f| !f.failed_job) {
            line(
                &mut s,
                "failure",
                format!(
                    "at {} ({}): restored {}, {} records replayed, {} down",
                    fmt_ns(f.at_ns),
                    f.cause,
                    f.restored_checkpoint
                        .map_or("no checkpoint (started over)".into(), |c| format!(
                            "checkpoint {c}"
                        )),
                    group(f.replayed_records),
                    fmt_ns(f.downtime_ns)
                ) + &downtime_parts(f),
            );
        }
        if let Some(j) = &self.job_failed {
            line(
                &mut s,
                "job failed",
                format!(
                    "at {} ({}): the restart strategy gave up: {}",
                    fmt_ns(j.at_ns),
                    j.cause,
                    j.reason
                ),
            );
        }
        for u in &self.unfired_failures {
            line(
                &mut s,
                "did not fire",
                format!("{}: {}", u.failure, u.reason),
            );
        }
        for viol in &v.violations {
            s.push_str(&format!("    {}: {}\n", viol.kind, viol.message));
        }
        if !v.expected.is_empty() {
            let n = v.expected.len();
            line(&mut s, "expected", {
                let kinds: std::collections::BTreeSet<&str> =
                    v.expected.iter().map(|e| e.kind.as_str()).collect();
                let kinds: Vec<&str> = kinds.into_iter().collect();
                format!(
                        "{n} findings this protocol does not promise to avoid ({}); see the results file",
                        kinds.join(", ")
                    )
            });
        }
        line(&mut s, "trace hash", self.trace_hash.clone());
        s
    }
}

impl RunResult {
    /// The first `rows` checkpoints as an aligned table; with a state backend, also what
    /// each uploaded against what it references, and its longest sync and async phases.
    pub fn checkpoint_table(&self, rows: usize) -> String {
        let costs = self.checkpoints.iter().any(|c| c.costs.is_some());
        let mut s = format!(
            "  {:>4}  {:<9} {:>11} {:>11} {:>11} {:>11} {:>11}",
            "id", "status", "duration", "state", "channel", "alignment", "start delay"
        );
        if costs {
            s.push_str(&format!(
                " {:>11} {:>11} {:>11} {:>11}",
                "ckpt size", "full size", "sync", "async"
            ));
        }
        s.push('\n');
        for c in self.checkpoints.iter().take(rows) {
            s.push_str(&format!(
                "  {:>4}  {:<9} {:>11} {:>11} {:>11} {:>11} {:>11}",
                c.id,
                c.status,
                fmt_ns(c.duration_ns),
                fmt_bytes(c.state_bytes),
                fmt_bytes(c.channel_state_bytes),
                fmt_ns(c.alignment_ns_max),
                fmt_ns(c.start_delay_ns_max)
            ));
            if let Some(k) = &c.costs {
                s.push_str(&format!(
                    " {:>11} {:>11} {:>11} {:>11}",
                    fmt_bytes(k.checkpointed_bytes),
                    fmt_bytes(k.full_bytes),
                    fmt_ns(k.sync_ns_max),
                    fmt_ns(k.async_ns_max)
                ));
            }
            s.push('\n');
        }
        if self.checkpoints.len() > rows {
            s.push_str(&format!(
                "  ... {} more in the results file\n",
                self.checkpoints.len() - rows
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Time> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 99), Some(99));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }
}
