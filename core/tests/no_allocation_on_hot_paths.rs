//! Publishing and polling never allocate: a counting global allocator proves it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ringbus::{Bus, Record, SlowConsumerPolicy, Start, SubscribeOptions, TopicConfig};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn publish_and_poll_do_not_allocate() {
    let t = Bus::new()
        .create_topic("t", TopicConfig::new().partitions(2).capacity(1 << 16).max_payload(256).max_key(16))
        .unwrap();
    let mut block = t.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    let mut lossy = t.subscribe(SubscribeOptions::new().policy(SlowConsumerPolicy::DropOldest)).unwrap();
    let group = t.group("g", Start::Earliest).unwrap();
    let mut member = group.join();
    let mut p = t.publisher().unwrap();
    let payload = [7u8; 200];
    let batch = [Record::new(&payload), Record::new(&payload[..8]).key(b"k"), Record::new(b"")];
    // A batch longer than any internal buffer, with every small payload length.
    let long: Vec<Record<'_>> = (0..100).map(|i| Record::new(&payload[..i])).collect();
    // Warm up: the lossy reader's copy buffer grows once to the largest event.
    p.publish(Record::new(&payload).key(b"sensor")).unwrap();
    lossy.try_poll().unwrap();
    block.try_poll().unwrap();
    member.try_poll().unwrap();

    let before = ALLOCS.load(Ordering::Relaxed);
    let mut seen = 0usize;
    for round in 0..2000u32 {
        p.publish(Record::new(&payload[..(round % 200) as usize]).key(b"sensor")).unwrap();
        p.try_publish(&payload[..8]).unwrap();
        assert!(p.publish_ticket(&payload[..16]).unwrap().is_durable().unwrap());
        p.publish_batch(&batch).unwrap();
        if round % 100 == 0 {
            p.publish_batch(&long).unwrap();
        }
        let mut claim = p.claim(16).unwrap();
        claim[0] = 1;
        claim.commit().expect("commit");
        seen += block.poll_batch(64, Some(Duration::ZERO), |e| assert!(e.payload.len() <= 200)).unwrap();
        while let Some(e) = block.try_poll().unwrap() {
            seen += usize::from(e.payload.len() <= 200);
        }
        while let Ok(Some(_)) = lossy.try_poll() {}
        seen += member.poll_batch(64, Some(Duration::ZERO), |_| {}).unwrap();
        while member.try_poll().unwrap().is_some() {
            seen += 1;
        }
    }
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "allocations on the publish and poll paths");
    assert_eq!(seen, 2 * (2000 * 7 + 20 * 100), "both the subscription and the group saw everything");
}
