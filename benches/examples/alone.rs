//! Publishes with no reader, then reads with no producer, and prints each side's rate: the
//! single-thread costs of the hot paths, without cross-core traffic. `CAP` sets the ring bytes;
//! `SINGLE` (any value) makes the topic single-producer. The publishing of the read phase runs
//! with a gate (the reader) in place, as publishing does in every benchmark scenario.
use std::time::{Duration, Instant};

use ringbus::{Bus, Producers, Record, Start, SubscribeOptions, TopicConfig};

fn main() {
    let n: u64 = std::env::var("EVENTS").ok().and_then(|c| c.parse().ok()).unwrap_or(20_000_000);
    let cap = std::env::var("CAP").ok().and_then(|c| c.parse().ok()).unwrap_or(1 << 21);
    let single = std::env::var("SINGLE").is_ok();
    let producers = if single { Producers::Single } else { Producers::Multi };
    let config = TopicConfig::new().capacity(cap).max_payload(256).max_key(0).producers(producers);
    let t = Bus::new().create_topic("t", config.clone()).unwrap();
    let mut p = t.publisher().unwrap();
    let payload = [1u8; 8];
    let records = [Record::new(&payload); 64];
    let start = Instant::now();
    for _ in 0..n / 64 {
        p.publish_batch(&records).unwrap();
    }
    println!("publish_batch alone: {:.1} M/s", n as f64 / start.elapsed().as_secs_f64() / 1e6);
    let start = Instant::now();
    for _ in 0..n {
        p.publish(&payload).unwrap();
    }
    println!("publish alone: {:.1} M/s", n as f64 / start.elapsed().as_secs_f64() / 1e6);
    // Reading: fill a quarter of the ring, read it, repeat.
    let t = Bus::new().create_topic("r", config).unwrap();
    let mut sub = t.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    let mut p = t.publisher().unwrap();
    let per_round = (cap / 4 / 32 / 64).max(1);
    let (mut read, mut elapsed, mut published) = (0u64, Duration::ZERO, Duration::ZERO);
    while read < n {
        let start = Instant::now();
        for _ in 0..per_round {
            p.publish_batch(&records).unwrap();
        }
        published += start.elapsed();
        let start = Instant::now();
        let mut k = 0;
        while k < per_round * 64 {
            k += sub
                .poll_batch(1024, Some(Duration::ZERO), |e| {
                    std::hint::black_box(e.payload);
                })
                .unwrap();
        }
        elapsed += start.elapsed();
        read += k as u64;
    }
    println!("poll_batch alone: {:.1} M/s", read as f64 / elapsed.as_secs_f64() / 1e6);
    println!("publish_batch alone, gated: {:.1} M/s", read as f64 / published.as_secs_f64() / 1e6);
}
