//! Followers reading arbitrary (hostile, half-written, never recovered) segment files from
//! every start: must never panic, loop or go back (errors are fine).
#![no_main]
use libfuzzer_sys::fuzz_target;
mod common;
use common::ringbus_fuzz_dir;

fuzz_target!(|data: &[u8]| {
    let dir = ringbus_fuzz_dir("follower");
    let _ = ringbus::fuzzing::follow_segment_files(&dir, data);
    let _ = std::fs::remove_dir_all(&dir);
});
