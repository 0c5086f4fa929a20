//! What a snapshot holds: each task's recorded state and channel state, with real content.

use crate::engine::Time;
use crate::network::{ChannelId, Message, TaskId};
use crate::workload::Behaviour;

/// One task's part of a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalSnapshot {
    /// The task.
    pub task: TaskId,
    /// Snapshot (checkpoint) id.
    pub id: u64,
    /// When the state was recorded.
    pub taken_at: Time,
    /// The recorded state itself (a source's offset, keyed counts, a balance, ...).
    pub state: Behaviour,
    /// Size of the recorded state.
    pub state_bytes: u64,
    /// Input channel state: data recorded at this (receiving) task, per input channel.
    pub input_state: Vec<(ChannelId, Vec<Message>)>,
    /// Output channel state: data a priority barrier overtook in this task's output queues.
    pub output_state: Vec<(ChannelId, Vec<Message>)>,
    /// When the first barrier of this snapshot reached the task (the trigger, for initiators).
    pub aligning_since: Time,
    /// Data bytes waiting in blocked input queues when the state was recorded.
    pub held_back_bytes: u64,
    /// When the task acknowledged (its channel recordings were complete).
    pub acked_at: Time,
    /// Messages sent on each output channel when the state was recorded (the sequence number
    /// the channel restarts from after a restore).
    pub sent: Vec<(ChannelId, u64)>,
    /// Per input: its end of input had been taken.
    pub closed_inputs: Vec<bool>,
    /// The task had finished (sent its end of input) when it recorded.
    pub ended: bool,
}

impl LocalSnapshot {
    /// Bytes of recorded channel state, input and output.
    pub fn channel_state_bytes(&self) -> u64 {
        self.input_state
            .iter()
            .chain(&self.output_state)
            .flat_map(|(_, msgs)| msgs)
            .map(|m| u64::from(m.bytes))
            .sum()
    }

    /// Bytes of output data overtaken by priority barriers.
    pub fn overtaken_bytes(&self) -> u64 {
        self.output_state
            .iter()
            .flat_map(|(_, msgs)| msgs)
            .map(|m| u64::from(m.bytes))
            .sum()
    }
}

/// A completed snapshot: every task's part.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalSnapshot {
    /// Snapshot id.
    pub id: u64,
    /// When it was triggered.
    pub trigger_ns: Time,
    /// When it completed.
    pub end_ns: Time,
    /// Every task's part, indexed by task id.
    pub tasks: Vec<LocalSnapshot>,
}
