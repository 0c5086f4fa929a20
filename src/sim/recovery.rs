//! Failures and recovery, as in Flink: a crash stops the whole job; after the restart delay
//! every task is restored from the last completed checkpoint (or from the beginning), the
//! recorded channel state is put back in front of each channel, sources are rewound to their
//! recorded offsets, uncommitted sink transactions are gone, and the job resumes.

use super::{Event, Simulation};
use crate::coordinator::AbortReason;
use crate::engine::Time;
use crate::failure::FailureRecord;
use crate::human::fmt_ns;
use crate::network::{Message, TaskId};
use crate::protocols::Mutant;
use crate::protocols::{Breakage, Mutated, TaskProtocol, TaskView};
use crate::trace::TraceEvent;
use crate::workload::Behaviour;

/// Wraps a correct protocol into the mutant's broken variant, if the mutant breaks a protocol.
pub(super) fn mutate(
    inner: Box<dyn TaskProtocol>,
    mutant: Option<Mutant>,
) -> Box<dyn TaskProtocol> {
    let breakage = match mutant {
        Some(Mutant::AlignedNoBlock) => Breakage {
            drop_blocks: true,
            ..Default::default()
        },
        Some(Mutant::UnalignedForgetsOvertaken) => Breakage {
            forget_overtaken: true,
            ..Default::default()
        },
        _ => return inner,
    };
    Box::new(Mutated::new(inner, breakage))
}

/// Which tasks restart as finished and which of their inputs as ended, from `snap` (none:
/// the job starts from the beginning).
///
/// An input has ended only if its sender is restored as finished, whatever the receiver's
/// snapshot says. The two agree in a consistent cut. In an inconsistent one (at-least-once),
/// the receiver may have taken an end of input that its sender sent after recording: the
/// sender restarts before its end, replays what followed its snapshot and sends its end of
/// input again, so the receiver must take that input as open, or the second end would close
/// another input (and what still comes on it would never be counted). A task restored as
/// finished with an input now open is not finished either, and so on downstream.
fn restored_ends(
    topo: &crate::topology::Topology,
    snap: Option<&crate::snapshot::GlobalSnapshot>,
) -> (Vec<bool>, Vec<Vec<bool>>) {
    let Some(snap) = snap else {
        let closed = topo
            .tasks
            .iter()
            .map(|t| vec![false; t.inputs.len()])
            .collect();
        return (vec![false; topo.tasks.len()], closed);
    };
    let mut ended: Vec<bool> = snap.tasks.iter().map(|l| l.ended).collect();
    // Each channel's place among its receiver's inputs, and whether the receiver took its end.
    let mut input_of = vec![0usize; topo.channels.len()];
    for spec in &topo.tasks {
        for (i, &c) in spec.inputs.iter().enumerate() {
            input_of[c as usize] = i;
        }
    }
    let mut closed: Vec<Vec<bool>> = topo
        .tasks
        .iter()
        .zip(&snap.tasks)
        .map(|(spec, l)| {
            (0..spec.inputs.len())
                .map(|i| l.closed_inputs.get(i).copied().unwrap_or(false))
                .collect()
        })
        .collect();
    // Every task restored as running reopens its outputs; each flip happens once.
    let mut open: Vec<usize> = (0..ended.len()).filter(|&t| !ended[t]).collect();
    while let Some(t) = open.pop() {
        for edge in &topo.tasks[t].outputs {
            for &c in &edge.channels {
                let dst = topo.channels[c as usize].dst as usize;
                let input = &mut closed[dst][input_of[c as usize]];
                if *input {
                    *input = false;
                    if ended[dst] {
                        ended[dst] = false;
                        open.push(dst);
                    }
                }
            }
        }
    }
    (ended, closed)
}

impl Simulation {
    /// Schedules the plan's timed crashes and stalls. Only the next timed crash is ever
    /// queued (each schedules the one after it), so a crash costs the same however many are
    /// planned. At the start every stall is queued; after a crash only the next stall, each
    /// then queuing the one after it. Planned failures are weak events: they do not keep a
    /// finished job running.
    pub(super) fn schedule_failures(&mut self, initial: bool) {
        let now = self.sched.now();
        if !initial {
            // Crashes planned for the very instant of this one coincide with it.
            while let Some(&(t, spec)) = self.plan.crash_times.get(self.next_crash) {
                if t > now {
                    break;
                }
                self.note_unfired(
                    spec,
                    t,
                    format!("coincided with another crash at {}", fmt_ns(now)),
                );
                self.next_crash += 1;
            }
        }
        if let Some(&(t, _)) = self.plan.crash_times.get(self.next_crash) {
            let cause = match self.timed_cause {
                Some(c) => c,
                None => {
                    let c = self.cause("crash".to_string());
                    self.timed_cause = Some(c);
                    c
                }
            };
            self.sched.at(t, Event::Crash(cause));
            self.weak_events += 1;
        }
        if initial {
            for i in 0..self.plan.stalls.len() {
                self.sched
                    .at(self.plan.stalls[i].at, Event::Stall(i as u32));
                self.weak_events += 1;
            }
        } else {
            let next = self
                .stall_order
                .partition_point(|&i| self.plan.stalls[i as usize].at <= now);
            for k in 0..next {
                let i = self.stall_order[k];
                if !self.stalls_begun[i as usize] {
                    self.stalls_begun[i as usize] = true;
                    let stall = &self.plan.stalls[i as usize];
                    let spec = stall.spec;
                    self.note_unfired(
                        spec,
                        stall.at,
                        format!("a crash at {} came first and dropped it", fmt_ns(now)),
                    );
                }
            }
            self.stall_chain = Some(next);
            self.schedule_chained_stall();
        }
    }

    /// After a crash, stalls are queued one at a time, in time order.
    pub(super) fn schedule_chained_stall(&mut self) {
        if let Some(pos) = self.stall_chain {
            if let Some(&i) = self.stall_order.get(pos) {
                self.sched
                    .at(self.plan.stalls[i as usize].at, Event::Stall(i));
                self.weak_events += 1;
            }
        }
    }

    /// Records that a planned failure did not happen.
    pub(super) fn note_unfired(&mut self, spec: usize, at: Time, reason: String) {
        let _ = at;
        let failure = self.plan.descriptions[spec].clone();
        self.unfired
            .push((spec, crate::failure::UnfiredFailure { failure, reason }));
    }

    /// After a crash, scripted steps are queued one at a time, in time order.
    pub(super) fn schedule_chained_script(&mut self) {
        if let Some(pos) = self.script_chain {
            if let Some(&i) = self.script_order.get(pos) {
                self.sched
                    .at(self.script_times[i as usize], Event::Script(i));
            }
        }
    }

    pub(super) fn cause(&mut self, cause: String) -> u32 {
        self.causes.push(cause);
        (self.causes.len() - 1) as u32
    }

    /// Crashes the job as soon as the current event is done.
    pub(super) fn schedule_crash(&mut self, cause: String) {
        let c = self.cause(cause);
        self.sched.after(0, Event::Crash(c));
    }

    /// Fires a during-alignment failure when the first control message of checkpoint `id`
    /// reaches a task with several inputs.
    pub(super) fn check_alignment_failure(&mut self, task: TaskId, id: u64) {
        if self.topo.tasks[task as usize].inputs.len() < 2 {
            return;
        }
        let hit = self
            .plan
            .during_alignment
            .iter()
            .position(|(cp, tasks, _)| {
                *cp == id && tasks.as_ref().is_none_or(|t| t.contains(&task))
            });
        if let Some(i) = hit {
            self.plan.during_alignment.remove(i);
            self.schedule_crash(format!(
                "during-alignment {id} at {}",
                self.topo.tasks[task as usize].name
            ));
        }
    }

    /// The whole job stops: running work, in-flight data, pending checkpoints and open
    /// transactions are lost.
    pub(super) fn crash(&mut self, cause: u32) {
        let now = self.sched.now();
        // The scenario's failure this crash comes from, if it was planned.
        let spec = if Some(cause) == self.timed_cause {
            self.plan.crash_times.get(self.next_crash).map(|c| c.1)
        } else {
            self.planned_crashes.get(&cause).map(|c| c.0)
        };
        let wait = self.decide_restart(now, spec);
        if !self.down {
            self.offsets_at_crash = self
                .tasks
                .iter()
                .map(|t| match &t.behaviour {
                    Behaviour::Source(log) => log.offset,
                    _ => 0,
                })
                .collect();
        }
        self.trace.record(TraceEvent::Crash { t: now });
        if Some(cause) == self.timed_cause {
            self.next_crash += 1;
            self.timed_cause = None;
        }
        self.planned_crashes.remove(&cause);
        // Everything the failed job had scheduled is dropped, planned crashes included.
        for (_, (spec, at)) in std::mem::take(&mut self.planned_crashes) {
            self.note_unfired(
                spec,
                at,
                format!(
                    "was due at {}, but a crash at {} came first and dropped it",
                    fmt_ns(at),
                    fmt_ns(now)
                ),
            );
        }
        for id in self.coord.pending_ids() {
            if self.coord.abort(id, AbortReason::JobFailed, now) {
                self.trace.record(TraceEvent::CheckpointEnd {
                    t: now,
                    id,
                    completed: false,
                });
            }
        }
        self.coord.trigger_wanted = false;
        self.pending_aborts.clear();
        let (remote, local) = self.restore_parts();
        let restore = remote + local;
        let local_parts = self.plan.local_recovery;
        let cause_text = self.causes[cause as usize].clone();
        self.failure_log.push(FailureRecord {
            at_ns: now,
            restored_checkpoint: None,
            replayed_records: 0,
            downtime_ns: 0,
            detection_ns: if wait.is_some() {
                self.plan.detection
            } else {
                0
            },
            restart_ns: wait.unwrap_or(0),
            restore_ns: if wait.is_some() { restore } else { 0 },
            cause: cause_text.clone(),
            restore_remote_ns: (local_parts && wait.is_some()).then_some(remote),
            restore_local_ns: (local_parts && wait.is_some()).then_some(local),
            replay_ns: None,
            failed_job: wait.is_none(),
        });
        // Everything scheduled belonged to the job that just died; keep only the outside world.
        self.sched.clear();
        self.weak_events = 0;
        self.start_queue.clear();
        for t in &mut self.tasks {
            t.in_start_queue = false;
        }
        self.down = true;
        let Some(wait) = wait else {
            // The restart strategy gave up: the job has failed and the run ends here. What
            // was still to come is reported as not fired.
            self.unresolved_failures = self.failure_log.len();
            self.fail_job(now, cause_text);
            return;
        };
        self.schedule_failures(false);
        // Scripted steps still to come are queued again one at a time, in time order.
        let next = self
            .script_order
            .partition_point(|&i| self.script_times[i as usize] <= now);
        self.script_chain = Some(next);
        self.schedule_chained_script();
        // Downtime as Flink spends it: noticing the failure, the restart delay, then the
        // slowest task's download of its part of the checkpoint (the replay of restored
        // channel state is simulated after the restart, record by record).
        let delay = self
            .plan
            .detection
            .saturating_add(wait)
            .saturating_add(restore);
        self.sched.after(delay, Event::Restart);
        self.recoveries += 1;
        if let Some(spec) = self.plan.during_recovery.remove(&self.recoveries) {
            let c = self.cause(format!("during-recovery {}", self.recoveries));
            self.sched.after(delay / 2, Event::Crash(c));
            self.planned_crashes.insert(c, (spec, now + delay / 2));
        }
    }

    /// Restores every task and channel from the last completed checkpoint and resumes.
    pub(super) fn restart(&mut self) {
        let now = self.sched.now();
        self.down = false;
        let snap = self.coord.last_completed().cloned();
        let restored = snap.as_ref().map(|s| s.id);
        let rewind: i64 = match self.mutant {
            Some(Mutant::SourceRewindTooFar) => -1,
            Some(Mutant::SourceRewindTooShort) => 1,
            _ => 0,
        };
        let mut replayed = 0;
        let (ended, closed_inputs) = restored_ends(&self.topo, snap.as_ref());
        for t in 0..self.tasks.len() {
            let local = snap.as_ref().map(|s| &s.tasks[t]);
            let mut behaviour = match (&snap, local) {
                (Some(s), Some(l)) => self.local_copy_of(t, s).unwrap_or_else(|| l.state.clone()),
                _ => self.initial_behaviours[t].clone(),
            };
            if let Behaviour::Source(log) = &mut behaviour {
                if rewind != 0 {
                    log.offset = log.offset.saturating_add_signed(rewind);
                }
                replayed += self
                    .offsets_at_crash
                    .get(t)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(log.offset);
            }
            let spec = &self.topo.tasks[t];
            let closed = &closed_inputs[t];
            let rt = &mut self.tasks[t];
            rt.behaviour = behaviour;
            rt.busy = false;
            if let super::Work::Input(_, held) = rt.work {
                self.pool.release_held(held);
            }
            rt.work = super::Work::Idle;
            rt.ready.clear();
            rt.full_outputs = 0;
            if rt.out_blocked {
                rt.out_blocked = false;
            }
            rt.wake_at = None;
            rt.actions.clear();
            rt.local.clear();
            rt.paused = false;
            rt.sync_pending = 0;
            rt.ended = ended[t];
            rt.open_inputs = closed.iter().filter(|c| !**c).count() as u32;
            if let Behaviour::Bank(b) = &mut rt.behaviour {
                b.now = now;
            }
            // A restarted task's protocol starts afresh, knowing which inputs have ended.
            let view = TaskView {
                task: t as TaskId,
                now,
                inputs: spec.inputs.len(),
                is_source: spec.role.is_source(),
                aligned_inputs: self.topo.aligned_inputs(t as TaskId),
            };
            let mut p = mutate(self.protocol.instantiate(&view, &self.params), self.mutant);
            let mut ignored = Vec::new();
            for (i, &c) in closed.iter().enumerate() {
                if c {
                    p.on_end_of_input(&view, i, &mut ignored);
                }
            }
            self.protocols[t] = p;
        }
        self.ended_tasks = ended.iter().filter(|&&e| e).count();
        let skip_channel_state = self.mutant == Some(Mutant::RecoverySkipsChannelState);
        let mut ends_to_resend = Vec::new();
        let mut put_back = Vec::new();
        for c in 0..self.channels.len() {
            let (src, dst) = (self.channels[c].src as usize, self.channels[c].dst as usize);
            let input = self.chan_rt[c].input_index as usize;
            let mut recorded: Vec<Message> = Vec::new();
            let mut next_seq = 0;
            let mut closed = false;
            if let Some(s) = &snap {
                let (sender, receiver) = (&s.tasks[src], &s.tasks[dst]);
                next_seq = sender
                    .sent
                    .iter()
                    .find(|(ch, _)| *ch as usize == c)
                    .map_or(0, |x| x.1);
                closed = closed_inputs[dst].get(input).copied().unwrap_or(false);
                if !skip_channel_state {
                    for (ch, msgs) in receiver.input_state.iter().chain(&sender.output_state) {
                        if *ch as usize == c {
                            recorded.extend_from_slice(msgs);
                        }
                    }
                }
            }
            if self.mutant == Some(Mutant::RecoveryReversesChannelState) {
                recorded.reverse();
            }
            if !recorded.is_empty() {
                put_back.push((c as crate::network::ChannelId, recorded.len() as u32));
            }
            self.channels[c].restore(&mut self.pool, next_seq, &recorded, now);
            let cr = &mut self.chan_rt[c];
            cr.blocked = false;
            cr.recording.clear();
            cr.last_priority = None;
            cr.full = false;
            cr.eof_taken = closed;
            cr.in_ready = !recorded.is_empty();
            if cr.in_ready {
                self.tasks[dst].ready.push_back(c as u32);
            }
            // A sender restored as finished will not send its end of input again.
            if self.tasks[src].ended && !closed {
                ends_to_resend.push(c as u32);
            }
        }
        self.final_done = snap.is_some() && ended.iter().all(|&e| e);
        self.trace.record(TraceEvent::Recover {
            t: now,
            checkpoint: restored.unwrap_or(0),
        });
        // Sent in the restored epoch, so traced after the recovery: sent before it, the end of
        // input took a number the restored cut hands out again, and the checker saw an orphan.
        for c in ends_to_resend {
            self.send(c, &Message::end_of_input(), None);
        }
        // Every crash since the last restart (crashes while down included) ends here.
        for f in &mut self.failure_log[self.unresolved_failures..] {
            f.restored_checkpoint = restored;
            f.downtime_ns = now - f.at_ns;
        }
        let first = self.unresolved_failures;
        self.unresolved_failures = self.failure_log.len();
        if let Some(last) = self.failure_log.last_mut() {
            last.replayed_records = replayed;
        }
        self.restart_debloat(now);
        self.begin_replay(now, &put_back, first);
        // Checkpointing resumes on its period; bank timers and sources start again.
        if self.protocol.takes_snapshots() {
            if let Some(interval) = self.coord.config().interval {
                let next = (now / interval + 1) * interval;
                if next <= self.limit {
                    self.sched.at(next, Event::CheckpointTimer);
                    self.weak_events += 1;
                }
            }
        }
        for t in 0..self.tasks.len() as TaskId {
            if matches!(self.tasks[t as usize].behaviour, Behaviour::Bank(_)) {
                self.schedule_transfer_timer(t);
            }
            self.request_start(t);
        }
    }

    /// Stall `i` begins: the next one of a chain queued after a crash is queued, and the
    /// link stops.
    pub(super) fn on_stall(&mut self, i: u32) {
        self.weak_events -= 1;
        self.stalls_begun[i as usize] = true;
        if let Some(pos) = self.stall_chain {
            self.stall_chain = Some(pos + 1);
            self.schedule_chained_stall();
        }
        self.stall(i);
    }

    /// A link stall begins.
    pub(super) fn stall(&mut self, i: u32) {
        let stall = self.plan.stalls[i as usize].clone();
        for &c in &stall.channels {
            self.channels[c as usize].stall(&mut self.pool, stall.until);
            self.ensure_arrival(c);
        }
    }

    /// Failures so far.
    pub fn failures(&self) -> &[FailureRecord] {
        &self.failure_log
    }

    /// Time to resume after a crash.
    pub fn restart_delay(&self) -> Time {
        self.plan.restart_delay
    }
}

#[cfg(test)]
mod tests {
    use super::restored_ends;
    use crate::scenario::Scenario;
    use crate::snapshot::{GlobalSnapshot, LocalSnapshot};
    use crate::topology::Topology;
    use crate::workload::Behaviour;

    /// Sources `a` and `b` into a map `m` (two inputs), then a sink.
    fn topo() -> Topology {
        let json = r#"{"duration": "1ms", "dataflow": {"operators": [
            {"name": "a", "kind": {"source": {}}},
            {"name": "b", "kind": {"source": {}}},
            {"name": "m", "kind": {"map": {}}},
            {"name": "sink", "kind": {"sink": {}}}
        ], "edges": [{"from": "a", "to": "m"}, {"from": "b", "to": "m"}, {"from": "m", "to": "sink"}]}}"#;
        Topology::build(&Scenario::from_json(json.as_bytes(), "t").unwrap(), 0).unwrap()
    }

    /// A snapshot in which task `t` has `ended[t]` and has taken the ends in `closed[t]`.
    fn snap(ended: [bool; 4], closed: [&[bool]; 4]) -> GlobalSnapshot {
        let tasks = (0..4)
            .map(|t| LocalSnapshot {
                task: t as u32,
                id: 1,
                taken_at: 0,
                state: Behaviour::Map,
                state_bytes: 0,
                input_state: Vec::new(),
                output_state: Vec::new(),
                aligning_since: 0,
                held_back_bytes: 0,
                acked_at: 0,
                sent: Vec::new(),
                closed_inputs: closed[t].to_vec(),
                ended: ended[t],
                backend: Default::default(),
            })
            .collect();
        GlobalSnapshot {
            id: 1,
            trigger_ns: 0,
            end_ns: 0,
            tasks,
        }
    }

    #[test]
    fn a_consistent_cut_is_restored_as_recorded() {
        let topo = topo();
        // `a` finished and `m` took its end; `b` runs on.
        let s = snap(
            [true, false, false, false],
            [&[], &[], &[true, false], &[false]],
        );
        let (ended, closed) = restored_ends(&topo, Some(&s));
        assert_eq!(ended, vec![true, false, false, false]);
        assert_eq!(closed[2], vec![true, false]);
        // From the beginning nothing has ended.
        let (ended, closed) = restored_ends(&topo, None);
        assert!(ended.iter().all(|e| !e) && closed.iter().flatten().all(|c| !c));
    }

    #[test]
    fn an_end_its_sender_had_not_sent_when_it_recorded_is_reopened() {
        let topo = topo();
        // `m` took the end of `a`, which had not finished when it recorded (an at-least-once
        // cut): `a` sends it again after the restore, so the input is open.
        let s = snap(
            [false, false, false, false],
            [&[], &[], &[true, false], &[false]],
        );
        let (ended, closed) = restored_ends(&topo, Some(&s));
        assert_eq!(closed[2], vec![false, false]);
        assert_eq!(ended, vec![false; 4]);
    }

    #[test]
    fn a_task_with_a_reopened_input_is_not_finished_and_reopens_downstream() {
        let topo = topo();
        // `m` and the sink recorded as finished, but `b` had not sent its end.
        let s = snap(
            [true, false, true, true],
            [&[], &[], &[true, true], &[true]],
        );
        let (ended, closed) = restored_ends(&topo, Some(&s));
        assert_eq!(ended, vec![true, false, false, false]);
        assert_eq!(closed[2], vec![true, false]);
        assert_eq!(closed[3], vec![false]);
    }
}
