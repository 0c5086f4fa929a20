//! The trace as Chrome trace-event JSON, for Perfetto and `chrome://tracing`.
//!
//! A track per task with its busy, aligning and back-pressured slices, checkpoint spans,
//! in-flight counters and arrows for control messages. It is written in two passes: the
//! first finds the arrows and the data restored by each recovery, the second the tracks.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::message_name;
use crate::engine::Time;
use crate::network::MsgKind;
use crate::topology::Topology;
use crate::trace::matching::{match_all, Matched};
use crate::trace::TraceEvent;

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
    let matched = match_all(events);
    let flows = Flows::new(events, &matched, topo);
    let mut tracks = Tracks::new(topo, &flows);
    for (i, e) in events.iter().enumerate() {
        tracks.event(i, e, matched[i].map(|m| (m, &events[m.send])));
    }
    document(topo, tracks.finish())
}

/// Nanoseconds as the microseconds (a float) of the Chrome trace-event format.
fn us(ns: Time) -> f64 {
    ns as f64 / 1000.0
}

/// What has to be known about messages before the tracks are written: the arrows of control
/// messages, and the data each recovery puts back into the channels.
struct Flows {
    /// Flow ids of each control send, by the send's index (one per receive of it).
    of_send: BTreeMap<usize, Vec<u64>>,
    /// The flow id of each control receive, by the receive's index; ids count receives.
    of_receive: BTreeMap<usize, u64>,
    /// Bytes of data restored into the channels by the recovery that starts each epoch, by
    /// (epoch, sending task): they are in flight from the recovery on.
    restored: BTreeMap<(u32, u32), i64>,
}

impl Flows {
    fn new(events: &[TraceEvent], matched: &[Option<Matched<usize>>], topo: &Topology) -> Self {
        let mut flows = Flows {
            of_send: BTreeMap::new(),
            of_receive: BTreeMap::new(),
            restored: BTreeMap::new(),
        };
        for (i, e) in events.iter().enumerate() {
            let (TraceEvent::Receive { ch, .. }, Some(m)) = (e, matched[i]) else {
                continue;
            };
            let TraceEvent::Send { kind, bytes, .. } = events[m.send] else {
                continue;
            };
            if kind == MsgKind::Control as u8 {
                let id = flows.of_receive.len() as u64 + 1;
                flows.of_receive.insert(i, id);
                flows.of_send.entry(m.send).or_default().push(id);
            } else if kind == MsgKind::Data as u8 && m.restored() {
                if let Some(c) = topo.channels.get(*ch as usize) {
                    *flows.restored.entry((m.received_in, c.src)).or_default() += i64::from(bytes);
                }
            }
        }
        flows
    }
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

/// A busy period of a task: (start, end, records processed).
type Busy = (Time, Time, u64);

/// The tracks being written, fed the events in trace order.
struct Tracks<'a> {
    topo: &'a Topology,
    flows: &'a Flows,
    out: ChromeEvents,
    in_flight: InFlight,
    /// Since when each task is back-pressured.
    bp_since: Vec<Option<Time>>,
    /// Checkpoints begun and not yet ended, with the task their span is drawn on.
    open_checkpoints: BTreeMap<u64, usize>,
    ended_checkpoints: BTreeSet<u64>,
    /// Recoveries so far.
    epoch: u32,
    last_t: Time,
    /// The busy period each task is in. A record's processing ends at its Receive (or
    /// SourceEmit) and took the task's cost; back-to-back records merge into one slice, which
    /// keeps the file small.
    busy: Vec<Option<Busy>>,
    /// Alignment: from a task's first barrier or marker of a checkpoint to its snapshot, by
    /// (task, checkpoint).
    aligning: BTreeMap<(usize, u64), Time>,
}

impl<'a> Tracks<'a> {
    fn new(topo: &'a Topology, flows: &'a Flows) -> Self {
        let n = topo.tasks.len();
        Tracks {
            topo,
            flows,
            out: ChromeEvents { timed: Vec::new() },
            in_flight: InFlight::new(topo),
            bp_since: vec![None; n],
            open_checkpoints: BTreeMap::new(),
            ended_checkpoints: BTreeSet::new(),
            epoch: 0,
            last_t: 0,
            busy: vec![None; n],
            aligning: BTreeMap::new(),
        }
    }

    fn name(&self, task: usize) -> &'a str {
        self.topo.tasks.get(task).map_or("?", |t| t.name.as_str())
    }

    /// Writes what event `i` shows; a receive comes with its matched send.
    fn event(&mut self, i: usize, e: &TraceEvent, send: Option<(Matched<usize>, &TraceEvent)>) {
        let t = e.time();
        self.last_t = self.last_t.max(t);
        match *e {
            TraceEvent::Send { .. } => self.send(i, e),
            TraceEvent::Receive { ch, seq, .. } => {
                if let Some((m, send_event)) = send {
                    self.receive(i, t, (ch, seq), m, send_event);
                }
            }
            TraceEvent::BackPressure { task, on, .. } => self.back_pressure(t, task, on),
            TraceEvent::LocalSnapshot {
                task, id, bytes, ..
            } => self.local_snapshot(t, task, id, bytes),
            TraceEvent::SourceEmit { task, .. } => self.work(task as usize, t),
            TraceEvent::Initiate { task, id, .. } => self.initiate(t, task, id),
            TraceEvent::CheckpointEnd { id, completed, .. } => {
                self.checkpoint_end(t, id, completed);
            }
            TraceEvent::Crash { .. } => self.crash(t),
            TraceEvent::Recover { checkpoint, .. } => self.recover(t, checkpoint),
            _ => self.instant(e),
        }
    }

    /// Instants on a task's track: end of input, pre-commits, commits, state changes.
    fn instant(&mut self, e: &TraceEvent) {
        let v = match *e {
            TraceEvent::EndOfInput { t, task } => json!({"ph": "i", "s": "t",
                "name": "end of input", "cat": "task", "ts": us(t), "pid": 1, "tid": task}),
            TraceEvent::SinkPrecommit { t, task, id } => json!({"ph": "i", "s": "t",
                "name": format!("pre-commit {id}"), "cat": "sink", "ts": us(t), "pid": 1,
                "tid": task}),
            TraceEvent::SinkCommit { t, task, id } => {
                let label = if id == u64::MAX {
                    "final commit".to_string()
                } else {
                    format!("commit {id}")
                };
                json!({"ph": "i", "s": "t", "name": label, "cat": "sink", "ts": us(t),
                       "pid": 1, "tid": task})
            }
            TraceEvent::StateChange { t, task, label } => json!({"ph": "i", "s": "t",
                "name": format!("state {label}"), "cat": "task", "ts": us(t), "pid": 1,
                "tid": task, "args": {"label": label}}),
            _ => return,
        };
        self.out.push(e.time(), v);
    }

    /// A send: data counts as in flight; a control message gets the start of its arrows.
    fn send(&mut self, i: usize, e: &TraceEvent) {
        let TraceEvent::Send {
            t,
            ch,
            seq,
            bytes,
            kind,
            tag,
            num,
        } = *e
        else {
            return;
        };
        let Some(c) = self.topo.channels.get(ch as usize) else {
            return;
        };
        let src = c.src as usize;
        if kind == MsgKind::Data as u8 {
            self.in_flight.add(src, t, i64::from(bytes), &mut self.out);
        } else if let Some(ids) = self.flows.of_send.get(&i) {
            let what = message_name(kind, tag);
            self.out.push(
                t,
                json!({"ph": "X", "name": format!("send {what} {num}"), "cat": "control",
                       "ts": us(t), "dur": 0.0, "pid": 1, "tid": src,
                       "args": {"to": self.name(c.dst as usize), "ch": ch, "seq": seq,
                                "bytes": bytes}}),
            );
            for &id in ids {
                self.out.push(
                    t,
                    json!({"ph": "s", "name": what, "cat": "control", "id": id,
                           "ts": us(t), "pid": 1, "tid": src}),
                );
            }
        }
    }

    /// A receive of the message sent by `send_event`: data ends its time in flight and a
    /// record's processing; a control message may start an alignment and ends its arrow.
    fn receive(
        &mut self,
        i: usize,
        t: Time,
        (ch, seq): (u32, u64),
        m: Matched<usize>,
        send_event: &TraceEvent,
    ) {
        let Some(c) = self.topo.channels.get(ch as usize) else {
            return;
        };
        let TraceEvent::Send {
            kind,
            tag,
            num,
            bytes: sent_bytes,
            ..
        } = *send_event
        else {
            return;
        };
        let dst = c.dst as usize;
        if kind == MsgKind::Data as u8 {
            self.in_flight
                .add(c.src as usize, t, -i64::from(sent_bytes), &mut self.out);
            self.work(dst, t);
            return;
        }
        if kind == MsgKind::Control as u8
            && self.topo.tasks.get(dst).is_some_and(|s| s.inputs.len() > 1)
        {
            self.aligning.entry((dst, num)).or_insert(t);
        }
        if let Some(&id) = self.flows.of_receive.get(&i) {
            let what = message_name(kind, tag);
            self.out.push(
                t,
                json!({"ph": "X", "name": format!("receive {what} {num}"),
                       "cat": "control", "ts": us(t), "dur": 0.0, "pid": 1, "tid": dst,
                       "args": {"from": self.name(c.src as usize), "ch": ch, "seq": seq,
                                "restored": m.restored()}}),
            );
            self.out.push(
                t,
                json!({"ph": "f", "bp": "e", "name": what, "cat": "control", "id": id,
                       "ts": us(t), "pid": 1, "tid": dst}),
            );
        }
    }

    /// A record processed by `task`, finished at `t`: extends its busy period or starts one.
    fn work(&mut self, task: usize, t: Time) {
        let cost = self.topo.tasks.get(task).map_or(0, |s| s.cost);
        if cost == 0 {
            return;
        }
        let start = t.saturating_sub(cost);
        match &mut self.busy[task] {
            Some((_, end, k)) if start <= *end => {
                *end = t;
                *k += 1;
            }
            slot => {
                if let Some(done) = slot.take() {
                    self.out.push(done.0, busy_slice(task, done));
                }
                *slot = Some((start, t, 1));
            }
        }
    }

    fn back_pressure(&mut self, t: Time, task: u32, on: bool) {
        let task = task as usize;
        if task >= self.bp_since.len() {
            return;
        }
        if on {
            self.bp_since[task].get_or_insert(t);
        } else if let Some(from) = self.bp_since[task].take() {
            self.out.push(from, back_pressure_slice(task, from, t));
        }
    }

    /// Ends every task's back-pressure at `t`.
    fn end_back_pressure(&mut self, t: Time) {
        for (task, since) in self.bp_since.iter_mut().enumerate() {
            if let Some(from) = since.take() {
                self.out.push(from, back_pressure_slice(task, from, t));
            }
        }
    }

    /// A local snapshot: the end of the task's alignment for it, if any, and an instant.
    fn local_snapshot(&mut self, t: Time, task: u32, id: u64, bytes: u64) {
        if let Some(from) = self.aligning.remove(&(task as usize, id)) {
            self.out.push(
                from,
                json!({"ph": "X", "name": format!("aligning {id}"), "cat": "checkpoint",
                       "ts": us(from), "dur": us(t - from), "pid": 1, "tid": task}),
            );
        }
        self.out.push(
            t,
            json!({"ph": "i", "s": "t", "name": format!("snapshot {id}"), "cat": "snapshot",
                   "ts": us(t), "pid": 1, "tid": task, "args": {"bytes": bytes}}),
        );
    }

    /// The first initiation of checkpoint `id` begins its span.
    fn initiate(&mut self, t: Time, task: u32, id: u64) {
        if self.open_checkpoints.contains_key(&id) || self.ended_checkpoints.contains(&id) {
            return;
        }
        self.open_checkpoints.insert(id, task as usize);
        self.out.push(
            t,
            json!({"ph": "b", "name": format!("checkpoint {id}"),
                   "cat": "checkpoint", "id": id, "ts": us(t), "pid": 1,
                   "tid": task, "args": {"initiator": self.name(task as usize)}}),
        );
    }

    fn checkpoint_end(&mut self, t: Time, id: u64, completed: bool) {
        if let Some(tid) = self.open_checkpoints.remove(&id) {
            self.ended_checkpoints.insert(id);
            self.out.push(
                t,
                json!({"ph": "e", "name": format!("checkpoint {id}"),
                       "cat": "checkpoint", "id": id, "ts": us(t), "pid": 1,
                       "tid": tid, "args": {"completed": completed}}),
            );
        }
    }

    /// A crash: back-pressure ends, and in-flight data and alignments are lost.
    fn crash(&mut self, t: Time) {
        self.end_back_pressure(t);
        self.aligning.clear();
        for task in 0..self.topo.tasks.len() {
            self.in_flight.set(task, t, 0, &mut self.out);
        }
        self.out.push(
            t,
            json!({"ph": "i", "s": "g", "name": "crash", "cat": "failure", "ts": us(t),
                   "pid": 1, "tid": 0}),
        );
    }

    /// A recovery: recorded channel state goes back into the channels.
    fn recover(&mut self, t: Time, checkpoint: u64) {
        self.epoch += 1;
        self.end_back_pressure(t);
        for task in 0..self.topo.tasks.len() {
            let v = self
                .flows
                .restored
                .get(&(self.epoch, task as u32))
                .copied()
                .unwrap_or(0);
            self.in_flight.set(task, t, v, &mut self.out);
        }
        self.out.push(
            t,
            json!({"ph": "i", "s": "g", "name": format!("recover from checkpoint {checkpoint}"),
                   "cat": "failure", "ts": us(t), "pid": 1, "tid": 0,
                   "args": {"checkpoint": checkpoint}}),
        );
    }

    /// Closes what the trace left open; the timed events.
    fn finish(mut self) -> Vec<(Time, Value)> {
        for (task, slot) in std::mem::take(&mut self.busy).into_iter().enumerate() {
            if let Some(done) = slot {
                self.out.push(done.0, busy_slice(task, done));
            }
        }
        self.end_back_pressure(self.last_t);
        let last_t = self.last_t;
        for (id, tid) in std::mem::take(&mut self.open_checkpoints) {
            self.out.push(
                last_t,
                json!({"ph": "e", "name": format!("checkpoint {id}"), "cat": "checkpoint",
                       "id": id, "ts": us(last_t), "pid": 1, "tid": tid,
                       "args": {"completed": false, "unfinished": true}}),
            );
        }
        self.in_flight.flush(&mut self.out);
        self.out.timed
    }
}

fn busy_slice(task: usize, (from, to, records): Busy) -> Value {
    json!({"ph": "X", "name": "processing", "cat": "task", "ts": us(from),
           "dur": us(to - from), "pid": 1, "tid": task, "args": {"records": records}})
}

fn back_pressure_slice(task: usize, from: Time, to: Time) -> Value {
    json!({"ph": "X", "name": "back-pressured", "cat": "backpressure", "ts": us(from),
           "dur": us(to - from), "pid": 1, "tid": task})
}

/// The file: metadata naming the process and a thread per task, then the events by time.
fn document(topo: &Topology, mut timed: Vec<(Time, Value)>) -> String {
    timed.sort_by_key(|(t, _)| *t);
    let n = topo.tasks.len();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::export::test_runs::{cl_paper, job, job_with_crash};

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
}
