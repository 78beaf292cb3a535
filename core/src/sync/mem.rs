//! The bytes of a partition ring.
//!
//! Invariants every caller upholds (the ring module documents why each holds):
//! - indices are byte indices in `0..capacity`, multiples of 8, and a range never crosses the
//!   end of the buffer (frames never wrap);
//! - word 0 of every frame (its commit word) is only ever accessed atomically;
//! - [`RingMemory::bytes`] and [`RingMemory::bytes_mut`] are used only on ranges that no other
//!   thread writes while the borrow lives (gating guarantees it for readers; a claim's
//!   exclusive ownership for producers).
//!
//! Lapped `DropOldest` readers read bytes a producer may be rewriting; they do it through
//! [`RingMemory::copy_racy`], which uses word-sized atomic loads, and then validate against the
//! ring's lap intent. See SAFETY.md for the one caveat this leaves (a plain write racing an
//! atomic read, as in every seqlock).
//!
//! Under `cfg(loom)` the buffer is a vector of loom atomics, so the models explore every
//! interleaving of the byte traffic too; borrowed slices do not exist there and the ring copies.

use super::Ordering;

/// Fixed-size, 64-byte aligned, pre-faulted byte buffer whose length is a power of two.
pub(crate) struct RingMemory {
    #[cfg(not(loom))]
    ptr: std::ptr::NonNull<u64>,
    #[cfg(loom)]
    words: Box<[super::AtomicU64]>,
    capacity: usize,
}

// SAFETY: the buffer is plain memory; all shared access goes through atomics or through
// borrows whose exclusivity the ring's gating protocol guarantees (see module docs).
#[cfg(not(loom))]
unsafe impl Send for RingMemory {}
// SAFETY: as for Send.
#[cfg(not(loom))]
unsafe impl Sync for RingMemory {}

/// Copies `n <= 64` bytes from `from` to `dst` with at most two loads and two stores of one
/// width (the two may overlap: both write the same source bytes).
///
/// # Safety
/// `from .. from + n` is readable, `dst .. dst + n` writable, and the two do not overlap.
#[cfg(not(loom))]
#[inline(always)]
unsafe fn small_copy(from: *const u8, dst: *mut u8, n: usize) {
    /// Moves the first and the last `size_of::<T>()` bytes (`size_of::<T>() <= n`).
    ///
    /// # Safety
    /// As for `small_copy`, with `size_of::<T>() <= n <= 2 * size_of::<T>()`.
    #[inline(always)]
    unsafe fn ends<T: Copy>(from: *const u8, dst: *mut u8, n: usize) {
        let w = std::mem::size_of::<T>();
        // SAFETY: both moves lie inside the n-byte ranges since w <= n (caller's contract).
        unsafe {
            let (a, b) = (from.cast::<T>().read_unaligned(), from.add(n - w).cast::<T>().read_unaligned());
            dst.cast::<T>().write_unaligned(a);
            dst.add(n - w).cast::<T>().write_unaligned(b);
        }
    }
    debug_assert!(n <= 64);
    // SAFETY: each arm's width satisfies `ends`' bounds for its range of n.
    unsafe {
        match n {
            33..=64 => ends::<[u128; 2]>(from, dst, n),
            16..=32 => ends::<u128>(from, dst, n),
            8..=15 => ends::<u64>(from, dst, n),
            4..=7 => ends::<u32>(from, dst, n),
            2..=3 => ends::<u16>(from, dst, n),
            1 => *dst = *from,
            _ => {}
        }
    }
}

#[cfg(not(loom))]
fn layout(capacity: usize) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(capacity, 64).expect("capacity checked by the caller")
}

impl RingMemory {
    /// Allocates `capacity` zeroed bytes and touches every page so no page fault lands on the
    /// publish path. `capacity` is a power of two and at least 64 (checked by the topic config).
    pub(crate) fn new(capacity: usize) -> Self {
        debug_assert!(capacity.is_power_of_two() && capacity >= 64);
        #[cfg(not(loom))]
        {
            let layout = layout(capacity);
            // SAFETY: layout has a non-zero size (capacity >= 64).
            let raw = unsafe { std::alloc::alloc_zeroed(layout) };
            let Some(ptr) = std::ptr::NonNull::new(raw.cast::<u64>()) else { std::alloc::handle_alloc_error(layout) };
            // Pre-fault: calloc'd pages are mapped lazily; write one zero word per page.
            let mut i = 0;
            while i < capacity {
                // SAFETY: i < capacity and is 8-aligned; the memory is ours, unshared yet.
                unsafe { ptr.as_ptr().add(i / 8).write_volatile(0) };
                i += 4096;
            }
            Self { ptr, capacity }
        }
        #[cfg(loom)]
        {
            let words = (0..capacity / 8).map(|_| super::AtomicU64::new(0)).collect();
            Self { words, capacity }
        }
    }

    #[cfg(not(loom))]
    #[inline]
    fn word(&self, index: usize) -> &std::sync::atomic::AtomicU64 {
        debug_assert!(index % 8 == 0 && index < self.capacity);
        // SAFETY: index is in bounds and 8-aligned (debug-asserted; callers mask positions with
        // capacity - 1 and keep frames 8-aligned), the buffer lives as long as &self, and every
        // concurrent access to this word is atomic.
        unsafe { std::sync::atomic::AtomicU64::from_ptr(self.ptr.as_ptr().add(index / 8)) }
    }

    #[cfg(loom)]
    #[inline]
    fn word(&self, index: usize) -> &super::AtomicU64 {
        debug_assert!(index % 8 == 0 && index < self.capacity);
        &self.words[index / 8]
    }

    /// Atomically loads the 8-byte word at `index`.
    #[inline]
    pub(crate) fn load(&self, index: usize, order: Ordering) -> u64 {
        self.word(index).load(order)
    }

    /// Atomically stores the 8-byte word at `index`.
    #[inline]
    pub(crate) fn store(&self, index: usize, value: u64, order: Ordering) {
        self.word(index).store(value, order)
    }

    /// Copies `src` to `index..` (any byte index).
    ///
    /// # Safety
    /// The caller owns `index .. index + src.len()` exclusively (part of a claimed frame) and
    /// the range lies inside the buffer.
    #[inline]
    pub(crate) unsafe fn write(&self, index: usize, src: &[u8]) {
        debug_assert!(index + src.len() <= self.capacity);
        #[cfg(not(loom))]
        // SAFETY: in bounds and exclusively owned per this function's contract; src is a
        // separate borrow so the ranges cannot overlap.
        unsafe {
            let dst = self.ptr.as_ptr().cast::<u8>().add(index);
            let (from, n) = (src.as_ptr(), src.len());
            if n <= 64 {
                // Small events are the common case; a memcpy call costs more than the copy.
                // Two possibly overlapping moves of the widest size that fits, no loop (LLVM
                // turns a copy loop back into a memcpy call).
                small_copy(from, dst, n);
            } else {
                std::ptr::copy_nonoverlapping(from, dst, n);
            }
        }
        #[cfg(loom)]
        for (i, byte) in src.iter().enumerate() {
            let at = index + i;
            let word = at & !7;
            let mut w = self.load(word, Ordering::Relaxed).to_le_bytes();
            w[at - word] = *byte;
            self.store(word, u64::from_le_bytes(w), Ordering::Relaxed);
        }
    }

    /// Writes a whole frame at the 8-aligned `index`: words 1 and 2 (Relaxed), `body` right
    /// after them, then word 0 with Release (the commit). The frame's address is computed once,
    /// so the stores need no reload of the buffer's pointer between them.
    ///
    /// # Safety
    /// As for [`RingMemory::write`], for `index .. index + 24 + body.len()`.
    #[inline(always)]
    pub(crate) unsafe fn write_frame(&self, index: usize, words: [u64; 3], body: &[u8]) {
        debug_assert!(index % 8 == 0 && index + 24 + body.len() <= self.capacity);
        #[cfg(not(loom))]
        // SAFETY: in bounds, 8-aligned and exclusively owned per the contract; every word of it
        // is accessed atomically by readers, and the body bytes only after word 0's Release.
        unsafe {
            let frame = self.ptr.as_ptr().add(index / 8);
            std::sync::atomic::AtomicU64::from_ptr(frame.add(1)).store(words[1], Ordering::Relaxed);
            std::sync::atomic::AtomicU64::from_ptr(frame.add(2)).store(words[2], Ordering::Relaxed);
            let dst = frame.add(3).cast::<u8>();
            if body.len() <= 64 {
                small_copy(body.as_ptr(), dst, body.len());
            } else {
                std::ptr::copy_nonoverlapping(body.as_ptr(), dst, body.len());
            }
            std::sync::atomic::AtomicU64::from_ptr(frame).store(words[0], Ordering::Release);
        }
        #[cfg(loom)]
        {
            self.store(index + 8, words[1], Ordering::Relaxed);
            self.store(index + 16, words[2], Ordering::Relaxed);
            // SAFETY: forwarded contract.
            unsafe { self.write(index + 24, body) };
            self.store(index, words[0], Ordering::Release);
        }
    }

    /// Borrows `len` bytes at `index`.
    ///
    /// # Safety
    /// No thread writes the range while the borrow lives, and a happens-before edge (the
    /// frame's Acquire-loaded commit word) orders the writes that filled it before this call.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) unsafe fn bytes(&self, index: usize, len: usize) -> &[u8] {
        debug_assert!(index + len <= self.capacity);
        // SAFETY: in bounds; no concurrent writer per the contract.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<u8>().add(index), len) }
    }

    /// Mutably borrows `len` bytes at `index` (a producer's claimed frame).
    ///
    /// # Safety
    /// The caller owns the range exclusively (a claimed, uncommitted frame), and no other
    /// borrow of it exists.
    #[cfg(not(loom))]
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn bytes_mut(&self, index: usize, len: usize) -> &mut [u8] {
        debug_assert!(index + len <= self.capacity);
        // SAFETY: in bounds; exclusively owned per the contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().cast::<u8>().add(index), len) }
    }

    /// Copies `dst.len()` bytes from `index` with word-sized Relaxed atomic loads. Safe to call
    /// while producers rewrite the range: the result may be torn, and the caller validates it.
    pub(crate) fn copy_racy(&self, index: usize, dst: &mut [u8]) {
        debug_assert!(index % 8 == 0 && index + dst.len() <= self.capacity);
        for (i, chunk) in dst.chunks_mut(8).enumerate() {
            let w = self.load(index + i * 8, Ordering::Relaxed).to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
    }

    /// Zeroes `len` bytes at `index`.
    ///
    /// # Safety
    /// No thread reads or writes the range except lapped readers through
    /// [`RingMemory::copy_racy`], which validate what they read (the seqlock caveat in SAFETY.md).
    pub(crate) unsafe fn zero(&self, index: usize, len: usize) {
        debug_assert!(index % 8 == 0 && len % 8 == 0 && index + len <= self.capacity);
        #[cfg(not(loom))]
        // SAFETY: in bounds; per the contract nobody else accesses the range but validating
        // racy readers. A memset is several times faster than word stores here.
        unsafe {
            std::ptr::write_bytes(self.ptr.as_ptr().cast::<u8>().add(index), 0, len);
        }
        #[cfg(loom)]
        {
            let mut i = index;
            while i < index + len {
                self.store(i, 0, Ordering::Relaxed);
                i += 8;
            }
        }
    }
}

#[cfg(not(loom))]
impl Drop for RingMemory {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this exact layout; no borrows outlive &mut self.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), layout(self.capacity)) };
    }
}

impl std::fmt::Debug for RingMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingMemory").field("capacity", &self.capacity).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Every small length (the branchy copy) and a few large ones, at every byte offset within
    /// a word, lands exactly: the bytes written and none around them.
    #[test]
    fn write_copies_every_length_exactly() {
        let mem = RingMemory::new(256);
        let src: Vec<u8> = (1..=64).collect();
        for n in 0..=64 {
            for at in 64..72 {
                // SAFETY: this test is the buffer's only user; the range is inside it.
                unsafe {
                    mem.zero(0, 256);
                    mem.write(at, &src[..n]);
                    let all = mem.bytes(0, 256);
                    assert_eq!(&all[at..at + n], &src[..n], "length {n} at {at}");
                    assert!(all[..at].iter().chain(&all[at + n..]).all(|&b| b == 0), "length {n} at {at} spilled");
                }
            }
        }
    }
}
