//! Snapshot protocols as sans-IO state machines, one instance per task.
//!
//! The simulation hands a protocol what happened at its task (a trigger, a control message on
//! input `i`, the end of an input, a timer, the coordinator's verdict on a checkpoint) and the
//! protocol answers with [`Command`]s: record the local state, send a control message, block
//! or unblock an input, record an input's channel state, acknowledge or decline. A protocol
//! never sees the event queue, the channels or the operator state, and the simulation never
//! interprets a control message's tag. Adding a protocol means adding a file here that declares
//! a [`Descriptor`] (its name, promises, graphs, concurrency limit, control-message kinds,
//! parameters and constructor) and its line in the `protocols!` list below. Nothing outside
//! this folder names a particular protocol: the rest of snapsim asks the descriptor.
//!
//! Channel state is recorded by the simulation on the protocol's behalf: after
//! [`Command::Record`] for input `i` and snapshot `n`, the simulation records every data
//! message that was queued on `i` or arrives on it until the control message of snapshot `n`
//! arrives there. A priority control message records exactly the data it overtook.
//!
//! Announcements (Flink's `EventAnnouncement`): a protocol whose descriptor asks for them is
//! told at once, through [`TaskProtocol::on_announcement`], of every FIFO control message that
//! reaches one of its input queues, before the task takes it. It may answer with
//! [`Command::Prioritise`], which moves that message to the head of its input queue and records
//! the data it jumps as the input's channel state. Channels that do not support unaligned
//! checkpoints ([`TaskView::aligned_inputs`], Flink's pointwise and broadcast edges) are never
//! announced, never overtaken and never recorded.

pub mod mutants;
mod mutated;
mod registry;

pub use mutants::Mutant;
pub use mutated::{Breakage, Mutated};

/// Declares the protocols: one line each, naming the protocol's file, whose `DESCRIPTOR`
/// says everything the rest of snapsim needs to know about it. The order is the contract's
/// (the order of `--help`, comparisons and charts).
macro_rules! protocols {
    ($($file:ident),* $(,)?) => {
        $(mod $file;)*
        /// Every protocol's description, in the contract's order.
        pub(crate) static REGISTRY: &[&Descriptor] = &[$(&$file::DESCRIPTOR),*];
    };
}

protocols! {
    chandy_lamport,
    aligned,
    unaligned,
    aligned_timeout,
    at_least_once,
    stop_the_world,
    none,
}

use crate::engine::Time;
use crate::network::TaskId;

/// Control-message tag of a Chandy-Lamport marker.
pub const MARKER: u8 = 1;
/// Control-message tag of a checkpoint barrier.
pub const BARRIER: u8 = 2;
/// Control-message tag of a cancellation marker (Flink's `CancelCheckpointMarker`).
pub const CANCEL: u8 = 3;

/// A kind of control message: its tag on the wire and its name in traces, diagrams and
/// exports. Tags mean the same in every protocol that uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlKind {
    /// The tag carried by the message.
    pub tag: u8,
    /// The name shown to people: `marker`, `barrier`, `cancel`.
    pub name: &'static str,
}

/// Why unaligned checkpoints refuse `max_concurrent` above 1: Flink's unaligned checkpoints
/// require `execution.checkpointing.max-concurrent-checkpoints` of 1.
pub(crate) const UNALIGNED_NEEDS_ONE: &str =
    "Flink's unaligned checkpoints require max-concurrent-checkpoints = 1";

/// A Chandy-Lamport marker.
pub const MARKER_KIND: ControlKind = ControlKind {
    tag: MARKER,
    name: "marker",
};
/// A checkpoint barrier.
pub const BARRIER_KIND: ControlKind = ControlKind {
    tag: BARRIER,
    name: "barrier",
};
/// A cancellation marker.
pub const CANCEL_KIND: ControlKind = ControlKind {
    tag: CANCEL,
    name: "cancel",
};

/// Every kind of control message some protocol sends, in tag order.
pub fn control_kinds() -> Vec<ControlKind> {
    let mut kinds: Vec<ControlKind> = REGISTRY
        .iter()
        .flat_map(|d| d.control_kinds.iter().copied())
        .collect();
    kinds.sort_by_key(|k| k.tag);
    kinds.dedup();
    kinds
}

/// The kind of control message with `tag`, if any protocol sends it.
pub fn control_kind(tag: u8) -> Option<ControlKind> {
    REGISTRY
        .iter()
        .flat_map(|d| d.control_kinds.iter())
        .find(|k| k.tag == tag)
        .copied()
}

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
    /// The task's inputs do not support unaligned checkpoints (Flink's FLINK-21945: one
    /// pointwise or broadcast input edge marks all of a node's inputs): barriers reach it
    /// aligned, and it must align them, whatever the protocol would otherwise do. The
    /// simulation also keeps priority barriers and output recording off such channels.
    pub aligned_inputs: bool,
}

/// A control message as the protocol sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Control {
    /// Protocol-defined tag.
    pub tag: u8,
    /// Snapshot or checkpoint id.
    pub id: u64,
    /// When the checkpoint was triggered (Flink's barrier timestamp).
    pub trigger_time: Time,
    /// It overtook queued data (unaligned).
    pub priority: bool,
}

/// An instruction from a protocol to the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Record the task's local state as part of snapshot `id`, now. With `overtake_outputs`,
    /// also record the data waiting in every output queue as output channel state: a priority
    /// barrier sent right after will jump over it. `aligning_since` is when the protocol saw the
    /// first barrier of `id` (now for an initiator), for the alignment and start-delay metrics.
    Snapshot {
        /// Snapshot id.
        id: u64,
        /// Record the output queues (unaligned).
        overtake_outputs: bool,
        /// When the first barrier of `id` reached this task.
        aligning_since: Time,
    },
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
    /// Record input `input`'s channel state for snapshot `id` (see the module docs).
    Record {
        /// Input index.
        input: usize,
        /// Snapshot id.
        id: u64,
    },
    /// Stop taking messages from input `input`.
    Block(usize),
    /// Take messages from every input again.
    UnblockAll,
    /// This task's part of snapshot `id` is complete: upload it and acknowledge.
    Ack {
        /// Snapshot id.
        id: u64,
    },
    /// This task gives up snapshot `id` (Flink's decline); the coordinator aborts it.
    Decline {
        /// Snapshot id.
        id: u64,
        /// Why, for the checkpoint's `abort_reason`.
        reason: DeclineReason,
    },
    /// Call [`TaskProtocol::on_timer`] with `token` at time `at`.
    SetTimer {
        /// When.
        at: Time,
        /// Passed back.
        token: u64,
    },
    /// A source stops reading until the coordinator resumes it (stop-the-world).
    PauseSource,
    /// Move the announced control message of snapshot `id` on input `input` to the head of
    /// that input queue (behind other priority messages), as a priority message; the data it
    /// jumps becomes the input's channel state of snapshot `id` (once: an input already being
    /// recorded keeps what it recorded). If the message is no longer queued, acts as
    /// [`Command::Record`]. Flink's `convertToPriorityEvent` on an alignment timeout.
    Prioritise {
        /// Input index.
        input: usize,
        /// Snapshot id.
        id: u64,
    },
    /// The output-side alignment timeout of snapshot `id` (Flink >= 1.16, FLINK-27251): on
    /// every output channel whose queue still holds this task's FIFO control message of `id`,
    /// the data ahead of it is copied into the task's snapshot `id` as output channel state
    /// and the message becomes a priority message at the head of the queue. The copied data is
    /// still delivered, after it. Channels it has left are untouched.
    TimeoutOutputs {
        /// Snapshot id.
        id: u64,
    },
}

/// Why a task gave up a snapshot (Flink's `CheckpointFailureReason` for declines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclineReason {
    /// A newer snapshot's control message arrived first (Flink's
    /// `CHECKPOINT_DECLINED_SUBSUMED`).
    Superseded,
    /// A cancellation marker for it arrived (Flink's
    /// `CHECKPOINT_DECLINED_ON_CANCELLATION_BARRIER`).
    Cancelled,
}

/// Records the local state for snapshot `id` and sends its control message `tag` on every
/// output: the step every protocol takes when its local snapshot is due. `overtake` makes it
/// unaligned: the output queues are recorded and the message jumps over them.
pub(crate) fn snapshot_and_forward(
    out: &mut Vec<Command>,
    tag: u8,
    id: u64,
    aligning_since: Time,
    overtake: bool,
) {
    out.push(Command::Snapshot {
        id,
        overtake_outputs: overtake,
        aligning_since,
    });
    out.push(Command::Broadcast {
        tag,
        id,
        priority: overtake,
    });
}

/// One task's protocol state machine.
pub trait TaskProtocol {
    /// Snapshot `id` is requested at this task (by the coordinator or a script).
    fn on_trigger(&mut self, view: &TaskView, id: u64, out: &mut Vec<Command>);
    /// A control message was taken from input `input`.
    fn on_control(&mut self, view: &TaskView, input: usize, ctl: Control, out: &mut Vec<Command>);
    /// Input `input` has ended.
    fn on_end_of_input(&mut self, _view: &TaskView, _input: usize, _out: &mut Vec<Command>) {}
    /// A FIFO control message reached input `input`'s queue and waits there (sent only to
    /// protocols whose descriptor asks for announcements). It is not taken: it arrives through
    /// [`TaskProtocol::on_control`] later, unless [`Command::Prioritise`] moves it first. The
    /// task may be busy: a protocol answers only with timers and `Prioritise`.
    fn on_announcement(
        &mut self,
        _view: &TaskView,
        _input: usize,
        _ctl: Control,
        _out: &mut Vec<Command>,
    ) {
    }
    /// A timer set with [`Command::SetTimer`] fired.
    fn on_timer(&mut self, _view: &TaskView, _token: u64, _out: &mut Vec<Command>) {}
    /// The coordinator aborted checkpoint `id` (declined, expired or subsumed); the simulation
    /// has already dropped what this task recorded for it.
    fn on_abort(&mut self, _view: &TaskView, _id: u64, _out: &mut Vec<Command>) {}
    /// The coordinator completed checkpoint `id`.
    fn on_complete(&mut self, _view: &TaskView, _id: u64, _out: &mut Vec<Command>) {}
}

pub use registry::{Descriptor, Graphs, Param, Params, Promises, ProtocolKind};

/// Helpers for the protocols' unit tests: feed events, collect commands.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub fn view(inputs: usize, now: Time) -> TaskView {
        TaskView {
            task: 0,
            now,
            inputs,
            is_source: inputs == 0,
            aligned_inputs: false,
        }
    }

    pub fn barrier(id: u64) -> Control {
        Control {
            tag: BARRIER,
            id,
            trigger_time: 0,
            priority: false,
        }
    }

    pub fn cancel(id: u64) -> Control {
        Control {
            tag: CANCEL,
            ..barrier(id)
        }
    }

    /// Feeds one control message and returns the commands.
    pub fn control(
        p: &mut dyn TaskProtocol,
        inputs: usize,
        now: Time,
        input: usize,
        c: Control,
    ) -> Vec<Command> {
        let mut out = Vec::new();
        p.on_control(&view(inputs, now), input, c, &mut out);
        out
    }

    /// The snapshot ids a command list records, acknowledges and declines.
    pub fn summary(cmds: &[Command]) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
        let mut s = (vec![], vec![], vec![]);
        for c in cmds {
            match *c {
                Command::Snapshot { id, .. } => s.0.push(id),
                Command::Ack { id } => s.1.push(id),
                Command::Decline { id, .. } => s.2.push(id),
                _ => {}
            }
        }
        s
    }
}
