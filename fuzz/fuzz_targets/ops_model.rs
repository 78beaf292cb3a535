//! Random publish / poll / group poll / commit / close-and-reopen sequences against a simple
//! model: any difference panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
mod common;
use common::{pwrite_backend, ringbus_fuzz_dir};

fuzz_target!(|data: &[u8]| {
    pwrite_backend();
    let dir = ringbus_fuzz_dir("ops");
    ringbus::fuzzing::run_ops(&dir, data);
    let _ = std::fs::remove_dir_all(&dir);
});
