//! `at-least-once`: Flink's barrier tracking without alignment.
//!
//! Follows Flink's `CheckpointBarrierTracker`: a task never blocks. It snapshots checkpoint `n`
//! when barrier `n` has arrived on every open input, so records that came in on an input after
//! its barrier have already changed the state; after a restore they are replayed and counted
//! again (duplicates). Several checkpoints may be pending at once; when one completes here, the
//! older incomplete ones are dropped. A task with a single input is exactly-once: there is
//! nothing to align.
//!
//! Why nothing is lost, with a transactional sink too (the rule recovery has to keep):
//!
//! - Channels are FIFO and a task records `n` only once barrier `n` has come in on every open
//!   input, so it has processed everything that came before those barriers. By induction from
//!   the sources, every record a source read before recording its offset for `n` has reached
//!   the sinks before they record `n`, and a transactional sink pre-commits it into `n` (or an
//!   earlier transaction). What commits when `n` completes is all of that, plus records that
//!   came after an early barrier: those are the duplicates.
//! - Replay after a restore of `n` starts at the source offsets recorded for `n`, so anything
//!   not committed is read again.
//! - The cut is not consistent, and that includes ends of input: a task may have taken the end
//!   of an input whose sender had recorded `n` before finishing. That sender restarts before
//!   its end, replays and sends the end again; so recovery takes an input as ended only when
//!   its sender is restored as finished, never from the receiver's record alone (otherwise the
//!   second end closes another input, and what still comes on it is never counted).

use super::{DeclineReason, Descriptor, Graphs, Promises};
use super::{snapshot_and_forward, Command, Control, TaskProtocol, TaskView, BARRIER, CANCEL};
use crate::engine::Time;

/// `at-least-once` in the registry.
pub(super) static DESCRIPTOR: Descriptor = Descriptor {
    name: "at-least-once",
    summary: "Flink's barrier tracking without alignment: records may count twice after recovery",
    promises: Promises {
        consistent_cuts: false,
        exactly_once: false,
    },
    graphs: Graphs::Dataflow,
    takes_snapshots: true,
    completion_subsumes_older: true,
    max_concurrent: None,
    refuses_concurrent: None,
    control_kinds: &[super::BARRIER_KIND, super::CANCEL_KIND],
    params: &[],
    announces: super::registry::never,
    build: |view, _| Box::new(AtLeastOnce::new(view)),
};

#[derive(Debug, Clone)]
struct Pending {
    id: u64,
    seen: Vec<bool>,
    since: Time,
}

/// One task's barrier tracker.
#[derive(Debug, Clone)]
pub struct AtLeastOnce {
    closed: Vec<bool>,
    /// Pending checkpoints, oldest first.
    pending: Vec<Pending>,
    /// The newest checkpoint completed or dropped here.
    latest_done: u64,
}

impl AtLeastOnce {
    /// A task with `view.inputs` inputs.
    pub fn new(view: &TaskView) -> Self {
        AtLeastOnce {
            closed: vec![false; view.inputs],
            pending: Vec::new(),
            latest_done: 0,
        }
    }

    fn complete_ready(&mut self, out: &mut Vec<Command>) {
        // The newest checkpoint whose barriers are all in; older ones are dropped with it.
        let closed = &self.closed;
        let ready = self
            .pending
            .iter()
            .rposition(|p| p.seen.iter().zip(closed).all(|(s, c)| *s || *c));
        if let Some(i) = ready {
            let p = self.pending[i].clone();
            self.pending.drain(..=i);
            self.latest_done = p.id;
            snapshot_and_forward(out, BARRIER, p.id, p.since, false);
            out.push(Command::Ack { id: p.id });
        }
    }
}

impl TaskProtocol for AtLeastOnce {
    fn on_trigger(&mut self, view: &TaskView, id: u64, out: &mut Vec<Command>) {
        if id > self.latest_done {
            self.pending.push(Pending {
                id,
                seen: Vec::new(),
                since: view.now,
            });
            self.complete_ready(out);
        }
    }

    fn on_control(&mut self, view: &TaskView, input: usize, ctl: Control, out: &mut Vec<Command>) {
        if ctl.id <= self.latest_done {
            return;
        }
        match ctl.tag {
            BARRIER => {
                let pos = match self.pending.iter().position(|p| p.id >= ctl.id) {
                    Some(i) if self.pending[i].id == ctl.id => i,
                    other => {
                        let i = other.unwrap_or(self.pending.len());
                        self.pending.insert(
                            i,
                            Pending {
                                id: ctl.id,
                                seen: vec![false; self.closed.len()],
                                since: view.now,
                            },
                        );
                        i
                    }
                };
                self.pending[pos].seen[input] = true;
                self.complete_ready(out);
            }
            CANCEL => {
                self.pending.retain(|p| p.id > ctl.id);
                self.latest_done = ctl.id;
                out.push(Command::Decline {
                    id: ctl.id,
                    reason: DeclineReason::Cancelled,
                });
                out.push(Command::Broadcast {
                    tag: CANCEL,
                    id: ctl.id,
                    priority: false,
                });
            }
            _ => {}
        }
    }

    fn on_end_of_input(&mut self, _view: &TaskView, input: usize, out: &mut Vec<Command>) {
        self.closed[input] = true;
        self.complete_ready(out);
    }

    fn on_abort(&mut self, _view: &TaskView, id: u64, _out: &mut Vec<Command>) {
        self.pending.retain(|p| p.id != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::testing::{barrier, control, summary, view};

    #[test]
    fn never_blocks_and_snapshots_when_all_barriers_are_in() {
        let mut p = AtLeastOnce::new(&view(2, 0));
        assert!(control(&mut p, 2, 1, 0, barrier(1)).is_empty());
        let out = control(&mut p, 2, 5, 1, barrier(1));
        assert_eq!(
            out,
            vec![
                Command::Snapshot {
                    id: 1,
                    overtake_outputs: false,
                    aligning_since: 1
                },
                Command::Broadcast {
                    tag: BARRIER,
                    id: 1,
                    priority: false
                },
                Command::Ack { id: 1 },
            ]
        );
    }

    #[test]
    fn several_pending_and_a_newer_completion_drops_the_older() {
        let mut p = AtLeastOnce::new(&view(2, 0));
        control(&mut p, 2, 1, 0, barrier(1));
        control(&mut p, 2, 2, 0, barrier(2));
        let out = control(&mut p, 2, 3, 1, barrier(2));
        assert_eq!(summary(&out), (vec![2], vec![2], vec![]));
        // Checkpoint 1 was dropped: its last barrier now does nothing.
        assert!(control(&mut p, 2, 4, 1, barrier(1)).is_empty());
    }

    #[test]
    fn a_single_input_completes_at_once() {
        let mut p = AtLeastOnce::new(&view(1, 0));
        assert_eq!(
            summary(&control(&mut p, 1, 1, 0, barrier(3))),
            (vec![3], vec![3], vec![])
        );
    }

    #[test]
    fn end_of_input_lowers_the_count() {
        let mut p = AtLeastOnce::new(&view(2, 0));
        control(&mut p, 2, 1, 0, barrier(1));
        let mut out = vec![];
        p.on_end_of_input(&view(2, 2), 1, &mut out);
        assert_eq!(summary(&out).1, vec![1]);
    }
}
