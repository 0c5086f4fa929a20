//! `snapsim bench`: the reference workloads, each measured in a fresh child process.
//!
//! A fresh process per measurement makes the peak memory the operating system reports belong
//! to that workload alone.

use std::process::Command as Process;

use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use snapsim::bench::{self, Measurement, Workload};
use snapsim::protocols::ProtocolKind;

use super::Failure;

#[derive(Args)]
pub(super) struct BenchArgs {
    /// One JSON object per workload and line, for machines.
    #[arg(long)]
    json: bool,
    /// A smoke run: about a tenth of the work, one run each.
    #[arg(long)]
    quick: bool,
    /// Measured runs per workload; the figures are their medians (default 3, 1 with --quick).
    #[arg(long)]
    runs: Option<u32>,
    /// Run only these workloads (build-1000, bank-64, bank-1m, dataflow-bp, sweep). Repeatable.
    #[arg(long)]
    only: Vec<String>,
    /// Internal: measure one workload once and print the measurement (used by the parent).
    #[arg(long, hide = true)]
    worker: Option<String>,
}

/// What a child process reports about its one measurement.
#[derive(Serialize, Deserialize)]
struct ChildReport {
    events: u64,
    wall_ns: u64,
    peak_rss_bytes: Option<u64>,
}

const WORKLOADS: [&str; 5] = ["build-1000", "bank-64", "bank-1m", "dataflow-bp", "sweep"];
const SWEEP_SEEDS: u64 = 8;

pub(super) fn bench(args: BenchArgs) -> Result<(), Failure> {
    if let Some(job) = &args.worker {
        return worker(job, args.quick);
    }
    for name in &args.only {
        if !WORKLOADS.contains(&name.as_str()) {
            return Err(Failure::BadInput(format!(
                "--only: unknown workload `{name}`; expected one of: {}",
                WORKLOADS.join(", ")
            )));
        }
    }
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let wanted = |w: &str| args.only.is_empty() || args.only.iter().any(|o| o == w);
    if !args.json {
        let build = if cfg!(debug_assertions) {
            "a DEBUG build, whose figures mean little (use cargo run --profile perf)"
        } else {
            "release build"
        };
        outln!(
            "snapsim bench: {build}, {runs} run(s) per workload, medians, {} cores",
            cores()
        );
        outln!(
            "{:<24} {:>12} {:>12} {:>10} {:>12} {:>14}",
            "workload",
            "events",
            "events/s",
            "ns/event",
            "peak RSS",
            "B/in-flight"
        );
    }
    if wanted("build-1000") {
        let mut times = Vec::new();
        let mut channels = 0;
        for _ in 0..runs.max(5) {
            let (t, c) = bench::build_1000()
                .map_err(|e| Failure::BadInput(format!("bench build-1000: {e}")))?;
            times.push(t.as_secs_f64() * 1e3);
            channels = c;
        }
        let ms = bench::median(&mut times);
        let line = json!({"workload": "build-1000", "processes": 1000, "channels": channels,
                          "build_ms": round(ms, 2)});
        if args.json {
            outln!("{}", ordered(&line));
        } else {
            outln!(
                "{:<24} {:>12} {:>12}",
                "build-1000",
                format!("{ms:.1} ms"),
                "(parse + build)"
            );
        }
    }
    if wanted("bank-64") {
        bank_line("bank-64", bench::bank_64(args.quick), false, &args, runs)?;
    }
    if wanted("bank-1m") {
        bank_line("bank-1m", bench::bank_1m(args.quick), true, &args, runs)?;
    }
    if wanted("dataflow-bp") {
        for p in ["aligned", "unaligned"].map(|n| ProtocolKind::named(n).expect("registered")) {
            let job = format!("dataflow-bp:{}", p.name());
            let m = median_of(&job, args.quick, runs)?;
            let mut line = line_json("dataflow-bp", &m, None);
            line["protocol"] = json!(p.name());
            emit(&line, &args, &format!("dataflow-bp ({})", p.name()));
        }
    }
    if wanted("sweep") {
        let threads = cores();
        // One thread and all threads in turn, and the median of each pair's ratio: on a
        // shared host the load drifts over a minute, and measuring all the one-thread runs
        // before all the others turned that drift into a speedup from 1.6 to 2.1.
        let (mut ones, mut alls, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let one = child("sweep:1", args.quick)?;
            let all = child(&format!("sweep:{threads}"), args.quick)?;
            ratios.push(one.wall_ns as f64 / all.wall_ns.max(1) as f64);
            ones.push(one);
            alls.push(all);
        }
        let (one, all) = (median_report(ones), median_report(alls));
        let speedup = bench::median(&mut ratios);
        let mut line = line_json("sweep", &all, None);
        line["threads"] = json!(threads);
        line["speedup"] = json!(round(speedup, 2));
        line["events_per_sec_1_thread"] = json!(round(one.events as f64 / secs(&one), 0));
        emit(
            &line,
            &args,
            &format!("sweep ({threads} threads, {speedup:.2}x)"),
        );
    }
    Ok(())
}

/// A bank workload's line. With `memory`, also the memory per in-flight message: the peak
/// memory of the workload minus that of the same topology with one transfer per process,
/// divided by the difference in messages. Only meaningful without snapshots, whose recorded
/// channel state also grows with the messages in flight.
fn bank_line(
    name: &str,
    w: Workload,
    memory: bool,
    args: &BenchArgs,
    runs: u32,
) -> Result<(), Failure> {
    let m = median_of(name, args.quick, runs)?;
    let base = if memory {
        Some(child(&format!("{name}-baseline"), args.quick)?)
    } else {
        None
    };
    let base_rss = base.and_then(|b| b.peak_rss_bytes);
    let per_msg = match (m.peak_rss_bytes, base_rss, w.in_flight) {
        (Some(full), Some(empty), Some(n)) => {
            let base_in_flight = bench::baseline(&w).in_flight.unwrap_or(0);
            let extra = n.saturating_sub(base_in_flight).max(1);
            Some(full.saturating_sub(empty) as f64 / extra as f64)
        }
        _ => None,
    };
    // The contract's figure is the engine's memory beyond the payload; the total is kept too.
    let mut line = line_json(name, &m, per_msg.map(|b| b - bench::PAYLOAD_BYTES));
    if let Some(total) = per_msg {
        line["bytes_per_inflight_msg_total"] = json!(round(total, 1));
        line["in_flight"] = json!(w.in_flight);
    }
    emit(&line, args, name);
    Ok(())
}

/// The workload a child measures, and its thread count for a batch (0: one run). `NAME:ARG`
/// carries a protocol or a thread count; `NAME-baseline` is NAME with one transfer per process.
fn workload_for(job: &str, quick: bool) -> Option<(Workload, usize)> {
    if let Some(base) = job.strip_suffix("-baseline") {
        let (w, threads) = workload_for(base, quick)?;
        return (threads == 0).then(|| (bench::baseline(&w), 0));
    }
    let (name, arg) = job.split_once(':').unwrap_or((job, ""));
    let w = match name {
        "bank-64" => bench::bank_64(quick),
        "bank-1m" => bench::bank_1m(quick),
        "dataflow-bp" => bench::dataflow_bp(arg.parse().ok()?, quick),
        "sweep" => {
            let threads = arg.parse().ok().filter(|&t| t > 0)?;
            return Some((bench::bank_64_sweep(quick), threads));
        }
        _ => return None,
    };
    Some((w, 0))
}

/// Runs in the child: one measurement, printed as JSON.
fn worker(job: &str, quick: bool) -> Result<(), Failure> {
    let (w, threads) = workload_for(job, quick)
        .ok_or_else(|| Failure::BadInput(format!("--worker: unknown job `{job}`")))?;
    reset_peak_rss();
    let m: Measurement = if threads > 0 {
        let seeds = snapsim::campaign::seeds(w.scenario.seed, SWEEP_SEEDS as u32);
        bench::measure_batch(&w, &seeds, threads)
    } else {
        bench::measure(&w, w.scenario.seed)
    }
    .map_err(|e| match e {
        bench::BenchError::Violation(v) => {
            errln!("snapsim: bench {job}: the run failed its own verification: {v}");
            Failure::Violation
        }
        bench::BenchError::Scenario(e) => Failure::BadInput(format!("bench {job}: {e}")),
    })?;
    let report = ChildReport {
        events: m.events,
        wall_ns: m.wall.as_nanos() as u64,
        peak_rss_bytes: peak_rss(),
    };
    outln!("{}", serde_json::to_string(&report).expect("serialises"));
    Ok(())
}

/// Starts this program again to measure `job` once.
fn child(job: &str, quick: bool) -> Result<ChildReport, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::Io(anyhow::anyhow!("cannot find this program: {e}")))?;
    let mut cmd = Process::new(exe);
    cmd.args(["bench", "--worker", job]);
    if quick {
        cmd.arg("--quick");
    }
    let out = cmd
        .output()
        .map_err(|e| Failure::Io(anyhow::anyhow!("cannot start a benchmark run: {e}")))?;
    if out.status.code() == Some(1) {
        // A measured run failed its verification; the child has said which.
        errln!("{}", String::from_utf8_lossy(&out.stderr).trim_end());
        return Err(Failure::Violation);
    }
    if !out.status.success() {
        return Err(Failure::Io(anyhow::anyhow!(
            "benchmark run `{job}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        Failure::Io(anyhow::anyhow!(
            "benchmark run `{job}` printed no measurement: {e}"
        ))
    })
}

/// Runs `job` `runs` times: the median wall time (the mean of the middle two for an even
/// count; every run has the same events) and the highest peak memory.
fn median_of(job: &str, quick: bool, runs: u32) -> Result<ChildReport, Failure> {
    let mut all = Vec::new();
    for _ in 0..runs {
        all.push(child(job, quick)?);
    }
    Ok(median_report(all))
}

/// The median wall time and the highest peak memory of measurements of one job (not empty).
fn median_report(all: Vec<ChildReport>) -> ChildReport {
    let peak = all.iter().filter_map(|r| r.peak_rss_bytes).max();
    let mut walls: Vec<f64> = all.iter().map(|r| r.wall_ns as f64).collect();
    ChildReport {
        events: all[0].events,
        wall_ns: bench::median(&mut walls).round() as u64,
        peak_rss_bytes: peak,
    }
}

fn secs(r: &ChildReport) -> f64 {
    (r.wall_ns as f64 / 1e9).max(1e-9)
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn line_json(name: &str, m: &ChildReport, per_msg: Option<f64>) -> Value {
    json!({
        "workload": name,
        "events": m.events,
        "events_per_sec": round(m.events as f64 / secs(m), 0),
        "ns_per_event": round(m.wall_ns as f64 / m.events.max(1) as f64, 1),
        "peak_rss_bytes": m.peak_rss_bytes,
        "bytes_per_inflight_msg": per_msg.map(|b| round(b, 1)),
    })
}

fn emit(line: &Value, args: &BenchArgs, label: &str) {
    if args.json {
        outln!("{}", ordered(line));
        return;
    }
    let num = |k: &str| line[k].as_f64().unwrap_or(f64::NAN);
    let rss = line["peak_rss_bytes"]
        .as_u64()
        .map_or("-".to_string(), |b| {
            format!("{:.0} MiB", b as f64 / 1048576.0)
        });
    let per = line["bytes_per_inflight_msg"]
        .as_f64()
        .map_or("-".to_string(), |b| format!("{b:.1}"));
    outln!(
        "{:<24} {:>12} {:>10.2} M {:>10.1} {:>12} {:>14}",
        label,
        snapsim::report::group(num("events") as u64),
        num("events_per_sec") / 1e6,
        num("ns_per_event"),
        rss,
        per
    );
}

/// The line as JSON with its keys in the contract's order (a JSON map would sort them).
fn ordered(line: &Value) -> String {
    const ORDER: [&str; 15] = [
        "workload",
        "protocol",
        "events",
        "events_per_sec",
        "ns_per_event",
        "peak_rss_bytes",
        "bytes_per_inflight_msg",
        "bytes_per_inflight_msg_total",
        "in_flight",
        "threads",
        "speedup",
        "events_per_sec_1_thread",
        "processes",
        "channels",
        "build_ms",
    ];
    let fields: Vec<String> = ORDER
        .iter()
        .filter_map(|k| line.get(*k).map(|v| format!("{}:{v}", Value::from(*k))))
        .collect();
    debug_assert_eq!(fields.len(), line.as_object().map_or(0, |o| o.len()));
    format!("{{{}}}", fields.join(","))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Makes the kernel's peak-memory mark start again from the current size (Linux).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident memory in bytes, from the kernel (Linux); `None` elsewhere.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
