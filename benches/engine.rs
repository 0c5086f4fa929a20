//! Micro-benchmarks of the engine's inner mechanisms, for regression checks.
//!
//! Measures the event queue (the radix heap under the classic "hold" model, against
//! `std::collections::BinaryHeap` as a reference point, and under heavy ties; a lane under
//! the hold model with a fixed delay), latency
//! sampling from a named ChaCha8 stream, hashing trace events, and one small whole simulation
//! (bank relay, Chandy-Lamport) per event.
//!
//! Run with `cargo bench --bench engine`. Options after `--`:
//!
//! - a filter, the first argument not starting with `-`: only cases whose name contains it
//!   (`cargo bench --bench engine -- queue/`);
//! - `--quick`: 3 samples instead of 11;
//! - `--json`: also print one JSON line per case,
//!   `{"bench": name, "ns_per_op": median, "min": .., "max": ..}`.
//!
//! Other flags (such as the `--bench` that cargo passes) are ignored. Every figure is the
//! median over the samples of nanoseconds per operation, with the fastest and slowest sample;
//! each sample times a fixed batch of operations with `std::time::Instant` after a warm-up.
//! A queue operation is one pop plus one push.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use snapsim::engine::{EventQueue, RngStreams, Time};
use snapsim::network::Latency;
use snapsim::trace::{Trace, TraceEvent, TraceMode};

/// Operations per sample for the cheap cases: large enough that timer overhead vanishes.
const BATCH: u64 = 1 << 20;
/// Mean increment of the hold model, in simulated ns.
const MEAN_GAP: f64 = 1_000.0;

struct Harness {
    filter: Option<String>,
    samples: usize,
    json: bool,
}

impl Harness {
    fn from_args() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let quick = args.iter().any(|a| a == "--quick");
        Harness {
            filter: args.iter().find(|a| !a.starts_with('-')).cloned(),
            samples: if quick { 3 } else { 11 },
            json: args.iter().any(|a| a == "--json"),
        }
    }

    /// Times `batch` (which returns how many operations it did) once to warm up, then once per
    /// sample, and prints the median, min and max in ns per operation.
    fn case(&self, name: &str, mut batch: impl FnMut() -> u64) {
        if self
            .filter
            .as_ref()
            .is_some_and(|f| !name.contains(f.as_str()))
        {
            return;
        }
        black_box(batch());
        let mut ns: Vec<f64> = (0..self.samples)
            .map(|_| {
                let start = Instant::now();
                let ops = black_box(batch());
                start.elapsed().as_nanos() as f64 / ops.max(1) as f64
            })
            .collect();
        ns.sort_by(f64::total_cmp);
        let (min, med, max) = (ns[0], ns[ns.len() / 2], ns[ns.len() - 1]);
        println!("{name:<28} {med:>10.2} ns/op  ({min:.2} .. {max:.2})");
        if self.json {
            // Written by hand to keep the documented key order; serde_json escapes the name.
            let name = serde_json::to_string(name).expect("a string serialises");
            println!(r#"{{"bench": {name}, "ns_per_op": {med}, "min": {min}, "max": {max}}}"#);
        }
    }
}

/// Exponential-ish increments (at least 1 ns), drawn up front with a fixed seed so the timed
/// loop measures the queue, not the generator, and both queues see the same sequence.
fn gaps(seed: u64) -> Vec<Time> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..1 << 16)
        .map(|_| {
            let u: f64 = 1.0 - rng.random::<f64>();
            (-u.ln() * MEAN_GAP) as Time + 1
        })
        .collect()
}

/// The hold model on the radix heap: `n` events queued, each operation pops the minimum and
/// pushes one event at the popped time plus the next increment (never earlier than it).
fn hold_radix(h: &Harness, name: &str, n: usize, gaps: Vec<Time>) {
    let mut q = EventQueue::<u64>::new();
    for (i, &g) in gaps.iter().cycle().take(n).enumerate() {
        q.push(g, i as u64);
    }
    let mask = gaps.len() - 1;
    let mut i = 0usize;
    h.case(name, || {
        for _ in 0..BATCH {
            let (t, e) = q.pop().expect("the hold model keeps n events");
            i = (i + 1) & mask;
            q.push(t + gaps[i], black_box(e));
        }
        assert_eq!(q.len(), n);
        BATCH
    });
}

/// The hold model with every event pushed a fixed delay after the popped time, as a task's
/// processing cost schedules the end of its work: the queue keeps such events in a lane.
fn hold_lane(h: &Harness, name: &str, n: usize) {
    const DELAY: Time = 1_000;
    let mut q = EventQueue::<u64>::new();
    for i in 0..n {
        q.push_after(i as Time, DELAY, i as u64);
    }
    h.case(name, || {
        for _ in 0..BATCH {
            let (t, e) = q.pop().expect("the hold model keeps n events");
            q.push_after(t, DELAY, black_box(e));
        }
        assert_eq!(q.len(), n);
        BATCH
    });
}

/// The same hold model on a binary heap keyed by (time, sequence number), as the reference.
fn hold_binary_heap(h: &Harness, name: &str, n: usize, gaps: Vec<Time>) {
    let mut q = BinaryHeap::with_capacity(n + 1);
    let mut seq = 0u64;
    for &g in gaps.iter().cycle().take(n) {
        q.push(Reverse((g, seq)));
        seq += 1;
    }
    let mask = gaps.len() - 1;
    let mut i = 0usize;
    h.case(name, || {
        for _ in 0..BATCH {
            let Reverse((t, e)) = q.pop().expect("the hold model keeps n events");
            black_box(e);
            i = (i + 1) & mask;
            q.push(Reverse((t + gaps[i], seq)));
            seq += 1;
        }
        BATCH
    });
}

/// Heavy ties: increments of 0 to 3 whole microseconds, so the 64k queued events share about
/// four distinct times and most pops come from the same-instant FIFO.
fn ties(h: &Harness) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let steps: Vec<Time> = (0..1 << 16)
        .map(|_| rng.random_range(0..4u64) * 1_000)
        .collect();
    let n = 1 << 16;
    let mut q = EventQueue::<u64>::new();
    for (i, &s) in steps.iter().enumerate() {
        q.push(s, i as u64);
    }
    let mut i = 0usize;
    h.case("queue/ties-64k", || {
        for _ in 0..BATCH {
            let (t, e) = q.pop().expect("the model keeps n events");
            i = (i + 1) & (steps.len() - 1);
            q.push(t + steps[i], black_box(e));
        }
        assert_eq!(q.len(), n);
        BATCH
    });
}

fn latency(h: &Harness, name: &str, model: Latency) {
    let mut rng = RngStreams::new(1).stream("bench/latency");
    h.case(name, || {
        let mut sum: Time = 0;
        for _ in 0..BATCH {
            sum = sum.wrapping_add(model.sample(&mut rng));
        }
        black_box(sum);
        BATCH
    });
}

/// Hash-only recording, Send and Receive alternately, as a channel's traffic produces them.
fn trace(h: &Harness) {
    let mut trace = Trace::new(TraceMode::HashOnly);
    let mut t: Time = 0;
    h.case("trace/record-hash-only", || {
        for k in 0..BATCH / 2 {
            t += 1;
            let ch = (k & 255) as u32;
            trace.record(black_box(TraceEvent::Send {
                t,
                ch,
                seq: k,
                bytes: 64,
                kind: 0,
                tag: 0,
                num: k,
            }));
            trace.record(black_box(TraceEvent::Receive { t, ch, seq: k }));
        }
        BATCH
    });
    black_box(trace.hash_hex());
}

/// A whole small run, verified, in ns per engine event (building the world included).
fn simulation(h: &Harness) {
    let workload = snapsim::bench::bank_64_sweep(true);
    h.case("sim/bank-64-small", || {
        snapsim::bench::measure(&workload, 1)
            .expect("the bench workload runs and verifies")
            .events
    });
}

fn main() {
    let h = Harness::from_args();
    hold_radix(&h, "queue/hold-1k", 1 << 10, gaps(1));
    hold_radix(&h, "queue/hold-64k", 1 << 16, gaps(2));
    hold_binary_heap(&h, "queue/binary-heap-hold-64k", 1 << 16, gaps(2));
    hold_binary_heap(&h, "queue/binary-heap-hold-1k", 1 << 10, gaps(1));
    hold_lane(&h, "queue/lane-hold-1k", 1 << 10);
    ties(&h);
    latency(
        &h,
        "rng/latency-exponential",
        Latency::Exponential { mean: 1_000_000 },
    );
    latency(
        &h,
        "rng/latency-uniform",
        Latency::Uniform {
            min: 500_000,
            max: 1_500_000,
        },
    );
    trace(&h);
    simulation(&h);
}
