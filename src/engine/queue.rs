//! The event queue: pops in (time, sequence number) order, from a radix heap on integer time
//! and a few first-in first-out lanes for events scheduled a fixed delay ahead.
//!
//! Simulated time never runs backwards, so the queue is monotone: nothing is pushed earlier
//! than the last time popped. A radix heap exploits that. Events at exactly its last time
//! wait in `now`, in the order they were pushed. Any other event goes to the bucket for the
//! highest hexadecimal digit in which its time differs from that time, and the value of that
//! digit: every event of a lower bucket is earlier than every event of a higher one. When
//! `now` runs dry, the lowest non-empty bucket is emptied into lower ones around its minimum.
//! An event moves at most 16 times and usually two or three, so a push is a few
//! instructions and a pop is amortised O(1), against O(log n) comparisons, mispredicted
//! branches and cache misses in a binary heap (`cargo bench --bench engine` compares them).
//!
//! Most events of a simulation are scheduled a fixed delay after the current time (a task
//! busy for its processing cost). Pushed at a time that never decreases, those come out of a
//! plain queue already sorted, so each delay in use (up to [`MAX_LANES`] of them) gets a
//! lane, and such an event is never moved at all.
//!
//! Every event carries the sequence number of its push, and the queue pops the smallest
//! (time, sequence number) among the fronts of the lanes and the heap's earliest event. Each
//! of those is the smallest of its structure: a lane is sorted, and in the heap events with
//! equal times always share a bucket, pushes append, and a bucket is only ever refilled, in
//! order, from a single higher bucket while it is empty. So events for the same instant run
//! in the order they were scheduled, wherever they wait. This is the whole tie-breaking
//! rule; nothing else (no hash, no address, no thread) decides the order. The tests below
//! hold it against a sorted reference.

use std::collections::VecDeque;

use super::Time;

/// Bits per digit: each level of buckets splits on one hexadecimal digit of the time.
const DIGIT: u32 = 4;
const RADIX: usize = 1 << DIGIT;
const LEVELS: usize = 64 / DIGIT as usize;
const BUCKETS: usize = LEVELS * RADIX;

/// Distinct delays that get a first-in first-out lane; events with other delays go to the
/// heap. A simulation uses few: its tasks' processing costs and zero.
pub const MAX_LANES: usize = 4;

/// A monotone priority queue of events keyed by time, first-in first-out among equal times.
#[derive(Debug)]
pub struct EventQueue<E> {
    /// The sequence number of the next push.
    seq: u64,
    heap: RadixHeap<E>,
    lanes: Vec<Lane<E>>,
    len: usize,
}

/// Events pushed `delay` after the then current time, hence sorted by (time, sequence).
#[derive(Debug)]
struct Lane<E> {
    delay: Time,
    events: VecDeque<(Time, u64, E)>,
}

#[derive(Debug)]
struct RadixHeap<E> {
    /// The time of the last redistribution; no event in the heap is earlier.
    last: Time,
    /// Events at exactly `last`, in scheduling order.
    now: VecDeque<(u64, E)>,
    /// `buckets[level * 16 + digit]` holds events whose time first differs from `last` in
    /// hexadecimal digit `level`, where it has the value `digit`.
    buckets: Vec<Vec<(Time, u64, E)>>,
    /// Bit `b % 64` of word `b / 64` is set when `buckets[b]` is not empty.
    occupied: [u64; BUCKETS / 64],
    /// The lowest non-empty bucket and its earliest time, once looked for: a pop that the
    /// lanes win must not scan that bucket again.
    lowest: Option<(usize, Time)>,
    /// A spare vector, swapped in while a bucket is redistributed, so that no pop allocates.
    spare: Vec<(Time, u64, E)>,
}

/// The bucket of `time` relative to `last` (`time > last`).
#[inline]
fn bucket_of(time: Time, last: Time) -> usize {
    let level = (63 - (time ^ last).leading_zeros()) / DIGIT;
    let digit = (time >> (level * DIGIT)) as usize & (RADIX - 1);
    level as usize * RADIX + digit
}

impl<E> RadixHeap<E> {
    fn new() -> Self {
        RadixHeap {
            last: 0,
            now: VecDeque::new(),
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            occupied: [0; BUCKETS / 64],
            lowest: None,
            spare: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, time: Time, seq: u64, event: E) {
        debug_assert!(time >= self.last, "the heap is monotone");
        let time = time.max(self.last);
        if time == self.last {
            self.now.push_back((seq, event));
            return;
        }
        let b = bucket_of(time, self.last);
        self.buckets[b].push((time, seq, event));
        self.occupied[b / 64] |= 1 << (b % 64);
        if let Some((lb, lt)) = self.lowest {
            if b < lb || (b == lb && time < lt) {
                self.lowest = Some((b, time));
            }
        }
    }

    /// The earliest time in the heap.
    #[inline]
    fn min_time(&mut self) -> Option<Time> {
        if self.now.is_empty() && self.lowest.is_none() {
            let b = self.lowest_bucket()?;
            self.lowest = Some((b, self.bucket_min(b)));
        }
        self.peek_min()
    }

    /// The earliest time in the heap, without remembering the lowest bucket's minimum.
    #[inline]
    fn peek_min(&self) -> Option<Time> {
        if !self.now.is_empty() {
            Some(self.last)
        } else if let Some((_, t)) = self.lowest {
            Some(t)
        } else {
            self.lowest_bucket().map(|b| self.bucket_min(b))
        }
    }

    fn bucket_min(&self, b: usize) -> Time {
        self.buckets[b]
            .iter()
            .map(|&(t, _, _)| t)
            .min()
            .expect("occupied buckets are not empty")
    }

    /// Makes the earliest events the ones in `now` (the heap must not be empty).
    #[inline]
    fn advance(&mut self) {
        if self.now.is_empty() {
            let (b, min) = match self.lowest {
                Some(l) => l,
                None => {
                    let b = self.lowest_bucket().expect("the heap is not empty");
                    (b, self.bucket_min(b))
                }
            };
            self.redistribute(b, min);
        }
    }

    /// Moves bucket `b` into lower buckets around its minimum `min`, which becomes `last`.
    fn redistribute(&mut self, b: usize, min: Time) {
        self.last = min;
        self.lowest = None;
        self.occupied[b / 64] &= !(1 << (b % 64));
        let mut moving = std::mem::replace(&mut self.buckets[b], std::mem::take(&mut self.spare));
        for (time, seq, event) in moving.drain(..) {
            if time == min {
                self.now.push_back((seq, event));
            } else {
                let nb = bucket_of(time, min);
                debug_assert!(nb < b, "events only move down");
                self.buckets[nb].push((time, seq, event));
                self.occupied[nb / 64] |= 1 << (nb % 64);
            }
        }
        self.spare = moving;
    }

    /// The lowest non-empty bucket: every event in it is earlier than any in a higher one.
    #[inline]
    fn lowest_bucket(&self) -> Option<usize> {
        self.occupied
            .iter()
            .position(|&w| w != 0)
            .map(|i| i * 64 + self.occupied[i].trailing_zeros() as usize)
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        EventQueue {
            seq: 0,
            heap: RadixHeap::new(),
            lanes: Vec::new(),
            len: 0,
        }
    }

    /// Adds `event` at `time`, after every event already queued for that time. `time` must not
    /// be earlier than the last popped time (the scheduler clamps it).
    #[inline]
    pub fn push(&mut self, time: Time, event: E) {
        let seq = self.next_seq();
        self.heap.push(time, seq, event);
    }

    /// Adds `event` at `now + delay`, where `now` is the time of the last pop (or later), after
    /// every event already queued for that time. Events with the same delay wait in a lane of
    /// their own while there are lanes to spare.
    #[inline]
    pub fn push_after(&mut self, now: Time, delay: Time, event: E) {
        let seq = self.next_seq();
        let time = now.saturating_add(delay);
        if let Some(lane) = self.lanes.iter_mut().find(|l| l.delay == delay) {
            debug_assert!(lane.events.back().is_none_or(|&(t, _, _)| t <= time));
            lane.events.push_back((time, seq, event));
        } else if self.lanes.len() < MAX_LANES {
            self.lanes.push(Lane {
                delay,
                events: VecDeque::from([(time, seq, event)]),
            });
        } else {
            self.heap.push(time, seq, event);
        }
    }

    #[inline]
    fn next_seq(&mut self) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        self.len += 1;
        seq
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(Time, E)> {
        self.pop_until(Time::MAX)
    }

    /// The lane whose front comes first, with that front's time and sequence number.
    #[inline]
    fn first_lane(&self) -> Option<(usize, Time, u64)> {
        let mut best: Option<(usize, Time, u64)> = None;
        for (i, lane) in self.lanes.iter().enumerate() {
            if let Some(&(t, s, _)) = lane.events.front() {
                if best.is_none_or(|(_, bt, bs)| (t, s) < (bt, bs)) {
                    best = Some((i, t, s));
                }
            }
        }
        best
    }

    /// Removes and returns the earliest event if it is due by `limit`; otherwise leaves the
    /// queue as it was.
    #[inline]
    pub fn pop_until(&mut self, limit: Time) -> Option<(Time, E)> {
        let lane = self.first_lane();
        let heap = self.heap.min_time();
        let next = match (heap, lane) {
            (None, None) => return None,
            (Some(h), None) => h,
            (None, Some((_, t, _))) => t,
            (Some(h), Some((_, t, _))) => h.min(t),
        };
        // Checked before the heap moves: it may only move up to a time that is then popped.
        if next > limit {
            return None;
        }
        let from_lane = match (heap, lane) {
            (None, _) => true,
            (_, None) => false,
            (Some(h), Some((_, t, _))) if t < h => true,
            (Some(_), Some((_, t, s))) => {
                self.heap.advance();
                let &(hs, _) = self.heap.now.front().expect("advanced to the minimum");
                (t, s) < (self.heap.last, hs)
            }
        };
        self.len -= 1;
        if from_lane {
            let (i, _, _) = lane.expect("a lane was chosen");
            let (t, _, event) = self.lanes[i].events.pop_front().expect("not empty");
            return Some((t, event));
        }
        self.heap.advance();
        let (_, event) = self.heap.now.pop_front().expect("advanced to the minimum");
        Some((self.heap.last, event))
    }

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<Time> {
        let heap = self.heap.peek_min();
        let lane = self.first_lane().map(|(_, t, _)| t);
        match (heap, lane) {
            (Some(h), Some(l)) => Some(h.min(l)),
            (h, l) => h.or(l),
        }
    }

    /// The event most likely to be popped next, without changing the queue: the first lane's
    /// front unless the heap has an event due earlier (or at the same time and pushed
    /// earlier), else the heap's first event due at its last time, else the first of its
    /// lowest bucket. A hint only: in a bucket above the lowest level the first event need
    /// not be the earliest, and events pushed meanwhile may come before it.
    #[inline]
    pub fn peek_likely(&self) -> Option<&E> {
        let heap_key = match self.heap.now.front() {
            Some(&(s, _)) => Some((self.heap.last, s)),
            None => self.heap.lowest.map(|(_, t)| (t, 0)),
        };
        if let Some((i, t, s)) = self.first_lane() {
            if heap_key.is_none_or(|k| (t, s) < k) {
                return self.lanes[i].events.front().map(|(_, _, e)| e);
            }
        }
        if let Some((_, e)) = self.heap.now.front() {
            return Some(e);
        }
        let b = self.heap.lowest_bucket()?;
        self.heap.buckets[b].first().map(|(_, _, e)| e)
    }

    /// Number of queued events.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn orders_by_time_then_sequence() {
        let mut q = EventQueue::new();
        q.push(10, "c");
        q.push(5, "a");
        q.push(10, "d");
        q.push(5, "b");
        q.push(0, "first");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![(0, "first"), (5, "a"), (5, "b"), (10, "c"), (10, "d")]
        );
    }

    #[test]
    fn peek_likely_names_the_next_event_without_changing_the_queue() {
        let mut q = EventQueue::new();
        assert_eq!(q.peek_likely(), None);
        q.push(20, 'b');
        q.push(20, 'c');
        q.push(5, 'a');
        // A single event in the lowest bucket is the next one.
        assert_eq!(q.peek_likely(), Some(&'a'));
        assert_eq!(q.pop(), Some((5, 'a')));
        assert_eq!(q.pop(), Some((20, 'b')));
        // Due now: the front of the ties.
        assert_eq!(q.peek_likely(), Some(&'c'));
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop(), Some((20, 'c')));
    }

    #[test]
    fn many_ties_keep_insertion_order() {
        let mut q = EventQueue::new();
        for i in 0..1000u32 {
            q.push(7, i);
        }
        let got: Vec<u32> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn pop_until_leaves_later_events_alone() {
        let mut q = EventQueue::new();
        q.push(3, 'a');
        q.push(9, 'b');
        assert_eq!(q.pop_until(5), Some((3, 'a')));
        assert_eq!(q.pop_until(5), None);
        // Still monotone from 3: an event at 4 may be pushed and comes first.
        q.push(4, 'c');
        assert_eq!(q.peek_time(), Some(4));
        assert_eq!(q.pop(), Some((4, 'c')));
        assert_eq!(q.pop(), Some((9, 'b')));
        assert!(q.is_empty());
    }

    /// Interleaved pushes and pops with many ties, against a reference that sorts by
    /// (time, sequence number): the order must be identical.
    #[test]
    fn matches_a_sorted_reference_under_random_interleavings() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for round in 0..200 {
            let mut q = EventQueue::new();
            let mut reference: std::collections::BTreeSet<(Time, u64)> = Default::default();
            let mut seq = 0u64;
            let mut now: Time = 0;
            let spread = [1u64, 4, 1000, 1 << 40][round % 4];
            for _ in 0..2000 {
                if rng.random_bool(0.55) || reference.is_empty() {
                    let t = now + rng.random_range(0..spread);
                    q.push(t, seq);
                    reference.insert((t, seq));
                    seq += 1;
                } else {
                    let want = reference.pop_first().expect("not empty");
                    assert_eq!(q.peek_time(), Some(want.0));
                    let got = q.pop().expect("not empty");
                    assert_eq!(got, want, "round {round}");
                    now = got.0;
                }
                assert_eq!(q.len(), reference.len());
            }
            while let Some(want) = reference.pop_first() {
                assert_eq!(q.pop(), Some(want));
            }
            assert_eq!(q.pop(), None);
        }
    }

    /// The same with most events pushed a delay after the last popped time, from more
    /// distinct delays than there are lanes (so some share the heap), with `pop_until` limits
    /// that sometimes stop short: the order must still be (time, sequence number).
    #[test]
    fn lanes_and_heap_pop_in_time_then_sequence_order() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        for round in 0..200 {
            let mut q = EventQueue::new();
            let mut reference: std::collections::BTreeSet<(Time, u64)> = Default::default();
            let mut seq = 0u64;
            let mut now: Time = 0;
            let delays = [0, 3, 1000, 7, 1 << 20, 64, 3 << 30];
            let spread = [4u64, 1000, 1 << 32][round % 3];
            for _ in 0..2000 {
                let r = rng.random_range(0..100);
                if r < 60 || reference.is_empty() {
                    let t = if r < 45 {
                        let d = delays[rng.random_range(0..delays.len())];
                        q.push_after(now, d, seq);
                        now + d
                    } else {
                        let t = now + rng.random_range(0..spread);
                        q.push(t, seq);
                        t
                    };
                    reference.insert((t, seq));
                    seq += 1;
                } else {
                    let want = *reference.first().expect("not empty");
                    assert_eq!(q.peek_time(), Some(want.0), "round {round}");
                    let limit = now + rng.random_range(0..2 * spread);
                    match q.pop_until(limit) {
                        Some(got) => {
                            assert_eq!(got, want, "round {round}");
                            reference.pop_first();
                            now = got.0;
                        }
                        None => assert!(want.0 > limit, "round {round}"),
                    }
                }
                assert_eq!(q.len(), reference.len());
            }
            while let Some(want) = reference.pop_first() {
                assert_eq!(q.pop(), Some(want));
            }
            assert_eq!(q.pop(), None);
        }
    }
}
