//! What each protocol declares about itself, and the handle the rest of snapsim uses.
//!
//! The simulation, the scenario checks, the checker and the reports never ask "is this
//! stop-the-world?"; they ask the [`Descriptor`]: does it take snapshots, what concurrency
//! limit does it need, which graphs does it run on, what does it promise.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use super::{ControlKind, TaskProtocol, TaskView, REGISTRY};
use crate::engine::Time;

/// What a protocol promises about every run, stated positively; the checker holds a run to
/// exactly these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Promises {
    /// Every recorded global snapshot is a consistent cut with exact channel state.
    pub consistent_cuts: bool,
    /// After recovery every record counts exactly once (given transactional sinks).
    pub exactly_once: bool,
}

/// The graphs a protocol runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Graphs {
    /// Dataflow jobs only (sources, operators, sinks, no cycles): barrier alignment on a
    /// cycle would wait forever.
    Dataflow,
    /// Dataflow jobs and process graphs (which may have cycles and no sources).
    Any,
}

/// A protocol parameter: a duration read from the scenario's `checkpointing` section under
/// `name` (the scenario's checks, schema and docs are generated from this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// The field name in `checkpointing`.
    pub name: &'static str,
    /// One sentence for the scenario docs and the schema.
    pub doc: &'static str,
    /// The value when the scenario does not set it.
    pub default_ns: Time,
    /// The least value it accepts (validation refuses less).
    pub min_ns: Time,
}

/// The values of a protocol's parameters for one run, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: Vec<(&'static str, Time)>,
}

impl Params {
    /// The parameters of `protocol`, each taken from `given` (field name to nanoseconds) or
    /// its default.
    pub fn resolve(protocol: ProtocolKind, given: &dyn Fn(&str) -> Option<Time>) -> Params {
        Params {
            values: protocol
                .params()
                .iter()
                .map(|p| (p.name, given(p.name).unwrap_or(p.default_ns)))
                .collect(),
        }
    }

    /// The value of parameter `name`. A protocol only asks for the parameters it declares, so
    /// a missing one is a bug in the protocol's descriptor.
    pub fn duration(&self, name: &str) -> Time {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v)
            .unwrap_or_else(|| panic!("parameter `{name}` is not declared by the protocol"))
    }
}

/// Everything snapsim needs to know about one protocol, declared in the protocol's own file.
pub struct Descriptor {
    /// The command-line name.
    pub name: &'static str,
    /// One line for `--help` and the docs.
    pub summary: &'static str,
    /// What the checker holds every run to.
    pub promises: Promises,
    /// Which graphs it runs on.
    pub graphs: Graphs,
    /// False for the baseline that takes no snapshots: the coordinator never triggers, there
    /// is no final checkpoint and sinks commit when the job ends.
    pub takes_snapshots: bool,
    /// Whether a completed snapshot subsumes older pending ones, which the coordinator then
    /// aborts (Flink's checkpoints). False for independent snapshots that are each collected
    /// (Chandy-Lamport's, from several initiators).
    pub completion_subsumes_older: bool,
    /// The most checkpoints it can have in flight, whatever the scenario asks for
    /// (stop-the-world halts the sources, and two halts cannot overlap).
    pub max_concurrent: Option<u32>,
    /// Why it refuses a scenario's `max_concurrent` above 1, if it does (validation names the
    /// field and gives this reason).
    pub refuses_concurrent: Option<&'static str>,
    /// The control messages it sends.
    pub control_kinds: &'static [ControlKind],
    /// The scenario fields it reads.
    pub params: &'static [Param],
    /// Whether, with these parameters, it wants to hear of FIFO control messages as they reach
    /// an input queue ([`super::TaskProtocol::on_announcement`]) and may prioritise queued ones.
    /// Off for every protocol that does not: its runs, and their cost, are unchanged.
    pub announces: fn(&Params) -> bool,
    /// A fresh state machine for one task.
    pub build: fn(&TaskView, &Params) -> Box<dyn TaskProtocol>,
}

/// `announces` of a protocol that never wants announcements.
pub(crate) fn never(_: &Params) -> bool {
    false
}

/// A protocol, by its entry in the registry. Cheap to copy; compares and orders by its
/// position in the registry (the contract's order).
#[derive(Clone, Copy)]
pub struct ProtocolKind(&'static Descriptor);

impl ProtocolKind {
    /// Every protocol, in the contract's order.
    pub fn all() -> impl Iterator<Item = ProtocolKind> {
        REGISTRY.iter().map(|d| ProtocolKind(d))
    }

    /// The protocol called `name`, if there is one.
    pub fn named(name: &str) -> Option<ProtocolKind> {
        ProtocolKind::all().find(|p| p.name() == name)
    }

    /// The baseline that overheads are measured against: the protocol that takes no
    /// snapshots (the default when a scenario names none).
    pub fn baseline() -> ProtocolKind {
        ProtocolKind::all()
            .find(|p| !p.takes_snapshots())
            .expect("the registry has a protocol that takes no snapshots")
    }

    /// Its description.
    pub fn descriptor(self) -> &'static Descriptor {
        self.0
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// What it promises.
    pub fn promises(self) -> Promises {
        self.0.promises
    }

    /// Whether it runs on process graphs (which may have cycles and no sources).
    pub fn supports_process_graphs(self) -> bool {
        self.0.graphs == Graphs::Any
    }

    /// The one statement of the protocol-versus-graph rule: `Err` says why this protocol
    /// cannot run on a process graph, naming the protocols that can.
    pub fn check_graph(self, process_graph: bool) -> Result<(), String> {
        if !process_graph || self.supports_process_graphs() {
            return Ok(());
        }
        let able: Vec<&str> = ProtocolKind::all()
            .filter(|p| p.supports_process_graphs())
            .map(|p| p.name())
            .collect();
        Err(format!(
            "`{}` needs a dataflow job; process graphs support {}",
            self.name(),
            and_list(&able)
        ))
    }

    /// False for the baseline that takes no snapshots.
    pub fn takes_snapshots(self) -> bool {
        self.0.takes_snapshots
    }

    /// Whether a completed snapshot subsumes older pending ones.
    pub fn completion_subsumes_older(self) -> bool {
        self.0.completion_subsumes_older
    }

    /// The most checkpoints in flight at once that it allows, if it limits them.
    pub fn max_concurrent(self) -> Option<u32> {
        self.0.max_concurrent
    }

    /// The one statement of the concurrency rule: `Err` says why this protocol cannot run
    /// `max_concurrent` checkpoints at once.
    pub fn check_concurrency(self, max_concurrent: u32) -> Result<(), String> {
        match self.0.refuses_concurrent {
            Some(why) if max_concurrent > 1 => Err(format!(
                "`{}` runs one checkpoint at a time ({why}); `max_concurrent` is {max_concurrent}",
                self.name()
            )),
            _ => Ok(()),
        }
    }

    /// The scenario fields it reads.
    pub fn params(self) -> &'static [Param] {
        self.0.params
    }

    /// Whether its tasks want announcements with these parameters (see [`Descriptor`]).
    pub fn announces(self, params: &Params) -> bool {
        (self.0.announces)(params)
    }

    /// A fresh state machine for one task.
    pub fn instantiate(self, view: &TaskView, params: &Params) -> Box<dyn TaskProtocol> {
        (self.0.build)(view, params)
    }

    fn position(self) -> usize {
        REGISTRY
            .iter()
            .position(|d| std::ptr::eq(*d, self.0))
            .expect("a handle points into the registry")
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

impl PartialEq for ProtocolKind {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for ProtocolKind {}

impl Hash for ProtocolKind {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.name.hash(state);
    }
}

impl PartialOrd for ProtocolKind {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ProtocolKind {
    fn cmp(&self, other: &Self) -> Ordering {
        self.position().cmp(&other.position())
    }
}

impl fmt::Debug for ProtocolKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ProtocolKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ProtocolKind::named(s).ok_or_else(|| {
            let names: Vec<_> = ProtocolKind::all().map(|p| p.name()).collect();
            format!(
                "unknown protocol `{s}`; expected one of: {}",
                names.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let names: Vec<_> = ProtocolKind::all().map(|p| p.name()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "{names:?}");
        for p in ProtocolKind::all() {
            assert_eq!(p.name().parse::<ProtocolKind>(), Ok(p));
        }
    }

    #[test]
    fn handles_order_by_registry_position() {
        let all: Vec<_> = ProtocolKind::all().collect();
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(sorted, all);
    }

    #[test]
    fn exactly_one_baseline_takes_no_snapshots() {
        assert_eq!(
            ProtocolKind::all().filter(|p| !p.takes_snapshots()).count(),
            1
        );
        assert!(!ProtocolKind::baseline().promises().exactly_once);
    }

    #[test]
    fn control_tags_mean_one_thing() {
        let kinds = super::super::control_kinds();
        for w in kinds.windows(2) {
            assert_ne!(w[0].tag, w[1].tag, "tag {} has two names", w[0].tag);
        }
        assert!(kinds.iter().all(|k| k.tag != 0), "tag 0 is data");
    }

    #[test]
    fn a_barrier_protocol_refuses_process_graphs_naming_those_that_run() {
        let dataflow_only = ProtocolKind::all()
            .find(|p| !p.supports_process_graphs())
            .unwrap();
        let err = dataflow_only.check_graph(true).unwrap_err();
        for p in ProtocolKind::all().filter(|p| p.supports_process_graphs()) {
            assert!(err.contains(p.name()), "{err}");
        }
        assert!(dataflow_only.check_graph(false).is_ok());
    }

    #[test]
    fn parameters_resolve_to_defaults_or_given_values() {
        for p in ProtocolKind::all() {
            let defaults = Params::resolve(p, &|_| None);
            let given = Params::resolve(p, &|_| Some(7));
            for param in p.params() {
                assert!(param.default_ns > 0, "{}.{}", p, param.name);
                assert_eq!(defaults.duration(param.name), param.default_ns);
                assert_eq!(given.duration(param.name), 7);
            }
        }
    }
}
