//! The event queue: a radix heap on integer time that pops in (time, sequence number) order.
//!
//! Simulated time never runs backwards, so the queue is monotone: nothing is pushed earlier
//! than the last time popped. A radix heap exploits that. Events at exactly the last popped
//! time wait in `now`, in the order they were pushed. Any other event goes to the bucket for
//! the highest hexadecimal digit in which its time differs from the last popped time, and the
//! value of that digit: every event of a lower bucket is earlier than every event of a higher
//! one. When `now` runs dry, the lowest non-empty bucket is emptied into lower ones around its
//! minimum. An event moves at most 16 times and usually two or three, so a push is a few
//! instructions and a pop is amortised O(1), against O(log n) comparisons, mispredicted
//! branches and cache misses in a binary heap (`cargo bench --bench engine` compares them).
//!
//! Ties keep their scheduling order without storing a sequence number: events with equal
//! times always share a bucket, pushes append, and a bucket is only ever refilled, in order,
//! from a single higher bucket while it is empty. So events for the same instant run in the
//! order they were scheduled. This is the whole tie-breaking rule; nothing else (no hash, no
//! address, no thread) decides the order. The tests below hold it against a sorted reference.

use std::collections::VecDeque;

use super::Time;

/// Bits per digit: each level of buckets splits on one hexadecimal digit of the time.
const DIGIT: u32 = 4;
const RADIX: usize = 1 << DIGIT;
const LEVELS: usize = 64 / DIGIT as usize;
const BUCKETS: usize = LEVELS * RADIX;

/// A monotone priority queue of events keyed by time, first-in first-out among equal times.
#[derive(Debug)]
pub struct EventQueue<E> {
    /// The time of the last popped event; no queued event is earlier.
    last: Time,
    /// Events at exactly `last`, in scheduling order.
    now: VecDeque<E>,
    /// `buckets[level * 16 + digit]` holds events whose time first differs from `last` in
    /// hexadecimal digit `level`, where it has the value `digit`.
    buckets: Vec<Vec<(Time, E)>>,
    /// Bit `b % 64` of word `b / 64` is set when `buckets[b]` is not empty.
    occupied: [u64; BUCKETS / 64],
    len: usize,
    /// A spare vector, swapped in while a bucket is redistributed, so that no pop allocates.
    spare: Vec<(Time, E)>,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

/// The bucket of `time` relative to `last` (`time > last`).
#[inline]
fn bucket_of(time: Time, last: Time) -> usize {
    let level = (63 - (time ^ last).leading_zeros()) / DIGIT;
    let digit = (time >> (level * DIGIT)) as usize & (RADIX - 1);
    level as usize * RADIX + digit
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        EventQueue {
            last: 0,
            now: VecDeque::new(),
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            occupied: [0; BUCKETS / 64],
            len: 0,
            spare: Vec::new(),
        }
    }

    /// Adds `event` at `time`, after every event already queued for that time. `time` must not
    /// be earlier than the last popped time (the scheduler clamps it).
    #[inline]
    pub fn push(&mut self, time: Time, event: E) {
        debug_assert!(time >= self.last, "the queue is monotone");
        let time = time.max(self.last);
        self.len += 1;
        if time == self.last {
            self.now.push_back(event);
        } else {
            let b = bucket_of(time, self.last);
            self.buckets[b].push((time, event));
            self.occupied[b / 64] |= 1 << (b % 64);
        }
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(Time, E)> {
        self.pop_until(Time::MAX)
    }

    /// Removes and returns the earliest event if it is due by `limit`; otherwise leaves the
    /// queue as it was.
    #[inline]
    pub fn pop_until(&mut self, limit: Time) -> Option<(Time, E)> {
        if self.now.is_empty() {
            let b = self.lowest_bucket()?;
            let min = self.buckets[b]
                .iter()
                .map(|&(t, _)| t)
                .min()
                .expect("occupied buckets are not empty");
            if min > limit {
                return None;
            }
            self.redistribute(b, min);
        }
        if self.last > limit {
            return None;
        }
        let event = self.now.pop_front()?;
        self.len -= 1;
        Some((self.last, event))
    }

    /// Moves bucket `b` into lower buckets around its minimum `min`, which becomes `last`.
    fn redistribute(&mut self, b: usize, min: Time) {
        self.last = min;
        self.occupied[b / 64] &= !(1 << (b % 64));
        let mut moving = std::mem::replace(&mut self.buckets[b], std::mem::take(&mut self.spare));
        for (time, event) in moving.drain(..) {
            if time == min {
                self.now.push_back(event);
            } else {
                let nb = bucket_of(time, min);
                debug_assert!(nb < b, "events only move down");
                self.buckets[nb].push((time, event));
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

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<Time> {
        if !self.now.is_empty() {
            return Some(self.last);
        }
        let b = self.lowest_bucket()?;
        self.buckets[b].iter().map(|&(t, _)| t).min()
    }

    /// The event most likely to be popped next, without changing the queue: the first one
    /// due at the last popped time, else the first of the lowest bucket. A hint only: in a
    /// bucket above the lowest level the first event need not be the earliest, and events
    /// pushed meanwhile may come before it.
    #[inline]
    pub fn peek_likely(&self) -> Option<&E> {
        if let Some(e) = self.now.front() {
            return Some(e);
        }
        let b = self.lowest_bucket()?;
        self.buckets[b].first().map(|(_, e)| e)
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
}
