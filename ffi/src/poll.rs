//! Polling a subscription: one owned event (`rb_poll`), events lent to a callback
//! (`rb_poll_each`), views into the ring or a reused buffer (`rb_poll_views`), or a copied
//! batch (`rb_poll_batch`).

use std::ffi::c_void;

use ringbus_core::EventRef;

use crate::args::{put, timeout};
use crate::event::{rb_batch, rb_event, rb_event_view, rb_slice};
use crate::panic::boundary;
use crate::status::{fail, from_error, rb_status, RB_ERR_INVALID_ARG, RB_ERR_NULL_ARG, RB_ERR_TIMED_OUT};
use crate::subscription::{rb_subscription, Reader};

/// Waits up to `timeout_ms` (< 0: no limit, 0: do not wait) for the next event and hands it
/// over as an owned `rb_event`. `RB_ERR_TIMED_OUT` when none came; `RB_ERR_CLOSED` once the
/// topic is closed and drained.
///
/// Threads: one thread at a time per subscription (it may move between threads).
///
/// # Safety
/// `sub` NULL or live and unshared; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_poll(sub: *mut rb_subscription, timeout_ms: i32, out: *mut *mut rb_event) -> rb_status {
    boundary! {
        // SAFETY: NULL or live and unshared per the contract.
        let Some(s) = (unsafe { sub.as_mut() }) else { return fail(RB_ERR_NULL_ARG, "subscription is NULL") };
        if out.is_null() {
            return fail(RB_ERR_NULL_ARG, "out is NULL");
        }
        let polled = match &mut s.reader {
            Reader::Fanout(sub) => sub.poll(timeout(timeout_ms)).map(|e| e.map(|e| e.to_owned())),
            Reader::Member(m) => m.poll(timeout(timeout_ms)).map(|e| e.map(|e| e.to_owned())),
            Reader::Follow(f) => f.poll(timeout(timeout_ms)).map(|e| e.map(|e| e.to_owned())),
            Reader::FollowMember(m) => m.poll(timeout(timeout_ms)).map(|e| e.map(|e| e.to_owned())),
        };
        match polled {
            // SAFETY: checked non-NULL; writable per the contract.
            Ok(Some(event)) => unsafe { put(out, Box::into_raw(Box::new(rb_event { event }))) },
            Ok(None) => {
                s.found_nothing();
                fail(RB_ERR_TIMED_OUT, "no event before the timeout")
            }
            Err(e) => from_error(e),
        }
    }
}

/// Called once per event by `rb_poll_each`; return 0 to go on, non-zero to stop after this
/// one (the events after it stay unread, for the next poll).
pub type rb_event_fn = Option<unsafe extern "C" fn(user: *mut c_void, event: *const rb_event_view) -> i32>;

/// Hands up to `max` events to `callback`, each borrowed for the call (no allocation; a
/// `RB_POLICY_BLOCK` subscription lends them straight from the ring), waiting up to
/// `timeout_ms` for the first. Writes the number handled to
/// `out_count` if not NULL. The callback runs on this thread and must not call back into this
/// subscription.
///
/// Threads: one thread at a time per subscription (it may move between threads).
///
/// # Safety
/// `sub` NULL or live and unshared; `callback` a valid function; `out_count` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rb_poll_each(
    sub: *mut rb_subscription,
    max: usize,
    timeout_ms: i32,
    callback: rb_event_fn,
    user: *mut c_void,
    out_count: *mut usize,
) -> rb_status {
    boundary! {
        // SAFETY: NULL or live and unshared per the contract.
        let Some(s) = (unsafe { sub.as_mut() }) else { return fail(RB_ERR_NULL_ARG, "subscription is NULL") };
        let Some(callback) = callback else { return fail(RB_ERR_NULL_ARG, "callback is NULL") };
        // A callback asking to stop ends the batch early: later events stay unread.
        let mut handle = |e: EventRef<'_>| {
            let key = e.key.unwrap_or(&[]);
            // Straight from the slices (no branch per event): a zero-length slice's pointer is
            // not NULL here, and must not be read.
            let view = rb_event_view {
                offset: e.offset,
                partition: e.partition,
                timestamp_ns: e.timestamp,
                key: rb_slice { data: key.as_ptr(), len: key.len() },
                payload: rb_slice { data: e.payload.as_ptr(), len: e.payload.len() },
            };
            // SAFETY: the caller supplied a valid function; `view` lives for the call.
            unsafe { callback(user, &view) == 0 }
        };
        let max = max.max(1);
        let n = match &mut s.reader {
            Reader::Fanout(sub) => sub.poll_batch_while(max, timeout(timeout_ms), &mut handle),
            Reader::Member(m) => m.poll_batch_while(max, timeout(timeout_ms), &mut handle),
            Reader::Follow(f) => f.poll_batch_while(max, timeout(timeout_ms), &mut handle),
            Reader::FollowMember(m) => m.poll_batch_while(max, timeout(timeout_ms), &mut handle),
        };
        // SAFETY: NULL or writable per the contract.
        unsafe { s.finish_batch(n, out_count) }
    }
}

/// Fills `views[0..n)` with up to `max` events and writes `n` to `out_count`, waiting up to
/// `timeout_ms` for the first. No allocation once warm, and no copy where the events can be
/// read in place: a `RB_POLICY_BLOCK` subscription lends them straight from the ring.
/// Events it has to copy (read back from disk, by a `drop_oldest` or evicting reader, or by a
/// group member) go into a buffer the subscription reuses.
///
/// Ownership: the views borrow from the subscription until the next `rb_poll*` or
/// `rb_commit` call on it, or `rb_subscription_free`; producers of a blocking subscription
/// wait behind them until then, so poll again soon. `RB_ERR_INVALID_ARG` when `max` is 0.
///
/// Threads: one thread at a time per subscription (it may move between threads).
///
/// # Safety
/// `sub` NULL or live and unshared; `views` NULL or writable for `max` views; `out_count`
/// writable.
#[no_mangle]
pub unsafe extern "C" fn rb_poll_views(
    sub: *mut rb_subscription,
    views: *mut rb_event_view,
    max: usize,
    timeout_ms: i32,
    out_count: *mut usize,
) -> rb_status {
    boundary! {
        // SAFETY: NULL or live and unshared per the contract.
        let Some(s) = (unsafe { sub.as_mut() }) else { return fail(RB_ERR_NULL_ARG, "subscription is NULL") };
        if views.is_null() {
            return fail(RB_ERR_NULL_ARG, "views is NULL");
        }
        if out_count.is_null() {
            return fail(RB_ERR_NULL_ARG, "out_count is NULL");
        }
        if max == 0 {
            return fail(RB_ERR_INVALID_ARG, "max is 0: there is no room for a view");
        }
        let (held, copied) = (&mut s.held, &mut s.copied);
        held.clear();
        copied.clear();
        let mut n = 0;
        // Copied bytes are placed by offset into `held` (which may grow while filling) and
        // turned into pointers after the batch.
        let mut add = |e: EventRef<'_>, in_place: bool| {
            let key = e.key.unwrap_or(&[]);
            let (key, payload) = if in_place {
                (
                    rb_slice { data: key.as_ptr(), len: key.len() },
                    rb_slice { data: e.payload.as_ptr(), len: e.payload.len() },
                )
            } else {
                let k = held.len();
                held.extend_from_slice(key);
                held.extend_from_slice(e.payload);
                copied.push((n, k, k + key.len()));
                let none = std::ptr::null();
                (rb_slice { data: none, len: key.len() }, rb_slice { data: none, len: e.payload.len() })
            };
            let view =
                rb_event_view { offset: e.offset, partition: e.partition, timestamp_ns: e.timestamp, key, payload };
            // SAFETY: `n < max` (the batch stops at `max`), and `views` is writable for `max`
            // views per the contract.
            unsafe { views.add(n).write(view) };
            n += 1;
        };
        let result = match &mut s.reader {
            Reader::Fanout(sub) => sub.poll_batch_held(max, timeout(timeout_ms), &mut add),
            Reader::Member(m) => m.poll_batch(max, timeout(timeout_ms), |e| add(e, false)),
            // A follower's buffer may be refilled within a batch: copy.
            Reader::Follow(f) => f.poll_batch(max, timeout(timeout_ms), |e| add(e, false)),
            Reader::FollowMember(m) => m.poll_batch(max, timeout(timeout_ms), |e| add(e, false)),
        };
        for &(i, k, p) in &s.copied {
            // SAFETY: view `i` was written above and is ours until we return.
            let v = unsafe { &mut *views.add(i) };
            v.key.data = s.held[k..].as_ptr();
            v.payload.data = s.held[p..].as_ptr();
        }
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { s.finish_batch(result, out_count) }
    }
}

/// Polls up to `max` events into a new batch, waiting up to `timeout_ms` for the first.
/// `RB_ERR_TIMED_OUT` (and no batch) when none came. Free the batch with `rb_batch_free`.
///
/// Threads: one thread at a time per subscription (it may move between threads).
///
/// # Safety
/// `sub` NULL or live and unshared; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_poll_batch(
    sub: *mut rb_subscription,
    max: usize,
    timeout_ms: i32,
    out: *mut *mut rb_batch,
) -> rb_status {
    boundary! {
        // SAFETY: NULL or live and unshared per the contract.
        let Some(s) = (unsafe { sub.as_mut() }) else { return fail(RB_ERR_NULL_ARG, "subscription is NULL") };
        if out.is_null() {
            return fail(RB_ERR_NULL_ARG, "out is NULL");
        }
        let mut batch = rb_batch { bytes: Vec::new(), events: Vec::new() };
        let mut add = |e: EventRef<'_>| {
            let key = e.key.unwrap_or(&[]);
            let k = batch.bytes.len();
            batch.bytes.extend_from_slice(key);
            let pl = batch.bytes.len();
            batch.bytes.extend_from_slice(e.payload);
            batch.events.push((e.offset, e.partition, e.timestamp, k, key.len(), pl, e.payload.len()));
        };
        let max = max.max(1);
        let n = match &mut s.reader {
            Reader::Fanout(sub) => sub.poll_batch(max, timeout(timeout_ms), &mut add),
            Reader::Member(m) => m.poll_batch(max, timeout(timeout_ms), &mut add),
            Reader::Follow(f) => f.poll_batch(max, timeout(timeout_ms), &mut add),
            Reader::FollowMember(m) => m.poll_batch(max, timeout(timeout_ms), &mut add),
        };
        match n {
            Ok(0) => {
                s.found_nothing();
                fail(RB_ERR_TIMED_OUT, "no event before the timeout")
            }
            // SAFETY: checked non-NULL; writable per the contract.
            Ok(_) => unsafe { put(out, Box::into_raw(Box::new(batch))) },
            Err(e) => from_error(e),
        }
    }
}
