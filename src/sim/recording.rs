//! Local snapshots: a task's state, and the messages recorded on its input channels.

use super::Simulation;
use crate::engine::Time;
use crate::network::{ChannelId, Message, MsgKind, TaskId};
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
        let (state, backend) = self.snapshot_state(task, overtake_outputs);
        let sync_ns = backend.sync_ns;
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
            backend,
        });
        t.sync_pending += sync_ns;
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
}
