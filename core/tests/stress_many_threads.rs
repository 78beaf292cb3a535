//! N producers (or one, on a single-producer topic), M fanout readers and K group members on several partitions, on real threads:
//! every reader gets each producer's events complete, in order within a partition and
//! byte-identical; the group sees every event exactly once in total. Run for each wait
//! strategy (threads outnumber this machine's cores).
//!
//! `RINGBUS_STRESS_EVENTS` sets events per producer (default 20 000).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use ringbus::{
    Bus, EventRef, Producers, Record, SlowConsumerPolicy, Start, SubscribeOptions, TopicConfig, WaitStrategy,
};

const READERS: usize = 2;
const MEMBERS: usize = 2;
const PARTITIONS: u32 = 4;

fn events_per_producer() -> u64 {
    std::env::var("RINGBUS_STRESS_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
}

/// Payload: producer u32, seq u64, body of (seq % 97) bytes, checksum u64 over all before it.
fn encode(producer: u32, seq: u64, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&producer.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    for i in 0..(seq % 97) {
        out.push((seq.wrapping_mul(31) ^ i ^ u64::from(producer)) as u8);
    }
    let sum = checksum(out);
    out.extend_from_slice(&sum.to_le_bytes());
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Decodes and verifies a payload; returns (producer, seq).
fn decode(e: &EventRef<'_>) -> (u32, u64) {
    let p = e.payload;
    assert!(p.len() >= 20, "short payload");
    let (body, sum) = p.split_at(p.len() - 8);
    assert_eq!(checksum(body), u64::from_le_bytes(sum.try_into().unwrap()), "checksum");
    let producer = u32::from_le_bytes(p[0..4].try_into().unwrap());
    let seq = u64::from_le_bytes(p[4..12].try_into().unwrap());
    let mut expect = Vec::new();
    encode(producer, seq, &mut expect);
    assert_eq!(p, &expect[..], "bytes identical");
    let key = e.key.expect("keyed");
    assert_eq!(key, key_for(producer, seq).as_bytes());
    (producer, seq)
}

fn key_for(producer: u32, seq: u64) -> String {
    format!("p{producer}-k{}", seq % 5)
}

fn run(wait: WaitStrategy, producers: u32, mode: Producers) {
    let n = events_per_producer();
    let bus = Bus::new();
    let topic = bus
        .create_topic(
            "stress",
            TopicConfig::new()
                .partitions(PARTITIONS)
                .capacity(1 << 14)
                .max_payload(256)
                .max_key(32)
                .wait(wait)
                .producers(mode),
        )
        .unwrap();
    let group = topic.group("workers", Start::Earliest).unwrap();
    let readers: Vec<_> =
        (0..READERS).map(|_| topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap()).collect();
    let mut lossy =
        topic.subscribe(SubscribeOptions::new().start(Start::Earliest).policy(SlowConsumerPolicy::DropOldest)).unwrap();
    let members: Vec<_> = (0..MEMBERS).map(|_| group.join()).collect();
    drop(group);

    let mut handles = Vec::new();
    for mut sub in readers {
        handles.push(thread::spawn(move || {
            // (producer, partition) -> last seq; producer -> count
            let mut last: HashMap<(u32, u32), u64> = HashMap::new();
            let mut count = vec![0u64; producers as usize];
            loop {
                match sub.poll_batch(256, Some(Duration::from_secs(30)), |e| {
                    let (producer, seq) = decode(&e);
                    if let Some(prev) = last.insert((producer, e.partition), seq) {
                        assert!(seq > prev, "order within a partition");
                    }
                    count[producer as usize] += 1;
                }) {
                    Ok(0) => panic!("reader stalled"),
                    Ok(_) => {}
                    Err(ringbus::Error::Closed) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            count
        }));
    }
    let lossy_handle = thread::spawn(move || {
        let (mut seen, mut lost) = (0u64, 0u64);
        loop {
            match lossy.poll(Some(Duration::from_secs(30))) {
                Ok(Some(e)) => {
                    decode(&e); // a lapped reader never returns torn bytes
                    seen += 1;
                }
                Ok(None) => panic!("lossy reader stalled"),
                Err(ringbus::Error::Lagged { lost: l, .. }) => lost += l,
                Err(ringbus::Error::Closed) => break,
                Err(e) => panic!("{e}"),
            }
        }
        (seen, lost)
    });
    let group_seen = Arc::new(Mutex::new(Vec::new()));
    for mut member in members {
        let group_seen = group_seen.clone();
        handles.push(thread::spawn(move || {
            let mut mine = Vec::new();
            loop {
                match member.poll_batch(64, Some(Duration::from_secs(30)), |e| mine.push(decode(&e))) {
                    Ok(0) => panic!("member stalled"),
                    Ok(_) => {}
                    Err(ringbus::Error::Closed) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            group_seen.lock().unwrap().extend(mine);
            Vec::new()
        }));
    }
    let handles_p: Vec<_> = (0..producers)
        .map(|id| {
            let mut publisher = topic.publisher().unwrap();
            thread::spawn(move || {
                let mut buf = Vec::new();
                let mut batch_bufs: Vec<Vec<u8>> = (0..8).map(|_| Vec::new()).collect();
                let mut seq = 0;
                while seq < n {
                    if seq % 3 == 0 && seq + 8 <= n {
                        // a batch of 8 (the key varies, so it spans partitions)
                        let keys: Vec<String> = (0..8).map(|i| key_for(id, seq + i)).collect();
                        for (i, b) in batch_bufs.iter_mut().enumerate() {
                            encode(id, seq + i as u64, b);
                        }
                        let records: Vec<Record<'_>> =
                            batch_bufs.iter().zip(&keys).map(|(b, k)| Record::new(b).key(k.as_bytes())).collect();
                        publisher.publish_batch(&records).unwrap();
                        seq += 8;
                    } else if seq % 3 == 1 {
                        encode(id, seq, &mut buf);
                        let key = key_for(id, seq);
                        let mut claim =
                            publisher.claim_record(Record::new(&[]).key(key.as_bytes()), buf.len(), None).unwrap();
                        claim.copy_from_slice(&buf);
                        claim.commit().expect("commit");
                        seq += 1;
                    } else {
                        encode(id, seq, &mut buf);
                        publisher.publish(Record::new(&buf).key(key_for(id, seq).as_bytes())).unwrap();
                        seq += 1;
                    }
                }
            })
        })
        .collect();
    for p in handles_p {
        p.join().unwrap();
    }
    topic.close();
    for h in handles.into_iter().take(READERS) {
        let count = h.join().unwrap();
        assert_eq!(count, vec![n; producers as usize], "a fanout reader got every event");
    }
    let (seen, lost) = lossy_handle.join().unwrap();
    assert_eq!(seen + lost, n * u64::from(producers), "the lossy reader saw or counted every event");
    let mut all = group_seen.lock().unwrap().clone();
    // members joined in the remaining handles; wait for them via the Arc count
    while Arc::strong_count(&group_seen) > 1 {
        thread::sleep(Duration::from_millis(5));
        all = group_seen.lock().unwrap().clone();
    }
    all.sort_unstable();
    let expect: Vec<(u32, u64)> = (0..producers).flat_map(|p| (0..n).map(move |s| (p, s))).collect();
    assert_eq!(all.len(), expect.len(), "the group saw every event exactly once");
    assert_eq!(all, expect);
    let stats = topic.stats();
    assert_eq!(stats.published, n * u64::from(producers));
    assert_eq!(stats.late_wakeups, 0, "every sleeper was woken by what it waited for");
}

#[test]
fn stress_park() {
    run(WaitStrategy::Park, 3, Producers::Multi);
}

#[test]
fn stress_yield() {
    run(WaitStrategy::Yield, 3, Producers::Multi);
}

#[test]
fn stress_busy_spin() {
    run(WaitStrategy::BusySpin, 3, Producers::Multi);
}

#[test]
fn stress_single_producer() {
    run(WaitStrategy::Park, 1, Producers::Single);
}
