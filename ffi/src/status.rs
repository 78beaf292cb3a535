//! Status codes, the thread-local last error message, and the library-level calls
//! (`rb_version`, `rb_status_str`, `rb_last_error_message`). Every core error maps to a status
//! here, in one function.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};

use ringbus_core::Error;

use crate::panic::boundary;

/// A status code: `RB_OK` (0) or a negative error.
pub type rb_status = i32;

/// Success.
pub const RB_OK: rb_status = 0;
/// A required pointer argument was NULL.
pub const RB_ERR_NULL_ARG: rb_status = -1;
/// An argument is invalid: bad UTF-8, a bad name, an unknown configuration key or value, a
/// payload above the topic's maximum, a partition out of range.
pub const RB_ERR_INVALID_ARG: rb_status = -2;
/// The wait ended first: a poll with a timeout found no event (an ordinary outcome), or
/// `rb_topic_flush` did not see everything durable in time.
pub const RB_ERR_TIMED_OUT: rb_status = -3;
/// The ring is full and the call was not allowed to wait (an ordinary outcome).
pub const RB_ERR_WOULD_BLOCK: rb_status = -4;
/// The topic or bus is closed (for readers: closed and drained).
pub const RB_ERR_CLOSED: rb_status = -5;
/// No such topic.
pub const RB_ERR_NOT_FOUND: rb_status = -6;
/// A topic or group with this name exists already.
pub const RB_ERR_EXISTS: rb_status = -7;
/// A file operation on the data directory failed.
pub const RB_ERR_IO: rb_status = -8;
/// Another bus has the data directory open.
pub const RB_ERR_LOCKED: rb_status = -9;
/// A segment file is damaged where its data was known durable.
pub const RB_ERR_CORRUPT: rb_status = -10;
/// A partition stopped accepting events after a failed write or fsync.
pub const RB_ERR_POISONED: rb_status = -11;
/// A `drop_oldest` reader lost events (the message says how many); the next poll continues.
pub const RB_ERR_LAGGED: rb_status = -12;
/// An `evict` reader held producers back too long and was removed.
pub const RB_ERR_EVICTED: rb_status = -13;
/// The offset asked for is no longer kept, past the end, or not an event's start.
pub const RB_ERR_OFFSET: rb_status = -14;
/// The operation needs a persisted topic.
pub const RB_ERR_NOT_PERSISTED: rb_status = -15;
/// The start offset lies behind an event whose producer has claimed it but not committed it
/// yet: subscribing again in a moment succeeds.
pub const RB_ERR_PENDING: rb_status = -16;
/// A bug in ringbus: a Rust panic was caught at the boundary (the message has it).
pub const RB_ERR_PANIC: rb_status = -100;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_error(message: impl Into<String>) {
    let text = message.into().replace('\0', " ");
    LAST_ERROR.with(|e| *e.borrow_mut() = CString::new(text).expect("NULs were replaced"));
}

/// Records `message` as the thread's last error and returns `status`.
pub(crate) fn fail(status: rb_status, message: impl Into<String>) -> rb_status {
    set_error(message);
    status
}

/// The status of a core error: the one mapping of the C API.
pub(crate) fn status_of(e: &Error) -> rb_status {
    match e {
        Error::InvalidName { .. }
        | Error::InvalidConfig { .. }
        | Error::PayloadTooLarge { .. }
        | Error::KeyTooLarge { .. }
        | Error::NoSuchPartition { .. } => RB_ERR_INVALID_ARG,
        Error::TopicExists(_) | Error::PublisherExists(_) => RB_ERR_EXISTS,
        Error::Full => RB_ERR_WOULD_BLOCK,
        Error::FlushTimeout => RB_ERR_TIMED_OUT,
        Error::JoinPending { .. } => RB_ERR_PENDING,
        Error::Closed => RB_ERR_CLOSED,
        Error::OffsetTrimmed { .. } | Error::OffsetBeyondEnd { .. } | Error::NotAnEventOffset { .. } => RB_ERR_OFFSET,
        Error::Lagged { .. } => RB_ERR_LAGGED,
        Error::Evicted => RB_ERR_EVICTED,
        Error::Locked { .. } => RB_ERR_LOCKED,
        Error::Io { .. } => RB_ERR_IO,
        Error::CorruptLog { .. } => RB_ERR_CORRUPT,
        Error::Poisoned { .. } => RB_ERR_POISONED,
        Error::NotPersisted(_) => RB_ERR_NOT_PERSISTED,
        _ => RB_ERR_INVALID_ARG,
    }
}

/// Records a core error as the last error and returns its status.
pub(crate) fn from_error(e: Error) -> rb_status {
    fail(status_of(&e), e.to_string())
}

/// The library's version as `(major << 16) | (minor << 8) | patch`; compare with `RB_VERSION`.
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn rb_version() -> u32 {
    boundary! {
        let v = |s: &str| s.parse::<u32>().unwrap_or(0);
        (v(env!("CARGO_PKG_VERSION_MAJOR")) << 16)
            | (v(env!("CARGO_PKG_VERSION_MINOR")) << 8)
            | v(env!("CARGO_PKG_VERSION_PATCH"))
    }
}

/// A static, NUL-terminated description of `status`; never NULL (unknown codes get a
/// description saying so).
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn rb_status_str(status: rb_status) -> *const c_char {
    boundary! {
        let s: &'static CStr = match status {
            RB_OK => c"ok",
            RB_ERR_NULL_ARG => c"a required pointer was NULL",
            RB_ERR_INVALID_ARG => c"invalid argument",
            RB_ERR_TIMED_OUT => c"timed out",
            RB_ERR_WOULD_BLOCK => c"full: would block",
            RB_ERR_CLOSED => c"closed",
            RB_ERR_NOT_FOUND => c"not found",
            RB_ERR_EXISTS => c"already exists",
            RB_ERR_IO => c"input/output error",
            RB_ERR_LOCKED => c"data directory in use by another bus",
            RB_ERR_CORRUPT => c"corrupt log",
            RB_ERR_POISONED => c"partition poisoned by a failed write",
            RB_ERR_LAGGED => c"reader lagged and lost events",
            RB_ERR_EVICTED => c"reader evicted",
            RB_ERR_OFFSET => c"offset not available",
            RB_ERR_NOT_PERSISTED => c"needs a persisted topic",
            RB_ERR_PENDING => c"offset behind an uncommitted event: try again",
            RB_ERR_PANIC => c"internal error (panic)",
            _ => c"unknown status",
        };
        s.as_ptr()
    }
}

/// The message of the last failed call on this thread (empty if none). Valid until the next
/// ringbus call on this thread; never NULL.
/// Threads: any thread (the last error message is kept per thread).
#[no_mangle]
pub extern "C" fn rb_last_error_message() -> *const c_char {
    boundary! {
        LAST_ERROR.with(|e| e.borrow().as_ptr())
    }
}
