//! The segment header and frame decoder on arbitrary bytes: must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ringbus::fuzzing::decode_segment_bytes(data);
});
