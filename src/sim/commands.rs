//! Running a task's protocol handlers and applying the commands they return.

use super::{Event, Simulation, CONTROL_BYTES};
use crate::network::{Message, TaskId};
use crate::protocols::{Command, TaskProtocol, TaskView};

impl Simulation {
    /// What a protocol sees of `task` now.
    fn view(&self, task: TaskId) -> TaskView {
        TaskView {
            task,
            now: self.sched.now(),
            inputs: self.topo.tasks[task as usize].inputs.len(),
            is_source: self.topo.tasks[task as usize].role.is_source(),
            aligned_inputs: self.topo.aligned_inputs(task),
        }
    }

    /// Runs a protocol handler at `task` and applies the commands it returns.
    pub(super) fn with_protocol(
        &mut self,
        task: TaskId,
        f: impl FnOnce(&mut dyn TaskProtocol, &TaskView, &mut Vec<Command>),
    ) {
        let view = self.view(task);
        let mut cmds = std::mem::take(&mut self.cmd_buf);
        f(self.protocols[task as usize].as_mut(), &view, &mut cmds);
        self.apply_commands(task, &mut cmds);
        self.cmd_buf = cmds;
    }

    /// Carries out the commands `task`'s protocol returned, in order, then the aborts they
    /// queued.
    fn apply_commands(&mut self, task: TaskId, cmds: &mut Vec<Command>) {
        let now = self.sched.now();
        for cmd in cmds.drain(..) {
            match cmd {
                Command::Snapshot {
                    id,
                    overtake_outputs,
                    aligning_since,
                } => self.take_local_snapshot(task, id, overtake_outputs, aligning_since),
                Command::Broadcast { tag, id, priority } => {
                    let mut msg = Message::control(tag, id, CONTROL_BYTES, priority);
                    msg.created_at = self.coord.trigger_time(id);
                    self.broadcast_control(task, msg);
                }
                Command::Record { input, id } => self.start_recording(task, input, id),
                Command::Block(input) => {
                    let ch = self.topo.tasks[task as usize].inputs[input];
                    self.chan_rt[ch as usize].blocked = true;
                }
                Command::UnblockAll => self.unblock_all(task),
                Command::Ack { id } => self.acknowledge(task, id),
                Command::Decline { id, reason } => {
                    self.pending_aborts.push_back((id, reason.into()))
                }
                Command::SetTimer { at, token } => {
                    self.sched
                        .at(at.max(now), Event::ProtocolTimer(task, token));
                }
                Command::PauseSource => self.tasks[task as usize].paused = true,
                Command::Prioritise { input, id } => self.prioritise(task, input, id),
                Command::TimeoutOutputs { id } => self.timeout_outputs(task, id),
            }
        }
        self.process_aborts();
    }

    /// Unblocks every input of `task`; those with queued messages become ready again.
    fn unblock_all(&mut self, task: TaskId) {
        for i in 0..self.topo.tasks[task as usize].inputs.len() {
            let ch = self.topo.tasks[task as usize].inputs[i];
            let cr = &mut self.chan_rt[ch as usize];
            if cr.blocked {
                cr.blocked = false;
                if !cr.in_ready && self.channels[ch as usize].inbox_len() > 0 {
                    cr.in_ready = true;
                    self.tasks[task as usize].ready.push_back(ch);
                }
            }
        }
        self.request_start(task);
    }
}
