//! `aligned-timeout`: aligned barriers that switch to unaligned when alignment takes too long.
//!
//! Follows Flink's `execution.checkpointing.aligned-checkpoint-timeout` as of 1.16:
//! - every checkpoint starts aligned. The clock is the trigger time the barrier carries, so the
//!   time left at a task is `trigger + timeout - now`: start delay counts;
//! - a barrier that reaches an input queue behind data is announced to the task at once
//!   (Flink's priority `EventAnnouncement`). The first barrier or announcement of a checkpoint
//!   arms its timer; an announcement does not count as the barrier;
//! - when the timer fires during the alignment, the task switches this checkpoint to unaligned:
//!   it snapshots, sends its barriers with priority (recording the output data they overtake),
//!   prioritises every announced barrier (the data each jumps is recorded as that input's
//!   channel state), unblocks its inputs and records the other inputs until their barriers
//!   come. Later announcements of that checkpoint are prioritised at once;
//! - a barrier already past the timeout when taken, or one that comes with priority because an
//!   upstream task switched, switches at once; an announcement past the timeout switches at the
//!   next work boundary (the timer is set for now), never in the middle of a record;
//! - output side (FLINK-27251): a task that sent its barrier aligned, a source included, keeps
//!   a timer at the same deadline. If the barrier still waits in an output queue then, the data
//!   ahead of it is recorded as output channel state of the task's snapshot and the barrier
//!   becomes a priority barrier at the head of that queue; the copied data is still delivered,
//!   after it, so the receiver (which switches on the priority barrier) does not record it
//!   again. A barrier that has left is untouched. **Model:** the copied bytes join the task's
//!   acknowledged snapshot; its upload was timed when it acknowledged;
//! - a task whose inputs must stay aligned (a forward or broadcast input edge, FLINK-21945)
//!   never switches its inputs: past the timeout it still aligns, then sends its barriers
//!   unaligned where its outputs allow it;
//! - the next checkpoint starts aligned again. A timeout of 0 builds `unaligned` itself.
//!
//! Metrics: alignment is measured from the first barrier taken, as for `aligned` (a timeout
//! above the aligned duration gives the aligned run's figures); only a task that switches on
//! announcements alone counts from its first announcement. The alignment logic is `aligned.rs`'s.

use super::aligned::{Aligned, Alignment};
use super::{Descriptor, Graphs, Param, Promises};
use super::{snapshot_and_forward, Command, Control, TaskProtocol, TaskView, BARRIER};
use crate::engine::Time;

/// The alignment time (since the trigger) after which a checkpoint turns unaligned at a task
/// (Flink's `execution.checkpointing.aligned-checkpoint-timeout`).
const ALIGNMENT_TIMEOUT: Param = Param {
    name: "alignment_timeout",
    doc: "For `aligned-timeout`: alignment longer than this (since the trigger) turns unaligned; 0 starts every checkpoint unaligned (Flink's default).",
    default_ns: 10_000_000,
    min_ns: 0,
};

/// `aligned-timeout` in the registry.
pub(super) static DESCRIPTOR: Descriptor = Descriptor {
    name: "aligned-timeout",
    summary: "Aligned, switching a checkpoint to unaligned once it is older than `alignment_timeout`",
    promises: Promises {
        consistent_cuts: true,
        exactly_once: true,
    },
    graphs: Graphs::Dataflow,
    takes_snapshots: true,
    completion_subsumes_older: true,
    max_concurrent: None,
    refuses_concurrent: Some(super::UNALIGNED_NEEDS_ONE),
    control_kinds: &[super::BARRIER_KIND, super::CANCEL_KIND],
    params: &[ALIGNMENT_TIMEOUT],
    announces: |params| params.duration(ALIGNMENT_TIMEOUT.name) > 0,
    build: |view, params| match params.duration(ALIGNMENT_TIMEOUT.name) {
        // Flink: a timeout of 0 means every checkpoint starts unaligned.
        0 => super::unaligned::build(view),
        timeout => Box::new(AlignedTimeout::new(view, timeout)),
    },
};

/// Aligned barriers with a timeout.
#[derive(Debug, Clone)]
pub struct AlignedTimeout(Aligned);

impl AlignedTimeout {
    /// A task with `view.inputs` inputs and the given alignment timeout.
    pub fn new(view: &TaskView, timeout: Time) -> Self {
        let mut inner = Aligned::new(view);
        inner.timeout = Some(timeout);
        AlignedTimeout(inner)
    }
}

impl Aligned {
    /// Decides whether the current alignment must switch to unaligned now: the barrier came
    /// with priority (an upstream task switched) or is already past the timeout. When an
    /// alignment starts within the timeout, arms the timer instead. A task whose inputs must
    /// stay aligned never switches: past the timeout it only sends its barriers unaligned.
    pub(super) fn should_switch(
        &mut self,
        view: &TaskView,
        ctl: Control,
        starting: bool,
        out: &mut Vec<Command>,
    ) -> bool {
        let timeout = self.timeout.expect("only called with a timeout");
        let deadline = ctl.trigger_time.saturating_add(timeout);
        if self.aligned_inputs {
            if view.now >= deadline {
                if let Some(a) = self.aligning.as_mut() {
                    a.late = true;
                }
            } else if starting {
                out.push(Command::SetTimer {
                    at: deadline,
                    token: ctl.id,
                });
            }
            return false;
        }
        if ctl.priority || view.now >= deadline {
            return true;
        }
        if starting {
            out.push(Command::SetTimer {
                at: deadline,
                token: ctl.id,
            });
        }
        false
    }

    /// The barrier of `ctl.id` was announced on `input` (Flink's `EventAnnouncement`): the
    /// first announcement or barrier of a checkpoint starts its alignment and arms its timer
    /// (from the trigger: start delay counts), without counting the barrier. Once the
    /// checkpoint has switched to unaligned, an announced barrier is prioritised at once.
    /// Announcements of a newer checkpoint while an older one aligns are left to the barrier.
    pub(super) fn announced(
        &mut self,
        view: &TaskView,
        input: usize,
        ctl: Control,
        out: &mut Vec<Command>,
    ) {
        if self.aligned_inputs || ctl.id < self.current {
            return;
        }
        if ctl.id > self.current {
            if self.aligning.is_some() {
                return;
            }
            self.current = ctl.id;
            self.aligning = Some(Alignment::new(ctl.id, self.closed.len(), view.now));
            let timeout = self.timeout.expect("only called with a timeout");
            // The switch itself happens when the timer fires, at a work boundary, even when
            // the deadline has passed already.
            out.push(Command::SetTimer {
                at: ctl.trigger_time.saturating_add(timeout).max(view.now),
                token: ctl.id,
            });
        }
        let Some(a) = self.aligning.as_mut().filter(|a| a.id == ctl.id) else {
            return;
        };
        if a.seen[input] || self.closed[input] || a.announced[input] {
            return;
        }
        a.announced[input] = true;
        if a.unaligned {
            out.push(Command::Prioritise {
                input,
                id: ctl.id,
            });
        }
    }

    /// The timer of checkpoint `id` fired: an alignment still in progress switches to
    /// unaligned; a barrier this task sent aligned and that still waits in an output queue
    /// becomes unaligned there (the output-side timeout).
    pub(super) fn on_timeout(&mut self, view: &TaskView, id: u64, out: &mut Vec<Command>) {
        if let Some(a) = self.aligning.as_mut().filter(|a| a.id == id && !a.unaligned) {
            if self.aligned_inputs {
                a.late = true;
            } else {
                self.switch_to_unaligned(view, out);
            }
        } else if self.forwarded == Some(id) {
            self.forwarded = None;
            out.push(Command::TimeoutOutputs { id });
        }
    }

    /// Turns the current alignment into an unaligned checkpoint: snapshot now, barriers out
    /// with priority, announced barriers prioritised (the data they jump recorded), the other
    /// open inputs recorded until their barriers come.
    pub(super) fn switch_to_unaligned(&mut self, _view: &TaskView, out: &mut Vec<Command>) {
        let Some(a) = self.aligning.as_mut() else {
            return;
        };
        a.unaligned = true;
        snapshot_and_forward(out, BARRIER, a.id, a.since, true);
        for (i, (&seen, &closed)) in a.seen.iter().zip(&self.closed).enumerate() {
            if !seen && !closed {
                out.push(if a.announced[i] {
                    Command::Prioritise { input: i, id: a.id }
                } else {
                    Command::Record { input: i, id: a.id }
                });
            }
        }
        if a.count > 0 {
            out.push(Command::UnblockAll);
        }
    }
}

impl TaskProtocol for AlignedTimeout {
    fn on_trigger(&mut self, view: &TaskView, id: u64, out: &mut Vec<Command>) {
        self.0.on_trigger(view, id, out);
    }
    fn on_control(&mut self, view: &TaskView, input: usize, ctl: Control, out: &mut Vec<Command>) {
        self.0.on_control(view, input, ctl, out);
    }
    fn on_end_of_input(&mut self, view: &TaskView, input: usize, out: &mut Vec<Command>) {
        self.0.on_end_of_input(view, input, out);
    }
    fn on_announcement(&mut self, view: &TaskView, input: usize, ctl: Control, out: &mut Vec<Command>) {
        self.0.on_announcement(view, input, ctl, out);
    }
    fn on_timer(&mut self, view: &TaskView, token: u64, out: &mut Vec<Command>) {
        self.0.on_timer(view, token, out);
    }
    fn on_abort(&mut self, view: &TaskView, id: u64, out: &mut Vec<Command>) {
        self.0.on_abort(view, id, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::testing::{barrier, control, summary, view};

    fn at(inputs: usize, timeout: Time) -> AlignedTimeout {
        AlignedTimeout::new(&view(inputs, 0), timeout)
    }

    #[test]
    fn aligns_normally_within_the_timeout() {
        let mut p = at(2, 100);
        let out = control(&mut p, 2, 10, 0, barrier(1));
        assert_eq!(
            out,
            vec![Command::SetTimer { at: 100, token: 1 }, Command::Block(0)]
        );
        let out = control(&mut p, 2, 50, 1, barrier(1));
        assert!(out.contains(&Command::Snapshot {
            id: 1,
            overtake_outputs: false,
            aligning_since: 10
        }));
        // The timer firing later only asks for the output-side timeout of the barrier sent.
        let mut out = vec![];
        p.on_timer(&view(2, 100), 1, &mut out);
        assert_eq!(out, vec![Command::TimeoutOutputs { id: 1 }]);
    }

    #[test]
    fn the_timeout_switches_mid_alignment_to_unaligned() {
        let mut p = at(3, 100);
        control(&mut p, 3, 10, 0, barrier(1));
        let mut out = vec![];
        p.on_timer(&view(3, 100), 1, &mut out);
        assert_eq!(
            out,
            vec![
                Command::Snapshot {
                    id: 1,
                    overtake_outputs: true,
                    aligning_since: 10
                },
                Command::Broadcast {
                    tag: BARRIER,
                    id: 1,
                    priority: true
                },
                Command::Record { input: 1, id: 1 },
                Command::Record { input: 2, id: 1 },
                Command::UnblockAll,
            ]
        );
        // The remaining barriers only finish the recordings; the last acknowledges.
        assert!(control(&mut p, 3, 110, 1, barrier(1)).is_empty());
        assert_eq!(
            control(&mut p, 3, 120, 2, barrier(1)),
            vec![Command::Ack { id: 1 }]
        );
        // The next checkpoint starts aligned again.
        let next = Control {
            trigger_time: 190,
            ..barrier(2)
        };
        let out = control(&mut p, 3, 200, 0, next);
        assert!(out.contains(&Command::Block(0)));
    }

    #[test]
    fn a_barrier_past_the_timeout_or_with_priority_switches_at_once() {
        let mut p = at(2, 100);
        let late = Control {
            trigger_time: 0,
            ..barrier(1)
        };
        let out = control(&mut p, 2, 150, 0, late);
        assert_eq!(summary(&out).0, vec![1]);
        // The FIFO barrier's own input has no channel state; the other is recorded.
        assert!(out.contains(&Command::Record { input: 1, id: 1 }));
        assert!(!out.contains(&Command::Record { input: 0, id: 1 }));
        assert!(!out.iter().any(|c| matches!(c, Command::Block(_))));
        let mut q = at(2, 100);
        let prio = Control {
            priority: true,
            ..barrier(1)
        };
        let out = control(&mut q, 2, 5, 1, prio);
        assert!(out.contains(&Command::Broadcast {
            tag: BARRIER,
            id: 1,
            priority: true
        }));
        // Both inputs are recorded: input 1 for the data its priority barrier overtook.
        assert!(out.contains(&Command::Record { input: 0, id: 1 }));
        assert!(out.contains(&Command::Record { input: 1, id: 1 }));
    }

    fn announce(p: &mut AlignedTimeout, inputs: usize, now: Time, input: usize, c: Control) -> Vec<Command> {
        let mut out = Vec::new();
        p.on_announcement(&view(inputs, now), input, c, &mut out);
        out
    }

    fn prio(id: u64) -> Control {
        Control {
            priority: true,
            ..barrier(id)
        }
    }

    #[test]
    fn alternating_checkpoints_announced_barriers_switch_after_the_timeout() {
        // Flink's AlternatingCheckpointsTest: ch0 = [d, d, B1], ch1 = [d, B1], both announced
        // at once; nothing is taken until the clock passes the timeout.
        let mut p = at(2, 100);
        assert_eq!(
            announce(&mut p, 2, 1, 0, barrier(1)),
            vec![Command::SetTimer { at: 100, token: 1 }],
            "the first announcement arms the timer, from the trigger"
        );
        assert!(announce(&mut p, 2, 2, 1, barrier(1)).is_empty());
        let mut out = vec![];
        p.on_timer(&view(2, 200), 1, &mut out);
        assert_eq!(
            out,
            vec![
                Command::Snapshot {
                    id: 1,
                    overtake_outputs: true,
                    aligning_since: 1
                },
                Command::Broadcast {
                    tag: BARRIER,
                    id: 1,
                    priority: true
                },
                Command::Prioritise { input: 0, id: 1 },
                Command::Prioritise { input: 1, id: 1 },
            ]
        );
        // Both barriers come first now; the second completes exactly one checkpoint.
        assert!(control(&mut p, 2, 201, 0, prio(1)).is_empty());
        let out = control(&mut p, 2, 202, 1, prio(1));
        assert_eq!(summary(&out), (vec![], vec![1], vec![]));
        // The next checkpoint starts aligned again.
        let next = Control {
            trigger_time: 300,
            ..barrier(2)
        };
        assert!(control(&mut p, 2, 310, 0, next).contains(&Command::Block(0)));
    }

    #[test]
    fn an_announcement_past_the_timeout_switches_at_the_next_work_boundary() {
        let mut p = at(2, 100);
        let late = Control {
            trigger_time: 0,
            ..barrier(1)
        };
        assert_eq!(
            announce(&mut p, 2, 150, 1, late),
            vec![Command::SetTimer { at: 150, token: 1 }]
        );
        let mut out = vec![];
        p.on_timer(&view(2, 150), 1, &mut out);
        assert!(out.contains(&Command::Prioritise { input: 1, id: 1 }));
        assert!(out.contains(&Command::Record { input: 0, id: 1 }));
        // Once unaligned, a later announcement is prioritised at once; a repeat does nothing.
        let mut q = at(3, 100);
        control(&mut q, 3, 10, 0, barrier(1));
        let mut out = vec![];
        q.on_timer(&view(3, 100), 1, &mut out);
        assert!(out.contains(&Command::Record { input: 2, id: 1 }));
        assert_eq!(
            announce(&mut q, 3, 120, 2, barrier(1)),
            vec![Command::Prioritise { input: 2, id: 1 }]
        );
        assert!(announce(&mut q, 3, 121, 2, barrier(1)).is_empty());
        // Announcements of taken barriers or of older checkpoints do nothing.
        assert!(announce(&mut q, 3, 122, 0, barrier(1)).is_empty());
    }

    #[test]
    fn a_source_arms_the_output_timer_and_an_abort_disarms_it() {
        let mut s = at(0, 100);
        let mut out = vec![];
        s.on_trigger(&view(0, 5), 1, &mut out);
        assert!(out.contains(&Command::SetTimer { at: 105, token: 1 }));
        let mut out = vec![];
        s.on_timer(&view(0, 105), 1, &mut out);
        assert_eq!(out, vec![Command::TimeoutOutputs { id: 1 }]);
        let mut out = vec![];
        s.on_trigger(&view(0, 200), 2, &mut out);
        s.on_abort(&view(0, 210), 2, &mut out);
        let mut out = vec![];
        s.on_timer(&view(0, 300), 2, &mut out);
        assert!(out.is_empty(), "an aborted checkpoint's barrier is left alone");
    }

    #[test]
    fn inputs_that_must_stay_aligned_never_switch_but_send_late_barriers_unaligned() {
        let v = TaskView {
            aligned_inputs: true,
            ..view(2, 0)
        };
        let mut p = AlignedTimeout::new(&v, 100);
        let mut out = vec![];
        p.on_announcement(&v, 0, barrier(1), &mut out);
        assert!(out.is_empty(), "no announcements on such inputs");
        p.on_control(&v, 0, barrier(1), &mut out);
        assert_eq!(
            out,
            vec![Command::SetTimer { at: 100, token: 1 }, Command::Block(0)]
        );
        let mut out = vec![];
        p.on_timer(&TaskView { now: 100, ..v }, 1, &mut out);
        assert!(out.is_empty(), "the inputs keep aligning");
        p.on_control(&TaskView { now: 150, ..v }, 1, barrier(1), &mut out);
        assert!(out.contains(&Command::Snapshot {
            id: 1,
            overtake_outputs: true,
            aligning_since: 0
        }));
        assert!(!out.iter().any(|c| matches!(c, Command::Record { .. })));
        // `unaligned` on such a task aligns too, and sends its barriers unaligned.
        let mut u = crate::protocols::unaligned::build(&v);
        let mut out = vec![];
        u.on_control(&v, 0, barrier(1), &mut out);
        assert_eq!(out, vec![Command::Block(0)]);
        let mut out = vec![];
        u.on_control(&v, 1, barrier(1), &mut out);
        assert!(out.contains(&Command::Broadcast {
            tag: BARRIER,
            id: 1,
            priority: true
        }));
    }
}
