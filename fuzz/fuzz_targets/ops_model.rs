//! Random publish / poll / group poll / commit / close-and-reopen sequences against a simple
//! model: any difference panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pwrite_backend();
    let base = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm".into() } else { std::env::temp_dir() };
    let dir = base.join(format!("ringbus-fuzz-ops-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    ringbus::fuzzing::run_ops(&dir, data);
    let _ = std::fs::remove_dir_all(&dir);
});

/// Persisters write with pwrite/fdatasync here: setting io_uring up and tearing it down for every
/// input cost most of each execution (the durability tests run both backends).
fn pwrite_backend() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // Set before the first bus opens, while this process runs no other thread of ours.
    ONCE.call_once(|| std::env::set_var("RINGBUS_IO", "std"));
}
