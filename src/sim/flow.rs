//! Moving messages: routing what tasks emit, sending, putting messages on the wire, credits
//! and back-pressure, and arrivals at the receiver.

use super::recording::record_arrival;
use super::{Event, Simulation};
use crate::engine::Time;
use crate::keygroups;
use crate::network::{ChannelId, Message, MsgKind, TaskId};
use crate::protocols::Control;
use crate::scenario::Partition;
use crate::trace::TraceEvent;
use crate::workload::Target;

impl Simulation {
    /// Sends `msg` on `ch` (with its own `latency`, for scripts), putting it on the wire if
    /// credit allows, and counts and traces it.
    pub(super) fn send(&mut self, ch: ChannelId, msg: &Message, latency: Option<Time>) {
        let c = &mut self.channels[ch as usize];
        let now = self.sched.now();
        let rng = &mut self.tasks[c.src as usize].net_rng;
        let (seq, moved, queued) = c.send_and_pump(&mut self.pool, msg, latency, now, rng);
        if msg.is_data() {
            self.counters.data_messages += 1;
        } else {
            self.counters.control_messages += 1;
        }
        self.trace.record(TraceEvent::Send {
            t: self.sched.now(),
            ch,
            seq,
            bytes: msg.bytes,
            kind: msg.kind as u8,
            tag: msg.tag,
            num: msg.num,
        });
        if moved > 0 {
            self.ensure_arrival(ch);
        }
        if queued {
            self.sync_full(ch);
        }
    }

    /// Sends what a behaviour emitted, routing `Target::Route` through every output edge.
    pub(super) fn emit_all(&mut self, task: TaskId) {
        let mut out = std::mem::take(&mut self.out_buf);
        // By reference: copying each 64-byte message out of the buffer cost more than the
        // rest of the loop.
        for (target, msg) in &out {
            match *target {
                Target::Channel(ch) => self.send(ch, msg, None),
                Target::Route => {
                    for e in 0..self.topo.tasks[task as usize].outputs.len() {
                        let edge = &self.topo.tasks[task as usize].outputs[e];
                        let n = edge.channels.len();
                        match edge.partition {
                            Partition::Broadcast => {
                                for i in 0..n {
                                    let ch = self.topo.tasks[task as usize].outputs[e].channels[i];
                                    self.send(ch, msg, None);
                                }
                            }
                            Partition::Forward => {
                                let ch = edge.channels[0];
                                self.send(ch, msg, None);
                            }
                            Partition::Hash => {
                                // By key group, as Flink's keyBy: the unit keyed state moves in.
                                let i =
                                    keygroups::subtask_of(msg.num, edge.max_parallelism, n as u32);
                                let ch = edge.channels[i as usize];
                                self.send(ch, msg, None);
                            }
                            Partition::Rebalance => {
                                // Round-robin by the task's output count keeps it stateless.
                                let i = (self.tasks[task as usize].records_out % n as u64) as usize;
                                let ch = edge.channels[i];
                                self.send(ch, msg, None);
                            }
                        }
                    }
                    self.tasks[task as usize].records_out += 1;
                }
            }
        }
        out.clear();
        self.out_buf = out;
        if self.overdraft.is_some() {
            self.check_overdraft(task);
        }
    }

    /// Sends control message `msg` on every output channel of `task`.
    pub(super) fn broadcast_control(&mut self, task: TaskId, msg: Message) {
        // Nothing follows an end of input on a channel.
        if self.tasks[task as usize].ended {
            return;
        }
        for e in 0..self.topo.tasks[task as usize].outputs.len() {
            for i in 0..self.topo.tasks[task as usize].outputs[e].channels.len() {
                let ch = self.topo.tasks[task as usize].outputs[e].channels[i];
                if msg.priority && self.topo.channels[ch as usize].aligned_only {
                    // A channel that does not support unaligned checkpoints: never overtaken.
                    let fifo = Message {
                        priority: false,
                        ..msg
                    };
                    self.send(ch, &fifo, None);
                } else {
                    self.send(ch, &msg, None);
                }
            }
        }
    }

    /// Puts what the credit allows of `ch`'s output queue on the wire.
    pub(super) fn pump(&mut self, ch: ChannelId) {
        if self.channels[ch as usize].out_queue_len() == 0 {
            // Nothing waits to go on the wire, and the queue was already counted as not full.
            return;
        }
        let src = self.channels[ch as usize].src as usize;
        let now = self.sched.now();
        let moved = self.channels[ch as usize]
            .pump(&mut self.pool, now, &mut self.tasks[src].net_rng)
            .moved;
        if moved > 0 {
            self.ensure_arrival(ch);
        }
        self.sync_full(ch);
    }

    /// Recounts whether `ch`'s output queue is full and updates its sender.
    #[inline]
    fn sync_full(&mut self, ch: ChannelId) {
        let full = self.channels[ch as usize].out_full();
        let cr = &mut self.chan_rt[ch as usize];
        if full == cr.full {
            return;
        }
        cr.full = full;
        let src = self.channels[ch as usize].src;
        let t = &mut self.tasks[src as usize];
        if full {
            t.full_outputs += 1;
        } else {
            t.full_outputs -= 1;
            if t.full_outputs == 0 && self.overdraft.is_some() {
                self.release_overdraft(src);
            }
            let t = &mut self.tasks[src as usize];
            if t.full_outputs == 0 && t.out_blocked {
                t.out_blocked = false;
                t.backpressure_ns += self.sched.now() - t.blocked_since;
                let since = t.blocked_since;
                self.counters.add_backpressure(since, self.sched.now());
                self.trace.record(TraceEvent::BackPressure {
                    t: self.sched.now(),
                    task: src,
                    on: false,
                });
                self.request_start(src);
            }
        }
    }

    /// Schedules an arrival for `ch`'s earliest message on the wire, unless one as early is
    /// already scheduled.
    pub(super) fn ensure_arrival(&mut self, ch: ChannelId) {
        let c = &mut self.channels[ch as usize];
        if let Some(t) = c.next_arrival() {
            if c.scheduled_arrival().is_none_or(|s| t < s) {
                c.set_scheduled_arrival(Some(t));
                self.sched.at(t, Event::Arrive(ch));
            }
        }
    }

    /// Messages on `ch`'s wire reach the receiver: they join its input queue (recorded by the
    /// snapshots recording `ch`) and the receiver may start on them.
    pub(super) fn on_arrive(&mut self, ch: ChannelId) {
        let now = self.sched.now();
        let c = &mut self.channels[ch as usize];
        if c.scheduled_arrival() != Some(now) {
            return; // superseded by an earlier arrival on a reordering channel
        }
        c.set_scheduled_arrival(None);
        let dst = c.dst;
        let cr = &mut self.chan_rt[ch as usize];
        let announce = self.announce && !self.topo.channels[ch as usize].aligned_only;
        let (n, priority) = if announce && cr.recording.is_empty() {
            let announced = &mut self.announced;
            c.arrive_announcing(&mut self.pool, now, |m| announced.push(*m))
        } else if announce {
            let local = &mut self.tasks[dst as usize].local;
            let recording = &mut cr.recording;
            let announced = &mut self.announced;
            c.arrive_each(&mut self.pool, now, |m| {
                record_arrival(local, recording, ch, m);
                if m.kind == MsgKind::Control && !m.priority {
                    announced.push(*m);
                }
            })
        } else if cr.recording.is_empty() {
            c.arrive(&mut self.pool, now)
        } else {
            let local = &mut self.tasks[dst as usize].local;
            let recording = &mut cr.recording;
            c.arrive_each(&mut self.pool, now, |m| {
                record_arrival(local, recording, ch, m)
            })
        };
        if n > 0 {
            if let Some(d) = self.debloat.as_deref_mut() {
                d.arrived(ch, now);
            }
            let cr = &mut self.chan_rt[ch as usize];
            if !cr.blocked {
                let ready = &mut self.tasks[dst as usize].ready;
                if priority {
                    // A priority message is handled next: its channel goes to the front.
                    if cr.in_ready {
                        ready.retain(|&r| r != ch);
                    }
                    ready.push_front(ch);
                    cr.in_ready = true;
                } else if !cr.in_ready {
                    cr.in_ready = true;
                    ready.push_back(ch);
                }
            }
            self.request_start(dst);
        }
        if announce && !self.announced.is_empty() {
            self.announce_arrivals(ch);
        }
        self.ensure_arrival(ch);
    }

    /// Tells the receiver of `ch` of the FIFO control messages that just reached its input
    /// queue (Flink's priority `EventAnnouncement`), before it takes them.
    #[cold]
    fn announce_arrivals(&mut self, ch: ChannelId) {
        let dst = self.channels[ch as usize].dst;
        let input = self.chan_rt[ch as usize].input_index as usize;
        let mut announced = std::mem::take(&mut self.announced);
        for m in announced.drain(..) {
            let ctl = Control {
                tag: m.tag,
                id: m.num,
                trigger_time: m.created_at,
                priority: false,
            };
            self.with_protocol(dst, |p, v, out| p.on_announcement(v, input, ctl, out));
        }
        self.announced = announced;
    }
}
