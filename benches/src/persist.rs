//! Persisted ingest on ringbus, and the disk's own limits measured with fio on the same
//! filesystem, so the two can be set side by side.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringbus::{Bus, Durability, Error, Publisher, Record, Start, SubscribeOptions, Ticket, TopicConfig};

/// Where benchmark data goes (the build tree's filesystem, not a tmpfs).
pub fn data_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench data directory");
    dir
}

/// One fio figure.
#[derive(Debug, Clone)]
pub struct FioResult {
    /// `seq_buffered`, `seq_direct`, `fdatasync_4k` or `fdatasync_256k`.
    pub test: &'static str,
    /// Write bandwidth, MB/s (10^6 bytes).
    pub mb_per_s: f64,
    /// Write operations per second (for the fdatasync tests: write + fdatasync pairs).
    pub iops: f64,
}

/// Installs Debian's `package` if `command` is missing and this process may (root with
/// apt-get); says what happened.
fn ensure_tool(command: &str, package: &str) -> Result<(), String> {
    if Command::new(command).arg("--version").output().is_ok_and(|o| o.status.success()) {
        return Ok(());
    }
    // SAFETY: getuid has no preconditions and touches no memory.
    let root = unsafe { libc::getuid() } == 0;
    if !root || Command::new("apt-get").arg("--version").output().is_err() {
        return Err(format!("{command} is not installed (Debian: apt-get install -y {package})"));
    }
    eprintln!("installing {package} from Debian's packages (apt-get install -y {package})");
    let ok = |args: &[&str]| Command::new("apt-get").args(args).status().is_ok_and(|s| s.success());
    if ok(&["install", "-y", "-q", package]) || (ok(&["update", "-q"]) && ok(&["install", "-y", "-q", package])) {
        Ok(())
    } else {
        Err(format!("{command} is not installed and apt-get could not install {package}"))
    }
}

/// Runs the four fio tests in `dir` (short runs when `quick`), installing fio first if it is
/// missing and that is possible. `Err` says why fio could not run.
pub fn fio(dir: &Path, quick: bool) -> Result<Vec<FioResult>, String> {
    ensure_tool("fio", "fio")?;
    let tests: [(&'static str, &[&str], &str, &str); 4] = [
        ("seq_buffered", &["--rw=write", "--bs=1M", "--end_fsync=1"], "1G", "256M"),
        ("seq_direct", &["--rw=write", "--bs=1M", "--direct=1"], "1G", "256M"),
        ("fdatasync_4k", &["--rw=write", "--bs=4k", "--fdatasync=1"], "32M", "8M"),
        ("fdatasync_256k", &["--rw=write", "--bs=256k", "--fdatasync=1"], "512M", "128M"),
    ];
    let mut out = Vec::new();
    for (test, args, size, quick_size) in tests {
        let output = Command::new("fio")
            .arg(format!("--name={test}"))
            .arg(format!("--directory={}", dir.display()))
            .arg(format!("--size={}", if quick { quick_size } else { size }))
            .args(["--ioengine=psync", "--output-format=json", "--unlink=1"])
            .args(args)
            .output()
            .map_err(|e| format!("fio could not be started ({e}); install it: apt-get install -y fio"))?;
        if !output.status.success() {
            return Err(format!("fio {test} failed: {}", String::from_utf8_lossy(&output.stderr)));
        }
        let json: serde_json::Value =
            serde_json::from_slice(&output.stdout).map_err(|e| format!("fio {test}: unreadable JSON: {e}"))?;
        let write = &json["jobs"][0]["write"];
        let bw_kib = write["bw"].as_f64().ok_or_else(|| format!("fio {test}: no write bandwidth"))?;
        let iops = write["iops"].as_f64().ok_or_else(|| format!("fio {test}: no write iops"))?;
        out.push(FioResult { test, mb_per_s: bw_kib * 1024.0 / 1e6, iops });
    }
    Ok(out)
}

/// One run of Redis Streams with `appendfsync always` (every write fsynced before its reply),
/// measured by Redis's own `redis-benchmark`.
#[derive(Debug, Clone)]
pub struct RedisResult {
    /// XADDs per second.
    pub rps: f64,
    /// Request latency p50 and p99, ms (redis-benchmark's own figures).
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p99_ms: f64,
}

/// A Redis server of the harness's own, on a free loopback port, data in `target/bench-data`;
/// shut down on drop.
struct RedisServer {
    port: u16,
    child: std::process::Child,
    dir: PathBuf,
}

impl RedisServer {
    fn start(fsync: &str) -> Result<Self, String> {
        ensure_tool("redis-server", "redis-server")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let dir = data_dir("redis");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--protected-mode", "yes"])
            .arg("--dir")
            .arg(&dir)
            .args(["--appendonly", "yes", "--appendfsync", fsync, "--save", "", "--daemonize", "no"])
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .spawn()
            .map_err(|e| format!("redis-server could not be started: {e}"))?;
        let server = Self { port, child, dir };
        for _ in 0..100 {
            if server.cli(&["PING"]).is_ok_and(|r| r == "PONG") {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("redis-server did not answer PING within 10 s".into())
    }

    /// One redis-cli command's reply.
    fn cli(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .map_err(|e| format!("redis-cli: {e}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.cli(&["SHUTDOWN", "NOSAVE"]);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Redis Streams with `appendfsync always`: `clients` connections each pipelining `pipeline`
/// XADDs of a `payload`-byte value, `events` in all, by `redis-benchmark`; then checks with
/// XLEN that the stream holds every one (and at most a pipeline per client more, which
/// redis-benchmark may send). `Err` says why Redis could not run.
pub fn redis_always(payload: usize, clients: usize, pipeline: usize, events: u64) -> Result<RedisResult, String> {
    ensure_tool("redis-benchmark", "redis-tools")?;
    let server = RedisServer::start("always")?;
    let value = "x".repeat(payload);
    let out = Command::new("redis-benchmark")
        .args(["-p", &server.port.to_string(), "-n", &events.to_string(), "-c", &clients.to_string()])
        .args(["-P", &pipeline.to_string(), "-q", "--csv", "XADD", "ingest", "*", "p", &value])
        .output()
        .map_err(|e| format!("redis-benchmark: {e}"))?;
    let csv = String::from_utf8_lossy(&out.stdout);
    let row = csv.lines().nth(1).ok_or_else(|| format!("redis-benchmark printed no result: {csv}"))?;
    let fields: Vec<f64> =
        row.split("\",\"").skip(1).map(|f| f.trim_matches('"').parse().unwrap_or(f64::NAN)).collect();
    let (rps, p50_ms, p99_ms) = match fields[..] {
        [rps, _avg, _min, p50, _p95, p99, ..] => (rps, p50, p99),
        _ => return Err(format!("redis-benchmark: unexpected CSV row {row:?}")),
    };
    let held: u64 = server.cli(&["XLEN", "ingest"])?.parse().map_err(|e| format!("XLEN: {e}"))?;
    // redis-benchmark may send up to one pipeline per client beyond `events` (it stops
    // between pipelines): the stream must hold every requested XADD, and no more than that.
    let slack = (clients * pipeline) as u64;
    assert!(
        (events..=events + slack).contains(&held),
        "Redis: the stream holds {held} entries for {events} XADDs (up to {slack} more may be sent)"
    );
    Ok(RedisResult { rps, p50_ms, p99_ms })
}

/// What one persisted ingest run measured.
#[derive(Debug, Clone)]
pub struct IngestResult {
    /// Events acknowledged.
    pub events: u64,
    /// Wall time from the first publish to the last acknowledgement (Async: to the flush).
    pub elapsed: Duration,
    /// fsyncs the persister made.
    pub fsyncs: u64,
    /// Publish-call-to-acknowledgement latency (Sync), µs: p50, p99, p99.9. With tickets:
    /// from the publish call to the moment the producer saw its ticket complete (it looks
    /// after every publish).
    pub latency_us: Option<(f64, f64, f64)>,
    /// The I/O backend.
    pub backend: &'static str,
}

/// How an ingest producer learns of durability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Each publish call returns once durable (`publish`, `publish_batch`).
    Wait,
    /// Publish with tickets (`publish_ticket`, `publish_batch_ticket`), at most this many
    /// tickets in flight per producer; the oldest is waited for when more would be.
    Tickets(usize),
}

/// A producer's tickets in flight, oldest first, with when each publish call began.
struct InFlight {
    limit: usize,
    queue: VecDeque<(Instant, Ticket)>,
}

impl InFlight {
    /// Records the latency of every ticket completed by now, oldest first; then, while more
    /// than `limit` are in flight, waits for the oldest.
    fn settle(&mut self, hist: &mut Histogram<u64>, limit: usize) {
        while let Some((t, ticket)) = self.queue.front() {
            if self.queue.len() <= limit && !ticket.is_durable().expect("no fsync fails") {
                break;
            }
            ticket.wait(Some(Duration::from_secs(30))).expect("durable");
            let _ = hist.record(t.elapsed().as_micros().max(1) as u64);
            self.queue.pop_front();
        }
    }
}

/// One publish call of `records` as `ack` says.
fn publish_one_call(
    p: &mut Publisher,
    records: &[Record<'_>],
    in_flight: &mut Option<InFlight>,
    hist: &mut Histogram<u64>,
) {
    let t = Instant::now();
    match in_flight {
        None => {
            if records.len() == 1 {
                p.publish(records[0]).expect("publish");
            } else {
                p.publish_batch(records).expect("publish");
            }
            let _ = hist.record(t.elapsed().as_micros().max(1) as u64);
        }
        Some(f) => {
            let ticket = if records.len() == 1 {
                p.publish_ticket(records[0]).expect("publish")
            } else {
                p.publish_batch_ticket(records).expect("publish")
            };
            f.queue.push_back((t, ticket));
            let limit = f.limit;
            f.settle(hist, limit);
        }
    }
}

/// Publishes `payload`-byte events from `producers` threads for about `duration` into a fresh
/// one-partition topic with `durability` (`batch` events per publish call, acknowledged as
/// `ack` says), then reads the whole log back from disk after a reopen and checks the count
/// and the checksum of sequence numbers. Panics on a mismatch.
pub fn ingest(
    durability: Durability,
    payload: usize,
    producers: usize,
    batch: usize,
    ack: Ack,
    duration: Duration,
) -> IngestResult {
    let dir = data_dir("ingest");
    let bus = Bus::open(&dir).expect("open");
    let backend = bus.io_backend().expect("opened").backend;
    let config = TopicConfig::new()
        .capacity(16 << 20)
        .max_payload(payload.max(8))
        .max_key(0)
        .segment_bytes(256 << 20)
        .durability(durability);
    let topic = bus.create_topic("ingest", config).expect("topic");
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let threads: Vec<_> = (0..producers as u64)
        .map(|id| {
            let mut p = topic.publisher().expect("publisher");
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
                let mut bufs = vec![vec![0u8; payload]; batch];
                let (mut seq, mut sum) = (0u64, 0u64);
                let mut in_flight = match ack {
                    Ack::Wait => None,
                    Ack::Tickets(limit) => Some(InFlight { limit, queue: VecDeque::with_capacity(limit + 1) }),
                };
                while !stop.load(Ordering::Relaxed) {
                    for b in bufs.iter_mut() {
                        // Sequence numbers are per producer: id in the top bits.
                        let tagged = id << 48 | seq;
                        b[..8].copy_from_slice(&tagged.to_le_bytes());
                        sum = sum.wrapping_add(tagged);
                        seq += 1;
                    }
                    let records: Vec<Record<'_>> = bufs.iter().map(|b| Record::new(b)).collect();
                    publish_one_call(&mut p, &records, &mut in_flight, &mut hist);
                }
                if let Some(f) = &mut in_flight {
                    // Every ticket completes: the run counts acknowledged events only.
                    f.settle(&mut hist, 0);
                }
                (seq, sum, hist)
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let (mut events, mut sum) = (0u64, 0u64);
    for t in threads {
        let (n, s, h) = t.join().expect("producer");
        events += n;
        sum = sum.wrapping_add(s);
        hist.add(h).expect("same bounds");
    }
    topic.flush(None).expect("flush");
    let elapsed = started.elapsed();
    let fsyncs = topic.stats().partitions[0].log.as_ref().expect("persisted").fsyncs;
    drop(topic);
    drop(bus);
    // Read everything back from disk.
    let bus = Bus::open(&dir).expect("reopen");
    let topic = bus.topic("ingest").expect("restored");
    topic.close();
    let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).expect("subscribe");
    let (mut read, mut read_sum) = (0u64, 0u64);
    loop {
        match sub.poll_batch(4096, Some(Duration::from_secs(10)), |e| {
            read += 1;
            read_sum = read_sum.wrapping_add(u64::from_le_bytes(e.payload[..8].try_into().expect("8 bytes")));
        }) {
            Ok(_) => {}
            Err(Error::Closed) => break,
            Err(e) => panic!("reading back: {e}"),
        }
    }
    assert_eq!((read, read_sum), (events, sum), "persisted ingest: wrong count or checksum after reopen");
    drop(sub);
    drop(bus);
    let _ = std::fs::remove_dir_all(&dir);
    let latency_us = (durability == Durability::Sync).then(|| {
        (hist.value_at_quantile(0.5) as f64, hist.value_at_quantile(0.99) as f64, hist.value_at_quantile(0.999) as f64)
    });
    IngestResult { events, elapsed, fsyncs, latency_us, backend }
}

/// Runs `scenario` on a memory topic of a bus that also holds an idle persisted topic (its
/// persister parked): what an idle persisted neighbour costs.
pub fn with_idle_persisted_topic<T>(f: impl FnOnce() -> T) -> T {
    let dir = data_dir("idle");
    let bus = Bus::open(&dir).expect("open");
    let idle = bus
        .create_topic("idle", TopicConfig::new().capacity(1 << 20).max_payload(1024).durability(Durability::Sync))
        .expect("idle topic");
    let out = f();
    drop(idle);
    drop(bus);
    let _ = std::fs::remove_dir_all(&dir);
    out
}
