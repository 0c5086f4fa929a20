//! Buffer debloating, as Flink's network stack does it (FLIP-183): the pieces that decide a
//! gate's buffer size, free of the simulation so they can be tested on their own.
//!
//! Every input gate measures its throughput over the time it was busy
//! ([`ThroughputCalculator`]); every period the task turns it into the bytes it wants in
//! flight, `D = throughput × target`, divides them over the buffers in use and smooths the
//! result with an exponential moving average ([`BufferSizeEma`]); the new size is announced to
//! the senders only when it moved enough ([`should_announce`]). The senders then cut new
//! buffers at that size, so the in-flight capacity of the gate's channels follows
//! `throughput × target`: under back-pressure a barrier waits about `target` per exchange.

use crate::engine::Time;

/// Nanoseconds per second.
const NS_PER_S: u128 = 1_000_000_000;

/// Bytes taken from one input gate, over the time the gate was not idle.
///
/// The measurement pauses when the task finds the gate empty ([`pause`](Self::pause)) and
/// resumes when data is there again ([`resume`](Self::resume)), so time spent waiting for
/// input does not lower the throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThroughputCalculator {
    /// Bytes taken since the last calculation.
    bytes: u64,
    /// Busy time accumulated since the last calculation (not counting a running stretch).
    busy: Time,
    /// Start of the running busy stretch, `None` while paused.
    since: Option<Time>,
    /// The last throughput calculated, in bytes per second.
    last: u64,
}

impl ThroughputCalculator {
    /// A calculator whose measurement runs from `now` (a gate with data waiting) or is
    /// paused (`running` false).
    pub fn new(now: Time, running: bool) -> Self {
        ThroughputCalculator {
            since: running.then_some(now),
            ..Self::default()
        }
    }

    /// `bytes` were taken from the gate.
    #[inline]
    pub fn incoming(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    /// The gate was found empty at `now`: the time until it has data again does not count.
    #[inline]
    pub fn pause(&mut self, now: Time) {
        if let Some(s) = self.since.take() {
            self.busy += now.saturating_sub(s);
        }
    }

    /// The gate has data again at `now`.
    #[inline]
    pub fn resume(&mut self, now: Time) {
        if self.since.is_none() {
            self.since = Some(now);
        }
    }

    /// True while the measurement is paused.
    pub fn paused(&self) -> bool {
        self.since.is_none()
    }

    /// The throughput since the last calculation in bytes per second, and a fresh start.
    /// With no busy time at all the previous value is kept.
    pub fn calculate(&mut self, now: Time) -> u64 {
        if let Some(s) = self.since {
            self.busy += now.saturating_sub(s);
            self.since = Some(now);
        }
        if self.busy == 0 {
            return self.last;
        }
        let thr = u128::from(self.bytes) * NS_PER_S / u128::from(self.busy);
        self.last = thr.min(u128::from(u64::MAX)) as u64;
        self.bytes = 0;
        self.busy = 0;
        self.last
    }
}

/// The exponential moving average of the desired buffer size.
///
/// `α = 2 / (samples + 1)`; it starts at the largest size. Each step takes the desired size
/// `x = min(D / n, 2 × last)` (at most doubling per step), moves `last += α (x − last)`,
/// clamps it to `[min, max]` and returns it rounded to whole bytes. The unrounded value is
/// kept between steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BufferSizeEma {
    min: u64,
    max: u64,
    alpha: f64,
    last: f64,
}

impl BufferSizeEma {
    /// An average over `samples` periods (at least one) between `min` and `max` bytes,
    /// starting at `max`.
    pub fn new(min: u64, max: u64, samples: u32) -> Self {
        BufferSizeEma {
            min,
            max,
            alpha: 2.0 / (f64::from(samples.max(1)) + 1.0),
            last: max as f64,
        }
    }

    /// The next size for `desired` bytes in flight spread over `buffers` buffers (at least
    /// one is assumed).
    pub fn next(&mut self, desired: u64, buffers: u64) -> u64 {
        let x = (desired as f64 / buffers.max(1) as f64).min(2.0 * self.last);
        self.last += self.alpha * (x - self.last);
        self.last = self.last.clamp(self.min as f64, self.max as f64);
        self.last.round() as u64
    }
}

/// Whether a new size is worth announcing to the senders: it differs from the old one, and
/// either reaches a bound or moved by at least `threshold_percent` of the old size (rounded
/// down).
pub fn should_announce(old: u64, new: u64, min: u64, max: u64, threshold_percent: u32) -> bool {
    if new == old {
        return false;
    }
    if new <= min || new >= max {
        return true;
    }
    let threshold = u128::from(old) * u128::from(threshold_percent) / 100;
    u128::from(old.abs_diff(new)) >= threshold
}

/// The bytes a gate wants in flight: its throughput (bytes per second) times the target
/// (nanoseconds).
pub fn desired_bytes(throughput: u64, target: Time) -> u64 {
    (u128::from(throughput) * u128::from(target) / NS_PER_S).min(u128::from(u64::MAX)) as u64
}

/// The knobs of debloating, resolved to plain numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebloatConfig {
    /// Time the in-flight data of a gate should take to consume.
    pub target: Time,
    /// How often each gate recomputes its buffer size.
    pub period: Time,
    /// Periods the average spans.
    pub samples: u32,
    /// Least change, in percent of the old size, that is announced.
    pub threshold_percent: u32,
    /// Smallest buffer size.
    pub min_size: u64,
    /// Largest buffer size (the segment size).
    pub max_size: u64,
}

/// One input gate's debloater: its throughput measurement, its average and the size last
/// announced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateDebloater {
    /// The gate's throughput measurement.
    pub throughput: ThroughputCalculator,
    ema: BufferSizeEma,
    /// The buffer size last announced to the senders.
    pub size: u64,
}

impl GateDebloater {
    /// A gate starting at the largest size, its measurement paused until data arrives.
    pub fn new(cfg: &DebloatConfig) -> Self {
        GateDebloater {
            throughput: ThroughputCalculator::default(),
            ema: BufferSizeEma::new(cfg.min_size, cfg.max_size, cfg.samples),
            size: cfg.max_size,
        }
    }

    /// One period's step at `now` with `buffers` buffers in use: the new size if it is to be
    /// announced.
    pub fn step(&mut self, cfg: &DebloatConfig, now: Time, buffers: u64) -> Option<u64> {
        let thr = self.throughput.calculate(now);
        let new = self.ema.next(desired_bytes(thr, cfg.target), buffers);
        if should_announce(
            self.size,
            new,
            cfg.min_size,
            cfg.max_size,
            cfg.threshold_percent,
        ) {
            self.size = new;
            Some(new)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Time = 1_000_000;

    #[test]
    fn throughput_is_bytes_over_the_measured_time() {
        // Flink's ThroughputCalculatorTest: 6666 + 3333 + 1 bytes in 100 ms.
        let mut c = ThroughputCalculator::new(0, true);
        c.incoming(6666);
        c.incoming(3333);
        c.incoming(1);
        assert_eq!(c.calculate(100 * MS), 100_000);
    }

    #[test]
    fn idle_time_does_not_count() {
        // 7 B in 1 ms, 9 ms idle, 3 B in 1 ms: 10 B over 2 ms.
        let mut c = ThroughputCalculator::new(0, true);
        c.incoming(7);
        c.pause(MS);
        c.resume(10 * MS);
        c.incoming(3);
        assert_eq!(c.calculate(11 * MS), 5_000);
    }

    #[test]
    fn no_busy_time_keeps_the_last_throughput_and_a_calculation_restarts_it() {
        let mut c = ThroughputCalculator::new(0, true);
        c.incoming(500);
        assert_eq!(c.calculate(MS), 500_000);
        c.pause(MS);
        assert!(c.paused());
        assert_eq!(c.calculate(5 * MS), 500_000, "nothing measured: kept");
        c.resume(5 * MS);
        c.incoming(100);
        assert_eq!(c.calculate(6 * MS), 100_000);
        // A paused calculator started paused measures nothing until resumed.
        let mut d = ThroughputCalculator::new(0, false);
        d.incoming(9);
        assert_eq!(d.calculate(MS), 0);
    }

    #[test]
    fn the_average_follows_flinks_known_values() {
        // Flink's BufferSizeEMATest: start 200, min 10, samples 3 (α = 0.5).
        let mut e = BufferSizeEma::new(10, 200, 3);
        assert_eq!(e.next(111, 13), 104);
        let sizes: Vec<u64> = (0..5).map(|_| e.next(107, 7)).collect();
        assert_eq!(sizes, vec![60, 38, 26, 21, 18]);
        let mut z = BufferSizeEma::new(10, 200, 3);
        let sizes: Vec<u64> = (0..6).map(|_| z.next(0, 0)).collect();
        assert_eq!(sizes, vec![100, 50, 25, 13, 10, 10]);
    }

    #[test]
    fn the_average_at_most_doubles_per_step_and_stays_within_bounds() {
        let mut e = BufferSizeEma::new(10, 1000, 1); // α = 1: the average is the input
        assert_eq!(e.next(0, 1), 10);
        assert_eq!(e.next(1_000_000, 1), 20, "capped at twice the last");
        assert_eq!(e.next(1_000_000, 1), 40);
        for _ in 0..10 {
            e.next(1_000_000, 1);
        }
        assert_eq!(e.next(1_000_000, 1), 1000, "clamped to the largest size");
    }

    #[test]
    fn only_large_enough_changes_or_the_bounds_are_announced() {
        // 25 % of 1000 is 250.
        assert!(!should_announce(1000, 1000, 256, 32768, 25));
        assert!(!should_announce(1000, 751, 256, 32768, 25));
        assert!(should_announce(1000, 750, 256, 32768, 25));
        assert!(should_announce(1000, 1250, 256, 32768, 25));
        assert!(!should_announce(1000, 1249, 256, 32768, 25));
        // A bound is always announced, however small the step.
        assert!(should_announce(257, 256, 256, 32768, 25));
        assert!(should_announce(32767, 32768, 256, 32768, 25));
        // Rounded down: 25 % of 3 is 0, so any change goes.
        assert!(should_announce(3, 4, 1, 100, 25));
        // 0 % announces every change.
        assert!(should_announce(1000, 999, 256, 32768, 0));
    }

    #[test]
    fn a_gate_announces_the_size_that_holds_throughput_times_target() {
        let cfg = DebloatConfig {
            target: 1_000 * MS,
            period: 200 * MS,
            samples: 1,
            threshold_percent: 25,
            min_size: 256,
            max_size: 32 * 1024,
        };
        let mut g = GateDebloater::new(&cfg);
        g.throughput.resume(0);
        // 100 KB/s for 1 s over 10 buffers: 10,000 B each.
        g.throughput.incoming(20_000);
        assert_eq!(g.step(&cfg, 200 * MS, 10), Some(10_000));
        g.throughput.incoming(20_000);
        assert_eq!(g.step(&cfg, 400 * MS, 10), None, "unchanged");
        assert_eq!(g.size, 10_000);
        assert_eq!(desired_bytes(100_000, 300 * MS), 30_000);
    }
}
