//! Every fanout subscription sees every event, in order per partition, from its start.

use std::time::Duration;

use ringbus::{Bus, Error, Record, Start, SubscribeOptions, TopicConfig};

fn topic(partitions: u32) -> ringbus::Topic {
    Bus::new()
        .create_topic("t", TopicConfig::new().partitions(partitions).capacity(1 << 16).max_payload(1024).max_key(64))
        .unwrap()
}

#[test]
fn two_subscriptions_each_see_all_events_in_order() {
    let t = topic(1);
    let mut a = t.subscribe(SubscribeOptions::new()).unwrap();
    let mut b = t.subscribe(SubscribeOptions::new()).unwrap();
    let mut p = t.publisher().unwrap();
    let mut offsets = Vec::new();
    for i in 0..1000u32 {
        offsets.push(p.publish(&i.to_le_bytes()).unwrap().offset);
    }
    for sub in [&mut a, &mut b] {
        for (i, off) in offsets.iter().enumerate() {
            let e = sub.try_poll().unwrap().expect("event");
            assert_eq!(e.payload, (i as u32).to_le_bytes());
            assert_eq!(e.offset, *off);
            assert_eq!(e.partition, 0);
            assert!(e.timestamp > 1_600_000_000_000_000_000, "timestamp is ns since the epoch");
        }
        assert!(sub.try_poll().unwrap().is_none());
    }
}

#[test]
fn start_positions() {
    let t = topic(1);
    let mut p = t.publisher().unwrap();
    let first = p.publish(Record::new(b"zero").timestamp(7)).unwrap();
    let second = p.publish(b"one").unwrap();
    let mut latest = t.subscribe(SubscribeOptions::new().start(Start::Latest)).unwrap();
    let mut earliest = t.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    let mut at = t.subscribe(SubscribeOptions::new().start(Start::Offset(second.offset))).unwrap();
    p.publish(b"two").unwrap();

    let e = earliest.try_poll().unwrap().unwrap();
    assert_eq!((e.payload, e.timestamp, e.offset), (&b"zero"[..], 7, first.offset));
    assert_eq!(e.next_offset(), second.offset);
    assert_eq!(earliest.try_poll().unwrap().unwrap().payload, b"one");
    assert_eq!(at.try_poll().unwrap().unwrap().payload, b"one");
    assert_eq!(latest.try_poll().unwrap().unwrap().payload, b"two");

    // Offsets that are not an event's start, or past the end, are errors.
    let bad = t.subscribe(SubscribeOptions::new().start(Start::Offset(second.offset + 8)));
    assert!(matches!(bad, Err(Error::NotAnEventOffset { .. })), "{bad:?}");
    let beyond = t.subscribe(SubscribeOptions::new().start(Start::Offset(1 << 40)));
    assert!(matches!(beyond, Err(Error::OffsetBeyondEnd { .. })), "{beyond:?}");
}

#[test]
fn keys_choose_partitions_stably_and_order_holds_per_partition() {
    let t = topic(4);
    let mut sub = t.subscribe(SubscribeOptions::new()).unwrap();
    let mut p = t.publisher().unwrap();
    for i in 0..400u32 {
        let key = format!("sensor-{}", i % 10);
        let r = p.publish(Record::new(&i.to_le_bytes()).key(key.as_bytes())).unwrap();
        assert_eq!(r.partition, ringbus::partition_for_key(key.as_bytes(), 4));
    }
    let mut last_per_key = std::collections::HashMap::new();
    let mut n = 0;
    while sub
        .poll_batch(64, Some(Duration::from_millis(10)), |e| {
            let i = u32::from_le_bytes(e.payload.try_into().unwrap());
            let key = e.key.unwrap().to_vec();
            assert_eq!(key, format!("sensor-{}", i % 10).into_bytes());
            if let Some(prev) = last_per_key.insert(key, i) {
                assert!(prev < i, "order within a key's partition");
            }
            n += 1;
        })
        .unwrap()
        > 0
    {}
    assert_eq!(n, 400);
}

#[test]
fn owned_iterator_ends_after_close() {
    let t = topic(2);
    let mut sub = t.subscribe(SubscribeOptions::new()).unwrap();
    let mut p = t.publisher().unwrap();
    for i in 0..50u8 {
        p.publish(Record::new(&[i]).partition(u32::from(i % 2))).unwrap();
    }
    t.close();
    let events: Vec<_> = sub.iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(events.len(), 50);
    assert!(matches!(p.publish(b"late"), Err(Error::Closed)));
}

#[test]
fn zero_copy_claim_and_empty_payloads() {
    let t = topic(1);
    let mut sub = t.subscribe(SubscribeOptions::new()).unwrap();
    let mut p = t.publisher().unwrap();
    let mut claim = p.claim(5).unwrap();
    assert_eq!(&claim[..], &[0; 5]);
    claim.copy_from_slice(b"hello");
    let receipt = claim.commit().unwrap();
    {
        let abandoned = p.claim(100).unwrap();
        drop(abandoned); // becomes padding that readers skip
    }
    p.publish(b"").unwrap();
    let mut keyed = p.claim_record(Record::new(&[]).key(b"k").timestamp(42), 3, None).unwrap();
    keyed.copy_from_slice(b"abc");
    keyed.commit().unwrap();

    let e = sub.try_poll().unwrap().unwrap();
    assert_eq!((e.payload, e.offset), (&b"hello"[..], receipt.offset));
    assert_eq!(sub.try_poll().unwrap().unwrap().payload, b"");
    let e = sub.try_poll().unwrap().unwrap();
    assert_eq!((e.key, e.payload, e.timestamp), (Some(&b"k"[..]), &b"abc"[..], 42));
    assert!(sub.try_poll().unwrap().is_none());
}

#[test]
fn readiness_tells_another_thread_when_to_poll() {
    let t = topic(2);
    let mut sub = t.subscribe(SubscribeOptions::new()).unwrap();
    let ready = sub.readiness();
    assert!(!ready.is_ready());
    assert!(!ready.wait(Some(std::time::Duration::from_millis(20))));
    let waiter = std::thread::spawn(move || ready.wait(Some(std::time::Duration::from_secs(5))));
    std::thread::sleep(std::time::Duration::from_millis(20));
    t.publisher().unwrap().publish(b"x").unwrap();
    assert!(waiter.join().unwrap(), "woken by the publish");
    let ready = sub.readiness();
    assert!(ready.is_ready());
    assert!(sub.try_poll().unwrap().is_some());
    assert!(!ready.is_ready(), "read everything: not ready");
    t.close();
    assert!(ready.is_ready(), "closed: ready, so that the reader learns it");
    let g = t.group("g", Start::Earliest).unwrap();
    assert!(g.join().readiness().is_ready());
}

#[test]
fn poll_batch_while_leaves_the_events_after_a_stop_unread() {
    use ringbus::SlowConsumerPolicy;
    let topic = Bus::new().create_topic("stop", TopicConfig::new()).unwrap();
    let mut block = topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    let mut copying =
        topic.subscribe(SubscribeOptions::new().start(Start::Earliest).policy(SlowConsumerPolicy::DropOldest)).unwrap();
    let mut member = topic.group("g", Start::Earliest).unwrap().join();
    let mut p = topic.publisher().unwrap();
    for i in 0u64..10 {
        p.publish(&i.to_le_bytes()).unwrap();
    }
    let value = |payload: &[u8]| u64::from_le_bytes(payload.try_into().unwrap());
    // Each reader as "poll a batch, handing each value to a callback that may stop".
    type Read = Box<dyn FnMut(&mut dyn FnMut(u64) -> bool) -> usize>;
    let mut reads: Vec<Read> = vec![
        Box::new(move |f| block.poll_batch_while(100, Some(Duration::ZERO), |e| f(value(e.payload))).unwrap()),
        Box::new(move |f| copying.poll_batch_while(100, Some(Duration::ZERO), |e| f(value(e.payload))).unwrap()),
        Box::new(move |f| member.poll_batch_while(100, Some(Duration::ZERO), |e| f(value(e.payload))).unwrap()),
    ];
    for read in &mut reads {
        let mut first = Vec::new();
        // Stop at 3: it is handled, 4.. stay for the next call.
        assert_eq!(
            read(&mut |v| {
                first.push(v);
                v != 3
            }),
            4
        );
        assert_eq!(first, [0, 1, 2, 3]);
        let mut rest = Vec::new();
        assert_eq!(
            read(&mut |v| {
                rest.push(v);
                true
            }),
            6
        );
        assert_eq!(rest, (4..10).collect::<Vec<_>>());
    }
}
