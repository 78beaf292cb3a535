//! `rb_subscription`: fanout subscriptions and work-queue group members behind one handle;
//! subscribing, joining a group, committing, freeing.

use std::ffi::c_char;
use std::time::Duration;

use ringbus_core::{
    Error, FollowerMember, FollowerSubscription, Member, SlowConsumerPolicy, Start, SubscribeOptions, Subscription,
};

use crate::args::{or_return, put, str_arg};
use crate::panic::boundary;
use crate::ready_fd::ReadyFd;
use crate::status::{fail, from_error, rb_status, RB_ERR_INVALID_ARG, RB_ERR_NULL_ARG, RB_ERR_TIMED_OUT, RB_OK};
use crate::topic::rb_topic;

/// Where a reader starts.
pub type rb_start = i32;
/// The oldest event kept (on disk for persisted topics).
pub const RB_START_EARLIEST: rb_start = 0;
/// Events published from now on.
pub const RB_START_LATEST: rb_start = 1;
/// The event at the given offset (one-partition readers).
pub const RB_START_OFFSET: rb_start = 2;
/// The first event at or after the given timestamp (ns since the Unix epoch).
pub const RB_START_TIMESTAMP: rb_start = 3;
/// Groups of persisted topics: where the group last committed.
pub const RB_START_COMMITTED: rb_start = 4;

/// A slow-consumer policy.
pub type rb_policy = i32;
/// Producers wait for this reader (nothing lost).
pub const RB_POLICY_BLOCK: rb_policy = 0;
/// The reader may be lapped; it is told how many events it lost (`RB_ERR_LAGGED`).
pub const RB_POLICY_DROP_OLDEST: rb_policy = 1;

pub(crate) fn start_of(start: rb_start, value: u64) -> Result<Start, rb_status> {
    Ok(match start {
        RB_START_EARLIEST => Start::Earliest,
        RB_START_LATEST => Start::Latest,
        RB_START_OFFSET => Start::Offset(value),
        RB_START_TIMESTAMP => Start::Timestamp(value),
        RB_START_COMMITTED => Start::Committed,
        other => return Err(fail(RB_ERR_INVALID_ARG, format!("unknown start {other}"))),
    })
}

pub(crate) enum Reader {
    Fanout(Subscription),
    Member(Member),
    /// A follower subscription (`rb_follower_subscribe`).
    Follow(FollowerSubscription),
    /// A follower group member (`rb_follower_group_join`).
    FollowMember(FollowerMember),
}

/// A reader: a fanout subscription, a member of a work-queue group, or a follower's
/// subscription or group member (`rb_follower_subscribe`, `rb_follower_group_join`). One
/// thread at a time.
pub struct rb_subscription {
    pub(crate) reader: Reader,
    /// The readiness descriptor, once asked for.
    pub(crate) fd: Option<ReadyFd>,
    /// Keys and payloads `rb_poll_views` had to copy, lent until the next call.
    pub(crate) held: Vec<u8>,
    /// Views of the last `rb_poll_views` that point into `held`: (view, key at, payload at).
    pub(crate) copied: Vec<(usize, usize, usize)>,
}

impl rb_subscription {
    pub(crate) fn new(reader: Reader) -> Self {
        Self { reader, fd: None, held: Vec::new(), copied: Vec::new() }
    }

    /// The status of a batch poll that handled `n` events: writes the count to `out_count`
    /// (0 on an error; NULL: not written) and clears the readiness descriptor when nothing
    /// came.
    ///
    /// # Safety
    /// `out_count` is NULL or writable.
    pub(crate) unsafe fn finish_batch(&self, n: Result<usize, Error>, out_count: *mut usize) -> rb_status {
        if !out_count.is_null() {
            // SAFETY: non-NULL, writable per the contract.
            unsafe { out_count.write(*n.as_ref().unwrap_or(&0)) };
        }
        match n {
            Ok(0) => {
                self.found_nothing();
                fail(RB_ERR_TIMED_OUT, "no event before the timeout")
            }
            Ok(_) => RB_OK,
            Err(e) => from_error(e),
        }
    }

    /// Called after a poll that found nothing.
    pub(crate) fn found_nothing(&self) {
        if let Some(fd) = &self.fd {
            fd.clear();
        }
    }
}

/// Subscribes to every partition of `topic` (fanout). `start_value` is the offset or
/// timestamp for `RB_START_OFFSET` / `RB_START_TIMESTAMP`. Free with `rb_subscription_free`.
///
/// Threads: one thread at a time per subscription (it may move between threads).
///
/// # Safety
/// `topic` NULL or live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_subscribe(
    topic: *const rb_topic,
    start: rb_start,
    start_value: u64,
    policy: rb_policy,
    out: *mut *mut rb_subscription,
) -> rb_status {
    boundary! {
        // SAFETY: NULL or live per the contract.
        let Some(t) = (unsafe { topic.as_ref() }) else { return fail(RB_ERR_NULL_ARG, "topic is NULL") };
        if out.is_null() {
            return fail(RB_ERR_NULL_ARG, "out is NULL");
        }
        let policy = match policy {
            RB_POLICY_BLOCK => SlowConsumerPolicy::Block,
            RB_POLICY_DROP_OLDEST => SlowConsumerPolicy::DropOldest,
            other => return fail(RB_ERR_INVALID_ARG, format!("unknown policy {other}")),
        };
        // SAFETY: `out` checked non-NULL and writable per the contract.
        unsafe { subscribe(t, start, start_value, policy, out) }
    }
}

/// The common part of `rb_subscribe` and `rb_subscribe_evicting`.
///
/// # Safety
/// `out` is non-NULL and writable.
pub(crate) unsafe fn subscribe(
    t: &rb_topic,
    start: rb_start,
    start_value: u64,
    policy: SlowConsumerPolicy,
    out: *mut *mut rb_subscription,
) -> rb_status {
    let start = or_return!(start_of(start, start_value));
    match t.topic.subscribe(SubscribeOptions::new().start(start).policy(policy)) {
        // SAFETY: non-NULL and writable per the contract.
        Ok(s) => unsafe { put(out, Box::into_raw(Box::new(rb_subscription::new(Reader::Fanout(s))))) },
        Err(e) => from_error(e),
    }
}

/// Subscribes like `rb_subscribe` with the `evict` policy: the subscription holds producers
/// back like `RB_POLICY_BLOCK` until it has held a full ring back for `evict_after_ms`; then it
/// is removed and its next poll returns `RB_ERR_EVICTED`. Events are copied (eviction can
/// come at any moment).
///
/// Threads: one thread at a time per subscription (it may move between threads).
///
/// # Safety
/// `topic` NULL or live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_subscribe_evicting(
    topic: *const rb_topic,
    start: rb_start,
    start_value: u64,
    evict_after_ms: u32,
    out: *mut *mut rb_subscription,
) -> rb_status {
    boundary! {
        // SAFETY: NULL or live per the contract.
        let Some(t) = (unsafe { topic.as_ref() }) else { return fail(RB_ERR_NULL_ARG, "topic is NULL") };
        if out.is_null() {
            return fail(RB_ERR_NULL_ARG, "out is NULL");
        }
        let policy = SlowConsumerPolicy::Evict { after: Duration::from_millis(u64::from(evict_after_ms)) };
        // SAFETY: `out` checked non-NULL and writable per the contract.
        unsafe { subscribe(t, start, start_value, policy, out) }
    }
}

/// Joins work-queue group `group` of `topic` (created at `start` if it does not exist): each
/// event goes to one member. Polls and frees like a subscription.
///
/// Threads: one thread at a time per subscription (it may move between threads).
///
/// # Safety
/// `topic` NULL or live; `group` NUL-terminated or NULL; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_group_join(
    topic: *const rb_topic,
    group: *const c_char,
    start: rb_start,
    start_value: u64,
    out: *mut *mut rb_subscription,
) -> rb_status {
    boundary! {
        // SAFETY: forwarded contract.
        let name = or_return!(unsafe { str_arg(group, "group") });
        // SAFETY: NULL or live per the contract.
        let Some(t) = (unsafe { topic.as_ref() }) else { return fail(RB_ERR_NULL_ARG, "topic is NULL") };
        if out.is_null() {
            return fail(RB_ERR_NULL_ARG, "out is NULL");
        }
        let start = or_return!(start_of(start, start_value));
        match t.topic.group(name, start) {
            Ok(g) => {
                let m = g.join();
                // SAFETY: checked non-NULL; writable per the contract.
                unsafe { put(out, Box::into_raw(Box::new(rb_subscription::new(Reader::Member(m))))) }
            }
            Err(e) => from_error(e),
        }
    }
}

/// Frees a subscription or group member (a member's unprocessed events go to the others);
/// NULL is a no-op.
///
/// Threads: one thread at a time per subscription (it may move between threads).
///
/// # Safety
/// `sub` is NULL or came from `rb_subscribe` / `rb_subscribe_evicting` / `rb_group_join` and
/// is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rb_subscription_free(sub: *mut rb_subscription) {
    boundary! {
        if !sub.is_null() {
            // SAFETY: per the contract it came from Box::into_raw.
            drop(unsafe { Box::from_raw(sub) });
        }
    }
}

/// Commits a group member's progress (also a follower group member's, or a named follower
/// subscription's positions): every event it was handed counts as processed, and
/// the group's offsets are written and fsynced, so the group resumes after them when joined
/// again with `RB_START_COMMITTED` (also after a restart). `RB_ERR_INVALID_ARG` for a fanout
/// subscription, `RB_ERR_NOT_PERSISTED` on an in-memory topic, `RB_ERR_CLOSED` (nothing
/// written) once the bus has shut down: its last handle was freed and the directory unlocked.
///
/// Threads: one thread at a time per subscription (it may move between threads).
///
/// # Safety
/// `sub` NULL or live and unshared.
#[no_mangle]
pub unsafe extern "C" fn rb_commit(sub: *mut rb_subscription) -> rb_status {
    boundary! {
        // SAFETY: NULL or live and unshared per the contract.
        let Some(s) = (unsafe { sub.as_mut() }) else { return fail(RB_ERR_NULL_ARG, "subscription is NULL") };
        match &mut s.reader {
            Reader::Member(m) => match m.commit() {
                Ok(_) => RB_OK,
                Err(e) => from_error(e),
            },
            Reader::Follow(f) => match f.commit() {
                Ok(()) => RB_OK,
                Err(e) => from_error(e),
            },
            Reader::FollowMember(m) => match m.commit() {
                Ok(()) => RB_OK,
                Err(e) => from_error(e),
            },
            Reader::Fanout(_) => fail(RB_ERR_INVALID_ARG, "commit is for group members (rb_group_join)"),
        }
    }
}
