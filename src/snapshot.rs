//! What a snapshot holds: each task's recorded state and channel state, with real content.

use std::collections::{BTreeMap, VecDeque};

use crate::engine::Time;
use crate::network::{ChannelId, Message, TaskId};
use crate::workload::backend::{digest, FileRef};
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
    /// What the state backend made of it (all zero without one).
    pub backend: BackendSnapshot,
}

/// What the state backend made of one local snapshot; the default without a backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendSnapshot {
    /// The synchronous phase: after recording, the task does nothing else this long.
    pub sync_ns: Time,
    /// The task went unaligned: its barrier overtook the data in its output queues.
    pub unaligned: bool,
    /// The files the state is stored in, oldest first; `None`: the state is uploaded whole.
    pub files: Option<Vec<FileRef>>,
    /// With files: a digest of the state the task held when it recorded, which the state
    /// the files rebuild (the snapshot's `state`) must match.
    pub recorded_digest: Option<u64>,
    /// Changelog bytes a restore replays after downloading.
    pub replay_bytes: u64,
    /// Time a restore takes to replay them.
    pub replay_ns: Time,
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

    /// The extra time a restore of this task spends after downloading its state: replaying
    /// the changelog since the last materialisation (0 without the changelog backend).
    pub fn restore_replay_ns(&self) -> Time {
        self.backend.replay_ns
    }

    /// False when the snapshot's files rebuild a state other than the one the task held when
    /// it recorded (an incremental checkpoint that left a change out).
    pub fn files_rebuild_state(&self) -> bool {
        let Some(want) = self.backend.recorded_digest else {
            return true;
        };
        match &self.state {
            Behaviour::Keyed { state, .. } | Behaviour::Join { state, .. } => {
                digest(&state.entries) == want
            }
            _ => true,
        }
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

/// The shared-file registry (Flink's `SharedStateRegistry`): for each file of incremental
/// checkpoints, how many retained completed checkpoints reference it.
///
/// A completed checkpoint registers its files (+1 each); once more than `num_retained`
/// completed checkpoints are kept, the oldest is dropped and its files lose a reference; a
/// file at zero is deleted from storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedRegistry {
    num_retained: usize,
    retained: VecDeque<(u64, Vec<FileRef>)>,
    counts: BTreeMap<u64, (u32, u64)>,
    stored_bytes: u64,
    deleted: Vec<u64>,
}

impl SharedRegistry {
    /// A registry that retains `num_retained` completed checkpoints (at least one).
    pub fn new(num_retained: u32) -> Self {
        SharedRegistry {
            num_retained: num_retained.max(1) as usize,
            ..Default::default()
        }
    }

    /// Checkpoint `id` completed referencing `files` (a file listed twice counts once).
    pub fn complete(&mut self, id: u64, files: &[FileRef]) {
        let mut mine: Vec<FileRef> = files.to_vec();
        mine.sort_by_key(|f| f.id);
        mine.dedup_by_key(|f| f.id);
        for f in &mine {
            let c = self.counts.entry(f.id).or_insert((0, f.bytes));
            if c.0 == 0 {
                self.stored_bytes += f.bytes;
            }
            c.0 += 1;
        }
        self.retained.push_back((id, mine));
        while self.retained.len() > self.num_retained {
            let (_, old) = self.retained.pop_front().expect("non-empty");
            for f in old {
                let c = self.counts.get_mut(&f.id).expect("registered");
                c.0 -= 1;
                if c.0 == 0 {
                    self.stored_bytes -= c.1;
                    self.counts.remove(&f.id);
                    self.deleted.push(f.id);
                }
            }
        }
    }

    /// References to file `id` (0: not in storage).
    pub fn count(&self, id: u64) -> u32 {
        self.counts.get(&id).map_or(0, |c| c.0)
    }

    /// Every file with references, by id, and its count.
    pub fn counts(&self) -> Vec<(u64, u32)> {
        self.counts.iter().map(|(&id, c)| (id, c.0)).collect()
    }

    /// Files deleted so far, in the order they were.
    pub fn deleted(&self) -> &[u64] {
        &self.deleted
    }

    /// Bytes of the files in storage.
    pub fn stored_bytes(&self) -> u64 {
        self.stored_bytes
    }

    /// The ids of the retained checkpoints, oldest first.
    pub fn retained(&self) -> Vec<u64> {
        self.retained.iter().map(|r| r.0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(ids: &[u64]) -> Vec<FileRef> {
        ids.iter().map(|&id| FileRef { id, bytes: 1 }).collect()
    }

    /// The flink-web incremental-checkpointing example (retain 2, two compactions): files
    /// 1, 2, 3 end deleted; 123 is referenced twice, 456, 4 and 5 once.
    #[test]
    fn the_flink_web_reference_counting_example() {
        let mut r = SharedRegistry::new(2);
        r.complete(1, &files(&[1, 2]));
        r.complete(2, &files(&[1, 2, 3, 4]));
        assert_eq!((r.count(1), r.count(3)), (2, 1));
        // Compaction merged 1, 2, 3 into 123; 5 is new.
        r.complete(3, &files(&[4, 5, 123]));
        assert_eq!(r.retained(), vec![2, 3], "CP1 dropped");
        assert_eq!(r.count(1), 1, "still referenced by CP2");
        // Compaction merged 4, 5, 6 into 456.
        r.complete(4, &files(&[123, 456]));
        assert_eq!(r.retained(), vec![3, 4]);
        assert_eq!(r.deleted(), &[1, 2, 3]);
        assert_eq!(r.counts(), vec![(4, 1), (5, 1), (123, 2), (456, 1)]);
        assert_eq!(r.stored_bytes(), 4);
    }
}
