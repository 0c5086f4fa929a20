//! The run's trace: the one record of what happened, read by the checker, charts and exports.
//!
//! Every trace event is folded into a running 128-bit hash as it happens, so two runs can be
//! compared by their `trace_hash` without keeping the events. Keeping them ([`TraceMode::Full`])
//! is optional because a long run produces hundreds of millions of them.
//!
//! The vocabulary is that of processes and channels. Control messages are opaque here: the
//! trace stores their tag and number but does not know what a marker or barrier is.

pub mod matching;

use serde::Serialize;

use crate::engine::Time;

/// Whether the trace keeps its events or only hashes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceMode {
    /// Hash every event, keep none (the fastest).
    HashOnly,
    /// Hash every event and keep it in memory.
    Full,
}

/// One thing that happened in the simulated world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum TraceEvent {
    /// `task` put message `seq` into the output queue of channel `ch`.
    Send {
        /// Simulated time.
        t: Time,
        /// Channel index.
        ch: u32,
        /// Per-channel sequence number; (ch, seq) is the message's unique id.
        seq: u64,
        /// Size on the wire.
        bytes: u32,
        /// Message kind code (see the network module).
        kind: u8,
        /// Control tag, or 0 for data.
        tag: u8,
        /// Control number (snapshot or checkpoint id), record key for data.
        num: u64,
    },
    /// The receiver of channel `ch` took message `seq` out of its input queue.
    Receive {
        /// Simulated time.
        t: Time,
        /// Channel index.
        ch: u32,
        /// Per-channel sequence number.
        seq: u64,
    },
    /// A task stopped (`on = true`) or resumed (`on = false`) because an output queue was full.
    BackPressure {
        /// Simulated time.
        t: Time,
        /// Task index.
        task: u32,
        /// True when the task became blocked.
        on: bool,
    },
    /// A source read the record at `offset` of its log and emitted it.
    SourceEmit {
        /// Simulated time.
        t: Time,
        /// Source task index.
        task: u32,
        /// The record's offset.
        offset: u64,
    },
    /// A sink wrote the record that source `source` produced at `offset`.
    SinkOutput {
        /// Simulated time.
        t: Time,
        /// Sink task index.
        task: u32,
        /// Index of the source task the record came from.
        source: u32,
        /// The record's offset in that source's log.
        offset: u64,
        /// The record's key.
        key: u64,
    },
    /// A transactional sink closed its open transaction as part of snapshot `id`
    /// (pre-commit: written, not yet visible).
    SinkPrecommit {
        /// Simulated time.
        t: Time,
        /// Sink task index.
        task: u32,
        /// Snapshot id.
        id: u64,
    },
    /// A transactional sink made every transaction pre-committed at snapshots up to `id`
    /// visible; `id == u64::MAX` is the final commit at end of input, open transaction included.
    SinkCommit {
        /// Simulated time.
        t: Time,
        /// Sink task index.
        task: u32,
        /// Highest snapshot id committed.
        id: u64,
    },
    /// All inputs of a task have ended (or a source's log is exhausted).
    EndOfInput {
        /// Simulated time.
        t: Time,
        /// Task index.
        task: u32,
    },
    /// A scripted or coordinated request for snapshot `id` reached `task`.
    Initiate {
        /// Simulated time.
        t: Time,
        /// Task index.
        task: u32,
        /// Snapshot or checkpoint id.
        id: u64,
    },
    /// `task` recorded its local state for snapshot `id`.
    LocalSnapshot {
        /// Simulated time.
        t: Time,
        /// Task index.
        task: u32,
        /// Snapshot or checkpoint id.
        id: u64,
        /// Bytes of state recorded.
        bytes: u64,
    },
    /// The coordinator finished checkpoint `id`: completed, or aborted or expired.
    CheckpointEnd {
        /// Simulated time.
        t: Time,
        /// Checkpoint id.
        id: u64,
        /// True when it completed.
        completed: bool,
    },
    /// The job crashed: every task stops, in-flight data and open transactions are lost.
    Crash {
        /// Simulated time.
        t: Time,
    },
    /// The job resumed from completed checkpoint `checkpoint` (0: from the beginning).
    Recover {
        /// Simulated time.
        t: Time,
        /// The restored checkpoint, 0 for none.
        checkpoint: u64,
    },
    /// A scripted process changed its named state.
    StateChange {
        /// Simulated time.
        t: Time,
        /// Task index.
        task: u32,
        /// Index of the new state's label.
        label: u32,
    },
}

impl TraceEvent {
    /// The simulated time of the event.
    pub fn time(&self) -> Time {
        match *self {
            TraceEvent::Send { t, .. }
            | TraceEvent::Receive { t, .. }
            | TraceEvent::BackPressure { t, .. }
            | TraceEvent::SourceEmit { t, .. }
            | TraceEvent::SinkOutput { t, .. }
            | TraceEvent::SinkPrecommit { t, .. }
            | TraceEvent::SinkCommit { t, .. }
            | TraceEvent::EndOfInput { t, .. }
            | TraceEvent::Initiate { t, .. }
            | TraceEvent::LocalSnapshot { t, .. }
            | TraceEvent::CheckpointEnd { t, .. }
            | TraceEvent::Crash { t }
            | TraceEvent::Recover { t, .. }
            | TraceEvent::StateChange { t, .. } => t,
        }
    }

    /// The event as a fixed list of words for hashing: a code, the time, and the fields.
    #[inline(always)]
    fn words(&self) -> [u64; 5] {
        match *self {
            TraceEvent::Send {
                t,
                ch,
                seq,
                bytes,
                kind,
                tag,
                num,
            } => [
                1,
                t,
                u64::from(ch) << 32 | u64::from(bytes),
                seq,
                u64::from(kind) << 8 | u64::from(tag) | num.rotate_left(16),
            ],
            TraceEvent::Receive { t, ch, seq } => [2, t, u64::from(ch), seq, 0],
            TraceEvent::BackPressure { t, task, on } => [3, t, u64::from(task), u64::from(on), 0],
            TraceEvent::SourceEmit { t, task, offset } => [9, t, u64::from(task), offset, 0],
            TraceEvent::SinkOutput {
                t,
                task,
                source,
                offset,
                key,
            } => [4, t, u64::from(task) << 32 | u64::from(source), offset, key],
            TraceEvent::EndOfInput { t, task } => [5, t, u64::from(task), 0, 0],
            TraceEvent::SinkPrecommit { t, task, id } => [11, t, u64::from(task), id, 0],
            TraceEvent::SinkCommit { t, task, id } => [12, t, u64::from(task), id, 0],
            TraceEvent::Initiate { t, task, id } => [6, t, u64::from(task), id, 0],
            TraceEvent::LocalSnapshot { t, task, id, bytes } => [7, t, u64::from(task), id, bytes],
            TraceEvent::Crash { t } => [13, t, 0, 0, 0],
            TraceEvent::Recover { t, checkpoint } => [14, t, checkpoint, 0, 0],
            TraceEvent::CheckpointEnd { t, id, completed } => [10, t, id, u64::from(completed), 0],
            TraceEvent::StateChange { t, task, label } => {
                [8, t, u64::from(task), u64::from(label), 0]
            }
        }
    }
}

/// A consumer of trace events as they happen, such as an online checker that must not keep
/// hundreds of millions of events in memory.
pub trait TraceObserver {
    /// Sees one event, in trace order.
    fn observe(&mut self, event: &TraceEvent);

    /// Sees a [`TraceEvent::Send`]. The two per-message events come through methods of their
    /// own, called directly where the event is recorded: through `observe` each went through
    /// a jump on the event's kind that the processor predicted poorly, since sends and
    /// receives alternate. Defaults to `observe`.
    #[inline]
    fn observe_send(&mut self, event: &TraceEvent) {
        self.observe(event);
    }

    /// Sees a [`TraceEvent::Receive`]; see [`TraceObserver::observe_send`].
    #[inline]
    fn observe_receive(&mut self, event: &TraceEvent) {
        self.observe(event);
    }
}

/// The trace of one run: a running hash, optionally an observer, and, in [`TraceMode::Full`],
/// the events themselves.
pub struct Trace {
    mode: TraceMode,
    lanes: [u64; 2],
    count: u64,
    events: Vec<TraceEvent>,
    observer: Option<Box<dyn TraceObserver>>,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace")
            .field("mode", &self.mode)
            .field("count", &self.count)
            .field("observer", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

impl Trace {
    /// An empty trace.
    pub fn new(mode: TraceMode) -> Self {
        Trace {
            mode,
            lanes: [0x6a09_e667_f3bc_c908, 0xbb67_ae85_84ca_a73b],
            count: 0,
            events: Vec::new(),
            observer: None,
        }
    }

    /// Attaches an observer that sees every later event.
    pub fn set_observer(&mut self, observer: Box<dyn TraceObserver>) {
        self.observer = Some(observer);
    }

    /// Detaches and returns the observer.
    pub fn take_observer(&mut self) -> Option<Box<dyn TraceObserver>> {
        self.observer.take()
    }

    /// Appends one event.
    #[inline(always)]
    pub fn record(&mut self, event: TraceEvent) {
        for w in event.words() {
            self.lanes[0] = (self.lanes[0] ^ w)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(23);
            self.lanes[1] = (self.lanes[1].rotate_left(17) ^ w).wrapping_mul(0xff51_afd7_ed55_8ccd);
        }
        self.count += 1;
        if let Some(o) = self.observer.as_mut() {
            // Inlined at every call site with a known kind, so this match disappears.
            match event {
                TraceEvent::Send { .. } => o.observe_send(&event),
                TraceEvent::Receive { .. } => o.observe_receive(&event),
                _ => o.observe(&event),
            }
        }
        if self.mode == TraceMode::Full {
            self.events.push(event);
        }
    }

    /// The kept events (empty in [`TraceMode::HashOnly`]).
    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }

    /// Whether events are kept.
    pub fn mode(&self) -> TraceMode {
        self.mode
    }

    /// How many events were recorded.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The hash of everything recorded so far, as 32 hex digits.
    pub fn hash_hex(&self) -> String {
        let fold = |x: u64| {
            let mut z = x ^ self.count;
            z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
            z ^ (z >> 33)
        };
        format!("{:016x}{:016x}", fold(self.lanes[0]), fold(self.lanes[1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: Time, seq: u64) -> TraceEvent {
        TraceEvent::Receive { t, ch: 1, seq }
    }

    #[test]
    fn hash_depends_on_content_and_order() {
        let mut a = Trace::new(TraceMode::HashOnly);
        let mut b = Trace::new(TraceMode::HashOnly);
        let mut c = Trace::new(TraceMode::HashOnly);
        a.record(ev(1, 1));
        a.record(ev(2, 2));
        b.record(ev(1, 1));
        b.record(ev(2, 2));
        c.record(ev(2, 2));
        c.record(ev(1, 1));
        assert_eq!(a.hash_hex(), b.hash_hex());
        assert_ne!(a.hash_hex(), c.hash_hex());
        assert_eq!(a.hash_hex().len(), 32);
    }

    #[test]
    fn full_mode_keeps_events_hash_mode_does_not() {
        let mut full = Trace::new(TraceMode::Full);
        let mut hash = Trace::new(TraceMode::HashOnly);
        for t in 0..3 {
            full.record(ev(t, t));
            hash.record(ev(t, t));
        }
        assert_eq!(full.events().len(), 3);
        assert!(hash.events().is_empty());
        assert_eq!(full.hash_hex(), hash.hash_hex());
        assert_eq!(full.len(), 3);
    }
}
