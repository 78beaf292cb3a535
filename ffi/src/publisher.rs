//! `rb_publisher`: copy-in publishing (one event, keyed, a batch, a caller's buffer) and
//! zero-copy claims.

use std::ffi::c_void;

use ringbus_core::{Claim, Error, Publisher, Record};

use crate::args::{bytes_arg, or_return, put, receipt_status};
use crate::event::rb_slice;
use crate::panic::boundary;
use crate::status::{fail, from_error, rb_status, RB_ERR_INVALID_ARG, RB_ERR_NULL_ARG, RB_OK};
use crate::topic::rb_topic;

/// A publisher: one per producing thread (it may move between threads, but one thread at a
/// time uses it).
pub struct rb_publisher {
    /// Boxed so its address is stable while `claim` borrows it.
    pub(crate) publisher: Box<Publisher>,
    /// The open zero-copy claim, if any. Borrows `*publisher`: always dropped first.
    pub(crate) claim: Option<Claim<'static>>,
}

impl Drop for rb_publisher {
    fn drop(&mut self) {
        // The claim borrows the publisher: it goes first (uncommitted, it becomes padding).
        self.claim = None;
    }
}

/// The publisher behind `publisher` for a copy-in publish: not NULL, no claim open.
///
/// # Safety
/// `publisher` NULL or live and not used by another thread meanwhile.
pub(crate) unsafe fn unclaimed<'a>(publisher: *mut rb_publisher) -> Result<&'a mut Publisher, rb_status> {
    // SAFETY: NULL or live and unshared per the caller's contract.
    let Some(p) = (unsafe { publisher.as_mut() }) else { return Err(fail(RB_ERR_NULL_ARG, "publisher is NULL")) };
    if p.claim.is_some() {
        return Err(fail(RB_ERR_INVALID_ARG, "a claim is open on this publisher: commit or abort it first"));
    }
    Ok(&mut p.publisher)
}

/// The record of `len` payload bytes and `key_len` key bytes (0: no key).
///
/// # Safety
/// `payload` readable for `len` bytes (or `len` 0), `key` for `key_len` (or `key_len` 0).
pub(crate) unsafe fn record_arg<'a>(
    payload: *const u8,
    len: usize,
    key: *const u8,
    key_len: usize,
) -> Result<Record<'a>, rb_status> {
    // SAFETY: forwarded contract.
    let (payload, key) = unsafe { (bytes_arg(payload, len, "payload")?, bytes_arg(key, key_len, "key")?) };
    let record = Record::new(payload);
    Ok(if key.is_empty() { record } else { record.key(key) })
}

/// Fills `records` with the payloads of `chunk` (at most `records.len()` of them).
///
/// # Safety
/// Each slice of `chunk` readable for its length.
pub(crate) unsafe fn chunk_records<'a>(chunk: &[rb_slice], records: &mut [Record<'a>]) -> Result<(), rb_status> {
    for (r, s) in records.iter_mut().zip(chunk) {
        if s.data.is_null() && s.len != 0 {
            return Err(fail(RB_ERR_NULL_ARG, "a payload slice is NULL with a non-zero length"));
        }
        // SAFETY: each slice readable for its length per the contract (checked above for
        // NULL; an empty one is never read).
        *r = Record::new(if s.len == 0 { &[] } else { unsafe { std::slice::from_raw_parts(s.data, s.len) } });
    }
    Ok(())
}

/// Creates a publisher for `topic`. Free with `rb_publisher_free`.
///
/// Threads: one thread at a time per publisher (it may move between threads).
///
/// # Safety
/// `topic` NULL or live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_publisher_new(topic: *const rb_topic, out: *mut *mut rb_publisher) -> rb_status {
    boundary! {
        // SAFETY: NULL or live per the contract.
        let Some(t) = (unsafe { topic.as_ref() }) else { return fail(RB_ERR_NULL_ARG, "topic is NULL") };
        if out.is_null() {
            return fail(RB_ERR_NULL_ARG, "out is NULL");
        }
        match t.topic.publisher() {
            // SAFETY: checked non-NULL; writable per the contract.
            Ok(publisher) => unsafe {
                put(out, Box::into_raw(Box::new(rb_publisher { publisher: Box::new(publisher), claim: None })))
            },
            Err(e) => from_error(e),
        }
    }
}

/// Frees a publisher; NULL is a no-op.
///
/// Threads: one thread at a time per publisher (it may move between threads).
///
/// # Safety
/// `publisher` is NULL or came from `rb_publisher_new` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rb_publisher_free(publisher: *mut rb_publisher) {
    boundary! {
        if !publisher.is_null() {
            // SAFETY: per the contract it came from Box::into_raw in rb_publisher_new.
            drop(unsafe { Box::from_raw(publisher) });
        }
    }
}

/// Publishes a copy of `len` bytes at `payload`, waiting while the ring is full (and, on a
/// `sync` topic, until durable). Writes the event's offset to `out_offset` if it is not NULL.
///
/// Threads: one thread at a time per publisher (it may move between threads).
///
/// # Safety
/// `publisher` NULL or live and not used by another thread meanwhile; `payload` readable for
/// `len` bytes (or `len` 0); `out_offset` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rb_publish(
    publisher: *mut rb_publisher,
    payload: *const u8,
    len: usize,
    out_offset: *mut u64,
) -> rb_status {
    boundary! {
        // SAFETY: forwarded contract.
        unsafe { rb_publish_keyed(publisher, payload, len, std::ptr::null(), 0, 0, out_offset) }
    }
}

/// Like `rb_publish` with a key (`key_len` 0: none; the key picks the partition) and a
/// timestamp in ns since the Unix epoch (0: the bus takes the time).
///
/// Threads: one thread at a time per publisher (it may move between threads).
///
/// # Safety
/// As for `rb_publish`; `key` readable for `key_len` bytes (or `key_len` 0).
#[no_mangle]
pub unsafe extern "C" fn rb_publish_keyed(
    publisher: *mut rb_publisher,
    payload: *const u8,
    len: usize,
    key: *const u8,
    key_len: usize,
    timestamp_ns: u64,
    out_offset: *mut u64,
) -> rb_status {
    boundary! {
        // SAFETY: forwarded contract.
        let p = or_return!(unsafe { unclaimed(publisher) });
        // SAFETY: forwarded contract.
        let mut record = or_return!(unsafe { record_arg(payload, len, key, key_len) });
        if timestamp_ns != 0 {
            record = record.timestamp(timestamp_ns);
        }
        // SAFETY: forwarded contract for `out_offset`.
        unsafe { receipt_status(p.publish(record), out_offset) }
    }
}

/// Publishes `count` payloads in order, in one call (runs of the same partition share one
/// claim). `payloads` is an array of `count` slices. Payloads are checked 64 at a time: on an
/// error (a NULL slice, a payload above the maximum) the payloads of earlier groups of 64 are
/// published, none of the failing group or after it.
///
/// Threads: one thread at a time per publisher (it may move between threads).
///
/// # Safety
/// `publisher` NULL or live and unshared; `payloads` readable for `count` slices, each readable
/// for its length.
#[no_mangle]
pub unsafe extern "C" fn rb_publish_batch(
    publisher: *mut rb_publisher,
    payloads: *const rb_slice,
    count: usize,
) -> rb_status {
    boundary! {
        // SAFETY: forwarded contract.
        let p = or_return!(unsafe { unclaimed(publisher) });
        if count == 0 {
            return RB_OK;
        }
        if payloads.is_null() {
            return fail(RB_ERR_NULL_ARG, "payloads is NULL");
        }
        // SAFETY: `count` readable slices per the contract.
        let slices = unsafe { std::slice::from_raw_parts(payloads, count) };
        // Up to 64 records on the stack per call to the core (no allocation per batch).
        let mut records = [Record::new(&[]); 64];
        for chunk in slices.chunks(64) {
            // SAFETY: each slice readable for its length per the contract.
            or_return!(unsafe { chunk_records(chunk, &mut records) });
            if let Err(e) = p.publish_batch(&records[..chunk.len()]) {
                return from_error(e);
            }
        }
        RB_OK
    }
}

/// Claims room for a `len`-byte payload on the publisher's partition and writes a pointer to
/// the (zero-filled) bytes to `out_data`: write the payload there, then `rb_claim_commit` (or
/// `rb_claim_abort`). Waits while the ring is full. One claim at a time per publisher; readers
/// of the partition wait at the claim until it ends, so keep it short.
///
/// Threads: one thread at a time per publisher (it may move between threads).
///
/// # Safety
/// `publisher` NULL or live and unshared; `out_data` writable. The bytes are valid until the
/// claim ends.
#[no_mangle]
pub unsafe extern "C" fn rb_claim(publisher: *mut rb_publisher, len: usize, out_data: *mut *mut u8) -> rb_status {
    boundary! {
        // SAFETY: NULL or live and unshared per the contract.
        let Some(p) = (unsafe { publisher.as_mut() }) else { return fail(RB_ERR_NULL_ARG, "publisher is NULL") };
        if out_data.is_null() {
            return fail(RB_ERR_NULL_ARG, "out_data is NULL");
        }
        if p.claim.is_some() {
            return fail(RB_ERR_INVALID_ARG, "a claim is already open on this publisher");
        }
        let publisher: *mut Publisher = &mut *p.publisher;
        // SAFETY: the publisher is boxed (its address is stable) and outlives the claim:
        // `rb_publisher` drops `claim` before `publisher`, and every other use of the
        // publisher is refused while a claim is open.
        let claim: Result<Claim<'static>, Error> = unsafe { (*publisher).claim(len) };
        match claim {
            Ok(mut c) => {
                let data = c.as_mut_ptr();
                p.claim = Some(c);
                // SAFETY: checked non-NULL; writable per the contract.
                unsafe { put(out_data, data) }
            }
            Err(e) => from_error(e),
        }
    }
}

/// Publishes the open claim (on a `sync` topic, once durable). Writes its offset to
/// `out_offset` if not NULL.
///
/// Threads: one thread at a time per publisher (it may move between threads).
///
/// # Safety
/// `publisher` NULL or live and unshared; `out_offset` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rb_claim_commit(publisher: *mut rb_publisher, out_offset: *mut u64) -> rb_status {
    boundary! {
        // SAFETY: NULL or live and unshared per the contract.
        let Some(p) = (unsafe { publisher.as_mut() }) else { return fail(RB_ERR_NULL_ARG, "publisher is NULL") };
        let Some(claim) = p.claim.take() else { return fail(RB_ERR_INVALID_ARG, "no claim is open") };
        // SAFETY: forwarded contract for `out_offset`.
        unsafe { receipt_status(claim.commit(), out_offset) }
    }
}

/// Abandons the open claim: nothing is published (readers skip the space).
///
/// Threads: one thread at a time per publisher (it may move between threads).
///
/// # Safety
/// `publisher` NULL or live and unshared.
#[no_mangle]
pub unsafe extern "C" fn rb_claim_abort(publisher: *mut rb_publisher) -> rb_status {
    boundary! {
        // SAFETY: NULL or live and unshared per the contract.
        let Some(p) = (unsafe { publisher.as_mut() }) else { return fail(RB_ERR_NULL_ARG, "publisher is NULL") };
        match p.claim.take() {
            Some(claim) => {
                drop(claim);
                RB_OK
            }
            None => fail(RB_ERR_INVALID_ARG, "no claim is open"),
        }
    }
}

/// Called once when ringbus is done with a buffer handed to `rb_publish_buffer`.
pub type rb_free_fn = Option<unsafe extern "C" fn(data: *mut u8, len: usize, ctx: *mut c_void)>;

/// Publishes a caller-allocated buffer and takes ownership of it on success: `free_fn(data,
/// len, ctx)` is called exactly once when ringbus no longer needs the bytes. (ringbus stores
/// events in its ring, so that happens before this call returns; the buffer need not outlive
/// the call.) On an error the buffer stays the caller's and `free_fn` is not called.
///
/// Threads: one thread at a time per publisher (it may move between threads).
///
/// # Safety
/// As for `rb_publish`; `data` readable for `len` bytes and valid to pass to `free_fn`.
#[no_mangle]
pub unsafe extern "C" fn rb_publish_buffer(
    publisher: *mut rb_publisher,
    data: *mut u8,
    len: usize,
    free_fn: rb_free_fn,
    ctx: *mut c_void,
    out_offset: *mut u64,
) -> rb_status {
    boundary! {
        let Some(free_fn) = free_fn else { return fail(RB_ERR_NULL_ARG, "free_fn is NULL") };
        // SAFETY: forwarded contract.
        let status = unsafe { rb_publish(publisher, data, len, out_offset) };
        if status == RB_OK {
            // SAFETY: the caller handed us ownership with a function that frees it; called once.
            // (A C function cannot unwind into Rust: the "C" ABI aborts instead.)
            unsafe { free_fn(data, len, ctx) };
        }
        status
    }
}
