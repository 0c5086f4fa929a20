//! The checker's conclusion about a run: its findings by kind, broken promises or expected.

use serde::Serialize;

/// What kind of rule a finding says was broken. Serialized as the kebab-case name results
/// files have always used, which [`ViolationKind::as_str`] also gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ViolationKind {
    /// A message received in a cut that was sent after the sender recorded.
    #[serde(rename = "orphan-message")]
    OrphanMessage,
    /// A message in flight at the cut that the recorded channel state leaves out.
    #[serde(rename = "missing-channel-state")]
    MissingChannelState,
    /// A message in the recorded channel state that was not in flight at the cut.
    #[serde(rename = "extra-channel-state")]
    ExtraChannelState,
    /// The recorded channel state holds the messages in flight, but in another order.
    #[serde(rename = "channel-state-order")]
    ChannelStateOrder,
    /// A completed snapshot without a recorded state at one end of a channel.
    #[serde(rename = "incomplete-snapshot")]
    IncompleteSnapshot,
    /// Fewer copies of a record reached the sinks along a path than the path owes.
    #[serde(rename = "lost-record")]
    LostRecord,
    /// More copies of a record reached the sinks along a path than the path owes.
    #[serde(rename = "duplicated-record")]
    DuplicatedRecord,
    /// A record came into a sink after a later record of the same source and key along the
    /// same path.
    #[serde(rename = "out-of-order")]
    OutOfOrder,
    /// Keyed state at the end differs from the same run without failures.
    #[serde(rename = "final-state-mismatch")]
    FinalStateMismatch,
    /// The bank's money, in a snapshot or at the end, is not what it started with.
    #[serde(rename = "conservation")]
    Conservation,
}

impl ViolationKind {
    /// Every kind.
    pub const ALL: &'static [ViolationKind] = &[
        ViolationKind::OrphanMessage,
        ViolationKind::MissingChannelState,
        ViolationKind::ExtraChannelState,
        ViolationKind::ChannelStateOrder,
        ViolationKind::IncompleteSnapshot,
        ViolationKind::LostRecord,
        ViolationKind::DuplicatedRecord,
        ViolationKind::OutOfOrder,
        ViolationKind::FinalStateMismatch,
        ViolationKind::Conservation,
    ];

    /// The kind's name, as in results files.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::OrphanMessage => "orphan-message",
            ViolationKind::MissingChannelState => "missing-channel-state",
            ViolationKind::ExtraChannelState => "extra-channel-state",
            ViolationKind::ChannelStateOrder => "channel-state-order",
            ViolationKind::IncompleteSnapshot => "incomplete-snapshot",
            ViolationKind::LostRecord => "lost-record",
            ViolationKind::DuplicatedRecord => "duplicated-record",
            ViolationKind::OutOfOrder => "out-of-order",
            ViolationKind::FinalStateMismatch => "final-state-mismatch",
            ViolationKind::Conservation => "conservation",
        }
    }

    /// True for the findings of an inconsistent cut.
    pub fn is_about_cuts(self) -> bool {
        matches!(
            self,
            ViolationKind::OrphanMessage
                | ViolationKind::MissingChannelState
                | ViolationKind::ExtraChannelState
                | ViolationKind::ChannelStateOrder
                | ViolationKind::IncompleteSnapshot
        )
    }

    /// True for what only exactly-once promises to avoid. Lost records are not among them:
    /// every protocol promises at least once.
    pub fn is_about_exactly_once(self) -> bool {
        matches!(
            self,
            ViolationKind::DuplicatedRecord
                | ViolationKind::OutOfOrder
                | ViolationKind::FinalStateMismatch
        )
    }
}

impl std::fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// What kind of rule was broken.
    pub kind: ViolationKind,
    /// What exactly, naming tasks, records and ids.
    pub message: String,
}

/// Exactly-once counters at the sinks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExactlyOnce {
    /// Copies of records that did not reach the sinks: per record and path into a sink, the
    /// copies missing.
    pub lost: u64,
    /// Extra copies that reached the sinks, per record and path into a sink.
    pub duplicated: u64,
    /// Records that came into a sink after a later record of the same source and key along
    /// the same path (on the same input channel, where one path leads to it).
    pub out_of_order: u64,
}

/// The checker's conclusion about one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// True when the protocol kept every promise it makes.
    pub ok: bool,
    /// True when every recorded cut is consistent.
    pub consistent: bool,
    /// Counters for jobs with sources and sinks; `None` for process graphs.
    pub exactly_once: Option<ExactlyOnce>,
    /// Broken promises: at most [`MAX_PER_KIND`] of each kind, then a count of the rest.
    pub violations: Vec<Violation>,
    /// Findings the protocol does not promise to avoid (at-least-once's inconsistent cuts),
    /// reported rather than hidden, summarised the same way.
    pub expected: Vec<Violation>,
}

/// How many findings of one kind are listed before the rest are only counted.
pub const MAX_PER_KIND: usize = 5;

/// What a run's protocol promises; findings about anything else are reported as expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Promises {
    /// Every recorded cut is consistent (all but at-least-once).
    pub consistent_cuts: bool,
    /// Every record is counted exactly once at the sinks, also across failures (an
    /// exactly-once protocol with only transactional sinks). Without it, duplicates, records
    /// out of order and a final state that differs from the failure-free run are expected.
    pub exactly_once: bool,
}

impl Verdict {
    /// A verdict with no findings yet.
    pub fn new(exactly_once: Option<ExactlyOnce>) -> Self {
        Verdict {
            ok: true,
            consistent: true,
            exactly_once,
            violations: Vec::new(),
            expected: Vec::new(),
        }
    }

    /// Sorts findings into broken promises and expected ones, and updates `ok` and
    /// `consistent`.
    pub fn add_findings(&mut self, found: Vec<Violation>, promises: Promises) {
        let mut violations = std::mem::take(&mut self.violations);
        let mut expected = std::mem::take(&mut self.expected);
        for v in found {
            if v.kind.is_about_cuts() {
                self.consistent = false;
            }
            let excused = (!promises.consistent_cuts && v.kind.is_about_cuts())
                || (!promises.exactly_once && v.kind.is_about_exactly_once());
            if excused {
                expected.push(v);
            } else {
                violations.push(v);
            }
        }
        self.ok = violations.is_empty();
        self.violations = summarise(violations);
        self.expected = summarise(expected);
    }
}

impl Verdict {
    /// The job failed at `at` (its restart strategy gave up): what its sources had read but
    /// its sinks had not committed is simply never delivered, so lost records are no broken
    /// promise and are reported as expected, saying why. Everything else still counts:
    /// duplicates, order, and the cuts of the checkpoints that completed.
    pub fn job_failed(&mut self, at: &str) {
        let (lost, kept): (Vec<Violation>, Vec<Violation>) = std::mem::take(&mut self.violations)
            .into_iter()
            .partition(|v| v.kind == ViolationKind::LostRecord);
        self.violations = kept;
        self.expected.extend(lost.into_iter().map(|v| Violation {
            kind: v.kind,
            message: format!(
                "{} (the job failed at {at}: what it had not committed is never delivered)",
                v.message
            ),
        }));
        self.ok = self.violations.is_empty();
    }
}

/// Keeps the first few findings of each kind and counts the others.
fn summarise(found: Vec<Violation>) -> Vec<Violation> {
    let mut kept: Vec<Violation> = Vec::new();
    let mut extra: Vec<(ViolationKind, usize)> = Vec::new();
    for v in found {
        if kept.iter().filter(|k| k.kind == v.kind).count() < MAX_PER_KIND {
            kept.push(v);
        } else if let Some((_, n)) = extra.iter_mut().find(|(k, _)| *k == v.kind) {
            *n += 1;
        } else {
            extra.push((v.kind, 1));
        }
    }
    // By name: the order results files list the counts in.
    extra.sort_by_key(|(kind, _)| kind.as_str());
    for (kind, n) in extra {
        kept.push(Violation {
            message: format!("{n} more findings of this kind"),
            kind,
        });
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_serializes_as_its_name() {
        for &kind in ViolationKind::ALL {
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }

    #[test]
    fn findings_beyond_the_first_few_of_a_kind_are_counted_by_kind_name() {
        let finding = |kind| Violation {
            kind,
            message: String::new(),
        };
        let mut found = Vec::new();
        for _ in 0..MAX_PER_KIND + 2 {
            found.push(finding(ViolationKind::OrphanMessage));
            found.push(finding(ViolationKind::Conservation));
        }
        let kept = summarise(found);
        assert_eq!(kept.len(), 2 * MAX_PER_KIND + 2);
        let counts: Vec<(ViolationKind, &str)> = kept[2 * MAX_PER_KIND..]
            .iter()
            .map(|v| (v.kind, v.message.as_str()))
            .collect();
        assert_eq!(
            counts,
            [
                (ViolationKind::Conservation, "2 more findings of this kind"),
                (ViolationKind::OrphanMessage, "2 more findings of this kind"),
            ]
        );
    }
}
