//! Random publish / poll / group poll / commit / close-and-reopen sequences against a simple
//! model: any difference panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let base = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm".into() } else { std::env::temp_dir() };
    let dir = base.join(format!("ringbus-fuzz-ops-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    ringbus::fuzzing::run_ops(&dir, data);
    let _ = std::fs::remove_dir_all(&dir);
});
