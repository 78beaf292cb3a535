//! `rb_follower`: reading a data directory that another process owns. Its subscriptions and
//! group members are `rb_subscription` handles, polled, committed and freed like the others.

use std::ffi::c_char;

use ringbus_core::{FollowOptions, Follower, Visibility};

use crate::args::{or_return, put, str_arg};
use crate::panic::boundary;
use crate::status::{fail, from_error, rb_status, RB_ERR_INVALID_ARG, RB_ERR_NULL_ARG};
use crate::subscription::{rb_start, rb_subscription, start_of, Reader};

/// Which of the owner's events a follower subscription delivers.
pub type rb_visibility = i32;
/// Every event the owner has written to its files (survives a crash of the owner's process).
pub const RB_VISIBILITY_WRITTEN: rb_visibility = 0;
/// Only events the owner has fsynced (survive a power cut too); they appear after the fsync.
pub const RB_VISIBILITY_DURABLE: rb_visibility = 1;

/// A read-only view of a data directory another process (an `rb_bus_open` bus) may have open.
/// Shareable between threads.
pub struct rb_follower {
    follower: Follower,
}

/// Opens data directory `path` as a follower: read-only, no lock taken, nothing held back.
/// The directory need not exist yet (subscriptions wait for it). Free with
/// `rb_follower_free`; its subscriptions may outlive it.
///
/// Threads: any.
///
/// # Safety
/// `path` NUL-terminated or NULL; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_follower_open(path: *const c_char, out: *mut *mut rb_follower) -> rb_status {
    boundary! {
        // SAFETY: forwarded contract.
        let path = or_return!(unsafe { str_arg(path, "path") });
        if out.is_null() {
            return fail(RB_ERR_NULL_ARG, "out is NULL");
        }
        match Follower::open(path) {
            // SAFETY: checked non-NULL; writable per the contract.
            Ok(follower) => unsafe { put(out, Box::into_raw(Box::new(rb_follower { follower }))) },
            Err(e) => from_error(e),
        }
    }
}

/// Frees a follower; NULL is a no-op. Its subscriptions stay valid.
///
/// # Safety
/// `follower` NULL or from `rb_follower_open`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rb_follower_free(follower: *mut rb_follower) {
    boundary! {
        if !follower.is_null() {
            // SAFETY: per the contract it came from Box::into_raw.
            drop(unsafe { Box::from_raw(follower) });
        }
    }
}

/// Follows every partition of persisted topic `topic` (waited for if it does not exist yet).
/// `start` and `start_value` as for `rb_subscribe` (`RB_START_OFFSET` needs a one-partition
/// topic); `name`, if not NULL, makes the subscription durable: `rb_commit` stores its
/// positions under the topic's `followers/` directory and `RB_START_COMMITTED` resumes there.
/// `RB_ERR_NOT_PERSISTED` when the owner keeps the topic in memory only; `RB_ERR_LOCKED` when
/// another process uses `name`. Polled with `rb_poll*`, freed with `rb_subscription_free`;
/// `rb_subscription_fd` returns a descriptor (inotify) that is readable once the owner has
/// written since the last poll that found nothing.
///
/// Threads: the follower from any; the subscription one thread at a time.
///
/// # Safety
/// `follower` NULL or live; `topic` NUL-terminated or NULL; `name` NUL-terminated or NULL;
/// `out` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_follower_subscribe(
    follower: *const rb_follower,
    topic: *const c_char,
    start: rb_start,
    start_value: u64,
    visibility: rb_visibility,
    name: *const c_char,
    out: *mut *mut rb_subscription,
) -> rb_status {
    boundary! {
        // SAFETY: NULL or live per the contract.
        let Some(f) = (unsafe { follower.as_ref() }) else { return fail(RB_ERR_NULL_ARG, "follower is NULL") };
        // SAFETY: forwarded contract.
        let topic = or_return!(unsafe { str_arg(topic, "topic") });
        if out.is_null() {
            return fail(RB_ERR_NULL_ARG, "out is NULL");
        }
        let visibility = match visibility {
            RB_VISIBILITY_WRITTEN => Visibility::Written,
            RB_VISIBILITY_DURABLE => Visibility::Durable,
            other => return fail(RB_ERR_INVALID_ARG, format!("unknown visibility {other}")),
        };
        let mut options = FollowOptions::new().start(or_return!(start_of(start, start_value))).visibility(visibility);
        if !name.is_null() {
            // SAFETY: non-NULL and NUL-terminated per the contract.
            options = options.name(or_return!(unsafe { str_arg(name, "name") }));
        }
        match f.follower.subscribe(topic, options) {
            // SAFETY: checked non-NULL; writable per the contract.
            Ok(s) => unsafe { put(out, Box::into_raw(Box::new(rb_subscription::new(Reader::Follow(s))))) },
            Err(e) => from_error(e),
        }
    }
}

/// Joins follower group `group` of topic `topic`: the group's members, in any processes,
/// share the topic's partitions (each partition read by one member; a member that dies has
/// its partitions taken over from their last commit, so the events it handed out after its
/// last `rb_commit` come again). `start` (`RB_START_EARLIEST` or `RB_START_LATEST`) applies
/// to partitions the group never committed. Polled, committed and freed like a subscription;
/// freeing commits and gives the partitions to the others.
///
/// Threads: the follower from any; the member one thread at a time.
///
/// # Safety
/// `follower` NULL or live; `topic`, `group` NUL-terminated or NULL; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_follower_group_join(
    follower: *const rb_follower,
    topic: *const c_char,
    group: *const c_char,
    start: rb_start,
    out: *mut *mut rb_subscription,
) -> rb_status {
    boundary! {
        // SAFETY: NULL or live per the contract.
        let Some(f) = (unsafe { follower.as_ref() }) else { return fail(RB_ERR_NULL_ARG, "follower is NULL") };
        // SAFETY: forwarded contract.
        let topic = or_return!(unsafe { str_arg(topic, "topic") });
        // SAFETY: forwarded contract.
        let group = or_return!(unsafe { str_arg(group, "group") });
        if out.is_null() {
            return fail(RB_ERR_NULL_ARG, "out is NULL");
        }
        let start = or_return!(start_of(start, 0));
        match f.follower.join_group(topic, group, start) {
            // SAFETY: checked non-NULL; writable per the contract.
            Ok(m) => unsafe { put(out, Box::into_raw(Box::new(rb_subscription::new(Reader::FollowMember(m))))) },
            Err(e) => from_error(e),
        }
    }
}
