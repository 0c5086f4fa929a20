//! A replayable source log.

use rand::RngCore;
use rand_distr::{Distribution, Zipf};

use crate::engine::Time;
use crate::network::{Message, Origin, TaskId};
use crate::scenario::{KeyDistribution, SourceSpec};

/// SplitMix64: a tiny counter-based generator. A record's key is drawn from a generator seeded
/// with (log seed, offset), so the log is a pure function of the offset and a rewound source
/// reproduces exactly the records it produced before.
struct SplitMix(u64);

impl RngCore for SplitMix {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// A source's log and its read position (the offset is the whole of a source's state).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceLog {
    /// This source's task id (part of every record's origin).
    pub task: TaskId,
    /// The next offset to read.
    pub offset: u64,
    /// Offsets in the log (`u64::MAX` when unbounded).
    pub len: u64,
    /// Time after which the source reads no more.
    pub stop_at: Time,
    /// Gap between records at the configured rate; `None` reads as fast as possible.
    pub rate: Option<crate::scenario::Rate>,
    /// Number of keys.
    pub keys: u64,
    zipf: Option<Zipf<f64>>,
    /// Bytes per record.
    pub record_size: u32,
    seed: u64,
}

impl SourceLog {
    /// The log of source `task`, with `seed` drawn from the task's workload stream. `limit` is
    /// the scenario's duration, which also ends an unbounded source.
    pub fn new(task: TaskId, spec: &SourceSpec, seed: u64, limit: Time) -> Self {
        let zipf = match spec.key_distribution {
            KeyDistribution::Uniform => None,
            KeyDistribution::Zipf { exponent } => Some(
                Zipf::new(spec.keys as f64, exponent).expect("validated: keys >= 1, exponent > 0"),
            ),
        };
        SourceLog {
            task,
            offset: 0,
            len: spec.records.unwrap_or(u64::MAX),
            stop_at: spec.duration.map_or(limit, |d| d.ns().min(limit)),
            rate: spec.rate,
            keys: spec.keys,
            zipf,
            record_size: spec.record_size.bytes() as u32,
            seed,
        }
    }

    /// When the record at `offset` becomes available (time zero when reading as fast as
    /// possible), or `None` when the log has ended by then.
    pub fn due(&self, offset: u64) -> Option<Time> {
        if offset >= self.len {
            return None;
        }
        let t = self.rate.map_or(0, |r| r.nth_event_ns(offset));
        (t < self.stop_at).then_some(t)
    }

    /// True when the next read would find nothing, as of time `now`.
    pub fn exhausted(&self, now: Time) -> bool {
        self.offset >= self.len || now >= self.stop_at || self.due(self.offset).is_none()
    }

    /// The record at `offset`, created at `now`.
    pub fn record(&self, offset: u64, now: Time) -> Message {
        let mut g = SplitMix(self.seed ^ offset.wrapping_mul(0xd6e8_feb8_6659_fd93));
        let key = match &self.zipf {
            // Zipf draws 1..=n; key 0 is the most frequent.
            Some(z) => (z.sample(&mut g) as u64)
                .saturating_sub(1)
                .min(self.keys - 1),
            None => g.next_u64() % self.keys,
        };
        let value = (g.next_u64() % 100) as i64 + 1;
        Message::data(
            self.record_size,
            key,
            value,
            Origin {
                source: self.task,
                offset,
            },
            now,
        )
    }

    /// Rewinds (or advances) the read position, for recovery.
    pub fn seek(&mut self, offset: u64) {
        self.offset = offset;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Rate;

    fn spec(dist: KeyDistribution) -> SourceSpec {
        SourceSpec {
            rate: Some("1000/s".parse::<Rate>().unwrap()),
            records: Some(100),
            duration: None,
            keys: 10,
            key_distribution: dist,
            record_size: crate::scenario::ByteSize(50),
        }
    }

    #[test]
    fn the_log_is_a_function_of_the_offset() {
        let log = SourceLog::new(3, &spec(KeyDistribution::Uniform), 42, u64::MAX);
        let a: Vec<u64> = (0..50).map(|o| log.record(o, 0).num).collect();
        let mut rewound = log.clone();
        rewound.seek(20);
        let b: Vec<u64> = (20..50).map(|o| rewound.record(o, 7).num).collect();
        assert_eq!(&a[20..], &b[..]);
        assert!(a.iter().all(|&k| k < 10));
        assert_eq!(
            log.record(5, 0).origin,
            Origin {
                source: 3,
                offset: 5
            }
        );
    }

    #[test]
    fn zipf_keys_are_skewed_towards_zero() {
        let log = SourceLog::new(
            0,
            &spec(KeyDistribution::Zipf { exponent: 1.5 }),
            1,
            u64::MAX,
        );
        let zeros = (0..1000).filter(|&o| log.record(o, 0).num == 0).count();
        assert!(zeros > 300, "key 0 drawn {zeros} times of 1000");
    }

    #[test]
    fn rate_and_limits_decide_when_records_are_due() {
        let log = SourceLog::new(0, &spec(KeyDistribution::Uniform), 1, 50_000_000);
        assert_eq!(log.due(0), Some(0));
        assert_eq!(log.due(3), Some(3_000_000));
        assert_eq!(log.due(50), None, "past the 50 ms limit");
        assert_eq!(log.due(100), None, "past the end of the log");
    }
}
