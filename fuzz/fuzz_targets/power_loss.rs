//! Fuzzer-chosen operation sequences and power-cut points under the power-loss simulator:
//! after every cut the directory must open, keep every acknowledged event and deliver no torn
//! one (see `ringbus::fuzzing::power_cut`).
#![no_main]
use libfuzzer_sys::fuzz_target;
mod common;
use common::{pwrite_backend, ringbus_fuzz_dir};

fuzz_target!(|data: &[u8]| {
    pwrite_backend();
    let dir = ringbus_fuzz_dir("power");
    ringbus::fuzzing::power_cut(&dir, data);
});
