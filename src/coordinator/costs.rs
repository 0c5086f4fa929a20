//! What checkpoints cost with a state backend: its settings, the sync phase's model, what
//! each task uploads, and the figures of each checkpoint.

use serde::Serialize;

use crate::engine::Time;
use crate::scenario::{BackendKind, StateBackendSpec};
use crate::snapshot::LocalSnapshot;

/// What a checkpoint cost, as Flink's checkpoint statistics report it.
///
/// Durations are the largest over the tasks that acknowledged. A task's async duration runs
/// from the end of its sync phase to the end of its upload, waiting for the shared storage
/// link included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CheckpointCosts {
    /// Bytes this checkpoint uploaded (Flink's Checkpointed Data Size): new files, metadata
    /// and channel state.
    pub checkpointed_bytes: u64,
    /// Bytes of everything it references (Full Checkpoint Data Size).
    pub full_bytes: u64,
    /// Files (storage requests) it uploaded.
    pub uploaded_files: u64,
    /// Longest synchronous phase.
    pub sync_ns_max: Time,
    /// Longest asynchronous phase.
    pub async_ns_max: Time,
    /// Persisted in-flight data recorded at receivers (input channel state).
    pub persisted_in_bytes: u64,
    /// Persisted in-flight data recorded at senders (output channel state).
    pub persisted_out_bytes: u64,
    /// Tasks whose barrier went unaligned (overtook their output queues).
    pub unaligned_tasks: u64,
    /// Bytes of shared files in storage once it completed (0 for a given-up one).
    pub stored_bytes: u64,
}

/// The state backend's settings, resolved (see `checkpointing.state_backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendConfig {
    /// RocksDB rather than the heap.
    pub rocksdb: bool,
    /// Incremental checkpoints.
    pub incremental: bool,
    /// The changelog on top.
    pub changelog: bool,
    /// Least time between materialisations.
    pub materialization_ns: Time,
    /// Bytes per second a restore replays the changelog at.
    pub replay_bandwidth: u64,
    /// Completed checkpoints retained.
    pub num_retained: u32,
    /// Time per storage request.
    pub request_latency: Time,
    /// Metadata bytes per task and checkpoint.
    pub metadata_bytes: u64,
    /// Heap: sync time per entry.
    pub sync_per_entry: Time,
    /// RocksDB: local disk bytes per second.
    pub disk_bandwidth: u64,
    /// RocksDB: memtable size.
    pub write_buffer_size: u64,
    /// RocksDB: live files that trigger a compaction (0: never).
    pub compaction_trigger: u32,
    /// Deliberately broken: incremental checkpoints forget a changed key.
    pub forget_changed_key: bool,
}

impl BackendConfig {
    /// The settings of a scenario's section.
    pub fn from_spec(b: &StateBackendSpec) -> Self {
        BackendConfig {
            rocksdb: b.kind == BackendKind::Rocksdb,
            incremental: b.incremental,
            changelog: b.changelog,
            materialization_ns: b.materialization_ns(),
            replay_bandwidth: b.replay_bytes_per_sec(),
            num_retained: b.num_retained,
            request_latency: b.request_latency.ns(),
            metadata_bytes: b.metadata_bytes.bytes(),
            sync_per_entry: b.sync_per_entry.ns(),
            disk_bandwidth: b.disk_bandwidth.0,
            write_buffer_size: b.write_buffer_size.bytes(),
            compaction_trigger: b.compaction_files(),
            forget_changed_key: false,
        }
    }

    /// The synchronous phase of a task holding `entries` keyed entries that flushed
    /// `flushed_bytes` of memtable, after the fixed part `base` (**Model**: heap
    /// `base + sync_per_entry × entries`, a copy-on-write copy of the state tables; RocksDB
    /// `base + flushed / disk_bandwidth`; the changelog only seals its log: `base`, unless the
    /// checkpoint materialises).
    pub fn sync_ns(&self, base: Time, entries: u64, flushed_bytes: u64) -> Time {
        if self.rocksdb {
            base.saturating_add(transfer_ns(flushed_bytes, self.disk_bandwidth))
        } else if self.changelog {
            base
        } else {
            base.saturating_add(self.sync_per_entry.saturating_mul(entries))
        }
    }
}

/// Time to move `bytes` at `bw` bytes per second, rounded up.
pub fn transfer_ns(bytes: u64, bw: u64) -> Time {
    (u128::from(bytes) * 1_000_000_000)
        .div_ceil(u128::from(bw.max(1)))
        .min(u128::from(Time::MAX)) as Time
}

/// What task `snap`'s upload holds with backend `b`, given the files its part of the last
/// completed checkpoint references (`confirmed`, sorted): (bytes, files). Files already
/// there go as references; the rest, the metadata and the channel state are uploaded.
pub(super) fn upload_of(b: &BackendConfig, confirmed: &[u64], snap: &LocalSnapshot) -> (u64, u64) {
    let (mut bytes, mut files) = match &snap.backend.files {
        Some(list) => list
            .iter()
            .filter(|f| confirmed.binary_search(&f.id).is_err())
            .fold((0, 0), |(b, n), f| (b + f.bytes, n + 1)),
        None => (snap.state_bytes, u64::from(snap.state_bytes > 0)),
    };
    bytes += b.metadata_bytes;
    files += 1;
    let channel = snap.channel_state_bytes();
    if channel > 0 {
        bytes += channel;
        files += 1;
    }
    (bytes, files)
}

/// The figures of a checkpoint whose tasks `tasks` acknowledged, their uploads `uploads`
/// (bytes, files, async time) in the same order.
pub(super) fn costs(
    b: &BackendConfig,
    tasks: &[LocalSnapshot],
    uploads: &[(u64, u64, Time)],
) -> CheckpointCosts {
    let full: u64 = tasks
        .iter()
        .map(|t| {
            let state = match &t.backend.files {
                Some(list) => list.iter().map(|f| f.bytes).sum(),
                None => t.state_bytes,
            };
            state + b.metadata_bytes + t.channel_state_bytes()
        })
        .sum();
    let input: u64 = tasks
        .iter()
        .flat_map(|t| &t.input_state)
        .flat_map(|(_, m)| m)
        .map(|m| u64::from(m.bytes))
        .sum();
    CheckpointCosts {
        checkpointed_bytes: uploads.iter().map(|u| u.0).sum(),
        full_bytes: full,
        uploaded_files: uploads.iter().map(|u| u.1).sum(),
        sync_ns_max: tasks.iter().map(|t| t.backend.sync_ns).max().unwrap_or(0),
        async_ns_max: uploads.iter().map(|u| u.2).max().unwrap_or(0),
        persisted_in_bytes: input,
        persisted_out_bytes: tasks.iter().map(LocalSnapshot::overtaken_bytes).sum(),
        unaligned_tasks: tasks.iter().filter(|t| t.backend.unaligned).count() as u64,
        stored_bytes: 0,
    }
}
