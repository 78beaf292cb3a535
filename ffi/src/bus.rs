//! `rb_bus`: opening a bus (in memory or on a data directory), closing and freeing it.

use ringbus_core::Bus;

use crate::args::put;
use crate::config::{rb_config, DATA_DIR};
use crate::panic::boundary;
use crate::status::{fail, from_error, rb_status, RB_ERR_INVALID_ARG, RB_ERR_NULL_ARG, RB_OK};

/// The bus. Thread-safe: a `const rb_bus *` may be used from any thread.
pub struct rb_bus {
    pub(crate) bus: Bus,
}

/// Opens a bus: in memory, or on the data directory of the `data_dir` key (restoring its
/// persisted topics). `config` may be NULL and is not consumed. Free with `rb_bus_free`.
///
/// Threads: any thread, concurrently with other calls on the same bus or topic.
///
/// # Safety
/// `config` is NULL or live; `out` is valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn rb_bus_open(config: *const rb_config, out: *mut *mut rb_bus) -> rb_status {
    boundary! {
        if out.is_null() {
            return fail(RB_ERR_NULL_ARG, "out is NULL");
        }
        // SAFETY: NULL or live per the contract.
        let dir = unsafe { config.as_ref() }.and_then(|c| c.get(DATA_DIR));
        let bus = match dir {
            Some(d) => match Bus::open(d) {
                Ok(b) => b,
                Err(e) => return from_error(e),
            },
            None => Bus::new(),
        };
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { put(out, Box::into_raw(Box::new(rb_bus { bus }))) }
    }
}

/// Closes every topic of the bus: publishing fails with `RB_ERR_CLOSED`, readers drain what
/// was published, persisted topics are written and fsynced. Handles stay valid until freed.
///
/// Threads: any thread, concurrently with other calls on the same bus or topic.
///
/// # Safety
/// `bus` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn rb_bus_close(bus: *const rb_bus) -> rb_status {
    boundary! {
        // SAFETY: NULL or live per the contract.
        match unsafe { bus.as_ref() } {
            Some(b) => {
                b.bus.close();
                RB_OK
            }
            None => fail(RB_ERR_NULL_ARG, "bus is NULL"),
        }
    }
}

/// The bus's metrics: every bus, topic, partition and reader counter in the OpenMetrics text
/// format Prometheus scrapes (the README lists the names and labels). Writes the text's length
/// (without the NUL) to `out_len`; if `buf` holds `cap` bytes and `cap` exceeds that length,
/// copies the text there, NUL-terminated, and returns `RB_OK`. Otherwise writes nothing to
/// `buf` and returns `RB_ERR_INVALID_ARG` ("too small"): call with `buf` NULL and `cap` 0 to
/// learn the length, allocate a little more (counters grow between calls), call again.
///
/// Threads: any thread, concurrently with other calls on the same bus.
///
/// # Safety
/// `bus` NULL or live; `buf` NULL or writable for `cap` bytes; `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_bus_metrics(
    bus: *const rb_bus,
    buf: *mut std::ffi::c_char,
    cap: usize,
    out_len: *mut usize,
) -> rb_status {
    boundary! {
        // SAFETY: NULL or live per the contract.
        let Some(b) = (unsafe { bus.as_ref() }) else { return fail(RB_ERR_NULL_ARG, "bus is NULL") };
        let text = b.bus.metrics();
        // SAFETY: checked inside; writable per the contract.
        let status = unsafe { put(out_len, text.len()) };
        if status != RB_OK {
            return status;
        }
        if buf.is_null() || cap <= text.len() {
            return fail(
                RB_ERR_INVALID_ARG,
                format!("the buffer is too small: the metrics take {} bytes and a NUL", text.len()),
            );
        }
        // SAFETY: `buf` is writable for `cap` bytes per the contract, and cap > text.len().
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
            buf.add(text.len()).write(0);
        }
        RB_OK
    }
}

/// Closes (as `rb_bus_close`) and frees the bus; NULL is a no-op. Topic, publisher and
/// subscription handles made from it stay safe to use and to free: they report
/// `RB_ERR_CLOSED`.
///
/// Threads: any thread, once no other thread uses this `rb_bus *` (handles made from it may
/// still be in use elsewhere).
///
/// # Safety
/// `bus` is NULL or came from `rb_bus_open` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rb_bus_free(bus: *mut rb_bus) {
    boundary! {
        if !bus.is_null() {
            // SAFETY: per the contract it came from Box::into_raw in rb_bus_open.
            let b = unsafe { Box::from_raw(bus) };
            b.bus.close();
        }
    }
}
