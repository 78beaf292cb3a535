//! The panic boundary every export goes through: a Rust panic never crosses into C. Each
//! `extern "C" fn` wraps its body in [`boundary!`] (inside the literal function, so cbindgen
//! sees it); a panic becomes the "failed" value of the function's return type
//! ([`PanicValue`]): `RB_ERR_PANIC` with the panic's message as the last error, NULL-free
//! defaults for accessors, nothing for `_free` functions.

use std::any::Any;
use std::ffi::c_char;

use crate::event::rb_slice;
use crate::status::{rb_status, set_error, RB_ERR_PANIC};

/// Runs the body (a block that may `return` early, like a closure's) and turns a panic into
/// [`PanicValue::on_panic`] of its type.
macro_rules! boundary {
    ($($body:tt)*) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(value) => value,
            Err(panic) => $crate::panic::caught(panic),
        }
    };
}
pub(crate) use boundary;

/// What an export returns when its body panicked.
pub(crate) trait PanicValue {
    /// The value that tells C the call failed (or the harmless default where a function has no
    /// way to fail).
    fn on_panic() -> Self;
}

impl PanicValue for rb_status {
    fn on_panic() -> Self {
        RB_ERR_PANIC
    }
}

impl PanicValue for () {
    fn on_panic() -> Self {}
}

impl PanicValue for u32 {
    fn on_panic() -> Self {
        0
    }
}

impl PanicValue for u64 {
    fn on_panic() -> Self {
        0
    }
}

impl PanicValue for usize {
    fn on_panic() -> Self {
        0
    }
}

impl PanicValue for rb_slice {
    fn on_panic() -> Self {
        rb_slice::of(&[])
    }
}

/// The static strings of `rb_status_str` and `rb_last_error_message`, which promise never to
/// return NULL.
impl PanicValue for *const c_char {
    fn on_panic() -> Self {
        c"internal error (panic)".as_ptr()
    }
}

/// Records a caught panic as the thread's last error and returns the failed value.
#[cold]
pub(crate) fn caught<T: PanicValue>(panic: Box<dyn Any + Send>) -> T {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    set_error(format!("ringbus panicked (a bug, please report it): {what}"));
    T::on_panic()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{rb_last_error_message, RB_OK};
    use std::ffi::CStr;

    /// A body that panics, of any return type.
    fn explode<T>(what: &str) -> T {
        panic!("{what}")
    }

    #[test]
    fn a_panic_becomes_the_failed_value_of_each_return_type() {
        let status: rb_status = boundary! { explode("boom") };
        assert_eq!(status, RB_ERR_PANIC);
        // SAFETY: rb_last_error_message returns a valid NUL-terminated string.
        let message = unsafe { CStr::from_ptr(rb_last_error_message()) }.to_string_lossy().into_owned();
        assert!(message.contains("boom") && message.contains("panicked"), "{message}");
        let count: usize = boundary! { explode("count") };
        assert_eq!(count, 0);
        let slice: rb_slice = boundary! { explode("slice") };
        assert_eq!(slice.len, 0);
        let text: *const c_char = boundary! { explode("text") };
        assert!(!text.is_null());
        let (): () = boundary! { explode("free") };
        let fine: rb_status = boundary! { RB_OK };
        assert_eq!(fine, RB_OK);
    }
}
