//! Announcements and prioritised barriers (Flink's alignment timeout): arrivals that report
//! the FIFO control messages among them, and moving a queued control message to the head of
//! the input or output queue.

use super::super::pool::NIL;
use super::super::{Message, MessagePool, MsgKind};
use super::Channel;
use crate::engine::Time;

impl Channel {
    /// [`Channel::arrive`], calling `control` for each FIFO control message that arrives (for
    /// announcements). Touches only the arriving records: the first is the head of the wire.
    pub fn arrive_announcing(
        &mut self,
        pool: &mut MessagePool,
        now: Time,
        mut control: impl FnMut(&Message),
    ) -> (usize, bool) {
        if self.wire_priority > 0 {
            return self.arrive_each(pool, now, |m| {
                if m.kind == MsgKind::Control && !m.priority {
                    control(m);
                }
            });
        }
        let mut cur = self.wire_head();
        let n = self.take_due(now);
        for _ in 0..n {
            let s = &pool.slots[cur as usize];
            if s.kind == MsgKind::Control {
                control(&s.unpack());
            }
            cur = s.next;
        }
        self.inbox_len += n;
        (n as usize, false)
    }

    /// The first FIFO control message numbered `num` among `len` records from `head`, the
    /// record before it (`NIL` if first), and the data records ahead of it.
    fn find_fifo_control(
        pool: &MessagePool,
        head: u32,
        len: u32,
        num: u64,
    ) -> Option<(u32, u32, Vec<Message>)> {
        let mut prev = NIL;
        let mut cur = head;
        let mut ahead = Vec::new();
        for _ in 0..len {
            let s = &pool.slots[cur as usize];
            if s.kind == MsgKind::Control && s.num == num && !s.priority {
                return Some((prev, cur, ahead));
            }
            if s.is_data() {
                ahead.push(s.unpack());
            }
            prev = cur;
            cur = s.next;
        }
        None
    }

    /// Makes the queued FIFO control message `num` of the input queue a priority message at its
    /// head (behind earlier priority messages), as an alignment timeout does with an announced
    /// barrier. Returns the data messages it jumped, oldest first, or `None` if it is not
    /// queued. Its `value` becomes the number jumped, as for a priority arrival.
    pub fn prioritise_inbox(&mut self, pool: &mut MessagePool, num: u64) -> Option<Vec<Message>> {
        let (prev, i, jumped) =
            Self::find_fifo_control(pool, self.queue.head, self.inbox_len, num)?;
        self.queue.unlink_after(pool, prev, i);
        let slot = &mut pool.slots[i as usize];
        slot.priority = true;
        slot.value = jumped.len() as i64;
        // The leading priority run ends before `i`'s old place: relink it after that run.
        let mut end = NIL;
        let mut j = self.queue.head;
        for _ in 0..self.inbox_len - 1 {
            let s = &pool.slots[j as usize];
            if !s.priority {
                break;
            }
            end = j;
            j = s.next;
        }
        self.queue.insert_after(pool, end, i);
        Some(jumped)
    }

    /// Makes the queued FIFO control message `num` of the output queue a priority message at its
    /// head (behind earlier priority messages), as Flink's output-side alignment timeout does.
    /// Returns the data messages it jumped (still queued, still to be delivered), or `None` if
    /// it has left the queue.
    pub fn prioritise_out(&mut self, pool: &mut MessagePool, num: u64) -> Option<Vec<Message>> {
        let (prev, i, jumped) =
            Self::find_fifo_control(pool, self.out_queue.head, self.out_queue.len, num)?;
        self.out_queue.unlink_after(pool, prev, i);
        pool.slots[i as usize].priority = true;
        self.out_queue.insert_after_prefix(pool, i, |s| s.priority);
        Some(jumped)
    }
}

#[cfg(test)]
mod tests {
    use super::super::ChannelConfig;
    use super::*;
    use crate::engine::RngStreams;
    use crate::network::{Latency, Origin};

    fn data(num: u64) -> Message {
        Message::data(100, num, 0, Origin::default(), 0)
    }

    fn channel() -> Channel {
        Channel::new(
            0,
            1,
            ChannelConfig {
                latency: Latency::Constant(10),
                bandwidth: None,
                out_capacity: 1 << 20,
                in_capacity: 1 << 20,
                fifo: true,
            },
        )
    }

    /// Sends `msgs`, lets them all arrive, and returns the control numbers announced.
    fn deliver(ch: &mut Channel, p: &mut MessagePool, msgs: &[Message]) -> Vec<u64> {
        let mut rng = RngStreams::new(0).stream("test");
        for m in msgs {
            ch.send(p, *m);
        }
        ch.pump(p, 0, &mut rng);
        let mut seen = Vec::new();
        ch.arrive_announcing(p, 100, |m| seen.push(m.num));
        seen
    }

    #[test]
    fn the_alternating_checkpoints_sequences_persist_the_three_overtaken_buffers() {
        // Flink's AlternatingCheckpointsTest: ch0 = [d, d, B1], ch1 = [d, B1].
        let mut p = MessagePool::new();
        let barrier = Message::control(2, 1, 32, false);
        let mut ch0 = channel();
        let mut ch1 = channel();
        assert_eq!(
            deliver(&mut ch0, &mut p, &[data(1), data(2), barrier]),
            vec![1]
        );
        assert_eq!(deliver(&mut ch1, &mut p, &[data(3), barrier]), vec![1]);
        let j0 = ch0.prioritise_inbox(&mut p, 1).expect("queued");
        let j1 = ch1.prioritise_inbox(&mut p, 1).expect("queued");
        assert_eq!(
            j0.iter().chain(&j1).map(|m| m.num).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // Both barriers are taken first, then the data they jumped, in order.
        for (ch, nums) in [(&mut ch0, vec![1, 1, 2]), (&mut ch1, vec![1, 3])] {
            let first = ch.take(&mut p).unwrap();
            assert!(first.priority && first.kind == MsgKind::Control);
            let rest: Vec<u64> = std::iter::from_fn(|| ch.take(&mut p))
                .map(|m| m.num)
                .collect();
            assert_eq!(rest, nums[1..]);
        }
        // A barrier no longer queued is not found.
        assert!(ch0.prioritise_inbox(&mut p, 1).is_none());
    }

    #[test]
    fn a_prioritised_barrier_stays_behind_earlier_priority_messages() {
        let mut p = MessagePool::new();
        let mut ch = channel();
        deliver(
            &mut ch,
            &mut p,
            &[
                Message::control(3, 9, 32, true),
                data(1),
                Message::control(2, 1, 32, false),
            ],
        );
        assert_eq!(ch.prioritise_inbox(&mut p, 1).unwrap().len(), 1);
        let order: Vec<(u8, u64)> = std::iter::from_fn(|| ch.take(&mut p))
            .map(|m| (m.tag, m.num))
            .collect();
        assert_eq!(order, [(3, 9), (2, 1), (0, 1)]);
    }

    #[test]
    fn the_output_timeout_copies_the_data_ahead_and_moves_the_barrier_to_the_head() {
        let mut p = MessagePool::new();
        let mut ch = channel();
        for m in [data(1), data(2), Message::control(2, 4, 32, false), data(3)] {
            ch.send(&mut p, m);
        }
        let copied = ch.prioritise_out(&mut p, 4).expect("still queued");
        assert_eq!(copied.iter().map(|m| m.num).collect::<Vec<_>>(), [1, 2]);
        let order: Vec<(bool, u64)> = ch.out_queue(&p).map(|m| (m.priority, m.num)).collect();
        assert_eq!(order, [(true, 4), (false, 1), (false, 2), (false, 3)]);
        // Once it has left, nothing happens.
        let mut rng = RngStreams::new(0).stream("test");
        ch.pump(&mut p, 0, &mut rng);
        assert!(ch.prioritise_out(&mut p, 4).is_none());
    }
}
