//! Named random streams split from one scenario seed.
//!
//! Every purpose (network latency of one task's links, one task's workload, failures, ...) gets
//! its own ChaCha8 stream: the key is derived from the seed, the stream number from the name.
//! Adding a task or a failure therefore adds streams without shifting the draws of the others.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A deterministic random stream (ChaCha8, never an OS or thread-local generator).
pub type RngStream = ChaCha8Rng;

/// The factory of named streams for one run.
#[derive(Debug, Clone, Copy)]
pub struct RngStreams {
    key: [u8; 32],
}

/// FNV-1a over the bytes of a name: stable across platforms and compiler versions, which the
/// standard library's hasher does not promise.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl RngStreams {
    /// Streams for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut state = seed;
        let mut key = [0u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        RngStreams { key }
    }

    /// The stream called `name`; the same name always gives the same sequence.
    pub fn stream(&self, name: &str) -> RngStream {
        let mut rng = ChaCha8Rng::from_seed(self.key);
        rng.set_stream(stable_hash(name.as_bytes()));
        rng
    }
}

/// Draws a uniform integer in `0..n` (`n > 0`).
#[inline]
pub fn below(rng: &mut RngStream, n: u64) -> u64 {
    debug_assert!(n > 0);
    rng.random_range(0..n)
}

/// Draws a uniform float in `[0, 1)`.
#[inline]
pub fn unit(rng: &mut RngStream) -> f64 {
    // 53 random bits: exact and platform independent.
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// An exponentially distributed time with the given mean, rounded to the nanosecond.
///
/// Drawn with the Ziggurat method (`rand_distr::Exp1`): one random word, a table lookup and
/// a multiplication for 98.9% of draws, where the inverse transform `-ln(u)` needed a
/// logarithm every time, the largest single cost of a message on exponential links. The
/// rare draws that fall outside the Ziggurat's rectangles still use `exp` and `ln`.
#[inline]
pub fn exponential(rng: &mut RngStream, mean: u64) -> u64 {
    use rand_distr::Distribution;
    let e: f64 = rand_distr::Exp1.sample(rng);
    round_to_u64(e * mean as f64)
}

/// Below 2^63 (every time a run can reach), where the signed conversions round exactly as
/// the unsigned ones do.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// `x.round() as u64` for a finite `x >= 0`, without the library call that `f64::round`
/// compiles to on baseline x86-64 (it was a tenth of the cost of drawing a latency). Exact:
/// the fraction `x - trunc(x)` is computed without rounding error. No branch: whether the
/// fraction reaches one half is a coin toss for a random draw, and a mispredicted branch at
/// the end of the draw's long chain of arithmetic cost more than the rest of it.
///
/// Below 2^63 it uses the signed conversions, one instruction each where the unsigned ones
/// are sequences (baseline x86-64 has none); they give the same result there. The range test
/// is a branch, but one that a run's draws always take the same way.
#[inline]
pub fn round_to_u64(x: f64) -> u64 {
    if (0.0..TWO_POW_63).contains(&x) {
        let t = x as i64;
        // `t < 2^63`, so `t + 1` cannot overflow.
        t as u64 + u64::from(x - t as f64 >= 0.5)
    } else {
        let t = x as u64;
        t.saturating_add(u64::from(x - t as f64 >= 0.5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_to_u64_agrees_with_f64_round() {
        let mut r = RngStreams::new(3).stream("round");
        let edge = [
            0.0,
            0.49999999999999994,
            0.5,
            1.5,
            2.5,
            4503599627370495.5,
            1e300,
            -0.0,
            -0.7,
            -3.5,
            f64::NAN,
            f64::INFINITY,
            TWO_POW_63,
            TWO_POW_63 - 1024.0,
            1.8446744073709552e19,
        ];
        for x in edge.into_iter().chain((0..100_000).map(|i| {
            let u = unit(&mut r);
            -(1.0 - u).ln() * [1.0, 1e3, 1e6, 1e9][i % 4]
        })) {
            assert_eq!(round_to_u64(x), x.round() as u64, "{x}");
        }
    }

    #[test]
    fn exponential_draws_have_the_mean_and_are_pinned() {
        let mut r = RngStreams::new(42).stream("network/p0");
        let first: Vec<u64> = (0..4).map(|_| exponential(&mut r, 1_000_000)).collect();
        // Changing these changes every results file with exponential links: a new version
        // of the sampler's crate must not do it silently.
        assert_eq!(first, [1_088_477, 824_057, 1_247_622, 269_882]);
        let n = 200_000;
        let mean = (0..n).map(|_| exponential(&mut r, 1_000_000)).sum::<u64>() as f64 / n as f64;
        assert!((mean / 1e6 - 1.0).abs() < 0.01, "mean {mean}");
        assert_eq!(exponential(&mut r, 0), 0);
    }

    #[test]
    fn same_seed_and_name_give_the_same_stream() {
        let a: Vec<u64> = {
            let mut r = RngStreams::new(7).stream("network/p");
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = RngStreams::new(7).stream("network/p");
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
    }

    #[test]
    fn names_and_seeds_separate_streams() {
        let first = |seed, name: &str| RngStreams::new(seed).stream(name).next_u64();
        assert_ne!(first(7, "network/p"), first(7, "network/q"));
        assert_ne!(first(7, "network/p"), first(8, "network/p"));
    }

    const KNOWN_FIRST_DRAW: u64 = 0x2a0f_155a_dc32_fd36;

    #[test]
    fn known_answer_pins_the_derivation() {
        // Changing this value changes every results file: do it only on purpose.
        assert_eq!(stable_hash(b"workload"), 0x5e9e_5100_67ad_e45c);
        let v = RngStreams::new(42).stream("workload").next_u64();
        assert_eq!(v, KNOWN_FIRST_DRAW, "got {v:#x}");
    }
}
