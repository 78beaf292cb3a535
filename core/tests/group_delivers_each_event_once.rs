//! A work-queue group hands each event to exactly one member, also when members leave.

use std::collections::HashSet;
use std::time::Duration;

use ringbus::{Bus, Record, Start, TopicConfig};

fn payload_id(p: &[u8]) -> u64 {
    u64::from_le_bytes(p.try_into().unwrap())
}

#[test]
fn two_members_share_the_events() {
    let t = Bus::new()
        .create_topic("jobs", TopicConfig::new().partitions(2).capacity(1 << 16).max_payload(64).max_key(16))
        .unwrap();
    let g = t.group("workers", Start::Earliest).unwrap();
    let mut a = g.join();
    let mut b = g.join();
    let mut p = t.publisher().unwrap();
    for i in 0..2000u64 {
        p.publish(Record::new(&i.to_le_bytes()).partition((i % 2) as u32)).unwrap();
    }
    let mut seen = HashSet::new();
    let (mut na, mut nb) = (0, 0);
    loop {
        let ka = a.poll_batch(7, Some(Duration::ZERO), |e| assert!(seen.insert(payload_id(e.payload)))).unwrap();
        let kb = b.poll_batch(5, Some(Duration::ZERO), |e| assert!(seen.insert(payload_id(e.payload)))).unwrap();
        na += ka;
        nb += kb;
        if ka + kb == 0 {
            break;
        }
    }
    assert_eq!(seen.len(), 2000);
    assert!(na > 0 && nb > 0, "both members worked: {na} {nb}");
}

#[test]
fn a_member_leaving_mid_run_loses_nothing() {
    let t = Bus::new().create_topic("jobs", TopicConfig::new().capacity(1 << 16).max_payload(64).max_key(16)).unwrap();
    let g = t.group("workers", Start::Earliest).unwrap();
    let mut p = t.publisher().unwrap();
    for i in 0..100u64 {
        p.publish(&i.to_le_bytes()).unwrap();
    }
    let mut seen = Vec::new();
    {
        let mut quitter = g.join();
        // poll() claims a run of up to 32 events; take 3, then leave.
        for _ in 0..3 {
            seen.push(payload_id(quitter.try_poll().unwrap().unwrap().payload));
        }
    }
    let mut stayer = g.join();
    while let Some(e) = stayer.try_poll().unwrap() {
        seen.push(payload_id(e.payload));
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..100).collect::<Vec<_>>());
}

#[test]
fn same_name_is_the_same_group_and_groups_gate_producers() {
    let t = Bus::new().create_topic("jobs", TopicConfig::new().capacity(4096).max_payload(64).max_key(16)).unwrap();
    let g1 = t.group("g", Start::Latest).unwrap();
    let g2 = t.group("g", Start::Latest).unwrap();
    let mut m1 = g1.join();
    let mut m2 = g2.join();
    let mut p = t.publisher().unwrap();
    let mut published = 0u64;
    while p.try_publish(&published.to_le_bytes()).is_ok() {
        published += 1;
    }
    assert!(published > 10 && published <= 4096 / 32, "the group held the producer back at {published}");
    let lag = t.stats().readers.iter().find(|r| matches!(r.kind, ringbus::ReaderKind::Group { .. })).unwrap().lag;
    assert_eq!(lag, published);
    let mut got = 0;
    while m1.try_poll().unwrap().is_some() {
        got += 1;
    }
    while m2.try_poll().unwrap().is_some() {
        got += 1;
    }
    assert_eq!(got, published);
    assert!(p.try_publish(b"room again").is_ok());
}
