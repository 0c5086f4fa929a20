//! The file model of a keyed state's backend: what a checkpoint of it writes and uploads.
//!
//! **Model** (a simulator choice, after RocksDB and Flink's changelog backend):
//!
//! - Every update of a key goes to the memtable. The memtable is flushed into an immutable
//!   file holding the current entries of the keys updated since the last flush: at the sync
//!   phase of a checkpoint, and when the updates since the last flush, at `bytes_per_key`
//!   each, reach the write-buffer size. A file's size is its keys times `bytes_per_key`.
//! - When the live files reach the compaction trigger, all of them are rewritten into one new
//!   file with the same logical content (each key's newest entry): the next incremental
//!   checkpoint uploads those bytes again though nothing changed.
//! - The changelog appends every update to a durable log. At each checkpoint the tail not yet
//!   persisted (the updates since the previous checkpoint, `bytes_per_key` each) is sealed
//!   into a log segment, which is all that checkpoint uploads of the task's state. Background
//!   flushing between checkpoints is not modelled: it would only move those bytes earlier. A
//!   segment's content is each changed key's last entry, which is what replaying it yields.
//!   At the first checkpoint at least the materialisation interval after the previous
//!   materialisation (the start of the run is the first, of the empty state), the state is
//!   materialised (the files of a flush with incremental RocksDB underneath, else one file of
//!   the whole state) and the log is truncated; that checkpoint uploads the materialisation.
//! - A file id is the owning task's number times 2^32 plus a per-task sequence number, so the
//!   same run always names its files alike.
//!
//! A checkpoint's state is the materialisation of the files it references, in order (a later
//! file's entry for a key replaces an earlier one's): what a restore would rebuild.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::KeyEntry;

/// What the backend does, resolved from the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendParams {
    /// RocksDB: a memtable whose flushes are counted (for the sync phase).
    pub rocksdb: bool,
    /// Incremental RocksDB: flushes write files, and checkpoints reference them.
    pub files: bool,
    /// The changelog on top.
    pub changelog: bool,
    /// Memtable bytes that force a flush.
    pub write_buffer_size: u64,
    /// Live files that trigger a compaction; 0 never.
    pub compaction_trigger: u32,
    /// Least time between materialisations (changelog).
    pub materialization_ns: u64,
    /// Deliberately broken: a checkpoint's flush or log segment leaves out one changed key.
    pub forget_changed_key: bool,
}

/// One immutable file: an SST, a materialisation or a changelog segment.
#[derive(Debug, PartialEq, Eq)]
pub struct StateFile {
    /// Deterministic id (owner << 32 | sequence number).
    pub id: u64,
    /// Bytes it takes in storage.
    pub bytes: u64,
    /// The entries it holds, by key.
    pub entries: Vec<(u64, KeyEntry)>,
}

/// A reference to a file, as a checkpoint lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRef {
    /// The file's id.
    pub id: u64,
    /// Its size.
    pub bytes: u64,
}

/// What the sync phase of one checkpoint did to the backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpointed {
    /// The files the checkpoint references, oldest first (`None`: a full snapshot).
    pub files: Option<Vec<Arc<StateFile>>>,
    /// Memtable bytes flushed to the local disk in the sync phase.
    pub flushed_bytes: u64,
    /// Changelog bytes a restore of it replays.
    pub replay_bytes: u64,
}

/// The backend of one keyed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedBackend {
    params: BackendParams,
    owner: u64,
    next_seq: u64,
    /// Keys updated since the last flush (incremental only).
    dirty: BTreeSet<u64>,
    /// Updates since the last flush.
    memtable_updates: u64,
    /// Live files, oldest first (incremental only).
    files: Vec<Arc<StateFile>>,
    /// Changelog: the last materialisation's files.
    materialized: Vec<Arc<StateFile>>,
    /// Changelog: segments since the materialisation.
    log: Vec<Arc<StateFile>>,
    /// Changelog: keys changed since the last segment, and how many changes.
    log_dirty: BTreeSet<u64>,
    log_updates: u64,
    materialized_at: u64,
}

impl KeyedBackend {
    /// A backend for task `owner`'s state as it is now: everything in it counts as updated
    /// since the start (no checkpoint has seen it yet), and the memtable holds what of it
    /// fits (the rest would have been flushed when it filled).
    pub fn new(
        params: BackendParams,
        owner: u32,
        entries: &BTreeMap<u64, KeyEntry>,
        bytes_per_key: u64,
    ) -> Self {
        let updates: u64 = entries.values().map(|e| e.count + e.count_right).sum();
        let fits = params.write_buffer_size / bytes_per_key.max(1);
        let keys: BTreeSet<u64> = entries.keys().copied().collect();
        KeyedBackend {
            params,
            owner: u64::from(owner),
            next_seq: 0,
            dirty: if params.files {
                keys.clone()
            } else {
                BTreeSet::new()
            },
            memtable_updates: updates.min(fits.saturating_sub(1)),
            files: Vec::new(),
            materialized: Vec::new(),
            log: Vec::new(),
            log_dirty: if params.changelog {
                keys
            } else {
                BTreeSet::new()
            },
            log_updates: if params.changelog { updates } else { 0 },
            materialized_at: 0,
        }
    }

    /// Key `key` was updated (its entry in `entries` is the new one). Kept out of line: inlined,
    /// its set inserts made `KeyedState::apply` too large to inline into the record loop, which
    /// cost every run, backend or not.
    #[inline(never)]
    pub fn note(&mut self, key: u64, bytes_per_key: u64, entries: &BTreeMap<u64, KeyEntry>) {
        self.memtable_updates += 1;
        if self.params.files {
            self.dirty.insert(key);
        }
        if self.params.changelog {
            self.log_dirty.insert(key);
            self.log_updates += 1;
        }
        if self.params.rocksdb
            && self.memtable_updates.saturating_mul(bytes_per_key) >= self.params.write_buffer_size
        {
            self.flush(entries, bytes_per_key, false);
        }
    }

    fn new_id(&mut self) -> u64 {
        let id = (self.owner << 32) | self.next_seq;
        self.next_seq += 1;
        id
    }

    fn file(
        &mut self,
        keys: BTreeSet<u64>,
        bytes: u64,
        entries: &BTreeMap<u64, KeyEntry>,
    ) -> Arc<StateFile> {
        Arc::new(StateFile {
            id: self.new_id(),
            bytes,
            entries: keys
                .into_iter()
                .map(|k| (k, entries.get(&k).copied().unwrap_or_default()))
                .collect(),
        })
    }

    /// Flushes the memtable: with files, into a new file of its keys (then compacts if the
    /// trigger is reached). `forget` leaves out the smallest key (the mutant).
    fn flush(&mut self, entries: &BTreeMap<u64, KeyEntry>, bytes_per_key: u64, forget: bool) {
        self.memtable_updates = 0;
        if !self.params.files {
            return;
        }
        let mut keys = std::mem::take(&mut self.dirty);
        if forget {
            keys.pop_first();
        }
        if keys.is_empty() {
            return;
        }
        let bytes = keys.len() as u64 * bytes_per_key;
        let f = self.file(keys, bytes, entries);
        self.files.push(f);
        let trigger = self.params.compaction_trigger as usize;
        if trigger > 0 && self.files.len() >= trigger {
            self.compact(bytes_per_key);
        }
    }

    /// Rewrites every live file into one with the same logical content.
    fn compact(&mut self, bytes_per_key: u64) {
        let merged = materialise(&self.files);
        let id = self.new_id();
        self.files = vec![Arc::new(StateFile {
            id,
            bytes: merged.len() as u64 * bytes_per_key,
            entries: merged.into_iter().collect(),
        })];
    }

    /// The sync phase of a checkpoint at `now`: flushes, seals the log or materialises, and
    /// says which files the checkpoint references.
    pub fn checkpoint(
        &mut self,
        entries: &BTreeMap<u64, KeyEntry>,
        bytes_per_key: u64,
        now: u64,
    ) -> Checkpointed {
        let forget = self.params.forget_changed_key;
        if self.params.changelog {
            let mut flushed_bytes = 0;
            if now
                >= self
                    .materialized_at
                    .saturating_add(self.params.materialization_ns)
            {
                if self.params.files {
                    flushed_bytes = self.memtable_updates * bytes_per_key;
                    self.flush(entries, bytes_per_key, forget);
                    self.materialized = self.files.clone();
                } else {
                    let keys: BTreeSet<u64> = entries.keys().copied().collect();
                    let bytes = keys.len() as u64 * bytes_per_key;
                    self.materialized = vec![self.file(keys, bytes, entries)];
                }
                self.log.clear();
                self.log_dirty.clear();
                self.log_updates = 0;
                self.materialized_at = now;
            } else if self.log_updates > 0 {
                let mut keys = std::mem::take(&mut self.log_dirty);
                if forget {
                    keys.pop_first();
                }
                let bytes = self.log_updates * bytes_per_key;
                self.log_updates = 0;
                let f = self.file(keys, bytes, entries);
                self.log.push(f);
            }
            let files: Vec<Arc<StateFile>> =
                self.materialized.iter().chain(&self.log).cloned().collect();
            return Checkpointed {
                files: Some(files),
                flushed_bytes,
                replay_bytes: self.log.iter().map(|f| f.bytes).sum(),
            };
        }
        let flushed_bytes = if self.params.rocksdb {
            self.memtable_updates * bytes_per_key
        } else {
            0
        };
        self.flush(entries, bytes_per_key, forget);
        Checkpointed {
            files: self.params.files.then(|| self.files.clone()),
            flushed_bytes,
            replay_bytes: 0,
        }
    }
}

/// The state `files` rebuild, in order: a later file's entry for a key replaces an earlier's.
pub fn materialise(files: &[Arc<StateFile>]) -> BTreeMap<u64, KeyEntry> {
    let mut out = BTreeMap::new();
    for f in files {
        for &(k, e) in &f.entries {
            out.insert(k, e);
        }
    }
    out
}

/// A digest of keyed entries, to check that what a checkpoint's files rebuild is what the
/// task held when it recorded (FNV-1a over every key and entry).
pub fn digest(entries: &BTreeMap<u64, KeyEntry>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (&k, e) in entries {
        for v in [k, e.count, e.count_right, e.sum as u64] {
            for b in v.to_le_bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> BackendParams {
        BackendParams {
            rocksdb: true,
            files: true,
            changelog: false,
            write_buffer_size: u64::MAX,
            compaction_trigger: 0,
            materialization_ns: 1000,
            forget_changed_key: false,
        }
    }

    fn update(state: &mut BTreeMap<u64, KeyEntry>, b: &mut KeyedBackend, key: u64) {
        state.entry(key).or_default().count += 1;
        b.note(key, 10, state);
    }

    #[test]
    fn a_checkpoint_flushes_the_keys_changed_since_the_last_and_references_every_live_file() {
        let mut s = BTreeMap::new();
        let mut b = KeyedBackend::new(params(), 3, &s, 10);
        for k in [1, 2, 2, 3] {
            update(&mut s, &mut b, k);
        }
        let c1 = b.checkpoint(&s, 10, 0);
        assert_eq!(c1.flushed_bytes, 40, "four updates in the memtable");
        let f1 = c1.files.unwrap();
        assert_eq!(f1.len(), 1);
        assert_eq!(f1[0].id, 3 << 32);
        assert_eq!(f1[0].bytes, 30, "three keys");
        update(&mut s, &mut b, 2);
        let f2 = b.checkpoint(&s, 10, 0).files.unwrap();
        assert_eq!(f2.len(), 2);
        assert_eq!(f2[1].bytes, 10, "only key 2 changed");
        assert_eq!(materialise(&f2), s);
        // Nothing changed: no new file.
        assert_eq!(b.checkpoint(&s, 10, 0).files.unwrap().len(), 2);
    }

    #[test]
    fn compaction_rewrites_the_live_files_into_one_with_the_same_content() {
        let mut s = BTreeMap::new();
        let mut b = KeyedBackend::new(
            BackendParams {
                compaction_trigger: 3,
                ..params()
            },
            0,
            &s,
            10,
        );
        for round in 0..3u64 {
            update(&mut s, &mut b, round);
            update(&mut s, &mut b, 9);
            let files = b.checkpoint(&s, 10, 0).files.unwrap();
            assert_eq!(materialise(&files), s);
            if round < 2 {
                assert_eq!(files.len(), round as usize + 1);
            } else {
                assert_eq!(files.len(), 1, "compacted");
                assert_eq!(files[0].id, 3, "three flushes, then the compaction's file");
                assert_eq!(files[0].bytes, 40, "keys 0, 1, 2 and 9");
            }
        }
    }

    #[test]
    fn a_full_memtable_is_flushed_between_checkpoints() {
        let mut s = BTreeMap::new();
        let mut b = KeyedBackend::new(
            BackendParams {
                write_buffer_size: 30,
                ..params()
            },
            0,
            &s,
            10,
        );
        for k in [1, 2, 3, 4] {
            update(&mut s, &mut b, k);
        }
        let c = b.checkpoint(&s, 10, 0);
        assert_eq!(
            c.flushed_bytes, 10,
            "the first three went out when the buffer filled"
        );
        assert_eq!(c.files.unwrap().len(), 2);
    }

    #[test]
    fn the_changelog_uploads_its_tail_and_materialises_after_the_interval() {
        let mut s = BTreeMap::new();
        let p = BackendParams {
            rocksdb: false,
            files: false,
            changelog: true,
            ..params()
        };
        for k in [1, 1, 2] {
            s.entry(k).or_insert_with(KeyEntry::default).count += 1;
        }
        // Started late: what happened before counts as the log's first tail.
        let mut b = KeyedBackend::new(p, 0, &s, 10);
        let c = b.checkpoint(&s, 10, 100);
        let files = c.files.unwrap();
        assert_eq!(files.len(), 1, "no materialisation before the interval");
        assert_eq!(files[0].bytes, 30, "three changes");
        assert_eq!(c.replay_bytes, 30);
        update(&mut s, &mut b, 2);
        let c = b.checkpoint(&s, 10, 500);
        assert_eq!(c.files.as_ref().unwrap().len(), 2);
        assert_eq!(c.replay_bytes, 40);
        assert_eq!(materialise(c.files.as_ref().unwrap()), s);
        update(&mut s, &mut b, 3);
        let c = b.checkpoint(&s, 10, 1000);
        let files = c.files.unwrap();
        assert_eq!(files.len(), 1, "materialised; the log truncated");
        assert_eq!(files[0].bytes, 30, "the whole state: keys 1, 2, 3");
        assert_eq!(c.replay_bytes, 0);
        assert_eq!(materialise(&files), s);
    }

    #[test]
    fn the_mutant_leaves_a_changed_key_out_and_the_digest_shows_it() {
        let mut s = BTreeMap::new();
        let mut b = KeyedBackend::new(
            BackendParams {
                forget_changed_key: true,
                ..params()
            },
            0,
            &s,
            10,
        );
        for k in [1, 2] {
            update(&mut s, &mut b, k);
        }
        let files = b.checkpoint(&s, 10, 0).files.unwrap();
        assert_ne!(digest(&materialise(&files)), digest(&s));
    }
}
