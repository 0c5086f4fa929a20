//! `aligned`: Flink's exactly-once checkpoint barriers with alignment.
//!
//! Follows Flink's `SingleCheckpointBarrierHandler` in aligned mode:
//! - a source snapshots its offset on the trigger and sends the barrier downstream;
//! - a task blocks each input at its barrier; when the barrier has arrived on every open input
//!   it snapshots, forwards the barrier and unblocks everything. No channel state is recorded:
//!   the data behind a barrier waits in its input queue (and, once the credit is gone, in the
//!   sender's output queue), which is the back-pressure that alignment causes;
//! - a barrier of a newer checkpoint during an alignment aborts the older one (subsumed): the
//!   task declines it and sends a cancellation marker downstream;
//! - a barrier older than the current checkpoint, or of one already finished here, is ignored
//!   and does not block;
//! - a cancellation marker for the current (aligning) or a newer checkpoint aborts it, unblocks
//!   everything and is forwarded once; a second one does nothing;
//! - end of input on a channel lowers the number of barriers needed, as in Flink since 1.14
//!   (FLIP-147), instead of aborting the alignment as older versions did;
//! - with one input, alignment takes no time and nothing is blocked.
//!
//! With a timeout (`aligned-timeout`, see `aligned_timeout.rs`) an alignment that runs past it
//! switches to unaligned for that checkpoint. Under `unaligned`, a task whose inputs do not
//! support unaligned checkpoints ([`TaskView::aligned_inputs`]) runs this alignment too and
//! sends its barriers unaligned ([`Aligned::forced`]).

use super::{DeclineReason, Descriptor, Graphs, Promises};
use super::{snapshot_and_forward, Command, Control, TaskProtocol, TaskView, BARRIER, CANCEL};
use crate::engine::Time;

/// `aligned` in the registry.
pub(super) static DESCRIPTOR: Descriptor = Descriptor {
    name: "aligned",
    summary: "Flink's exactly-once aligned barriers",
    promises: Promises {
        consistent_cuts: true,
        exactly_once: true,
    },
    graphs: Graphs::Dataflow,
    takes_snapshots: true,
    completion_subsumes_older: true,
    max_concurrent: None,
    refuses_concurrent: None,
    control_kinds: &[super::BARRIER_KIND, super::CANCEL_KIND],
    params: &[],
    announces: super::registry::never,
    build: |view, _| Box::new(Aligned::new(view)),
};

/// The alignment in progress.
#[derive(Debug, Clone)]
pub(super) struct Alignment {
    pub id: u64,
    pub seen: Vec<bool>,
    pub count: usize,
    pub since: Time,
    /// Switched to unaligned (aligned-timeout only): the snapshot is taken, the remaining
    /// barriers only end the channel recordings.
    pub unaligned: bool,
    /// Inputs whose barrier has been announced (queued, not yet taken): aligned-timeout
    /// prioritises them when it switches.
    pub announced: Vec<bool>,
    /// Past the timeout at a task whose inputs must stay aligned: it still aligns, then sends
    /// its barriers unaligned where the outputs allow it.
    pub late: bool,
}

impl Alignment {
    /// An alignment of `id` over `inputs` inputs, started at `since`.
    pub(super) fn new(id: u64, inputs: usize, since: Time) -> Self {
        Alignment {
            id,
            seen: vec![false; inputs],
            count: 0,
            since,
            unaligned: false,
            announced: vec![false; inputs],
            late: false,
        }
    }
}

/// One task's aligned-barrier state.
#[derive(Debug, Clone)]
pub struct Aligned {
    pub(super) closed: Vec<bool>,
    /// The newest checkpoint id this task has started or aborted.
    pub(super) current: u64,
    pub(super) aligning: Option<Alignment>,
    /// For aligned-timeout: switch to unaligned after this long since the trigger.
    pub(super) timeout: Option<Time>,
    /// The task's inputs do not support unaligned checkpoints (see [`TaskView`]).
    pub(super) aligned_inputs: bool,
    /// Send every barrier unaligned once aligned (an unaligned task whose inputs must align).
    pub(super) overtake_always: bool,
    /// For aligned-timeout: the checkpoint whose barrier this task sent aligned and whose
    /// output-side timer is still to fire.
    pub(super) forwarded: Option<u64>,
}

impl Aligned {
    /// A task with `view.inputs` inputs.
    pub fn new(view: &TaskView) -> Self {
        Aligned {
            closed: vec![false; view.inputs],
            current: 0,
            aligning: None,
            timeout: None,
            aligned_inputs: view.aligned_inputs,
            overtake_always: false,
            forwarded: None,
        }
    }

    /// An `unaligned` task whose inputs do not support unaligned checkpoints (Flink's
    /// FLINK-21945): it aligns its inputs, then sends its barriers unaligned.
    pub fn forced(view: &TaskView) -> Self {
        Aligned {
            overtake_always: true,
            ..Aligned::new(view)
        }
    }

    pub(super) fn open_inputs(&self) -> usize {
        self.closed.iter().filter(|c| !**c).count()
    }

    /// Gives up the current alignment at this task.
    pub(super) fn abort_local(&mut self, out: &mut Vec<Command>, forward_cancel: bool) {
        if let Some(a) = self.aligning.take() {
            out.push(Command::UnblockAll);
            out.push(Command::Decline {
                id: a.id,
                reason: DeclineReason::Superseded,
            });
            if forward_cancel {
                out.push(Command::Broadcast {
                    tag: CANCEL,
                    id: a.id,
                    priority: false,
                });
            }
        }
    }

    /// Completes the alignment if every open input has delivered its barrier.
    pub(super) fn try_complete(&mut self, out: &mut Vec<Command>) {
        let open = self.open_inputs();
        let Some(a) = &self.aligning else { return };
        let arrived = a
            .seen
            .iter()
            .zip(&self.closed)
            .filter(|(s, c)| **s && !**c)
            .count();
        if arrived < open {
            return;
        }
        let a = self.aligning.take().expect("checked above");
        if a.unaligned {
            out.push(Command::Ack { id: a.id });
            return;
        }
        let overtake = self.overtake_always || a.late;
        snapshot_and_forward(out, BARRIER, a.id, a.since, overtake);
        if self.timeout.is_some() && !overtake {
            self.forwarded = Some(a.id);
        }
        // Unblock whenever an input may have been blocked: end of input can finish an
        // alignment in which only one barrier (and one block) was seen.
        if self.closed.len() > 1 {
            out.push(Command::UnblockAll);
        }
        out.push(Command::Ack { id: a.id });
    }

    fn on_barrier(&mut self, view: &TaskView, input: usize, ctl: Control, out: &mut Vec<Command>) {
        let stale = ctl.id < self.current || (ctl.id == self.current && self.aligning.is_none());
        if stale {
            return;
        }
        let starting = ctl.id > self.current;
        if starting {
            self.abort_local(out, true);
            self.current = ctl.id;
            self.aligning = Some(Alignment::new(ctl.id, self.closed.len(), view.now));
        }
        // A FIFO barrier means everything before it on this input has been processed: the
        // input contributes no channel state. A priority barrier overtook data, which the
        // switch to unaligned records, so it is counted only after the switch.
        if let Some(a) = self.aligning.as_mut().filter(|a| a.count == 0 && !a.unaligned) {
            // Alignment is measured from the first barrier taken, even when an announcement
            // started the checkpoint here (and armed its timer) earlier.
            a.since = view.now;
        }
        if !ctl.priority {
            self.count_barrier(input);
        }
        let unaligned = self.aligning.as_ref().is_some_and(|a| a.unaligned);
        if !unaligned && self.timeout.is_some() && self.should_switch(view, ctl, starting, out) {
            self.switch_to_unaligned(view, out);
        }
        if ctl.priority {
            self.count_barrier(input);
        }
        let before = out.len();
        self.try_complete(out);
        let completed = out.len() > before;
        let still_aligned = self.aligning.as_ref().is_some_and(|a| !a.unaligned);
        if !completed && still_aligned {
            out.push(Command::Block(input));
        }
    }

    fn count_barrier(&mut self, input: usize) {
        if let Some(a) = self.aligning.as_mut() {
            if !a.seen[input] {
                a.seen[input] = true;
                a.count += 1;
            }
        }
    }

    fn on_cancel(&mut self, ctl: Control, out: &mut Vec<Command>) {
        let aligning_this = self.aligning.as_ref().is_some_and(|a| a.id == ctl.id);
        if ctl.id > self.current || aligning_this {
            if let Some(a) = self.aligning.take() {
                out.push(Command::UnblockAll);
                let reason = if a.id == ctl.id {
                    DeclineReason::Cancelled
                } else {
                    DeclineReason::Superseded
                };
                out.push(Command::Decline { id: a.id, reason });
            }
            if !aligning_this {
                out.push(Command::Decline {
                    id: ctl.id,
                    reason: DeclineReason::Cancelled,
                });
            }
            self.current = self.current.max(ctl.id);
            out.push(Command::Broadcast {
                tag: CANCEL,
                id: ctl.id,
                priority: false,
            });
        }
    }
}

impl TaskProtocol for Aligned {
    fn on_trigger(&mut self, view: &TaskView, id: u64, out: &mut Vec<Command>) {
        if id <= self.current {
            return;
        }
        self.abort_local(out, true);
        self.current = id;
        snapshot_and_forward(out, BARRIER, id, view.now, self.overtake_always);
        out.push(Command::Ack { id });
        if let Some(timeout) = self.timeout {
            // The output-side timer of a source (Flink >= 1.16).
            self.forwarded = Some(id);
            out.push(Command::SetTimer {
                at: view.now.saturating_add(timeout),
                token: id,
            });
        }
    }

    fn on_control(&mut self, view: &TaskView, input: usize, ctl: Control, out: &mut Vec<Command>) {
        match ctl.tag {
            BARRIER => self.on_barrier(view, input, ctl, out),
            CANCEL => self.on_cancel(ctl, out),
            _ => {}
        }
    }

    fn on_end_of_input(&mut self, _view: &TaskView, input: usize, out: &mut Vec<Command>) {
        self.closed[input] = true;
        self.try_complete(out);
    }

    fn on_timer(&mut self, view: &TaskView, token: u64, out: &mut Vec<Command>) {
        self.on_timeout(view, token, out);
    }

    fn on_announcement(&mut self, view: &TaskView, input: usize, ctl: Control, out: &mut Vec<Command>) {
        if ctl.tag == BARRIER && self.timeout.is_some() {
            self.announced(view, input, ctl, out);
        }
    }

    fn on_abort(&mut self, _view: &TaskView, id: u64, out: &mut Vec<Command>) {
        if self.forwarded == Some(id) {
            self.forwarded = None;
        }
        if self.aligning.as_ref().is_some_and(|a| a.id == id) {
            self.aligning = None;
            out.push(Command::UnblockAll);
        }
        // Barriers of an aborted checkpoint that arrive later must not start an alignment.
        self.current = self.current.max(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::testing::{barrier, cancel, control, summary, view};

    fn aligned(inputs: usize) -> Aligned {
        Aligned::new(&view(inputs, 0))
    }

    #[test]
    fn blocks_each_input_until_all_barriers_are_in() {
        let mut p = aligned(3);
        assert_eq!(
            control(&mut p, 3, 10, 0, barrier(1)),
            vec![Command::Block(0)]
        );
        assert_eq!(
            control(&mut p, 3, 20, 2, barrier(1)),
            vec![Command::Block(2)]
        );
        assert_eq!(
            control(&mut p, 3, 30, 1, barrier(1)),
            vec![
                Command::Snapshot {
                    id: 1,
                    overtake_outputs: false,
                    aligning_since: 10
                },
                Command::Broadcast {
                    tag: BARRIER,
                    id: 1,
                    priority: false
                },
                Command::UnblockAll,
                Command::Ack { id: 1 },
            ]
        );
    }

    #[test]
    fn a_single_input_aligns_in_zero_time_and_blocks_nothing() {
        let mut p = aligned(1);
        let out = control(&mut p, 1, 10, 0, barrier(1));
        assert!(!out
            .iter()
            .any(|c| matches!(c, Command::Block(_) | Command::UnblockAll)));
        assert_eq!(summary(&out), (vec![1], vec![1], vec![]));
    }

    #[test]
    fn a_newer_barrier_subsumes_the_pending_alignment() {
        let mut p = aligned(2);
        control(&mut p, 2, 1, 0, barrier(1));
        let out = control(&mut p, 2, 2, 1, barrier(2));
        assert_eq!(
            out,
            vec![
                Command::UnblockAll,
                Command::Decline {
                    id: 1,
                    reason: DeclineReason::Superseded
                },
                Command::Broadcast {
                    tag: CANCEL,
                    id: 1,
                    priority: false
                },
                Command::Block(1),
            ]
        );
        // The late barrier 1 on input 1 is stale: ignored, does not block.
        assert!(control(&mut p, 2, 3, 1, barrier(1)).is_empty());
        let out = control(&mut p, 2, 4, 0, barrier(2));
        assert_eq!(summary(&out), (vec![2], vec![2], vec![]));
    }

    #[test]
    fn stale_barriers_after_completion_are_ignored() {
        let mut p = aligned(2);
        control(&mut p, 2, 1, 0, barrier(3));
        control(&mut p, 2, 2, 1, barrier(3));
        assert!(control(&mut p, 2, 3, 0, barrier(3)).is_empty());
        assert!(control(&mut p, 2, 3, 0, barrier(2)).is_empty());
    }

    #[test]
    fn cancellation_aborts_unblocks_and_is_forwarded_once() {
        let mut p = aligned(2);
        control(&mut p, 2, 1, 0, barrier(1));
        let out = control(&mut p, 2, 2, 1, cancel(1));
        assert_eq!(
            out,
            vec![
                Command::UnblockAll,
                Command::Decline {
                    id: 1,
                    reason: DeclineReason::Cancelled
                },
                Command::Broadcast {
                    tag: CANCEL,
                    id: 1,
                    priority: false
                },
            ]
        );
        assert!(
            control(&mut p, 2, 3, 0, cancel(1)).is_empty(),
            "second cancel does nothing"
        );
        // The remaining barrier of the cancelled checkpoint is stale.
        assert!(control(&mut p, 2, 4, 1, barrier(1)).is_empty());
    }

    #[test]
    fn cancellation_of_a_newer_checkpoint_is_forwarded_without_alignment() {
        let mut p = aligned(2);
        let out = control(&mut p, 2, 1, 0, cancel(5));
        assert_eq!(summary(&out).2, vec![5]);
        assert!(out.contains(&Command::Broadcast {
            tag: CANCEL,
            id: 5,
            priority: false
        }));
        assert!(control(&mut p, 2, 2, 1, barrier(5)).is_empty());
    }

    #[test]
    fn end_of_input_lowers_the_barriers_needed() {
        let mut p = aligned(3);
        control(&mut p, 3, 1, 0, barrier(1));
        control(&mut p, 3, 2, 1, barrier(1));
        let mut out = vec![];
        p.on_end_of_input(&view(3, 3), 2, &mut out);
        assert_eq!(summary(&out), (vec![1], vec![1], vec![]));
        // The next checkpoint needs only the two open inputs.
        control(&mut p, 3, 4, 0, barrier(2));
        let out = control(&mut p, 3, 5, 1, barrier(2));
        assert_eq!(summary(&out).1, vec![2]);
    }

    #[test]
    fn the_coordinators_abort_unblocks_and_makes_later_barriers_stale() {
        let mut p = aligned(2);
        control(&mut p, 2, 1, 0, barrier(1));
        let mut out = vec![];
        p.on_abort(&view(2, 2), 1, &mut out);
        assert_eq!(out, vec![Command::UnblockAll]);
        assert!(control(&mut p, 2, 3, 1, barrier(1)).is_empty());
    }
}
