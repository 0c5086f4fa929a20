//! `chandy-lamport`: markers in FIFO order with the data, channel state recorded at the receiver.
//!
//! As in Chandy and Lamport (1985): on initiating, or on the first marker of snapshot `n` (on
//! channel `c`), a process records its state, records `c` as empty, and sends marker `n` on
//! every output before anything else; then it records what arrives on each other input until
//! that input's marker `n`. Processing never stops. The local part is done when a marker has
//! arrived on every input that is still open. Several snapshots may run at once, each with its
//! own id. Needs FIFO channels: on a reordering channel a message sent before the marker can
//! arrive after it and be missed.

use std::collections::BTreeMap;

use super::{Descriptor, Graphs, Promises};
use super::{snapshot_and_forward, Command, Control, TaskProtocol, TaskView, MARKER};

/// `chandy-lamport` in the registry.
pub(super) static DESCRIPTOR: Descriptor = Descriptor {
    name: "chandy-lamport",
    summary: "Chandy and Lamport's markers, with channel state recorded at the receiver",
    promises: Promises {
        consistent_cuts: true,
        exactly_once: true,
    },
    graphs: Graphs::Any,
    takes_snapshots: true,
    completion_subsumes_older: false,
    max_concurrent: None,
    refuses_concurrent: None,
    control_kinds: &[super::MARKER_KIND],
    params: &[],
    announces: super::registry::never,
    build: |view, _| Box::new(ChandyLamport::new(view)),
};

#[derive(Debug)]
struct Pending {
    /// Inputs whose marker has arrived (or that have ended).
    done: Vec<bool>,
    remaining: usize,
}

/// One process's Chandy-Lamport state.
#[derive(Debug)]
pub struct ChandyLamport {
    pending: BTreeMap<u64, Pending>,
    recorded: std::collections::BTreeSet<u64>,
    closed: Vec<bool>,
}

impl ChandyLamport {
    /// A process with `view.inputs` input channels.
    pub fn new(view: &TaskView) -> Self {
        ChandyLamport {
            pending: BTreeMap::new(),
            recorded: Default::default(),
            closed: vec![false; view.inputs],
        }
    }

    fn record(&mut self, view: &TaskView, id: u64, via: Option<usize>, out: &mut Vec<Command>) {
        self.recorded.insert(id);
        snapshot_and_forward(out, MARKER, id, view.now, false);
        let mut done = self.closed.clone();
        if let Some(c) = via {
            done[c] = true;
        }
        for (i, &d) in done.iter().enumerate() {
            if !d {
                out.push(Command::Record { input: i, id });
            }
        }
        let remaining = done.iter().filter(|d| !**d).count();
        if remaining == 0 {
            out.push(Command::Ack { id });
        } else {
            self.pending.insert(id, Pending { done, remaining });
        }
    }

    fn mark(&mut self, id: u64, input: usize, out: &mut Vec<Command>) {
        if let Some(p) = self.pending.get_mut(&id) {
            if !p.done[input] {
                p.done[input] = true;
                p.remaining -= 1;
            }
            if p.remaining == 0 {
                self.pending.remove(&id);
                out.push(Command::Ack { id });
            }
        }
    }
}

impl TaskProtocol for ChandyLamport {
    fn on_trigger(&mut self, view: &TaskView, id: u64, out: &mut Vec<Command>) {
        if !self.recorded.contains(&id) {
            self.record(view, id, None, out);
        }
    }

    fn on_control(&mut self, view: &TaskView, input: usize, ctl: Control, out: &mut Vec<Command>) {
        if ctl.tag != MARKER {
            return;
        }
        if self.recorded.contains(&ctl.id) {
            self.mark(ctl.id, input, out);
        } else {
            self.record(view, ctl.id, Some(input), out);
        }
    }

    fn on_end_of_input(&mut self, _view: &TaskView, input: usize, out: &mut Vec<Command>) {
        self.closed[input] = true;
        let ids: Vec<u64> = self.pending.keys().copied().collect();
        for id in ids {
            self.mark(id, input, out);
        }
    }

    fn on_abort(&mut self, _view: &TaskView, id: u64, _out: &mut Vec<Command>) {
        self.pending.remove(&id);
        // Later markers of an aborted snapshot must not make this process record it.
        self.recorded.insert(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::testing::{summary, view};

    fn marker(id: u64) -> Control {
        Control {
            tag: MARKER,
            id,
            trigger_time: 0,
            priority: false,
        }
    }

    #[test]
    fn first_marker_records_state_and_the_other_inputs() {
        let mut p = ChandyLamport::new(&view(3, 0));
        let mut out = vec![];
        p.on_control(&view(3, 5), 1, marker(1), &mut out);
        assert_eq!(
            out,
            vec![
                Command::Snapshot {
                    id: 1,
                    overtake_outputs: false,
                    aligning_since: 5
                },
                Command::Broadcast {
                    tag: MARKER,
                    id: 1,
                    priority: false
                },
                Command::Record { input: 0, id: 1 },
                Command::Record { input: 2, id: 1 },
            ]
        );
        out.clear();
        p.on_control(&view(3, 6), 0, marker(1), &mut out);
        assert!(out.is_empty());
        p.on_control(&view(3, 7), 2, marker(1), &mut out);
        assert_eq!(out, vec![Command::Ack { id: 1 }]);
    }

    #[test]
    fn an_initiator_records_every_input() {
        let mut p = ChandyLamport::new(&view(2, 0));
        let mut out = vec![];
        p.on_trigger(&view(2, 0), 4, &mut out);
        assert_eq!(summary(&out).0, vec![4]);
        assert_eq!(
            out.iter()
                .filter(|c| matches!(c, Command::Record { .. }))
                .count(),
            2
        );
        // A second initiation of the same snapshot does nothing.
        out.clear();
        p.on_trigger(&view(2, 1), 4, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn concurrent_snapshots_are_independent() {
        let mut p = ChandyLamport::new(&view(2, 0));
        let mut out = vec![];
        p.on_control(&view(2, 1), 0, marker(1), &mut out);
        p.on_control(&view(2, 2), 1, marker(2), &mut out);
        p.on_control(&view(2, 3), 1, marker(1), &mut out);
        p.on_control(&view(2, 4), 0, marker(2), &mut out);
        let (snaps, acks, _) = summary(&out);
        assert_eq!(snaps, vec![1, 2]);
        assert_eq!(acks, vec![1, 2]);
    }

    #[test]
    fn end_of_input_counts_as_a_marker() {
        let mut p = ChandyLamport::new(&view(2, 0));
        let mut out = vec![];
        p.on_control(&view(2, 1), 0, marker(1), &mut out);
        out.clear();
        p.on_end_of_input(&view(2, 2), 1, &mut out);
        assert_eq!(out, vec![Command::Ack { id: 1 }]);
        // Later snapshots do not wait for, or record, the closed input.
        out.clear();
        p.on_control(&view(2, 3), 0, marker(2), &mut out);
        let (_, acks, _) = summary(&out);
        assert_eq!(acks, vec![2]);
    }

    #[test]
    fn a_source_acknowledges_at_once() {
        let mut p = ChandyLamport::new(&view(0, 0));
        let mut out = vec![];
        p.on_trigger(&view(0, 0), 1, &mut out);
        assert_eq!(summary(&out), (vec![1], vec![1], vec![]));
    }
}
