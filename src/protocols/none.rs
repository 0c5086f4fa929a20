//! `none`: takes no snapshots. Triggers and stray control messages are ignored.

use super::{Command, Control, TaskProtocol, TaskView};

/// The protocol that does nothing.
#[derive(Debug, Default)]
pub struct NoSnapshots;

impl TaskProtocol for NoSnapshots {
    fn on_trigger(&mut self, _: &TaskView, _: u64, _: &mut Vec<Command>) {}
    fn on_control(&mut self, _: &TaskView, _: usize, _: Control, _: &mut Vec<Command>) {}
}
