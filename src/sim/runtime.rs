//! What the simulation keeps per task and per channel beside the topology: work in progress,
//! queues of actions, readiness, blocking and back-pressure.

use std::collections::VecDeque;

use crate::engine::rng::RngStream;
use crate::engine::Time;
use crate::network::ChannelId;
use crate::snapshot::LocalSnapshot;
use crate::workload::Behaviour;

/// Something a task does on its own rather than in response to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// Start snapshot `id` here.
    Initiate(u64),
    /// Run scripted step `i` (send and/or change state).
    Script(u32),
    /// Start a bank transfer.
    Transfer,
    /// Deliver a protocol timer (at a work boundary, never in the middle of a record).
    Timer(u64),
}

/// A task's queue of actions. A bank's initial transfers are a count rather than queued
/// entries: a million of them at time zero would otherwise take 16 bytes each at the peak.
/// The count sits where the entries would: after anything pushed to the front since, before
/// anything pushed to the back.
#[derive(Debug, Default)]
pub(super) struct ActionQueue {
    queue: VecDeque<Action>,
    /// Entries at the front of `queue` that come before the initial transfers.
    ahead: usize,
    /// Initial transfers still to run.
    transfers: u64,
}

impl ActionQueue {
    /// Queues `n` initial transfers, as a count (see the type's doc).
    pub(super) fn push_initial_transfers(&mut self, n: u64) {
        debug_assert!(self.queue.is_empty() && self.transfers == 0);
        self.transfers += n;
    }

    #[inline]
    pub(super) fn push_back(&mut self, a: Action) {
        self.queue.push_back(a);
    }

    /// Puts an action ahead of everything queued, initial transfers included.
    pub(super) fn push_front(&mut self, a: Action) {
        self.queue.push_front(a);
        if self.transfers > 0 {
            self.ahead += 1;
        }
    }

    #[inline]
    pub(super) fn front(&self) -> Option<Action> {
        if self.ahead == 0 && self.transfers > 0 {
            Some(Action::Transfer)
        } else {
            self.queue.front().copied()
        }
    }

    #[inline]
    pub(super) fn pop_front(&mut self) -> Option<Action> {
        if self.ahead > 0 {
            self.ahead -= 1;
            self.queue.pop_front()
        } else if self.transfers > 0 {
            self.transfers -= 1;
            Some(Action::Transfer)
        } else {
            self.queue.pop_front()
        }
    }

    /// Drops every queued action (a crash).
    pub(super) fn clear(&mut self) {
        *self = ActionQueue::default();
    }
}

/// What a task is busy with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Work {
    Idle,
    /// Processing the message in this pooled record, taken from this channel.
    Input(ChannelId, u32),
    SourceRecord(u64),
    Action(Action),
}

/// Per-channel state of the simulation that is not the channel's own.
#[derive(Debug, Clone, Default)]
pub(super) struct ChanRt {
    /// The channel is in its receiver's ready queue.
    pub(super) in_ready: bool,
    /// The receiver's protocol has blocked this input.
    pub(super) blocked: bool,
    /// The sender's output queue is full (as last counted).
    pub(super) full: bool,
    /// Index of this channel among its receiver's inputs.
    pub(super) input_index: u32,
    /// Snapshots recording what arrives on this channel.
    pub(super) recording: Vec<u64>,
    /// (snapshot id, data messages overtaken) of the last priority control message taken.
    pub(super) last_priority: Option<(u64, u64)>,
    /// The receiver has taken this channel's end of input.
    pub(super) eof_taken: bool,
}

/// A task's runtime state: its work, readiness, back-pressure, workload and snapshots.
pub(super) struct TaskRt {
    pub(super) busy: bool,
    pub(super) work: Work,
    /// Inputs with queued messages, in the order they became ready (round-robin).
    pub(super) ready: VecDeque<ChannelId>,
    /// Output channels whose queue is full; the task may not start work while above zero.
    pub(super) full_outputs: u32,
    pub(super) out_blocked: bool,
    pub(super) blocked_since: Time,
    pub(super) backpressure_ns: Time,
    pub(super) open_inputs: u32,
    pub(super) ended: bool,
    pub(super) wake_at: Option<Time>,
    pub(super) cost: Time,
    pub(super) net_rng: RngStream,
    pub(super) work_rng: RngStream,
    pub(super) behaviour: Behaviour,
    pub(super) actions: ActionQueue,
    pub(super) records_in: u64,
    pub(super) records_out: u64,
    pub(super) in_start_queue: bool,
    /// Local snapshots taken and not yet acknowledged.
    pub(super) local: Vec<LocalSnapshot>,
    /// A halted source (stop-the-world).
    pub(super) paused: bool,
    /// Synchronous snapshot time still to spend before the next piece of work.
    pub(super) sync_pending: Time,
    /// For a source: one past the highest offset it ever read. Records below it are replayed
    /// after a recovery whatever the time; records at or above it are new and are read only
    /// before the source's stop time. Not part of the snapshot: recovery keeps it.
    pub(super) log_end: u64,
}
