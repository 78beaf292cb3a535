//! Followers in another process: owner-publish to follower-delivery latency, and catch-up
//! speed against an in-process reader of the same files.
//!
//! `cargo run --release -p ringbus-benches --bin follow [-- --quick]`
//!
//! - Latency: an owner process (this binary again, `--owner`) publishes at 100,000 events/s
//!   to an `Async` topic, each payload carrying its sequence number and the time it was
//!   published (CLOCK_REALTIME, shared by the processes); this process follows it, checks the
//!   sequence (count and checksum) and records publish-to-delivery latency, for the default
//!   visibility (every written frame) and for `Visibility::Durable` (then against the fsync
//!   interval). Runs alternate between the two.
//! - Catch-up: one process publishes N events and closes; then, alternating, a bus reopened
//!   in this process reads them from `Start::Earliest` (segment files, the in-process path)
//!   and a follower reads the same files from `Start::Earliest`. Events/s, medians and the
//!   follower's ratio.
//! - Idle: the CPU time a follower uses while it waits 2 s for an event that does not come.
//!
//! For comparisons: `FOLLOW_SECONDS` sets the length of a latency run (3 s with `--quick`,
//! else 10), `FOLLOW_FSYNC_MS` the owner's fsync interval (default 10 ms), `FOLLOW_DIR` where
//! the latency runs keep their data (default the build tree's `target/bench-data`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use ringbus::{
    Bus, Durability, FollowOptions, Follower, Record, Start, SubscribeOptions, TopicConfig, Visibility,
    DEFAULT_ASYNC_MAX_DELAY,
};
use ringbus_benches::canary_ns;
use ringbus_benches::persist::data_dir;

const RATE: u64 = 100_000;
/// Segments of the latency runs: 8 MiB, about 2 s of this stream (40-byte frames), so most of
/// a run is written into segments the fsync thread prepared ahead (the topic's first segment
/// is made with `fallocate`; see `log/syncer.rs`).
const SEGMENT_BYTES: u64 = 8 << 20;
const END: u64 = u64::MAX;

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_nanos() as u64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The owner process: publishes `seconds` of events at RATE, then an end marker.
fn owner(dir: &Path, seconds: u64) {
    let bus = Bus::open(dir).expect("owner opens the directory");
    let delay = std::env::var("FOLLOW_FSYNC_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(DEFAULT_ASYNC_MAX_DELAY, Duration::from_millis);
    let config = TopicConfig::new()
        .capacity(1 << 20)
        .max_payload(64)
        .segment_bytes(SEGMENT_BYTES)
        .durability(Durability::Async { max_delay: delay });
    let topic = bus.create_topic("bench", config).expect("topic");
    let mut p = topic.publisher().expect("publisher");
    println!("ready");
    let start = Instant::now();
    let total = RATE * seconds;
    let mut seq = 0u64;
    while seq < total {
        // Publish what the schedule says is due, each event stamped as it goes out; sleep
        // between (about a millisecond), so the owner does not take a core from the follower.
        let due = ((start.elapsed().as_nanos() as u64 * RATE) / 1_000_000_000).min(total);
        while seq < due {
            let mut payload = [0u8; 16];
            payload[..8].copy_from_slice(&seq.to_le_bytes());
            payload[8..].copy_from_slice(&now_ns().to_le_bytes());
            p.publish(Record::new(&payload)).expect("publish");
            seq += 1;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let mut end = [0u8; 16];
    end[..8].copy_from_slice(&END.to_le_bytes());
    p.publish(Record::new(&end)).expect("publish");
    bus.close();
}

struct Latency {
    events: u64,
    checksum: u64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us: f64,
}

/// One latency run: an owner process for `seconds`, followed with `visibility`. The data
/// goes under `FOLLOW_DIR` if set (to compare filesystems), else the build tree.
fn latency_run(seconds: u64, visibility: Visibility) -> Latency {
    let dir = match std::env::var_os("FOLLOW_DIR") {
        Some(base) => {
            let dir = Path::new(&base).join("follow-latency");
            let _ = std::fs::remove_dir_all(&dir);
            dir
        }
        None => data_dir("follow-latency"),
    };
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .args(["--owner", dir.to_str().expect("utf-8 path"), &seconds.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("owner process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("owner says ready");
    assert_eq!(line.trim(), "ready");
    let follower = Follower::open(&dir).expect("follower");
    let mut sub = follower
        .subscribe("bench", FollowOptions::new().start(Start::Earliest).visibility(visibility))
        .expect("subscribe");
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let (mut expect, mut checksum, mut done) = (0u64, 0u64, false);
    // The first second is warm-up (page cache, the owner's first segment): not recorded.
    let warm = seconds.min(1) * RATE;
    while !done {
        sub.poll_batch(4096, Some(Duration::from_secs(10)), |e| {
            let seq = u64::from_le_bytes(e.payload[..8].try_into().expect("8 bytes"));
            if seq == END {
                done = true;
                return;
            }
            assert_eq!(seq, expect, "the follower saw every event in order");
            let sent = u64::from_le_bytes(e.payload[8..16].try_into().expect("8 bytes"));
            if seq >= warm {
                hist.record((now_ns().saturating_sub(sent) / 1000).max(1)).expect("in range");
            }
            checksum = checksum.wrapping_add(seq);
            expect += 1;
        })
        .expect("poll");
    }
    assert!(child.wait().expect("owner exits").success());
    let events = expect;
    assert_eq!(events, RATE * seconds, "count");
    assert_eq!(checksum, events * (events - 1) / 2, "checksum");
    let q = |x: f64| hist.value_at_quantile(x) as f64;
    Latency { events, checksum, p50_us: q(0.5), p99_us: q(0.99), p999_us: q(0.999), max_us: hist.max() as f64 }
}

/// Writes `n` events of 100 bytes to a fresh directory; returns it.
fn catch_up_data(n: u64) -> std::path::PathBuf {
    let dir = data_dir("follow-catchup");
    let bus = Bus::open(&dir).expect("open");
    let config = TopicConfig::new()
        .capacity(8 << 20)
        .max_payload(128)
        .segment_bytes(64 << 20)
        .durability(Durability::Async { max_delay: DEFAULT_ASYNC_MAX_DELAY });
    let topic = bus.create_topic("bench", config).expect("topic");
    let mut p = topic.publisher().expect("publisher");
    let mut payload = [7u8; 100];
    for chunk in 0..n / 1000 {
        let bodies: Vec<[u8; 100]> = (0..1000)
            .map(|i| {
                payload[..8].copy_from_slice(&(chunk * 1000 + i).to_le_bytes());
                payload
            })
            .collect();
        let batch: Vec<Record<'_>> = bodies.iter().map(|b| Record::new(b)).collect();
        p.publish_batch(&batch).expect("publish");
    }
    bus.close();
    dir
}

/// Reads every event with `poll_batch` from `read`, returning (events, checksum, seconds).
fn timed(n: u64, mut read: impl FnMut(&mut dyn FnMut(&[u8])) -> usize) -> (u64, u64, f64) {
    let (mut count, mut sum) = (0u64, 0u64);
    let t = Instant::now();
    while count < n {
        let got = read(&mut |payload| {
            sum = sum.wrapping_add(u64::from_le_bytes(payload[..8].try_into().expect("8 bytes")));
            count += 1;
        });
        assert!(got > 0, "a reader stalled after {count} of {n}");
    }
    (count, sum, t.elapsed().as_secs_f64())
}

/// Reads a segment with `pread` in 1 MiB pieces into `buf` (reused, as the follower reuses
/// its buffer), then decodes it.
fn decode_pread(path: &Path, buf: &mut Vec<u8>) -> usize {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).expect("segment");
    let len = file.metadata().expect("metadata").len() as usize;
    buf.resize(len, 0);
    for (i, piece) in buf.chunks_mut(1 << 20).enumerate() {
        file.read_exact_at(piece, (i << 20) as u64).expect("pread");
    }
    ringbus::fuzzing::decode_segment_bytes(buf)
}

/// Maps a segment read-only and decodes it in place.
fn decode_mmap(path: &Path) -> usize {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).expect("segment");
    let len = file.metadata().expect("metadata").len() as usize;
    // SAFETY: a read-only private mapping of a file nobody truncates while the bench runs;
    // unmapped below, after the slice's last use.
    let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0) };
    assert_ne!(ptr, libc::MAP_FAILED, "mmap");
    // SAFETY: `ptr` maps `len` readable bytes until the munmap below.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    let events = ringbus::fuzzing::decode_segment_bytes(bytes);
    // SAFETY: the mapping made above, no longer borrowed.
    unsafe { libc::munmap(ptr, len) };
    events
}

fn idle_cpu_ms() -> f64 {
    let dir = data_dir("follow-idle");
    let bus = Bus::open(&dir).expect("open");
    bus.create_topic("idle", TopicConfig::new().capacity(1 << 20).max_payload(1024).durability(Durability::Sync))
        .expect("topic");
    let follower = Follower::open(&dir).expect("follower");
    let mut sub = follower.subscribe("idle", FollowOptions::new()).expect("subscribe");
    let cpu = || {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
        // SAFETY: getrusage writes one rusage into the pointer it is given.
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
        // SAFETY: written by the call above.
        let u = unsafe { usage.assume_init() };
        (u.ru_utime.tv_sec + u.ru_stime.tv_sec) as f64 * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) as f64 / 1e3
    };
    let before = cpu();
    assert!(sub.poll(Some(Duration::from_secs(2))).expect("poll").is_none(), "nothing was published");
    let used = cpu() - before;
    drop(bus);
    used
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--owner") {
        owner(Path::new(&args[2]), args[3].parse().expect("seconds"));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (runs, seconds, n) = if quick { (3, 3, 1_000_000) } else { (5, 10, 4_000_000) };
    let (runs, seconds) = match std::env::var("FOLLOW_SECONDS").ok().and_then(|s| s.parse().ok()) {
        Some(s) => (runs, s),
        None => (runs, seconds),
    };
    println!("canary {:.0} ns (25-40 normal, 100-200 when the cores drift)", canary_ns());

    println!(
        "\n== owner-publish to follower-delivery latency, {RATE} events/s, Async (fsync within {} ms)",
        DEFAULT_ASYNC_MAX_DELAY.as_millis()
    );
    println!(
        "{:<10} {:>4} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "visibility", "run", "events", "p50 us", "p99 us", "p99.9 us", "max us"
    );
    let mut written = Vec::new();
    let mut durable = Vec::new();
    for run in 0..runs {
        for (name, visibility) in [("written", Visibility::Written), ("durable", Visibility::Durable)] {
            let l = latency_run(seconds, visibility);
            println!(
                "{name:<10} {run:>4} {:>9} {:>9.0} {:>9.0} {:>9.0} {:>9.0}   checksum {}",
                l.events, l.p50_us, l.p99_us, l.p999_us, l.max_us, l.checksum
            );
            if visibility == Visibility::Written {
                written.push(l)
            } else {
                durable.push(l)
            }
        }
    }
    for (name, ls) in [("written", &written), ("durable", &durable)] {
        let m = |f: fn(&Latency) -> f64| median(&mut ls.iter().map(f).collect::<Vec<_>>());
        println!(
            "median {name:<8} p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us (over {runs} runs)",
            m(|l| l.p50_us),
            m(|l| l.p99_us),
            m(|l| l.p999_us)
        );
    }

    println!("\n== catch-up from Start::Earliest over {n} events of 100 bytes (page cache warm)");
    let dir = catch_up_data(n);
    let mut in_process = Vec::new();
    let mut followed = Vec::new();
    for run in 0..runs {
        let bus = Bus::open(&dir).expect("reopen");
        let topic = bus.topic("bench").expect("topic");
        let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).expect("subscribe");
        let (c1, s1, t1) =
            timed(n, |f| sub.poll_batch(4096, Some(Duration::from_secs(5)), |e| f(e.payload)).expect("poll"));
        drop(sub);
        drop(bus);
        let follower = Follower::open(&dir).expect("follower");
        let mut fsub = follower.subscribe("bench", FollowOptions::new().start(Start::Earliest)).expect("subscribe");
        let (c2, s2, t2) =
            timed(n, |f| fsub.poll_batch(4096, Some(Duration::from_secs(5)), |e| f(e.payload)).expect("poll"));
        assert_eq!((c1, s1), (c2, s2), "both readers saw the same events");
        assert_eq!(s1, n * (n - 1) / 2, "checksum");
        let (r1, r2) = (c1 as f64 / t1, c2 as f64 / t2);
        println!(
            "run {run}: in-process {:.2} M events/s, follower {:.2} M events/s ({:.0}%)",
            r1 / 1e6,
            r2 / 1e6,
            100.0 * r2 / r1
        );
        in_process.push(r1);
        followed.push(r2);
    }
    let (a, b) = (median(&mut in_process), median(&mut followed));
    println!(
        "median: in-process {:.2} M events/s, follower {:.2} M events/s, follower/in-process {:.0}%",
        a / 1e6,
        b / 1e6,
        100.0 * b / a
    );

    println!("\n== reading the same segment files: pread into a buffer (the follower's way) against mmap");
    let segs: Vec<std::path::PathBuf> = {
        let mut v: Vec<_> = std::fs::read_dir(dir.join("bench/0"))
            .expect("partition directory")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .collect();
        v.sort();
        v
    };
    let (mut by_pread, mut by_mmap) = (Vec::new(), Vec::new());
    let mut buf = Vec::new();
    decode_pread(&segs[0], &mut buf); // the buffer's pages are faulted in once, not timed
    for run in 0..runs {
        let t = Instant::now();
        let a: usize = segs.iter().map(|p| decode_pread(p, &mut buf)).sum();
        let ta = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let b: usize = segs.iter().map(|p| decode_mmap(p)).sum();
        let tb = t.elapsed().as_secs_f64();
        assert_eq!((a as u64, b as u64), (n, n), "both saw every event");
        println!("run {run}: pread {:.2} M events/s, mmap {:.2} M events/s", a as f64 / ta / 1e6, b as f64 / tb / 1e6);
        by_pread.push(a as f64 / ta);
        by_mmap.push(b as f64 / tb);
    }
    let (a, b) = (median(&mut by_pread), median(&mut by_mmap));
    println!("median: pread {:.2} M events/s, mmap {:.2} M events/s, mmap/pread {:.2} (both decode every frame three times: walk, frames, time index)", a / 1e6, b / 1e6, b / a);

    println!("\n== idle follower: CPU time while waiting 2 s for an event");
    println!("{:.2} ms of CPU in 2 s", idle_cpu_ms());
}
