//! The partition ring: every lock-free protocol of ringbus lives under this module (the other
//! unsafe code, in `sync`, `bus` and `log`, is listed with its contract in SAFETY.md).
//!
//! A ring is a power-of-two byte buffer laid out as a log. Positions are u64 byte offsets in
//! the partition's log, growing forever; a position's byte index is `position & mask`.
//!
//! - **tail**: the next position to claim. While the ring is *exclusive* (its topic has one
//!   publisher) that publisher loads and stores it with plain instructions, in a short section
//!   marked by `active` that [`Ring::share`] and [`Ring::close`] wait out. Otherwise a
//!   publisher far from its cached limit claims with one `fetch_add` ([`Ring::claim`]); near
//!   the limit, and for claims that must not overshoot it ([`Ring::try_claim`]), with a CAS
//!   loop that refuses to pass `limit`. A claim that would cross the buffer's end is padded,
//!   so frames never wrap.
//! - **limit**: producers may claim up to here. Every byte of `[tail, limit + 8)` is zero in
//!   the buffer: the word at the limit itself is kept zeroed (a sentinel), so a reader that
//!   reaches the last claimable frame start finds a zero there, never bytes of an older lap.
//! - **intent**: the end (exclusive) of what the cleaner has announced it will zero, always
//!   `limit + 8` at rest. Lapped readers compare it with their position: bytes at position `p`
//!   are intact while `intent <= p + capacity`.
//! - **earliest**: the oldest frame still intact; every frame in `[earliest, tail)` is either
//!   committed or claimed and not yet committed.
//! - **gates**: `Block`/`Evict` subscriptions, groups and the persister. The cleaner never
//!   frees bytes a gate has not passed.
//!
//! There is no shared commit frontier. A frame is committed when its word 0 (length and a
//! position tag) is stored with Release; readers Acquire-load word 0 at their own position and
//! stop at the first frame that is not committed, as Aeron's `TermReader` does. So a publish
//! touches only the tail's line (its claim) and the frame's own lines, and readers touch only
//! the frames. Whatever needs "everything committed so far" (a `Latest` join, lag stats, the
//! persister) walks the frames itself, off the publish path.
//!
//! This file holds the claim and read protocol; the rest of the ring is in files of its own:
//!
//! - `frame.rs`: the frame layout and word 0, the commit marker;
//! - `cleaner.rs`: freeing space for producers ([`Ring::free_space`]), eviction;
//! - `join.rs`: readers joining and leaving, their gates, lag counts;
//! - `group.rs`: work-queue groups' shared cursors;
//! - `notify.rs` and `wait.rs`: parking and waking, the wait strategies;
//! - `partitions.rs`: a topic's rings as the layers above see them;
//! - `loom/`: the loom models, one file per protocol.

mod cleaner;
pub(crate) mod frame;
pub(crate) mod group;
mod join;
pub(crate) mod notify;
mod partitions;
pub(crate) mod wait;

#[cfg(all(test, loom))]
mod loom;

pub(crate) use join::{Cursor, GateKind, GateSpec, JoinAt, JoinError, Joined};
pub(crate) use partitions::Partitions;

use crate::sync::{
    atomic_fence, heavy_fence, init_fences, light_fence, Arc, AtomicBool, AtomicU64, CachePadded, Mutex, Ordering,
    RingMemory,
};
use cleaner::Cleaner;
use frame::{align, commit_word, decode_word0, Word0, HEADER_LEN, PADDING};
use notify::Notifier;

/// Most bytes the cleaner frees ahead of producers at once: small enough that the zeroed
/// lines are still in cache when producers write them.
const CHUNK: u64 = 8 << 10;

/// Bit 63 of the tail word: the ring is closed. Positions never reach 2^62.
const CLOSED: u64 = 1 << 63;

/// The zeroed word kept at the limit (see the module docs).
const SENTINEL: u64 = 8;

/// Why a claim did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimError {
    /// No room: gates have not released enough space. Nothing was claimed.
    Full,
    /// The ring was closed. Nothing was claimed.
    Closed,
    /// A `fetch_add` claim landed past the limit and could not be taken back (a later claim
    /// sits on top of it). The space is this producer's: wait for room with
    /// [`Ring::settle`] until it resolves.
    Reserved(Reservation),
}

/// Space claimed by `fetch_add` that passes the producers' limit: `start .. end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reservation {
    start: u64,
    end: u64,
}

/// What a publisher remembers of a ring between claims, so that a claim reads no shared line
/// but the tail's. Owned by one publisher.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProducerCache {
    /// The last limit this publisher loaded.
    pub(crate) limit: u64,
    /// The end of this publisher's last claim (a lower bound of the tail).
    pub(crate) last_end: u64,
}

/// The producers' line: the tail and the exclusive publisher's claim-in-progress flag.
#[derive(Debug)]
struct ProducerLine {
    /// Next position to claim; bit 63 = closed.
    tail: AtomicU64,
    /// The exclusive publisher is between the start of a claim and its tail store. Written by
    /// that publisher only.
    active: AtomicBool,
}

/// Flags and hints written rarely (close, the cleaner), kept off the lines of the hot path.
#[derive(Debug)]
struct Rare {
    /// Mirror of the cleaner's `earliest` for lock-free hints.
    earliest: AtomicU64,
    /// One publisher claims alone: with plain loads and stores of the tail, no locked
    /// instruction. Read by that publisher on every claim; written only by
    /// [`Ring::set_exclusive`], [`Ring::share`] and [`Ring::close`], under `transitions`.
    exclusive: AtomicBool,
    /// Set last by `close`, once no claim can start any more: readers check it (off the tail's
    /// cache line, which producers write on every claim).
    closed: AtomicBool,
    /// Serializes the changes of `exclusive` with close.
    transitions: Mutex<()>,
}

/// One partition's ring.
///
/// `repr(C)` keeps the layout as written: the fields read on every publish and poll come
/// first and are never written after creation, and every field that some thread writes sits
/// on a cache line of its own (`CachePadded`), so a publish and a poll share no line but the
/// frames themselves.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Ring {
    mem: RingMemory,
    capacity: u64,
    mask: u64,
    /// Largest unaligned event frame the topic allows.
    max_frame: usize,
    /// Minimum bytes the cleaner frees at once.
    chunk: u64,
    /// Frames carry a CRC-32C (the topic is persisted).
    checksums: bool,
    /// Readers waiting for frames (shared by all partitions of a topic).
    pub(crate) readable: Arc<Notifier>,
    producers: CachePadded<ProducerLine>,
    limit: CachePadded<AtomicU64>,
    intent: CachePadded<AtomicU64>,
    rare: CachePadded<Rare>,
    cleaner: CachePadded<Mutex<Cleaner>>,
    /// Producers waiting for space.
    pub(crate) writable: CachePadded<Notifier>,
}

impl Ring {
    /// A ring of `capacity` bytes (a power of two, at least 64) whose event frames are at most
    /// `max_frame` bytes (at most `capacity / 2`), waking readers through `readable`; with
    /// `exclusive`, its one publisher claims with plain stores until [`Ring::share`].
    #[cfg(loom)]
    pub(crate) fn new(capacity: usize, max_frame: usize, exclusive: bool, readable: Arc<Notifier>) -> Self {
        Self::starting_at(0, capacity, max_frame, exclusive, false, readable)
    }

    /// Like [`Ring::new`], for a log whose next frame is at `start` (a multiple of 8: a
    /// persisted partition reopened), with CRC-32C in every frame when `checksums`.
    pub(crate) fn starting_at(
        start: u64,
        capacity: usize,
        max_frame: usize,
        exclusive: bool,
        checksums: bool,
        readable: Arc<Notifier>,
    ) -> Self {
        debug_assert!(capacity.is_power_of_two() && capacity >= 64);
        debug_assert!(align(max_frame) <= capacity / 2 && max_frame >= HEADER_LEN);
        debug_assert!(start % 8 == 0 && start < CLOSED / 4);
        init_fences();
        let cap = capacity as u64;
        // The buffer starts zeroed, so `[start, start + cap)` is free; the last word stays
        // zero as the sentinel at the limit.
        let limit = start + cap - SENTINEL;
        Self {
            mem: RingMemory::new(capacity),
            capacity: cap,
            mask: cap - 1,
            max_frame,
            chunk: (cap / 8).clamp(8, CHUNK),
            checksums,
            readable,
            producers: CachePadded::new(ProducerLine { tail: AtomicU64::new(start), active: AtomicBool::new(false) }),
            limit: CachePadded::new(AtomicU64::new(limit)),
            intent: CachePadded::new(AtomicU64::new(limit + SENTINEL)),
            rare: CachePadded::new(Rare {
                earliest: AtomicU64::new(start),
                exclusive: AtomicBool::new(exclusive),
                closed: AtomicBool::new(false),
                transitions: Mutex::new(()),
            }),
            cleaner: CachePadded::new(Mutex::new(Cleaner::new(start))),
            writable: CachePadded::new(Notifier::new()),
        }
    }

    #[inline]
    pub(crate) fn index(&self, position: u64) -> usize {
        (position & self.mask) as usize
    }

    /// The next position to be claimed (Acquire: frames below it were claimed). Claims that
    /// are being taken back (an overshooting `fetch_add`, or one that met a closed ring) may
    /// count in it for a moment.
    #[inline]
    pub(crate) fn tail(&self) -> u64 {
        self.producers.tail.load(Ordering::Acquire) & !CLOSED
    }

    /// The producers' limit (Acquire: the zeroing below it is visible).
    #[inline]
    pub(crate) fn limit(&self) -> u64 {
        self.limit.load(Ordering::Acquire)
    }

    /// The oldest intact frame, as a hint (it may move right after the load).
    pub(crate) fn earliest_hint(&self) -> u64 {
        self.rare.earliest.load(Ordering::Acquire)
    }

    /// Whether the ring was closed.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.rare.closed.load(Ordering::Acquire)
    }

    /// Whether a reader at `position` has read everything the ring will ever hold: the ring is
    /// closed and `position` is the final tail. Reads the tail's line only once closed.
    #[inline]
    pub(crate) fn drained_at(&self, position: u64) -> bool {
        // `close` took exclusivity away (so no plain tail store can follow) and set the
        // CLOSED bit before `closed`: the Acquire on `closed` makes the final tail visible.
        self.is_closed() && position >= self.tail()
    }

    /// Closes the ring: claims fail from now on; frames already claimed may still commit.
    ///
    /// Close first takes exclusivity away ([`Ring::share`]: after it no claim uses plain
    /// stores), then sets the CLOSED bit in the tail word itself, which makes close and
    /// claims totally ordered: a claim either succeeded before (readers will see it below the
    /// closed tail) or fails (a `fetch_add` that met the bit takes its bytes back).
    pub(crate) fn close(&self) {
        {
            let _transitions = self.rare.transitions.lock();
            self.revoke();
            self.producers.tail.fetch_or(CLOSED, Ordering::AcqRel);
            self.rare.closed.store(true, Ordering::Release);
        }
        self.writable.wake_all();
        self.readable.wake_all();
    }

    /// Lets one publisher claim with plain stores (the topic has at most one publisher left).
    /// The caller guarantees that no other publisher claims on this ring from now on until
    /// [`Ring::share`], and that every earlier claim by another publisher happened before this
    /// call. No effect on a closed ring.
    pub(crate) fn set_exclusive(&self) {
        let _transitions = self.rare.transitions.lock();
        if !self.rare.closed.load(Ordering::Relaxed) {
            // Release: the publisher that Acquire-loads it sees the tail others left.
            self.rare.exclusive.store(true, Ordering::Release);
        }
    }

    /// Takes exclusivity away before a second publisher claims: once this returns, the
    /// exclusive publisher is out of its claim and its next claim is a shared one.
    pub(crate) fn share(&self) {
        let _transitions = self.rare.transitions.lock();
        self.revoke();
    }

    /// The revoking side of the exclusive claim's handshake (under `transitions`). A claim
    /// stores `active`, light fence, loads `exclusive`; this stores `exclusive`, heavy fence,
    /// loads `active`. So either the claim sees `exclusive` false, or this sees its `active`
    /// and waits for the claim to end (a handful of instructions, or one cleaner pass).
    fn revoke(&self) {
        // A locked instruction: the store is globally visible before the membarrier starts
        // (see `sync/fence.rs`).
        if !self.rare.exclusive.swap(false, Ordering::SeqCst) {
            return;
        }
        // The heavy side of the claim's light fence. (Under loom both are SeqCst fences; with
        // membarrier the claim's side is a compiler fence, which only a membarrier pairs with.)
        heavy_fence();
        let mut spins = 0u32;
        // Acquire on `active` going false: the claim's tail store is visible from here on.
        while self.producers.active.load(Ordering::Acquire) {
            spins += 1;
            if spins < 64 {
                crate::sync::spin_loop();
            } else {
                crate::sync::yield_now();
            }
        }
    }

    /// Claims `bytes` (a multiple of 8, at most `capacity / 2`) of contiguous space for one
    /// frame or a batch of frames and returns the space's first position. Never passes the
    /// limit: a ring without room returns [`ClaimError::Full`] having claimed nothing. If the
    /// space would cross the buffer's end, the rest of the buffer is claimed too and filled
    /// with a committed padding frame. The exclusive publisher claims with plain stores, others
    /// with a CAS loop on the tail.
    #[inline]
    pub(crate) fn try_claim(&self, bytes: usize, cache: &mut ProducerCache) -> Result<u64, ClaimError> {
        debug_assert!(bytes % 8 == 0 && bytes > 0 && bytes as u64 <= self.capacity / 2);
        if self.rare.exclusive.load(Ordering::Relaxed) {
            if let Some(claimed) = self.try_claim_exclusive(bytes as u64, cache) {
                return claimed;
            }
        }
        self.try_claim_shared(bytes as u64, cache)
    }

    /// [`Ring::try_claim`] by CAS, for rings that more than one publisher may claim on.
    #[inline(never)]
    fn try_claim_shared(&self, bytes: u64, cache: &mut ProducerCache) -> Result<u64, ClaimError> {
        let mut tail = self.producers.tail.load(Ordering::Relaxed);
        loop {
            if tail & CLOSED != 0 {
                return Err(ClaimError::Closed);
            }
            let room_to_end = self.capacity - (tail & self.mask);
            let pad = if bytes > room_to_end { room_to_end } else { 0 };
            let end = tail + pad + bytes;
            if !self.room_for(end, &mut cache.limit) {
                return Err(ClaimError::Full);
            }
            // Release: a reader that Acquire-loads the new tail sees the zeroing this producer
            // Acquire-loaded through `limit`.
            match self.producers.tail.compare_exchange_weak(tail, end, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => {
                    // Pairs with the Acquire fence of lapped readers: any of this producer's
                    // writes they observe makes the cleaner's intent for this lap visible too.
                    atomic_fence(Ordering::Release);
                    if pad != 0 {
                        self.commit_raw(tail, pad as u32 | PADDING);
                    }
                    cache.last_end = end;
                    return Ok(tail + pad);
                }
                Err(now) => tail = now,
            }
        }
    }

    /// Claims `bytes` like [`Ring::try_claim`], for a publisher that will wait for room rather
    /// than give up. Far from the publisher's cached limit it takes one `fetch_add` on the
    /// tail (the Disruptor's multi-producer `next()`); near it, the CAS loop. A `fetch_add`
    /// that lands past the limit anyway (other publishers claimed meanwhile) is taken back
    /// with a CAS when nothing was claimed after it, and otherwise returned as
    /// [`ClaimError::Reserved`]: space this publisher owns and must wait for. The exclusive
    /// publisher claims with plain stores.
    #[inline(always)]
    pub(crate) fn claim(&self, bytes: usize, cache: &mut ProducerCache) -> Result<u64, ClaimError> {
        debug_assert!(bytes % 8 == 0 && bytes > 0 && bytes as u64 <= self.capacity / 2);
        let bytes = bytes as u64;
        if self.rare.exclusive.load(Ordering::Relaxed) {
            if let Some(claimed) = self.try_claim_exclusive(bytes, cache) {
                return claimed;
            }
        }
        // `last_end` is a lower bound of the tail (exact while this publisher is the only one),
        // so this is the claim that cannot pass the cached limit unless others claimed since.
        if cache.last_end + bytes > cache.limit {
            return self.try_claim_shared(bytes, cache);
        }
        // Release: as for the CAS of `try_claim`.
        let start = self.producers.tail.fetch_add(bytes, Ordering::Release);
        let end = start + bytes;
        if start & CLOSED != 0 || end > cache.limit || (start & self.mask) + bytes > self.capacity {
            return self.claim_slow(Reservation { start, end }, bytes, cache);
        }
        // Pairs with the Acquire fence of lapped readers (see `try_claim`).
        atomic_fence(Ordering::Release);
        cache.last_end = end;
        Ok(start)
    }

    /// The rare outcomes of a `fetch_add` claim: the ring was closed, the claim passed the
    /// cached limit, or it crosses the buffer's end.
    #[cold]
    fn claim_slow(&self, r: Reservation, bytes: u64, cache: &mut ProducerCache) -> Result<u64, ClaimError> {
        if r.start & CLOSED != 0 {
            // Take our bytes back so the tail is the real end again, and let readers waiting
            // for the end of the closed ring look again.
            self.producers.tail.fetch_sub(bytes, Ordering::AcqRel);
            self.readable.wake_all();
            return Err(ClaimError::Closed);
        }
        match self.settle(r, bytes as usize, cache) {
            Some(result) => result,
            None => Err(ClaimError::Reserved(r)),
        }
    }

    /// Resolves a reservation: `Some(Ok(position))` once its space is free (a reservation
    /// crossing the buffer's end is turned into padding and the claim made again),
    /// `Some(Err(_))` when it could be taken back (then as [`Ring::try_claim`]: `Full` or
    /// `Closed`, or a new reservation), `None` while the publisher must go on waiting.
    pub(crate) fn settle(
        &self,
        r: Reservation,
        bytes: usize,
        cache: &mut ProducerCache,
    ) -> Option<Result<u64, ClaimError>> {
        if self.room_for(r.end, &mut cache.limit) {
            // The space is ours and free (pairs with lapped readers' Acquire fence).
            atomic_fence(Ordering::Release);
            let buffer_end = (r.start | self.mask) + 1;
            if r.end <= buffer_end {
                cache.last_end = r.end;
                return Some(Ok(r.start));
            }
            // Frames never wrap: pad both pieces, then claim again after them.
            self.commit_raw(r.start, (buffer_end - r.start) as u32 | PADDING);
            self.commit_raw(buffer_end, (r.end - buffer_end) as u32 | PADDING);
            self.readable.notify();
            cache.last_end = r.end;
            return Some(self.claim(bytes, cache));
        }
        // No room: take the claim back if nothing was claimed after it.
        let now = self.producers.tail.load(Ordering::Relaxed);
        if now & !CLOSED == r.end
            && self
                .producers
                .tail
                .compare_exchange(now, (now & CLOSED) | r.start, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            // A reservation below ours may now be taken back too; a closed ring's readers may
            // now be at its end.
            self.writable.notify();
            if now & CLOSED != 0 {
                self.readable.wake_all();
                return Some(Err(ClaimError::Closed));
            }
            cache.last_end = r.start;
            return Some(self.try_claim(bytes, cache));
        }
        None
    }

    /// Whether a claim of `bytes` would find room now, claiming nothing (it may free space,
    /// as a claim does): what a task waiting for room re-checks. True on a closed ring (the
    /// claim then says so).
    pub(crate) fn has_room(&self, bytes: usize, cache: &mut ProducerCache) -> bool {
        let tail = self.producers.tail.load(Ordering::Acquire);
        if tail & CLOSED != 0 {
            return true;
        }
        let room_to_end = self.capacity - (tail & self.mask);
        let pad = if bytes as u64 > room_to_end { room_to_end } else { 0 };
        self.room_for(tail + pad + bytes as u64, &mut cache.limit)
    }

    /// Whether a claim may end at `end`: checks the cached limit, then the ring's, then runs
    /// the cleaner. Updates the cache.
    #[inline]
    fn room_for(&self, end: u64, cached_limit: &mut u64) -> bool {
        if end <= *cached_limit {
            return true;
        }
        *cached_limit = self.limit();
        if end <= *cached_limit {
            return true;
        }
        *cached_limit = self.free_space(end);
        end <= *cached_limit
    }

    /// [`Ring::try_claim`] by the exclusive publisher: plain loads and stores of the tail, no
    /// locked instruction. `None` if exclusivity was taken away (then claim as shared).
    #[inline(always)]
    fn try_claim_exclusive(&self, bytes: u64, cache: &mut ProducerCache) -> Option<Result<u64, ClaimError>> {
        // The light side of the handshake with `revoke`: announce the claim, then look.
        self.producers.active.store(true, Ordering::Relaxed);
        light_fence();
        // Acquire: pairs with `set_exclusive`, so the tail below is the latest.
        if !self.rare.exclusive.load(Ordering::Acquire) {
            self.producers.active.store(false, Ordering::Release);
            return None;
        }
        // While exclusive, only this publisher writes the tail, and the CLOSED bit is clear
        // (close revokes first).
        let tail = self.producers.tail.load(Ordering::Relaxed);
        let room_to_end = self.capacity - (tail & self.mask);
        let pad = if bytes > room_to_end { room_to_end } else { 0 };
        let end = tail + pad + bytes;
        if !self.room_for(end, &mut cache.limit) {
            self.producers.active.store(false, Ordering::Release);
            return Some(Err(ClaimError::Full));
        }
        // Release: as for the shared CAS (readers and the cleaner see the zeroing).
        self.producers.tail.store(end, Ordering::Release);
        // Release: a revoker that sees `active` false sees the tail.
        self.producers.active.store(false, Ordering::Release);
        // Pairs with the Acquire fence of lapped readers (see `try_claim_shared`).
        atomic_fence(Ordering::Release);
        if pad != 0 {
            self.commit_raw(tail, pad as u32 | PADDING);
        }
        cache.last_end = end;
        Some(Ok(tail + pad))
    }

    /// Wakes parked readers, if any, after this producer committed frames. Costs a compiler
    /// fence and one load of a line that only parking readers write.
    #[inline]
    pub(crate) fn notify_readers(&self) {
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
    #[inline(always)]
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

    /// Writes and commits a whole key-less event frame at `position`: the header, `payload`,
    /// then word 0 with Release. (The common publish, in one pass over the frame.)
    ///
    /// # Safety
    /// The caller claimed `position .. position + align(HEADER_LEN + payload.len())` and has
    /// not committed it; the length is within the topic's limit.
    #[inline(always)]
    pub(crate) unsafe fn write_event(&self, position: u64, timestamp: u64, payload: &[u8]) {
        let len = HEADER_LEN + payload.len();
        debug_assert!(len <= self.max_frame);
        let word0 = commit_word(position, len as u32);
        let crc = if self.checksums { frame::frame_crc(word0, timestamp, 0, 0, &[payload]) } else { 0 };
        // SAFETY: forwarded contract: the claimed frame is ours and inside the buffer (frames
        // never wrap).
        unsafe { self.mem.write_frame(self.index(position), [word0, timestamp, frame::meta_word(0, 0, crc)], payload) };
    }

    /// The log bytes `position .. position + len` (they do not cross the buffer's end).
    ///
    /// # Safety
    /// Every frame in the range is committed (this thread Acquire-loaded their words 0), and a
    /// gate this caller holds keeps producers from reusing it while the borrow lives.
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

    /// Turns a claimed frame of aligned size `bytes` into padding (a claim abandoned without
    /// commit), so readers skip it.
    pub(crate) fn commit_padding(&self, position: u64, bytes: usize) {
        self.commit_raw(position, bytes as u32 | PADDING);
    }

    /// Word 0 at `position` (Acquire), decoded: a reader's commit check. A frame start that a
    /// reader reached by reading the frames before it (or by a join) reads as committed only
    /// once its producer committed it, and then every write to the frame is visible.
    #[inline]
    pub(crate) fn word0(&self, position: u64) -> Word0 {
        decode_word0(self.mem.load(self.index(position), Ordering::Acquire), position, self.max_frame)
    }

    /// Whether the frame at `position` is committed (an event or padding).
    #[inline]
    pub(crate) fn is_ready_at(&self, position: u64) -> bool {
        !matches!(self.word0(position), Word0::Uncommitted)
    }

    /// The end of the run of committed frames from the frame start `from`, at most up to
    /// `stop` (a frame boundary is returned, so it may stop short of `stop`). Walks the frames'
    /// words 0 (Acquire); for a gated reader at `from` (the persister), whose gate keeps the
    /// frames from being reused.
    pub(crate) fn committed_run(&self, from: u64, stop: u64) -> u64 {
        let mut p = from;
        while p < stop {
            let next = match self.word0(p) {
                Word0::Uncommitted => break,
                Word0::Padding(n) => p + n as u64,
                Word0::Event(n) => p + align(n) as u64,
            };
            if next > stop {
                break;
            }
            p = next;
        }
        p
    }

    /// Word 0 of a frame already known committed (this thread Acquire-loaded it before):
    /// (padding?, length).
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
}
