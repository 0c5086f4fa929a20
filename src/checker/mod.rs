//! Verification of a run, from its trace and recorded states only.
//!
//! The [`OutputChecker`] observes the trace as it is produced (a long run's trace is too large
//! to keep) and counts, for every record a source emitted, how often it reached a sink. A
//! record reaches the sinks once per path from its source to a sink (broadcast edges make
//! several); fewer is a loss, more a duplicate. Where every edge is forward or hash, records of
//! one key from one source must also reach a sink in offset order.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::trace::{TraceEvent, TraceObserver};
use crate::sim::RunOutput;
use crate::topology::Topology;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// What kind of rule was broken, such as `lost-record` or `conservation`.
    pub kind: String,
    /// What exactly, naming tasks, records and ids.
    pub message: String,
}

/// Exactly-once counters at the sinks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExactlyOnce {
    /// Records that reached the sinks fewer times than they should.
    pub lost: u64,
    /// Extra copies that reached the sinks.
    pub duplicated: u64,
    /// Records that reached a sink after a later record of the same source and key.
    pub out_of_order: u64,
}

/// The checker's conclusion about one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// True when nothing was found.
    pub ok: bool,
    /// True when every recorded cut is consistent.
    pub consistent: bool,
    /// Counters for jobs with sources and sinks; `None` for process graphs.
    pub exactly_once: Option<ExactlyOnce>,
    /// Every finding.
    pub violations: Vec<Violation>,
}

/// Streams over the trace and counts sink outputs per source record.
#[derive(Debug, Clone)]
pub struct OutputChecker {
    multiplicity: Vec<u64>,
    emitted: Vec<u64>,
    counts: Vec<Vec<u16>>,
    check_order: bool,
    last_offset: BTreeMap<(u32, u32, u64), u64>,
    out_of_order: u64,
    first_out_of_order: Option<String>,
}

impl OutputChecker {
    /// A checker for the sources and sinks of `topo`.
    pub fn new(topo: &Topology) -> Self {
        let multiplicity = (0..topo.tasks.len())
            .map(|t| {
                if topo.tasks[t].role.is_source() {
                    topo.sink_multiplicity(t as u32)
                } else {
                    0
                }
            })
            .collect();
        OutputChecker {
            multiplicity,
            emitted: vec![0; topo.tasks.len()],
            counts: vec![Vec::new(); topo.tasks.len()],
            check_order: topo.preserves_key_order(),
            last_offset: BTreeMap::new(),
            out_of_order: 0,
            first_out_of_order: None,
        }
    }

    /// The counters, with an example of each kind of violation, given the task names.
    pub fn finish(&self, names: &[String]) -> (ExactlyOnce, Vec<Violation>) {
        let mut eo = ExactlyOnce {
            out_of_order: self.out_of_order,
            ..Default::default()
        };
        let mut first_lost = None;
        let mut first_dup = None;
        for (src, &emitted) in self.emitted.iter().enumerate() {
            let want = self.multiplicity[src];
            let counts = &self.counts[src];
            for offset in 0..emitted {
                let got = u64::from(counts.get(offset as usize).copied().unwrap_or(0));
                if got < want {
                    eo.lost += want - got;
                    first_lost.get_or_insert((src, offset, got, want));
                } else if got > want {
                    eo.duplicated += got - want;
                    first_dup.get_or_insert((src, offset, got, want));
                }
            }
        }
        let mut v = Vec::new();
        if let Some((s, o, got, want)) = first_lost {
            v.push(Violation {
                kind: "lost-record".into(),
                message: format!(
                    "{} records lost; the first: {} offset {o} reached the sinks {got} times, expected {want}",
                    eo.lost, names[s]
                ),
            });
        }
        if let Some((s, o, got, want)) = first_dup {
            v.push(Violation {
                kind: "duplicated-record".into(),
                message: format!(
                    "{} duplicate outputs; the first: {} offset {o} reached the sinks {got} times, expected {want}",
                    eo.duplicated, names[s]
                ),
            });
        }
        if let Some(m) = &self.first_out_of_order {
            v.push(Violation {
                kind: "out-of-order".into(),
                message: format!("{} records out of order; the first: {m}", self.out_of_order),
            });
        }
        (eo, v)
    }
}

impl TraceObserver for OutputChecker {
    fn observe(&mut self, event: &TraceEvent) {
        match *event {
            TraceEvent::SourceEmit { task, offset, .. } => {
                let e = &mut self.emitted[task as usize];
                *e = (*e).max(offset + 1);
            }
            TraceEvent::SinkOutput {
                task,
                source,
                offset,
                key,
                ..
            } => {
                let counts = &mut self.counts[source as usize];
                if counts.len() <= offset as usize {
                    counts.resize(offset as usize + 1, 0);
                }
                counts[offset as usize] = counts[offset as usize].saturating_add(1);
                if self.check_order {
                    let last = self
                        .last_offset
                        .entry((task, source, key))
                        .or_insert(offset);
                    if offset < *last {
                        self.out_of_order += 1;
                        if self.first_out_of_order.is_none() {
                            self.first_out_of_order = Some(format!(
                                "sink task {task} got source task {source} offset {offset} (key {key}) after offset {}",
                                *last
                            ));
                        }
                    } else {
                        *last = offset;
                    }
                }
            }
            _ => {}
        }
    }
}

/// Checks a finished run: sink outputs (for jobs) and conservation (for the bank).
pub fn verify(topo: &Topology, run: &mut RunOutput) -> Verdict {
    let names: Vec<String> = topo.tasks.iter().map(|t| t.name.clone()).collect();
    let mut violations = Vec::new();
    let mut exactly_once = None;
    if let Some(obs) = run.trace.take_observer() {
        let any: Box<dyn std::any::Any> = obs;
        if let Ok(checker) = any.downcast::<OutputChecker>() {
            let (eo, v) = checker.finish(&names);
            violations.extend(v);
            exactly_once = Some(eo);
        }
    }
    if let Some((initial, end)) = run.bank_totals {
        if initial != end {
            violations.push(Violation {
                kind: "conservation".into(),
                message: format!(
                    "the bank held {initial} at the start and {end} at the end (balances plus transfers in flight)"
                ),
            });
        }
    }
    let consistent = !violations
        .iter()
        .any(|v| v.kind.starts_with("inconsistent"));
    Verdict {
        ok: violations.is_empty(),
        consistent,
        exactly_once,
        violations,
    }
}

/// Whether the topology has sources and sinks, so that exactly-once can be checked.
pub fn has_sources_and_sinks(topo: &Topology) -> bool {
    topo.tasks.iter().any(|t| t.role.is_source()) && topo.tasks.iter().any(|t| t.role.is_sink())
}
