//! The async API on two executors (tokio's multi-thread runtime and futures' executors):
//! fanout and work-queue readers and publishers that wait as tasks, many tasks on few
//! threads, cancellation (a dropped future loses nothing and leaves no waker behind), close
//! while tasks wait, and tickets as futures.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use ringbus::{Bus, Durability, Error, Event, Record, SlowConsumerPolicy, Start, SubscribeOptions, TopicConfig};

/// A ring small enough that producers wait for room: 4 KiB holds about 100 small events.
fn small() -> TopicConfig {
    TopicConfig::new().capacity(4096).max_payload(64).max_key(0)
}

/// The next item of a stream.
async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s).poll_next(cx)).await
}

fn tokio_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_time().build().unwrap()
}

/// The futures are `Send` (tokio::spawn needs it): checked at compile time.
#[allow(dead_code)]
fn futures_are_send(s: &mut ringbus::Subscription, m: &mut ringbus::Member, p: &mut ringbus::Publisher) {
    fn send<T: Send>(_: T) {}
    send(s.poll_batch_async(1, |_| {}));
    send(m.poll_batch_async(1, |_| {}));
    send(p.publish_async(&b"x"[..]));
    send(p.publish_ticket_async(&b"x"[..]));
    send(s.stream());
}

#[test]
fn tokio_tasks_read_and_publish_through_a_small_ring() {
    const N: u64 = 20_000;
    let rt = tokio_runtime(2);
    let bus = Bus::new();
    let topic = bus.create_topic("t", small()).unwrap();
    let mut subs: Vec<_> = (0..3).map(|_| topic.subscribe(SubscribeOptions::new()).unwrap()).collect();
    let mut member = topic.group("g", Start::Earliest).unwrap().join();
    let mut readers = Vec::new();
    for mut sub in subs.drain(..) {
        readers.push(rt.spawn(async move {
            let (mut n, mut sum) = (0u64, 0u64);
            while n < N {
                n += sub
                    .poll_batch_async(64, |e| sum += u64::from_le_bytes(e.payload.try_into().unwrap()))
                    .await
                    .unwrap() as u64;
            }
            (n, sum)
        }));
    }
    readers.push(rt.spawn(async move {
        let (mut n, mut sum) = (0u64, 0u64);
        let mut events = member.stream();
        while n < N {
            let e = next(&mut events).await.unwrap().unwrap();
            sum += u64::from_le_bytes(e.payload[..].try_into().unwrap());
            n += 1;
        }
        (n, sum)
    }));
    let mut p = topic.publisher().unwrap();
    let publisher = rt.spawn(async move {
        for i in 0..N {
            p.publish_async(&i.to_le_bytes()[..]).await.unwrap();
        }
    });
    rt.block_on(publisher).unwrap();
    let expected = N * (N - 1) / 2;
    for r in readers {
        assert_eq!(rt.block_on(r).unwrap(), (N, expected));
    }
    let stats = topic.stats();
    assert!(stats.full_waits > 0, "the ring filled, so the publisher waited as a task");
    assert!(stats.task_wakes > 0);
    assert_eq!(stats.late_wakeups, 0);
}

#[test]
fn many_tasks_on_one_thread_share_it_with_their_publisher() {
    // One thread runs 50 fanout readers, 4 group members and the publisher: if any of them
    // blocked the thread instead of yielding, the others could never run.
    use futures_executor::LocalPool;
    use futures_task::LocalSpawn;
    const N: u64 = 5_000;
    let bus = Bus::new();
    let topic = bus.create_topic("t", small()).unwrap();
    let group = topic.group("g", Start::Earliest).unwrap();
    let totals = Arc::new(AtomicU64::new(0));
    let group_events = Arc::new(AtomicU64::new(0));
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    let spawn = |f: std::pin::Pin<Box<dyn Future<Output = ()>>>| spawner.spawn_local_obj(f.into()).unwrap();
    for _ in 0..50 {
        let mut sub = topic.subscribe(SubscribeOptions::new()).unwrap();
        let totals = totals.clone();
        spawn(Box::pin(async move {
            let mut n = 0;
            while n < N {
                n += sub.poll_batch_async(16, |_| {}).await.unwrap() as u64;
            }
            totals.fetch_add(n, Ordering::Relaxed);
        }));
    }
    for _ in 0..4 {
        let mut member = group.join();
        let group_events = group_events.clone();
        spawn(Box::pin(async move {
            loop {
                match member.poll_batch_async(16, |_| {}).await {
                    Ok(n) => group_events.fetch_add(n as u64, Ordering::Relaxed),
                    Err(Error::Closed) => break,
                    Err(e) => panic!("{e}"),
                };
            }
        }));
    }
    let mut p = topic.publisher().unwrap();
    let t = topic.clone();
    spawn(Box::pin(async move {
        for i in 0..N {
            p.publish_async(&i.to_le_bytes()[..]).await.unwrap();
        }
        t.close();
    }));
    let watchdog = common::Watchdog::new("many_tasks_on_one_thread", Duration::from_secs(120));
    pool.run();
    drop(watchdog);
    assert_eq!(totals.load(Ordering::Relaxed), 50 * N);
    assert_eq!(group_events.load(Ordering::Relaxed), N, "each event to exactly one member");
}

#[test]
fn a_cancelled_read_loses_nothing_and_leaves_no_waker() {
    let rt = tokio_runtime(2);
    let bus = Bus::new();
    let topic = bus.create_topic("t", small()).unwrap();
    let mut sub = topic.subscribe(SubscribeOptions::new()).unwrap();
    let mut p = topic.publisher().unwrap();
    rt.block_on(async {
        let waited = tokio::time::timeout(Duration::from_millis(50), sub.poll_batch_async(8, |_| panic!("no event")));
        assert!(waited.await.is_err(), "nothing was published: the read times out and is dropped");
        let wakes = topic.stats().task_wakes;
        p.publish(Record::new(b"after")).unwrap();
        assert_eq!(topic.stats().task_wakes, wakes, "the dropped future's waker is gone: nobody to wake");
        let mut got = Vec::new();
        sub.poll_batch_async(8, |e| got.push(e.payload.to_vec())).await.unwrap();
        assert_eq!(got, vec![b"after".to_vec()]);
    });
}

#[test]
fn a_cancelled_publish_waiting_for_room_publishes_nothing() {
    let rt = tokio_runtime(2);
    let bus = Bus::new();
    let topic = bus.create_topic("t", small()).unwrap();
    let mut sub = topic.subscribe(SubscribeOptions::new().policy(SlowConsumerPolicy::Block)).unwrap();
    let mut p = topic.publisher().unwrap();
    let mut published = 0u64;
    while p.try_publish(&published.to_le_bytes()[..]).is_ok() {
        published += 1;
    }
    rt.block_on(async {
        let last = u64::MAX.to_le_bytes();
        let waited = tokio::time::timeout(Duration::from_millis(50), p.publish_async(&last[..]));
        assert!(waited.await.is_err(), "the ring is full: the publish waits, and is dropped");
        assert_eq!(topic.stats().published, published, "a publish dropped while waiting published nothing");
        // Reading frees room; the next publish goes through.
        let mut read = Vec::new();
        let next_payload = published.to_le_bytes();
        let publish = p.publish_async(&next_payload[..]);
        let read_all = async {
            while read.len() as u64 <= published {
                sub.poll_batch_async(64, |e| read.push(u64::from_le_bytes(e.payload.try_into().unwrap())))
                    .await
                    .unwrap();
            }
        };
        let (receipt, ()) = tokio::join!(publish, read_all);
        receipt.unwrap();
        assert_eq!(read, (0..=published).collect::<Vec<_>>(), "in order, none lost, none extra");
    });
}

#[test]
fn close_ends_the_tasks_that_wait() {
    let rt = tokio_runtime(2);
    let bus = Bus::new();
    let topic = bus.create_topic("t", small()).unwrap();
    let mut waiting_readers = Vec::new();
    for _ in 0..8 {
        let mut sub = topic.subscribe(SubscribeOptions::new()).unwrap();
        waiting_readers.push(rt.spawn(async move { sub.poll_batch_async(8, |_| {}).await }));
    }
    let mut member = topic.group("g", Start::Earliest).unwrap().join();
    let waiting_member = rt.spawn(async move { next(&mut member.stream()).await.map(|e| e.map(|e: Event| e.offset)) });
    // A Block reader that never reads: the publisher fills the ring and waits for room.
    let _stuck = topic.subscribe(SubscribeOptions::new()).unwrap();
    let mut p = topic.publisher().unwrap();
    while p.try_publish(&b"fill"[..]).is_ok() {}
    let waiting_publisher = rt.spawn(async move { p.publish_async(&b"late"[..]).await });
    std::thread::sleep(Duration::from_millis(50));
    topic.close();
    for r in waiting_readers {
        // Each got the events before close (the ring's contents) or the close itself.
        match rt.block_on(r).unwrap() {
            Ok(n) => assert!(n > 0),
            Err(e) => assert!(matches!(e, Error::Closed), "{e}"),
        }
    }
    assert!(rt.block_on(waiting_member).unwrap().is_some(), "the member got an event before the close");
    assert!(matches!(rt.block_on(waiting_publisher).unwrap(), Err(Error::Closed)));
}

#[test]
fn tickets_are_futures_on_both_executors() {
    let dir = common::temp_dir("async-tickets");
    let bus = Bus::open(&dir).unwrap();
    let topic = bus
        .create_topic("t", TopicConfig::new().capacity(1 << 20).max_payload(64).durability(Durability::Sync))
        .unwrap();
    let rt = tokio_runtime(2);
    let tasks: Vec<_> = (0..4u64)
        .map(|k| {
            let mut p = topic.publisher().unwrap();
            rt.spawn(async move {
                let mut tickets = Vec::new();
                for i in 0..500u64 {
                    tickets.push(p.publish_ticket_async(&(k << 32 | i).to_le_bytes()[..]).await.unwrap());
                }
                for t in tickets {
                    t.await.unwrap();
                }
                p.publish_async(&(k << 32 | 500).to_le_bytes()[..]).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        rt.block_on(t).unwrap();
    }
    let mut p = topic.publisher().unwrap();
    let ticket = p.publish_ticket(&b"last"[..]).unwrap();
    futures_executor::block_on(ticket).unwrap();
    let stats = topic.stats();
    let log = stats.partitions[0].log.as_ref().unwrap();
    assert_eq!(log.durable_offset, log.written_offset);
    drop(p);
    drop(topic);
    drop(bus);
    let bus = Bus::open(&dir).unwrap();
    assert_eq!(common::read_all(&bus.topic("t").unwrap()).len(), 4 * 501 + 1);
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_stream_on_block_on_ends_at_close() {
    let bus = Bus::new();
    let topic = bus.create_topic("t", small()).unwrap();
    let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    let mut p = topic.publisher().unwrap();
    for i in 0..50u64 {
        p.publish(&i.to_le_bytes()[..]).unwrap();
    }
    topic.close();
    let got: Vec<u64> = futures_executor::block_on(async {
        let mut events = sub.stream();
        let mut got = Vec::new();
        while let Some(e) = next(&mut events).await {
            got.push(u64::from_le_bytes(e.unwrap().payload[..].try_into().unwrap()));
        }
        assert!(next(&mut events).await.is_none(), "an ended stream stays ended");
        got
    });
    assert_eq!(got, (0..50).collect::<Vec<_>>());
}
