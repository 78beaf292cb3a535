//! Followers reading arbitrary (hostile, half-written, never recovered) segment files from
//! every start: must never panic, loop or go back (errors are fine).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = ringbus_fuzz_dir("follower");
    let _ = ringbus::fuzzing::follow_segment_files(&dir, data);
    let _ = std::fs::remove_dir_all(&dir);
});

/// A fresh directory on tmpfs when there is one (the target writes files every run).
fn ringbus_fuzz_dir(name: &str) -> std::path::PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm".into() } else { std::env::temp_dir() };
    let dir = base.join(format!("ringbus-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
