//! The slab every channel's messages live in: 64-byte records linked into per-channel queues.
//!
//! One slab of records shared by every channel, linked into per-channel queues and recycled
//! through a free list. Putting a message on the wire relinks it without copying. The memory
//! held is that of the messages in flight at the peak, not the sum of every queue's
//! high-water mark (a million messages on 8,192 channels took about 250 bytes each in
//! per-queue ring buffers, 64 here).

use super::{Message, MsgKind, Origin, TaskId};
use crate::engine::Time;

/// Tells Linux that the whole 2 MiB pages inside `bytes` from `ptr` may be huge pages.
/// Only a hint: where transparent huge pages are off, or elsewhere than Linux, nothing
/// changes.
fn advise_huge_pages(ptr: *const u8, bytes: usize) {
    const HUGE: usize = 2 << 20;
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + bytes) / HUGE * HUGE;
    if end <= start {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: the range lies inside a live allocation of ours, and MADV_HUGEPAGE only changes
    // how the kernel backs those pages, never their contents; a failure is harmless.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

/// No record: the end of a list.
pub(super) const NIL: u32 = u32::MAX;

/// A message as the pool stores it: the fields of [`Message`] with the record's origin
/// flattened, plus the link to the next record of its queue, in 64 bytes aligned to 64, so
/// that a record is one cache line. (With the allocator's 16-byte alignment every record
/// straddled two lines, and a record read at random cost two misses.)
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
pub(super) struct Slot {
    pub(super) seq: u64,
    pub(super) arrive_at: Time,
    pub(super) created_at: Time,
    pub(super) num: u64,
    pub(super) value: i64,
    pub(super) offset: u64,
    pub(super) source: TaskId,
    pub(super) bytes: u32,
    pub(super) next: u32,
    pub(super) kind: MsgKind,
    pub(super) tag: u8,
    pub(super) priority: bool,
}

const _: () = assert!(
    std::mem::size_of::<Slot>() == 64 && std::mem::align_of::<Slot>() == 64,
    "a pooled message is one 64-byte cache line"
);

impl Slot {
    #[inline]
    pub(super) fn pack(m: &Message) -> Slot {
        Slot {
            seq: m.seq,
            arrive_at: m.arrive_at,
            created_at: m.created_at,
            num: m.num,
            value: m.value,
            offset: m.origin.offset,
            source: m.origin.source,
            bytes: m.bytes,
            next: NIL,
            kind: m.kind,
            tag: m.tag,
            priority: m.priority,
        }
    }

    #[inline]
    pub(super) fn unpack(&self) -> Message {
        Message {
            seq: self.seq,
            arrive_at: self.arrive_at,
            created_at: self.created_at,
            num: self.num,
            value: self.value,
            origin: Origin {
                source: self.source,
                offset: self.offset,
            },
            bytes: self.bytes,
            kind: self.kind,
            tag: self.tag,
            priority: self.priority,
        }
    }

    #[inline]
    pub(super) fn is_data(&self) -> bool {
        self.kind == MsgKind::Data
    }
}

/// The storage of every message queued on any channel.
#[derive(Debug, Clone, Default)]
pub struct MessagePool {
    pub(super) slots: Vec<Slot>,
    /// Head of the list of free slots.
    pub(super) free: u32,
    pub(super) live: usize,
}

impl MessagePool {
    /// An empty pool.
    pub fn new() -> Self {
        MessagePool {
            slots: Vec::new(),
            free: NIL,
            live: 0,
        }
    }

    /// Messages held.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Bytes of records the pool has grown to, free ones included.
    pub fn footprint(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
    }

    #[inline]
    pub(super) fn alloc(&mut self, slot: Slot) -> u32 {
        self.live += 1;
        if self.free != NIL {
            let i = self.free;
            self.free = self.slots[i as usize].next;
            self.slots[i as usize] = slot;
            i
        } else {
            assert!(
                self.slots.len() < NIL as usize,
                "more than 4 billion messages queued"
            );
            if self.slots.len() == self.slots.capacity() {
                self.grow();
            }
            self.slots.push(slot);
            (self.slots.len() - 1) as u32
        }
    }

    /// Doubles the slab and, on Linux, asks for it to be backed by huge pages: records are
    /// reached at random, and with a million in flight a 4 KiB page per record touched
    /// meant a TLB miss on most of them. The new slab gets the advice before the records
    /// are copied in: the copy is what first touches its pages, and a page touched before
    /// the advice stays a small one.
    #[cold]
    fn grow(&mut self) {
        let want = (self.slots.capacity() * 2).max(1024);
        let mut bigger: Vec<Slot> = Vec::with_capacity(want);
        advise_huge_pages(
            bigger.as_ptr().cast(),
            bigger.capacity() * std::mem::size_of::<Slot>(),
        );
        bigger.extend_from_slice(&self.slots);
        self.slots = bigger;
    }

    /// The message in record `i`, which the caller holds (see [`Channel::take_held`](super::Channel::take_held)).
    #[inline]
    pub fn held(&self, i: u32) -> Message {
        self.slots[i as usize].unpack()
    }

    /// Returns record `i`, taken with [`Channel::take_held`](super::Channel::take_held), to the pool.
    #[inline]
    pub fn release_held(&mut self, i: u32) {
        self.release(i);
    }

    #[inline]
    pub(super) fn release(&mut self, i: u32) {
        self.live -= 1;
        self.slots[i as usize].next = self.free;
        self.free = i;
    }
}

/// A FIFO list of pooled records.
#[derive(Debug, Clone, Copy)]
pub(super) struct List {
    pub(super) head: u32,
    pub(super) tail: u32,
    pub(super) len: u32,
}

impl List {
    pub(super) const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        len: 0,
    };

    #[inline]
    pub(super) fn push_back(&mut self, pool: &mut MessagePool, i: u32) {
        pool.slots[i as usize].next = NIL;
        if self.tail == NIL {
            self.head = i;
        } else {
            pool.slots[self.tail as usize].next = i;
        }
        self.tail = i;
        self.len += 1;
    }

    /// Unlinks the first record and returns its index.
    #[inline]
    pub(super) fn pop_front(&mut self, pool: &MessagePool) -> Option<u32> {
        if self.head == NIL {
            return None;
        }
        let i = self.head;
        self.head = pool.slots[i as usize].next;
        if self.head == NIL {
            self.tail = NIL;
        }
        self.len -= 1;
        Some(i)
    }

    #[inline]
    pub(super) fn front<'a>(&self, pool: &'a MessagePool) -> Option<&'a Slot> {
        (self.head != NIL).then(|| &pool.slots[self.head as usize])
    }

    /// Links record `i` in after the longest prefix of records for which `before` holds.
    pub(super) fn insert_after_prefix(
        &mut self,
        pool: &mut MessagePool,
        i: u32,
        mut before: impl FnMut(&Slot) -> bool,
    ) {
        let mut prev = NIL;
        let mut cur = self.head;
        while cur != NIL && before(&pool.slots[cur as usize]) {
            prev = cur;
            cur = pool.slots[cur as usize].next;
        }
        pool.slots[i as usize].next = cur;
        if prev == NIL {
            self.head = i;
        } else {
            pool.slots[prev as usize].next = i;
        }
        if cur == NIL {
            self.tail = i;
        }
        self.len += 1;
    }

    pub(super) fn iter<'a>(&self, pool: &'a MessagePool) -> impl Iterator<Item = &'a Slot> + 'a {
        let mut cur = self.head;
        std::iter::from_fn(move || {
            (cur != NIL).then(|| {
                let s = &pool.slots[cur as usize];
                cur = s.next;
                s
            })
        })
    }

    /// Links record `i` in after record `prev` (at the front when `prev` is `NIL`).
    pub(super) fn insert_after(&mut self, pool: &mut MessagePool, prev: u32, i: u32) {
        let next = match prev {
            NIL => self.head,
            p => pool.slots[p as usize].next,
        };
        pool.slots[i as usize].next = next;
        match prev {
            NIL => self.head = i,
            p => pool.slots[p as usize].next = i,
        }
        if next == NIL {
            self.tail = i;
        }
        self.len += 1;
    }

    /// Unlinks record `i`, which follows record `prev` (`NIL`: `i` is the first).
    pub(super) fn unlink_after(&mut self, pool: &mut MessagePool, prev: u32, i: u32) {
        let next = pool.slots[i as usize].next;
        match prev {
            NIL => self.head = next,
            p => pool.slots[p as usize].next = next,
        }
        if self.tail == i {
            self.tail = prev;
        }
        self.len -= 1;
    }

    /// Returns every record to the pool.
    pub(super) fn clear(&mut self, pool: &mut MessagePool) {
        while let Some(i) = self.pop_front(pool) {
            pool.release(i);
        }
    }
}

/// The record `k` links after record `i`.
pub(super) fn nth(pool: &MessagePool, mut i: u32, k: u32) -> u32 {
    for _ in 0..k {
        i = pool.slots[i as usize].next;
    }
    i
}
