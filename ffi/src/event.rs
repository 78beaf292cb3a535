//! Events as C sees them: owned (`rb_event`), lent (`rb_event_view`, `rb_slice`), and copied
//! batches (`rb_batch`).

use ringbus_core::Event;

use crate::args::put;
use crate::panic::boundary;
use crate::status::{fail, rb_status, RB_ERR_INVALID_ARG, RB_ERR_NULL_ARG};

/// A borrowed view of bytes: `len` bytes at `data` (not NUL-terminated).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rb_slice {
    /// First byte. When `len` is 0 it may be NULL or any other value and must not be read.
    pub data: *const u8,
    /// Number of bytes.
    pub len: usize,
}

impl rb_slice {
    pub(crate) fn of(bytes: &[u8]) -> Self {
        Self { data: if bytes.is_empty() { std::ptr::null() } else { bytes.as_ptr() }, len: bytes.len() }
    }
}

/// An event owned by the caller (from `rb_poll`); free with `rb_event_free`.
pub struct rb_event {
    pub(crate) event: Event,
}

/// An event lent to the caller, by `rb_poll_each` (for the call of the callback),
/// `rb_poll_views` (until the next poll of that subscription) or `rb_batch_get` (until
/// `rb_batch_free`). A slice of length 0 may have any `data` pointer; do not read it.
#[repr(C)]
pub struct rb_event_view {
    /// Offset in the partition (its byte position in the log).
    pub offset: u64,
    /// Partition.
    pub partition: u32,
    /// ns since the Unix epoch.
    pub timestamp_ns: u64,
    /// Key (len 0: none).
    pub key: rb_slice,
    /// Payload.
    pub payload: rb_slice,
}

/// The event's payload, borrowed until `rb_event_free`. NULL event: an empty slice.
///
/// Threads: any thread; events and batches are immutable (free each once, from any thread).
///
/// # Safety
/// `event` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rb_event_payload(event: *const rb_event) -> rb_slice {
    boundary! {
        // SAFETY: NULL or live per the contract.
        unsafe { event.as_ref() }.map_or(rb_slice::of(&[]), |e| rb_slice::of(&e.event.payload))
    }
}

/// The event's key (len 0: none), borrowed until `rb_event_free`.
///
/// Threads: any thread; events and batches are immutable (free each once, from any thread).
///
/// # Safety
/// `event` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rb_event_key(event: *const rb_event) -> rb_slice {
    boundary! {
        // SAFETY: NULL or live per the contract.
        unsafe { event.as_ref() }.map_or(rb_slice::of(&[]), |e| rb_slice::of(e.event.key.as_deref().unwrap_or(&[])))
    }
}

/// The event's offset (0 for NULL).
///
/// Threads: any thread; events and batches are immutable (free each once, from any thread).
///
/// # Safety
/// `event` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rb_event_offset(event: *const rb_event) -> u64 {
    boundary! {
        // SAFETY: NULL or live per the contract.
        unsafe { event.as_ref() }.map_or(0, |e| e.event.offset)
    }
}

/// The event's partition (0 for NULL).
///
/// Threads: any thread; events and batches are immutable (free each once, from any thread).
///
/// # Safety
/// `event` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rb_event_partition(event: *const rb_event) -> u32 {
    boundary! {
        // SAFETY: NULL or live per the contract.
        unsafe { event.as_ref() }.map_or(0, |e| e.event.partition)
    }
}

/// The event's timestamp, ns since the Unix epoch (0 for NULL).
///
/// Threads: any thread; events and batches are immutable (free each once, from any thread).
///
/// # Safety
/// `event` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rb_event_timestamp(event: *const rb_event) -> u64 {
    boundary! {
        // SAFETY: NULL or live per the contract.
        unsafe { event.as_ref() }.map_or(0, |e| e.event.timestamp)
    }
}

/// Frees an event; NULL is a no-op.
///
/// Threads: any thread; events and batches are immutable (free each once, from any thread).
///
/// # Safety
/// `event` is NULL or came from `rb_poll` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rb_event_free(event: *mut rb_event) {
    boundary! {
        if !event.is_null() {
            // SAFETY: per the contract it came from Box::into_raw in rb_poll.
            drop(unsafe { Box::from_raw(event) });
        }
    }
}

/// Events polled together and copied into one buffer: `rb_batch_len` events, each borrowed
/// from the batch until `rb_batch_free`. One allocation per batch, none per event.
pub struct rb_batch {
    pub(crate) bytes: Vec<u8>,
    /// (offset, partition, timestamp, key start, key len, payload start, payload len)
    pub(crate) events: Vec<(u64, u32, u64, usize, usize, usize, usize)>,
}

/// Number of events in the batch (0 for NULL).
///
/// Threads: any thread; events and batches are immutable (free each once, from any thread).
///
/// # Safety
/// `batch` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rb_batch_len(batch: *const rb_batch) -> usize {
    boundary! {
        // SAFETY: NULL or live per the contract.
        unsafe { batch.as_ref() }.map_or(0, |b| b.events.len())
    }
}

/// Event `i` of the batch, borrowed until `rb_batch_free`. Out of range or NULL: `RB_ERR_INVALID_ARG`
/// / `RB_ERR_NULL_ARG`.
///
/// Threads: any thread; events and batches are immutable (free each once, from any thread).
///
/// # Safety
/// `batch` NULL or live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_batch_get(batch: *const rb_batch, i: usize, out: *mut rb_event_view) -> rb_status {
    boundary! {
        // SAFETY: NULL or live per the contract.
        let Some(b) = (unsafe { batch.as_ref() }) else { return fail(RB_ERR_NULL_ARG, "batch is NULL") };
        let Some(&(offset, partition, timestamp_ns, k, kl, p, pl)) = b.events.get(i) else {
            return fail(RB_ERR_INVALID_ARG, format!("index {i} is past the batch's {} events", b.events.len()));
        };
        let view = rb_event_view {
            offset,
            partition,
            timestamp_ns,
            key: rb_slice::of(&b.bytes[k..k + kl]),
            payload: rb_slice::of(&b.bytes[p..p + pl]),
        };
        // SAFETY: writable per the contract (checked non-NULL in put).
        unsafe { put(out, view) }
    }
}

/// Frees a batch and the events borrowed from it; NULL is a no-op.
///
/// Threads: any thread; events and batches are immutable (free each once, from any thread).
///
/// # Safety
/// `batch` is NULL or came from `rb_poll_batch` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rb_batch_free(batch: *mut rb_batch) {
    boundary! {
        if !batch.is_null() {
            // SAFETY: per the contract it came from Box::into_raw in rb_poll_batch.
            drop(unsafe { Box::from_raw(batch) });
        }
    }
}
