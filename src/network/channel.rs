//! One directed channel: output queue, wire and input queue, with credits.

use std::collections::VecDeque;

use super::{Latency, Message, TaskId};
use crate::engine::rng::RngStream;
use crate::engine::Time;

/// The static properties of a channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelConfig {
    /// Propagation latency once a message is on the wire.
    pub latency: Latency,
    /// Bytes per second the link can carry; `None` means messages take no serialisation time.
    pub bandwidth: Option<u64>,
    /// Bytes the sender may queue before it is back-pressured.
    pub out_capacity: u64,
    /// Bytes the receiver grants as credit: on the wire plus in its input queue.
    pub in_capacity: u64,
    /// FIFO delivery. When false, every message draws its own latency and may overtake others.
    pub fifo: bool,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            latency: Latency::Constant(100_000),
            bandwidth: None,
            out_capacity: 32 * 1024,
            in_capacity: 32 * 1024,
            fifo: true,
        }
    }
}

/// What a call to [`Channel::pump`] put on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pumped {
    /// Messages moved from the output queue to the wire.
    pub moved: usize,
    /// True when the output queue went from full to not full.
    pub unblocked_sender: bool,
}

/// A directed, reliable channel from `src` to `dst`.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Sending task.
    pub src: TaskId,
    /// Receiving task.
    pub dst: TaskId,
    /// Static properties.
    pub config: ChannelConfig,
    out_queue: VecDeque<Message>,
    out_bytes: u64,
    /// In transit, sorted by arrival time.
    wire: VecDeque<Message>,
    wire_bytes: u64,
    inbox: VecDeque<Message>,
    inbox_bytes: u64,
    next_seq: u64,
    last_arrival: Time,
    link_free_at: Time,
    /// Time of the arrival event currently scheduled for this channel, if any.
    pub scheduled_arrival: Option<Time>,
    /// Messages that have crossed the wire, for statistics.
    pub delivered: u64,
    /// (sequence number, latency) of queued messages that carry their own latency (scripts).
    latency_overrides: VecDeque<(u64, Time)>,
}

impl Channel {
    /// An empty channel.
    pub fn new(src: TaskId, dst: TaskId, config: ChannelConfig) -> Self {
        Channel {
            src,
            dst,
            config,
            out_queue: VecDeque::new(),
            out_bytes: 0,
            wire: VecDeque::new(),
            wire_bytes: 0,
            inbox: VecDeque::new(),
            inbox_bytes: 0,
            next_seq: 0,
            last_arrival: 0,
            link_free_at: 0,
            scheduled_arrival: None,
            delivered: 0,
            latency_overrides: VecDeque::new(),
        }
    }

    /// Assigns the next sequence number and appends `msg` to the output queue. A priority
    /// message goes ahead of all queued data (behind earlier priority messages). Returns the
    /// sequence number. The queue accepts the message even when full: the sender checks
    /// [`Channel::out_full`] before it starts new work, as a Flink task checks that its record
    /// writer is available before it processes the next record.
    pub fn send(&mut self, mut msg: Message) -> u64 {
        msg.seq = self.next_seq;
        self.next_seq += 1;
        if msg.is_data() {
            self.out_bytes += u64::from(msg.bytes);
        }
        if msg.priority {
            let pos = self.out_queue.iter().take_while(|m| m.priority).count();
            self.out_queue.insert(pos, msg);
        } else {
            self.out_queue.push_back(msg);
        }
        msg.seq
    }

    /// Sends `msg` with its own latency instead of the channel's (scripted examples).
    pub fn send_with_latency(&mut self, msg: Message, latency: Time) -> u64 {
        let seq = self.send(msg);
        self.latency_overrides.push_back((seq, latency));
        seq
    }

    /// True when the output queue holds at least its capacity of data bytes.
    #[inline]
    pub fn out_full(&self) -> bool {
        self.out_bytes >= self.config.out_capacity
    }

    fn has_credit_for(&self, bytes: u64) -> bool {
        let used = self.wire_bytes + self.inbox_bytes;
        // An empty receiver always takes one message, so a message larger than the whole
        // capacity still gets through instead of deadlocking.
        used == 0 || used + bytes <= self.config.in_capacity
    }

    /// Moves messages from the output queue onto the wire while the receiver has credit.
    pub fn pump(&mut self, now: Time, rng: &mut RngStream) -> Pumped {
        let was_full = self.out_full();
        let mut moved = 0;
        while let Some(head) = self.out_queue.front() {
            if head.is_data() && !self.has_credit_for(u64::from(head.bytes)) {
                break;
            }
            let mut msg = self.out_queue.pop_front().expect("front exists");
            let bytes = u64::from(msg.bytes);
            if msg.is_data() {
                self.out_bytes -= bytes;
                self.wire_bytes += bytes;
            }
            let start = now.max(self.link_free_at);
            let tx = match self.config.bandwidth {
                Some(bw) if bw > 0 => (u128::from(bytes) * 1_000_000_000)
                    .div_ceil(u128::from(bw))
                    .min(u128::from(Time::MAX)) as Time,
                _ => 0,
            };
            self.link_free_at = start.saturating_add(tx);
            let latency = match self.latency_overrides.front() {
                Some(&(seq, l)) if seq == msg.seq => {
                    self.latency_overrides.pop_front();
                    l
                }
                _ => self.config.latency.sample(rng),
            };
            let mut arrive = self.link_free_at.saturating_add(latency);
            if self.config.fifo {
                arrive = arrive.max(self.last_arrival);
                self.last_arrival = arrive;
                msg.arrive_at = arrive;
                self.wire.push_back(msg);
            } else {
                msg.arrive_at = arrive;
                let pos = self.wire.partition_point(|m| m.arrive_at <= arrive);
                self.wire.insert(pos, msg);
            }
            moved += 1;
        }
        Pumped {
            moved,
            unblocked_sender: was_full && !self.out_full(),
        }
    }

    /// The arrival time of the next message on the wire.
    #[inline]
    pub fn next_arrival(&self) -> Option<Time> {
        self.wire.front().map(|m| m.arrive_at)
    }

    /// Moves every message that has arrived by `now` into the input queue, calling `seen` for
    /// each in arrival order. A priority message goes ahead of the queued data, and its `value`
    /// is set to the number of data messages it overtook there. Returns how many arrived and
    /// whether any had priority.
    pub fn arrive(&mut self, now: Time, mut seen: impl FnMut(&Message)) -> (usize, bool) {
        let mut n = 0;
        let mut priority = false;
        while self.wire.front().is_some_and(|m| m.arrive_at <= now) {
            let mut msg = self.wire.pop_front().expect("front exists");
            if msg.is_data() {
                let b = u64::from(msg.bytes);
                self.wire_bytes -= b;
                self.inbox_bytes += b;
            }
            seen(&msg);
            if msg.priority {
                priority = true;
                let pos = self.inbox.iter().take_while(|m| m.priority).count();
                msg.value = self.inbox.iter().skip(pos).filter(|m| m.is_data()).count() as i64;
                self.inbox.insert(pos, msg);
            } else {
                self.inbox.push_back(msg);
            }
            n += 1;
        }
        self.delivered += n as u64;
        (n, priority)
    }

    /// The first message of the input queue, without taking it.
    #[inline]
    pub fn peek(&self) -> Option<&Message> {
        self.inbox.front()
    }

    /// Takes the first message of the input queue; its bytes become credit again.
    #[inline]
    pub fn take(&mut self) -> Option<Message> {
        let msg = self.inbox.pop_front()?;
        if msg.is_data() {
            self.inbox_bytes -= u64::from(msg.bytes);
        }
        Some(msg)
    }

    /// Messages waiting in the input queue, oldest first.
    pub fn inbox(&self) -> impl ExactSizeIterator<Item = &Message> {
        self.inbox.iter()
    }

    /// Messages waiting in the output queue, oldest first.
    pub fn out_queue(&self) -> impl ExactSizeIterator<Item = &Message> {
        self.out_queue.iter()
    }

    /// Number of messages in the input queue.
    #[inline]
    pub fn inbox_len(&self) -> usize {
        self.inbox.len()
    }

    /// Data bytes in the output queue, on the wire, and in the input queue.
    pub fn buffered_bytes(&self) -> (u64, u64, u64) {
        (self.out_bytes, self.wire_bytes, self.inbox_bytes)
    }

    /// Messages anywhere in the channel.
    pub fn in_flight(&self) -> usize {
        self.out_queue.len() + self.wire.len() + self.inbox.len()
    }

    /// Sum of the values of data messages on the wire (money in transit, for the bank).
    pub fn wire_value(&self) -> i64 {
        self.wire
            .iter()
            .filter(|m| m.is_data())
            .map(|m| m.value)
            .sum()
    }

    /// Empties the channel for a restart from a snapshot: the next sequence number becomes
    /// `next_seq` (the sender's count at its snapshot) and `recorded`, the channel state, waits
    /// in the input queue ahead of anything new.
    pub fn restore(&mut self, next_seq: u64, recorded: &[Message], now: Time) {
        let config = self.config;
        *self = Channel::new(self.src, self.dst, config);
        self.next_seq = next_seq;
        self.last_arrival = now;
        self.link_free_at = now;
        for m in recorded {
            let mut m = *m;
            m.arrive_at = now;
            if m.is_data() {
                self.inbox_bytes += u64::from(m.bytes);
            }
            self.inbox.push_back(m);
        }
    }

    /// Holds everything on the wire, and everything sent later, until `until` (a link stall).
    pub fn stall(&mut self, until: Time) {
        for m in self.wire.iter_mut() {
            m.arrive_at = m.arrive_at.max(until);
        }
        self.last_arrival = self.last_arrival.max(until);
        self.link_free_at = self.link_free_at.max(until);
        self.scheduled_arrival = None;
    }

    /// Messages sent so far (the next sequence number).
    pub fn sent(&self) -> u64 {
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RngStreams;
    use crate::network::{Message, Origin};

    fn data(bytes: u32) -> Message {
        Message::data(bytes, 0, 0, Origin::default(), 0)
    }

    fn rng() -> RngStream {
        RngStreams::new(0).stream("test")
    }

    fn cfg(latency: Latency, out: u64, inn: u64) -> ChannelConfig {
        ChannelConfig {
            latency,
            bandwidth: None,
            out_capacity: out,
            in_capacity: inn,
            fifo: true,
        }
    }

    #[test]
    fn fifo_clamps_arrivals_so_nothing_overtakes() {
        // Latencies between 1 and 1000 ns: without the clamp later messages would often
        // arrive first.
        let mut ch = Channel::new(
            0,
            1,
            cfg(Latency::Uniform { min: 1, max: 1000 }, 1 << 30, 1 << 30),
        );
        let mut r = rng();
        for t in 0..200 {
            ch.send(data(1));
            ch.pump(t, &mut r);
        }
        ch.arrive(Time::MAX, |_| {});
        let seqs: Vec<u64> = std::iter::from_fn(|| ch.take()).map(|m| m.seq).collect();
        assert_eq!(seqs, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn non_fifo_channels_reorder() {
        let mut c = cfg(Latency::Uniform { min: 1, max: 1000 }, 1 << 30, 1 << 30);
        c.fifo = false;
        let mut ch = Channel::new(0, 1, c);
        let mut r = rng();
        for t in 0..200 {
            ch.send(data(1));
            ch.pump(t, &mut r);
        }
        ch.arrive(Time::MAX, |_| {});
        let seqs: Vec<u64> = std::iter::from_fn(|| ch.take()).map(|m| m.seq).collect();
        assert_eq!(seqs.len(), 200);
        assert!(seqs.windows(2).any(|w| w[0] > w[1]), "expected reordering");
    }

    #[test]
    fn credits_hold_data_in_the_output_queue_until_the_receiver_consumes() {
        // Room for two 100-byte messages at the receiver.
        let mut ch = Channel::new(0, 1, cfg(Latency::Constant(10), 1000, 200));
        let mut r = rng();
        for _ in 0..5 {
            ch.send(data(100));
        }
        assert_eq!(ch.pump(0, &mut r).moved, 2);
        assert_eq!(ch.buffered_bytes(), (300, 200, 0));
        ch.arrive(10, |_| {});
        assert_eq!(ch.buffered_bytes(), (300, 0, 200));
        // Still no credit: arriving does not free space, consuming does.
        assert_eq!(ch.pump(10, &mut r).moved, 0);
        ch.take();
        assert_eq!(ch.pump(11, &mut r).moved, 1);
        assert_eq!(ch.buffered_bytes(), (200, 100, 100));
    }

    #[test]
    fn a_full_output_queue_blocks_and_draining_it_unblocks() {
        let mut ch = Channel::new(0, 1, cfg(Latency::Constant(10), 200, 100));
        let mut r = rng();
        ch.send(data(100));
        ch.send(data(100));
        ch.send(data(100));
        // One goes on the wire (credit for 100 bytes), two remain: 200 bytes = full.
        ch.pump(0, &mut r);
        assert!(ch.out_full());
        ch.arrive(10, |_| {});
        ch.take();
        let p = ch.pump(10, &mut r);
        assert_eq!(p.moved, 1);
        assert!(p.unblocked_sender);
        assert!(!ch.out_full());
    }

    #[test]
    fn control_messages_need_no_credit_but_keep_their_place() {
        let mut ch = Channel::new(0, 1, cfg(Latency::Constant(10), 1000, 100));
        let mut r = rng();
        ch.send(data(100));
        ch.send(data(100));
        ch.send(Message::control(1, 7, 8, false));
        ch.pump(0, &mut r);
        // The marker waits behind the data that has no credit.
        assert_eq!(ch.out_queue().count(), 2);
        ch.arrive(10, |_| {});
        ch.take();
        ch.pump(10, &mut r);
        ch.arrive(20, |_| {});
        let kinds: Vec<_> = std::iter::from_fn(|| ch.take())
            .map(|m| (m.kind, m.seq))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (crate::network::MsgKind::Data, 1),
                (crate::network::MsgKind::Control, 2)
            ]
        );
    }

    #[test]
    fn priority_messages_overtake_queued_data_at_both_ends() {
        let mut ch = Channel::new(0, 1, cfg(Latency::Constant(10), 1000, 100));
        let mut r = rng();
        ch.send(data(100));
        ch.send(data(100));
        ch.pump(0, &mut r);
        ch.arrive(10, |_| {});
        // One data message in the inbox, one in the output queue without credit.
        ch.send(Message::control(2, 9, 8, true));
        assert_eq!(ch.out_queue().next().map(|m| m.priority), Some(true));
        ch.pump(10, &mut r);
        let (_, prio) = ch.arrive(20, |_| {});
        assert!(prio);
        // It overtook the one data message waiting in the input queue.
        assert!(ch.peek().is_some_and(|m| m.priority && m.value == 1));
    }

    #[test]
    fn bandwidth_serialises_messages_on_the_link() {
        let mut c = cfg(Latency::Constant(0), 1 << 20, 1 << 20);
        c.bandwidth = Some(1_000_000); // 1 MB/s: 1000 bytes take 1 ms.
        let mut ch = Channel::new(0, 1, c);
        let mut r = rng();
        ch.send(data(1000));
        ch.send(data(1000));
        ch.pump(0, &mut r);
        assert_eq!(ch.next_arrival(), Some(1_000_000));
        ch.arrive(1_000_000, |_| {});
        assert_eq!(ch.next_arrival(), Some(2_000_000));
    }
}
