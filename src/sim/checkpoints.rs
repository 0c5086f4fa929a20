//! Checkpoints as the coordinator sees them: triggers, acknowledgements, uploads, aborts and
//! the final checkpoint.

use super::{Action, Event, Simulation};
use crate::coordinator::{transfer_ns, AbortReason, BackendConfig};
use crate::network::TaskId;
use crate::snapshot::BackendSnapshot;
use crate::trace::TraceEvent;
use crate::workload::backend::{digest, materialise};
use crate::workload::{BackendParams, Behaviour, FileRef, KeyedBackend, KeyedState, SinkState};

impl Simulation {
    /// The periodic trigger: queue the next one (while the run lasts) and try to trigger.
    pub(super) fn on_checkpoint_timer(&mut self) {
        self.weak_events -= 1;
        if let Some(interval) = self.coord.config().interval {
            let next = self.sched.now().saturating_add(interval);
            if next <= self.limit {
                self.sched.at(next, Event::CheckpointTimer);
                self.weak_events += 1;
            }
        }
        self.try_trigger();
    }

    /// Checkpoint `id`'s timeout passed: if it is still pending it is aborted.
    pub(super) fn on_expire(&mut self, id: u64) {
        self.weak_events -= 1;
        if self.coord.is_pending(id) {
            self.pending_aborts.push_back((id, AbortReason::Expired));
            self.process_aborts();
        }
    }

    /// Triggers a checkpoint if the coordinator allows one now; otherwise remembers that one
    /// is wanted, and when it may go.
    pub(super) fn try_trigger(&mut self) {
        let now = self.sched.now();
        // A finished job takes no more checkpoints.
        if self
            .initiators
            .iter()
            .all(|&t| self.tasks[t as usize].ended)
        {
            return;
        }
        // As Flink: while restored in-flight data is still being taken after a recovery, the
        // tasks are not all running and the trigger fails (`NOT_ALL_REQUIRED_TASKS_RUNNING`,
        // which no tolerance counts); the next periodic trigger tries again.
        if self.replay_in_progress() {
            self.coord.trigger_wanted = false;
            return;
        }
        match self.coord.next_allowed() {
            None => self.coord.trigger_wanted = true,
            Some(at) if at > now => {
                self.coord.trigger_wanted = true;
                self.sched.at(at, Event::DeferredTrigger);
            }
            Some(_) => {
                self.coord.trigger_wanted = false;
                let id = self.coord.trigger(now);
                for t in 0..self.tasks.len() as TaskId {
                    self.ack_finished(t, id);
                }
                let timeout = self.coord.config().timeout;
                self.sched
                    .at(now.saturating_add(timeout), Event::Expire(id));
                self.weak_events += 1;
                for i in 0..self.initiators.len() {
                    let t = self.initiators[i];
                    // A finished initiator has already acknowledged with its final state.
                    if !self.tasks[t as usize].ended {
                        self.tasks[t as usize]
                            .actions
                            .push_back(Action::Initiate(id));
                        self.request_start(t);
                    }
                }
            }
        }
    }

    /// Checkpoint `id` begins (first heard of at an initiator); finished tasks join at once.
    fn start_checkpoint(&mut self, id: u64) {
        self.coord.start(id, self.sched.now());
        for t in 0..self.tasks.len() as TaskId {
            self.ack_finished(t, id);
        }
    }

    /// `task` initiates snapshot `id`: its protocol handles the trigger.
    pub(super) fn initiate(&mut self, task: TaskId, id: u64) {
        let now = self.sched.now();
        if !self.coord.knows(id) {
            self.start_checkpoint(id);
        }
        self.trace.record(TraceEvent::Initiate { t: now, task, id });
        self.with_protocol(task, |p, v, out| p.on_trigger(v, id, out));
    }

    /// `task` hands its local snapshot `id` to the coordinator, and its upload starts.
    pub(super) fn acknowledge(&mut self, task: TaskId, id: u64) {
        let now = self.sched.now();
        let ti = task as usize;
        let Some(pos) = self.tasks[ti].local.iter().position(|l| l.id == id) else {
            return;
        };
        let mut snap = self.tasks[ti].local.swap_remove(pos);
        snap.acked_at = now;
        for &ch in &self.topo.tasks[ti].inputs {
            self.chan_rt[ch as usize].recording.retain(|&r| r != id);
        }
        if let Some(done_at) = self.coord.acknowledge(task, snap, now) {
            self.sched.at(done_at, Event::UploadDone(task, id));
            if self.coord.all_acked(id) && self.plan.during_upload.remove(&id).is_some() {
                self.schedule_crash(format!("during-upload {id}"));
            }
        }
    }

    /// A finished task takes part in every later checkpoint with its final state, as in
    /// Flink since FLIP-147: nothing it could still receive or send would change the cut.
    pub(super) fn ack_finished(&mut self, task: TaskId, id: u64) {
        let ti = task as usize;
        if !self.tasks[ti].ended
            || !self.coord.is_pending(id)
            || self.coord.has_acked(task, id)
            || self.tasks[ti].local.iter().any(|l| l.id == id)
        {
            return;
        }
        let now = self.sched.now();
        self.take_local_snapshot(task, id, false, now);
        self.tasks[ti].sync_pending = 0;
        self.acknowledge(task, id);
    }

    /// An upload of checkpoint `id` finished: the checkpoint completes once every upload has,
    /// or fails if the storage rejected it.
    pub(super) fn on_upload_done(&mut self, id: u64) {
        if self.plan.upload_failures.contains_key(&id) && self.coord.is_pending(id) {
            // The storage rejected the upload: the checkpoint fails.
            self.plan.upload_failures.remove(&id);
            self.coord.drop_upload(id);
            self.pending_aborts
                .push_back((id, AbortReason::UploadFailed));
            self.process_aborts();
            return;
        }
        if !self.coord.upload_done(id, self.sched.now()) {
            return;
        }
        if let Some((delay, spec)) = self.plan.after_checkpoint.remove(&id) {
            let cause = self.cause(format!("after-checkpoint {id}"));
            self.sched.after(delay, Event::Crash(cause));
            self.weak_events += 1;
            let at = self.sched.now().saturating_add(delay);
            self.planned_crashes.insert(cause, (spec, at));
        }
        self.trace.record(TraceEvent::CheckpointEnd {
            t: self.sched.now(),
            id,
            completed: true,
        });
        for t in 0..self.tasks.len() as TaskId {
            if self.is_transactional_sink(t) {
                self.trace.record(TraceEvent::SinkCommit {
                    t: self.sched.now(),
                    task: t,
                    id,
                });
            }
            self.with_protocol(t, |p, v, out| p.on_complete(v, id, out));
        }
        if self.protocol.completion_subsumes_older() {
            for old in self.coord.older_pending(id) {
                self.pending_aborts.push_back((old, AbortReason::Subsumed));
            }
        }
        self.process_aborts();
        self.after_checkpoint_end();
    }

    /// Applies the coordinator's aborts queued by declines and expiries, telling every task.
    pub(super) fn process_aborts(&mut self) {
        if self.in_aborts {
            return;
        }
        let job_failures = self.coord.job_failures;
        self.in_aborts = true;
        let mut final_expired = false;
        while let Some((id, reason)) = self.pending_aborts.pop_front() {
            // Its uploads still queued no longer keep the run alive.
            let uploads = self.coord.uploads_in_flight(id);
            if !self.coord.abort(id, reason, self.sched.now()) {
                continue;
            }
            self.weak_events += uploads;
            if reason == AbortReason::Expired && self.final_id == Some(id) {
                // The final checkpoint would expire again: the same final states, the same
                // uploads. The job ends without it instead of restarting forever.
                final_expired = true;
                self.final_given_up = true;
            }
            self.trace.record(TraceEvent::CheckpointEnd {
                t: self.sched.now(),
                id,
                completed: false,
            });
            for t in 0..self.tasks.len() {
                self.tasks[t].local.retain(|l| l.id != id);
            }
            for cr in &mut self.chan_rt {
                if !cr.recording.is_empty() {
                    cr.recording.retain(|&r| r != id);
                }
            }
            for t in 0..self.tasks.len() as TaskId {
                self.with_protocol(t, |p, v, out| p.on_abort(v, id, out));
            }
            self.after_checkpoint_end();
        }
        self.in_aborts = false;
        if self.coord.job_failures > job_failures && !final_expired {
            // Too many failed checkpoints in a row fail the job, which then restarts.
            self.schedule_crash("tolerable-failures exceeded".to_string());
        }
    }

    /// Resumes halted sources once no checkpoint is in flight, and fires a trigger that had
    /// to wait.
    fn after_checkpoint_end(&mut self) {
        self.final_done = self
            .coord
            .last_completed()
            .is_some_and(|s| s.tasks.iter().all(|t| t.ended));
        self.maybe_final_checkpoint();
        if self.coord.pending_ids().is_empty() {
            for t in 0..self.tasks.len() {
                if self.tasks[t].paused {
                    self.tasks[t].paused = false;
                    self.request_start(t as TaskId);
                }
            }
        }
        if self.coord.trigger_wanted {
            if let Some(at) = self.coord.next_allowed() {
                // Not weak: a checkpoint wanted while the job ran is still taken.
                self.sched
                    .at(at.max(self.sched.now()), Event::DeferredTrigger);
            }
        }
    }

    /// Once every task has finished, one more checkpoint records their final states and lets
    /// the sinks' last transactions commit (Flink's final checkpoint).
    pub(super) fn maybe_final_checkpoint(&mut self) {
        if !self.protocol.takes_snapshots()
            || self.final_done
            || self.final_given_up
            || !self.coord.pending_ids().is_empty()
            || !self.tasks.iter().all(|t| t.ended)
        {
            return;
        }
        let now = self.sched.now();
        let id = self.coord.trigger(now);
        self.final_id = Some(id);
        let timeout = self.coord.config().timeout;
        self.sched
            .at(now.saturating_add(timeout), Event::Expire(id));
        self.weak_events += 1;
        for t in 0..self.tasks.len() as TaskId {
            self.ack_finished(t, id);
        }
    }

    /// The state task `task` records for a snapshot now (`unaligned`: its barrier overtakes
    /// its output queues), and what its state backend made of it.
    ///
    /// Without a backend: a clone of the state and the fixed `sync_copy`. With one, a keyed
    /// state's backend runs its sync phase (flush, log seal or materialisation), and the state
    /// recorded is the one the referenced files rebuild, so that a restore uses what was
    /// uploaded; the digest of the state the task held goes with it for the checker.
    pub(super) fn snapshot_state(
        &mut self,
        task: TaskId,
        unaligned: bool,
    ) -> (Behaviour, BackendSnapshot) {
        let base = self.coord.config().sync_copy;
        let Some(cfg) = self.coord.config().backend else {
            let snap = BackendSnapshot {
                sync_ns: base,
                unaligned,
                ..Default::default()
            };
            return (self.tasks[task as usize].behaviour.clone(), snap);
        };
        let now = self.sched.now();
        let mut snap = BackendSnapshot {
            sync_ns: base,
            unaligned,
            ..Default::default()
        };
        let behaviour = &mut self.tasks[task as usize].behaviour;
        let (Behaviour::Keyed { state, .. } | Behaviour::Join { state, .. }) = behaviour else {
            return (behaviour.clone(), snap);
        };
        let entries = state.entries.len() as u64;
        if !(cfg.rocksdb || cfg.changelog) {
            snap.sync_ns = cfg.sync_ns(base, entries, 0);
            return (behaviour.clone(), snap);
        }
        ensure_backend(state, &cfg, task);
        let KeyedState {
            entries: live,
            bytes_per_key,
            backend,
        } = state;
        let done = backend
            .as_mut()
            .expect("made above")
            .checkpoint(live, *bytes_per_key, now);
        snap.sync_ns = cfg.sync_ns(base, entries, done.flushed_bytes);
        snap.replay_bytes = done.replay_bytes;
        snap.replay_ns = if done.replay_bytes > 0 {
            transfer_ns(done.replay_bytes, cfg.replay_bandwidth)
        } else {
            0
        };
        let Some(files) = done.files else {
            return (behaviour.clone(), snap);
        };
        snap.recorded_digest = Some(digest(&state.entries));
        snap.files = Some(
            files
                .iter()
                .map(|f| FileRef {
                    id: f.id,
                    bytes: f.bytes,
                })
                .collect(),
        );
        let mut recorded = behaviour.clone();
        if let Behaviour::Keyed { state, .. } | Behaviour::Join { state, .. } = &mut recorded {
            state.entries = materialise(&files);
        }
        (recorded, snap)
    }

    /// A sink that commits its output in transactions (two-phase commit).
    pub(super) fn is_transactional_sink(&self, task: TaskId) -> bool {
        matches!(
            self.tasks[task as usize].behaviour,
            Behaviour::Sink(SinkState {
                transactional: true,
                ..
            })
        )
    }
}

/// The backend of keyed state `state` of task `task`, made on its first checkpoint.
fn ensure_backend(state: &mut KeyedState, cfg: &BackendConfig, task: TaskId) {
    if state.backend.is_none() {
        let params = BackendParams {
            rocksdb: cfg.rocksdb,
            files: cfg.rocksdb && cfg.incremental,
            changelog: cfg.changelog,
            write_buffer_size: cfg.write_buffer_size,
            compaction_trigger: cfg.compaction_trigger,
            materialization_ns: cfg.materialization_ns,
            forget_changed_key: cfg.forget_changed_key,
        };
        state.backend = Some(Box::new(KeyedBackend::new(
            params,
            task,
            &state.entries,
            state.bytes_per_key,
        )));
    }
}
