//! `stop-the-world`: the synchronous baseline that asynchronous barrier snapshots improve on.
//!
//! The coordinator's trigger halts every source, which records its offset and sends a barrier.
//! Because no source produces anything after its barrier, every channel is empty behind its
//! barrier: a task that has the barrier on all inputs has drained them, records its state and
//! passes the barrier on. Nothing is blocked and no channel state is recorded. The sources stay
//! halted until the coordinator completes (or gives up) the checkpoint, so the job stops for the
//! whole drain, snapshot and upload. One checkpoint runs at a time (the simulation sets
//! `max_concurrent` to 1 for this protocol): two overlapping halts make no sense.

use super::{Descriptor, Graphs, Promises};
use super::{snapshot_and_forward, Command, Control, TaskProtocol, TaskView, BARRIER};
use crate::engine::Time;

/// `stop-the-world` in the registry.
pub(super) static DESCRIPTOR: Descriptor = Descriptor {
    name: "stop-the-world",
    summary: "Halt the sources, drain, record, resume",
    promises: Promises {
        consistent_cuts: true,
        exactly_once: true,
    },
    graphs: Graphs::Dataflow,
    takes_snapshots: true,
    completion_subsumes_older: true,
    max_concurrent: Some(1),
    refuses_concurrent: None,
    control_kinds: &[super::BARRIER_KIND],
    params: &[],
    announces: super::registry::never,
    build: |view, _| Box::new(StopTheWorld::new(view)),
};

/// One task's stop-the-world state.
#[derive(Debug, Clone)]
pub struct StopTheWorld {
    closed: Vec<bool>,
    /// The checkpoint being collected here (0 when none).
    current: u64,
    /// The newest checkpoint finished or aborted here; older barriers are stale.
    done_upto: u64,
    seen: Vec<bool>,
    since: Time,
}

impl StopTheWorld {
    /// A task with `view.inputs` inputs.
    pub fn new(view: &TaskView) -> Self {
        StopTheWorld {
            closed: vec![false; view.inputs],
            current: 0,
            done_upto: 0,
            seen: vec![false; view.inputs],
            since: 0,
        }
    }

    fn try_complete(&mut self, out: &mut Vec<Command>) {
        if self.current == 0 || !self.seen.iter().zip(&self.closed).all(|(s, c)| *s || *c) {
            return;
        }
        let id = self.current;
        snapshot_and_forward(out, BARRIER, id, self.since, false);
        out.push(Command::Ack { id });
        self.done_upto = id;
        // Done with this id: later events for it are ignored.
        self.seen.iter_mut().for_each(|s| *s = false);
        self.current = 0;
    }
}

impl TaskProtocol for StopTheWorld {
    fn on_trigger(&mut self, view: &TaskView, id: u64, out: &mut Vec<Command>) {
        out.push(Command::PauseSource);
        self.current = id;
        self.since = view.now;
        self.try_complete(out);
    }

    fn on_control(&mut self, view: &TaskView, input: usize, ctl: Control, out: &mut Vec<Command>) {
        if ctl.tag != BARRIER || ctl.id <= self.done_upto || ctl.id < self.current {
            return;
        }
        if self.current != ctl.id {
            self.current = ctl.id;
            self.since = view.now;
            self.seen.iter_mut().for_each(|s| *s = false);
        }
        self.seen[input] = true;
        self.try_complete(out);
    }

    fn on_end_of_input(&mut self, _view: &TaskView, input: usize, out: &mut Vec<Command>) {
        self.closed[input] = true;
        self.try_complete(out);
    }

    fn on_abort(&mut self, _view: &TaskView, id: u64, _out: &mut Vec<Command>) {
        self.done_upto = self.done_upto.max(id);
        if self.current == id {
            self.current = 0;
            self.seen.iter_mut().for_each(|s| *s = false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::testing::{barrier, control, summary, view};

    #[test]
    fn a_source_halts_records_and_passes_the_barrier_on() {
        let mut p = StopTheWorld::new(&view(0, 0));
        let mut out = vec![];
        p.on_trigger(&view(0, 3), 1, &mut out);
        assert_eq!(out[0], Command::PauseSource);
        assert_eq!(summary(&out), (vec![1], vec![1], vec![]));
    }

    #[test]
    fn a_task_records_when_every_input_has_drained() {
        let mut p = StopTheWorld::new(&view(2, 0));
        let out = control(&mut p, 2, 1, 0, barrier(1));
        assert!(
            out.is_empty(),
            "no blocking: nothing arrives behind the barrier"
        );
        let out = control(&mut p, 2, 4, 1, barrier(1));
        assert_eq!(
            out[0],
            Command::Snapshot {
                id: 1,
                overtake_outputs: false,
                aligning_since: 1
            }
        );
        assert_eq!(summary(&out).1, vec![1]);
    }
}
