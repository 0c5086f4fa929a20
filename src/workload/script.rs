//! Scripted processes for textbook examples: named states and named messages.

/// Interned names of states and messages; a message's value is its label index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels {
    names: Vec<String>,
}

impl Labels {
    /// The index of `name`, adding it if new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return i as u32;
        }
        self.names.push(name.to_string());
        (self.names.len() - 1) as u32
    }

    /// The name of label `i`.
    pub fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("?", String::as_str)
    }
}

/// A scripted process: its current state label and what it does on receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptState {
    /// Current state label.
    pub state: u32,
    /// (message label, new state label) rules for receipts.
    pub on_receive: Vec<(u32, u32)>,
    /// Messages received, in order, by label.
    pub received: Vec<u32>,
}

impl ScriptState {
    /// Applies a receipt of message `label`; returns the new state if it changed.
    pub fn receive(&mut self, label: u32) -> Option<u32> {
        self.received.push(label);
        let next = self
            .on_receive
            .iter()
            .find(|(m, _)| *m == label)
            .map(|&(_, s)| s)?;
        self.state = next;
        Some(next)
    }
}
