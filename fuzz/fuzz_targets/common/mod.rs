//! What the fuzz targets share (each uses some of it).
#![allow(dead_code)]

/// A fresh directory on tmpfs when there is one (the target writes files every run).
pub fn ringbus_fuzz_dir(name: &str) -> std::path::PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm".into() } else { std::env::temp_dir() };
    let dir = base.join(format!("ringbus-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Persisters write with pwrite/fdatasync here: setting io_uring up and tearing it down for every
/// input cost most of each execution (the durability tests run both backends).
pub fn pwrite_backend() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // Set before the first bus opens, while this process runs no other thread of ours.
    ONCE.call_once(|| std::env::set_var("RINGBUS_IO", "std"));
}
