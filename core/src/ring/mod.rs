//! The partition ring: all lock-free and unsafe code of ringbus lives under this module.
//!
//! A ring is a power-of-two byte buffer laid out as a log. Positions are u64 byte offsets in
//! the partition's log, growing forever; a position's byte index is `position & mask`.
//!
//! - **tail**: the next position to claim. Producers claim `[t, t + n)` with one CAS (the CAS
//!   refuses to pass `limit`). A claim that would cross the buffer's end claims the rest of the
//!   buffer as well and commits a padding frame there, so frames never wrap.
//! - **limit**: producers may claim up to here. Every byte in `[tail, limit)` is zero in the
//!   buffer, so an uncommitted frame's word 0 reads as 0. The cleaner (below) raises it.
//! - **intent**: the limit the cleaner has announced before zeroing. Lapped readers compare it
//!   with their position: bytes at position `p` are intact while `intent <= p + capacity`.
//! - **earliest**: the oldest frame still intact; every frame in `[earliest, tail)` is either
//!   committed or claimed and not yet committed.
//! - **committed**: the commit frontier; every frame below it is committed. Readers read only
//!   below it. Producers move it after committing (`publish`), helping each other.
//! - **gates**: `Block`/`Evict` subscriptions and groups (and later the persister). The cleaner
//!   never frees bytes a gate has not passed.
//!
//! The cleaner runs inside `advance`, called by a producer that found its cached limit too low.
//! Under the cleaner lock it moves `earliest` to the lowest gate (or walks frames from it,
//! counting events, when a DropOldest reader needs counts or nothing gates), then announces
//! `intent`, zeroes at most a chunk of freed bytes and raises `limit` (Release).
//! The lock is held rarely (once per min(`capacity / 8`, 8 KiB) bytes published, or when the
//! ring is full).

pub(crate) mod frame;
pub(crate) mod group;
pub(crate) mod notify;
pub(crate) mod wait;

#[cfg(all(test, loom))]
mod loom_models;

use std::time::{Duration, Instant};

use crate::sync::{
    atomic_fence, heavy_fence, init_fences, light_fence, Arc, AtomicBool, AtomicU64, CachePadded, Mutex, Ordering,
    RingMemory,
};
use frame::{align, commit_word, decode_word0, Word0, HEADER_LEN, PADDING};
use group::GroupCursor;
use notify::Notifier;

/// Most bytes the cleaner frees ahead of producers at once: small enough that the zeroed
/// lines are still in cache when producers write them.
const CHUNK: u64 = 8 << 10;

/// Bit 63 of the tail word: the ring is closed. Positions never reach 2^63.
const CLOSED: u64 = 1 << 63;

/// Why a claim did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimError {
    /// No room: gates have not released enough space.
    Full,
    /// The ring was closed.
    Closed,
}

/// A gating reader's shared position.
#[derive(Debug)]
pub(crate) struct Cursor {
    /// The reader has consumed everything before this position. Written only by the reader
    /// (Release, after it is done with the bytes), read by the cleaner (Acquire).
    position: CachePadded<AtomicU64>,
    /// Set by the cleaner when an `Evict` reader held producers back for too long.
    evicted: AtomicBool,
}

impl Cursor {
    /// A cursor at `position`.
    pub(crate) fn new(position: u64) -> Self {
        Self { position: CachePadded::new(AtomicU64::new(position)), evicted: AtomicBool::new(false) }
    }

    /// Releases everything before `position` to producers (Release: the reader's reads of those
    /// bytes happen before the cleaner's zeroing, which Acquire-loads this).
    #[inline]
    pub(crate) fn release(&self, position: u64) {
        self.position.store(position, Ordering::Release);
    }

    /// The last released position.
    pub(crate) fn position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }

    /// Whether the cleaner evicted this reader.
    pub(crate) fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }
}

/// Something producers must not overtake.
#[derive(Debug, Clone)]
pub(crate) enum GateKind {
    /// A `Block` or `Evict` fanout subscription.
    Cursor(Arc<Cursor>),
    /// A work-queue group (its gate is the start of its oldest claim in flight).
    Group(Arc<GroupCursor>),
}

#[derive(Debug)]
struct Gate {
    id: u64,
    kind: GateKind,
    evict_after: Option<Duration>,
    /// (gate position, since when) while this gate is the one holding a full ring back.
    stalled: Option<(u64, Instant)>,
}

impl Gate {
    fn position(&self) -> u64 {
        match &self.kind {
            GateKind::Cursor(c) => c.position(),
            GateKind::Group(g) => g.gate(),
        }
    }
}

#[derive(Debug)]
struct Cleaner {
    /// Oldest intact frame (a frame start).
    earliest: u64,
    /// Events (padding excluded) before `earliest`, counted while DropOldest readers exist
    /// (the count's base is arbitrary: only differences taken while one exists are used).
    events_before: u64,
    /// DropOldest readers registered (they need exact loss counts, so the cleaner walks).
    ungated: usize,
    gates: Vec<Gate>,
    next_gate_id: u64,
}

/// Where a reader joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinAt {
    /// The oldest intact frame.
    Earliest,
    /// The first frame not yet committed (events published from now on).
    Latest,
    /// This exact frame start.
    Offset(u64),
}

/// Why a join failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinError {
    /// The offset is older than the oldest event kept.
    Trimmed { earliest: u64 },
    /// The offset is past the end of the log.
    Beyond { next: u64 },
    /// The offset is inside the log but not at an event's start.
    NotABoundary,
    /// The offset is behind a frame whose producer has not committed it yet.
    Pending,
}

/// A joined reader: where it starts and how many events precede that position.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Joined {
    pub(crate) position: u64,
    pub(crate) event_index: u64,
    pub(crate) gate_id: Option<u64>,
}

/// One partition's ring.
#[derive(Debug)]
pub(crate) struct Ring {
    mem: RingMemory,
    capacity: u64,
    mask: u64,
    /// Largest unaligned event frame the topic allows.
    max_frame: usize,
    /// Minimum bytes the cleaner frees at once.
    chunk: u64,
    tail: CachePadded<AtomicU64>,
    /// Every frame below it is committed (a frame start). Readers read only below it, so they
    /// never touch the cache lines producers are still writing.
    committed: CachePadded<AtomicU64>,
    limit: CachePadded<AtomicU64>,
    intent: CachePadded<AtomicU64>,
    /// Mirror of the cleaner's `earliest` for lock-free hints (stats).
    earliest: AtomicU64,
    /// Set first by `close`: single-producer claims check it.
    closing: AtomicBool,
    /// Set last by `close`, once no claim can start any more: readers check it (off the tail's
    /// cache line, which producers write on every claim).
    closed: AtomicBool,
    /// One publisher at a time: claims are plain stores, and close is a handshake.
    single: bool,
    /// Frames carry a CRC-32C (the topic is persisted).
    checksums: bool,
    /// Single-producer rings: the publisher is between the start of a claim and its `publish`.
    /// Written by the publisher only.
    active: CachePadded<AtomicBool>,
    cleaner: Mutex<Cleaner>,
    /// Producers waiting for space.
    pub(crate) writable: Notifier,
    /// Readers waiting for frames (shared by all partitions of a topic).
    pub(crate) readable: Arc<Notifier>,
}

impl Ring {
    /// A ring of `capacity` bytes (a power of two, at least 64) whose event frames are at most
    /// `max_frame` bytes (at most `capacity / 2`), waking readers through `readable`.
    #[cfg(loom)]
    pub(crate) fn new(capacity: usize, max_frame: usize, single: bool, readable: Arc<Notifier>) -> Self {
        Self::starting_at(0, capacity, max_frame, single, false, readable)
    }

    /// Like [`Ring::new`], for a log whose next frame is at `start` (a multiple of 8: a
    /// persisted partition reopened), with CRC-32C in every frame when `checksums`.
    pub(crate) fn starting_at(
        start: u64,
        capacity: usize,
        max_frame: usize,
        single: bool,
        checksums: bool,
        readable: Arc<Notifier>,
    ) -> Self {
        debug_assert!(capacity.is_power_of_two() && capacity >= 64);
        debug_assert!(align(max_frame) <= capacity / 2 && max_frame >= HEADER_LEN);
        debug_assert!(start % 8 == 0 && start < CLOSED / 2);
        init_fences();
        let cap = capacity as u64;
        Self {
            mem: RingMemory::new(capacity),
            capacity: cap,
            mask: cap - 1,
            max_frame,
            chunk: (cap / 8).clamp(8, CHUNK),
            tail: CachePadded::new(AtomicU64::new(start)),
            committed: CachePadded::new(AtomicU64::new(start)),
            limit: CachePadded::new(AtomicU64::new(start + cap)),
            intent: CachePadded::new(AtomicU64::new(start + cap)),
            earliest: AtomicU64::new(start),
            closing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            single,
            checksums,
            active: CachePadded::new(AtomicBool::new(false)),
            cleaner: Mutex::new(Cleaner {
                earliest: start,
                events_before: 0,
                ungated: 0,
                gates: Vec::new(),
                next_gate_id: 0,
            }),
            writable: Notifier::new(),
            readable,
        }
    }

    #[inline]
    pub(crate) fn index(&self, position: u64) -> usize {
        (position & self.mask) as usize
    }

    /// The next position to be claimed (Acquire: frames below it were claimed, so their bytes
    /// were zeroed before the claim and read as 0 until committed).
    #[inline]
    pub(crate) fn tail(&self) -> u64 {
        self.tail.load(Ordering::Acquire) & !CLOSED
    }

    /// The commit frontier: every frame below it is committed (Acquire: their bytes are
    /// visible). Always a frame start.
    #[inline]
    pub(crate) fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// The producers' limit (Acquire: the zeroing below it is visible).
    #[inline]
    pub(crate) fn limit(&self) -> u64 {
        self.limit.load(Ordering::Acquire)
    }

    /// The oldest intact frame, as a hint (it may move right after the load).
    pub(crate) fn earliest_hint(&self) -> u64 {
        self.earliest.load(Ordering::Acquire)
    }

    /// Whether the ring was closed.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Whether a reader at `position` has read everything the ring will ever hold: the ring is
    /// closed, no single-producer claim is in progress, and `position` is the final tail.
    /// Reads the tail's line only once closed.
    #[inline]
    pub(crate) fn drained_at(&self, position: u64) -> bool {
        if !self.is_closed() {
            return false;
        }
        // Pairs with the fences of `close` and of a single-producer claim (see `close`); rare.
        atomic_fence(Ordering::SeqCst);
        // Acquire on `active` going false: the claim's tail store is visible below.
        !self.active.load(Ordering::Acquire) && position >= self.tail()
    }

    /// Closes the ring: claims fail from now on; frames already claimed may still commit.
    ///
    /// Multi-producer: setting the bit in the tail word itself makes close and claims totally
    /// ordered: a claim either succeeded before (readers will see it below the closed tail) or
    /// fails. Single-producer: the claim sets `active`, light fence, checks `closing`; close
    /// sets `closing`, heavy fence, then `closed`. So when `closed` is visible, a claim that
    /// missed `closing` has made `active` visible, and readers wait for it (`drained_at`).
    pub(crate) fn close(&self) {
        if self.single {
            self.closing.store(true, Ordering::Relaxed);
            // The heavy side of the claim's light fence. (Under loom both are SeqCst fences and
            // the reader's fence in `drained_at` would do; with membarrier the claim's side is a
            // compiler fence, which only a membarrier pairs with.)
            heavy_fence();
        } else {
            self.tail.fetch_or(CLOSED, Ordering::AcqRel);
        }
        self.closed.store(true, Ordering::Release);
        self.writable.wake_all();
        self.readable.wake_all();
    }

    /// Claims `bytes` (a multiple of 8, at most `capacity / 2`) of contiguous space and returns
    /// the claim's start and the space's first position. If the space would cross the buffer's
    /// end, the rest of the buffer is claimed too (from the claim's start) and filled with a
    /// committed padding frame. After committing its frames, the producer calls
    /// [`Ring::publish`] with the claim's start and end. `cached_limit` is the caller's
    /// last seen limit (a per-producer cache that saves a shared load per claim).
    #[inline]
    pub(crate) fn try_claim(&self, bytes: usize, cached_limit: &mut u64) -> Result<(u64, u64), ClaimError> {
        debug_assert!(bytes % 8 == 0 && bytes > 0 && bytes as u64 <= self.capacity / 2);
        if self.single {
            return self.try_claim_single(bytes as u64, cached_limit);
        }
        let bytes = bytes as u64;
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            if tail & CLOSED != 0 {
                return Err(ClaimError::Closed);
            }
            let room_to_end = self.capacity - (tail & self.mask);
            let pad = if bytes > room_to_end { room_to_end } else { 0 };
            let end = tail + pad + bytes;
            if end > *cached_limit {
                *cached_limit = self.limit();
                if end > *cached_limit {
                    *cached_limit = self.advance(end);
                    if end > *cached_limit {
                        return Err(ClaimError::Full);
                    }
                }
            }
            // Release: readers that Acquire-load the new tail see the zeroing this producer
            // Acquire-loaded through `limit` (the claimed bytes read 0 until committed).
            match self.tail.compare_exchange_weak(tail, end, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => {
                    // Pairs with the Acquire fence of lapped readers: any of this producer's
                    // writes they observe makes the cleaner's intent for this lap visible too.
                    atomic_fence(Ordering::Release);
                    if pad != 0 {
                        self.commit_raw(tail, pad as u32 | PADDING);
                    }
                    return Ok((tail, tail + pad));
                }
                Err(now) => tail = now,
            }
        }
    }

    /// [`Ring::try_claim`] for a single-producer ring: plain stores, no locked instruction.
    #[inline]
    fn try_claim_single(&self, bytes: u64, cached_limit: &mut u64) -> Result<(u64, u64), ClaimError> {
        // The close handshake's light side: announce the claim, then look for a close.
        self.active.store(true, Ordering::Relaxed);
        light_fence();
        if self.closing.load(Ordering::Relaxed) {
            self.end_single_section();
            return Err(ClaimError::Closed);
        }
        // Only this publisher writes the tail of a single-producer ring.
        let tail = self.tail.load(Ordering::Relaxed);
        let room_to_end = self.capacity - (tail & self.mask);
        let pad = if bytes > room_to_end { room_to_end } else { 0 };
        let end = tail + pad + bytes;
        if end > *cached_limit {
            *cached_limit = self.limit();
            if end > *cached_limit {
                *cached_limit = self.advance(end);
                if end > *cached_limit {
                    self.end_single_section();
                    return Err(ClaimError::Full);
                }
            }
        }
        // Release: as for the multi-producer CAS (readers and the cleaner see the zeroing).
        self.tail.store(end, Ordering::Release);
        atomic_fence(Ordering::Release);
        if pad != 0 {
            self.commit_raw(tail, pad as u32 | PADDING);
        }
        Ok((tail, tail + pad))
    }

    /// Leaves a single-producer claim section that claimed nothing. A reader of a closed ring
    /// may be asleep waiting for `active` to drop (`drained_at`), so wake it.
    #[cold]
    fn end_single_section(&self) {
        self.active.store(false, Ordering::Release);
        self.readable.notify();
    }

    /// Writes the header words 1 and 2 of the event frame at `position`, of unaligned length
    /// `len`, whose key and payload are `body` (already written or about to be: the CRC is
    /// taken from `body`, not from the ring). (The rest of a claimed frame starts zeroed, since
    /// the cleaner zeroes space before producers may claim it; so padding bytes and unwritten
    /// claim bytes are deterministic zeros.)
    ///
    /// # Safety
    /// The caller claimed the frame at `position` and has not committed it.
    #[inline]
    pub(crate) unsafe fn write_header(
        &self,
        position: u64,
        len: usize,
        timestamp: u64,
        key_len: u16,
        flags: u16,
        body: &[&[u8]],
    ) {
        let i = self.index(position);
        let crc = if self.checksums {
            frame::frame_crc(commit_word(position, len as u32), timestamp, key_len, flags, body)
        } else {
            0
        };
        self.mem.store(i + 8, timestamp, Ordering::Relaxed);
        self.mem.store(i + 16, frame::meta_word(key_len, flags, crc), Ordering::Relaxed);
    }

    /// The log bytes `position .. position + len` (they do not cross the buffer's end).
    ///
    /// # Safety
    /// The range lies below the commit frontier this thread Acquire-loaded, and a gate this
    /// caller holds keeps producers from reusing it while the borrow lives.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) unsafe fn log_bytes(&self, position: u64, len: usize) -> &[u8] {
        debug_assert!(self.index(position) + len <= self.capacity as usize);
        // SAFETY: per the contract the bytes are committed, stable and inside the buffer.
        unsafe { self.mem.bytes(self.index(position), len) }
    }

    /// The buffer's size in bytes.
    #[inline]
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Copies `src` into the claimed frame at `position`, `at` bytes after the frame start.
    ///
    /// # Safety
    /// The caller claimed the frame, has not committed it, and `at + src.len()` fits in it.
    #[inline]
    pub(crate) unsafe fn write_body(&self, position: u64, at: usize, src: &[u8]) {
        // SAFETY: the caller owns the claimed frame (contract above); frames never wrap, so the
        // range stays inside the buffer.
        unsafe { self.mem.write(self.index(position) + at, src) }
    }

    /// The claimed frame's bytes after the header, for zero-copy writes.
    ///
    /// # Safety
    /// The caller claimed `position .. position + align(HEADER_LEN + len)`, has not committed
    /// it, and holds no other borrow of it.
    #[cfg(not(loom))]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn body_mut(&self, position: u64, len: usize) -> &mut [u8] {
        // SAFETY: per the contract the range is exclusively ours and inside the buffer.
        unsafe { self.mem.bytes_mut(self.index(position) + HEADER_LEN, len) }
    }

    /// Shared view of a claimed frame's bytes after the header.
    ///
    /// # Safety
    /// As for [`Ring::body_mut`]; no mutable borrow of the range is live.
    #[cfg(not(loom))]
    pub(crate) unsafe fn claimed(&self, position: u64, len: usize) -> &[u8] {
        // SAFETY: per the contract the range is ours, inside the buffer and not mutably borrowed.
        unsafe { self.mem.bytes(self.index(position) + HEADER_LEN, len) }
    }

    /// Commits the frame at `position` (stores word 0 with Release: every write to the frame
    /// before this call is visible to a reader that Acquire-loads word 0).
    #[inline]
    pub(crate) fn commit(&self, position: u64, len: usize) {
        debug_assert!((HEADER_LEN..=self.max_frame).contains(&len));
        self.commit_raw(position, len as u32);
    }

    #[inline]
    fn commit_raw(&self, position: u64, len_field: u32) {
        self.mem.store(self.index(position), commit_word(position, len_field), Ordering::Release);
    }

    /// Moves the commit frontier over a claim `start .. end` whose frames this producer has all
    /// committed, and over any later frames committed meanwhile; wakes parked readers if it
    /// moved the frontier.
    ///
    /// The frontier only moves from a committed frame start, so producers help each other:
    /// whoever finds `committed` at a committed frame walks forward and CASes it. A producer
    /// whose claim lies beyond the frontier leaves the walk to the one before it. The pair
    /// "commit stores, SeqCst fence, load `committed`" here and "CAS `committed`, SeqCst load of
    /// word 0" in the walker makes sure one of the two sees the other, so no committed frame is
    /// stranded behind the frontier (loom: `multi_producer_claim_commit_and_padding_at_the_wrap`).
    #[inline]
    pub(crate) fn publish(&self, start: u64, end: u64) {
        if self.single {
            // Nobody else commits: the frontier is simply our end (Release publishes the frames).
            self.committed.store(end, Ordering::Release);
            self.active.store(false, Ordering::Release);
            self.readable.notify();
            return;
        }
        atomic_fence(Ordering::SeqCst);
        let mut c = self.committed.load(Ordering::Acquire);
        if c < start || c >= end {
            // Before us: the producer before us walks over our frames. At or past our end:
            // someone already did.
            return;
        }
        let mut moved = false;
        // Our own frames are committed (we did it); start the walk at our end.
        let mut own_end = end;
        loop {
            let tail = self.tail();
            let mut n = c.max(own_end);
            own_end = 0;
            while n < tail {
                let word = self.mem.load(self.index(n), Ordering::Acquire);
                match decode_word0(word, n, self.max_frame) {
                    Word0::Uncommitted => break,
                    Word0::Padding(k) => n += k as u64,
                    Word0::Event(k) => n += align(k) as u64,
                }
            }
            if n == c {
                break;
            }
            // Release: publishes the walked frames (Acquire-loaded above) to readers.
            match self.committed.compare_exchange(c, n, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    moved = true;
                    c = n;
                    // Orders this store before the next walk's loads (the Dekker pair above)
                    // and before the waiter-count load of the wake-up below.
                    atomic_fence(Ordering::SeqCst);
                }
                Err(_) => break,
            }
        }
        if moved {
            self.readable.notify_after_fence();
        }
    }

    /// Turns a claimed frame of aligned size `bytes` into padding (a claim abandoned without
    /// commit), so readers skip it.
    pub(crate) fn commit_padding(&self, position: u64, bytes: usize) {
        self.commit_raw(position, bytes as u32 | PADDING);
    }

    /// Word 0 at `position` (Acquire), decoded.
    #[inline]
    pub(crate) fn word0(&self, position: u64) -> Word0 {
        decode_word0(self.mem.load(self.index(position), Ordering::Acquire), position, self.max_frame)
    }

    /// Word 0 of a frame below the commit frontier, already known committed: (padding?, length).
    /// Relaxed: the caller's Acquire load of the frontier ordered the frame's bytes.
    #[inline]
    pub(crate) fn committed_frame(&self, position: u64) -> (bool, usize) {
        let len = self.mem.load(self.index(position), Ordering::Relaxed) as u32;
        debug_assert!(matches!(self.word0(position), Word0::Padding(_) | Word0::Event(_)));
        (len & PADDING != 0, (len & !PADDING) as usize)
    }

    /// Timestamp and word 2 (key length, flags, CRC) of the committed frame at `position`.
    #[inline]
    pub(crate) fn header(&self, position: u64) -> (u64, u64) {
        let i = self.index(position);
        let ts = self.mem.load(i + 8, Ordering::Relaxed);
        let meta = self.mem.load(i + 16, Ordering::Relaxed);
        (ts, meta)
    }

    /// Borrows the frame body (key then payload) at `position`.
    ///
    /// # Safety
    /// The frame is committed (its word 0 was Acquire-loaded by this thread) and a gate this
    /// caller holds keeps producers from reusing it while the borrow lives.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) unsafe fn body(&self, position: u64, len: usize) -> &[u8] {
        // SAFETY: per the contract the bytes are committed and stable.
        unsafe { self.mem.bytes(self.index(position) + HEADER_LEN, len - HEADER_LEN) }
    }

    /// Copies the frame at `position` (`len` unaligned bytes, header included) into `dst`
    /// (resized) with atomic loads. The copy may be torn: check [`Ring::lapped`] afterwards.
    pub(crate) fn copy_frame(&self, position: u64, len: usize, dst: &mut Vec<u8>) {
        dst.resize(len, 0);
        self.mem.copy_racy(self.index(position), dst);
    }

    /// Whether bytes read at or after `position` may have been overwritten since. Call after
    /// copying them: the Acquire fence pairs with the producers' and cleaner's Release fences,
    /// so a copy that saw any rewritten byte also sees the intent that announced the rewrite.
    #[inline]
    pub(crate) fn lapped(&self, position: u64) -> bool {
        atomic_fence(Ordering::Acquire);
        self.intent.load(Ordering::Relaxed) > position + self.capacity
    }

    /// Frees space up to at least `need_end` if gates allow; returns the new limit.
    #[cold]
    pub(crate) fn advance(&self, need_end: u64) -> u64 {
        let mut st = self.cleaner.lock();
        let limit = self.limit();
        if limit >= need_end {
            return limit;
        }
        let mut gate = u64::MAX;
        let mut holder = None;
        for (i, g) in st.gates.iter().enumerate() {
            let p = g.position();
            if p < gate {
                gate = p;
                holder = Some(i);
            }
        }
        let target = need_end.max(limit + self.chunk);
        if st.ungated == 0 && gate != u64::MAX {
            // Nobody needs the event count (only lapped DropOldest readers do), and the lowest
            // gate is a frame start: free up to it without walking the frames, a walk that
            // would chase one dependent load per frame through memory a lap old.
            st.earliest = st.earliest.max(gate);
        } else {
            let stop = gate.min(target - self.capacity);
            self.walk(&mut st, stop.min(self.committed()));
        }
        // Zero only a chunk ahead (or what the claim needs), so producers write into lines
        // that are still in their cache.
        let new_limit = (st.earliest + self.capacity).min(target);
        if new_limit > limit {
            // Announce before zeroing: a lapped reader that sees a zeroed byte sees this too.
            self.intent.store(new_limit, Ordering::Relaxed);
            atomic_fence(Ordering::Release);
            let from = self.index(limit);
            let len = (new_limit - limit) as usize;
            let first = len.min(self.capacity as usize - from);
            // SAFETY: the bytes lie below every gate and below the commit frontier of the lap
            // before (the walk stopped there), and above the old limit no producer has claimed
            // them: nobody but a validating lapped reader touches them.
            unsafe {
                self.mem.zero(from, first);
                self.mem.zero(0, len - first);
            }
            self.earliest.store(st.earliest, Ordering::Release);
            // Release: producers that Acquire-load the limit see the zeroes.
            self.limit.store(new_limit, Ordering::Release);
        }
        if new_limit < need_end {
            if let Some(i) = holder.filter(|_| gate == st.earliest) {
                self.note_stall(&mut st, i, gate);
            }
        } else {
            for g in st.gates.iter_mut() {
                g.stalled = None;
            }
        }
        new_limit
    }

    /// Advances the cleaner's `earliest` over committed frames while below `stop`.
    fn walk(&self, st: &mut Cleaner, stop: u64) {
        // Locals: the guard's fields would be stored back on every frame.
        let (mut p, mut events) = (st.earliest, st.events_before);
        // Every frame below `stop` is committed (callers bound it by the commit frontier), so
        // only the length field is needed.
        while p < stop {
            let len = self.mem.load(self.index(p), Ordering::Acquire) as u32;
            debug_assert!(matches!(self.word0(p), Word0::Padding(_) | Word0::Event(_)));
            let padding = len & PADDING != 0;
            p += align((len & !PADDING) as usize) as u64;
            events += u64::from(!padding);
        }
        (st.earliest, st.events_before) = (p, events);
    }

    /// Records that gate `i` holds a full ring back; evicts it once its policy says so.
    fn note_stall(&self, st: &mut Cleaner, i: usize, at: u64) {
        let now = Instant::now();
        let g = &mut st.gates[i];
        let Some(after) = g.evict_after else { return };
        match g.stalled {
            Some((p, since)) if p == at => {
                if now.duration_since(since) >= after {
                    let gate = st.gates.remove(i);
                    if let GateKind::Cursor(c) = gate.kind {
                        c.evicted.store(true, Ordering::Release);
                    }
                    self.readable.wake_all();
                }
            }
            _ => g.stalled = Some((at, now)),
        }
    }

    /// Registers a reader at `at`. With `gate`, producers will not overtake it until
    /// [`Ring::leave`]; `evict_after` makes the gate removable when it stalls a full ring.
    pub(crate) fn join(&self, at: JoinAt, gate: Option<(GateKind, Option<Duration>)>) -> Result<Joined, JoinError> {
        let mut st = self.cleaner.lock();
        let mut position = st.earliest;
        let mut index = st.events_before;
        let tail = self.tail();
        let committed = self.committed();
        let target = match at {
            JoinAt::Earliest => position,
            JoinAt::Latest => committed,
            JoinAt::Offset(n) => {
                if n < st.earliest {
                    return Err(JoinError::Trimmed { earliest: st.earliest });
                }
                if n > tail {
                    return Err(JoinError::Beyond { next: tail });
                }
                if n > committed {
                    return Err(JoinError::Pending);
                }
                n
            }
        };
        while position < target {
            match self.word0(position) {
                Word0::Uncommitted => break,
                Word0::Padding(n) => position += n as u64,
                Word0::Event(n) => {
                    position += align(n) as u64;
                    index += 1;
                }
            }
        }
        if let JoinAt::Offset(n) = at {
            if position < n {
                return Err(JoinError::Pending);
            }
            if position != n {
                return Err(JoinError::NotABoundary);
            }
        }
        if gate.is_none() {
            st.ungated += 1;
        }
        let gate_id = gate.map(|(kind, evict_after)| {
            let id = st.next_gate_id;
            st.next_gate_id += 1;
            match &kind {
                GateKind::Cursor(c) => c.release(position),
                GateKind::Group(g) => g.start_at(position),
            }
            st.gates.push(Gate { id, kind, evict_after, stalled: None });
            id
        });
        Ok(Joined { position, event_index: index, gate_id })
    }

    /// Unregisters a reader that joined without a gate (a DropOldest subscription leaving).
    pub(crate) fn leave_ungated(&self) {
        let mut st = self.cleaner.lock();
        st.ungated -= 1;
    }

    /// Events committed from `position` (or the oldest event held, if later) to the commit
    /// frontier: a reader's lag. Walks the frames under the cleaner lock; for stats.
    pub(crate) fn events_from(&self, position: u64) -> u64 {
        let st = self.cleaner.lock();
        let (mut p, end) = (position.max(st.earliest), self.committed());
        let mut events = 0;
        while p < end {
            let (padding, len) = self.committed_frame(p);
            events += u64::from(!padding);
            p += align(len) as u64;
        }
        events
    }

    /// Removes gate `id` (a reader leaving) and wakes producers waiting for space.
    pub(crate) fn leave(&self, id: u64) {
        let mut st = self.cleaner.lock();
        st.gates.retain(|g| g.id != id);
        drop(st);
        self.writable.wake_all();
    }

    /// The oldest intact frame and the number of events before it, read consistently (a lapped
    /// reader's restart point and loss count).
    pub(crate) fn earliest_with_index(&self) -> (u64, u64) {
        let st = self.cleaner.lock();
        (st.earliest, st.events_before)
    }

    /// Number of gates (readers and groups holding producers back).
    pub(crate) fn gate_count(&self) -> usize {
        self.cleaner.lock().gates.len()
    }
}
