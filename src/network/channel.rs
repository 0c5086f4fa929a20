//! One directed channel: output queue, wire and input queue, with credits.
//!
//! The messages themselves live in the [`MessagePool`] shared by every channel. Putting a
//! message on the wire relinks its record without copying; its arrival only moves the
//! boundary between wire and input queue, which share one list (plus a 16-byte entry per
//! group of records on a wire that arrive at the same instant).

use std::collections::VecDeque;

mod prioritise;

use super::pool::{nth, List, Slot, NIL};
use super::{Latency, Message, MessagePool, TaskId};
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

/// Consecutive records on the wire that arrive at the same instant.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    at: Time,
    /// The group's first record; the others follow it in the channel's list.
    first: u32,
    count: u32,
}

impl Arrival {
    /// A group of the one record `first`, arriving at `at`.
    fn one(at: Time, first: u32) -> Self {
        Arrival {
            at,
            first,
            count: 1,
        }
    }
}

/// A directed, reliable channel from `src` to `dst`. Its messages live in the
/// [`MessagePool`] passed to every call that touches them.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Sending task.
    pub src: TaskId,
    /// Receiving task.
    pub dst: TaskId,
    /// Static properties.
    pub config: ChannelConfig,
    out_queue: List,
    /// The input queue followed by the wire, in one list: its first `inbox_len` records have
    /// arrived, the rest are in transit, sorted by arrival time. An arrival then moves the
    /// boundary instead of relinking records, and touches none of them: walking the records
    /// that arrive together was a chain of cache misses, one per record, each waiting for
    /// the last (with 10,000 messages in flight they are no longer in the processor's
    /// nearest caches when they arrive).
    queue: List,
    inbox_len: u32,
    /// The records on the wire grouped by arrival time, earliest first.
    arrivals: VecDeque<Arrival>,
    /// Priority records on the wire: their arrival reorders the input queue, which takes
    /// the record-by-record path.
    wire_priority: u32,
    out_bytes: u64,
    /// Data bytes on the wire and in the input queue: the receiver's credit in use.
    queued_bytes: u64,
    next_seq: u64,
    last_arrival: Time,
    link_free_at: Time,
    /// Time of the arrival event currently scheduled for this channel, `NO_ARRIVAL` if
    /// none: a plain time keeps the channel within three cache lines. (`Time::MAX` is
    /// beyond the end of every run, so no real arrival is mistaken for none.)
    scheduled_arrival: Time,
    /// (sequence number, latency) of queued messages that carry their own latency (scripts).
    /// Boxed: only scripted runs have any, and every byte of a channel counts when thousands
    /// of them share the caches with a million messages (an empty `VecDeque` is 32 bytes,
    /// the box 8: this is the extra allocation the lint warns of, taken on purpose).
    #[allow(clippy::box_collection)]
    latency_overrides: Option<Box<VecDeque<(u64, Time)>>>,
}

/// The `scheduled_arrival` of a channel with no arrival event scheduled.
const NO_ARRIVAL: Time = Time::MAX;

// Three cache lines: with thousands of channels, each line more is a miss more per send.
const _: () = assert!(std::mem::size_of::<Channel>() <= 192);

impl Channel {
    /// The time of the arrival event scheduled for this channel, if any.
    #[inline]
    pub fn scheduled_arrival(&self) -> Option<Time> {
        (self.scheduled_arrival != NO_ARRIVAL).then_some(self.scheduled_arrival)
    }

    /// Records that an arrival event is scheduled at `at` (or none).
    #[inline]
    pub fn set_scheduled_arrival(&mut self, at: Option<Time>) {
        self.scheduled_arrival = at.unwrap_or(NO_ARRIVAL);
    }

    /// An empty channel.
    pub fn new(src: TaskId, dst: TaskId, config: ChannelConfig) -> Self {
        Channel {
            src,
            dst,
            config,
            out_queue: List::EMPTY,
            queue: List::EMPTY,
            inbox_len: 0,
            arrivals: VecDeque::new(),
            wire_priority: 0,
            out_bytes: 0,
            queued_bytes: 0,
            next_seq: 0,
            last_arrival: 0,
            link_free_at: 0,
            scheduled_arrival: NO_ARRIVAL,
            latency_overrides: None,
        }
    }

    /// Assigns the next sequence number and appends `msg` to the output queue. A priority
    /// message goes ahead of all queued data (behind earlier priority messages). Returns the
    /// sequence number. The queue accepts the message even when full: the sender checks
    /// [`Channel::out_full`] before it starts new work, as a Flink task checks that its record
    /// writer is available before it processes the next record.
    #[inline]
    pub fn send(&mut self, pool: &mut MessagePool, msg: Message) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if msg.is_data() {
            self.out_bytes += u64::from(msg.bytes);
        }
        let mut slot = Slot::pack(&msg);
        slot.seq = seq;
        let i = pool.alloc(slot);
        if msg.priority {
            self.out_queue.insert_after_prefix(pool, i, |s| s.priority);
        } else {
            self.out_queue.push_back(pool, i);
        }
        seq
    }

    /// Sends `msg` with its own latency instead of the channel's (scripted examples).
    pub fn send_with_latency(
        &mut self,
        pool: &mut MessagePool,
        msg: Message,
        latency: Time,
    ) -> u64 {
        let seq = self.send(pool, msg);
        self.latency_overrides
            .get_or_insert_default()
            .push_back((seq, latency));
        seq
    }

    /// True when the output queue holds at least its capacity of data bytes.
    #[inline]
    pub fn out_full(&self) -> bool {
        self.out_bytes >= self.config.out_capacity
    }

    #[inline]
    fn has_credit_for(&self, bytes: u64) -> bool {
        // An empty receiver always takes one message, so a message larger than the whole
        // capacity still gets through instead of deadlocking.
        self.queued_bytes == 0 || self.queued_bytes + bytes <= self.config.in_capacity
    }

    /// Moves messages from the output queue onto the wire while the receiver has credit.
    pub fn pump(&mut self, pool: &mut MessagePool, now: Time, rng: &mut RngStream) -> Pumped {
        let was_full = self.out_full();
        let mut moved = 0;
        while self.out_queue.head != NIL {
            let i = self.out_queue.head;
            let (bytes, is_data, seq) = {
                let s = &pool.slots[i as usize];
                (u64::from(s.bytes), s.is_data(), s.seq)
            };
            if is_data {
                if !self.has_credit_for(bytes) {
                    break;
                }
                self.out_bytes -= bytes;
                self.queued_bytes += bytes;
            }
            self.out_queue.pop_front(pool);
            let latency = match self.latency_overrides.as_deref_mut() {
                Some(overrides) if overrides.front().is_some_and(|&(s, _)| s == seq) => {
                    overrides.pop_front().map(|(_, l)| l)
                }
                _ => None,
            };
            self.launch(pool, i, bytes, latency, now, rng);
            moved += 1;
        }
        Pumped {
            moved,
            unblocked_sender: was_full && !self.out_full(),
        }
    }

    /// Puts record `i` of `bytes` on the wire at `now`: serialisation behind what the link is
    /// still sending, then its own latency (or the channel's), then the FIFO clamp.
    #[inline]
    fn launch(
        &mut self,
        pool: &mut MessagePool,
        i: u32,
        bytes: u64,
        latency: Option<Time>,
        now: Time,
        rng: &mut RngStream,
    ) {
        let start = now.max(self.link_free_at);
        let tx = match self.config.bandwidth {
            Some(bw) if bw > 0 => (u128::from(bytes) * 1_000_000_000)
                .div_ceil(u128::from(bw))
                .min(u128::from(Time::MAX)) as Time,
            _ => 0,
        };
        self.link_free_at = start.saturating_add(tx);
        let latency = latency.unwrap_or_else(|| self.config.latency.sample(rng));
        let mut arrive = self.link_free_at.saturating_add(latency);
        if self.config.fifo {
            arrive = arrive.max(self.last_arrival);
            self.last_arrival = arrive;
        }
        self.put_on_wire(pool, i, arrive);
    }

    /// [`Channel::send`] (with its own `latency` if given) then [`Channel::pump`], in one step
    /// when nothing waits in the output queue and the receiver has credit: the message goes
    /// straight on the wire, exactly as the two calls would put it. Returns the sequence
    /// number, how many messages went on the wire, and whether the output queue was used (if
    /// not, whether it is full cannot have changed).
    #[inline]
    pub fn send_and_pump(
        &mut self,
        pool: &mut MessagePool,
        msg: &Message,
        latency: Option<Time>,
        now: Time,
        rng: &mut RngStream,
    ) -> (u64, usize, bool) {
        let bytes = u64::from(msg.bytes);
        if self.out_queue.len > 0 || (msg.is_data() && !self.has_credit_for(bytes)) {
            let seq = match latency {
                Some(l) => self.send_with_latency(pool, *msg, l),
                None => self.send(pool, *msg),
            };
            return (seq, self.pump(pool, now, rng).moved, true);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if msg.is_data() {
            self.queued_bytes += bytes;
        }
        let mut slot = Slot::pack(msg);
        slot.seq = seq;
        let i = pool.alloc(slot);
        self.launch(pool, i, bytes, latency, now, rng);
        (seq, 1, false)
    }

    /// Puts record `i`, arriving at `at`, on the wire after every message arriving no later.
    /// A group's count cannot overflow: the pool holds fewer than `u32::MAX` records.
    #[inline]
    fn put_on_wire(&mut self, pool: &mut MessagePool, i: u32, at: Time) {
        let slot = &mut pool.slots[i as usize];
        slot.arrive_at = at;
        if slot.priority {
            self.wire_priority += 1;
        }
        match self.arrivals.back_mut() {
            // Only a reordering channel puts a record ahead of one already on the wire.
            Some(last) if last.at > at => self.insert_on_wire(pool, i, at),
            Some(last) if last.at == at => {
                last.count += 1;
                self.queue.push_back(pool, i);
            }
            _ => {
                self.arrivals.push_back(Arrival::one(at, i));
                self.queue.push_back(pool, i);
            }
        }
    }

    /// Links record `i` into the wire of a reordering channel just before the first record
    /// that arrives later than `at`.
    fn insert_on_wire(&mut self, pool: &mut MessagePool, i: u32, at: Time) {
        let k = self.arrivals.partition_point(|a| a.at <= at);
        debug_assert!(k < self.arrivals.len(), "some record arrives later");
        let prev = match k {
            0 => self.inbox_tail(pool),
            _ => {
                let group = self.arrivals[k - 1];
                nth(pool, group.first, group.count - 1)
            }
        };
        self.queue.insert_after(pool, prev, i);
        match k {
            0 => self.arrivals.push_front(Arrival::one(at, i)),
            _ if self.arrivals[k - 1].at == at => self.arrivals[k - 1].count += 1,
            _ => self.arrivals.insert(k, Arrival::one(at, i)),
        }
    }

    /// The last record of the input queue, or `NIL` when it is empty.
    fn inbox_tail(&self, pool: &MessagePool) -> u32 {
        match self.inbox_len {
            0 => NIL,
            n => nth(pool, self.queue.head, n - 1),
        }
    }

    /// The first record on the wire, or `NIL`.
    fn wire_head(&self) -> u32 {
        self.arrivals.front().map_or(NIL, |a| a.first)
    }

    /// The arrival time of the next message on the wire.
    #[inline]
    pub fn next_arrival(&self) -> Option<Time> {
        self.arrivals.front().map(|a| a.at)
    }

    /// Asks the processor for the record at the head of the input queue, the next to be
    /// taken.
    #[inline]
    pub fn prefetch_inbox_head(&self, pool: &MessagePool) {
        if self.inbox_len > 0 {
            if let Some(slot) = pool.slots.get(self.queue.head as usize) {
                crate::engine::prefetch(slot);
            }
        }
    }

    /// Moves every message that has arrived by `now` into the input queue. Returns how many
    /// arrived and whether any had priority. Unless one has priority, no record is touched.
    #[inline]
    pub fn arrive(&mut self, pool: &mut MessagePool, now: Time) -> (usize, bool) {
        if self.wire_priority > 0 {
            return self.arrive_each(pool, now, |_| {});
        }
        let n = self.take_due(now);
        self.inbox_len += n;
        (n as usize, false)
    }

    /// Removes the groups due by `now` and returns how many records they hold.
    #[inline]
    fn take_due(&mut self, now: Time) -> u32 {
        let mut n = 0;
        while let Some(a) = self.arrivals.front() {
            if a.at > now {
                break;
            }
            n += a.count;
            self.arrivals.pop_front();
        }
        n
    }

    /// [`Channel::arrive`], calling `seen` for each message in arrival order (as a snapshot
    /// recording the channel must). A priority message goes ahead of the queued data, and its
    /// `value` is set to the number of data messages it overtook there.
    pub fn arrive_each(
        &mut self,
        pool: &mut MessagePool,
        now: Time,
        mut seen: impl FnMut(&Message),
    ) -> (usize, bool) {
        let n = self.take_due(now);
        if n == 0 {
            return (0, false);
        }
        // `prev` is the last record of the input queue, `cur` the next to arrive.
        let mut prev = self.inbox_tail(pool);
        let mut cur = match prev {
            NIL => self.queue.head,
            p => pool.slots[p as usize].next,
        };
        let mut priority = false;
        for _ in 0..n {
            let slot = pool.slots[cur as usize];
            seen(&slot.unpack());
            if slot.priority {
                priority = true;
                self.wire_priority -= 1;
                let (prefix_end, overtaken) = self.priority_prefix(pool);
                pool.slots[cur as usize].value = overtaken as i64;
                if prefix_end == prev {
                    // Everything queued has priority too: the record is already in place.
                    prev = cur;
                } else {
                    self.queue.unlink_after(pool, prev, cur);
                    self.queue.insert_after(pool, prefix_end, cur);
                }
            } else {
                prev = cur;
            }
            self.inbox_len += 1;
            cur = slot.next;
        }
        (n as usize, priority)
    }

    /// The last record of the input queue's leading run of priority messages (`NIL` if it
    /// starts with something else), and the number of data messages after that run.
    fn priority_prefix(&self, pool: &MessagePool) -> (u32, u64) {
        let mut end = NIL;
        let mut overtaken = 0;
        let mut in_prefix = true;
        let mut j = self.queue.head;
        for _ in 0..self.inbox_len {
            let s = &pool.slots[j as usize];
            if in_prefix && s.priority {
                end = j;
            } else {
                in_prefix = false;
                overtaken += u64::from(s.is_data());
            }
            j = s.next;
        }
        (end, overtaken)
    }

    /// The first message of the input queue, without taking it.
    #[inline]
    pub fn peek(&self, pool: &MessagePool) -> Option<Message> {
        self.inbox_front(pool).map(Slot::unpack)
    }

    #[inline]
    fn inbox_front<'a>(&self, pool: &'a MessagePool) -> Option<&'a Slot> {
        if self.inbox_len == 0 {
            return None;
        }
        self.queue.front(pool)
    }

    /// True when the first message of the input queue is not data.
    #[inline]
    pub fn control_at_head(&self, pool: &MessagePool) -> bool {
        self.inbox_front(pool).is_some_and(|s| !s.is_data())
    }

    /// Takes the first message of the input queue and returns its record, which stays out of
    /// the pool until the caller releases it ([`MessagePool::release_held`]); its bytes become
    /// credit again at once. A task holds the record while it processes the message, rather
    /// than copying the 64 bytes out and back.
    #[inline]
    pub fn take_held(&mut self, pool: &MessagePool) -> Option<u32> {
        if self.inbox_len == 0 {
            return None;
        }
        let i = self.queue.pop_front(pool)?;
        self.inbox_len -= 1;
        let s = &pool.slots[i as usize];
        if s.is_data() {
            self.queued_bytes -= u64::from(s.bytes);
        }
        Some(i)
    }

    /// Takes the first message of the input queue; its bytes become credit again.
    #[inline]
    pub fn take(&mut self, pool: &mut MessagePool) -> Option<Message> {
        let i = self.take_held(pool)?;
        let msg = pool.held(i);
        pool.release_held(i);
        Some(msg)
    }

    /// Messages waiting in the input queue, oldest first.
    pub fn inbox<'a>(&self, pool: &'a MessagePool) -> impl Iterator<Item = Message> + 'a {
        self.queue
            .iter(pool)
            .take(self.inbox_len as usize)
            .map(Slot::unpack)
    }

    /// Messages waiting in the output queue, oldest first.
    pub fn out_queue<'a>(&self, pool: &'a MessagePool) -> impl Iterator<Item = Message> + 'a {
        self.out_queue.iter(pool).map(Slot::unpack)
    }

    /// Number of messages in the output queue.
    #[inline]
    pub fn out_queue_len(&self) -> usize {
        self.out_queue.len as usize
    }

    /// Number of messages in the input queue.
    #[inline]
    pub fn inbox_len(&self) -> usize {
        self.inbox_len as usize
    }

    /// Data bytes in the output queue, on the wire, and in the input queue. The input queue's
    /// share is counted from its records: arrivals do not touch them to keep a running sum.
    pub fn buffered_bytes(&self, pool: &MessagePool) -> (u64, u64, u64) {
        let inbox: u64 = self
            .queue
            .iter(pool)
            .take(self.inbox_len as usize)
            .filter(|s| s.is_data())
            .map(|s| u64::from(s.bytes))
            .sum();
        (self.out_bytes, self.queued_bytes - inbox, inbox)
    }

    /// Messages anywhere in the channel.
    pub fn in_flight(&self) -> usize {
        (self.out_queue.len + self.queue.len) as usize
    }

    /// Sum of the values of data messages on the wire (money in transit, for the bank).
    pub fn wire_value(&self, pool: &MessagePool) -> i64 {
        self.queue
            .iter(pool)
            .skip(self.inbox_len as usize)
            .filter(|s| s.is_data())
            .map(|s| s.value)
            .sum()
    }

    /// Empties the channel for a restart from a snapshot: the next sequence number becomes
    /// `next_seq` (the sender's count at its snapshot) and `recorded`, the channel state, waits
    /// in the input queue ahead of anything new.
    pub fn restore(
        &mut self,
        pool: &mut MessagePool,
        next_seq: u64,
        recorded: &[Message],
        now: Time,
    ) {
        self.out_queue.clear(pool);
        self.queue.clear(pool);
        let (src, dst, config) = (self.src, self.dst, self.config);
        *self = Channel::new(src, dst, config);
        self.next_seq = next_seq;
        self.last_arrival = now;
        self.link_free_at = now;
        for m in recorded {
            let mut slot = Slot::pack(m);
            slot.arrive_at = now;
            if slot.is_data() {
                self.queued_bytes += u64::from(slot.bytes);
            }
            let i = pool.alloc(slot);
            self.queue.push_back(pool, i);
            self.inbox_len += 1;
        }
    }

    /// Holds everything on the wire, and everything sent later, until `until` (a link stall).
    pub fn stall(&mut self, pool: &mut MessagePool, until: Time) {
        let mut cur = self.wire_head();
        while cur != NIL {
            let s = &mut pool.slots[cur as usize];
            s.arrive_at = s.arrive_at.max(until);
            cur = s.next;
        }
        // The groups due by then become one, arriving at `until`.
        let mut held: Option<Arrival> = None;
        while let Some(&a) = self.arrivals.front() {
            if a.at > until {
                break;
            }
            self.arrivals.pop_front();
            match held.as_mut() {
                Some(h) => h.count += a.count,
                None => held = Some(Arrival { at: until, ..a }),
            }
        }
        if let Some(h) = held {
            self.arrivals.push_front(h);
        }
        self.last_arrival = self.last_arrival.max(until);
        self.link_free_at = self.link_free_at.max(until);
        self.scheduled_arrival = NO_ARRIVAL;
    }

    /// Data bytes on the wire and in the input queue: the receiver's credit in use.
    #[inline]
    pub fn credit_in_use(&self) -> u64 {
        self.queued_bytes
    }

    /// Data bytes in the output queue.
    #[inline]
    pub fn out_bytes(&self) -> u64 {
        self.out_bytes
    }

    /// Data bytes in the output queue beyond its capacity: what the sender took beyond its
    /// buffers (its overdraft).
    #[inline]
    pub fn out_excess(&self) -> u64 {
        self.out_bytes.saturating_sub(self.config.out_capacity)
    }

    /// Drops data from the head of the output queue while it holds more than its capacity,
    /// stopping at the first control message, and returns how many messages went. Only a
    /// deliberately broken variant does this: the data is lost.
    pub fn drop_out_excess(&mut self, pool: &mut MessagePool) -> usize {
        let mut dropped = 0;
        while self.out_bytes > self.config.out_capacity {
            match self.out_queue.front(pool) {
                Some(s) if s.is_data() => {
                    let bytes = u64::from(s.bytes);
                    let i = self.out_queue.pop_front(pool).expect("a head");
                    pool.release(i);
                    self.out_bytes -= bytes;
                    dropped += 1;
                }
                _ => break,
            }
        }
        dropped
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

    /// Sends 200 one-byte messages, one per nanosecond, with latencies between 1 and 1000 ns,
    /// and returns their sequence numbers in the order they were delivered.
    fn delivery_order(fifo: bool) -> Vec<u64> {
        let mut c = cfg(Latency::Uniform { min: 1, max: 1000 }, 1 << 30, 1 << 30);
        c.fifo = fifo;
        let mut p = MessagePool::new();
        let mut ch = Channel::new(0, 1, c);
        let mut r = rng();
        for t in 0..200 {
            ch.send(&mut p, data(1));
            ch.pump(&mut p, t, &mut r);
        }
        ch.arrive(&mut p, Time::MAX);
        std::iter::from_fn(|| ch.take(&mut p))
            .map(|m| m.seq)
            .collect()
    }

    #[test]
    fn fifo_clamps_arrivals_so_nothing_overtakes() {
        // Without the clamp later messages would often arrive first.
        assert_eq!(delivery_order(true), (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn non_fifo_channels_reorder() {
        let seqs = delivery_order(false);
        assert_eq!(seqs.len(), 200);
        assert!(seqs.windows(2).any(|w| w[0] > w[1]), "expected reordering");
    }

    #[test]
    fn a_reordering_wire_delivers_by_arrival_time_then_send_order() {
        let mut c = cfg(Latency::Uniform { min: 1, max: 50 }, 1 << 30, 1 << 30);
        c.fifo = false;
        let mut p = MessagePool::new();
        let mut ch = Channel::new(0, 1, c);
        let mut r = rng();
        // Batches of (time of the arrival call, what arrived), arrivals interleaved with sends
        // so that the wire is walked while it changes.
        let mut batches: Vec<(Time, Vec<Message>)> = Vec::new();
        let mut take_batch = |ch: &mut Channel, p: &mut MessagePool, t: Time| {
            ch.arrive(p, t);
            batches.push((t, std::iter::from_fn(|| ch.take(p)).collect()));
        };
        for t in 0..400 {
            ch.send(&mut p, data(1));
            ch.pump(&mut p, t, &mut r);
            if t % 7 == 0 {
                take_batch(&mut ch, &mut p, t);
            }
        }
        while let Some(t) = ch.next_arrival() {
            take_batch(&mut ch, &mut p, t);
        }
        assert_eq!(p.live(), 0, "every record went back to the pool");
        let mut last_batch = 0;
        let mut count = 0;
        for (t, batch) in &batches {
            for m in batch {
                assert!(m.arrive_at <= *t && (count == 0 || m.arrive_at > last_batch));
            }
            for w in batch.windows(2) {
                assert!((w[0].arrive_at, w[0].seq) < (w[1].arrive_at, w[1].seq));
            }
            if !batch.is_empty() {
                last_batch = *t;
            }
            count += batch.len();
        }
        assert_eq!(count, 400);
    }

    #[test]
    fn credits_hold_data_in_the_output_queue_until_the_receiver_consumes() {
        // Room for two 100-byte messages at the receiver.
        let mut p = MessagePool::new();
        let mut ch = Channel::new(0, 1, cfg(Latency::Constant(10), 1000, 200));
        let mut r = rng();
        for _ in 0..5 {
            ch.send(&mut p, data(100));
        }
        assert_eq!(ch.pump(&mut p, 0, &mut r).moved, 2);
        assert_eq!(ch.buffered_bytes(&p), (300, 200, 0));
        ch.arrive(&mut p, 10);
        assert_eq!(ch.buffered_bytes(&p), (300, 0, 200));
        // Still no credit: arriving does not free space, consuming does.
        assert_eq!(ch.pump(&mut p, 10, &mut r).moved, 0);
        ch.take(&mut p);
        assert_eq!(ch.pump(&mut p, 11, &mut r).moved, 1);
        assert_eq!(ch.buffered_bytes(&p), (200, 100, 100));
    }

    #[test]
    fn the_scheduled_arrival_reads_back_what_was_set_including_none() {
        let mut ch = Channel::new(0, 1, cfg(Latency::Constant(10), 1000, 100));
        assert_eq!(ch.scheduled_arrival(), None);
        for at in [Some(0), Some(7), Some(Time::MAX - 1), None] {
            ch.set_scheduled_arrival(at);
            assert_eq!(ch.scheduled_arrival(), at);
        }
    }

    #[test]
    fn a_held_record_frees_its_credit_at_once_and_its_slot_on_release() {
        let mut p = MessagePool::new();
        let mut ch = Channel::new(0, 1, cfg(Latency::Constant(10), 1000, 100));
        let mut r = rng();
        let mut m = data(100);
        m.value = 42;
        ch.send(&mut p, m);
        ch.send(&mut p, data(100));
        ch.pump(&mut p, 0, &mut r);
        ch.arrive(&mut p, 10);
        let held = ch.take_held(&p).expect("one arrived");
        assert_eq!((p.held(held).value, p.held(held).seq), (42, 0));
        // The credit is back: the second message goes on the wire now.
        assert_eq!(ch.buffered_bytes(&p), (100, 0, 0));
        assert_eq!(ch.pump(&mut p, 11, &mut r).moved, 1);
        assert_eq!(p.live(), 2, "the held record stays out of the pool");
        p.release_held(held);
        assert_eq!(p.live(), 1);
        assert_eq!(ch.take_held(&p), None, "nothing else has arrived");
    }

    #[test]
    fn a_full_output_queue_blocks_and_draining_it_unblocks() {
        let mut p = MessagePool::new();
        let mut ch = Channel::new(0, 1, cfg(Latency::Constant(10), 200, 100));
        let mut r = rng();
        ch.send(&mut p, data(100));
        ch.send(&mut p, data(100));
        ch.send(&mut p, data(100));
        // One goes on the wire (credit for 100 bytes), two remain: 200 bytes = full.
        ch.pump(&mut p, 0, &mut r);
        assert!(ch.out_full());
        ch.arrive(&mut p, 10);
        ch.take(&mut p);
        let p = ch.pump(&mut p, 10, &mut r);
        assert_eq!(p.moved, 1);
        assert!(p.unblocked_sender);
        assert!(!ch.out_full());
    }

    #[test]
    fn control_messages_need_no_credit_but_keep_their_place() {
        let mut p = MessagePool::new();
        let mut ch = Channel::new(0, 1, cfg(Latency::Constant(10), 1000, 100));
        let mut r = rng();
        ch.send(&mut p, data(100));
        ch.send(&mut p, data(100));
        ch.send(&mut p, Message::control(1, 7, 8, false));
        ch.pump(&mut p, 0, &mut r);
        // The marker waits behind the data that has no credit.
        assert_eq!(ch.out_queue(&p).count(), 2);
        ch.arrive(&mut p, 10);
        ch.take(&mut p);
        ch.pump(&mut p, 10, &mut r);
        ch.arrive(&mut p, 20);
        let kinds: Vec<_> = std::iter::from_fn(|| ch.take(&mut p))
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
        let mut p = MessagePool::new();
        let mut ch = Channel::new(0, 1, cfg(Latency::Constant(10), 1000, 100));
        let mut r = rng();
        ch.send(&mut p, data(100));
        ch.send(&mut p, data(100));
        ch.pump(&mut p, 0, &mut r);
        ch.arrive(&mut p, 10);
        // One data message in the inbox, one in the output queue without credit.
        ch.send(&mut p, Message::control(2, 9, 8, true));
        assert_eq!(ch.out_queue(&p).next().map(|m| m.priority), Some(true));
        ch.pump(&mut p, 10, &mut r);
        let (_, prio) = ch.arrive(&mut p, 20);
        assert!(prio);
        // It overtook the one data message waiting in the input queue.
        assert!(ch.peek(&p).is_some_and(|m| m.priority && m.value == 1));
    }

    #[test]
    fn bandwidth_serialises_messages_on_the_link() {
        let mut c = cfg(Latency::Constant(0), 1 << 20, 1 << 20);
        c.bandwidth = Some(1_000_000); // 1 MB/s: 1000 bytes take 1 ms.
        let mut p = MessagePool::new();
        let mut ch = Channel::new(0, 1, c);
        let mut r = rng();
        ch.send(&mut p, data(1000));
        ch.send(&mut p, data(1000));
        ch.pump(&mut p, 0, &mut r);
        assert_eq!(ch.next_arrival(), Some(1_000_000));
        ch.arrive(&mut p, 1_000_000);
        assert_eq!(ch.next_arrival(), Some(2_000_000));
    }

    /// A channel with unlimited credit, held against a plain reference: messages go on the
    /// wire when sent, sorted by arrival time (send order among equals), and arrive into a
    /// queue where priority messages jump ahead of the data. Random sends, arrivals (with and
    /// without a recording), takes and stalls, on FIFO and reordering channels.
    #[test]
    fn matches_a_reference_wire_and_input_queue() {
        use rand::{Rng, SeedableRng};
        #[derive(Default)]
        struct Reference {
            wire: Vec<Message>,
            inbox: VecDeque<Message>,
            last_arrival: Time,
            link_free_at: Time,
        }
        let mut gen = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for round in 0..300 {
            let fifo = round % 2 == 0;
            let mut c = cfg(Latency::Uniform { min: 0, max: 40 }, 1 << 40, 1 << 40);
            c.fifo = fifo;
            let mut p = MessagePool::new();
            let mut ch = Channel::new(0, 1, c);
            let mut r = rng();
            let mut latencies = rng();
            let mut reference = Reference::default();
            let mut now: Time = 0;
            let mut next_seq = 0;
            for _ in 0..300 {
                match gen.random_range(0..10) {
                    0..=3 => {
                        let mut m = match gen.random_range(0..8) {
                            0 => Message::control(1, next_seq, 8, true),
                            1 => Message::control(2, next_seq, 8, false),
                            _ => data(gen.random_range(1..100)),
                        };
                        m.value = gen.random_range(0..1000);
                        assert_eq!(ch.send(&mut p, m), next_seq);
                        ch.pump(&mut p, now, &mut r);
                        m.seq = next_seq;
                        next_seq += 1;
                        let start = now.max(reference.link_free_at);
                        reference.link_free_at = start;
                        m.arrive_at = start + c.latency.sample(&mut latencies);
                        if fifo {
                            m.arrive_at = m.arrive_at.max(reference.last_arrival);
                            reference.last_arrival = m.arrive_at;
                        }
                        let k = reference
                            .wire
                            .partition_point(|w| w.arrive_at <= m.arrive_at);
                        reference.wire.insert(k, m);
                    }
                    4..=5 => {
                        now += gen.random_range(0..20);
                        let recording = gen.random_bool(0.3);
                        let mut seen = Vec::new();
                        let (n, priority) = if recording {
                            ch.arrive_each(&mut p, now, |m| seen.push(*m))
                        } else {
                            ch.arrive(&mut p, now)
                        };
                        let k = reference.wire.partition_point(|w| w.arrive_at <= now);
                        let arrived: Vec<Message> = reference.wire.drain(..k).collect();
                        if recording {
                            assert_eq!(seen, arrived);
                        }
                        assert_eq!(n, arrived.len());
                        assert_eq!(priority, arrived.iter().any(|m| m.priority));
                        for mut m in arrived {
                            if m.priority {
                                let prefix = reference.inbox.iter().take_while(|q| q.priority);
                                let at = prefix.count();
                                let overtaken =
                                    reference.inbox.iter().skip(at).filter(|q| q.is_data());
                                m.value = overtaken.count() as i64;
                                reference.inbox.insert(at, m);
                            } else {
                                reference.inbox.push_back(m);
                            }
                        }
                    }
                    6..=8 => {
                        for _ in 0..gen.random_range(0..4) {
                            assert_eq!(ch.take(&mut p), reference.inbox.pop_front());
                        }
                    }
                    _ => {
                        let until = now + gen.random_range(0..30);
                        ch.stall(&mut p, until);
                        for m in &mut reference.wire {
                            m.arrive_at = m.arrive_at.max(until);
                        }
                        reference.last_arrival = reference.last_arrival.max(until);
                        reference.link_free_at = reference.link_free_at.max(until);
                    }
                }
                assert_eq!(
                    ch.inbox(&p).collect::<Vec<_>>(),
                    Vec::from(reference.inbox.clone())
                );
                assert_eq!(
                    ch.next_arrival(),
                    reference.wire.first().map(|m| m.arrive_at)
                );
                let bytes = |ms: &mut dyn Iterator<Item = &Message>| -> u64 {
                    ms.filter(|m| m.is_data()).map(|m| u64::from(m.bytes)).sum()
                };
                let expected = (
                    0,
                    bytes(&mut reference.wire.iter()),
                    bytes(&mut reference.inbox.iter()),
                );
                assert_eq!(ch.buffered_bytes(&p), expected, "round {round}");
                assert_eq!(ch.in_flight(), reference.wire.len() + reference.inbox.len());
                let value = reference
                    .wire
                    .iter()
                    .filter(|m| m.is_data())
                    .map(|m| m.value);
                assert_eq!(ch.wire_value(&p), value.sum::<i64>());
            }
        }
    }
}
