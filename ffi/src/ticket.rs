//! `rb_ticket`: publish now, learn of the fsync later (pipelined publishing on `sync` topics).

use ringbus_core::{Record, Ticket};

use crate::args::{or_return, put, timeout};
use crate::event::rb_slice;
use crate::panic::boundary;
use crate::publisher::{chunk_records, rb_publisher, record_arg, unclaimed};
use crate::status::{fail, from_error, rb_status, RB_ERR_NULL_ARG, RB_ERR_WOULD_BLOCK, RB_OK};

/// A durability ticket: complete once the fsync covering what its publish appended has
/// completed (at once on `memory` and `async` topics). Freeing it loses nothing.
pub struct rb_ticket {
    ticket: Ticket,
}

/// Writes `ticket` through `out`.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn put_ticket(ticket: Ticket, out: *mut *mut rb_ticket) -> rb_status {
    // SAFETY: forwarded contract.
    unsafe { put(out, Box::into_raw(Box::new(rb_ticket { ticket }))) }
}

/// Publishes a copy of `len` bytes at `payload` with an optional key (`key_len` 0: none; the
/// key picks the partition), waiting while the ring is full but not for the fsync: writes a
/// ticket for it to `out_ticket` (free with `rb_ticket_free`) and the event's offset to
/// `out_offset` if that is not NULL. Keep many tickets in flight and wait for the oldest:
/// one fsync covers all that are waiting.
///
/// Threads: one thread at a time per publisher (it may move between threads).
///
/// # Safety
/// `publisher` NULL or live and unshared; `payload` readable for `len` bytes (or `len` 0);
/// `key` readable for `key_len` bytes (or `key_len` 0); `out_offset` NULL or writable;
/// `out_ticket` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_publish_ticket(
    publisher: *mut rb_publisher,
    payload: *const u8,
    len: usize,
    key: *const u8,
    key_len: usize,
    out_offset: *mut u64,
    out_ticket: *mut *mut rb_ticket,
) -> rb_status {
    boundary! {
        // SAFETY: forwarded contract.
        let p = or_return!(unsafe { unclaimed(publisher) });
        if out_ticket.is_null() {
            return fail(RB_ERR_NULL_ARG, "out_ticket is NULL");
        }
        // SAFETY: forwarded contract.
        let record = or_return!(unsafe { record_arg(payload, len, key, key_len) });
        match p.publish_ticket(record) {
            Ok(ticket) => {
                if !out_offset.is_null() {
                    let offset = ticket.receipt().expect("a ticket of one record").offset;
                    // SAFETY: non-NULL and writable per the contract.
                    unsafe { out_offset.write(offset) };
                }
                // SAFETY: checked non-NULL; writable per the contract.
                unsafe { put_ticket(ticket, out_ticket) }
            }
            Err(e) => from_error(e),
        }
    }
}

/// Publishes `count` payloads in order like `rb_publish_batch` (checked 64 at a time), not
/// waiting for the fsync: writes one ticket covering all of them to `out_ticket`. On an error
/// the payloads of earlier groups of 64 are published and no ticket is written (wait with
/// `rb_topic_flush` for those).
///
/// Threads: one thread at a time per publisher (it may move between threads).
///
/// # Safety
/// `publisher` NULL or live and unshared; `payloads` readable for `count` slices, each readable
/// for its length; `out_ticket` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_publish_batch_ticket(
    publisher: *mut rb_publisher,
    payloads: *const rb_slice,
    count: usize,
    out_ticket: *mut *mut rb_ticket,
) -> rb_status {
    boundary! {
        // SAFETY: forwarded contract.
        let p = or_return!(unsafe { unclaimed(publisher) });
        if out_ticket.is_null() {
            return fail(RB_ERR_NULL_ARG, "out_ticket is NULL");
        }
        if payloads.is_null() && count != 0 {
            return fail(RB_ERR_NULL_ARG, "payloads is NULL");
        }
        let slices = if count == 0 {
            &[][..]
        } else {
            // SAFETY: `count` readable slices per the contract.
            unsafe { std::slice::from_raw_parts(payloads, count) }
        };
        // Up to 64 records on the stack per call to the core. Unkeyed payloads of one
        // publisher go to one partition, so the last group's ticket covers the earlier ones.
        let mut records = [Record::new(&[]); 64];
        let mut last = None;
        for chunk in slices.chunks(64) {
            // SAFETY: each slice readable for its length per the contract.
            or_return!(unsafe { chunk_records(chunk, &mut records) });
            match p.publish_batch_ticket(&records[..chunk.len()]) {
                Ok(t) => last = Some(t),
                Err(e) => return from_error(e),
            }
        }
        let ticket = match last.map_or_else(|| p.publish_batch_ticket(&[]), Ok) {
            Ok(t) => t,
            Err(e) => return from_error(e),
        };
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { put_ticket(ticket, out_ticket) }
    }
}

/// Waits up to `timeout_ms` (< 0: no limit, 0: do not wait) until the ticket is complete:
/// `RB_OK` once durable, `RB_ERR_TIMED_OUT` if the time passed first (the ticket stays
/// usable), `RB_ERR_POISONED` if the partition's log failed before covering it.
///
/// Threads: any; a ticket may be waited on from several threads at once.
///
/// # Safety
/// `ticket` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rb_ticket_wait(ticket: *const rb_ticket, timeout_ms: i32) -> rb_status {
    boundary! {
        // SAFETY: NULL or live per the contract.
        let Some(t) = (unsafe { ticket.as_ref() }) else { return fail(RB_ERR_NULL_ARG, "ticket is NULL") };
        match t.ticket.wait(timeout(timeout_ms)) {
            Ok(()) => RB_OK,
            Err(e) => from_error(e),
        }
    }
}

/// Whether the ticket is complete, without waiting: `RB_OK` if durable, `RB_ERR_WOULD_BLOCK`
/// if its fsync is still to come, `RB_ERR_POISONED` if it never will be.
///
/// Threads: any.
///
/// # Safety
/// `ticket` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rb_ticket_is_durable(ticket: *const rb_ticket) -> rb_status {
    boundary! {
        // SAFETY: NULL or live per the contract.
        let Some(t) = (unsafe { ticket.as_ref() }) else { return fail(RB_ERR_NULL_ARG, "ticket is NULL") };
        match t.ticket.is_durable() {
            Ok(true) => RB_OK,
            Ok(false) => RB_ERR_WOULD_BLOCK,
            Err(e) => from_error(e),
        }
    }
}

/// Frees a ticket; NULL is a no-op. What it covered stays published.
///
/// Threads: any, once no other thread uses the ticket.
///
/// # Safety
/// `ticket` is NULL or came from `rb_publish_ticket`/`rb_publish_batch_ticket` and is not
/// used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rb_ticket_free(ticket: *mut rb_ticket) {
    boundary! {
        if !ticket.is_null() {
            // SAFETY: per the contract it came from Box::into_raw in put_ticket.
            drop(unsafe { Box::from_raw(ticket) });
        }
    }
}
