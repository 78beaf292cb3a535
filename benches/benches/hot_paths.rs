//! criterion micro-benchmarks of ringbus's hot paths on one thread: publish, batch publish,
//! claim/commit, and poll. A Block subscription drains the ring between iterations (counted
//! and checked), so the ring never fills and every iteration does the same work.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringbus::{Bus, Record, Start, SubscribeOptions, TopicConfig};

const BATCH: usize = 64;

fn topic() -> ringbus::Topic {
    Bus::new().create_topic("bench", TopicConfig::new().capacity(1 << 22).max_payload(256).max_key(16)).unwrap()
}

fn drain(sub: &mut ringbus::Subscription) -> u64 {
    let mut n = 0;
    while let Ok(k) = sub.poll_batch(4096, Some(Duration::ZERO), |e| {
        black_box(e.payload);
    }) {
        if k == 0 {
            break;
        }
        n += k as u64;
    }
    n
}

fn hot_paths(c: &mut Criterion) {
    let mut group = c.benchmark_group("hot_paths");
    let payload = [7u8; 8];

    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("publish_8B_x64", |b| {
        let t = topic();
        let mut sub = t.subscribe(SubscribeOptions::new()).unwrap();
        let mut p = t.publisher().unwrap();
        let mut published = 0u64;
        b.iter(|| {
            for _ in 0..BATCH {
                p.publish(black_box(&payload)).unwrap();
            }
            published += BATCH as u64;
            assert_eq!(drain(&mut sub), BATCH as u64);
        });
        assert_eq!(t.stats().published, published);
    });

    group.bench_function("publish_batch_8B_x64", |b| {
        let t = topic();
        let mut sub = t.subscribe(SubscribeOptions::new()).unwrap();
        let mut p = t.publisher().unwrap();
        let records = [Record::new(&payload); BATCH];
        b.iter(|| {
            p.publish_batch(black_box(&records)).unwrap();
            assert_eq!(drain(&mut sub), BATCH as u64);
        });
    });

    group.bench_function("claim_commit_8B_x64", |b| {
        let t = topic();
        let mut sub = t.subscribe(SubscribeOptions::new()).unwrap();
        let mut p = t.publisher().unwrap();
        b.iter(|| {
            for i in 0..BATCH {
                let mut claim = p.claim(8).unwrap();
                claim.copy_from_slice(&(i as u64).to_le_bytes());
                claim.commit().expect("commit");
            }
            assert_eq!(drain(&mut sub), BATCH as u64);
        });
    });

    group.bench_function("poll_8B_x64", |b| {
        let t = topic();
        let mut sub = t.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
        let mut p = t.publisher().unwrap();
        let records = [Record::new(&payload); BATCH];
        b.iter(|| {
            p.publish_batch(&records).unwrap();
            let mut n = 0;
            while let Some(e) = sub.try_poll().unwrap() {
                black_box(e.payload);
                n += 1;
            }
            assert_eq!(n, BATCH);
        });
    });
    group.finish();
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
