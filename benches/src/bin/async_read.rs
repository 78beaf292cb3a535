//! Async readers against blocking ones, in one process run:
//! `cargo run --release -p ringbus-benches --bin async_read [-- --quick]`.
//!
//! Fanout through a tokio task (`poll_batch_async` on a one-worker runtime) against a thread
//! in `poll_batch`, the same publisher thread feeding each (8-byte events, batches of 64),
//! runs interleaved (blocking, async, blocking, ...), each checked by count and checksum;
//! medians and their ratio. Then what an idle async subscriber costs: the process's CPU time
//! while a task waits for 2 s on a topic nobody publishes to.

use std::time::{Duration, Instant};

use ringbus::{Bus, Record, SubscribeOptions, TopicConfig};
use ringbus_benches::{canary_ns, seq_of, stamp};

/// One run: `events` published in batches of 64 by a thread, read by a blocking thread or an
/// async task. Returns events/s; panics on a wrong count or checksum.
fn run(events: u64, task: bool) -> f64 {
    let bus = Bus::new();
    let topic = bus.create_topic("t", TopicConfig::new().capacity(1 << 20).max_payload(64)).expect("topic");
    let mut sub = topic.subscribe(SubscribeOptions::new()).expect("subscribe");
    let mut p = topic.publisher().expect("publisher");
    let start = Instant::now();
    let publisher = std::thread::spawn(move || {
        let mut seq = 0;
        while seq < events {
            let payloads: Vec<[u8; 8]> = (seq..(seq + 64).min(events)).map(stamp::<8>).collect();
            let records: Vec<Record<'_>> = payloads.iter().map(|b| Record::new(b)).collect();
            p.publish_batch(&records).expect("publish");
            seq += records.len() as u64;
        }
    });
    let (mut n, mut sum) = (0u64, 0u64);
    if task {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().expect("runtime");
        (n, sum) = rt.block_on(async move { rt_read(&mut sub, events).await });
    } else {
        while n < events {
            n += sub.poll_batch(1024, None, |e| sum = sum.wrapping_add(seq_of(e.payload))).expect("poll") as u64;
        }
    }
    let elapsed = start.elapsed();
    publisher.join().expect("publisher");
    assert_eq!((n, sum), (events, events * (events - 1) / 2), "wrong count or checksum");
    events as f64 / elapsed.as_secs_f64()
}

async fn rt_read(sub: &mut ringbus::Subscription, events: u64) -> (u64, u64) {
    let (mut n, mut sum) = (0u64, 0u64);
    while n < events {
        n += sub.poll_batch_async(1024, |e| sum = sum.wrapping_add(seq_of(e.payload))).await.expect("poll") as u64;
    }
    (n, sum)
}

/// CPU time (user + system) this process has used.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes one rusage struct into the zeroed one we pass.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (runs, events) = if quick { (3, 2_000_000) } else { (7, 20_000_000) };
    let canary_before = canary_ns();
    let (mut blocking, mut task) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        blocking.push(run(events, false));
        task.push(run(events, true));
    }
    let canary_after = canary_ns();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (b, t) = (median(&mut blocking), median(&mut task));
    println!("fanout, 1 publisher thread (batches of 64, 8-byte events), 1 reader; {runs} interleaved runs of {events} events");
    println!("canary {canary_before:.0} ns before, {canary_after:.0} ns after (drifted above about 60)");
    println!("  {:<34} {:>10} {:>10} {:>10}", "reader", "median", "min", "max");
    println!(
        "  {:<34} {:>10.2} {:>10.2} {:>10.2}  M events/s",
        "thread, poll_batch",
        b / 1e6,
        blocking[0] / 1e6,
        blocking[runs - 1] / 1e6
    );
    println!(
        "  {:<34} {:>10.2} {:>10.2} {:>10.2}  M events/s",
        "tokio task, poll_batch_async",
        t / 1e6,
        task[0] / 1e6,
        task[runs - 1] / 1e6
    );
    println!("target: async fanout {:.2}x the blocking rate (target >= 0.80)", t / b);

    // Idle: one task waits on a topic nobody publishes to.
    let bus = Bus::new();
    let topic = bus.create_topic("idle", TopicConfig::new().capacity(1 << 16).max_payload(64)).expect("topic");
    let mut sub = topic.subscribe(SubscribeOptions::new()).expect("subscribe");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().expect("runtime");
    let waiting = rt.spawn(async move { sub.poll_batch_async(64, |_| {}).await.map(|n| n as u64) });
    std::thread::sleep(Duration::from_millis(100));
    let (cpu, wall) = (cpu_time(), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let (used, waited) = (cpu_time() - cpu, wall.elapsed());
    topic.close();
    let ended = rt.block_on(waiting).expect("task");
    assert!(matches!(ended, Err(ringbus::Error::Closed)), "the idle task ends at close: {ended:?}");
    println!(
        "idle async subscriber: {:.2} ms of CPU in {:.1} s of waiting (the whole process)",
        used.as_secs_f64() * 1e3,
        waited.as_secs_f64()
    );
}
