//! Shared pieces of the ringbus benchmarks: scenario runners for ringbus and its peers, each
//! returning the events every consumer counted and their checksums, so no figure comes from a
//! broken run.

pub mod ffi_cost;
pub mod peers;
pub mod persist;
pub mod pingpong;
pub mod ringbus_runs;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The delivery patterns measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// One producer, one consumer.
    Spsc,
    /// Two producers, one consumer.
    Mpsc,
    /// One producer, two consumers that each see every event.
    Fanout,
    /// One producer, two consumers that each get half.
    WorkQueue,
}

impl Scenario {
    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Spsc => "spsc",
            Scenario::Mpsc => "mpsc",
            Scenario::Fanout => "fanout",
            Scenario::WorkQueue => "workqueue",
        }
    }

    /// Producer threads.
    pub fn producers(self) -> u64 {
        if self == Scenario::Mpsc {
            2
        } else {
            1
        }
    }
}

/// One measured run.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Wall time from the first publish to the last event consumed.
    pub elapsed: Duration,
    /// Events counted by each consumer (fanout: per reader, summed; work queue: all members).
    pub consumed: u64,
    /// Sum of each consumed event's sequence number.
    pub checksum: u64,
}

/// What a correct run of `events` per producer must count in `scenario`.
pub fn expected(scenario: Scenario, events: u64) -> (u64, u64) {
    let per_producer_sum = events * (events - 1) / 2;
    let producers = scenario.producers();
    let copies = if scenario == Scenario::Fanout { 2 } else { 1 };
    (events * producers * copies, per_producer_sum * producers * copies)
}

/// Writes the sequence number into the first 8 bytes of an event.
#[inline]
pub fn stamp<const P: usize>(seq: u64) -> [u8; P] {
    let mut e = [0u8; P];
    e[..8].copy_from_slice(&seq.to_le_bytes());
    e
}

/// Reads the sequence number of an event.
#[inline]
pub fn seq_of(payload: &[u8]) -> u64 {
    u64::from_le_bytes(payload[..8].try_into().expect("payloads are at least 8 bytes"))
}

/// Waits with a short spin, then yields (how rtrb and bus users wait).
#[inline]
pub fn backoff(spins: &mut u32) {
    if *spins < 64 {
        std::hint::spin_loop();
        *spins += 1;
    } else {
        std::thread::yield_now();
    }
}

/// One-way latency of a cache line between two threads, in ns (ping-pong median of 5).
pub fn canary_ns() -> f64 {
    let flag = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (f2, s2) = (flag.clone(), stop.clone());
    let other = std::thread::spawn(move || {
        let mut expect = 1;
        while !s2.load(Ordering::Relaxed) {
            if f2.load(Ordering::Acquire) == expect {
                f2.store(expect + 1, Ordering::Release);
                expect += 2;
            }
            std::hint::spin_loop();
        }
    });
    let rounds = 2000u64;
    let mut samples = Vec::new();
    let mut next = 1;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..rounds {
            flag.store(next, Ordering::Release);
            let deadline = Instant::now() + Duration::from_millis(50);
            while flag.load(Ordering::Acquire) != next + 1 {
                std::hint::spin_loop();
                if Instant::now() > deadline {
                    break;
                }
            }
            next += 2;
        }
        samples.push(start.elapsed().as_nanos() as f64 / (2 * rounds) as f64);
    }
    stop.store(true, Ordering::Relaxed);
    other.join().expect("canary thread");
    samples.sort_by(f64::total_cmp);
    samples[2]
}
