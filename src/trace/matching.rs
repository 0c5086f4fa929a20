//! Matching each received message to its send, across recoveries that restart sequence numbers.
//!
//! A message is identified by (epoch, channel, sequence number), where the epoch counts the
//! [`TraceEvent::Recover`] events seen so far: a recovery restarts every channel's sequence
//! numbers from the restored cut, so (channel, seq) alone is ambiguous once the job has
//! recovered. A receive is matched to the send with the same (channel, seq) in the latest
//! epoch not after its own. When that send is from an earlier epoch, the message was not sent
//! again: the recovery put it back from a checkpoint's recorded channel state. Looking for the
//! latest earlier epoch, rather than the epoch of the restored checkpoint, also finds a message
//! restored more than once (recorded by a checkpoint that had itself restored it).

use std::collections::BTreeMap;

use crate::trace::TraceEvent;

/// The send a receive was matched to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched<T> {
    /// What the caller stored for the send (such as its index in the events).
    pub send: T,
    /// The epoch the message was sent in.
    pub sent_in: u32,
    /// The epoch it was received in (the number of recoveries before the receive).
    pub received_in: u32,
}

impl<T> Matched<T> {
    /// True when the message was sent before a recovery and received after it: the recovery
    /// restored it from recorded channel state.
    pub fn restored(&self) -> bool {
        self.sent_in < self.received_in
    }
}

/// Matches receives to sends, fed one event at a time in trace order.
///
/// Each send is stored with a value the caller chooses (an index, a record of its own); a
/// receive returns the value of its send. Sends are kept after they are received, because a
/// recovery may deliver the same message again.
#[derive(Debug, Clone)]
pub struct Matcher<T> {
    /// (channel, seq, epoch) -> the caller's value: a range query finds the latest epoch.
    sends: BTreeMap<(u32, u64, u32), T>,
    epoch: u32,
}

impl<T> Default for Matcher<T> {
    fn default() -> Self {
        Matcher {
            sends: BTreeMap::new(),
            epoch: 0,
        }
    }
}

impl<T: Copy> Matcher<T> {
    /// A matcher that has seen nothing (epoch 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// The current epoch: how many recoveries it has seen.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Notes the send of message `seq` on channel `ch` in the current epoch, with `value`.
    pub fn on_send(&mut self, ch: u32, seq: u64, value: T) {
        self.sends.insert((ch, seq, self.epoch), value);
    }

    /// The send of the message `seq` received on channel `ch` now, if it was seen.
    pub fn on_receive(&self, ch: u32, seq: u64) -> Option<Matched<T>> {
        let received_in = self.epoch;
        self.sends
            .range((ch, seq, 0)..=(ch, seq, received_in))
            .next_back()
            .map(|(&(_, _, sent_in), &send)| Matched {
                send,
                sent_in,
                received_in,
            })
    }

    /// Notes a recovery: a new epoch begins.
    pub fn on_recover(&mut self) {
        self.epoch += 1;
    }

    /// Feeds one event: a send is stored with `value`, a recovery starts an epoch, and a
    /// receive returns its match. Every other event is ignored.
    pub fn observe(&mut self, event: &TraceEvent, value: T) -> Option<Matched<T>> {
        match *event {
            TraceEvent::Send { ch, seq, .. } => self.on_send(ch, seq, value),
            TraceEvent::Receive { ch, seq, .. } => return self.on_receive(ch, seq),
            TraceEvent::Recover { .. } => self.on_recover(),
            _ => {}
        }
        None
    }
}

/// For every event, the index of the send it received: `Some` for receives whose send is in
/// `events`, `None` for everything else.
pub fn match_all(events: &[TraceEvent]) -> Vec<Option<Matched<usize>>> {
    let mut matcher = Matcher::new();
    events
        .iter()
        .enumerate()
        .map(|(i, e)| matcher.observe(e, i))
        .collect()
}

/// The same rule for a caller that keeps only some sends: the cut checker keeps control
/// messages, a few per checkpoint, rather than every send of a ten-million-event run. Without
/// every send, "the latest epoch with this number" cannot be found by looking, so the caller
/// says at each recovery where every channel's numbers restart (the restored cut): a number at
/// or above the restart belongs to the new epoch, one below it means what it meant in the epoch
/// the restored checkpoint was taken in, and so on back. With every send kept, both answers
/// agree: a recovery's new sends start at the restored cut, so below it no later epoch has a
/// send of that number.
#[derive(Debug, Clone, Default)]
pub struct SparseMatcher {
    /// Per channel, the kept sends as (epoch, seq), in sending order (and so sorted).
    kept: Vec<Vec<(u32, u64)>>,
    /// Per recovery, in order: the epoch it restored and each channel's first new number.
    restarts: Vec<Restart>,
}

#[derive(Debug, Clone)]
struct Restart {
    from: u32,
    first_new: Vec<u64>,
}

impl SparseMatcher {
    /// A matcher for `channels` channels that has seen nothing (epoch 0).
    pub fn new(channels: usize) -> Self {
        SparseMatcher {
            kept: vec![Vec::new(); channels],
            restarts: Vec::new(),
        }
    }

    /// The current epoch: how many recoveries it has seen.
    pub fn epoch(&self) -> u32 {
        self.restarts.len() as u32
    }

    /// Keeps the send of message `seq` on channel `ch` in the current epoch.
    #[inline]
    pub fn keep_send(&mut self, ch: u32, seq: u64) {
        let epoch = self.epoch();
        self.kept[ch as usize].push((epoch, seq));
    }

    /// A recovery restored the checkpoint taken in epoch `from`; channel `ch`'s numbers
    /// restart at `first_new[ch]`.
    pub fn on_recover(&mut self, from: u32, first_new: Vec<u64>) {
        self.restarts.push(Restart { from, first_new });
    }

    /// The epoch whose send message `seq` on `ch` is, seen from epoch `epoch`.
    pub fn sent_in(&self, ch: u32, seq: u64, mut epoch: u32) -> u32 {
        while epoch > 0 {
            let r = &self.restarts[epoch as usize - 1];
            if seq >= r.first_new[ch as usize] {
                break;
            }
            epoch = r.from;
        }
        epoch
    }

    /// True when message `seq` on `ch`, seen from `epoch`, is a kept send.
    #[inline]
    pub fn is_kept(&self, ch: u32, seq: u64, epoch: u32) -> bool {
        let sent_in = self.sent_in(ch, seq, epoch);
        self.kept[ch as usize]
            .binary_search(&(sent_in, seq))
            .is_ok()
    }

    /// The kept numbers below `limit` on `ch`, seen from `epoch`, ascending.
    pub fn kept_below(&self, ch: u32, epoch: u32, limit: u64) -> Vec<u64> {
        let kept = &self.kept[ch as usize];
        let (mut epoch, mut limit) = (epoch, limit);
        let mut out = Vec::new();
        loop {
            let first_new = match epoch {
                0 => 0,
                e => self.restarts[e as usize - 1].first_new[ch as usize],
            };
            let from = kept.partition_point(|&k| k < (epoch, first_new));
            let to = kept.partition_point(|&k| k < (epoch, limit));
            if from < to {
                out.extend(kept[from..to].iter().map(|&(_, s)| s));
            }
            if epoch == 0 {
                break;
            }
            limit = limit.min(first_new);
            epoch = self.restarts[epoch as usize - 1].from;
        }
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(ch: u32, seq: u64) -> TraceEvent {
        TraceEvent::Send {
            t: 0,
            ch,
            seq,
            bytes: 8,
            kind: 0,
            tag: 0,
            num: 0,
        }
    }

    fn receive(ch: u32, seq: u64) -> TraceEvent {
        TraceEvent::Receive { t: 0, ch, seq }
    }

    fn recover(checkpoint: u64) -> TraceEvent {
        TraceEvent::Recover { t: 0, checkpoint }
    }

    /// (send index, restored) of every receive, in order.
    fn pairs(events: &[TraceEvent]) -> Vec<Option<(usize, bool)>> {
        events
            .iter()
            .zip(match_all(events))
            .filter(|(e, _)| matches!(e, TraceEvent::Receive { .. }))
            .map(|(_, m)| m.map(|m| (m.send, m.restored())))
            .collect()
    }

    #[test]
    fn without_recoveries_a_receive_matches_the_send_on_its_channel() {
        let events = [
            send(0, 0),
            send(1, 0),
            send(0, 1),
            receive(1, 0),
            receive(0, 0),
            receive(0, 1),
        ];
        assert_eq!(
            pairs(&events),
            [Some((1, false)), Some((0, false)), Some((2, false))]
        );
        assert_eq!(
            match_all(&events)[..3],
            [None, None, None],
            "sends have none"
        );
    }

    #[test]
    fn a_message_restored_once_matches_its_send_before_the_recovery() {
        let events = [
            send(0, 0),
            send(0, 1),
            receive(0, 0),
            recover(1), // Checkpoint 1 recorded seq 1 in flight; new sends go on from 2.
            receive(0, 1),
            send(0, 2),
            receive(0, 2),
        ];
        let all = match_all(&events);
        assert_eq!(
            all[4],
            Some(Matched {
                send: 1,
                sent_in: 0,
                received_in: 1
            })
        );
        assert_eq!(
            pairs(&events),
            [Some((0, false)), Some((1, true)), Some((5, false))]
        );
    }

    #[test]
    fn a_message_restored_twice_matches_its_first_send() {
        // Sent in epoch 0 and recorded by checkpoint 1; restored in epoch 1 and recorded
        // again, still in flight, by checkpoint 2; restored again in epoch 2.
        let events = [
            send(0, 0),
            send(0, 1),
            receive(0, 0),
            recover(1),
            send(0, 2), // Recorded too by checkpoint 2, with seq 1.
            recover(2),
            receive(0, 1),
            receive(0, 2),
        ];
        assert_eq!(
            pairs(&events),
            [Some((0, false)), Some((1, true)), Some((4, true))]
        );
        let all = match_all(&events);
        assert_eq!(all[6].map(|m| (m.sent_in, m.received_in)), Some((0, 2)));
        assert_eq!(all[7].map(|m| (m.sent_in, m.received_in)), Some((1, 2)));
    }

    #[test]
    fn a_resent_message_matches_the_latest_send() {
        // A restart from scratch sends seq 0 again: the receive is of the new send.
        let events = [send(0, 0), recover(0), send(0, 0), receive(0, 0)];
        assert_eq!(pairs(&events), [Some((2, false))]);
    }

    #[test]
    fn a_receive_without_a_send_is_unmatched() {
        let events = [send(0, 0), receive(1, 0), receive(0, 1), receive(0, 0)];
        assert_eq!(pairs(&events), [None, None, Some((0, false))]);
    }

    #[test]
    fn the_incremental_form_carries_the_callers_values() {
        let mut m: Matcher<&str> = Matcher::new();
        m.on_send(3, 7, "first");
        assert_eq!(m.on_receive(3, 7).map(|x| x.send), Some("first"));
        assert_eq!(m.on_receive(3, 8), None);
        m.on_recover();
        assert_eq!(m.epoch(), 1);
        let again = m.on_receive(3, 7).expect("restored");
        assert!(again.restored());
        m.on_send(3, 7, "second");
        assert_eq!(
            m.on_receive(3, 7).map(|x| (x.send, x.restored())),
            Some(("second", false))
        );
    }

    #[test]
    fn a_sparse_matcher_follows_restarts_back_to_the_epoch_of_the_send() {
        let mut m = SparseMatcher::new(1);
        m.keep_send(0, 3); // epoch 0: seq 3 is kept (a marker), 0..10 sent
        m.on_recover(0, vec![5]); // epoch 1 restores a cut at 5 taken in epoch 0
        m.keep_send(0, 7); // epoch 1: seq 7 kept
        assert!(m.is_kept(0, 3, 1), "below the cut: epoch 0's meaning");
        assert!(m.is_kept(0, 7, 1));
        assert!(!m.is_kept(0, 7, 0), "epoch 0 kept no seq 7");
        m.on_recover(1, vec![8]); // epoch 2 restores a cut at 8 taken in epoch 1
        assert_eq!(m.sent_in(0, 3, 2), 0, "restored twice, sent in epoch 0");
        assert_eq!(m.sent_in(0, 7, 2), 1);
        assert_eq!(m.sent_in(0, 9, 2), 2);
        assert!(m.is_kept(0, 3, 2) && m.is_kept(0, 7, 2) && !m.is_kept(0, 6, 2));
        assert_eq!(m.kept_below(0, 2, 8), vec![3, 7]);
        assert_eq!(m.kept_below(0, 1, 7), vec![3]);
        assert_eq!(m.kept_below(0, 0, 10), vec![3]);
    }

    #[test]
    fn sparse_and_full_matchers_agree_when_every_send_is_kept() {
        // Epoch 0 sends 0..6; a checkpoint at 4 is restored; epoch 1 sends 4..8; a second
        // recovery restores the same checkpoint; epoch 2 sends 4..6.
        let mut full = Matcher::new();
        let mut sparse = SparseMatcher::new(1);
        for (range, restart) in [(0..6, None), (4..8, Some(4)), (4..6, Some(4))] {
            if let Some(cut) = restart {
                full.on_recover();
                sparse.on_recover(0, vec![cut]);
            }
            let end = range.end;
            for seq in range {
                full.on_send(0, seq, full.epoch());
                sparse.keep_send(0, seq);
            }
            // Every number a receive can name now: restored ones and those sent so far.
            for seq in 0..end {
                let f = full.on_receive(0, seq).map(|m| m.sent_in);
                let s = sparse.is_kept(0, seq, sparse.epoch());
                assert_eq!(f.is_some(), s, "seq {seq} in epoch {}", sparse.epoch());
                if let Some(f) = f {
                    assert_eq!(f, sparse.sent_in(0, seq, sparse.epoch()), "seq {seq}");
                }
            }
        }
    }
}
