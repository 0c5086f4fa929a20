//! Run-wide counters for the summary, and the timeline of output and back-pressure.

use crate::engine::Time;

/// Run-wide counters the summary reports.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Records read by sources.
    pub source_records: u64,
    /// Records written by sinks.
    pub sink_records: u64,
    /// Data messages sent on any channel.
    pub data_messages: u64,
    /// Control messages sent on any channel.
    pub control_messages: u64,
    /// End-to-end latency of every record that reached a sink.
    pub latencies: Vec<Time>,
    /// Width of a timeline bucket: a hundredth of the scenario's duration, doubled as often
    /// as needed to keep a long run within [`MAX_BUCKETS`] buckets.
    pub bucket_ns: Time,
    /// Records written by sinks, per bucket.
    pub timeline_out: Vec<u64>,
    /// Task-nanoseconds spent back-pressured, per bucket.
    pub timeline_bp: Vec<u64>,
    /// When a source first read a record (the start of the job's active time).
    pub first_read_ns: Option<Time>,
    /// When a sink last wrote a record (the end of the job's active time).
    pub last_output_ns: Time,
}

/// The most buckets a timeline holds: a run longer than twice its scenario's duration gets
/// wider buckets rather than more, so the results file grows with the work done, not with
/// simulated time.
pub const MAX_BUCKETS: usize = 200;

impl Counters {
    /// The bucket of time `t`, widening every bucket (merging neighbours in pairs) until
    /// it is one of the first [`MAX_BUCKETS`].
    pub fn bucket(&mut self, t: Time) -> usize {
        let w = self.bucket_ns.max(1);
        if t / w < MAX_BUCKETS as Time {
            return (t / w) as usize;
        }
        let mut w = w;
        while t / w >= MAX_BUCKETS as Time {
            w = w.saturating_mul(2);
            for v in [&mut self.timeline_out, &mut self.timeline_bp] {
                let merged: Vec<u64> = v.chunks(2).map(|c| c.iter().sum()).collect();
                *v = merged;
            }
        }
        self.bucket_ns = w;
        (t / w) as usize
    }

    /// Counts one record written by a sink at `t`.
    pub fn add_output(&mut self, t: Time) {
        let b = self.bucket(t);
        if self.timeline_out.len() <= b {
            self.timeline_out.resize(b + 1, 0);
        }
        self.timeline_out[b] += 1;
        self.last_output_ns = t;
    }

    /// Spreads a back-pressured interval over the timeline buckets it covers.
    pub fn add_backpressure(&mut self, from: Time, to: Time) {
        if to > from {
            self.bucket(to - 1);
        }
        let w = self.bucket_ns.max(1);
        let mut t = from;
        while t < to {
            let b = (t / w) as usize;
            let end = ((b as Time + 1) * w).min(to);
            if self.timeline_bp.len() <= b {
                self.timeline_bp.resize(b + 1, 0);
            }
            self.timeline_bp[b] += end - t;
            t = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_run_widens_the_timeline_instead_of_growing_it() {
        let mut c = Counters {
            bucket_ns: 10,
            ..Counters::default()
        };
        for t in [0, 5, 15, 1_995] {
            c.add_output(t);
        }
        assert_eq!((c.bucket_ns, c.timeline_out.len()), (10, 200));
        // Far beyond: buckets double until the time fits, counts are kept.
        c.add_output(1_000_000);
        assert!(c.timeline_out.len() <= MAX_BUCKETS);
        assert_eq!(c.bucket_ns, 10 << 9);
        assert_eq!(c.timeline_out.iter().sum::<u64>(), 5);
        assert_eq!(
            c.timeline_out[0], 4,
            "the first four fall in the first wide bucket"
        );
        c.add_backpressure(0, 10_000_000);
        assert!(c.timeline_bp.len() <= MAX_BUCKETS);
        assert_eq!(c.timeline_bp.iter().sum::<u64>(), 10_000_000);
        assert_eq!(c.last_output_ns, 1_000_000);
    }
}
