//! Local snapshots: a task's state, and the messages recorded on its input channels.

use super::Simulation;
use crate::engine::Time;
use crate::network::{ChannelId, Message, MsgKind, TaskId};
use crate::protocols::Mutant;
use crate::snapshot::LocalSnapshot;
use crate::trace::TraceEvent;

/// Message `m` arrives on channel `ch` while the snapshots in `recording` record it: a data
/// message joins each one's recorded state of `ch`, and a snapshot's own control message
/// ends its recording there.
#[inline]
pub(super) fn record_arrival(
    local: &mut [LocalSnapshot],
    recording: &mut Vec<u64>,
    ch: ChannelId,
    m: &Message,
) {
    if m.is_data() {
        for id in recording.iter() {
            if let Some(l) = local.iter_mut().find(|l| l.id == *id) {
                if let Some((_, msgs)) = l.input_state.iter_mut().find(|(c, _)| *c == ch) {
                    msgs.push(*m);
                }
            }
        }
    } else if m.kind == MsgKind::Control {
        recording.retain(|&id| id != m.num);
    }
}

impl Simulation {
    /// Records the task's state (its real content) for snapshot `id`.
    pub(super) fn take_local_snapshot(
        &mut self,
        task: TaskId,
        id: u64,
        overtake_outputs: bool,
        aligning_since: Time,
    ) {
        let now = self.sched.now();
        let ti = task as usize;
        let spec = &self.topo.tasks[ti];
        let held_back_bytes = spec
            .inputs
            .iter()
            .filter(|&&c| self.chan_rt[c as usize].blocked)
            .map(|&c| self.channels[c as usize].buffered_bytes(&self.pool).2)
            .sum();
        let mut output_state = Vec::new();
        if overtake_outputs {
            for edge in &spec.outputs {
                for &ch in &edge.channels {
                    if self.topo.channels[ch as usize].aligned_only {
                        continue; // its barrier is not sent with priority
                    }
                    let data: Vec<Message> = self.channels[ch as usize]
                        .out_queue(&self.pool)
                        .filter(|m| m.is_data())
                        .collect();
                    if !data.is_empty() {
                        output_state.push((ch, data));
                    }
                }
            }
        }
        let sent = spec
            .outputs
            .iter()
            .flat_map(|e| e.channels.iter())
            .map(|&c| (c, self.channels[c as usize].sent()))
            .collect();
        let closed_inputs = spec
            .inputs
            .iter()
            .map(|&c| self.chan_rt[c as usize].eof_taken)
            .collect();
        let ended = self.tasks[ti].ended;
        let state = self.tasks[ti].behaviour.clone();
        let state_bytes = state.state_bytes();
        if self.is_transactional_sink(task) {
            // Two-phase commit: the open transaction is pre-committed with the snapshot.
            self.trace
                .record(TraceEvent::SinkPrecommit { t: now, task, id });
            if self.mutant == Some(crate::protocols::Mutant::SinkEarlyCommit) {
                self.trace
                    .record(TraceEvent::SinkCommit { t: now, task, id });
            }
        }
        self.trace.record(TraceEvent::LocalSnapshot {
            t: now,
            task,
            id,
            bytes: state_bytes,
        });
        let t = &mut self.tasks[ti];
        t.local.retain(|l| l.id != id);
        t.local.push(LocalSnapshot {
            task,
            id,
            taken_at: now,
            state,
            state_bytes,
            input_state: Vec::new(),
            output_state,
            aligning_since,
            held_back_bytes,
            acked_at: 0,
            sent,
            closed_inputs,
            ended,
        });
        t.sync_pending += self.coord.config().sync_copy;
    }

    /// Starts recording input `input` of `task` for snapshot `id`: what is queued now, up to
    /// the snapshot's own control message, and then what arrives until that message arrives.
    pub(super) fn start_recording(&mut self, task: TaskId, input: usize, id: u64) {
        let ch = self.topo.tasks[task as usize].inputs[input];
        let cr = &mut self.chan_rt[ch as usize];
        let c = &self.channels[ch as usize];
        let mut recorded = Vec::new();
        let mut done = false;
        if let Some((pid, overtaken)) = cr.last_priority {
            if pid == id {
                // The barrier just taken from this input jumped over exactly these.
                recorded.extend(
                    c.inbox(&self.pool)
                        .filter(|m| m.is_data())
                        .take(overtaken as usize),
                );
                done = true;
            }
        }
        if !done {
            let mut inbox = c.inbox(&self.pool);
            while let Some(m) = inbox.next() {
                if m.kind == MsgKind::Control && m.num == id {
                    if m.priority {
                        recorded.clear();
                        let k = m.value as usize;
                        recorded.extend(inbox.by_ref().filter(|m| m.is_data()).take(k));
                    }
                    done = true;
                    break;
                }
                if m.is_data() {
                    recorded.push(m);
                }
            }
        }
        if !done && !cr.recording.contains(&id) {
            cr.recording.push(id);
        }
        if let Some(local) = self.tasks[task as usize]
            .local
            .iter_mut()
            .find(|l| l.id == id)
        {
            local.input_state.push((ch, recorded));
        }
    }

    /// Moves the announced barrier of snapshot `id` on input `input` of `task` to the head of
    /// that input queue; the data it jumps becomes the input's channel state (unless the input
    /// already has its recording: then it holds exactly that data already). A barrier no
    /// longer queued leaves the input to be recorded until it comes.
    pub(super) fn prioritise(&mut self, task: TaskId, input: usize, id: u64) {
        let ch = self.topo.tasks[task as usize].inputs[input];
        let ti = task as usize;
        let recorded = self.tasks[ti]
            .local
            .iter()
            .find(|l| l.id == id)
            .is_some_and(|l| l.input_state.iter().any(|(c, _)| *c == ch));
        let Some(jumped) = self.channels[ch as usize].prioritise_inbox(&mut self.pool, id) else {
            if !recorded {
                self.start_recording(task, input, id);
            }
            return;
        };
        if !recorded {
            let jumped = if self.mutant == Some(Mutant::TimeoutForgetsJumped) {
                Vec::new()
            } else {
                jumped
            };
            if let Some(local) = self.tasks[ti].local.iter_mut().find(|l| l.id == id) {
                local.input_state.push((ch, jumped));
            }
        }
        // The barrier is taken next, as a priority arrival would be.
        let cr = &mut self.chan_rt[ch as usize];
        if !cr.blocked {
            let ready = &mut self.tasks[ti].ready;
            if cr.in_ready {
                ready.retain(|&r| r != ch);
            }
            ready.push_front(ch);
            cr.in_ready = true;
            self.request_start(task);
        }
    }

    /// The output-side alignment timeout of snapshot `id` at `task`: each output queue that
    /// still holds its FIFO barrier gives the data ahead of it to the task's snapshot as output
    /// channel state, and the barrier goes ahead as a priority barrier. The copied data is
    /// still delivered; the receiver takes it after the barrier, so it records none of it.
    pub(super) fn timeout_outputs(&mut self, task: TaskId, id: u64) {
        let ti = task as usize;
        let has_snapshot = self.tasks[ti].local.iter().any(|l| l.id == id)
            || self.coord.acked_snapshot_mut(task, id).is_some();
        if !has_snapshot {
            return;
        }
        for e in 0..self.topo.tasks[ti].outputs.len() {
            for k in 0..self.topo.tasks[ti].outputs[e].channels.len() {
                let ch = self.topo.tasks[ti].outputs[e].channels[k];
                if self.topo.channels[ch as usize].aligned_only {
                    continue;
                }
                let Some(mut data) = self.channels[ch as usize].prioritise_out(&mut self.pool, id)
                else {
                    continue;
                };
                if self.mutant == Some(Mutant::OutputTimeoutForgetsCopied) {
                    data.clear();
                }
                if !data.is_empty() {
                    let snap = match self.tasks[ti].local.iter_mut().find(|l| l.id == id) {
                        Some(l) => Some(l),
                        None => self.coord.acked_snapshot_mut(task, id),
                    };
                    if let Some(snap) = snap {
                        snap.output_state.push((ch, data));
                    }
                }
                self.pump(ch);
            }
        }
    }
}
