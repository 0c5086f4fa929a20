//! Flink's restart strategies as a pure state machine: told of each failure and when it
//! happened, a strategy answers with the wait before the restart, or gives up, which fails
//! the job.
//!
//! The rules (Flink's `*RestartBackoffTimeStrategy`):
//!
//! - **fixed-delay**: the same `delay` before each restart; the failure after `attempts`
//!   restarts gives up.
//! - **failure-rate**: `delay` before each restart, unless this failure and the
//!   `max_failures_per_interval` before it all fall within `failure_rate_interval` (the
//!   earliest of them at most the interval before this one): then it gives up.
//! - **exponential-delay**: the first failure waits `initial_backoff`. Each later one, if the
//!   time since the previous failure is at least `reset_backoff_threshold` plus the current
//!   backoff, goes back to `initial_backoff` (and starts counting attempts afresh); otherwise
//!   the backoff becomes `min(max(current × multiplier, initial), max)`. The wait is the
//!   backoff plus a jitter drawn uniformly from `[-⌊backoff × jitter⌋, +⌊backoff × jitter⌋]`
//!   nanoseconds, at most `max_backoff`. With `attempts_before_reset_backoff`, the failure
//!   after that many restarts since the last reset gives up. Every failure counts, including
//!   one while the job is still down from the previous one (Flink 1.19 merges failures of one
//!   restart; the simulation's failures during a recovery are planned one at a time).
//!
//! Absent a strategy, the scenario's `restart_delay` comes before every restart and the job
//! never gives up, as before strategies existed. The jitter comes from the seed's `restart`
//! stream, drawn only when the jitter is non-zero.

use std::collections::VecDeque;

use crate::engine::rng::below;
use crate::engine::{RngStream, RngStreams, Time};
use crate::scenario::{RecoverySpec, RestartStrategySpec};

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Restart after this wait (after detection, before the restore).
    Restart(Time),
    /// Give up: the job fails.
    GiveUp,
}

/// A restart strategy's state.
#[derive(Debug, Clone)]
pub enum RestartStrategy {
    /// The scenario's `restart_delay` before every restart, forever.
    Unlimited {
        /// The wait.
        delay: Time,
    },
    /// Flink's fixed-delay.
    FixedDelay {
        /// Restarts allowed.
        attempts: u32,
        /// The wait.
        delay: Time,
        /// Restarts so far.
        restarts: u32,
    },
    /// Flink's failure-rate.
    FailureRate {
        /// Failures tolerated within the interval.
        max: u32,
        /// The interval.
        interval: Time,
        /// The wait.
        delay: Time,
        /// The times of the last `max` failures.
        recent: VecDeque<Time>,
    },
    /// Flink's exponential-delay.
    Exponential(Box<Exponential>),
}

/// The state of an exponential-delay strategy.
#[derive(Debug, Clone)]
pub struct Exponential {
    initial: Time,
    max: Time,
    multiplier: f64,
    threshold: Time,
    jitter: f64,
    attempts: Option<u32>,
    /// The current backoff, before jitter.
    current: Time,
    last_failure: Option<Time>,
    restarts_since_reset: u32,
    rng: RngStream,
}

impl RestartStrategy {
    /// The strategy of a scenario's recovery settings; jitter from `seed`'s `restart` stream.
    pub fn new(spec: &RecoverySpec, seed: u64) -> Self {
        match &spec.restart_strategy {
            None => RestartStrategy::Unlimited {
                delay: spec.restart_delay.ns(),
            },
            Some(RestartStrategySpec::FixedDelay { attempts, delay }) => {
                RestartStrategy::FixedDelay {
                    attempts: *attempts,
                    delay: delay.ns(),
                    restarts: 0,
                }
            }
            Some(RestartStrategySpec::FailureRate {
                max_failures_per_interval,
                failure_rate_interval,
                delay,
            }) => RestartStrategy::FailureRate {
                max: *max_failures_per_interval,
                interval: failure_rate_interval.ns(),
                delay: delay.ns(),
                recent: VecDeque::new(),
            },
            Some(RestartStrategySpec::ExponentialDelay {
                initial_backoff,
                max_backoff,
                backoff_multiplier,
                reset_backoff_threshold,
                jitter_factor,
                attempts_before_reset_backoff,
            }) => RestartStrategy::Exponential(Box::new(Exponential {
                initial: initial_backoff.ns(),
                max: max_backoff.ns(),
                multiplier: *backoff_multiplier,
                threshold: reset_backoff_threshold.ns(),
                jitter: *jitter_factor,
                attempts: *attempts_before_reset_backoff,
                current: initial_backoff.ns(),
                last_failure: None,
                restarts_since_reset: 0,
                rng: RngStreams::new(seed).stream("restart"),
            })),
        }
    }

    /// A failure at `now`: restart after a wait, or give up.
    pub fn on_failure(&mut self, now: Time) -> Decision {
        match self {
            RestartStrategy::Unlimited { delay } => Decision::Restart(*delay),
            RestartStrategy::FixedDelay {
                attempts,
                delay,
                restarts,
            } => {
                if *restarts >= *attempts {
                    return Decision::GiveUp;
                }
                *restarts += 1;
                Decision::Restart(*delay)
            }
            RestartStrategy::FailureRate {
                max,
                interval,
                delay,
                recent,
            } => {
                let full = recent.len() >= *max as usize;
                if full && recent.front().is_some_and(|&t| now - t <= *interval) {
                    return Decision::GiveUp;
                }
                recent.push_back(now);
                while recent.len() > *max as usize {
                    recent.pop_front();
                }
                Decision::Restart(*delay)
            }
            RestartStrategy::Exponential(e) => e.on_failure(now),
        }
    }
}

impl Exponential {
    fn on_failure(&mut self, now: Time) -> Decision {
        match self.last_failure {
            None => self.current = self.initial,
            Some(last) if now - last >= self.threshold.saturating_add(self.current) => {
                self.current = self.initial;
                self.restarts_since_reset = 0;
            }
            Some(_) => {
                let grown = (self.current as f64 * self.multiplier).min(self.max as f64) as Time;
                self.current = grown.max(self.initial).min(self.max);
            }
        }
        self.last_failure = Some(now);
        if self
            .attempts
            .is_some_and(|a| self.restarts_since_reset >= a)
        {
            return Decision::GiveUp;
        }
        self.restarts_since_reset += 1;
        let spread = (self.current as f64 * self.jitter).floor() as Time;
        let wait = if spread == 0 {
            self.current
        } else {
            // Uniform in [current - spread, current + spread].
            let draw = below(&mut self.rng, 2 * spread + 1);
            (self.current - spread) + draw
        };
        Decision::Restart(wait.min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Duration;

    const S: Time = 1_000_000_000;

    fn recovery(strategy: RestartStrategySpec) -> RecoverySpec {
        RecoverySpec {
            restart_strategy: Some(strategy),
            ..RecoverySpec::default()
        }
    }

    fn exponential(jitter: f64, attempts: Option<u32>) -> RestartStrategy {
        RestartStrategy::new(
            &recovery(RestartStrategySpec::ExponentialDelay {
                initial_backoff: Duration(S),
                max_backoff: Duration(10 * S),
                backoff_multiplier: 2.0,
                reset_backoff_threshold: Duration(60 * S),
                jitter_factor: jitter,
                attempts_before_reset_backoff: attempts,
            }),
            7,
        )
    }

    #[test]
    fn without_a_strategy_every_failure_waits_the_restart_delay() {
        let mut s = RestartStrategy::new(&RecoverySpec::default(), 0);
        for i in 0..100 {
            assert_eq!(s.on_failure(i), Decision::Restart(10_000_000));
        }
    }

    #[test]
    fn fixed_delay_gives_up_at_the_failure_after_its_attempts() {
        let mut s = RestartStrategy::new(
            &recovery(RestartStrategySpec::FixedDelay {
                attempts: 3,
                delay: Duration(S),
            }),
            0,
        );
        for i in 0..3 {
            assert_eq!(s.on_failure(i * 100 * S), Decision::Restart(S));
        }
        assert_eq!(s.on_failure(1000 * S), Decision::GiveUp);
    }

    #[test]
    fn failure_rate_gives_up_at_the_fourth_failure_within_ten_seconds() {
        // FailureRateRestartBackoffTimeStrategyTest.testFailuresExceedingRate: 3 per 10 s.
        let spec = RestartStrategySpec::FailureRate {
            max_failures_per_interval: 3,
            failure_rate_interval: Duration(10 * S),
            delay: Duration(S),
        };
        let mut s = RestartStrategy::new(&recovery(spec.clone()), 0);
        for t in [0, 2 * S, 4 * S] {
            assert_eq!(s.on_failure(t), Decision::Restart(S));
        }
        assert_eq!(s.on_failure(6 * S), Decision::GiveUp);
        // Spread out, no four fall within the interval: it restarts forever.
        let mut s = RestartStrategy::new(&recovery(spec), 0);
        for i in 0..20 {
            assert_eq!(s.on_failure(i * 4 * S), Decision::Restart(S), "{i}");
        }
    }

    #[test]
    fn exponential_delay_doubles_to_its_maximum_and_resets_after_a_quiet_period() {
        let mut s = exponential(0.0, None);
        let mut waits = Vec::new();
        let mut t = 0;
        for _ in 0..6 {
            match s.on_failure(t) {
                Decision::Restart(w) => waits.push(w / S),
                Decision::GiveUp => panic!("gave up"),
            }
            t += S;
        }
        assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
        // Just short of threshold + current since the last failure: it keeps the maximum.
        let last = t - S;
        assert_eq!(
            s.on_failure(last + 60 * S + 10 * S - 1),
            Decision::Restart(10 * S)
        );
        let last = last + 70 * S - 1;
        assert_eq!(s.on_failure(last + 70 * S), Decision::Restart(S));
    }

    #[test]
    fn exponential_delay_jitters_within_its_factor_from_the_seed() {
        let draws = |seed: u64| {
            let mut s = RestartStrategy::new(
                &recovery(RestartStrategySpec::ExponentialDelay {
                    initial_backoff: Duration(S),
                    max_backoff: Duration(S),
                    backoff_multiplier: 1.0,
                    reset_backoff_threshold: Duration(3600 * S),
                    jitter_factor: 0.1,
                    attempts_before_reset_backoff: None,
                }),
                seed,
            );
            (0..50)
                .map(|i| match s.on_failure(i) {
                    Decision::Restart(w) => w,
                    Decision::GiveUp => panic!(),
                })
                .collect::<Vec<_>>()
        };
        let a = draws(1);
        assert_eq!(a, draws(1));
        assert_ne!(a, draws(2));
        // Within [0.9 s, 1 s]: the maximum caps the upper half.
        assert!(a.iter().all(|&w| (S - S / 10..=S).contains(&w)), "{a:?}");
        assert!(a.iter().any(|&w| w < S));
    }

    #[test]
    fn exponential_delay_gives_up_after_its_attempts_until_a_reset() {
        let mut s = exponential(0.0, Some(2));
        assert_eq!(s.on_failure(0), Decision::Restart(S));
        assert_eq!(s.on_failure(S), Decision::Restart(2 * S));
        assert_eq!(s.on_failure(2 * S), Decision::GiveUp);
        let mut s = exponential(0.0, Some(2));
        assert_eq!(s.on_failure(0), Decision::Restart(S));
        assert_eq!(s.on_failure(S), Decision::Restart(2 * S));
        // A quiet period resets the count.
        assert_eq!(s.on_failure(S + 62 * S), Decision::Restart(S));
        assert_eq!(s.on_failure(S + 63 * S), Decision::Restart(2 * S));
    }
}
