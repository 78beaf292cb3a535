//! Recovery on an arbitrary segment file, then reading everything it kept: must never panic
//! (errors are fine).
#![no_main]
use libfuzzer_sys::fuzz_target;
mod common;
use common::{pwrite_backend, ringbus_fuzz_dir};

fuzz_target!(|data: &[u8]| {
    pwrite_backend();
    let dir = ringbus_fuzz_dir("recovery");
    let _ = ringbus::fuzzing::recover_segment_file(&dir, data);
    let _ = std::fs::remove_dir_all(&dir);
});
