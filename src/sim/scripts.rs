//! Scripted process graphs: steps that happen at set times (send, change state, initiate).

use super::{Action, Simulation};
use crate::engine::Time;
use crate::network::{Message, TaskId};
use crate::scenario::ScriptSpec;
use crate::topology::Topology;
use crate::trace::TraceEvent;
use crate::workload::{Behaviour, Labels};

/// One scripted step, with names resolved to tasks and labels.
pub(super) struct ScriptStepRt {
    pub(super) task: TaskId,
    pub(super) initiate: Option<u64>,
    pub(super) send: Option<(TaskId, u32, Option<Time>)>,
    pub(super) becomes: Option<u32>,
}

impl ScriptStepRt {
    /// The script's steps in file order, with process names resolved to tasks and labels
    /// interned.
    pub(super) fn all(sc: &ScriptSpec, topo: &Topology, labels: &mut Labels) -> Vec<Self> {
        let ids: std::collections::BTreeMap<&str, TaskId> = topo
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i as TaskId))
            .collect();
        sc.steps
            .iter()
            .map(|st| ScriptStepRt {
                task: *ids.get(st.process.as_str()).expect("validated"),
                initiate: st.initiate_snapshot,
                send: st.send.as_ref().map(|s| {
                    (
                        *ids.get(s.to.as_str()).expect("validated"),
                        labels.intern(&s.message),
                        s.latency.map(|d| d.ns()),
                    )
                }),
                becomes: st.becomes.as_deref().map(|b| labels.intern(b)),
            })
            .collect()
    }
}

impl Simulation {
    /// Scripted step `i` is due: its task queues what the step does. While the job is down
    /// the step is lost, but the chain of steps queued after a crash goes on.
    pub(super) fn on_script(&mut self, i: u32) {
        self.next_chained_script(i);
        if self.down {
            return;
        }
        let step = &self.script[i as usize];
        let task = step.task;
        if let Some(id) = step.initiate {
            self.tasks[task as usize]
                .actions
                .push_back(Action::Initiate(id));
        }
        if step.send.is_some() || step.becomes.is_some() {
            self.tasks[task as usize]
                .actions
                .push_back(Action::Script(i));
        }
        self.request_start(task);
    }

    /// After a crash a scripted step queues the next one when it comes up.
    fn next_chained_script(&mut self, _step: u32) {
        if let Some(pos) = self.script_chain {
            self.script_chain = Some(pos + 1);
            self.schedule_chained_script();
        }
    }

    /// Scripted step `i` runs at its task: it sends its message and/or changes state.
    pub(super) fn run_script_step(&mut self, i: u32) {
        let now = self.sched.now();
        let step = &self.script[i as usize];
        let (task, send, becomes) = (step.task, step.send, step.becomes);
        if let Some((to, label, latency)) = send {
            let ch = self.topo.tasks[task as usize].outputs[0]
                .channels
                .iter()
                .copied()
                .find(|&c| self.channels[c as usize].dst == to)
                .expect("validated: a channel exists");
            let msg = Message::data(
                16,
                u64::from(label),
                i64::from(label),
                Default::default(),
                now,
            );
            self.send(ch, &msg, latency);
        }
        if let Some(label) = becomes {
            if let Behaviour::Script(s) = &mut self.tasks[task as usize].behaviour {
                s.state = label;
            }
            self.trace.record(TraceEvent::StateChange {
                t: now,
                task,
                label,
            });
        }
    }
}
