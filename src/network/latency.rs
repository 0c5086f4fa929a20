//! Latency models of a channel.

use rand_distr::{Distribution, Normal};

use crate::engine::rng::RngStream;
use crate::engine::Time;

/// How long a message takes on a channel once it is on the wire (after serialisation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Always the same.
    Constant(Time),
    /// Uniform between `min` and `max`, both inclusive.
    Uniform {
        /// Smallest latency.
        min: Time,
        /// Largest latency.
        max: Time,
    },
    /// Exponential with the given mean.
    Exponential {
        /// Mean latency.
        mean: Time,
    },
    /// Normal, clipped at zero.
    Normal {
        /// Mean latency.
        mean: Time,
        /// Standard deviation.
        std_dev: Time,
    },
}

impl Latency {
    /// True when sampling needs no random draw.
    pub fn is_constant(&self) -> bool {
        matches!(self, Latency::Constant(_))
    }

    /// Draws one latency.
    #[inline]
    pub fn sample(&self, rng: &mut RngStream) -> Time {
        match *self {
            Latency::Constant(t) => t,
            Latency::Uniform { min, max } => {
                if max <= min {
                    min
                } else {
                    min + crate::engine::rng::below(rng, max - min + 1)
                }
            }
            Latency::Exponential { mean } => crate::engine::rng::exponential(rng, mean),
            Latency::Normal { mean, std_dev } => {
                let normal = Normal::new(mean as f64, std_dev as f64)
                    .expect("standard deviation is finite and non-negative");
                normal.sample(rng).max(0.0).round() as Time
            }
        }
    }

    /// The mean of the model (for summaries and sanity checks).
    pub fn mean(&self) -> Time {
        match *self {
            Latency::Constant(t) => t,
            Latency::Uniform { min, max } => (min + max) / 2,
            Latency::Exponential { mean } | Latency::Normal { mean, .. } => mean,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RngStreams;

    fn mean_of(l: Latency) -> f64 {
        let mut rng = RngStreams::new(1).stream("t");
        let n = 20_000;
        (0..n).map(|_| l.sample(&mut rng) as f64).sum::<f64>() / n as f64
    }

    #[test]
    fn sample_means_are_close_to_the_model_means() {
        let cases = [
            Latency::Constant(500),
            Latency::Uniform { min: 100, max: 300 },
            Latency::Exponential { mean: 1000 },
            Latency::Normal {
                mean: 1000,
                std_dev: 100,
            },
        ];
        for l in cases {
            let m = mean_of(l);
            let expected = l.mean() as f64;
            assert!(
                (m - expected).abs() < expected * 0.03,
                "{l:?}: sample mean {m} vs {expected}"
            );
        }
    }

    #[test]
    fn normal_is_clipped_at_zero() {
        let mut rng = RngStreams::new(3).stream("t");
        let l = Latency::Normal {
            mean: 10,
            std_dev: 1000,
        };
        // A u64 cannot be negative; the point is that sampling does not wrap around.
        assert!((0..1000).all(|_| l.sample(&mut rng) < 10_000));
    }
}
