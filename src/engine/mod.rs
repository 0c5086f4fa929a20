//! The discrete-event kernel: integer time, the event queue, named random streams and the run loop.
//!
//! Nothing in this module knows about channels, tasks or snapshot protocols. A [`Model`] owns
//! the world; [`run`] pops events in (time, sequence) order and hands each one to the model,
//! which may schedule more through the [`Scheduler`].

pub mod queue;
pub mod rng;

pub use queue::EventQueue;
pub use rng::{RngStream, RngStreams};

/// Simulated time in integer nanoseconds since the start of the run.
pub type Time = u64;

/// Nanoseconds per microsecond, millisecond and second, for readable constants.
pub const US: Time = 1_000;
/// Nanoseconds per millisecond.
pub const MS: Time = 1_000_000;
/// Nanoseconds per second.
pub const SEC: Time = 1_000_000_000;

/// The clock and the queue, handed to the model with every event.
#[derive(Debug)]
pub struct Scheduler<E> {
    now: Time,
    queue: EventQueue<E>,
}

impl<E> Default for Scheduler<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Scheduler<E> {
    /// An empty scheduler at time zero.
    pub fn new() -> Self {
        Scheduler {
            now: 0,
            queue: EventQueue::new(),
        }
    }

    /// The current simulated time.
    #[inline]
    pub fn now(&self) -> Time {
        self.now
    }

    /// Schedules `event` at absolute time `at`; times in the past are clamped to now so that
    /// time never runs backwards.
    #[inline]
    pub fn at(&mut self, at: Time, event: E) {
        if at <= self.now {
            self.queue.push_after(self.now, 0, event);
        } else {
            self.queue.push(at, event);
        }
    }

    /// Schedules `event` after `delay` nanoseconds. Prefer this to [`Scheduler::at`] for
    /// events that always come the same delay after their cause (a task's processing cost):
    /// the queue keeps each such delay in a first-in first-out lane, where an event is never
    /// moved.
    #[inline]
    pub fn after(&mut self, delay: Time, event: E) {
        self.queue.push_after(self.now, delay, event);
    }

    /// Drops every queued event; the clock stays where it is.
    pub fn clear(&mut self) {
        self.queue = EventQueue::new();
    }

    /// The time of the earliest queued event.
    pub fn next_time(&self) -> Option<Time> {
        self.queue.peek_time()
    }

    /// Events waiting in the queue.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }
}

/// A simulated world driven by the kernel. The model owns its scheduler, so that any of its
/// handlers can schedule without threading the scheduler through every call.
pub trait Model {
    /// The model's event type, matched exhaustively by the model itself.
    type Event;

    /// The model's clock and queue.
    fn scheduler(&mut self) -> &mut Scheduler<Self::Event>;

    /// Handles one event at `self.scheduler().now()`.
    fn handle(&mut self, event: Self::Event);

    /// Asked after every event; `true` ends the run although events remain (for example
    /// when only timeouts of things that can no longer happen are left).
    fn finished(&self) -> bool {
        false
    }

    /// Told, before an event is handled, which event will probably run after it, so that
    /// the model can ask the memory system for what that one will read while this one is
    /// handled. Only a hint: it must change nothing the run depends on. Asked for only while
    /// [`Model::wants_prefetch`] says so, since finding the next event costs a little.
    fn prefetch(&self, _next: &Self::Event) {}

    /// Whether [`Model::prefetch`] is worth calling; asked at the start of every [`run`].
    /// The default says no.
    fn wants_prefetch(&self) -> bool {
        false
    }
}

/// Asks the processor to bring `value` into its caches; it returns at once and changes
/// nothing else. A no-op where no prefetch instruction is available.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and writes nothing; the address comes from a reference.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// What the run loop counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Entries taken from the event queue and handled.
    pub events: u64,
    /// The time of the last handled event.
    pub end_time: Time,
    /// True when the run stopped at the time limit with events still queued.
    pub hit_limit: bool,
}

/// Runs `model` until its queue is empty or the next event lies beyond `until`. Events at
/// exactly `until` still run. Can be called again with a later `until` to continue.
pub fn run<M: Model>(model: &mut M, until: Time) -> RunStats
where
    M::Event: Copy,
{
    let mut stats = RunStats::default();
    let hints = model.wants_prefetch();
    loop {
        let sched = model.scheduler();
        let Some((time, event)) = sched.queue.pop_until(until) else {
            stats.hit_limit = !sched.queue.is_empty();
            break;
        };
        sched.now = time;
        if hints {
            if let Some(next) = sched.queue.peek_likely().copied() {
                model.prefetch(&next);
            }
        }
        model.handle(event);
        stats.events += 1;
        if model.finished() {
            break;
        }
    }
    stats.end_time = model.scheduler().now;
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Recorder {
        seen: Vec<(Time, u32)>,
        sched: Scheduler<u32>,
    }

    impl Model for Recorder {
        type Event = u32;
        fn scheduler(&mut self) -> &mut Scheduler<u32> {
            &mut self.sched
        }
        fn handle(&mut self, event: u32) {
            self.seen.push((self.sched.now(), event));
            if event == 1 {
                // Scheduled "now" from inside a handler: runs after everything already queued
                // for this instant, because its sequence number is larger.
                self.sched.after(0, 10);
            }
        }
    }

    /// A model that wants prefetch hints and writes down what it is told.
    struct Hinted {
        inner: Recorder,
        hints: std::cell::RefCell<Vec<u32>>,
    }

    impl Model for Hinted {
        type Event = u32;
        fn scheduler(&mut self) -> &mut Scheduler<u32> {
            &mut self.inner.sched
        }
        fn handle(&mut self, event: u32) {
            self.inner.handle(event);
        }
        fn prefetch(&self, next: &u32) {
            self.hints.borrow_mut().push(*next);
        }
        fn wants_prefetch(&self) -> bool {
            true
        }
    }

    #[test]
    fn prefetch_hints_name_the_next_event_and_change_nothing() {
        let schedule = |sched: &mut Scheduler<u32>| {
            for (t, e) in [(5, 2), (3, 1), (5, 3), (3, 4), (9, 5)] {
                sched.at(t, e);
            }
        };
        let mut plain = Recorder {
            seen: vec![],
            sched: Scheduler::new(),
        };
        schedule(&mut plain.sched);
        run(&mut plain, Time::MAX);
        let mut hinted = Hinted {
            inner: Recorder {
                seen: vec![],
                sched: Scheduler::new(),
            },
            hints: Default::default(),
        };
        schedule(&mut hinted.inner.sched);
        run(&mut hinted, Time::MAX);
        assert_eq!(hinted.inner.seen, plain.seen);
        // Each hint, given before an event ran, named the one that ran after it (10 was
        // scheduled by the handler of 1, and named before 4 ran); none before the last.
        let next: Vec<u32> = plain.seen[1..].iter().map(|&(_, e)| e).collect();
        assert_eq!(next, [4, 10, 2, 3, 5]);
        assert_eq!(*hinted.hints.borrow(), next);
    }

    #[test]
    fn ties_run_in_scheduling_order() {
        let mut sched = Scheduler::new();
        sched.at(5, 2);
        sched.at(3, 1);
        sched.at(5, 3);
        sched.at(3, 4);
        let mut model = Recorder {
            seen: vec![],
            sched,
        };
        let stats = run(&mut model, Time::MAX);
        assert_eq!(
            model.seen,
            vec![(3, 1), (3, 4), (3, 10), (5, 2), (5, 3)],
            "same-time events must run in the order they were scheduled"
        );
        assert_eq!(stats.events, 5);
        assert!(!stats.hit_limit);
    }

    #[test]
    fn stops_at_the_limit_inclusive() {
        let mut sched = Scheduler::new();
        for t in [1, 2, 3, 4] {
            sched.at(t, t as u32 + 100);
        }
        let mut model = Recorder {
            seen: vec![],
            sched,
        };
        let stats = run(&mut model, 3);
        assert_eq!(model.seen.len(), 3);
        assert!(stats.hit_limit);
        assert_eq!(stats.end_time, 3);
    }

    #[test]
    fn scheduling_in_the_past_clamps_to_now() {
        let mut sched: Scheduler<u32> = Scheduler::new();
        sched.now = 10;
        sched.at(4, 1);
        assert_eq!(sched.queue.peek_time(), Some(10));
    }
}
