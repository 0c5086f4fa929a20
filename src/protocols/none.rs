//! `none`: takes no snapshots. Triggers and stray control messages are ignored.

use super::{Descriptor, Graphs, Promises};
use super::{Command, Control, TaskProtocol, TaskView};

/// `none` in the registry.
pub(super) static DESCRIPTOR: Descriptor = Descriptor {
    name: "none",
    summary: "No snapshots: the baseline that overheads are measured against",
    promises: Promises {
        consistent_cuts: true,
        exactly_once: false,
    },
    graphs: Graphs::Any,
    takes_snapshots: false,
    completion_subsumes_older: true,
    max_concurrent: None,
    refuses_concurrent: None,
    control_kinds: &[],
    params: &[],
    announces: super::registry::never,
    build: |_, _| Box::new(NoSnapshots),
};

/// The protocol that does nothing.
#[derive(Debug, Default)]
pub struct NoSnapshots;

impl TaskProtocol for NoSnapshots {
    fn on_trigger(&mut self, _: &TaskView, _: u64, _: &mut Vec<Command>) {}
    fn on_control(&mut self, _: &TaskView, _: usize, _: Control, _: &mut Vec<Command>) {}
}
