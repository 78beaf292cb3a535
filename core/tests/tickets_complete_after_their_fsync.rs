//! Durability tickets: `publish_ticket` and `publish_batch_ticket` append at once; the ticket
//! (by `wait`, `is_durable` or as a future) completes once the fsync covering it has, one
//! fsync covers many tickets, and dropped tickets lose nothing. (A failed fsync reaching
//! every ticket still waiting: `failed_writes_poison_the_partition.rs`, whose faults are
//! chosen through the process environment.)

mod common;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use ringbus::{Bus, Durability, Record, TopicConfig};

fn sync_config() -> TopicConfig {
    TopicConfig::new().capacity(1 << 20).max_payload(1024).durability(Durability::Sync)
}

fn payload(i: u64) -> [u8; 8] {
    i.to_le_bytes()
}

#[test]
fn a_ticket_completes_once_its_fsync_has_and_one_fsync_covers_many() {
    let dir = common::temp_dir("tickets-complete");
    let bus = Bus::open(&dir).unwrap();
    let topic = bus.create_topic("t", sync_config()).unwrap();
    let mut p = topic.publisher().unwrap();
    const N: u64 = 4000;
    let mut tickets = VecDeque::new();
    for i in 0..N {
        let ticket = p.publish_ticket(Record::new(&payload(i))).unwrap();
        let receipt = ticket.receipt().expect("one record's ticket has a receipt");
        assert_eq!(ticket.covers().len(), 1);
        let (partition, end) = ticket.covers()[0];
        assert_eq!(partition, receipt.partition);
        assert!(end > receipt.offset, "the end offset lies past the event's offset");
        tickets.push_back(ticket);
    }
    let last_end = tickets.back().unwrap().covers()[0].1;
    for t in &tickets {
        t.wait(Some(Duration::from_secs(10))).unwrap();
        assert!(t.is_durable().unwrap());
    }
    let stats = topic.stats();
    let log = stats.partitions[0].log.as_ref().unwrap();
    assert!(log.durable_offset >= last_end, "a completed ticket's end is durable: {} < {last_end}", log.durable_offset);
    // Group commit: the publisher never waited, so each fsync covered a run of tickets.
    assert!(log.fsyncs * 2 <= N, "{} fsyncs for {N} tickets: no group commit", log.fsyncs);
    drop(p);
    drop(topic);
    drop(bus);
    let bus = Bus::open(&dir).unwrap();
    let events = common::read_all(&bus.topic("t").unwrap());
    assert_eq!(events.len() as u64, N);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.payload, payload(i as u64));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn batch_tickets_cover_every_partition_the_batch_touched() {
    let dir = common::temp_dir("tickets-batch");
    let bus = Bus::open(&dir).unwrap();
    let topic = bus.create_topic("t", sync_config().partitions(3)).unwrap();
    let mut p = topic.publisher().unwrap();
    let keys: Vec<Vec<u8>> = (0..30u32).map(|k| format!("sensor-{k}").into_bytes()).collect();
    let records: Vec<Record<'_>> = keys.iter().map(|k| Record::new(b"reading").key(k)).collect();
    let ticket = p.publish_batch_ticket(&records).unwrap();
    assert!(ticket.receipt().is_none());
    let partitions: Vec<u32> = ticket.covers().iter().map(|&(p, _)| p).collect();
    assert_eq!(partitions, vec![0, 1, 2], "30 keys reach every partition, named once each, ascending");
    futures_executor::block_on(ticket).unwrap();
    let stats = topic.stats();
    for (partition, s) in stats.partitions.iter().enumerate() {
        let log = s.log.as_ref().unwrap();
        assert_eq!(log.durable_offset, log.written_offset, "partition {partition}");
        assert!(log.durable_offset > 0, "partition {partition}");
    }
    // An empty batch's ticket is complete.
    assert!(p.publish_batch_ticket(&[]).unwrap().is_durable().unwrap());
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tickets_of_memory_and_async_topics_are_complete_at_once() {
    let bus = Bus::new();
    let topic = bus.create_topic("m", TopicConfig::new().capacity(1 << 16).max_payload(64)).unwrap();
    let mut p = topic.publisher().unwrap();
    let ticket = p.publish_ticket(Record::new(b"x")).unwrap();
    assert!(ticket.is_durable().unwrap());
    ticket.wait(Some(Duration::ZERO)).unwrap();
    assert_eq!(ticket.covers()[0].0, 0);
    futures_executor::block_on(ticket).unwrap();

    let dir = common::temp_dir("tickets-async");
    let bus = Bus::open(&dir).unwrap();
    let config = TopicConfig::new()
        .capacity(1 << 16)
        .max_payload(64)
        .durability(Durability::Async { max_delay: Duration::from_secs(3600) });
    let topic = bus.create_topic("a", config).unwrap();
    let mut p = topic.publisher().unwrap();
    let ticket = p.publish_batch_ticket(&[Record::new(b"x"), Record::new(b"y")]).unwrap();
    assert!(ticket.is_durable().unwrap(), "Async topics acknowledge without an fsync");
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A waker that does nothing.
struct Ignored;

impl Wake for Ignored {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn dropped_tickets_lose_nothing() {
    let dir = common::temp_dir("tickets-dropped");
    let bus = Bus::open(&dir).unwrap();
    let topic = bus.create_topic("t", sync_config()).unwrap();
    let mut p = topic.publisher().unwrap();
    for i in 0..1000 {
        drop(p.publish_ticket(Record::new(&payload(i))).unwrap());
    }
    // A ticket polled once (registered with the persister) and then dropped: cancellation.
    let mut ticket = Box::pin(p.publish_ticket(Record::new(&payload(1000))).unwrap());
    let waker = Waker::from(Arc::new(Ignored));
    assert!(ticket.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    drop(ticket);
    drop(p);
    drop(topic);
    drop(bus);
    let bus = Bus::open(&dir).unwrap();
    let events = common::read_all(&bus.topic("t").unwrap());
    assert_eq!(events.len(), 1001);
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn idempotent_duplicates_get_tickets_of_their_original() {
    let dir = common::temp_dir("tickets-dedup");
    let bus = Bus::open(&dir).unwrap();
    let topic = bus.create_topic("t", sync_config()).unwrap();
    let mut p = topic.publisher().unwrap();
    let first = p.publish_ticket(Record::new(b"once").producer(7, 1)).unwrap();
    let again = p.publish_ticket(Record::new(b"once").producer(7, 1)).unwrap();
    assert!(again.receipt().unwrap().duplicate);
    assert_eq!(again.receipt().unwrap().offset, first.receipt().unwrap().offset);
    futures_executor::block_on(again).unwrap();
    assert!(first.is_durable().unwrap(), "the duplicate's ticket waited for the original's fsync");
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}
