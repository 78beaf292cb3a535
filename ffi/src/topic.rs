//! `rb_topic`: creating and opening topics, flushing them, and their counters.

use std::ffi::c_char;

use ringbus_core::{Topic, TopicConfig};

use crate::args::{or_return, put, str_arg, timeout};
use crate::bus::rb_bus;
use crate::config::rb_config;
use crate::panic::boundary;
use crate::status::{fail, from_error, rb_status, RB_ERR_NOT_FOUND, RB_ERR_NULL_ARG, RB_OK};

/// A topic handle. Thread-safe.
pub struct rb_topic {
    pub(crate) topic: Topic,
}

/// Creates topic `name` with the topic keys of `config` (NULL: all defaults, in memory).
/// `RB_ERR_EXISTS` if the bus has it already (use `rb_topic_open`). Free the handle with
/// `rb_topic_free`.
///
/// Threads: any thread, concurrently with other calls on the same bus or topic.
///
/// # Safety
/// `bus` live or NULL; `name` NUL-terminated or NULL; `config` live or NULL; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_topic_create(
    bus: *const rb_bus,
    name: *const c_char,
    config: *const rb_config,
    out: *mut *mut rb_topic,
) -> rb_status {
    boundary! {
        // SAFETY: forwarded contract.
        let name = or_return!(unsafe { str_arg(name, "name") });
        // SAFETY: NULL or live per the contract.
        let Some(bus) = (unsafe { bus.as_ref() }) else { return fail(RB_ERR_NULL_ARG, "bus is NULL") };
        if out.is_null() {
            return fail(RB_ERR_NULL_ARG, "out is NULL");
        }
        // SAFETY: NULL or live per the contract.
        let c = or_return!(unsafe { config.as_ref() }.map_or(Ok(TopicConfig::new()), rb_config::topic_config));
        match bus.bus.create_topic(name, c) {
            // SAFETY: checked non-NULL; writable per the contract.
            Ok(topic) => unsafe { put(out, Box::into_raw(Box::new(rb_topic { topic }))) },
            Err(e) => from_error(e),
        }
    }
}

/// Opens the existing topic `name` (created on this bus, or restored from its data
/// directory). `RB_ERR_NOT_FOUND` if there is none. Free the handle with `rb_topic_free`.
///
/// Threads: any thread, concurrently with other calls on the same bus or topic.
///
/// # Safety
/// `bus` live or NULL; `name` NUL-terminated or NULL; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_topic_open(bus: *const rb_bus, name: *const c_char, out: *mut *mut rb_topic) -> rb_status {
    boundary! {
        // SAFETY: forwarded contract.
        let name = or_return!(unsafe { str_arg(name, "name") });
        // SAFETY: NULL or live per the contract.
        let Some(bus) = (unsafe { bus.as_ref() }) else { return fail(RB_ERR_NULL_ARG, "bus is NULL") };
        if out.is_null() {
            return fail(RB_ERR_NULL_ARG, "out is NULL");
        }
        match bus.bus.topic(name) {
            // SAFETY: checked non-NULL; writable per the contract.
            Some(topic) => unsafe { put(out, Box::into_raw(Box::new(rb_topic { topic }))) },
            None => fail(RB_ERR_NOT_FOUND, format!("no topic {name:?} on this bus")),
        }
    }
}

/// Frees a topic handle (the topic stays on the bus); NULL is a no-op.
///
/// Threads: any thread, once no other thread uses this `rb_topic *` (publishers and
/// subscriptions made from it stay valid).
///
/// # Safety
/// `topic` is NULL or came from `rb_topic_create` / `rb_topic_open` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rb_topic_free(topic: *mut rb_topic) {
    boundary! {
        if !topic.is_null() {
            // SAFETY: per the contract it came from Box::into_raw in rb_topic_open.
            drop(unsafe { Box::from_raw(topic) });
        }
    }
}

/// Waits until everything published to the topic is durable (persisted topics; memory topics
/// return at once). `timeout_ms` < 0 waits without limit.
///
/// Threads: any thread, concurrently with other calls on the same bus or topic.
///
/// # Safety
/// `topic` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rb_topic_flush(topic: *const rb_topic, timeout_ms: i32) -> rb_status {
    boundary! {
        // SAFETY: NULL or live per the contract.
        let Some(t) = (unsafe { topic.as_ref() }) else { return fail(RB_ERR_NULL_ARG, "topic is NULL") };
        match t.topic.flush(timeout(timeout_ms)) {
            Ok(()) => RB_OK,
            Err(e) => from_error(e),
        }
    }
}

/// A snapshot of a topic's counters (`rb_topic_stats`).
#[repr(C)]
pub struct rb_topic_stats {
    /// Events published to all partitions.
    pub published: u64,
    /// Publish calls that found a ring full.
    pub full_waits: u64,
    /// Partitions.
    pub partitions: u32,
    /// Fanout subscriptions and groups.
    pub readers: u32,
    /// Events delivered, summed over readers.
    pub delivered: u64,
    /// Events not yet delivered, summed over readers.
    pub lag: u64,
    /// Events lost by `drop_oldest` readers.
    pub dropped: u64,
    /// Persisted topics: everything below these offsets is durable, summed over partitions
    /// (0 in memory).
    pub durable_bytes: u64,
    /// Persisted topics: fsyncs so far (0 in memory).
    pub fsyncs: u64,
    /// Idempotent publishes dropped as duplicates.
    pub duplicates: u64,
}

/// Fills `out` with the topic's counters.
///
/// Threads: any thread, concurrently with other calls on the same bus or topic.
///
/// # Safety
/// `topic` NULL or live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_topic_get_stats(topic: *const rb_topic, out: *mut rb_topic_stats) -> rb_status {
    boundary! {
        // SAFETY: NULL or live per the contract.
        let Some(t) = (unsafe { topic.as_ref() }) else { return fail(RB_ERR_NULL_ARG, "topic is NULL") };
        let s = t.topic.stats();
        let logs = s.partitions.iter().filter_map(|p| p.log.as_ref());
        let stats = rb_topic_stats {
            published: s.published,
            full_waits: s.full_waits,
            partitions: s.partitions.len() as u32,
            readers: s.readers.len() as u32,
            delivered: s.readers.iter().map(|r| r.delivered).sum(),
            lag: s.readers.iter().map(|r| r.lag).sum(),
            dropped: s.readers.iter().map(|r| r.dropped).sum(),
            durable_bytes: logs.clone().map(|l| l.durable_offset).sum(),
            fsyncs: logs.map(|l| l.fsyncs).sum(),
            duplicates: s.partitions.iter().map(|p| p.duplicates).sum(),
        };
        // SAFETY: writable per the contract (checked non-NULL in put).
        unsafe { put(out, stats) }
    }
}
