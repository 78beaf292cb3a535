//! Timestamps for records that carry none.

use super::config::TimestampSource;

/// Nanoseconds since the Unix epoch from `source`. Never allocates; one clock read.
#[inline]
pub(crate) fn now(source: TimestampSource) -> u64 {
    #[cfg(target_os = "linux")]
    {
        let clock = match source {
            TimestampSource::Coarse => libc::CLOCK_REALTIME_COARSE,
            TimestampSource::Precise => libc::CLOCK_REALTIME,
        };
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: ts is a valid, writable timespec; clock_gettime writes only it.
        if unsafe { libc::clock_gettime(clock, &mut ts) } == 0 {
            return ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        }
    }
    let _ = source;
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}
