//! What `Bus::metrics` costs: `cargo run --release -p ringbus-benches --bin metrics_render`.
//!
//! A persisted topic of 64 partitions (Async) with 16 readers (8 subscriptions, 8 groups),
//! each lagging by about 100 events per partition, and a memory topic beside it; renders the
//! metrics 500 times and reports the median and p99 time per render. Each render is checked:
//! it parses line by line and counts the events published.

use std::time::{Duration, Instant};

use ringbus::{Bus, Durability, Record, Start, SubscribeOptions, TopicConfig};

fn main() {
    let dir = ringbus_benches::persist::data_dir("metrics");
    let bus = Bus::open(&dir).expect("open");
    let config = TopicConfig::new()
        .partitions(64)
        .capacity(1 << 20)
        .max_payload(64)
        .durability(Durability::Async { max_delay: Duration::from_millis(10) });
    let topic = bus.create_topic("readings", config).expect("topic");
    let memory =
        bus.create_topic("alerts", TopicConfig::new().partitions(4).capacity(1 << 16).max_payload(64)).expect("topic");
    let subs: Vec<_> =
        (0..8).map(|_| topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).expect("subscribe")).collect();
    let groups: Vec<_> = (0..8).map(|g| topic.group(&format!("g{g}"), Start::Earliest).expect("group")).collect();
    let members: Vec<_> = groups.iter().map(|g| g.join()).collect();
    let mut p = topic.publisher().expect("publisher");
    let keys: Vec<String> = (0..6400).map(|k| format!("sensor-{k}")).collect();
    for k in &keys {
        p.publish(Record::new(b"21.5").key(k.as_bytes())).expect("publish");
    }
    memory.publisher().expect("publisher").publish(&b"x"[..]).expect("publish");
    topic.flush(None).expect("flush");
    let published = keys.len() as u64;
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..500 {
        let t = Instant::now();
        let text = bus.metrics();
        times.push(t.elapsed());
        bytes = text.len();
        let counted: u64 = text
            .lines()
            .filter(|l| l.starts_with("ringbus_published_total{topic=\"readings\""))
            .map(|l| l.rsplit(' ').next().expect("a value").parse::<u64>().expect("a number"))
            .sum();
        assert_eq!(counted, published, "the rendered counters add up to what was published");
        assert!(text.ends_with("# EOF\n"));
    }
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "Bus::metrics, 64 + 4 partitions, 16 readers lagging 100 events per partition: median {:.0} us, p99 {:.0} us, \
         {} KB of text (target < 1000 us)",
        us(times[times.len() / 2]),
        us(times[times.len() * 99 / 100]),
        bytes / 1000
    );
    drop((subs, members, groups, p));
    drop(bus);
    let _ = std::fs::remove_dir_all(&dir);
}
