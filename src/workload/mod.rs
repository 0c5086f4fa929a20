//! What tasks do with records: sources, operators, sinks, the bank and scripted processes.
//!
//! Each behaviour is plain state plus functions that turn one input into outputs. Behaviours
//! know nothing of time, queues or snapshot protocols; the simulation calls them and routes
//! what they emit. Their state is `Clone` so that a snapshot can hold its real content.

pub mod backend;
mod bank;
mod script;
mod source;

pub use backend::{BackendParams, Checkpointed, FileRef, KeyedBackend, StateFile};
pub use bank::BankState;
pub use script::{Labels, ScriptState};
pub use source::SourceLog;

use std::collections::BTreeMap;

use crate::network::{ChannelId, Message};

/// Where an emitted message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Through every output edge of the task, routed by each edge's partitioner.
    Route,
    /// On one specific output channel (process graphs).
    Channel(ChannelId),
}

/// Keyed state of a count, sum or join operator: real content, ordered by key.
#[derive(Debug, Clone, Default)]
pub struct KeyedState {
    /// Per key: records counted (per side for a join) and the running sum of values.
    pub entries: BTreeMap<u64, KeyEntry>,
    /// Bytes of state one key costs.
    pub bytes_per_key: u64,
    /// The state backend's bookkeeping (memtable, files, changelog), from the first
    /// checkpoint on when the scenario configures one that needs it; `None` costs the
    /// per-record path one test of a pointer.
    pub backend: Option<Box<KeyedBackend>>,
}

/// Two states are equal when their content is: the backend's bookkeeping is how the content
/// is stored, not part of it.
impl PartialEq for KeyedState {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries && self.bytes_per_key == other.bytes_per_key
    }
}

impl Eq for KeyedState {}

/// One key's entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyEntry {
    /// Records seen on the first (or only) input side.
    pub count: u64,
    /// Records seen on the second side of a join.
    pub count_right: u64,
    /// Sum of record values.
    pub sum: i64,
}

impl KeyedState {
    /// Empty state with `bytes_per_key` bytes per key.
    pub fn new(bytes_per_key: u64) -> Self {
        KeyedState {
            entries: BTreeMap::new(),
            bytes_per_key,
            backend: None,
        }
    }

    /// Applies one record; returns the updated entry.
    #[inline]
    pub fn apply(&mut self, key: u64, value: i64, right_side: bool) -> KeyEntry {
        let e = self.entries.entry(key).or_default();
        if right_side {
            e.count_right += 1;
        } else {
            e.count += 1;
        }
        e.sum += value;
        let e = *e;
        if let Some(b) = &mut self.backend {
            b.note(key, self.bytes_per_key, &self.entries);
        }
        e
    }

    /// Size of the state in bytes.
    pub fn bytes(&self) -> u64 {
        self.entries.len() as u64 * self.bytes_per_key
    }
}

/// What a sink has written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkState {
    /// Records written.
    pub records: u64,
    /// Two-phase commit sink.
    pub transactional: bool,
}

/// The state of one task's behaviour.
// One value per task, kept inline: boxing the large variants would add a pointer chase on
// the hot path to save memory that only matters at millions of tasks.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// A source: its position in the log.
    Source(SourceLog),
    /// Stateless.
    Map,
    /// Keyed count or sum (the same state; the output differs).
    Keyed {
        /// The state.
        state: KeyedState,
        /// True for a sum, false for a count.
        sum: bool,
        /// Output record size, if it differs from the input's.
        output_size: Option<u32>,
    },
    /// Two-input keyed operator.
    Join {
        /// The state.
        state: KeyedState,
        /// Inputs `0..left_inputs` are the first side.
        left_inputs: usize,
        /// Output record size, if it differs from the input's.
        output_size: Option<u32>,
    },
    /// A sink.
    Sink(SinkState),
    /// A bank process.
    Bank(BankState),
    /// A scripted process.
    Script(ScriptState),
}

impl Behaviour {
    /// Bytes of state a snapshot of this behaviour holds.
    pub fn state_bytes(&self) -> u64 {
        match self {
            Behaviour::Source(_) => 8,
            Behaviour::Map => 0,
            Behaviour::Keyed { state, .. } | Behaviour::Join { state, .. } => state.bytes(),
            Behaviour::Sink(_) => 8,
            Behaviour::Bank(_) => 8,
            Behaviour::Script(_) => 4,
        }
    }

    /// Handles one data record that arrived on input number `input`; pushes what to emit.
    /// Returns true when the record reached a sink (so the caller traces the output).
    #[inline]
    pub fn on_record(
        &mut self,
        input: usize,
        msg: &Message,
        out: &mut Vec<(Target, Message)>,
    ) -> bool {
        match self {
            Behaviour::Map => {
                out.push((Target::Route, *msg));
                false
            }
            Behaviour::Keyed {
                state,
                sum,
                output_size,
            } => {
                let e = state.apply(msg.num, msg.value, false);
                let mut o = *msg;
                o.value = if *sum { e.sum } else { e.count as i64 };
                if let Some(b) = output_size {
                    o.bytes = *b;
                }
                out.push((Target::Route, o));
                false
            }
            Behaviour::Join {
                state,
                left_inputs,
                output_size,
            } => {
                let e = state.apply(msg.num, msg.value, input >= *left_inputs);
                let mut o = *msg;
                o.value = (e.count * e.count_right) as i64;
                if let Some(b) = output_size {
                    o.bytes = *b;
                }
                out.push((Target::Route, o));
                false
            }
            Behaviour::Sink(s) => {
                s.records += 1;
                true
            }
            Behaviour::Bank(b) => {
                b.receive(msg, out);
                false
            }
            Behaviour::Script(_) | Behaviour::Source(_) => false,
        }
    }
}
