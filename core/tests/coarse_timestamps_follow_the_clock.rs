//! Coarse timestamps come from a cached clock that a `ringbus-clock` thread refreshes while a
//! publisher of a coarse topic lives: they stay within a few milliseconds of the real clock,
//! they advance, and the thread stops once the last such publisher is gone. (One test: the
//! thread is process-wide, so this file must run alone in its process.)

use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ringbus::{Bus, Start, SubscribeOptions, TopicConfig};

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Ticker threads, once the count is `want` or 2 s have passed (a new thread names itself
/// after it starts, and a stopping one takes a moment to exit).
fn clock_threads_settling_at(want: usize) -> usize {
    let mut n = clock_threads();
    for _ in 0..200 {
        if n == want {
            break;
        }
        thread::sleep(Duration::from_millis(10));
        n = clock_threads();
    }
    n
}

fn clock_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
        .filter(|comm| comm.trim() == "ringbus-clock")
        .count()
}

#[test]
fn coarse_timestamps_track_real_time_and_the_ticker_stops_with_the_last_publisher() {
    let t = Bus::new().create_topic("t", TopicConfig::new()).unwrap();
    let mut sub = t.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    assert_eq!(clock_threads(), 0, "no publisher yet, no ticker");
    let mut p = t.publisher().unwrap();
    assert_eq!(clock_threads_settling_at(1), 1, "a publisher of a coarse topic starts the ticker");
    let second = t.publisher().unwrap();
    thread::sleep(Duration::from_millis(20));
    assert_eq!(clock_threads(), 1, "one ticker per process");
    let mut stamps = Vec::new();
    for round in 0..5 {
        let before = now_ns();
        p.publish(b"x").unwrap();
        let after = now_ns();
        let ts = sub.poll(Some(Duration::from_secs(5))).unwrap().unwrap().timestamp;
        // The coarse clock lags by up to a kernel tick (at most 4 ms), the cache by about a
        // millisecond more; allow for a loaded machine.
        assert!(ts + 50_000_000 >= before && ts <= after, "round {round}: {before} <= {ts} <= {after}");
        stamps.push(ts);
        thread::sleep(Duration::from_millis(30));
    }
    for w in stamps.windows(2) {
        assert!(w[1] >= w[0] + 10_000_000, "timestamps 30 ms apart advance: {stamps:?}");
    }
    drop(second);
    drop(p);
    assert_eq!(clock_threads_settling_at(0), 0, "the ticker stops once the last publisher is dropped");
    // Publishing again restarts it.
    let mut p = t.publisher().unwrap();
    assert_eq!(clock_threads_settling_at(1), 1);
    let before = now_ns();
    p.publish(b"y").unwrap();
    let ts = sub.poll(Some(Duration::from_secs(5))).unwrap().unwrap().timestamp;
    assert!(ts + 50_000_000 >= before && ts <= now_ns());
}
