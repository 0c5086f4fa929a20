//! Trace exports for outside viewers: JSON Lines, Chrome trace-event JSON (for Perfetto and
//! `chrome://tracing`) and ShiViz logs.
//!
//! Every function here is pure: it takes the events a run kept ([`TraceMode::Full`]) and
//! returns text; the command line writes it. The output depends only on the events and the
//! topology (ordered maps and vectors, never a hash map), so it is byte-identical across runs.
//!
//! Messages are identified by (epoch, channel, sequence number): the epoch counts the
//! [`TraceEvent::Recover`] events seen so far, because a recovery restarts every channel's
//! sequence numbers from the restored cut. A message restored from a checkpoint's channel
//! state is received in a later epoch than the one it was sent in; its receive is matched to
//! the send with the same (channel, seq) in the latest earlier epoch.
//!
//! [`TraceMode::Full`]: crate::trace::TraceMode::Full

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::engine::Time;
use crate::network::MsgKind;
use crate::topology::Topology;
use crate::trace::TraceEvent;

/// The regular expression that parses the log of [`shiviz`] (paste it into ShiViz's "log
/// parsing regular expression" box). One line per event: host, a space, the vector clock as a
/// JSON object without nested braces, a space, and the description up to the end of the line.
pub const SHIVIZ_REGEX: &str = r"(?<host>\S+) (?<clock>\{[^}]*\}) (?<event>.*)";

/// The events as JSON Lines: one JSON object per event and line, in trace order, tagged by
/// `"ev"` (`{"ev":"send","t":1000,"ch":0,...}`).
pub fn jsonl(events: &[TraceEvent]) -> String {
    let mut out = Vec::with_capacity(events.len() * 64);
    for e in events {
        serde_json::to_writer(&mut out, e).expect("trace events serialize");
        out.push(b'\n');
    }
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The receive side of a message matched to its send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Matched {
    /// Index of the matching [`TraceEvent::Send`] in the events.
    send: usize,
    /// The send happened in an earlier epoch: the message was restored from channel state.
    restored: bool,
}

/// For every event, the send it received (receives only; `None` for everything else and for
/// receives whose send is not in the events).
fn match_messages(events: &[TraceEvent]) -> Vec<Option<Matched>> {
    // (ch, seq, epoch) -> index of the send: a range query finds the latest epoch <= now.
    let mut sends: BTreeMap<(u32, u64, u32), usize> = BTreeMap::new();
    let mut epoch: u32 = 0;
    let mut out = vec![None; events.len()];
    for (i, e) in events.iter().enumerate() {
        match *e {
            TraceEvent::Send { ch, seq, .. } => {
                sends.insert((ch, seq, epoch), i);
            }
            TraceEvent::Receive { ch, seq, .. } => {
                if let Some((&(_, _, ep), &send)) =
                    sends.range((ch, seq, 0)..=(ch, seq, epoch)).next_back()
                {
                    out[i] = Some(Matched {
                        send,
                        restored: ep < epoch,
                    });
                }
            }
            TraceEvent::Recover { .. } => epoch += 1,
            _ => {}
        }
    }
    out
}

/// A readable name for a message kind and control tag.
fn message_name(kind: u8, tag: u8) -> String {
    match (kind, tag) {
        (k, _) if k == MsgKind::Data as u8 => "data".to_string(),
        (k, _) if k == MsgKind::EndOfInput as u8 => "end-of-input".to_string(),
        (_, 1) => "marker".to_string(),
        (_, 2) => "barrier".to_string(),
        (_, 3) => "cancel".to_string(),
        (_, t) => format!("control {t}"),
    }
}

/// Nanoseconds as the microseconds (a float) of the Chrome trace-event format.
fn us(ns: Time) -> f64 {
    ns as f64 / 1000.0
}

/// Collects timed trace events and writes them sorted by time (stable, so events written
/// together at one instant, such as a flow's anchor slice and its flow event, stay together).
struct ChromeEvents {
    timed: Vec<(Time, Value)>,
}

impl ChromeEvents {
    fn push(&mut self, t: Time, v: Value) {
        self.timed.push((t, v));
    }
}

/// Per-task "data bytes in flight" counters, written at most once per task and microsecond.
struct InFlight {
    value: Vec<i64>,
    /// The latest value not yet written, with the time it was set.
    pending: Vec<Option<(Time, i64)>>,
    /// The last value written.
    written: Vec<Option<i64>>,
    names: Vec<String>,
}

impl InFlight {
    fn new(topo: &Topology) -> Self {
        let n = topo.tasks.len();
        InFlight {
            value: vec![0; n],
            pending: vec![None; n],
            written: vec![None; n],
            names: topo
                .tasks
                .iter()
                .map(|t| format!("in-flight bytes: {}", t.name))
                .collect(),
        }
    }

    fn write(&mut self, task: usize, t: Time, v: i64, out: &mut ChromeEvents) {
        if self.written[task] != Some(v) {
            self.written[task] = Some(v);
            out.push(
                t,
                json!({"ph": "C", "name": self.names[task], "ts": us(t), "pid": 1, "tid": task,
                       "args": {"bytes": v}}),
            );
        }
    }

    fn set(&mut self, task: usize, t: Time, v: i64, out: &mut ChromeEvents) {
        self.value[task] = v;
        if let Some((pt, pv)) = self.pending[task] {
            if pt / 1000 != t / 1000 {
                self.write(task, pt, pv, out);
            }
        }
        self.pending[task] = Some((t, v));
    }

    fn add(&mut self, task: usize, t: Time, delta: i64, out: &mut ChromeEvents) {
        let v = self.value[task] + delta;
        self.set(task, t, v, out);
    }

    fn flush(&mut self, out: &mut ChromeEvents) {
        for task in 0..self.pending.len() {
            if let Some((pt, pv)) = self.pending[task].take() {
                self.write(task, pt, pv, out);
            }
        }
    }
}

/// The events as Chrome trace-event JSON (`{"traceEvents": [...], "displayTimeUnit": "ns"}`),
/// which Perfetto (<https://ui.perfetto.dev>) and `chrome://tracing` open.
///
/// Process 1 (`snapsim`) has one thread per task (`tid` = task index, named after the task).
/// Timestamps are microseconds (floats). The file holds:
/// - instant events for local snapshots (`snapshot N`), ends of input, sink pre-commits and
///   commits and state changes on the task's track, and global instants for crashes and
///   recoveries;
/// - complete slices (`X`, `processing`) for the time a task was busy with records (a record's
///   processing ends at its receive and took the task's cost; back-to-back records merge), and
///   (`aligning N`) from a multi-input task's first barrier or marker of checkpoint N to its
///   snapshot N;
/// - complete slices (`X`, `back-pressured`) for the time a task was stopped by a full output
///   queue;
/// - async spans (`b`/`e`, category `checkpoint`, id = checkpoint id) from the first initiation
///   of a checkpoint to its end, with `args.completed`;
/// - per-task counters (`in-flight bytes: TASK`) of data bytes sent on the task's output channels
///   and not yet received, at most one per task and microsecond;
/// - flow arrows (`s`/`f`, category `control`) for control messages (markers, barriers,
///   cancellations) from the sending to the receiving task, each end bound to a zero-length
///   slice (`send barrier 3`, `receive barrier 3`) on the task's track. Data messages get no
///   arrows (there are too many).
///
/// Events are sorted by time; metadata comes first.
pub fn perfetto(events: &[TraceEvent], topo: &Topology) -> String {
    let matched = match_messages(events);
    let n = topo.tasks.len();
    let name = |task: usize| topo.tasks.get(task).map_or("?", |t| t.name.as_str());

    // Flow ids, one per (control send, receive) pair, in receive order; and the data messages
    // restored into each epoch's channels, by sending task (they are in flight from the
    // recovery on).
    let mut flows_of_send: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    let mut flow_of_receive: BTreeMap<usize, u64> = BTreeMap::new();
    let mut restored: BTreeMap<(u32, u32), i64> = BTreeMap::new();
    let mut epoch: u32 = 0;
    for (i, e) in events.iter().enumerate() {
        match *e {
            TraceEvent::Receive { ch, .. } => {
                let Some(m) = matched[i] else { continue };
                let TraceEvent::Send { kind, bytes, .. } = events[m.send] else {
                    continue;
                };
                if kind == MsgKind::Control as u8 {
                    let id = flow_of_receive.len() as u64 + 1;
                    flow_of_receive.insert(i, id);
                    flows_of_send.entry(m.send).or_default().push(id);
                } else if kind == MsgKind::Data as u8 && m.restored {
                    if let Some(c) = topo.channels.get(ch as usize) {
                        *restored.entry((epoch, c.src)).or_default() += i64::from(bytes);
                    }
                }
            }
            TraceEvent::Recover { .. } => epoch += 1,
            _ => {}
        }
    }

    let mut out = ChromeEvents { timed: Vec::new() };
    let mut in_flight = InFlight::new(topo);
    let mut bp_since: Vec<Option<Time>> = vec![None; n];
    let mut open_checkpoints: BTreeMap<u64, usize> = BTreeMap::new();
    let mut ended_checkpoints: BTreeSet<u64> = BTreeSet::new();
    let mut epoch: u32 = 0;
    let mut last_t: Time = 0;

    // Busy periods: a record's processing ends at its Receive (or SourceEmit) and took the
    // task's cost; back-to-back records merge into one slice, which keeps the file small.
    let mut busy: Vec<Option<(Time, Time, u64)>> = vec![None; n];
    let busy_slice = |task: usize, (from, to, records): (Time, Time, u64)| {
        json!({"ph": "X", "name": "processing", "cat": "task", "ts": us(from),
               "dur": us(to - from), "pid": 1, "tid": task, "args": {"records": records}})
    };
    let mut work = |task: usize, t: Time, out: &mut ChromeEvents| {
        let cost = topo.tasks.get(task).map_or(0, |s| s.cost);
        if cost == 0 {
            return;
        }
        let start = t.saturating_sub(cost);
        match &mut busy[task] {
            Some((_, end, k)) if start <= *end => {
                *end = t;
                *k += 1;
            }
            slot => {
                if let Some(done) = slot.take() {
                    out.push(done.0, busy_slice(task, done));
                }
                *slot = Some((start, t, 1));
            }
        }
    };
    // Alignment: from a task's first barrier or marker of a checkpoint to its snapshot.
    let mut aligning: BTreeMap<(usize, u64), Time> = BTreeMap::new();

    let back_pressure_slice = |task: usize, from: Time, to: Time| {
        json!({"ph": "X", "name": "back-pressured", "cat": "backpressure", "ts": us(from),
               "dur": us(to - from), "pid": 1, "tid": task})
    };

    for (i, e) in events.iter().enumerate() {
        let t = e.time();
        last_t = last_t.max(t);
        match *e {
            TraceEvent::Send {
                ch,
                seq,
                bytes,
                kind,
                tag,
                num,
                ..
            } => {
                let Some(c) = topo.channels.get(ch as usize) else {
                    continue;
                };
                let src = c.src as usize;
                if kind == MsgKind::Data as u8 {
                    in_flight.add(src, t, i64::from(bytes), &mut out);
                } else if let Some(ids) = flows_of_send.get(&i) {
                    let what = message_name(kind, tag);
                    out.push(
                        t,
                        json!({"ph": "X", "name": format!("send {what} {num}"), "cat": "control",
                               "ts": us(t), "dur": 0.0, "pid": 1, "tid": src,
                               "args": {"to": name(c.dst as usize), "ch": ch, "seq": seq,
                                        "bytes": bytes}}),
                    );
                    for &id in ids {
                        out.push(
                            t,
                            json!({"ph": "s", "name": what, "cat": "control", "id": id,
                                   "ts": us(t), "pid": 1, "tid": src}),
                        );
                    }
                }
            }
            TraceEvent::Receive { ch, seq, .. } => {
                let (Some(m), Some(c)) = (matched[i], topo.channels.get(ch as usize)) else {
                    continue;
                };
                let TraceEvent::Send {
                    kind,
                    tag,
                    num,
                    bytes: sent_bytes,
                    ..
                } = events[m.send]
                else {
                    continue;
                };
                if kind == MsgKind::Data as u8 {
                    in_flight.add(c.src as usize, t, -i64::from(sent_bytes), &mut out);
                    work(c.dst as usize, t, &mut out);
                } else if kind == MsgKind::Control as u8 {
                    let dst = c.dst as usize;
                    if topo.tasks.get(dst).is_some_and(|s| s.inputs.len() > 1) {
                        aligning.entry((dst, num)).or_insert(t);
                    }
                }
                if let (false, Some(&id)) = (kind == MsgKind::Data as u8, flow_of_receive.get(&i)) {
                    let what = message_name(kind, tag);
                    let dst = c.dst as usize;
                    out.push(
                        t,
                        json!({"ph": "X", "name": format!("receive {what} {num}"),
                               "cat": "control", "ts": us(t), "dur": 0.0, "pid": 1, "tid": dst,
                               "args": {"from": name(c.src as usize), "ch": ch, "seq": seq,
                                        "restored": m.restored}}),
                    );
                    out.push(
                        t,
                        json!({"ph": "f", "bp": "e", "name": what, "cat": "control", "id": id,
                               "ts": us(t), "pid": 1, "tid": dst}),
                    );
                }
            }
            TraceEvent::BackPressure { task, on, .. } => {
                let task = task as usize;
                if task >= n {
                    continue;
                }
                if on {
                    bp_since[task].get_or_insert(t);
                } else if let Some(from) = bp_since[task].take() {
                    out.push(from, back_pressure_slice(task, from, t));
                }
            }
            TraceEvent::LocalSnapshot {
                task, id, bytes, ..
            } => {
                if let Some(from) = aligning.remove(&(task as usize, id)) {
                    out.push(
                        from,
                        json!({"ph": "X", "name": format!("aligning {id}"), "cat": "checkpoint",
                               "ts": us(from), "dur": us(t - from), "pid": 1, "tid": task}),
                    );
                }
                out.push(
                    t,
                    json!({"ph": "i", "s": "t", "name": format!("snapshot {id}"), "cat": "snapshot",
                           "ts": us(t), "pid": 1, "tid": task, "args": {"bytes": bytes}}),
                )
            }
            TraceEvent::SourceEmit { task, .. } => work(task as usize, t, &mut out),
            TraceEvent::EndOfInput { task, .. } => out.push(
                t,
                json!({"ph": "i", "s": "t", "name": "end of input", "cat": "task", "ts": us(t),
                       "pid": 1, "tid": task}),
            ),
            TraceEvent::SinkPrecommit { task, id, .. } => out.push(
                t,
                json!({"ph": "i", "s": "t", "name": format!("pre-commit {id}"), "cat": "sink",
                       "ts": us(t), "pid": 1, "tid": task}),
            ),
            TraceEvent::SinkCommit { task, id, .. } => {
                let label = if id == u64::MAX {
                    "final commit".to_string()
                } else {
                    format!("commit {id}")
                };
                out.push(
                    t,
                    json!({"ph": "i", "s": "t", "name": label, "cat": "sink", "ts": us(t),
                           "pid": 1, "tid": task}),
                );
            }
            TraceEvent::StateChange { task, label, .. } => out.push(
                t,
                json!({"ph": "i", "s": "t", "name": format!("state {label}"), "cat": "task",
                       "ts": us(t), "pid": 1, "tid": task, "args": {"label": label}}),
            ),
            TraceEvent::Initiate { task, id, .. } => {
                if !open_checkpoints.contains_key(&id) && !ended_checkpoints.contains(&id) {
                    open_checkpoints.insert(id, task as usize);
                    out.push(
                        t,
                        json!({"ph": "b", "name": format!("checkpoint {id}"),
                               "cat": "checkpoint", "id": id, "ts": us(t), "pid": 1,
                               "tid": task, "args": {"initiator": name(task as usize)}}),
                    );
                }
            }
            TraceEvent::CheckpointEnd { id, completed, .. } => {
                if let Some(tid) = open_checkpoints.remove(&id) {
                    ended_checkpoints.insert(id);
                    out.push(
                        t,
                        json!({"ph": "e", "name": format!("checkpoint {id}"),
                               "cat": "checkpoint", "id": id, "ts": us(t), "pid": 1,
                               "tid": tid, "args": {"completed": completed}}),
                    );
                }
            }
            TraceEvent::Crash { .. } => {
                for (task, since) in bp_since.iter_mut().enumerate() {
                    if let Some(from) = since.take() {
                        out.push(from, back_pressure_slice(task, from, t));
                    }
                }
                // In-flight data and alignments are lost.
                aligning.clear();
                for task in 0..n {
                    in_flight.set(task, t, 0, &mut out);
                }
                out.push(
                    t,
                    json!({"ph": "i", "s": "g", "name": "crash", "cat": "failure", "ts": us(t),
                           "pid": 1, "tid": 0}),
                );
            }
            TraceEvent::Recover { checkpoint, .. } => {
                epoch += 1;
                for (task, since) in bp_since.iter_mut().enumerate() {
                    if let Some(from) = since.take() {
                        out.push(from, back_pressure_slice(task, from, t));
                    }
                }
                // Recorded channel state goes back into the channels.
                for task in 0..n {
                    let v = restored.get(&(epoch, task as u32)).copied().unwrap_or(0);
                    in_flight.set(task, t, v, &mut out);
                }
                out.push(
                    t,
                    json!({"ph": "i", "s": "g", "name": format!("recover from checkpoint {checkpoint}"),
                           "cat": "failure", "ts": us(t), "pid": 1, "tid": 0,
                           "args": {"checkpoint": checkpoint}}),
                );
            }
            TraceEvent::SinkOutput { .. } => {}
        }
    }

    // Close what the trace left open.
    for (task, slot) in busy.into_iter().enumerate() {
        if let Some(done) = slot {
            out.push(done.0, busy_slice(task, done));
        }
    }
    for (task, since) in bp_since.iter_mut().enumerate() {
        if let Some(from) = since.take() {
            out.push(from, back_pressure_slice(task, from, last_t));
        }
    }
    for (id, tid) in std::mem::take(&mut open_checkpoints) {
        out.push(
            last_t,
            json!({"ph": "e", "name": format!("checkpoint {id}"), "cat": "checkpoint", "id": id,
                   "ts": us(last_t), "pid": 1, "tid": tid,
                   "args": {"completed": false, "unfinished": true}}),
        );
    }
    in_flight.flush(&mut out);

    let mut timed = out.timed;
    timed.sort_by_key(|(t, _)| *t);

    let mut lines: Vec<String> = Vec::with_capacity(2 * n + 1 + timed.len());
    lines.push(
        json!({"ph": "M", "name": "process_name", "pid": 1, "tid": 0,
               "args": {"name": "snapsim"}})
        .to_string(),
    );
    for (i, task) in topo.tasks.iter().enumerate() {
        lines.push(
            json!({"ph": "M", "name": "thread_name", "pid": 1, "tid": i,
                   "args": {"name": task.name}})
            .to_string(),
        );
        lines.push(
            json!({"ph": "M", "name": "thread_sort_index", "pid": 1, "tid": i,
                   "args": {"sort_index": i}})
            .to_string(),
        );
    }
    lines.extend(timed.into_iter().map(|(_, v)| v.to_string()));
    let mut s = String::from("{\"traceEvents\":[\n");
    s.push_str(&lines.join(",\n"));
    s.push_str("\n],\"displayTimeUnit\":\"ns\"}\n");
    s
}

/// ShiViz host names: the task names with whitespace, braces, quotes and backslashes replaced
/// by `_` (so that [`SHIVIZ_REGEX`] matches them), made unique with `#index` if needed.
fn host_names(topo: &Topology) -> Vec<String> {
    let mut seen = BTreeSet::new();
    topo.tasks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut h: String = t
                .name
                .chars()
                .map(|c| {
                    if c.is_whitespace() || c.is_control() || matches!(c, '{' | '}' | '"' | '\\') {
                        '_'
                    } else {
                        c
                    }
                })
                .collect();
            if h.is_empty() {
                h = format!("task{i}");
            }
            while !seen.insert(h.clone()) {
                h = format!("{h}#{i}");
            }
            h
        })
        .collect()
}

/// `t=1.234567ms`.
fn at(t: Time) -> String {
    format!("t={}.{:06}ms", t / 1_000_000, t % 1_000_000)
}

/// The events as a ShiViz log (<https://bestchai.bitbucket.io/shiviz/>), with the regular
/// expression that parses it ([`SHIVIZ_REGEX`]): `(log, regex)`.
///
/// One line per event: `HOST {"HOST":3,"OTHER":1} description`. Hosts are the tasks (names
/// sanitised by replacing whitespace, braces, quotes and backslashes with `_`). A host's events
/// are its sends (data, control and end of input), its receives, its local snapshots and its
/// state changes, in trace order. The vector clocks follow ShiViz's rules: a host's own entry
/// is 1 at its first event and rises by exactly one per event; a receive first takes the
/// element-wise maximum of the receiver's clock and the sender's clock at the matching send
/// (matched by (epoch, channel, seq); a message restored from channel state by the send in the
/// latest earlier epoch). A clock lists only hosts with a nonzero entry, in task order.
pub fn shiviz(events: &[TraceEvent], topo: &Topology) -> (String, String) {
    let matched = match_messages(events);
    let hosts = host_names(topo);
    let n = hosts.len();
    let keys: Vec<String> = hosts
        .iter()
        .map(|h| serde_json::to_string(h).expect("strings serialize"))
        .collect();
    let needed: BTreeSet<usize> = matched.iter().flatten().map(|m| m.send).collect();
    let mut clocks: Vec<Vec<u64>> = vec![vec![0; n]; n];
    let mut sent: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    let mut log = String::new();
    let host_of = |ch: u32, receiver: bool| {
        topo.channels.get(ch as usize).map(|c| {
            if receiver {
                c.dst as usize
            } else {
                c.src as usize
            }
        })
    };
    for (i, e) in events.iter().enumerate() {
        let (host, desc) = match *e {
            TraceEvent::Send {
                t,
                ch,
                seq,
                bytes,
                kind,
                tag,
                num,
            } => {
                let Some(src) = host_of(ch, false) else {
                    continue;
                };
                let to = &hosts[host_of(ch, true).unwrap_or(src)];
                clocks[src][src] += 1;
                if needed.contains(&i) {
                    sent.insert(i, clocks[src].clone());
                }
                let what = message_name(kind, tag);
                let desc = if kind == MsgKind::Data as u8 {
                    format!(
                        "send data to {to} (ch {ch} seq {seq}, key {num}, {bytes} B) {}",
                        at(t)
                    )
                } else if kind == MsgKind::Control as u8 {
                    format!("send {what} {num} to {to} (ch {ch} seq {seq}) {}", at(t))
                } else {
                    format!("send {what} to {to} (ch {ch} seq {seq}) {}", at(t))
                };
                (src, desc)
            }
            TraceEvent::Receive { t, ch, seq } => {
                let Some(dst) = host_of(ch, true) else {
                    continue;
                };
                let from = &hosts[host_of(ch, false).unwrap_or(dst)];
                let mut what = "message".to_string();
                let mut note = "";
                if let Some(m) = matched[i] {
                    if let Some(sc) = sent.get(&m.send) {
                        for (mine, theirs) in clocks[dst].iter_mut().zip(sc) {
                            *mine = (*mine).max(*theirs);
                        }
                    }
                    if let TraceEvent::Send { kind, tag, num, .. } = events[m.send] {
                        what = message_name(kind, tag);
                        if kind == MsgKind::Control as u8 {
                            what = format!("{what} {num}");
                        }
                    }
                    if m.restored {
                        note = ", restored";
                    }
                } else {
                    note = ", unmatched";
                }
                clocks[dst][dst] += 1;
                (
                    dst,
                    format!(
                        "receive {what} from {from} (ch {ch} seq {seq}{note}) {}",
                        at(t)
                    ),
                )
            }
            TraceEvent::LocalSnapshot {
                t, task, id, bytes, ..
            } => {
                let task = task as usize;
                if task >= n {
                    continue;
                }
                clocks[task][task] += 1;
                (task, format!("local snapshot {id} ({bytes} B) {}", at(t)))
            }
            TraceEvent::StateChange { t, task, label } => {
                let task = task as usize;
                if task >= n {
                    continue;
                }
                clocks[task][task] += 1;
                (task, format!("state change to label {label} {}", at(t)))
            }
            _ => continue,
        };
        log.push_str(&hosts[host]);
        log.push_str(" {");
        let mut first = true;
        for (k, &v) in clocks[host].iter().enumerate() {
            if v > 0 {
                if !first {
                    log.push(',');
                }
                first = false;
                let _ = write!(log, "{}:{v}", keys[k]);
            }
        }
        log.push_str("} ");
        log.push_str(&desc);
        log.push('\n');
    }
    (log, SHIVIZ_REGEX.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::ProtocolKind;
    use crate::scenario::Scenario;
    use crate::trace::TraceMode;
    use crate::RunOptions;

    /// A small job: two sources, a keyed count, a sink; mild back-pressure.
    const JOB: &str = r#"{
      "seed": 7,
      "duration": "20ms",
      "network": {"latency": {"uniform": {"min": "50us", "max": "150us"}},
                  "out_buffer": "2KiB", "in_buffer": "2KiB"},
      "dataflow": {
        "operators": [
          {"name": "src", "kind": {"source": {"rate": "50000/s", "keys": 20, "record_size": "100B"}},
           "parallelism": 2},
          {"name": "count", "kind": {"keyed_count": {}}, "parallelism": 2, "cost": "5us"},
          {"name": "sink", "kind": {"sink": {}}, "cost": "12us"}
        ],
        "edges": [
          {"from": "src", "to": "count", "partition": "hash"},
          {"from": "count", "to": "sink", "partition": "rebalance"}
        ]
      },
      "checkpointing": {"protocol": "aligned", "interval": "4ms"}
    }"#;

    fn run(json: &[u8], name: &str, protocol: ProtocolKind) -> (Topology, Vec<TraceEvent>) {
        let s = Scenario::from_json(json, name).unwrap();
        let opts = RunOptions {
            protocol,
            trace: TraceMode::Full,
            ..RunOptions::default()
        };
        let (_, out) = crate::simulate_full(&s, &opts, &mut |_, _| {}).unwrap();
        let topo = Topology::build(&s, s.seed).unwrap();
        (topo, out.trace.events().to_vec())
    }

    fn cl_paper() -> (Topology, Vec<TraceEvent>) {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/cl-paper.json"
        ))
        .unwrap();
        run(&bytes, "cl-paper", "chandy-lamport".parse().unwrap())
    }

    fn job() -> (Topology, Vec<TraceEvent>) {
        run(JOB.as_bytes(), "job", "aligned".parse().unwrap())
    }

    /// The job with a crash in the middle, under unaligned checkpoints (which record channel
    /// state, so messages are restored after the recovery).
    fn job_with_crash() -> (Topology, Vec<TraceEvent>) {
        let json = JOB.replace(
            r#""checkpointing""#,
            r#""failures": [{"crash": {"at": "11ms"}}],
               "recovery": {"restart_delay": "1ms"},
               "checkpointing""#,
        );
        run(json.as_bytes(), "job-crash", "unaligned".parse().unwrap())
    }

    fn check_jsonl(events: &[TraceEvent]) {
        let text = jsonl(events);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), events.len());
        assert!(text.ends_with('\n') || events.is_empty());
        for (line, e) in lines.iter().zip(events) {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(v["ev"].is_string(), "{line}");
            assert_eq!(v["t"].as_u64(), Some(e.time()), "{line}");
        }
    }

    /// Parses the Perfetto export and checks its structure; returns the parsed events.
    fn check_perfetto(events: &[TraceEvent], topo: &Topology) -> Vec<Value> {
        let text = perfetto(events, topo);
        assert_eq!(text, perfetto(events, topo), "deterministic");
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["displayTimeUnit"], "ns");
        let list = doc["traceEvents"].as_array().unwrap().clone();
        let mut thread_names = BTreeMap::new();
        let mut spans: BTreeMap<u64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        let mut starts: BTreeMap<u64, usize> = BTreeMap::new();
        let mut finishes: BTreeMap<u64, usize> = BTreeMap::new();
        let mut counter_slots = BTreeSet::new();
        let mut last_ts = f64::NEG_INFINITY;
        for e in &list {
            let ph = e["ph"].as_str().unwrap_or_else(|| panic!("no ph: {e}"));
            assert!(e["pid"].is_u64(), "{e}");
            assert!(e["tid"].is_u64(), "{e}");
            if ph == "M" {
                if e["name"] == "thread_name" {
                    thread_names.insert(
                        e["tid"].as_u64().unwrap(),
                        e["args"]["name"].as_str().unwrap().to_string(),
                    );
                }
                continue;
            }
            let ts = e["ts"].as_f64().unwrap_or_else(|| panic!("no ts: {e}"));
            assert!(ts >= last_ts, "sorted by time: {e}");
            last_ts = ts;
            let tid = e["tid"].as_u64().unwrap();
            assert!((tid as usize) < topo.tasks.len(), "{e}");
            match ph {
                "b" | "e" => {
                    assert_eq!(e["cat"], "checkpoint");
                    let id = e["id"].as_u64().unwrap();
                    let entry = spans.entry(id).or_default();
                    if ph == "b" {
                        entry.0.push(ts);
                    } else {
                        assert!(e["args"]["completed"].is_boolean(), "{e}");
                        entry.1.push(ts);
                    }
                }
                "s" => *starts.entry(e["id"].as_u64().unwrap()).or_default() += 1,
                "f" => {
                    assert_eq!(e["bp"], "e");
                    *finishes.entry(e["id"].as_u64().unwrap()).or_default() += 1;
                }
                "X" => assert!(e["dur"].as_f64().unwrap() >= 0.0, "{e}"),
                "C" => {
                    assert!(e["args"]["bytes"].as_i64().unwrap() >= 0, "{e}");
                    let slot = (e["name"].as_str().unwrap().to_string(), ts.floor() as u64);
                    assert!(counter_slots.insert(slot), "two counters in one us: {e}");
                }
                "i" => assert!(e["s"] == "t" || e["s"] == "g", "{e}"),
                other => panic!("unexpected phase {other}"),
            }
        }
        for (i, t) in topo.tasks.iter().enumerate() {
            assert_eq!(thread_names.get(&(i as u64)), Some(&t.name));
        }
        for (id, (b, e)) in &spans {
            assert_eq!(b.len(), 1, "checkpoint {id}");
            assert_eq!(e.len(), 1, "checkpoint {id}");
            assert!(b[0] <= e[0], "checkpoint {id}");
        }
        assert_eq!(starts, finishes, "flows balanced");
        assert!(starts.values().all(|&c| c == 1));
        list
    }

    /// One parsed ShiViz line.
    struct Line {
        host: String,
        clock: BTreeMap<String, u64>,
        event: String,
    }

    /// Parses a line as [`SHIVIZ_REGEX`] does (`\S+`, a space, `\{[^}]*\}`, a space, `.*`).
    fn parse_line(line: &str) -> Line {
        let (host, rest) = line.split_once(' ').unwrap();
        assert!(!host.is_empty() && !host.chars().any(char::is_whitespace));
        assert!(rest.starts_with('{'), "{line}");
        let close = rest.find('}').unwrap();
        let clock: BTreeMap<String, u64> = serde_json::from_str(&rest[..=close]).unwrap();
        let event = rest[close + 1..].strip_prefix(' ').unwrap().to_string();
        assert!(!event.is_empty());
        Line {
            host: host.to_string(),
            clock,
            event,
        }
    }

    fn dominates(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> bool {
        b.iter().all(|(h, v)| a.get(h).copied().unwrap_or(0) >= *v)
    }

    /// Checks the ShiViz log; returns how many receives of restored messages it holds.
    fn check_shiviz(events: &[TraceEvent], topo: &Topology) -> usize {
        let (log, regex) = shiviz(events, topo);
        assert_eq!(regex, SHIVIZ_REGEX);
        assert_eq!(log, shiviz(events, topo).0, "deterministic");
        let hosts = host_names(topo);
        let mut own: BTreeMap<String, u64> = BTreeMap::new();
        // (ch, seq, epoch) -> the clock of the send.
        let mut sends: BTreeMap<(u32, u64, u32), BTreeMap<String, u64>> = BTreeMap::new();
        let mut epoch = 0;
        let mut lines = log.lines();
        let mut restored = 0;
        for e in events {
            let (host, key) = match *e {
                TraceEvent::Send { ch, seq, .. } => {
                    (topo.channels[ch as usize].src, Some((false, ch, seq)))
                }
                TraceEvent::Receive { ch, seq, .. } => {
                    (topo.channels[ch as usize].dst, Some((true, ch, seq)))
                }
                TraceEvent::LocalSnapshot { task, .. } | TraceEvent::StateChange { task, .. } => {
                    (task, None)
                }
                TraceEvent::Recover { .. } => {
                    epoch += 1;
                    continue;
                }
                _ => continue,
            };
            let line = parse_line(lines.next().expect("a line per host event"));
            let host = &hosts[host as usize];
            assert_eq!(&line.host, host);
            // Own entry: 1, 2, 3, ... without gaps.
            let next = own.get(host).copied().unwrap_or(0) + 1;
            assert_eq!(line.clock.get(host), Some(&next), "{}", line.event);
            own.insert(host.clone(), next);
            // Only nonzero entries, only known hosts, nothing from another host's future.
            for (h, v) in &line.clock {
                assert!(*v > 0);
                assert!(hosts.contains(h));
                assert!(
                    own.get(h).copied().unwrap_or(0) >= *v,
                    "{h} in {}",
                    line.event
                );
            }
            match key {
                Some((false, ch, seq)) => {
                    assert!(line.event.starts_with("send "));
                    sends.insert((ch, seq, epoch), line.clock);
                }
                Some((true, ch, seq)) => {
                    assert!(line.event.starts_with("receive "));
                    let send = sends.range((ch, seq, 0)..=(ch, seq, epoch)).next_back();
                    let ((_, _, send_epoch), sc) = send.expect("every receive has a send");
                    assert!(dominates(&line.clock, sc), "{}", line.event);
                    if *send_epoch < epoch {
                        restored += 1;
                        assert!(line.event.contains("restored"));
                    }
                }
                None => {}
            }
        }
        assert!(lines.next().is_none(), "no extra lines");
        restored
    }

    #[test]
    fn jsonl_has_one_json_object_per_event() {
        let (_, events) = cl_paper();
        assert!(!events.is_empty());
        check_jsonl(&events);
        let (_, events) = job();
        check_jsonl(&events);
        assert_eq!(jsonl(&[]), "");
    }

    #[test]
    fn perfetto_export_of_the_chandy_lamport_example() {
        let (topo, events) = cl_paper();
        let list = check_perfetto(&events, &topo);
        let names: Vec<&str> = list.iter().filter_map(|e| e["name"].as_str()).collect();
        assert!(names.contains(&"process_name"));
        assert!(names.contains(&"snapshot 1"));
        // p's marker to q and q's marker to p.
        let flows = list.iter().filter(|e| e["ph"] == "s").count();
        assert_eq!(flows, 2, "one arrow per marker");
        assert!(list.iter().all(|e| e["ph"] != "s" || e["name"] == "marker"));
        // Chandy-Lamport has no coordinator; a checkpoint span if any is balanced (checked).
    }

    #[test]
    fn perfetto_export_of_an_aligned_job() {
        let (topo, events) = job();
        let list = check_perfetto(&events, &topo);
        let ph = |p: &str| list.iter().filter(|e| e["ph"] == p).count();
        assert!(ph("b") >= 2, "checkpoint spans");
        // Busy periods of tasks with a processing cost, and alignments at multi-input tasks.
        let named = |n: &str| {
            list.iter()
                .filter(|e| e["ph"] == "X" && e["name"] == n)
                .count()
        };
        assert!(named("processing") > 0, "processing slices");
        assert!(
            list.iter().any(|e| e["ph"] == "X"
                && e["name"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("aligning "))),
            "alignment slices"
        );
        assert!(ph("s") > 0, "barrier arrows");
        assert!(ph("C") > 0, "in-flight counters");
        assert!(list
            .iter()
            .any(|e| e["ph"] == "e" && e["args"]["completed"] == true));
        // Arrows go from the sender's track to the receiver's, and only for control messages.
        let barriers = events
            .iter()
            .filter(|e| matches!(e, TraceEvent::Send { kind: 1, .. }))
            .count();
        assert!(ph("s") <= barriers);
    }

    #[test]
    fn perfetto_export_survives_a_crash() {
        let (topo, events) = job_with_crash();
        assert!(events
            .iter()
            .any(|e| matches!(e, TraceEvent::Recover { .. })));
        let list = check_perfetto(&events, &topo);
        assert!(list.iter().any(|e| e["name"] == "crash" && e["s"] == "g"));
    }

    #[test]
    fn shiviz_clocks_follow_the_rules() {
        let (topo, events) = cl_paper();
        check_shiviz(&events, &topo);
        let (log, _) = shiviz(&events, &topo);
        // p: snapshot, marker, M; q: M', state change, ...; every line starts with its host.
        assert!(log
            .lines()
            .all(|l| l.starts_with("p ") || l.starts_with("q ")));
        assert!(log.contains("send marker 1 to q"));

        let (topo, events) = job();
        check_shiviz(&events, &topo);
    }

    #[test]
    fn shiviz_matches_restored_messages_across_a_recovery() {
        let (topo, events) = job_with_crash();
        let restored = check_shiviz(&events, &topo);
        assert!(restored > 0, "the crash restores recorded channel state");
    }

    #[test]
    fn host_names_are_unique_and_regex_safe() {
        let (mut topo, _) = cl_paper();
        topo.tasks[0].name = "a b".to_string();
        topo.tasks[1].name = "a_b".to_string();
        let hosts = host_names(&topo);
        assert_eq!(hosts[0], "a_b");
        assert_ne!(hosts[0], hosts[1]);
        assert!(hosts.iter().all(|h| !h.contains(char::is_whitespace)));
    }
}
