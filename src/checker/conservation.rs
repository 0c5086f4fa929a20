//! Conservation in the bank: every snapshot, and the run's end, holds the money it began with.

use super::verdict::{Violation, ViolationKind};
use crate::scenario::{ProcessWorkload, Scenario};
use crate::snapshot::GlobalSnapshot;
use crate::topology::{Role, Topology};
use crate::workload::Behaviour;

/// The bank's money outside its snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BankTotals {
    /// At the start: every process's initial balance.
    pub initial: i64,
    /// At the end: the balances plus the transfers still in channels or on the wire. Only the
    /// simulation sees those transfers (the trace carries no amounts), so it counts this.
    pub end: i64,
}

impl BankTotals {
    /// The totals of a run of `scenario` (built into `topo`) whose simulation counted `end`
    /// at the end; `None` unless the scenario is a bank.
    pub fn new(scenario: &Scenario, topo: &Topology, end: i64) -> Option<Self> {
        let Some(ProcessWorkload::Bank(bank)) = scenario.processes.as_ref().map(|p| &p.workload)
        else {
            return None;
        };
        let processes = topo
            .tasks
            .iter()
            .filter(|t| matches!(t.role, Role::Process))
            .count() as i64;
        // Validation keeps the balance far below i64::MAX.
        let initial = processes * bank.initial_balance as i64;
        (processes > 0).then_some(BankTotals { initial, end })
    }
}

/// Checks that every snapshot records, in balances and channel states, the money the bank
/// started with, and that the run ends with it; pushes a finding for each that does not.
pub fn check_conservation(
    snapshots: &[GlobalSnapshot],
    totals: BankTotals,
    out: &mut Vec<Violation>,
) {
    let BankTotals { initial, end } = totals;
    for snap in snapshots {
        let balances: i64 = snap
            .tasks
            .iter()
            .map(|t| match &t.state {
                Behaviour::Bank(b) => b.balance,
                _ => 0,
            })
            .sum();
        let in_flight: i64 = snap
            .tasks
            .iter()
            .flat_map(|t| t.input_state.iter().chain(&t.output_state))
            .flat_map(|(_, msgs)| msgs)
            .map(|m| m.value)
            .sum();
        if balances + in_flight != initial {
            out.push(Violation {
                kind: ViolationKind::Conservation,
                message: format!(
                    "snapshot {} records {balances} in balances and {in_flight} in channels: {} in all, but the bank holds {initial}",
                    snap.id,
                    balances + in_flight
                ),
            });
        }
    }
    if initial != end {
        out.push(Violation {
            kind: ViolationKind::Conservation,
            message: format!(
                "the bank held {initial} at the start and {end} at the end (balances plus transfers in flight)"
            ),
        });
    }
}
