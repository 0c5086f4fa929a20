//! The task loop: what a task does next, and what happens when a piece of work is done.
//!
//! A task does one thing at a time. Taking a message out of an input queue returns its credit
//! at once; the message's effect (state change, outputs) happens when its processing cost has
//! elapsed, atomically, so no snapshot can fall between a record's state change and its
//! outputs. Before a task starts new work it checks that none of its output queues is full:
//! a full one stops it, which is how back-pressure travels upstream.

use super::{Action, Event, Simulation, Work};
use crate::network::{ChannelId, Message, MsgKind, TaskId};
use crate::protocols::Control;
use crate::trace::TraceEvent;
use crate::workload::{Behaviour, Target};

impl Simulation {
    /// Queues `task` to look for new work once the current event's effects are applied. A
    /// work list instead of recursion keeps long back-pressure cascades off the call stack.
    #[inline]
    pub(super) fn request_start(&mut self, task: TaskId) {
        let t = &mut self.tasks[task as usize];
        if !t.in_start_queue {
            t.in_start_queue = true;
            self.start_queue.push(task);
        }
    }

    /// Lets every queued task look for work, including those queued meanwhile.
    pub(super) fn drain_starts(&mut self) {
        let mut next = 0;
        while let Some(&task) = self.start_queue.get(next) {
            next += 1;
            self.tasks[task as usize].in_start_queue = false;
            self.try_start(task);
        }
        self.start_queue.clear();
    }

    /// Starts `task`'s next piece of work if it is idle and may: protocol actions first,
    /// then a snapshot's synchronous part, then (unless back-pressured) an action, a source
    /// record or an input message.
    fn try_start(&mut self, task: TaskId) {
        let now = self.sched.now();
        let ti = task as usize;
        if self.tasks[ti].busy || self.down {
            return;
        }
        // Protocol actions (initiations, timers) need no output space: control messages take
        // no credit, as Flink's events take no buffer.
        while let Some(a @ (Action::Initiate(_) | Action::Timer(_))) =
            self.tasks[ti].actions.front()
        {
            self.tasks[ti].actions.pop_front();
            match a {
                Action::Initiate(id) => self.initiate(task, id),
                Action::Timer(token) => {
                    self.with_protocol(task, |p, v, out| p.on_timer(v, token, out))
                }
                _ => unreachable!("matched above"),
            }
        }
        let t = &mut self.tasks[ti];
        if t.sync_pending > 0 {
            // The synchronous part of a snapshot: the task does nothing else meanwhile.
            t.busy = true;
            t.work = Work::Idle;
            self.sched
                .at(now.saturating_add(t.sync_pending), Event::Done(task));
            t.sync_pending = 0;
            return;
        }
        if t.full_outputs > 0 && !t.out_blocked {
            t.out_blocked = true;
            t.blocked_since = now;
            self.trace.record(TraceEvent::BackPressure {
                t: now,
                task,
                on: true,
            });
        }
        if t.out_blocked {
            // A back-pressured task still handles control messages at the head of an input:
            // they need no output buffer (this is what lets unaligned barriers through).
            let found = t.ready.iter().copied().find(|&ch| {
                !self.chan_rt[ch as usize].blocked
                    && self.channels[ch as usize].control_at_head(&self.pool)
            });
            if let Some(ch) = found {
                self.take_from(task, ch);
            }
            return;
        }
        if let Some(a) = t.actions.pop_front() {
            t.busy = true;
            t.work = Work::Action(a);
            self.sched.after(0, Event::Done(task));
            return;
        }
        if let Behaviour::Source(log) = &t.behaviour {
            if t.paused {
                return;
            }
            match log.due(log.offset) {
                None => self.end_task(task),
                // A new record is read only if it is emitted before the stop time; records
                // read before a crash are replayed whenever recovery needs them.
                Some(_) if log.offset >= t.log_end && now.saturating_add(t.cost) >= log.stop_at => {
                    self.end_task(task)
                }
                Some(due) if due <= now => {
                    let offset = log.offset;
                    t.busy = true;
                    t.work = Work::SourceRecord(offset);
                    let cost = t.cost;
                    self.sched.after(cost, Event::Done(task));
                }
                Some(due) => {
                    if t.wake_at != Some(due) {
                        t.wake_at = Some(due);
                        self.sched.at(due, Event::Wake(task));
                    }
                }
            }
            return;
        }
        while let Some(&ch) = self.tasks[ti].ready.front() {
            let cr = &mut self.chan_rt[ch as usize];
            if cr.blocked || self.channels[ch as usize].inbox_len() == 0 {
                cr.in_ready = false;
                self.tasks[ti].ready.pop_front();
                continue;
            }
            // Round-robin: the channel goes to the back if it still has messages.
            self.tasks[ti].ready.pop_front();
            cr.in_ready = false;
            self.take_from(task, ch);
            return;
        }
        // Nothing to take: the task's input gates are idle.
        if let Some(d) = self.debloat.as_deref_mut() {
            d.idle(task, now);
        }
    }

    /// Takes the next message from input channel `ch` and starts processing it.
    fn take_from(&mut self, task: TaskId, ch: ChannelId) {
        let ti = task as usize;
        let c = &mut self.channels[ch as usize];
        let held = c
            .take_held(&self.pool)
            .expect("the caller checked the input queue");
        let msg = self.pool.held(held);
        let cr = &mut self.chan_rt[ch as usize];
        if c.inbox_len() > 0 {
            if !cr.in_ready {
                cr.in_ready = true;
                self.tasks[ti].ready.push_back(ch);
            }
        } else if cr.in_ready {
            cr.in_ready = false;
            self.tasks[ti].ready.retain(|&r| r != ch);
        }
        if msg.priority && msg.kind == MsgKind::Control {
            cr.last_priority = Some((msg.num, msg.value as u64));
        }
        if let Some(d) = self.debloat.as_deref_mut() {
            d.took(ch, msg.bytes, self.sched.now());
        }
        self.prefetch_next_input(task);
        let t = &mut self.tasks[ti];
        t.busy = true;
        t.work = Work::Input(ch, held);
        let cost = if msg.is_data() { t.cost } else { 0 };
        self.sched.after(cost, Event::Done(task));
        // The freed credit may let the sender put more on the wire.
        self.pump(ch);
    }

    /// Asks the processor for the record `task` will take next, from the head of its first
    /// ready input: with many messages in flight it is cold, and the take waits for it.
    #[inline]
    pub(super) fn prefetch_next_input(&self, task: TaskId) {
        if let Some(&ch) = self.tasks[task as usize].ready.front() {
            self.channels[ch as usize].prefetch_inbox_head(&self.pool);
        }
    }

    /// `task`'s current piece of work is done: its effect happens now, all at once.
    pub(super) fn on_done(&mut self, task: TaskId) {
        let now = self.sched.now();
        let ti = task as usize;
        let work = std::mem::replace(&mut self.tasks[ti].work, Work::Idle);
        self.tasks[ti].busy = false;
        match work {
            Work::Idle => {}
            Work::Input(ch, held) => {
                let msg = self.pool.held(held);
                self.pool.release_held(held);
                if self.rec.replaying != 0 {
                    self.replayed(ch);
                }
                self.trace.record(TraceEvent::Receive {
                    t: now,
                    ch,
                    seq: msg.seq,
                });
                let input = self.chan_rt[ch as usize].input_index as usize;
                match msg.kind {
                    MsgKind::Data => self.process_record(task, input, &msg),
                    MsgKind::Control => {
                        let ctl = Control {
                            tag: msg.tag,
                            id: msg.num,
                            trigger_time: msg.created_at,
                            priority: msg.priority,
                        };
                        self.check_alignment_failure(task, ctl.id);
                        self.with_protocol(task, |p, v, out| p.on_control(v, input, ctl, out));
                        self.chan_rt[ch as usize].last_priority = None;
                    }
                    MsgKind::EndOfInput => {
                        self.chan_rt[ch as usize].eof_taken = true;
                        self.with_protocol(task, |p, v, out| p.on_end_of_input(v, input, out));
                        let t = &mut self.tasks[ti];
                        t.open_inputs -= 1;
                        if t.open_inputs == 0 {
                            self.end_task(task);
                        }
                    }
                }
            }
            Work::SourceRecord(offset) => {
                let Behaviour::Source(log) = &mut self.tasks[ti].behaviour else {
                    unreachable!("only sources read records")
                };
                let msg = log.record(offset, now);
                log.offset = offset + 1;
                let rt = &mut self.tasks[ti];
                rt.log_end = rt.log_end.max(offset + 1);
                self.counters.source_records += 1;
                self.counters.first_read_ns.get_or_insert(now);
                self.trace.record(TraceEvent::SourceEmit {
                    t: now,
                    task,
                    offset,
                });
                self.out_buf.push((Target::Route, msg));
                self.emit_all(task);
            }
            Work::Action(Action::Transfer) => {
                if let Behaviour::Bank(b) = &mut self.tasks[ti].behaviour {
                    b.now = now;
                    b.start_transfer(&mut self.out_buf);
                }
                self.emit_all(task);
            }
            Work::Action(Action::Script(i)) => self.run_script_step(i),
            Work::Action(Action::Initiate(id)) => self.initiate(task, id),
            Work::Action(Action::Timer(token)) => {
                self.with_protocol(task, |p, v, out| p.on_timer(v, token, out));
            }
        }
        self.request_start(task);
    }

    /// Applies data record `msg`, taken from input `input`, to `task`'s behaviour and sends
    /// what it emits.
    fn process_record(&mut self, task: TaskId, input: usize, msg: &Message) {
        let now = self.sched.now();
        let ti = task as usize;
        self.tasks[ti].records_in += 1;
        if let Behaviour::Bank(b) = &mut self.tasks[ti].behaviour {
            b.now = now;
        }
        if let Behaviour::Script(s) = &mut self.tasks[ti].behaviour {
            if let Some(label) = s.receive(msg.value as u32) {
                self.trace.record(TraceEvent::StateChange {
                    t: now,
                    task,
                    label,
                });
            }
            return;
        }
        let reached_sink = self.tasks[ti]
            .behaviour
            .on_record(input, msg, &mut self.out_buf);
        if reached_sink {
            self.counters.sink_records += 1;
            self.counters.latencies.push(now - msg.created_at);
            self.counters.add_output(now);
            self.trace.record(TraceEvent::SinkOutput {
                t: now,
                task,
                source: msg.origin.source,
                offset: msg.origin.offset,
                key: msg.num,
            });
        }
        self.emit_all(task);
    }

    /// Sends end of input downstream once a task will produce nothing more.
    fn end_task(&mut self, task: TaskId) {
        if self.tasks[task as usize].ended {
            return;
        }
        if self.is_transactional_sink(task) {
            let now = self.sched.now();
            if !self.protocol.takes_snapshots() {
                // Without checkpoints the last transaction commits when the job ends.
                self.trace.record(TraceEvent::SinkCommit {
                    t: now,
                    task,
                    id: u64::MAX,
                });
            } else {
                // As in Flink (FLIP-147): the last transaction is pre-committed into the first
                // checkpoint that holds this sink's final state, and commits when that (or a
                // later) checkpoint completes.
                let id = self
                    .coord
                    .pending_ids()
                    .into_iter()
                    .find(|&id| !self.coord.has_acked(task, id))
                    .unwrap_or_else(|| self.coord.next_id());
                self.trace
                    .record(TraceEvent::SinkPrecommit { t: now, task, id });
            }
        }
        self.trace.record(TraceEvent::EndOfInput {
            t: self.sched.now(),
            task,
        });
        self.broadcast_control(task, Message::end_of_input());
        self.tasks[task as usize].ended = true;
        self.ended_tasks += 1;
        for id in self.coord.pending_ids() {
            self.ack_finished(task, id);
        }
        self.maybe_final_checkpoint();
    }

    /// Queues a bank process's next transfer, an exponential gap away, if it falls in the run.
    pub(super) fn schedule_transfer_timer(&mut self, task: TaskId) {
        let Some(mean) = self.transfer_mean else {
            return;
        };
        let t = &mut self.tasks[task as usize];
        let gap = crate::engine::rng::exponential(&mut t.work_rng, mean).max(1);
        let at = self.sched.now().saturating_add(gap);
        if at <= self.limit {
            self.sched.at(at, Event::Timer(task));
        }
    }
}
