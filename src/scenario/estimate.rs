//! What a scenario will need, estimated from its fields alone, without building it.
//!
//! Validation calls [`estimate`] on the parsed scenario: a few multiplications over its
//! fields, never the topology itself, so that a 246-byte file asking for 400 million channels
//! is refused in microseconds. Each figure carries the field that drives it, so that
//! [`Limits::check`](super::Limits::check) can name the field to change.
//!
//! The memory estimate uses costs measured on a release build (peak resident memory of
//! `snapsim run` on rings and random graphs of 100,000 to 200,000 tasks): about 3,000 bytes
//! per task, 480 per channel, 80 per message in flight (twice with snapshots, which record
//! in-flight messages as channel state), plus a fixed 24 MiB. On `scenarios/huge.json` the
//! estimate is 238 MB against a measured peak of 232 MiB.

use std::fmt;

use super::{
    DataflowSpec, FailureSpec, GraphSpec, LatencySpec, OperatorKind, Partition, ProcessSpec,
    ProcessWorkload, Scenario,
};

/// Fixed cost of a run: the binary, the thread pool, the first pages of every pool.
pub const BYTES_BASE: u64 = 24 << 20;
/// Measured cost of one task (its state, queues, protocol, checker and trace entries).
pub const BYTES_PER_TASK: u64 = 3_000;
/// Measured cost of one channel (configuration, queues, cut tracking).
pub const BYTES_PER_CHANNEL: u64 = 480;
/// Cost of one message in flight: its pooled 64-byte record and its share of the queues.
pub const BYTES_PER_MESSAGE: u64 = 80;
/// Cost of one timeline bucket (records out and back-pressure, kept until the report).
pub const BYTES_PER_BUCKET: u64 = 32;
/// Cost of one task's part of one retained checkpoint (the local snapshot's record).
pub const BYTES_PER_TASK_SNAPSHOT: u64 = 160;
/// Cost of one scripted step or failure, with its scheduled event.
pub const BYTES_PER_STEP: u64 = 200;
/// Cost of one key of keyed state held (an ordered map entry).
pub const BYTES_PER_KEY: u64 = 48;
/// Cost of one key held in a state backend's file or log segment (an ordered set entry).
pub const BYTES_PER_FILE_KEY: u64 = 32;

/// One estimated figure and the field that drives it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Need {
    /// The figure.
    pub value: u64,
    /// The field to change to lower it.
    pub field: String,
    /// What it is made of, for the message (empty or starting with a space).
    pub detail: String,
}

impl Need {
    fn new(value: u64, field: impl Into<String>) -> Need {
        Need {
            value,
            field: field.into(),
            detail: String::new(),
        }
    }
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} ({})", self.value, self.field)
    }
}

/// What a scenario will need, from its fields alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Estimate {
    /// Tasks.
    pub tasks: Need,
    /// Channels.
    pub channels: Need,
    /// Messages in flight at the peak (an upper bound: every buffer full).
    pub in_flight: Need,
    /// Timeline buckets up to the last planned event.
    pub timeline_buckets: Need,
    /// Periodic checkpoint triggers.
    pub checkpoints: Need,
    /// Records read at a rate and bank transfers started.
    pub records: Need,
    /// Scripted steps and receive rules.
    pub steps: Need,
    /// Planned failures (repeated crashes counted one by one).
    pub failures: Need,
    /// Peak memory of one run, in bytes.
    pub memory: Need,
}

/// The mean time a message of this model takes.
fn latency_mean(l: &LatencySpec) -> u64 {
    match *l {
        LatencySpec::Constant(d) => d.ns(),
        LatencySpec::Uniform { min, max } => min.ns() / 2 + max.ns() / 2,
        LatencySpec::Exponential { mean } | LatencySpec::Normal { mean, .. } => mean.ns(),
    }
}

/// The longest a message of this model plausibly takes (the exponential and normal tails cut
/// where a draw beyond is practically impossible).
fn latency_bound(l: &LatencySpec) -> u64 {
    match *l {
        LatencySpec::Constant(d) => d.ns(),
        LatencySpec::Uniform { max, .. } => max.ns(),
        LatencySpec::Exponential { mean } => mean.ns().saturating_mul(40),
        LatencySpec::Normal { mean, std_dev } => {
            mean.ns().saturating_add(std_dev.ns().saturating_mul(10))
        }
    }
}

/// What the job's parts contribute to later figures, beyond the figures themselves.
#[derive(Default)]
struct Parts {
    /// The smallest message any part sends, in bytes (`u64::MAX` while none is known).
    min_message: u64,
    /// Keys held by keyed operators (counted over all of them), and the last such operator.
    keyed_state: (u64, String),
    /// Keyed operators.
    keyed_ops: u64,
    /// Messages a bank or a script puts in flight from the start, and the field that sets it.
    initial_in_flight: (u64, String),
}

/// Estimates what `s` needs. Cheap: a pass over the lists of the file, no topology.
pub fn estimate(s: &Scenario) -> Estimate {
    let mut e = Estimate::default();
    let duration = s.duration.ns().max(1);
    let mut parts = Parts {
        min_message: u64::MAX,
        ..Parts::default()
    };
    e.records = Need::new(0, "dataflow.operators");
    if let Some(df) = &s.dataflow {
        dataflow_needs(df, duration, &mut e, &mut parts);
    }
    if let Some(ps) = &s.processes {
        process_needs(s, ps, duration, &mut e, &mut parts);
    }
    let message = if parts.min_message == u64::MAX {
        64
    } else {
        parts.min_message
    };
    e.in_flight = in_flight_need(s, e.channels.value, message, &parts.initial_in_flight);
    e.checkpoints = checkpoint_triggers(s, duration);
    // The last thing planned sets how long the timeline runs.
    let mut horizon = (duration, String::from("duration"));
    let (drained, field) = drain_end(s, duration);
    later(&mut horizon, drained, field);
    let (failures, crashes) = failure_needs(s, duration, &mut horizon);
    e.failures = failures;
    later_work(
        s,
        &mut horizon,
        crashes,
        parts.keyed_state.0,
        e.in_flight.value,
        message,
    );
    let bucket = (duration / 100).max(1);
    // A run widens its buckets to keep at most this many, however long it runs.
    const RUN_TIMELINE_BUCKETS: u64 = 200;
    e.timeline_buckets = Need::new(
        (horizon.0 / bucket + 1).min(RUN_TIMELINE_BUCKETS),
        horizon.1,
    );
    e.timeline_buckets.detail = format!(
        " (of {} each, a hundredth of `duration`)",
        super::Duration(bucket)
    );
    e.memory = memory_need(&e, &parts.keyed_state);
    let files = backend_file_keys(s, &e, &parts);
    e.memory.value = e
        .memory
        .value
        .saturating_add(files.saturating_mul(BYTES_PER_FILE_KEY));
    if files.saturating_mul(BYTES_PER_FILE_KEY) > e.memory.value / 2 {
        e.memory.field = String::from("checkpointing.state_backend");
    }
    // Debloating ticks every period: timed events like scripted steps, counted with them (after
    // the memory estimate: a tick holds no memory).
    if let Some(d) = s.network.debloat() {
        let ticks = duration / d.period.ns().max(1);
        if ticks > e.steps.value {
            e.steps = Need::new(ticks, "network.buffer_debloat.period");
            e.steps.detail = String::from(" (here buffer-debloating ticks, one per period)");
        }
    }
    e
}

/// Keys the state backend's files and logs hold at most: RocksDB and the changelog keep, per
/// file or log segment, the keys it holds. Without compaction the files of every checkpoint stay
/// live, so this grows with checkpoints times keys, bounded by the updates (records read) each
/// keyed operator applies.
fn backend_file_keys(s: &Scenario, e: &Estimate, parts: &Parts) -> u64 {
    let Some(b) = s
        .checkpointing
        .as_ref()
        .and_then(|c| c.state_backend.as_ref())
    else {
        return 0;
    };
    if b.kind != super::BackendKind::Rocksdb && !b.changelog {
        return 0;
    }
    let per_checkpoint = parts
        .keyed_state
        .0
        .saturating_mul(e.checkpoints.value.saturating_add(1));
    per_checkpoint.min(e.records.value.saturating_mul(parts.keyed_ops))
}

/// A dataflow job's tasks, channels and records read, and its messages and keyed state.
fn dataflow_needs(df: &DataflowSpec, duration: u64, e: &mut Estimate, parts: &mut Parts) {
    let records = &mut e.records;
    let mut tasks = 0u64;
    let mut biggest = (0u64, String::from("dataflow.operators"));
    let mut keys_max = 0u64;
    for (i, op) in df.operators.iter().enumerate() {
        let p = u64::from(op.parallelism);
        tasks = tasks.saturating_add(p);
        if p > biggest.0 {
            biggest = (p, format!("dataflow.operators[{i}].parallelism"));
        }
        match &op.kind {
            OperatorKind::Source(src) => {
                parts.min_message = parts.min_message.min(src.record_size.bytes().max(1));
                keys_max = keys_max.max(src.keys);
                let span = src.duration.map_or(duration, |d| d.ns().min(duration));
                let by_rate = src.rate.map(|r| {
                    // Events per 1000 s times the span in ns, over 10^12.
                    (u128::from(r.0) * u128::from(span) / 1_000_000_000_000)
                        .min(u128::from(u64::MAX)) as u64
                });
                // Without a rate a source reads as fast as its cost allows, and never
                // faster than one record per nanosecond (the simulation's least cost).
                let by_cost = span / op.cost.map_or(1, |c| c.ns()).max(1);
                let limit = by_rate.unwrap_or(by_cost);
                let per_task = src.records.map_or(limit, |r| r.min(limit));
                let n = per_task.saturating_mul(p);
                if n > records.value / 2 || records.value == 0 {
                    records.field = if by_rate.is_some() {
                        format!("dataflow.operators[{i}].kind.source.rate")
                    } else if src.records.is_some_and(|r| r <= by_cost) {
                        format!("dataflow.operators[{i}].kind.source.records")
                    } else {
                        // Neither a rate nor a record count holds it back.
                        format!("dataflow.operators[{i}].kind.source (no rate)")
                    };
                }
                records.value = records.value.saturating_add(n);
            }
            OperatorKind::KeyedCount(k) | OperatorKind::KeyedSum(k) | OperatorKind::Join(k) => {
                if let Some(o) = k.output_size {
                    parts.min_message = parts.min_message.min(o.bytes().max(1));
                }
                parts.keyed_state.1 = format!("dataflow.operators[{i}]");
                parts.keyed_state.0 = parts.keyed_state.0.saturating_add(1);
                parts.keyed_ops += 1;
            }
            _ => {}
        }
    }
    e.tasks = Need::new(tasks, biggest.1);
    // Distinct keys held: each keyed operator holds at most every key once over its tasks.
    // Keys are held once seen: no more of them than records read.
    let seen = keys_max.min(e.records.value);
    parts.keyed_state.0 = parts.keyed_state.0.saturating_mul(seen);
    let mut channels = 0u64;
    let mut field = String::from("dataflow.edges");
    let mut largest = 0u64;
    for (i, edge) in df.edges.iter().enumerate() {
        let par = |name: &str| {
            df.operators
                .iter()
                .find(|o| o.name == name)
                .map_or(0, |o| u64::from(o.parallelism))
        };
        let (pf, pt) = (par(&edge.from), par(&edge.to));
        let n = if edge.partition == Partition::Forward {
            pf
        } else {
            pf.saturating_mul(pt)
        };
        if n > largest {
            largest = n;
            field = format!("dataflow.edges[{i}]");
        }
        channels = channels.saturating_add(n);
    }
    e.channels = Need::new(channels, field);
}

/// A process graph's tasks and channels, and what its workload sends and starts.
fn process_needs(
    s: &Scenario,
    ps: &ProcessSpec,
    duration: u64,
    e: &mut Estimate,
    parts: &mut Parts,
) {
    let (n, field) = match (&ps.count, &ps.names) {
        (Some(c), _) => (u64::from(*c), "processes.count"),
        (None, Some(list)) => (list.len() as u64, "processes.names"),
        (None, None) => (0, "processes"),
    };
    e.tasks = Need::new(n, field);
    let (channels, gfield) = match &ps.graph {
        GraphSpec::Ring { bidirectional } => (
            if *bidirectional && n > 2 {
                n.saturating_mul(2)
            } else {
                n
            },
            "processes.graph.ring",
        ),
        GraphSpec::FullMesh {} => (
            n.saturating_mul(n.saturating_sub(1)),
            "processes.graph.full_mesh",
        ),
        GraphSpec::RandomKOut { k, .. } => (
            n.saturating_mul(u64::from(*k)),
            "processes.graph.random_k_out.k",
        ),
        GraphSpec::Edges(list) => (list.len() as u64, "processes.graph.edges"),
    };
    e.channels = Need::new(channels, gfield);
    match &ps.workload {
        ProcessWorkload::Bank(b) => {
            parts.min_message = parts.min_message.min(b.message_size.bytes().max(1));
            let in_flight = b.initial_transfers.saturating_mul(n);
            parts.initial_in_flight = (
                in_flight,
                "processes.workload.bank.initial_transfers".to_string(),
            );
            if let Some(iv) = b.transfer_interval {
                let started = (duration / iv.ns().max(1)).saturating_mul(n);
                e.records = Need::new(started, "processes.workload.bank.transfer_interval");
            }
            if b.relay {
                // Every transfer in flight is passed on once per hop until `duration`; a
                // hop takes the mean latency plus the cost, and at least a nanosecond.
                let hop = latency_mean(&s.network.latency)
                    .saturating_add(ps.cost.map_or(0, |c| c.ns()))
                    .max(1);
                let hops = in_flight.saturating_mul(duration / hop);
                if hops > e.records.value {
                    e.records = Need::new(hops, "processes.workload.bank.relay");
                }
            }
        }
        ProcessWorkload::Script(sc) => {
            let steps = (sc.steps.len() as u64).saturating_add(sc.on_receive.len() as u64);
            e.steps = Need::new(steps, "processes.workload.script.steps");
            parts.initial_in_flight = (
                sc.steps.len() as u64,
                "processes.workload.script.steps".to_string(),
            );
        }
    }
}

/// Messages in flight at the peak: every channel's buffers full of the smallest `message`,
/// plus what a bank or a script puts in flight at time zero (`initial`).
fn in_flight_need(s: &Scenario, channels: u64, message: u64, initial: &(u64, String)) -> Need {
    let mut capacity = s
        .network
        .in_buffer
        .bytes()
        .saturating_add(s.network.out_buffer.bytes());
    let mut cap_field = String::from("network.in_buffer");
    for (i, l) in s.links.iter().enumerate() {
        let c = l
            .in_buffer
            .unwrap_or(s.network.in_buffer)
            .bytes()
            .saturating_add(l.out_buffer.unwrap_or(s.network.out_buffer).bytes());
        if c > capacity {
            capacity = c;
            cap_field = format!("links[{i}].in_buffer");
        }
    }
    if let Some(b) = s.network.buffer_model() {
        // Every buffer of the gate at one channel, its sender's one and the overdraft.
        let buffers = u64::from(b.exclusive_per_channel)
            + u64::from(b.floating_per_gate)
            + u64::from(b.max_overdraft_buffers_per_gate)
            + 1;
        capacity = buffers.saturating_mul(b.segment_size.bytes());
        cap_field = String::from("network.buffers");
    }
    let per_channel = (capacity / message).saturating_add(1);
    let buffered = if s.dataflow.is_some() {
        channels.saturating_mul(per_channel)
    } else {
        0
    };
    let (initial, initial_field) = initial;
    if *initial > buffered {
        Need::new(initial.saturating_add(buffered), initial_field.clone())
    } else {
        Need::new(initial.saturating_add(buffered), cap_field)
    }
}

/// Periodic checkpoint triggers over `duration`, plus the snapshots a script initiates.
fn checkpoint_triggers(s: &Scenario, duration: u64) -> Need {
    let mut checkpoints = Need::new(0, "checkpointing.interval");
    if let Some(c) = &s.checkpointing {
        if let Some(iv) = c.interval {
            checkpoints.value = duration / iv.ns().max(1);
        }
    }
    if let Some(ps) = &s.processes {
        if let ProcessWorkload::Script(sc) = &ps.workload {
            let n = sc
                .steps
                .iter()
                .filter(|st| st.initiate_snapshot.is_some())
                .count() as u64;
            checkpoints.value = checkpoints.value.saturating_add(n);
        }
    }
    checkpoints
}

/// Moves the last thing planned, `horizon`, to `t` when that is later, naming `field`.
fn later(horizon: &mut (u64, String), t: u64, field: String) {
    if t > horizon.0 {
        *horizon = (t, field);
    }
}

/// The longest latency of the network and its link overrides, and the field that sets it.
fn max_latency(s: &Scenario) -> (u64, String) {
    let mut max_latency = (
        latency_bound(&s.network.latency),
        String::from("network.latency"),
    );
    for (i, l) in s.links.iter().enumerate() {
        if let Some(lat) = &l.latency {
            let b = latency_bound(lat);
            if b > max_latency.0 {
                max_latency = (b, format!("links[{i}].latency"));
            }
        }
    }
    max_latency
}

/// When what is in flight at `duration` has drained, and the field that sets it: it drains
/// hop by hop, each hop a latency and a processing cost (or a snapshot's synchronous copy).
fn drain_end(s: &Scenario, duration: u64) -> (u64, String) {
    let max_latency = max_latency(s);
    let mut max_cost = (0u64, String::new());
    let mut hops = 2u64;
    let mut cost = |d: Option<super::Duration>, field: String| {
        if let Some(d) = d {
            if d.ns() > max_cost.0 {
                max_cost = (d.ns(), field);
            }
        }
    };
    if let Some(df) = &s.dataflow {
        hops = (df.operators.len() as u64).max(2);
        for (i, op) in df.operators.iter().enumerate() {
            cost(op.cost, format!("dataflow.operators[{i}].cost"));
        }
    }
    if let Some(ps) = &s.processes {
        cost(ps.cost, "processes.cost".to_string());
        if let ProcessWorkload::Script(sc) = &ps.workload {
            for (i, st) in sc.steps.iter().enumerate() {
                let lat = st.send.as_ref().and_then(|x| x.latency);
                cost(
                    lat,
                    format!("processes.workload.script.steps[{i}].send.latency"),
                );
            }
        }
    }
    for (i, t) in s.tasks.iter().enumerate() {
        cost(Some(t.cost), format!("tasks[{i}].cost"));
    }
    if let Some(c) = &s.checkpointing {
        cost(Some(c.sync_copy), "checkpointing.sync_copy".to_string());
    }
    let hop = max_latency.0.saturating_add(max_cost.0);
    let field = if max_cost.0 > max_latency.0 {
        max_cost.1
    } else {
        max_latency.1
    };
    (duration.saturating_add(hop.saturating_mul(hops)), field)
}

/// The planned failures (repeated crashes counted one by one) and how many of them are
/// crashes; moves `horizon` to the last failure planned.
fn failure_needs(s: &Scenario, duration: u64, horizon: &mut (u64, String)) -> (Need, u64) {
    let mut failures = Need::new(0, "failures");
    let mut crashes = 0u64;
    for (i, f) in s.failures.iter().enumerate() {
        let p = format!("failures[{i}]");
        let (count, field) = match f {
            FailureSpec::Crash { at, every, .. } => {
                later(horizon, at.ns(), format!("{p}.crash.at"));
                match every {
                    Some(ev) if at.ns() < duration => (
                        (duration - at.ns()) / ev.ns().max(1) + 1,
                        format!("{p}.crash.every"),
                    ),
                    _ => (1, format!("{p}.crash.at")),
                }
            }
            FailureSpec::Random { mean_interval } => (
                duration / mean_interval.ns().max(1) + 1,
                format!("{p}.random.mean_interval"),
            ),
            FailureSpec::Stall {
                at, duration: d, ..
            } => {
                later(
                    horizon,
                    at.ns().saturating_add(d.ns()),
                    format!("{p}.stall.duration"),
                );
                (1, format!("{p}.stall"))
            }
            FailureSpec::AfterCheckpoints { delay, .. } => {
                if let Some(d) = delay {
                    later(
                        horizon,
                        duration.saturating_add(d.ns()),
                        format!("{p}.after_checkpoints.delay"),
                    );
                }
                (1, p.clone())
            }
            _ => (1, p.clone()),
        };
        if !matches!(
            f,
            FailureSpec::Stall { .. } | FailureSpec::UploadFailure { .. }
        ) {
            crashes = crashes.saturating_add(count);
        }
        if count > failures.value / 2 || failures.value == 0 {
            failures.field = field;
        }
        failures.value = failures.value.saturating_add(count);
    }
    (failures, crashes)
}

/// Moves `horizon` past the restarts after `crashes`, a script's last step, and a checkpoint
/// still uploading at the end (its state, `keys` held and the messages in flight of
/// `message` bytes, through the storage link, at most until it times out).
fn later_work(
    s: &Scenario,
    horizon: &mut (u64, String),
    crashes: u64,
    keys: u64,
    in_flight: u64,
    message: u64,
) {
    // Each crash stops the job for the restart delay (the longest a strategy waits).
    let restarts = horizon
        .0
        .saturating_add(crashes.saturating_mul(s.recovery.max_restart_delay().ns()));
    let field = if s.recovery.restart_strategy.is_some() {
        "recovery.restart_strategy"
    } else {
        "recovery.restart_delay"
    };
    later(horizon, restarts, field.to_string());
    if let Some(ps) = &s.processes {
        if let ProcessWorkload::Script(sc) = &ps.workload {
            for (i, st) in sc.steps.iter().enumerate() {
                later(
                    horizon,
                    st.at.ns(),
                    format!("processes.workload.script.steps[{i}].at"),
                );
            }
        }
    }
    if let Some(c) = &s.checkpointing {
        if let Some(bw) = c.storage_bandwidth {
            let state = keys
                .saturating_mul(16)
                .saturating_add(in_flight.saturating_mul(message));
            let upload = (u128::from(state) * 1_000_000_000 / u128::from(bw.0.max(1)))
                .min(u128::from(c.timeout.ns())) as u64;
            let end = horizon.0.saturating_add(upload);
            later(horizon, end, "checkpointing.storage_bandwidth".to_string());
        }
    }
}

/// Peak memory: the measured costs of everything else estimated, and `keyed_state` (keys held
/// and the last keyed operator), with the field of the largest term.
fn memory_need(e: &Estimate, keyed_state: &(u64, String)) -> Need {
    // Memory: the measured costs, each term with the field that drives it.
    let terms = [
        (
            e.tasks.value.saturating_mul(BYTES_PER_TASK),
            e.tasks.field.clone(),
        ),
        (
            e.channels.value.saturating_mul(BYTES_PER_CHANNEL),
            e.channels.field.clone(),
        ),
        (
            // With snapshots, a recorded copy of what is in flight as channel state too.
            e.in_flight
                .value
                .saturating_mul(BYTES_PER_MESSAGE)
                .saturating_mul(if e.checkpoints.value > 0 { 2 } else { 1 }),
            e.in_flight.field.clone(),
        ),
        (
            e.timeline_buckets.value.saturating_mul(BYTES_PER_BUCKET),
            e.timeline_buckets.field.clone(),
        ),
        (
            e.checkpoints
                .value
                .saturating_mul(e.tasks.value)
                .saturating_mul(BYTES_PER_TASK_SNAPSHOT),
            e.checkpoints.field.clone(),
        ),
        (
            e.steps
                .value
                .saturating_add(e.failures.value)
                .saturating_mul(BYTES_PER_STEP),
            e.steps.field.clone(),
        ),
        (
            keyed_state.0.saturating_mul(BYTES_PER_KEY),
            format!("{}.kind", keyed_state.1),
        ),
    ];
    let total = terms
        .iter()
        .fold(BYTES_BASE, |acc, (b, _)| acc.saturating_add(*b));
    let (_, field) = terms
        .iter()
        .max_by_key(|(b, _)| *b)
        .cloned()
        .unwrap_or_default();
    Need {
        value: total,
        field,
        detail: format!(
            " ({} tasks, {} channels, {} messages in flight)",
            e.tasks.value, e.channels.value, e.in_flight.value
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Limits;

    fn parse(json: &str) -> Scenario {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_full_mesh_of_twenty_thousand_is_refused_by_channels() {
        let s = parse(
            r#"{"duration":"1s","processes":{"count":20000,"graph":{"full_mesh":{}},"workload":{"bank":{}}}}"#,
        );
        let e = estimate(&s);
        assert_eq!(e.channels.value, 20000 * 19999);
        let err = Limits::default().check(&e).unwrap_err();
        assert_eq!(err.path, "processes.graph.full_mesh");
        assert!(err.message.contains("--limit channels="), "{err}");
    }

    #[test]
    fn a_million_ring_needs_more_than_the_default_memory() {
        let s = parse(
            r#"{"duration":"1s","processes":{"count":1000000,"graph":{"ring":{}},"workload":{"bank":{}}}}"#,
        );
        let e = estimate(&s);
        assert!(e.memory.value > 3_000_000_000, "{}", e.memory);
        let err = Limits::default().check(&e).unwrap_err();
        assert_eq!(err.path, "processes.count");
        assert!(err.message.contains("--limit memory=4GiB"), "{err}");
        let mut raised = Limits::default();
        raised.set("memory=4GiB").unwrap();
        raised.check(&e).unwrap();
    }

    #[test]
    fn tiny_checkpoint_intervals_and_late_steps_are_counted() {
        let s = parse(
            r#"{"duration":"1000s","checkpointing":{"interval":"1ns"},"dataflow":{"operators":[{"name":"s","kind":{"source":{}}},{"name":"k","kind":{"sink":{}}}],"edges":[{"from":"s","to":"k"}]}}"#,
        );
        let err = Limits::default().check(&estimate(&s)).unwrap_err();
        assert_eq!(err.path, "checkpointing.interval");
        // Long latencies alone are cheap: the timeline's buckets widen.
        let s = parse(
            r#"{"duration":"1ms","network":{"latency":{"constant":"100000s"}},"dataflow":{"operators":[{"name":"s","kind":{"source":{}}},{"name":"k","kind":{"sink":{}}}],"edges":[{"from":"s","to":"k"}]}}"#,
        );
        Limits::default().check(&estimate(&s)).unwrap();
    }

    #[test]
    fn debloating_ticks_count_as_steps() {
        let job = |period: &str| {
            parse(&format!(
                r#"{{"duration":"2s","network":{{"buffer_debloat":{{"enabled":true,"period":"{period}"}}}},"dataflow":{{"operators":[{{"name":"s","kind":{{"source":{{"rate":"1000/s"}}}}}},{{"name":"k","kind":{{"sink":{{}}}}}}],"edges":[{{"from":"s","to":"k"}}]}}}}"#
            ))
        };
        Limits::default().check(&estimate(&job("200ms"))).unwrap();
        let err = Limits::default().check(&estimate(&job("1ns"))).unwrap_err();
        assert_eq!(err.path, "network.buffer_debloat.period", "{err}");
        assert!(err.message.contains("2000000000"), "{err}");
    }

    #[test]
    fn a_backend_without_compaction_holds_every_checkpoints_files() {
        let job = |backend: &str| {
            parse(&format!(
                r#"{{"duration":"100s","dataflow":{{"operators":[{{"name":"s","kind":{{"source":{{"rate":"1000000/s","keys":1000000}}}}}},{{"name":"c","kind":{{"keyed_count":{{}}}}}},{{"name":"k","kind":{{"sink":{{}}}}}}],"edges":[{{"from":"s","to":"c"}},{{"from":"c","to":"k"}}]}},"checkpointing":{{"protocol":"aligned","interval":"100ms"{backend}}}}}"#
            ))
        };
        let plain = estimate(&job(""));
        let files = estimate(&job(
            r#","state_backend":{"kind":"rocksdb","incremental":true,"compaction_trigger":0}"#,
        ));
        // Every update of the 10^8 records read may sit in a file: 32 bytes each.
        let extra = files.memory.value - plain.memory.value;
        assert_eq!(extra, 100_000_000 * BYTES_PER_FILE_KEY, "{}", files.memory);
        assert_eq!(files.memory.field, "checkpointing.state_backend");
        let heap = estimate(&job(r#","state_backend":{"kind":"heap"}"#));
        assert_eq!(heap.memory, plain.memory);
    }

    #[test]
    fn keyed_state_is_bounded_by_the_records_read() {
        let job = |source: &str| {
            parse(&format!(
                r#"{{"duration":"1s","dataflow":{{"operators":[{{"name":"s","kind":{{"source":{source}}}}},{{"name":"c","kind":{{"keyed_count":{{}}}}}},{{"name":"k","kind":{{"sink":{{}}}}}}],"edges":[{{"from":"s","to":"c"}},{{"from":"c","to":"k"}}]}}}}"#
            ))
        };
        let few = estimate(&job(r#"{"keys":1000000000000,"records":1000}"#));
        Limits::default().check(&few).unwrap();
        // Without a rate a source reads up to one record per nanosecond: too many records,
        // and, with that limit lifted, too many keys held.
        let many = estimate(&job(r#"{"keys":1000000000000}"#));
        let err = Limits::default().check(&many).unwrap_err();
        assert_eq!(
            err.path, "dataflow.operators[0].kind.source (no rate)",
            "{err}"
        );
        let mut unlimited_records = Limits::default();
        unlimited_records.set("records=none").unwrap();
        let err = unlimited_records.check(&many).unwrap_err();
        assert_eq!(err.path, "dataflow.operators[1].kind", "{err}");
    }
}
