//! Consistent cuts, checked from the trace and the recorded snapshots.
//!
//! For a completed snapshot and every channel p→q: the data messages p had sent when it
//! recorded its state, minus those q had received when it recorded, must be exactly the
//! recorded channel state (what q recorded on its input, then what p recorded as overtaken
//! output), in order. A message q received that p had not sent in the cut is an orphan.
//! "Sent" and "received" come from the trace (`Send` and `Receive` events before each task's
//! `LocalSnapshot` event), never from the simulation's own bookkeeping.
//!
//! Which message a sequence number denotes across recoveries is `trace::matching`'s rule, the
//! one the diagram and the exports use. The tracker keeps only the control messages' sends
//! ([`SparseMatcher`]): pairing every send would keep each one for the whole run (a recovery
//! may deliver a message again), hundreds of megabytes and a tree insert per send on a run of
//! ten million events, on its hottest path. A cut needs less: per channel, how many messages
//! were sent, which were taken, and which numbers were control messages.

use std::collections::{BTreeMap, BTreeSet};

use super::verdict::{Violation, ViolationKind};
use crate::network::{ChannelId, MsgKind};
use crate::snapshot::GlobalSnapshot;
use crate::topology::Topology;
use crate::trace::matching::SparseMatcher;
use crate::trace::TraceEvent;

#[derive(Debug, Clone, Default)]
struct ChannelLog {
    /// Next sequence number to be sent.
    sent: u64,
    /// Every sequence number below this was received.
    received_upto: u64,
    /// Received out of order, above `received_upto`.
    received_extra: BTreeSet<u64>,
}

impl ChannelLog {
    fn receive(&mut self, seq: u64) {
        if seq == self.received_upto {
            self.received_upto += 1;
            while !self.received_extra.is_empty() && self.received_extra.remove(&self.received_upto)
            {
                self.received_upto += 1;
            }
        } else if seq > self.received_upto {
            self.received_extra.insert(seq);
        }
    }
}

/// What the trace says each channel had sent and received at each task's snapshot.
#[derive(Debug, Clone)]
pub struct CutTracker {
    outputs: Vec<Vec<ChannelId>>,
    inputs: Vec<Vec<ChannelId>>,
    channels: Vec<ChannelLog>,
    /// (snapshot id, channel) → messages sent when the sender recorded.
    sent_at: BTreeMap<(u64, ChannelId), u64>,
    /// (snapshot id, channel) → messages received when the receiver recorded.
    received_at: BTreeMap<(u64, ChannelId), (u64, BTreeSet<u64>)>,
    /// Which numbers were control messages, epoch by epoch (sequence numbers restart from the
    /// restored cut after a recovery, so a number is data or control only within an epoch).
    control: SparseMatcher,
    /// The epoch each snapshot was taken in.
    snapshot_epoch: BTreeMap<u64, u32>,
}

impl CutTracker {
    /// A tracker for the channels of `topo`.
    pub fn new(topo: &Topology) -> Self {
        CutTracker {
            outputs: topo
                .tasks
                .iter()
                .map(|t| {
                    t.outputs
                        .iter()
                        .flat_map(|o| o.channels.iter().copied())
                        .collect()
                })
                .collect(),
            inputs: topo.tasks.iter().map(|t| t.inputs.clone()).collect(),
            channels: vec![ChannelLog::default(); topo.channels.len()],
            sent_at: BTreeMap::new(),
            received_at: BTreeMap::new(),
            control: SparseMatcher::new(topo.channels.len()),
            snapshot_epoch: BTreeMap::new(),
        }
    }

    /// Sees a `Send` event: message `seq` of kind `kind` on channel `ch`.
    #[inline]
    pub fn send(&mut self, ch: ChannelId, seq: u64, kind: u8) {
        self.channels[ch as usize].sent = seq + 1;
        if kind != MsgKind::Data as u8 {
            self.control.keep_send(ch, seq);
        }
    }

    /// Sees a `Receive` event: message `seq` taken from channel `ch`.
    #[inline]
    pub fn receive(&mut self, ch: ChannelId, seq: u64) {
        self.channels[ch as usize].receive(seq);
    }

    /// Sees one trace event.
    #[inline]
    pub fn observe(&mut self, event: &TraceEvent) {
        match *event {
            TraceEvent::Send { ch, seq, kind, .. } => self.send(ch, seq, kind),
            TraceEvent::Receive { ch, seq, .. } => self.receive(ch, seq),
            TraceEvent::Recover { checkpoint, .. } => {
                let restored_epoch = self.snapshot_epoch.get(&checkpoint).copied().unwrap_or(0);
                // The world goes back to the restored cut: each channel has sent and received
                // what it had at that snapshot, and sequence numbers restart from there.
                let mut first_new = Vec::with_capacity(self.channels.len());
                for (ch, log) in self.channels.iter_mut().enumerate() {
                    let ch = ch as ChannelId;
                    let sent = self.sent_at.get(&(checkpoint, ch)).copied().unwrap_or(0);
                    first_new.push(sent);
                    let control = &self.control;
                    let is_data = |s: u64| !control.is_kept(ch, s, restored_epoch);
                    let (upto, extra) = self
                        .received_at
                        .get(&(checkpoint, ch))
                        .cloned()
                        .unwrap_or_default();
                    // Numbers from `sent` on are reused by the next epoch. Whatever the receiver
                    // had taken from them was control (a marker, or a priority barrier taken
                    // ahead of the data it overtook): in a consistent cut no data is received
                    // that was not sent. So the restored receive log stops at `sent`.
                    log.sent = sent;
                    log.received_upto = upto.min(sent);
                    log.received_extra = extra
                        .into_iter()
                        .filter(|&s| s < sent && is_data(s))
                        .collect();
                    // Numbers below `sent` keep what they were in the restored epoch. Control
                    // messages among them are never delivered again (only data is restored), so
                    // they count as received: nothing will fill those gaps.
                    for s in control.kept_below(ch, restored_epoch, sent) {
                        if s >= log.received_upto {
                            log.received_extra.insert(s);
                        }
                    }
                    while log.received_extra.remove(&log.received_upto) {
                        log.received_upto += 1;
                    }
                }
                self.control.on_recover(restored_epoch, first_new);
            }
            TraceEvent::LocalSnapshot { task, id, .. } => {
                self.snapshot_epoch.insert(id, self.control.epoch());
                for &ch in &self.outputs[task as usize] {
                    self.sent_at
                        .insert((id, ch), self.channels[ch as usize].sent);
                }
                for &ch in &self.inputs[task as usize] {
                    let log = &self.channels[ch as usize];
                    self.received_at
                        .insert((id, ch), (log.received_upto, log.received_extra.clone()));
                }
            }
            _ => {}
        }
    }

    /// Checks every channel of a completed snapshot; pushes one finding per broken channel.
    pub fn check(&self, snap: &GlobalSnapshot, topo: &Topology, out: &mut Vec<Violation>) {
        let mut recorded: BTreeMap<ChannelId, Vec<u64>> = BTreeMap::new();
        for local in &snap.tasks {
            for (ch, msgs) in &local.input_state {
                recorded
                    .entry(*ch)
                    .or_default()
                    .extend(msgs.iter().map(|m| m.seq));
            }
        }
        for local in &snap.tasks {
            for (ch, msgs) in &local.output_state {
                recorded
                    .entry(*ch)
                    .or_default()
                    .extend(msgs.iter().map(|m| m.seq));
            }
        }
        for (ch, spec) in topo.channels.iter().enumerate() {
            let ch = ch as ChannelId;
            let name = || {
                format!(
                    "channel {} ({} -> {})",
                    ch, topo.tasks[spec.src as usize].name, topo.tasks[spec.dst as usize].name
                )
            };
            let (Some(&sent), Some((upto, extra))) = (
                self.sent_at.get(&(snap.id, ch)),
                self.received_at.get(&(snap.id, ch)),
            ) else {
                out.push(Violation {
                    kind: ViolationKind::IncompleteSnapshot,
                    message: format!(
                        "snapshot {}: {} has no recorded state at one end",
                        snap.id,
                        name()
                    ),
                });
                continue;
            };
            let epoch = self.snapshot_epoch.get(&snap.id).copied().unwrap_or(0);
            let received = |s: u64| s < *upto || extra.contains(&s);
            // Orphans: received in the cut but sent after the sender recorded.
            let orphans: Vec<u64> = (sent..*upto)
                .chain(extra.range(sent..).copied())
                .filter(|&s| !self.control.is_kept(ch, s, epoch))
                .collect();
            if let Some(first) = orphans.first() {
                out.push(Violation {
                    kind: ViolationKind::OrphanMessage,
                    message: format!(
                        "snapshot {}: {}: {} message(s) received before the receiver recorded but sent after the sender recorded; the first is seq {first}",
                        snap.id,
                        name(),
                        orphans.len()
                    ),
                });
                continue;
            }
            let expected: Vec<u64> = (*upto..sent)
                .filter(|&s| !self.control.is_kept(ch, s, epoch) && !received(s))
                .collect();
            let got = recorded.get(&ch).map_or(&[][..], |v| v.as_slice());
            if got == expected.as_slice() {
                continue;
            }
            let got_set: BTreeSet<u64> = got.iter().copied().collect();
            let want_set: BTreeSet<u64> = expected.iter().copied().collect();
            let (kind, message) = if let Some(m) = want_set.difference(&got_set).next() {
                (
                    ViolationKind::MissingChannelState,
                    format!(
                        "snapshot {}: {}: seq {m} was in flight at the cut but is not in the recorded channel state ({} recorded, {} in flight)",
                        snap.id,
                        name(),
                        got.len(),
                        expected.len()
                    ),
                )
            } else if let Some(m) = got_set.difference(&want_set).next() {
                (
                    ViolationKind::ExtraChannelState,
                    format!(
                        "snapshot {}: {}: seq {m} is recorded as channel state but was not in flight at the cut",
                        snap.id,
                        name()
                    ),
                )
            } else {
                (
                    ViolationKind::ChannelStateOrder,
                    format!(
                        "snapshot {}: {}: the recorded channel state holds the in-flight messages in the wrong order",
                        snap.id,
                        name()
                    ),
                )
            };
            out.push(Violation { kind, message });
        }
    }
}

#[cfg(test)]
mod tests {
    //! Hand-written traces of one channel, 0 from p (task 0) to q (task 1); each checks one
    //! rule, and the ones after a recovery also check that sequence numbers restart from the
    //! restored cut (a number that was a marker before the crash can be data after it).

    use super::*;
    use crate::network::{Message, Origin};
    use crate::scenario::Scenario;
    use crate::snapshot::LocalSnapshot;
    use crate::workload::Behaviour;

    const P: u32 = 0;
    const Q: u32 = 1;

    fn topology() -> Topology {
        let json = r#"{"duration": "1ms", "processes": {"names": ["p", "q"],
            "graph": {"edges": [["p", "q"]]}, "workload": {"bank": {}}}}"#;
        let topo = Topology::build(&Scenario::from_json(json.as_bytes(), "t").unwrap(), 0).unwrap();
        assert_eq!(topo.channels.len(), 1);
        assert_eq!((topo.channels[0].src, topo.channels[0].dst), (P, Q));
        topo
    }

    /// A trace being written, fed to a tracker as it goes.
    struct Trace {
        topo: Topology,
        tracker: CutTracker,
    }

    impl Trace {
        fn new() -> Self {
            let topo = topology();
            let tracker = CutTracker::new(&topo);
            Trace { topo, tracker }
        }

        fn send(&mut self, kind: MsgKind, seqs: &[u64]) -> &mut Self {
            for &seq in seqs {
                self.tracker.observe(&TraceEvent::Send {
                    t: 0,
                    ch: 0,
                    seq,
                    bytes: 8,
                    kind: kind as u8,
                    tag: u8::from(kind == MsgKind::Control),
                    num: 0,
                });
            }
            self
        }

        fn data(&mut self, seqs: &[u64]) -> &mut Self {
            self.send(MsgKind::Data, seqs)
        }

        fn marker(&mut self, seq: u64) -> &mut Self {
            self.send(MsgKind::Control, &[seq])
        }

        fn receive(&mut self, seqs: &[u64]) -> &mut Self {
            for &seq in seqs {
                self.tracker
                    .observe(&TraceEvent::Receive { t: 0, ch: 0, seq });
            }
            self
        }

        fn record(&mut self, task: u32, id: u64) -> &mut Self {
            self.tracker.observe(&TraceEvent::LocalSnapshot {
                t: 0,
                task,
                id,
                bytes: 0,
            });
            self
        }

        fn recover(&mut self, checkpoint: u64) -> &mut Self {
            self.tracker.observe(&TraceEvent::Crash { t: 0 });
            self.tracker
                .observe(&TraceEvent::Recover { t: 0, checkpoint });
            self
        }

        /// The findings about snapshot `id`, whose channel state q recorded as `state`.
        fn check(&self, id: u64, state: &[u64]) -> Vec<Violation> {
            let local = |task: u32, input_state| LocalSnapshot {
                task,
                id,
                taken_at: 0,
                state: Behaviour::Map,
                state_bytes: 0,
                input_state,
                output_state: Vec::new(),
                aligning_since: 0,
                held_back_bytes: 0,
                acked_at: 0,
                sent: Vec::new(),
                closed_inputs: Vec::new(),
                ended: false,
                backend: Default::default(),
            };
            let recorded = state
                .iter()
                .map(|&seq| Message {
                    seq,
                    ..Message::data(8, 0, 1, Origin::default(), 0)
                })
                .collect();
            let snap = GlobalSnapshot {
                id,
                trigger_ns: 0,
                end_ns: 0,
                tasks: vec![local(P, Vec::new()), local(Q, vec![(0, recorded)])],
            };
            let mut found = Vec::new();
            self.tracker.check(&snap, &self.topo, &mut found);
            found
        }

        fn kinds(&self, id: u64, state: &[u64]) -> Vec<ViolationKind> {
            self.check(id, state).iter().map(|v| v.kind).collect()
        }
    }

    /// Epoch 0: p sends data 0 to 2, records snapshot 1 and sends its marker (seq 3); q takes
    /// 0 and records, so the cut has 1 and 2 in flight. Then everything arrives, p sends data
    /// 4, and the job crashes and restores snapshot 1: p has sent 0 to 2, q has taken 0, and
    /// 1 and 2 come back from the recorded channel state without being sent again.
    fn restored() -> Trace {
        let mut t = Trace::new();
        t.data(&[0, 1, 2])
            .record(P, 1)
            .marker(3)
            .receive(&[0])
            .record(Q, 1);
        t.receive(&[1, 2, 3]).data(&[4]).receive(&[4]).recover(1);
        assert_eq!(t.kinds(1, &[1, 2]), [], "snapshot 1 is consistent");
        t
    }

    #[test]
    fn a_consistent_cut_has_no_findings() {
        let mut t = Trace::new();
        t.data(&[0, 1, 2])
            .record(P, 1)
            .marker(3)
            .receive(&[0])
            .record(Q, 1);
        assert_eq!(t.kinds(1, &[1, 2]), []);
    }

    #[test]
    fn a_message_received_but_sent_after_the_cut_is_an_orphan() {
        let mut t = Trace::new();
        t.data(&[0])
            .record(P, 1)
            .data(&[1])
            .receive(&[0, 1])
            .record(Q, 1);
        let found = t.check(1, &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, ViolationKind::OrphanMessage);
        assert!(found[0].message.contains("the first is seq 1"), "{found:?}");
    }

    #[test]
    fn a_message_in_flight_must_be_in_the_channel_state() {
        let mut t = Trace::new();
        t.data(&[0, 1]).record(P, 1).receive(&[0]).record(Q, 1);
        let found = t.check(1, &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, ViolationKind::MissingChannelState);
        assert!(
            found[0].message.contains("seq 1 was in flight"),
            "{found:?}"
        );
    }

    #[test]
    fn a_message_received_before_the_cut_must_not_be_in_the_channel_state() {
        let mut t = Trace::new();
        t.data(&[0, 1]).record(P, 1).receive(&[0]).record(Q, 1);
        let found = t.check(1, &[0, 1]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, ViolationKind::ExtraChannelState);
        assert!(found[0].message.contains("seq 0 is recorded"), "{found:?}");
    }

    #[test]
    fn the_channel_state_keeps_the_order_of_sending() {
        let mut t = Trace::new();
        t.data(&[0, 1, 2]).record(P, 1).record(Q, 1);
        assert_eq!(t.kinds(1, &[0, 1, 2]), []);
        assert_eq!(t.kinds(1, &[0, 2, 1]), [ViolationKind::ChannelStateOrder]);
    }

    #[test]
    fn after_a_recovery_a_message_sent_after_the_cut_is_an_orphan() {
        // Data 3 reuses the number of the lost marker.
        let mut t = restored();
        t.receive(&[1, 2])
            .record(P, 2)
            .data(&[3])
            .receive(&[3])
            .record(Q, 2);
        let found = t.check(2, &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, ViolationKind::OrphanMessage);
        assert!(found[0].message.contains("the first is seq 3"), "{found:?}");
    }

    #[test]
    fn after_a_recovery_restored_and_new_messages_in_flight_must_be_in_the_channel_state() {
        let mut t = restored();
        t.data(&[3]).record(P, 2).receive(&[1]).record(Q, 2);
        assert_eq!(t.kinds(2, &[2, 3]), []);
        let found = t.check(2, &[2]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, ViolationKind::MissingChannelState);
        assert!(
            found[0].message.contains("seq 3 was in flight"),
            "{found:?}"
        );
    }

    #[test]
    fn after_a_recovery_a_restored_message_taken_before_the_cut_is_not_channel_state() {
        let mut t = restored();
        t.receive(&[1, 2]).data(&[3]).record(P, 2).record(Q, 2);
        assert_eq!(t.kinds(2, &[3]), []);
        let found = t.check(2, &[2, 3]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, ViolationKind::ExtraChannelState);
        assert!(found[0].message.contains("seq 2 is recorded"), "{found:?}");
    }

    #[test]
    fn after_a_recovery_the_channel_state_keeps_restored_messages_before_new_ones() {
        let mut t = restored();
        t.data(&[3]).record(P, 2).record(Q, 2);
        assert_eq!(t.kinds(2, &[1, 2, 3]), []);
        assert_eq!(t.kinds(2, &[1, 3, 2]), [ViolationKind::ChannelStateOrder]);
    }
}
