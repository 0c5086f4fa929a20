//! The peer-to-peer bank: money moves between neighbours; the total never changes.

use super::Target;
use crate::engine::rng::{below, RngStream};
use crate::engine::Time;
use crate::network::{ChannelId, Message, Origin};

/// One bank process.
#[derive(Debug, Clone, PartialEq)]
pub struct BankState {
    /// Money held.
    pub balance: i64,
    /// Largest amount of one transfer.
    pub max_amount: u64,
    /// Size of a transfer message.
    pub message_size: u32,
    /// Pass received amounts on instead of keeping them (until `relay_until`).
    pub relay: bool,
    /// Time after which the process keeps what it receives and starts no transfers.
    pub active_until: Time,
    /// Transfers received.
    pub received: u64,
    /// Transfers sent.
    pub sent: u64,
    /// Set by the simulation before each call: the current time.
    pub now: Time,
    /// Output channels (neighbours), filled by the simulation.
    pub neighbours: Vec<ChannelId>,
    /// The process's workload stream, for choosing neighbours and amounts.
    pub rng: Option<RngStream>,
}

impl BankState {
    /// Sends a transfer of up to `max_amount` (never more than the balance) to a random
    /// neighbour. Returns false when there is nothing to send or nobody to send it to.
    pub fn start_transfer(&mut self, out: &mut Vec<(Target, Message)>) -> bool {
        if self.balance <= 0 || self.neighbours.is_empty() {
            return false;
        }
        let rng = self.rng.as_mut().expect("bank processes have a stream");
        // Validation keeps max_amount far below i64::MAX.
        let amount = (1 + below(rng, self.max_amount) as i64).min(self.balance);
        self.send(amount, out);
        true
    }

    fn send(&mut self, amount: i64, out: &mut Vec<(Target, Message)>) {
        let rng = self.rng.as_mut().expect("bank processes have a stream");
        let ch = self.neighbours[below(rng, self.neighbours.len() as u64) as usize];
        self.balance -= amount;
        self.sent += 1;
        out.push((
            Target::Channel(ch),
            Message::data(self.message_size, 0, amount, Origin::default(), self.now),
        ));
    }

    /// Receives a transfer; in relay mode passes the amount on at once.
    pub fn receive(&mut self, msg: &Message, out: &mut Vec<(Target, Message)>) {
        self.balance += msg.value;
        self.received += 1;
        if self.relay && self.now < self.active_until && !self.neighbours.is_empty() {
            self.send(msg.value, out);
        }
    }
}
