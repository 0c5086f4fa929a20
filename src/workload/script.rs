//! Scripted processes for textbook examples: named states and named messages.

/// Interned names of states and messages; a message's value is its label index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels {
    names: Vec<String>,
    /// Name → index, so that interning is a lookup rather than a scan (a script with
    /// thousands of distinct names would otherwise take quadratic time to build).
    index: std::collections::BTreeMap<String, u32>,
}

impl Labels {
    /// The index of `name`, adding it if new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
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
    /// Messages received so far. A count, not the list: the state is copied into every
    /// local snapshot, and a growing list made scripted snapshots quadratic.
    pub received: u64,
}

impl ScriptState {
    /// Applies a receipt of message `label`; returns the new state if it changed.
    pub fn receive(&mut self, label: u32) -> Option<u32> {
        self.received += 1;
        let next = self
            .on_receive
            .iter()
            .find(|(m, _)| *m == label)
            .map(|&(_, s)| s)?;
        self.state = next;
        Some(next)
    }
}
