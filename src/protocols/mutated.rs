//! The protocol side of the mutants: a wrapper that edits what a correct protocol commands.

use super::{Command, Control, TaskProtocol, TaskView};

/// How the wrapped protocol's commands are changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Breakage {
    /// Drop every `Block` (aligned that does not block).
    pub drop_blocks: bool,
    /// Record no output channel state (unaligned that forgets what its barriers overtake).
    pub forget_overtaken: bool,
}

/// A correct protocol with one rule broken.
pub struct Mutated {
    inner: Box<dyn TaskProtocol>,
    breakage: Breakage,
}

impl Mutated {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn TaskProtocol>, breakage: Breakage) -> Self {
        Mutated { inner, breakage }
    }

    fn edit(&self, out: &mut Vec<Command>, from: usize) {
        let b = self.breakage;
        let mut i = from;
        while i < out.len() {
            match &mut out[i] {
                Command::Block(_) if b.drop_blocks => {
                    out.remove(i);
                    continue;
                }
                Command::Snapshot {
                    overtake_outputs, ..
                } if b.forget_overtaken => *overtake_outputs = false,
                _ => {}
            }
            i += 1;
        }
    }
}

macro_rules! delegate {
    ($self:ident, $out:ident, $call:expr) => {{
        let from = $out.len();
        $call;
        $self.edit($out, from);
    }};
}

impl TaskProtocol for Mutated {
    fn on_trigger(&mut self, view: &TaskView, id: u64, out: &mut Vec<Command>) {
        delegate!(self, out, self.inner.on_trigger(view, id, out))
    }
    fn on_control(&mut self, view: &TaskView, input: usize, ctl: Control, out: &mut Vec<Command>) {
        delegate!(self, out, self.inner.on_control(view, input, ctl, out))
    }
    fn on_end_of_input(&mut self, view: &TaskView, input: usize, out: &mut Vec<Command>) {
        delegate!(self, out, self.inner.on_end_of_input(view, input, out))
    }
    fn on_announcement(
        &mut self,
        view: &TaskView,
        input: usize,
        ctl: Control,
        out: &mut Vec<Command>,
    ) {
        delegate!(self, out, self.inner.on_announcement(view, input, ctl, out))
    }
    fn on_timer(&mut self, view: &TaskView, token: u64, out: &mut Vec<Command>) {
        delegate!(self, out, self.inner.on_timer(view, token, out))
    }
    fn on_abort(&mut self, view: &TaskView, id: u64, out: &mut Vec<Command>) {
        delegate!(self, out, self.inner.on_abort(view, id, out))
    }
    fn on_complete(&mut self, view: &TaskView, id: u64, out: &mut Vec<Command>) {
        delegate!(self, out, self.inner.on_complete(view, id, out))
    }
}
