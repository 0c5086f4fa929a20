//! The checkpoint coordinator (Flink's `CheckpointCoordinator`) and the checkpoint storage.
//!
//! A state machine the simulation drives: it decides when a checkpoint may be triggered
//! (`interval`, `max_concurrent`, `min_pause`), collects every task's acknowledgement, models the
//! upload of each local snapshot to shared storage (a synchronous copy at the task, then the
//! bytes through one storage link of the configured bandwidth, shared by all uploads in FIFO
//! order), completes a checkpoint when every task has acknowledged and every upload has
//! finished, and aborts checkpoints that were declined, expired or subsumed by a newer completed
//! one. It keeps the record of every checkpoint for the results file and every completed
//! snapshot for the checker.
//!
//! With a state backend configured, each task's upload is what its backend says: the files of
//! an incremental or changelog checkpoint that the last *completed* checkpoint did not upload
//! (files of one not yet confirmed are uploaded again; an aborted one's set is dropped), its
//! metadata, and its channel state, each file one storage request of `request_latency` on top
//! of its bytes. The shared files' references are counted ([`SharedRegistry`]) over the
//! retained checkpoints, and each record gains the per-checkpoint figures ([`CheckpointCosts`]).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::Time;
use crate::network::TaskId;
use crate::protocols::{DeclineReason, Mutant};
use crate::scenario::{CheckpointingSpec, StateBackendSpec};
use crate::snapshot::{GlobalSnapshot, LocalSnapshot, SharedRegistry};

mod costs;

use costs::{costs, upload_of};
pub use costs::{transfer_ns, BackendConfig, CheckpointCosts};

/// One checkpoint's record (filled by the protocols and the coordinator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointRecord {
    /// Checkpoint id, from 1.
    pub id: u64,
    /// How it ended.
    pub status: CheckpointStatus,
    /// Why it did not complete (absent for a completed one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort_reason: Option<AbortReason>,
    /// When the coordinator triggered it.
    pub trigger_ns: Time,
    /// When it completed or was given up.
    pub end_ns: Time,
    /// `end_ns - trigger_ns`.
    pub duration_ns: Time,
    /// Operator state bytes over all tasks.
    pub state_bytes: u64,
    /// Recorded channel state bytes over all tasks.
    pub channel_state_bytes: u64,
    /// Longest alignment at any task.
    pub alignment_ns_max: Time,
    /// Longest delay from trigger to first barrier at any task.
    pub start_delay_ns_max: Time,
    /// Data bytes waiting behind blocked inputs when tasks recorded their state (aligned).
    pub held_back_bytes: u64,
    /// Output data bytes overtaken by priority barriers (unaligned), part of the channel state.
    pub overtaken_bytes: u64,
    /// Tasks that acknowledged.
    pub tasks_acknowledged: u64,
    /// The final checkpoint, taken after every task had finished: it records final states
    /// and says nothing about alignment or back-pressure, so summaries and charts leave it out.
    pub at_end: bool,
    /// The figures a state backend adds (absent without one).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub costs: Option<CheckpointCosts>,
    /// With a state backend, the tasks (ids, as in `metrics.tasks`) that went unaligned in
    /// this checkpoint: Flink's per-subtask unaligned flag.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unaligned_task_ids: Vec<TaskId>,
}

impl CheckpointRecord {
    /// It completed (the final checkpoint included).
    pub fn completed(&self) -> bool {
        self.status == CheckpointStatus::Completed
    }

    /// It completed while the job ran: what summaries and charts describe, leaving out the
    /// final checkpoint, which records final states and says nothing about alignment.
    pub fn completed_while_running(&self) -> bool {
        self.completed() && !self.at_end
    }
}

/// The coordinator's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoordinatorConfig {
    /// Time between triggers; `None`: only external (scripted) initiations.
    pub interval: Option<Time>,
    /// Checkpoints in flight at once.
    pub max_concurrent: u32,
    /// Least time from the end of one checkpoint to the next trigger.
    pub min_pause: Time,
    /// Expiry after the trigger.
    pub timeout: Time,
    /// Consecutive failures tolerated.
    pub tolerable_failures: u32,
    /// Storage bytes per second; `None`: instant uploads.
    pub storage_bandwidth: Option<u64>,
    /// Synchronous copy time per local snapshot.
    pub sync_copy: Time,
    /// The state backend; `None`: whole-state uploads after `sync_copy`.
    pub backend: Option<BackendConfig>,
}

impl CoordinatorConfig {
    /// The settings of a scenario's `checkpointing` section (or the defaults without one).
    pub fn from_spec(spec: Option<&CheckpointingSpec>) -> Self {
        match spec {
            Some(c) => CoordinatorConfig {
                interval: c.interval.map(|d| d.ns()),
                max_concurrent: c.max_concurrent,
                min_pause: c.min_pause.ns(),
                timeout: c.timeout.ns(),
                tolerable_failures: c.tolerable_failures,
                storage_bandwidth: c.storage_bandwidth.map(|b| b.0),
                sync_copy: c.sync_copy.ns(),
                backend: c.state_backend.as_ref().map(BackendConfig::from_spec),
            },
            None => CoordinatorConfig {
                interval: None,
                max_concurrent: 1,
                min_pause: 0,
                timeout: 600_000_000_000,
                tolerable_failures: 0,
                storage_bandwidth: None,
                sync_copy: 0,
                backend: None,
            },
        }
    }

    /// The mutant that breaks incremental checkpoints runs them, with the defaults where
    /// the scenario configures no backend.
    pub fn apply_mutant(&mut self, mutant: Option<Mutant>) {
        if mutant == Some(Mutant::IncrementalForgetsChangedKey) {
            let mut b = self.backend.unwrap_or_else(|| {
                BackendConfig::from_spec(&StateBackendSpec::rocksdb_incremental())
            });
            if !b.changelog {
                b.rocksdb = true;
                b.incremental = true;
            }
            b.forget_changed_key = true;
            self.backend = Some(b);
        }
    }
}

/// How a checkpoint ended, as the results file writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckpointStatus {
    /// Every task acknowledged and every upload finished.
    Completed,
    /// Given up before its timeout (see its [`AbortReason`]).
    Aborted,
    /// Not complete when its timeout passed.
    Expired,
}

impl CheckpointStatus {
    /// The name in the results file.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointStatus::Completed => "completed",
            CheckpointStatus::Aborted => "aborted",
            CheckpointStatus::Expired => "expired",
        }
    }
}

impl std::fmt::Display for CheckpointStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a checkpoint did not complete (after Flink's `CheckpointFailureReason`), as the
/// results file's `abort_reason` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AbortReason {
    /// A task declined it: a newer checkpoint's barrier reached the task first.
    Declined,
    /// A task declined it on a cancellation marker.
    Cancelled,
    /// The checkpoint storage rejected an upload.
    UploadFailed,
    /// It passed its timeout.
    Expired,
    /// A newer checkpoint completed first.
    Subsumed,
    /// The job ended before it completed.
    JobFinished,
    /// The job crashed while it was in flight.
    #[serde(rename = "job-failure")]
    JobFailed,
}

impl AbortReason {
    /// The name in the results file.
    pub fn as_str(self) -> &'static str {
        match self {
            AbortReason::Declined => "declined",
            AbortReason::Cancelled => "cancelled",
            AbortReason::UploadFailed => "upload-failed",
            AbortReason::Expired => "expired",
            AbortReason::Subsumed => "subsumed",
            AbortReason::JobFinished => "job-finished",
            AbortReason::JobFailed => "job-failure",
        }
    }

    /// Whether Flink's `CheckpointFailureManager` counts it towards the tolerable checkpoint
    /// failures: an expiry (`CHECKPOINT_EXPIRED`) and a storage error (`IO_EXCEPTION`) do. A
    /// task's decline because a newer barrier came first (`CHECKPOINT_DECLINED_SUBSUMED`) or on
    /// a cancellation marker (`CHECKPOINT_DECLINED_ON_CANCELLATION_BARRIER`), subsumption, and
    /// the job's own end or failure do not.
    pub fn counts_as_failure(self) -> bool {
        matches!(self, AbortReason::UploadFailed | AbortReason::Expired)
    }
}

impl From<DeclineReason> for AbortReason {
    fn from(reason: DeclineReason) -> Self {
        match reason {
            DeclineReason::Superseded => AbortReason::Declined,
            DeclineReason::Cancelled => AbortReason::Cancelled,
        }
    }
}

#[derive(Debug)]
struct Pending {
    trigger: Time,
    acks: Vec<Option<LocalSnapshot>>,
    acked: usize,
    uploads_left: usize,
    /// (start, end) of each of its uploads on the storage link.
    uploads: Vec<(Time, Time)>,
    /// Per acknowledging task, with a backend: (bytes uploaded, files uploaded, async time).
    costs: Vec<(u64, u64, Time)>,
}

/// The coordinator.
#[derive(Debug)]
pub struct Coordinator {
    cfg: CoordinatorConfig,
    tasks: usize,
    pending: BTreeMap<u64, Pending>,
    /// Trigger time of every checkpoint ever started, for barrier timestamps.
    triggers: BTreeMap<u64, Time>,
    next_id: u64,
    last_end: Time,
    /// A trigger came while none was allowed; fire one as soon as it is.
    pub trigger_wanted: bool,
    storage_free_at: Time,
    consecutive_failures: u32,
    /// The newest completed checkpoint: a failure of an older one no longer counts.
    last_success: u64,
    /// How often the failures exceeded `tolerable_failures` (a job failure in Flink).
    pub job_failures: u32,
    records: Vec<CheckpointRecord>,
    completed: Vec<GlobalSnapshot>,
    /// Per task, the files its part of the last completed checkpoint references, by id.
    confirmed: Vec<Vec<u64>>,
    /// The shared files' references.
    registry: SharedRegistry,
}

impl Coordinator {
    /// A coordinator for `tasks` tasks.
    pub fn new(cfg: CoordinatorConfig, tasks: usize) -> Self {
        Coordinator {
            cfg,
            tasks,
            pending: BTreeMap::new(),
            triggers: BTreeMap::new(),
            next_id: 1,
            last_end: 0,
            trigger_wanted: false,
            storage_free_at: 0,
            consecutive_failures: 0,
            last_success: 0,
            job_failures: 0,
            records: Vec::new(),
            completed: Vec::new(),
            confirmed: if cfg.backend.is_some() {
                vec![Vec::new(); tasks]
            } else {
                Vec::new()
            },
            registry: SharedRegistry::new(cfg.backend.map_or(1, |b| b.num_retained)),
        }
    }

    /// The settings.
    pub fn config(&self) -> &CoordinatorConfig {
        &self.cfg
    }

    /// The earliest time a new checkpoint may be triggered, or `None` while too many are in
    /// flight.
    pub fn next_allowed(&self) -> Option<Time> {
        if self.pending.len() >= self.cfg.max_concurrent as usize {
            return None;
        }
        Some(if self.records.is_empty() {
            0
        } else {
            self.last_end + self.cfg.min_pause
        })
    }

    /// Starts the next checkpoint at `now` and returns its id.
    pub fn trigger(&mut self, now: Time) -> u64 {
        let id = self.next_id;
        self.start(id, now);
        id
    }

    /// Registers checkpoint `id` started elsewhere (a scripted initiation) if it is new.
    pub fn start(&mut self, id: u64, now: Time) {
        if self.triggers.contains_key(&id) {
            return;
        }
        self.next_id = self.next_id.max(id + 1);
        self.triggers.insert(id, now);
        self.pending.insert(
            id,
            Pending {
                trigger: now,
                acks: vec![None; self.tasks],
                acked: 0,
                uploads_left: 0,
                uploads: Vec::new(),
                costs: Vec::new(),
            },
        );
    }

    /// The id the next triggered checkpoint will get.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// True when checkpoint `id` was ever started.
    pub fn knows(&self, id: u64) -> bool {
        self.triggers.contains_key(&id)
    }

    /// When checkpoint `id` was triggered (0 if unknown).
    pub fn trigger_time(&self, id: u64) -> Time {
        self.triggers.get(&id).copied().unwrap_or(0)
    }

    /// True when `task` has acknowledged pending checkpoint `id`.
    pub fn has_acked(&self, task: TaskId, id: u64) -> bool {
        self.pending
            .get(&id)
            .is_some_and(|p| p.acks[task as usize].is_some())
    }

    /// True when every task has acknowledged pending checkpoint `id`.
    pub fn all_acked(&self, id: u64) -> bool {
        self.pending.get(&id).is_some_and(|p| p.acked == self.tasks)
    }

    /// The newest completed snapshot: the one with the highest id. Independent snapshots
    /// (Chandy-Lamport's) may complete out of id order; recovery restores the newest, as Flink
    /// restores its latest completed checkpoint.
    pub fn last_completed(&self) -> Option<&GlobalSnapshot> {
        self.completed.iter().max_by_key(|s| s.id)
    }

    /// The newest completed snapshot older than `id`.
    pub fn completed_before(&self, id: u64) -> Option<&GlobalSnapshot> {
        self.completed
            .iter()
            .filter(|s| s.id < id)
            .max_by_key(|s| s.id)
    }

    /// True while `id` is in flight.
    pub fn is_pending(&self, id: u64) -> bool {
        self.pending.contains_key(&id)
    }

    /// Task `task` acknowledged `id` with its local snapshot; returns when its upload will have
    /// finished, or `None` if the checkpoint is no longer pending.
    pub fn acknowledge(&mut self, task: TaskId, snap: LocalSnapshot, now: Time) -> Option<Time> {
        let p = self.pending.get_mut(&snap.id)?;
        if p.acks[task as usize].is_some() {
            return None; // a task acknowledges once; a second ack changes nothing
        }
        let (bytes, files, sync) = match &self.cfg.backend {
            None => (
                snap.state_bytes + snap.channel_state_bytes(),
                0,
                self.cfg.sync_copy,
            ),
            Some(b) => {
                let (bytes, files) = upload_of(b, &self.confirmed[task as usize], &snap);
                (bytes, files, snap.backend.sync_ns)
            }
        };
        let synced = snap.taken_at.saturating_add(sync);
        let start = synced.max(now).max(self.storage_free_at);
        let mut transfer = match self.cfg.storage_bandwidth {
            Some(bw) => transfer_ns(bytes, bw),
            None => 0,
        };
        if let Some(b) = &self.cfg.backend {
            transfer = transfer.saturating_add(b.request_latency.saturating_mul(files));
            p.costs
                .push((bytes, files, start.saturating_add(transfer) - synced));
        }
        self.storage_free_at = start.saturating_add(transfer);
        p.uploads.push((start, start.saturating_add(transfer)));
        p.acked += 1;
        p.uploads_left += 1;
        p.acks[task as usize] = Some(snap);
        Some(start.saturating_add(transfer))
    }

    /// The snapshot task `task` acknowledged for pending checkpoint `id`, to add the output
    /// channel state an output-side alignment timeout found after the acknowledgement (its
    /// upload was timed at the acknowledgement).
    pub fn acked_snapshot_mut(&mut self, task: TaskId, id: u64) -> Option<&mut LocalSnapshot> {
        self.pending.get_mut(&id)?.acks[task as usize].as_mut()
    }

    /// An upload of `id` finished; returns true when that completed the checkpoint.
    pub fn upload_done(&mut self, id: u64, now: Time) -> bool {
        let Some(p) = self.pending.get_mut(&id) else {
            return false;
        };
        p.uploads_left -= 1;
        if p.acked < self.tasks || p.uploads_left > 0 {
            return false;
        }
        let p = self.pending.remove(&id).expect("present");
        let tasks: Vec<LocalSnapshot> = p.acks.into_iter().map(|s| s.expect("all acked")).collect();
        let mut rec = record(id, None, p.trigger, now, &tasks);
        if let Some(b) = &self.cfg.backend {
            let mut shared = Vec::new();
            for t in &tasks {
                if let Some(files) = &t.backend.files {
                    self.confirmed[t.task as usize] = files.iter().map(|f| f.id).collect();
                    self.confirmed[t.task as usize].sort_unstable();
                    shared.extend_from_slice(files);
                }
            }
            self.registry.complete(id, &shared);
            let mut c = costs(b, &tasks, &p.costs);
            c.stored_bytes = self.registry.stored_bytes();
            rec.costs = Some(c);
            rec.unaligned_task_ids = unaligned_tasks(&tasks);
        }
        self.records.push(rec);
        self.completed.push(GlobalSnapshot {
            id,
            trigger_ns: p.trigger,
            end_ns: now,
            tasks,
        });
        self.last_end = now;
        if id > self.last_success {
            self.last_success = id;
            self.consecutive_failures = 0;
        }
        true
    }

    /// Checkpoints completed so far.
    pub fn completed_count(&self) -> usize {
        self.completed.len()
    }

    /// Uploads of pending checkpoint `id` that have not finished (0 if it is not pending).
    pub fn uploads_in_flight(&self, id: u64) -> usize {
        self.pending.get(&id).map_or(0, |p| p.uploads_left)
    }

    /// One upload of `id` ended without completing anything (the storage rejected it).
    pub fn drop_upload(&mut self, id: u64) {
        if let Some(p) = self.pending.get_mut(&id) {
            p.uploads_left = p.uploads_left.saturating_sub(1);
        }
    }

    /// Older checkpoints still pending when `id` completed; the caller aborts them as subsumed.
    pub fn older_pending(&self, id: u64) -> Vec<u64> {
        self.pending.range(..id).map(|(&k, _)| k).collect()
    }

    /// Gives up checkpoint `id`; returns false if it was not pending.
    pub fn abort(&mut self, id: u64, reason: AbortReason, now: Time) -> bool {
        let Some(p) = self.pending.remove(&id) else {
            return false;
        };
        // Its unfinished uploads are cancelled: when they are the last on the storage link,
        // the link is free again from now (or from when the first of them would have begun).
        let tail = p.uploads.iter().map(|u| u.1).max();
        if tail == Some(self.storage_free_at) {
            if let Some(first) = p.uploads.iter().filter(|u| u.1 > now).map(|u| u.0).min() {
                self.storage_free_at = first.max(now);
            }
        }
        let acked: Vec<LocalSnapshot> = p.acks.into_iter().flatten().collect();
        let mut rec = record(id, Some(reason), p.trigger, now, &acked);
        if let Some(b) = &self.cfg.backend {
            rec.costs = Some(costs(b, &acked, &p.costs));
            rec.unaligned_task_ids = unaligned_tasks(&acked);
        }
        self.records.push(rec);
        self.last_end = now;
        // As Flink's `CheckpointFailureManager`: only the counted reasons, each checkpoint once
        // (it leaves `pending` here), and only when it is newer than the last success.
        if reason.counts_as_failure() && id > self.last_success {
            self.consecutive_failures += 1;
            if self.consecutive_failures > self.cfg.tolerable_failures {
                self.job_failures += 1;
                self.consecutive_failures = 0;
            }
        }
        true
    }

    /// Ids still in flight, oldest first.
    pub fn pending_ids(&self) -> Vec<u64> {
        self.pending.keys().copied().collect()
    }

    /// The shared-file registry (empty without incremental or changelog checkpoints).
    pub fn registry(&self) -> &SharedRegistry {
        &self.registry
    }

    /// The records of every finished checkpoint, by id.
    pub fn into_results(mut self) -> (Vec<CheckpointRecord>, Vec<GlobalSnapshot>, u32) {
        self.records.sort_by_key(|r| r.id);
        (self.records, self.completed, self.job_failures)
    }
}

/// The record of checkpoint `id`: completed without an abort reason, else given up.
fn record(
    id: u64,
    abort_reason: Option<AbortReason>,
    trigger: Time,
    end: Time,
    tasks: &[LocalSnapshot],
) -> CheckpointRecord {
    CheckpointRecord {
        id,
        status: match abort_reason {
            None => CheckpointStatus::Completed,
            Some(AbortReason::Expired) => CheckpointStatus::Expired,
            Some(_) => CheckpointStatus::Aborted,
        },
        abort_reason,
        trigger_ns: trigger,
        end_ns: end,
        duration_ns: end - trigger,
        state_bytes: tasks.iter().map(|t| t.state_bytes).sum(),
        channel_state_bytes: tasks.iter().map(LocalSnapshot::channel_state_bytes).sum(),
        alignment_ns_max: tasks
            .iter()
            .map(|t| t.taken_at - t.aligning_since)
            .max()
            .unwrap_or(0),
        start_delay_ns_max: tasks
            .iter()
            .map(|t| t.aligning_since.saturating_sub(trigger))
            .max()
            .unwrap_or(0),
        held_back_bytes: tasks.iter().map(|t| t.held_back_bytes).sum(),
        overtaken_bytes: tasks.iter().map(LocalSnapshot::overtaken_bytes).sum(),
        tasks_acknowledged: tasks.len() as u64,
        at_end: !tasks.is_empty() && tasks.iter().all(|t| t.ended),
        costs: None,
        unaligned_task_ids: Vec::new(),
    }
}

/// The tasks whose part of a checkpoint went unaligned, in task order.
fn unaligned_tasks(tasks: &[LocalSnapshot]) -> Vec<TaskId> {
    let mut ids: Vec<TaskId> = tasks
        .iter()
        .filter(|t| t.backend.unaligned)
        .map(|t| t.task)
        .collect();
    ids.sort_unstable();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Behaviour;

    fn snap(task: TaskId, id: u64, taken_at: Time, bytes: u64) -> LocalSnapshot {
        LocalSnapshot {
            task,
            id,
            taken_at,
            state: Behaviour::Map,
            state_bytes: bytes,
            input_state: vec![],
            output_state: vec![],
            aligning_since: taken_at,
            held_back_bytes: 0,
            acked_at: taken_at,
            sent: vec![],
            closed_inputs: vec![],
            ended: false,
            backend: Default::default(),
        }
    }

    fn cfg() -> CoordinatorConfig {
        CoordinatorConfig {
            interval: Some(100),
            max_concurrent: 1,
            min_pause: 50,
            timeout: 1000,
            tolerable_failures: 0,
            storage_bandwidth: Some(1_000_000_000), // 1 byte per ns
            sync_copy: 10,
            backend: None,
        }
    }

    #[test]
    fn completes_when_every_task_acked_and_uploaded() {
        let mut c = Coordinator::new(cfg(), 2);
        let id = c.trigger(100);
        assert_eq!(c.next_allowed(), None, "max_concurrent 1");
        // Uploads share one storage link: the second waits for the first.
        assert_eq!(c.acknowledge(0, snap(0, id, 100, 40), 100), Some(150));
        assert_eq!(c.acknowledge(1, snap(1, id, 120, 40), 120), Some(190));
        assert!(!c.upload_done(id, 150));
        assert!(c.upload_done(id, 190));
        assert_eq!(c.next_allowed(), Some(240), "min_pause after the end");
        let (records, completed, _) = c.into_results();
        assert_eq!(records[0].status, CheckpointStatus::Completed);
        assert_eq!(records[0].abort_reason, None);
        assert_eq!(records[0].duration_ns, 90);
        assert_eq!(records[0].state_bytes, 80);
        assert_eq!(completed[0].tasks.len(), 2);
    }

    #[test]
    fn a_second_acknowledgement_is_ignored() {
        let mut c = Coordinator::new(cfg(), 2);
        let id = c.trigger(0);
        assert!(c.acknowledge(0, snap(0, id, 0, 10), 0).is_some());
        assert_eq!(c.acknowledge(0, snap(0, id, 5, 10), 5), None);
        assert!(c.acknowledge(1, snap(1, id, 5, 10), 5).is_some());
        assert!(!c.upload_done(id, 20));
        assert!(c.upload_done(id, 30), "two uploads, two acks");
    }

    /// Completes pending checkpoint `id` of a one-task coordinator at `at`.
    fn complete(c: &mut Coordinator, id: u64, at: Time) {
        let done = c.acknowledge(0, snap(0, id, at, 0), at).expect("pending");
        assert!(c.upload_done(id, done));
    }

    fn tolerating(n: u32) -> Coordinator {
        Coordinator::new(
            CoordinatorConfig {
                tolerable_failures: n,
                max_concurrent: 2,
                ..cfg()
            },
            1,
        )
    }

    #[test]
    fn the_job_fails_when_counted_failures_in_a_row_exceed_the_tolerable() {
        // Flink's known answer: tolerable 2, checkpoints 3, 4 and 5 expire: the job fails at 5.
        let mut c = tolerating(2);
        for id in 1..=2 {
            let got = c.trigger(id * 1000);
            complete(&mut c, got, id * 1000 + 10);
        }
        for id in 3..=5 {
            let got = c.trigger(id * 1000);
            assert_eq!(got, id);
            assert!(c.abort(id, AbortReason::Expired, id * 1000 + 500));
            assert_eq!(c.job_failures, u32::from(id == 5), "after checkpoint {id}");
        }
        // The same with a success at 4: no failure.
        let mut c = tolerating(2);
        for id in 1..=5 {
            let got = c.trigger(id * 1000);
            if id == 4 || id < 3 {
                complete(&mut c, got, id * 1000 + 10);
            } else {
                assert!(c.abort(got, AbortReason::Expired, id * 1000 + 500));
            }
        }
        assert_eq!(c.job_failures, 0);
    }

    #[test]
    fn only_flinks_counted_reasons_count_and_only_when_newer_than_the_last_success() {
        let mut c = tolerating(0);
        for reason in [
            AbortReason::Declined,
            AbortReason::Cancelled,
            AbortReason::Subsumed,
            AbortReason::JobFinished,
            AbortReason::JobFailed,
        ] {
            let id = c.trigger(0);
            assert!(c.abort(id, reason, 10));
            assert_eq!(c.job_failures, 0, "{reason:?} is not counted");
        }
        // Checkpoint a expires after the newer b has completed: it no longer counts.
        let a = c.trigger(100);
        let b = c.trigger(200);
        complete(&mut c, b, 300);
        assert!(c.abort(a, AbortReason::Expired, 400));
        assert_eq!(c.job_failures, 0, "older than the last success");
        let d = c.trigger(500);
        assert!(c.abort(d, AbortReason::UploadFailed, 600));
        assert_eq!(c.job_failures, 1, "a storage error counts");
    }

    #[test]
    fn expiry_counts_towards_job_failure_and_subsumption_does_not() {
        let mut c = Coordinator::new(cfg(), 1);
        let a = c.trigger(0);
        assert!(c.abort(a, AbortReason::Expired, 1000));
        assert!(!c.abort(a, AbortReason::Expired, 1000), "only once");
        assert_eq!(c.job_failures, 1, "tolerable_failures 0");
        let b = c.trigger(2000);
        assert!(c.abort(b, AbortReason::Subsumed, 2100));
        assert_eq!(c.job_failures, 1, "subsumption is not a failure");
        let (records, _, _) = c.into_results();
        assert_eq!(records[0].status, CheckpointStatus::Expired);
        assert_eq!(records[0].abort_reason, Some(AbortReason::Expired));
        assert_eq!(records[1].status, CheckpointStatus::Aborted);
        assert_eq!(records[1].abort_reason, Some(AbortReason::Subsumed));
    }

    #[test]
    fn a_given_up_checkpoint_frees_the_storage_link() {
        let mut c = Coordinator::new(cfg(), 1);
        let a = c.trigger(0);
        // 1,000 bytes at a byte per ns: the upload would end at 1010.
        assert_eq!(c.acknowledge(0, snap(0, a, 0, 1000), 0), Some(1010));
        assert!(c.abort(a, AbortReason::Expired, 500));
        let b = c.trigger(600);
        assert_eq!(
            c.acknowledge(0, snap(0, b, 600, 100), 600),
            Some(710),
            "not queued behind the cancelled upload"
        );
    }

    /// Rule c.2: a checkpoint uploads the files that the last *completed* one did not hold;
    /// files of one not yet confirmed go again, and an aborted one's set is dropped. Each
    /// file and the metadata cost a request on top of the bytes.
    #[test]
    fn incremental_uploads_skip_only_what_the_last_completed_checkpoint_holds() {
        let mut b = BackendConfig::from_spec(&StateBackendSpec::rocksdb_incremental());
        b.request_latency = 5;
        b.num_retained = 2;
        let mut c = Coordinator::new(
            CoordinatorConfig {
                max_concurrent: 2,
                backend: Some(b),
                ..cfg()
            },
            1,
        );
        let with_files = |id: u64, at: Time, files: &[(u64, u64)]| {
            let mut s = snap(0, id, at, files.iter().map(|f| f.1).sum());
            s.backend.sync_ns = 10;
            s.backend.files = Some(
                files
                    .iter()
                    .map(|&(id, bytes)| crate::workload::FileRef { id, bytes })
                    .collect(),
            );
            s
        };
        let one = c.trigger(0);
        let two = c.trigger(10);
        // 100 bytes at a byte per ns, two requests (the file, the metadata) of 5 ns.
        assert_eq!(
            c.acknowledge(0, with_files(one, 0, &[(1, 100)]), 0),
            Some(120)
        );
        // The first is not confirmed yet: file 1 goes again.
        let done = c.acknowledge(0, with_files(two, 10, &[(1, 100), (2, 50)]), 10);
        assert_eq!(done, Some(120 + 150 + 15));
        assert!(c.upload_done(one, 120));
        assert!(c.upload_done(two, 285));
        let three = c.trigger(300);
        let files3 = [(1, 100), (2, 50), (3, 10)];
        assert_eq!(
            c.acknowledge(0, with_files(three, 300, &files3), 300),
            Some(300 + 10 + 10 + 10)
        );
        assert!(c.abort(three, AbortReason::Expired, 400));
        let four = c.trigger(500);
        let files4 = [(1, 100), (2, 50), (3, 10), (4, 20)];
        // The aborted checkpoint's file 3 is not in storage: it goes again, with file 4.
        assert_eq!(
            c.acknowledge(0, with_files(four, 500, &files4), 500),
            Some(510 + 30 + 15)
        );
        assert!(c.upload_done(four, 555));
        assert_eq!(c.registry().retained(), vec![two, four]);
        assert_eq!(c.registry().counts(), vec![(1, 2), (2, 2), (3, 1), (4, 1)]);
        let (records, _, _) = c.into_results();
        let sizes: Vec<(u64, u64)> = records
            .iter()
            .map(|r| {
                let k = r.costs.unwrap();
                (k.checkpointed_bytes, k.full_bytes)
            })
            .collect();
        assert_eq!(sizes, vec![(100, 100), (150, 150), (10, 160), (30, 180)]);
        assert_eq!(records[3].costs.unwrap().async_ns_max, 45);
        assert_eq!(records[3].costs.unwrap().sync_ns_max, 10);
    }

    #[test]
    fn external_initiations_register_once() {
        let mut c = Coordinator::new(CoordinatorConfig::from_spec(None), 1);
        c.start(5, 10);
        c.start(5, 20);
        assert_eq!(c.trigger_time(5), 10);
        assert_eq!(c.trigger(30), 6);
    }
}
