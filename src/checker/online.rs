//! Every check that runs while the trace is produced, as one observer the trace lends back.
//!
//! A long run's trace is too large to keep, so the checks that read it observe it as it is
//! produced. The trace owns its observer as a `dyn TraceObserver`; rather than guess the
//! observer's type back from that after the run, the checker stays shared between the trace
//! and an [`OnlineHandle`] that returns it by its own type.

use std::cell::RefCell;
use std::rc::Rc;

use super::cut::CutTracker;
use super::exactly_once::{has_sources_and_sinks, OutputChecker};
use crate::topology::Topology;
use crate::trace::{Trace, TraceEvent, TraceObserver};

/// Every online check, as one trace observer.
#[derive(Debug, Clone)]
pub struct OnlineChecker {
    /// Exactly-once counting, for jobs with sources and sinks.
    pub outputs: Option<OutputChecker>,
    /// Sent and received counts at every snapshot; `None` when the run takes no snapshots.
    pub cuts: Option<CutTracker>,
}

impl OnlineChecker {
    /// The checks that apply to `topo`; `snapshots` is false for runs that take none, which
    /// then skip the per-message bookkeeping of cuts.
    pub fn new(topo: &Topology, snapshots: bool) -> Self {
        OnlineChecker {
            outputs: has_sources_and_sinks(topo).then(|| OutputChecker::new(topo)),
            cuts: snapshots.then(|| CutTracker::new(topo)),
        }
    }

    /// Makes the checker the observer of `trace`; the handle gives it back after the run.
    pub fn attach(self, trace: &mut Trace) -> OnlineHandle {
        let shared = Rc::new(RefCell::new(self));
        trace.set_observer(Box::new(Lent(Rc::clone(&shared))));
        OnlineHandle(shared)
    }
}

impl TraceObserver for OnlineChecker {
    fn observe(&mut self, event: &TraceEvent) {
        if let Some(o) = self.outputs.as_mut() {
            o.observe(event);
        }
        if let Some(c) = self.cuts.as_mut() {
            c.observe(event);
        }
    }

    // Exactly-once counting ignores sends; it needs a receive's channel to tell the paths
    // into a sink apart.

    #[inline]
    fn observe_send(&mut self, event: &TraceEvent) {
        if let (Some(c), &TraceEvent::Send { ch, seq, kind, .. }) = (self.cuts.as_mut(), event) {
            c.send(ch, seq, kind);
        }
    }

    #[inline]
    fn observe_receive(&mut self, event: &TraceEvent) {
        if let &TraceEvent::Receive { ch, seq, .. } = event {
            if let Some(o) = self.outputs.as_mut() {
                o.receive_on(ch);
            }
            if let Some(c) = self.cuts.as_mut() {
                c.receive(ch, seq);
            }
        }
    }
}

/// The checker as the trace holds it while the run goes on.
struct Lent(Rc<RefCell<OnlineChecker>>);

// Only the trace calls these, one event at a time, and nothing else borrows the checker until
// the handle takes it back: a borrow never fails.
impl TraceObserver for Lent {
    fn observe(&mut self, event: &TraceEvent) {
        self.0.borrow_mut().observe(event);
    }

    #[inline]
    fn observe_send(&mut self, event: &TraceEvent) {
        self.0.borrow_mut().observe_send(event);
    }

    #[inline]
    fn observe_receive(&mut self, event: &TraceEvent) {
        self.0.borrow_mut().observe_receive(event);
    }
}

/// Gives back the [`OnlineChecker`] lent to a trace.
#[derive(Debug)]
pub struct OnlineHandle(Rc<RefCell<OnlineChecker>>);

impl OnlineHandle {
    /// Detaches the checker from `trace`, the trace it was attached to, and returns it with
    /// everything it saw.
    pub fn take_back(self, trace: &mut Trace) -> OnlineChecker {
        drop(trace.take_observer());
        Rc::try_unwrap(self.0)
            .expect("the checker is taken back from the trace it was attached to")
            .into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use crate::trace::TraceMode;

    #[test]
    fn the_handle_gives_back_the_checker_that_saw_the_trace() {
        let json = r#"{"duration": "1ms", "dataflow": {"operators": [
            {"name": "src", "kind": {"source": {}}},
            {"name": "sink", "kind": {"sink": {}}}
        ], "edges": [{"from": "src", "to": "sink"}]}}"#;
        let topo = Topology::build(&Scenario::from_json(json.as_bytes(), "t").unwrap(), 0).unwrap();
        let mut trace = Trace::new(TraceMode::HashOnly);
        let handle = OnlineChecker::new(&topo, false).attach(&mut trace);
        trace.record(TraceEvent::SourceEmit {
            t: 0,
            task: 0,
            offset: 0,
        });
        let checker = handle.take_back(&mut trace);
        assert!(trace.take_observer().is_none(), "detached from the trace");
        let names = ["src[0]".to_string(), "sink[0]".to_string()];
        let (eo, _) = checker.outputs.expect("a job").finish(&names);
        assert_eq!(eo.lost, 1, "the emitted record never reached the sink");
    }
}
