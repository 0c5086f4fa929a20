//! `unaligned`: Flink's unaligned checkpoints.
//!
//! At the first barrier of checkpoint `n` on any input the task snapshots at once, and the
//! barrier overtakes: it is sent with priority, jumping to the head of every output queue, and
//! the data it jumped over is recorded as output channel state. On the input side the data the
//! incoming barrier overtook, and everything that arrives on each other input until that input's
//! own barrier `n`, is recorded as input channel state. Nothing blocks, so checkpoint time does
//! not grow with back-pressure; its size grows with the data in flight. The local part is done
//! when every open input has delivered barrier `n`.
//!
//! A task with a forward or broadcast input edge aligns instead (Flink's FLINK-21945: such
//! edges carry no channel state): see [`build`]. The simulation keeps priority barriers and
//! output recording off those channels.
//!
//! As in Flink, only one unaligned checkpoint is in flight at a task: a newer barrier while an
//! older checkpoint still waits for barriers declines the older one.

use super::{DeclineReason, Descriptor, Graphs, Promises};
use super::{snapshot_and_forward, Command, Control, TaskProtocol, TaskView, BARRIER, CANCEL};

/// `unaligned` in the registry.
pub(super) static DESCRIPTOR: Descriptor = Descriptor {
    name: "unaligned",
    summary: "Flink's unaligned checkpoints: barriers overtake data, which is recorded",
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
    params: &[],
    announces: super::registry::never,
    build: |view, _| build(view),
};

/// An unaligned task, or an aligned one sending unaligned barriers when its inputs do not
/// support unaligned checkpoints (Flink's FLINK-21945).
pub(super) fn build(view: &TaskView) -> Box<dyn TaskProtocol> {
    if view.aligned_inputs {
        Box::new(super::aligned::Aligned::forced(view))
    } else {
        Box::new(Unaligned::new(view))
    }
}

/// One task's unaligned-checkpoint state.
#[derive(Debug, Clone)]
pub struct Unaligned {
    closed: Vec<bool>,
    current: u64,
    /// Inputs whose barrier of `current` has arrived, while the checkpoint is pending.
    pending: Option<Vec<bool>>,
}

impl Unaligned {
    /// A task with `view.inputs` inputs.
    pub fn new(view: &TaskView) -> Self {
        Unaligned {
            closed: vec![false; view.inputs],
            current: 0,
            pending: None,
        }
    }

    fn snapshot(&mut self, view: &TaskView, id: u64, out: &mut Vec<Command>) {
        if let Some(_old) = self.pending.take() {
            out.push(Command::Decline {
                id: self.current,
                reason: DeclineReason::Superseded,
            });
        }
        self.current = id;
        snapshot_and_forward(out, BARRIER, id, view.now, true);
        for (i, &closed) in self.closed.iter().enumerate() {
            if !closed {
                out.push(Command::Record { input: i, id });
            }
        }
        self.pending = Some(self.closed.clone());
    }

    fn try_complete(&mut self, out: &mut Vec<Command>) {
        if self
            .pending
            .as_ref()
            .is_some_and(|seen| seen.iter().all(|s| *s))
        {
            self.pending = None;
            out.push(Command::Ack { id: self.current });
        }
    }
}

impl TaskProtocol for Unaligned {
    fn on_trigger(&mut self, view: &TaskView, id: u64, out: &mut Vec<Command>) {
        if id > self.current {
            self.snapshot(view, id, out);
            self.try_complete(out);
        }
    }

    fn on_control(&mut self, view: &TaskView, input: usize, ctl: Control, out: &mut Vec<Command>) {
        match ctl.tag {
            BARRIER => {
                if ctl.id > self.current {
                    self.snapshot(view, ctl.id, out);
                }
                if ctl.id == self.current {
                    if let Some(seen) = self.pending.as_mut() {
                        seen[input] = true;
                    }
                    self.try_complete(out);
                }
            }
            CANCEL
                if ctl.id > self.current || (ctl.id == self.current && self.pending.is_some()) =>
            {
                self.pending = None;
                self.current = ctl.id;
                out.push(Command::Decline {
                    id: ctl.id,
                    reason: DeclineReason::Cancelled,
                });
                out.push(Command::Broadcast {
                    tag: CANCEL,
                    id: ctl.id,
                    priority: true,
                });
            }
            _ => {}
        }
    }

    fn on_end_of_input(&mut self, _view: &TaskView, input: usize, out: &mut Vec<Command>) {
        self.closed[input] = true;
        if let Some(seen) = self.pending.as_mut() {
            seen[input] = true;
        }
        self.try_complete(out);
    }

    fn on_abort(&mut self, _view: &TaskView, id: u64, _out: &mut Vec<Command>) {
        if id == self.current {
            self.pending = None;
        }
        self.current = self.current.max(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::testing::{barrier, control, summary, view};

    fn prio(id: u64) -> Control {
        Control {
            priority: true,
            ..barrier(id)
        }
    }

    #[test]
    fn snapshots_at_the_first_barrier_and_records_every_input() {
        let mut p = Unaligned::new(&view(2, 0));
        let out = control(&mut p, 2, 7, 1, prio(1));
        assert_eq!(
            out,
            vec![
                Command::Snapshot {
                    id: 1,
                    overtake_outputs: true,
                    aligning_since: 7
                },
                Command::Broadcast {
                    tag: BARRIER,
                    id: 1,
                    priority: true
                },
                Command::Record { input: 0, id: 1 },
                Command::Record { input: 1, id: 1 },
            ]
        );
        assert!(
            !out.iter().any(|c| matches!(c, Command::Block(_))),
            "never blocks"
        );
        assert_eq!(
            control(&mut p, 2, 9, 0, prio(1)),
            vec![Command::Ack { id: 1 }]
        );
    }

    #[test]
    fn one_unaligned_checkpoint_at_a_time() {
        let mut p = Unaligned::new(&view(2, 0));
        control(&mut p, 2, 1, 0, prio(1));
        let out = control(&mut p, 2, 2, 0, prio(2));
        assert_eq!(summary(&out), (vec![2], vec![], vec![1]));
        assert!(control(&mut p, 2, 3, 1, prio(1)).is_empty(), "stale");
        assert_eq!(summary(&control(&mut p, 2, 4, 1, prio(2))).1, vec![2]);
    }

    #[test]
    fn sources_and_single_inputs_complete_at_once() {
        let mut s = Unaligned::new(&view(0, 0));
        let mut out = vec![];
        s.on_trigger(&view(0, 0), 1, &mut out);
        assert_eq!(summary(&out), (vec![1], vec![1], vec![]));
        let mut p = Unaligned::new(&view(1, 0));
        assert_eq!(
            summary(&control(&mut p, 1, 1, 0, prio(1))),
            (vec![1], vec![1], vec![])
        );
    }

    #[test]
    fn end_of_input_stands_in_for_a_missing_barrier() {
        let mut p = Unaligned::new(&view(2, 0));
        control(&mut p, 2, 1, 0, prio(1));
        let mut out = vec![];
        p.on_end_of_input(&view(2, 2), 1, &mut out);
        assert_eq!(out, vec![Command::Ack { id: 1 }]);
    }
}
