//! `checkpointing.state_backend`: where keyed state lives and what a checkpoint of it costs.
//!
//! Absent, a checkpoint uploads every task's whole state after the fixed `sync_copy` pause,
//! as before. Present, the backend's model decides the synchronous phase, the files a task
//! uploads and how many requests that takes (see the `state_backend` module of `workload`
//! for the file model and `coordinator` for the uploads).

use super::*;

/// The state backend (Flink's `state.backend.type` and its options).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateBackendSpec {
    /// `heap` (Flink's `HashMapStateBackend`) or `rocksdb` (`EmbeddedRocksDBStateBackend`).
    pub kind: BackendKind,
    /// Incremental checkpoints (`state.backend.incremental`, rocksdb only): upload only the
    /// files the last completed checkpoint did not.
    #[serde(default, skip_serializing_if = "is_false")]
    pub incremental: bool,
    /// The changelog backend (`state.backend.changelog.enabled`): every change also goes to
    /// a durable log; a checkpoint uploads the log's tail; recovery replays the log.
    #[serde(default, skip_serializing_if = "is_false")]
    pub changelog: bool,
    /// Time between materialisations of the changelog backend
    /// (`state.backend.changelog.periodic-materialize.interval`); default 10 min.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materialization_interval: Option<Duration>,
    /// Rate at which recovery re-applies the changelog since the materialisation; default
    /// 100MiB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_bandwidth: Option<Bandwidth>,
    /// Completed checkpoints the storage keeps (`state.checkpoints.num-retained`); default 1.
    #[serde(default = "one_retained")]
    pub num_retained: u32,
    /// Time of one storage request: each uploaded file costs one on top of its bytes.
    #[serde(default)]
    pub request_latency: Duration,
    /// Bytes of the files written with every checkpoint of every task, shared or not
    /// (RocksDB's MANIFEST, CURRENT, OPTIONS and the state handle's metadata); default 0B.
    #[serde(default)]
    pub metadata_bytes: ByteSize,
    /// Heap: synchronous time per state entry, added to `checkpointing.sync_copy` (the copy
    /// of the state tables); default 10ns.
    #[serde(default = "default_per_entry")]
    pub sync_per_entry: Duration,
    /// RocksDB: the local disk's write bandwidth, at which the synchronous phase flushes the
    /// memtable; default 200MiB/s.
    #[serde(default = "default_disk")]
    pub disk_bandwidth: Bandwidth,
    /// RocksDB: the memtable's size (`state.backend.rocksdb.writebuffer.size`); when the
    /// updates since the last flush reach it, it is flushed into a file; default 64MiB.
    #[serde(default = "default_write_buffer")]
    pub write_buffer_size: ByteSize,
    /// RocksDB: live files that trigger a compaction of all of them into one (RocksDB's
    /// `level0_file_num_compaction_trigger`); 0 never compacts; default 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compaction_trigger: Option<u32>,
}

/// The two state backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// State in objects on the heap: a copy-on-write snapshot, then a full upload.
    Heap,
    /// State in RocksDB: a memtable flushed into immutable files.
    Rocksdb,
}

impl StateBackendSpec {
    /// The materialisation interval, its default filled in.
    pub fn materialization_ns(&self) -> u64 {
        self.materialization_interval
            .map_or(DEFAULT_MATERIALIZATION_NS, |d| d.ns())
    }

    /// The replay bandwidth, its default filled in.
    pub fn replay_bytes_per_sec(&self) -> u64 {
        self.replay_bandwidth.map_or(DEFAULT_REPLAY, |b| b.0)
    }

    /// The compaction trigger, its default filled in.
    pub fn compaction_files(&self) -> u32 {
        self.compaction_trigger
            .unwrap_or(DEFAULT_COMPACTION_TRIGGER)
    }

    /// What incremental checkpoints use when nothing else is set (the mutant that breaks
    /// them runs with these where a scenario has no backend).
    pub fn rocksdb_incremental() -> Self {
        StateBackendSpec {
            kind: BackendKind::Rocksdb,
            incremental: true,
            changelog: false,
            materialization_interval: None,
            replay_bandwidth: None,
            num_retained: 1,
            request_latency: Duration(0),
            metadata_bytes: ByteSize(0),
            sync_per_entry: default_per_entry(),
            disk_bandwidth: default_disk(),
            write_buffer_size: default_write_buffer(),
            compaction_trigger: None,
        }
    }
}

/// Flink's default materialisation interval: 10 minutes.
pub const DEFAULT_MATERIALIZATION_NS: u64 = 600_000_000_000;
const DEFAULT_REPLAY: u64 = 100 << 20;
const DEFAULT_COMPACTION_TRIGGER: u32 = 4;

fn is_false(b: &bool) -> bool {
    !*b
}
fn one_retained() -> u32 {
    1
}
fn default_per_entry() -> Duration {
    Duration(10)
}
fn default_disk() -> Bandwidth {
    Bandwidth(200 << 20)
}
fn default_write_buffer() -> ByteSize {
    ByteSize(64 << 20)
}
