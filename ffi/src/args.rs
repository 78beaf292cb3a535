//! Reading arguments: NUL-terminated strings, byte ranges, out-pointers, timeouts. Every
//! failure is a status with the last error message set; none is a crash.

use std::ffi::{c_char, CStr};
use std::time::Duration;

use ringbus_core::{Error, Receipt};

use crate::status::{fail, from_error, rb_status, RB_ERR_INVALID_ARG, RB_ERR_NULL_ARG, RB_OK};

/// The value of a `Result<T, rb_status>`, or returns its status from the enclosing function
/// (argument conversions fail with a status already recorded as the last error).
macro_rules! or_return {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(status) => return status,
        }
    };
}
pub(crate) use or_return;

/// Reads a NUL-terminated UTF-8 argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that lives for the call.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, rb_status> {
    if p.is_null() {
        return Err(fail(RB_ERR_NULL_ARG, format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| fail(RB_ERR_INVALID_ARG, format!("{what} is not valid UTF-8")))
}

/// Borrows `len` bytes at `p` (`p` may be NULL when `len` is 0).
///
/// # Safety
/// `p` points to `len` readable bytes that live for the call, or `len` is 0.
pub(crate) unsafe fn bytes_arg<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8], rb_status> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(fail(RB_ERR_NULL_ARG, format!("{what} is NULL with length {len}")));
    }
    // SAFETY: non-NULL and `len` readable bytes per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Writes `value` through `out` after checking it.
///
/// # Safety
/// `out` is NULL or valid for a write of `T`.
pub(crate) unsafe fn put<T>(out: *mut T, value: T) -> rb_status {
    if out.is_null() {
        return fail(RB_ERR_NULL_ARG, "the out-pointer is NULL");
    }
    // SAFETY: non-NULL and writable per the caller's contract.
    unsafe { out.write(value) };
    RB_OK
}

/// The status of a publish, writing the event's offset to `out_offset` (if not NULL) on
/// success.
///
/// # Safety
/// `out_offset` is NULL or valid for a write.
pub(crate) unsafe fn receipt_status(result: Result<Receipt, Error>, out_offset: *mut u64) -> rb_status {
    match result {
        Ok(receipt) => {
            if !out_offset.is_null() {
                // SAFETY: non-NULL and writable per the contract.
                unsafe { out_offset.write(receipt.offset) };
            }
            RB_OK
        }
        Err(e) => from_error(e),
    }
}

pub(crate) fn timeout(ms: i32) -> Option<Duration> {
    (ms >= 0).then(|| Duration::from_millis(ms as u64))
}
