//! Deliberately broken variants of the protocols and of recovery, named `mutant:NAME`.
//!
//! A checker is only trusted once it has been shown to catch broken protocols. Each mutant
//! breaks one rule that the design notes call essential; `snapsim check --mutants` runs each
//! over the shipped scenarios and seeds and reports the first violation found.

use std::fmt;

use super::{Promises, ProtocolKind};

/// A deliberately broken variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mutant {
    /// Chandy-Lamport with every channel allowed to reorder messages.
    ClReordering,
    /// Aligned barriers that never block an input.
    AlignedNoBlock,
    /// Unaligned checkpoints that do not record the output data their barriers overtake.
    UnalignedForgetsOvertaken,
    /// Recovery that restores states but puts no recorded channel state back.
    RecoverySkipsChannelState,
    /// Recovery that puts the recorded channel state back in reverse order: every record is
    /// there once, so only the per-path order check can catch it.
    RecoveryReversesChannelState,
    /// Recovery that rewinds sources one record too far (replays one record twice).
    SourceRewindTooFar,
    /// Recovery that rewinds sources one record too short (skips one record).
    SourceRewindTooShort,
    /// A transactional sink that commits at its pre-commit, before the checkpoint completes.
    SinkEarlyCommit,
    /// At-least-once barrier tracking passed off as exactly-once.
    AtLeastOnceAsExactlyOnce,
    /// Buffer debloating (forced on, with a short target) that drops the queued output data
    /// a shrunk buffer no longer holds.
    DebloatDropsOnShrink,
    /// Task-local recovery (switched on) that restores a task on its slot from a stale local
    /// copy: the keyed state of the checkpoint before the one restored.
    LocalRecoveryStaleCopy,
    /// An alignment timeout that prioritises announced barriers without persisting the data
    /// they jump.
    TimeoutForgetsJumped,
    /// An output-side alignment timeout that does not record the data its barrier jumps in
    /// the output queue.
    OutputTimeoutForgetsCopied,
    /// Incremental checkpoints whose flush leaves out one key changed since the last one (a
    /// mechanism mutant: it runs RocksDB incremental checkpoints where the scenario has no
    /// state backend).
    IncrementalForgetsChangedKey,
}

impl Mutant {
    /// Every mutant.
    pub const ALL: &'static [Mutant] = &[
        Mutant::ClReordering,
        Mutant::AlignedNoBlock,
        Mutant::UnalignedForgetsOvertaken,
        Mutant::RecoverySkipsChannelState,
        Mutant::RecoveryReversesChannelState,
        Mutant::SourceRewindTooFar,
        Mutant::SourceRewindTooShort,
        Mutant::SinkEarlyCommit,
        Mutant::AtLeastOnceAsExactlyOnce,
        Mutant::DebloatDropsOnShrink,
        Mutant::LocalRecoveryStaleCopy,
        Mutant::TimeoutForgetsJumped,
        Mutant::OutputTimeoutForgetsCopied,
        Mutant::IncrementalForgetsChangedKey,
    ];

    /// The name after `mutant:`.
    pub fn name(self) -> &'static str {
        match self {
            Mutant::ClReordering => "cl-reordering",
            Mutant::AlignedNoBlock => "aligned-no-block",
            Mutant::UnalignedForgetsOvertaken => "unaligned-forgets-overtaken",
            Mutant::RecoverySkipsChannelState => "recovery-skips-channel-state",
            Mutant::RecoveryReversesChannelState => "recovery-reverses-channel-state",
            Mutant::SourceRewindTooFar => "source-rewind-too-far",
            Mutant::SourceRewindTooShort => "source-rewind-too-short",
            Mutant::SinkEarlyCommit => "sink-early-commit",
            Mutant::AtLeastOnceAsExactlyOnce => "at-least-once-as-exactly-once",
            Mutant::DebloatDropsOnShrink => "debloat-drops-on-shrink",
            Mutant::LocalRecoveryStaleCopy => "local-recovery-stale-copy",
            Mutant::TimeoutForgetsJumped => "timeout-forgets-jumped",
            Mutant::OutputTimeoutForgetsCopied => "output-timeout-forgets-copied",
            Mutant::IncrementalForgetsChangedKey => "incremental-forgets-changed-key",
        }
    }

    /// What is broken.
    pub fn description(self) -> &'static str {
        match self {
            Mutant::ClReordering => "Chandy-Lamport on channels that reorder messages",
            Mutant::AlignedNoBlock => "aligned barriers that never block an input",
            Mutant::UnalignedForgetsOvertaken => {
                "unaligned barriers that forget the output data they overtake"
            }
            Mutant::RecoverySkipsChannelState => {
                "recovery that does not restore the recorded channel state"
            }
            Mutant::RecoveryReversesChannelState => {
                "recovery that restores the recorded channel state in reverse order"
            }
            Mutant::SourceRewindTooFar => "recovery that rewinds sources one record too far",
            Mutant::SourceRewindTooShort => "recovery that rewinds sources one record too short",
            Mutant::SinkEarlyCommit => {
                "a transactional sink that commits before the checkpoint completes"
            }
            Mutant::AtLeastOnceAsExactlyOnce => {
                "at-least-once barrier tracking passed off as exactly-once"
            }
            Mutant::DebloatDropsOnShrink => {
                "buffer debloating that drops the queued data a shrunk buffer no longer holds"
            }
            Mutant::LocalRecoveryStaleCopy => {
                "local recovery that restores keyed state from an older checkpoint's local copy"
            }
            Mutant::TimeoutForgetsJumped => {
                "an alignment timeout that does not persist the data its prioritised barriers jump"
            }
            Mutant::OutputTimeoutForgetsCopied => {
                "an output-side alignment timeout that forgets the output data its barrier jumps"
            }
            Mutant::IncrementalForgetsChangedKey => {
                "incremental checkpoints that leave a changed key out of the delta"
            }
        }
    }

    /// The protocol the mutant breaks.
    pub fn base(self) -> ProtocolKind {
        let name = match self {
            Mutant::ClReordering => "chandy-lamport",
            Mutant::AlignedNoBlock
            | Mutant::SourceRewindTooFar
            | Mutant::SourceRewindTooShort
            | Mutant::SinkEarlyCommit
            | Mutant::DebloatDropsOnShrink
            | Mutant::LocalRecoveryStaleCopy
            | Mutant::IncrementalForgetsChangedKey => "aligned",
            Mutant::UnalignedForgetsOvertaken
            | Mutant::RecoverySkipsChannelState
            | Mutant::RecoveryReversesChannelState => "unaligned",
            Mutant::AtLeastOnceAsExactlyOnce => "at-least-once",
            Mutant::TimeoutForgetsJumped | Mutant::OutputTimeoutForgetsCopied => "aligned-timeout",
        };
        ProtocolKind::named(name).expect("a mutant breaks a registered protocol")
    }

    /// What the mutant claims, which the checker holds it to: its base protocol's promises,
    /// except for the mutant that passes at-least-once off as exactly-once.
    pub fn claimed(self) -> Promises {
        match self {
            Mutant::AtLeastOnceAsExactlyOnce => Promises {
                consistent_cuts: true,
                exactly_once: true,
            },
            _ => self.base().promises(),
        }
    }

    /// True when the mutant runs every channel without first-in first-out order.
    pub fn reorders_channels(self) -> bool {
        self == Mutant::ClReordering
    }

    /// True when the mutant switches task-local recovery on (it breaks the local copy).
    pub fn forces_local_recovery(self) -> bool {
        self == Mutant::LocalRecoveryStaleCopy
    }

    /// The mutant called `name` (without the `mutant:` prefix).
    pub fn from_name(name: &str) -> Option<Mutant> {
        Mutant::ALL.iter().copied().find(|m| m.name() == name)
    }
}

impl fmt::Display for Mutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mutant:{}", self.name())
    }
}
