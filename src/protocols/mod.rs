//! Snapshot protocols as sans-IO state machines, one instance per task.
//!
//! The simulation hands a protocol what happened at its task (a trigger, a control message on
//! input `i`, the end of an input, a timer) and the protocol answers with [`Command`]s: send a
//! control message, block or unblock an input, record the local state, record an input's
//! channel state, acknowledge. The protocol never sees the clock's queue, the channels or the
//! operator state; the simulation never interprets a control message's tag. Adding a protocol
//! means adding a file here and a line in [`ProtocolKind`]; the engine does not change.

mod none;

use std::fmt;
use std::str::FromStr;

use crate::engine::Time;
use crate::network::TaskId;

/// What a protocol may look at when it handles an event at its task.
#[derive(Debug, Clone, Copy)]
pub struct TaskView {
    /// The task.
    pub task: TaskId,
    /// Current simulated time.
    pub now: Time,
    /// Number of input channels.
    pub inputs: usize,
    /// True for sources (tasks without inputs in a dataflow job).
    pub is_source: bool,
}

/// An instruction from a protocol to the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Send a control message with `tag` and `id` on every output channel. With `priority` it
    /// overtakes the data queued at both ends (unaligned barriers).
    Broadcast {
        /// Protocol-defined tag.
        tag: u8,
        /// Snapshot id.
        id: u64,
        /// Overtake queued data.
        priority: bool,
    },
    /// Stop taking messages from input `input`.
    Block(usize),
    /// Take messages from input `input` again.
    Unblock(usize),
}

/// One task's protocol state machine.
pub trait TaskProtocol {
    /// Snapshot `id` is requested at this task (by the coordinator or a script).
    fn on_trigger(&mut self, view: &TaskView, id: u64, out: &mut Vec<Command>);
    /// A control message with `tag` and `id` was taken from input `input`.
    fn on_control(
        &mut self,
        view: &TaskView,
        input: usize,
        tag: u8,
        id: u64,
        out: &mut Vec<Command>,
    );
    /// Input `input` has ended.
    fn on_end_of_input(&mut self, _view: &TaskView, _input: usize, _out: &mut Vec<Command>) {}
}

/// The protocols snapsim knows, by their command-line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolKind {
    /// No snapshots: the baseline that overheads are measured against.
    None,
}

impl ProtocolKind {
    /// Every protocol, in the order of the contract.
    pub const ALL: &'static [ProtocolKind] = &[ProtocolKind::None];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            ProtocolKind::None => "none",
        }
    }

    /// A fresh state machine for one task.
    pub fn instantiate(self) -> Box<dyn TaskProtocol> {
        match self {
            ProtocolKind::None => Box::new(none::NoSnapshots),
        }
    }
}

impl fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ProtocolKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ProtocolKind::ALL
            .iter()
            .copied()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = ProtocolKind::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown protocol `{s}`; expected one of: {}",
                    names.join(", ")
                )
            })
    }
}
