//! Power cuts at random operations, under the power-loss simulator (`ringbus::powerloss`, the
//! `power-loss` feature; see `core/src/log/powerloss.rs` for its model of the page cache and
//! what a cut keeps: durable data, plus any subset of the unsynced 4 KiB pages, the last one
//! perhaps torn at a sector, plus any subset of the directory changes not yet fsynced).
//!
//! Each round opens the data directory the previous round's cut left (so recovery runs under
//! the simulator too, and a cut can land inside it), drives one seeded workload from one
//! thread, and cuts the power at a random change:
//!
//! - `Sync` publishes (single and batches) to a topic with 2 partitions, small segments that
//!   rotate and retention by bytes that deletes them;
//! - `Async { max_delay: 5 ms }` publishes to a second topic;
//! - idempotent publishes (and retries of them) on the `Sync` topic;
//! - durable groups on both topics, committing.
//!
//! After the cut the surviving image is written out and opened by a plain bus, which must
//! succeed every time. Then:
//!
//! - every `Sync`-acknowledged event is there, at its offset, byte-identical (unless retention
//!   deleted its segment);
//! - every event delivered verifies (a checksum over the payload) and was published: no torn
//!   event, nothing invented;
//! - everything that an earlier recovery delivered is still there;
//! - an `Async`-acknowledged event acknowledged more than `max_delay` plus a scheduling slack
//!   before the cut is there;
//! - group offsets point at or below the end of the log, and at or above what a commit
//!   acknowledged;
//! - a retry of an idempotent producer's last acknowledged record is still dropped as a
//!   duplicate.
//!
//! `RINGBUS_POWER_ROUNDS` sets the rounds (default 50; a soak is one variable away, for example
//! 1000). `RINGBUS_POWER_SEED` replays a run: every choice of the workload and of the cut
//! follows from it (the persister thread's timing may still differ).
#![cfg(feature = "power-loss")]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Rng;
use ringbus::powerloss::Simulator;
use ringbus::{Bus, Durability, Error, Record, Start, SubscribeOptions, TopicConfig};

const SYNC: &str = "sync";
const ASYNC: &str = "async";
const MAX_DELAY: Duration = Duration::from_millis(5);
/// What the check allows on top of `max_delay` for the persister thread to be scheduled.
const SLACK: Duration = Duration::from_millis(250);
/// Idempotent producers: one per partition of the `Sync` topic.
const PRODUCER: u64 = 70;

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Event `seq` of `stream`: `stream`, `seq`, a body whose length follows from them, and a
/// checksum of all that, so a torn or mixed-up event cannot pass.
fn payload(stream: u32, seq: u64) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&stream.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    let len = (seq.wrapping_mul(2_654_435_761) >> 7) % 700;
    v.extend((0..len).map(|i| (i as u8).wrapping_mul(31) ^ (seq as u8) ^ (stream as u8)));
    let sum = fnv(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

/// `(stream, seq)` of a payload that verifies.
fn parse(p: &[u8]) -> Option<(u32, u64)> {
    if p.len() < 20 {
        return None;
    }
    let (body, sum) = p.split_at(p.len() - 8);
    if fnv(body).to_le_bytes() != sum {
        return None;
    }
    let id = (u32::from_le_bytes(body[0..4].try_into().ok()?), u64::from_le_bytes(body[4..12].try_into().ok()?));
    (payload(id.0, id.1) == p).then_some(id)
}

fn sync_config() -> TopicConfig {
    TopicConfig::new()
        .partitions(2)
        .capacity(8 << 10)
        .max_payload(1024)
        .max_key(16)
        .segment_bytes(16 << 10)
        .retention_bytes(40 << 10)
        .durability(Durability::Sync)
}

fn async_config() -> TopicConfig {
    TopicConfig::new()
        .partitions(1)
        .capacity(8 << 10)
        .max_payload(1024)
        .max_key(16)
        .segment_bytes(16 << 10)
        .durability(Durability::Async { max_delay: MAX_DELAY })
}

/// What the rounds carry from one to the next.
#[derive(Default)]
struct Ledger {
    /// Streams numbered from here on are new (each publish gets its own stream id space).
    next_stream: u32,
    /// Every (stream, seq) ever attempted, per topic.
    attempted: HashMap<&'static str, HashSet<(u32, u64)>>,
    /// `Sync`-acknowledged events: (partition, offset) -> payload.
    sync_acked: BTreeMap<(u32, u64), Vec<u8>>,
    /// `Async`-acknowledged events of the current round: (offset, when, payload).
    async_acked: Vec<(u64, Instant, Vec<u8>)>,
    /// What the last recovery delivered, per topic: (partition, offset) -> payload.
    recovered: HashMap<&'static str, BTreeMap<(u32, u64), Vec<u8>>>,
    /// The highest offsets a group commit acknowledged, per topic.
    committed: HashMap<&'static str, Vec<u64>>,
    /// Per partition of the `Sync` topic: the idempotent producer's last acknowledged sequence
    /// and its offset.
    idempotent: HashMap<u32, (u64, u64)>,
    next_sequence: HashMap<u32, u64>,
    /// Whether each topic's creation was acknowledged.
    created: HashSet<&'static str>,
}

#[derive(Default, Debug)]
struct Totals {
    rounds: u64,
    cuts_in_recovery: u64,
    sync_acked_checked: u64,
    async_acked_checked: u64,
    events_delivered: u64,
    losses: u64,
    torn_delivered: u64,
    duplicates_dropped_after_recovery: u64,
    pages_kept: u64,
    pages_lost: u64,
    pages_torn: u64,
    entries_kept: u64,
    entries_lost: u64,
}

fn topic_or_create(bus: &Bus, name: &'static str, ledger: &mut Ledger) -> Result<ringbus::Topic, Error> {
    if let Some(t) = bus.topic(name) {
        return Ok(t);
    }
    assert!(!ledger.created.contains(name), "topic {name:?} was created (acknowledged) but is gone after recovery");
    let config = if name == SYNC { sync_config() } else { async_config() };
    let t = bus.create_topic(name, config)?;
    ledger.created.insert(name);
    Ok(t)
}

/// One round: opens `dir` under a simulator seeded with `seed`, works until the cut, and
/// writes what survived to `out`.
fn run_round(dir: &Path, out: &Path, seed: u64, ledger: &mut Ledger, totals: &mut Totals) -> Instant {
    let sim = Simulator::attach(dir, seed).expect("attach the simulator");
    let mut rng = Rng(seed);
    // Mostly during the workload; one round in eight inside recovery (the first changes).
    let cut_at = if rng.below(8) == 0 { 1 + rng.below(12) } else { 1 + rng.below(400) };
    sim.cut_at_operation(cut_at);
    // One round in four waits long enough before its cut that its `Async` events must persist.
    let quiet_before_cut = rng.below(4) == 0;
    ledger.async_acked.clear();
    let result = workload(dir, &sim, &mut rng, ledger, quiet_before_cut);
    if let Err(e) = &result {
        assert!(sim.is_cut(), "seed {seed}: failed with the power on: {e}");
    }
    if !sim.is_cut() {
        sim.cut();
    }
    let report = sim.report().expect("cut");
    let unseen = sim.unseen_changes();
    assert!(unseen.is_empty(), "seed {seed}: changes the simulator did not see: {unseen:?}");
    if report.operations < 12 && result.is_err() {
        totals.cuts_in_recovery += 1;
    }
    totals.pages_kept += report.pages_kept;
    totals.pages_lost += report.pages_lost;
    totals.pages_torn += report.pages_torn;
    totals.entries_kept += report.entries_kept;
    totals.entries_lost += report.entries_lost;
    sim.write_image(out).expect("write the image");
    sim.cut_time().expect("cut")
}

/// The round's work until the power goes (an error) or its steps run out.
fn workload(dir: &Path, sim: &Simulator, rng: &mut Rng, ledger: &mut Ledger, quiet: bool) -> Result<(), Error> {
    let bus = Bus::open(dir)?;
    let sync = topic_or_create(&bus, SYNC, ledger)?;
    let asyn = topic_or_create(&bus, ASYNC, ledger)?;
    let sync_group = sync.group("audit", Start::Earliest)?;
    let async_group = asyn.group("audit", Start::Earliest)?;
    let mut sync_member = sync_group.join();
    let mut async_member = async_group.join();
    let mut sp = sync.publisher()?;
    // A reopened topic remembers idempotent producers from what its log holds when it opens.
    let kept_at_open: Vec<u64> =
        sync.stats().partitions.iter().map(|p| p.log.as_ref().expect("persisted").earliest_offset).collect();
    let mut ap = asyn.publisher()?;
    let stream = ledger.next_stream;
    ledger.next_stream += 1;
    let mut seq = 0u64;
    let mut next = |ledger: &mut Ledger, topic: &'static str| {
        seq += 1;
        ledger.attempted.entry(topic).or_default().insert((stream, seq));
        payload(stream, seq)
    };
    for _ in 0..120 {
        if sim.is_cut() {
            break;
        }
        // The groups hold the ring back (one thread publishes and consumes): they take what
        // is there before each step.
        for member in [&mut sync_member, &mut async_member] {
            while member.poll_batch(64, Some(Duration::ZERO), |_| {})? > 0 {}
        }
        match rng.below(20) {
            0..=7 => {
                let p = next(ledger, SYNC);
                let key = [rng.below(256) as u8];
                let r = sp.publish(Record::new(&p).key(&key))?;
                ledger.sync_acked.insert((r.partition, r.offset), p);
            }
            8..=9 => {
                // A batch goes to one partition; the receipts are not returned, so its events
                // are checked as published (present ones verify) rather than as acknowledged.
                let n = 1 + rng.below(6);
                let ps: Vec<Vec<u8>> = (0..n).map(|_| next(ledger, SYNC)).collect();
                let records: Vec<Record<'_>> = ps.iter().map(|p| Record::new(p).partition(0)).collect();
                sp.publish_batch(&records)?;
            }
            10..=13 => {
                let p = next(ledger, ASYNC);
                let r = ap.publish(Record::new(&p))?;
                ledger.async_acked.push((r.offset, Instant::now(), p));
            }
            14..=16 => {
                let partition = rng.below(2) as u32;
                let retry = rng.below(3) == 0 && ledger.idempotent.contains_key(&partition);
                let sequence = if retry {
                    ledger.idempotent[&partition].0
                } else {
                    let s = ledger.next_sequence.entry(partition).or_insert(0);
                    *s += 1;
                    *s
                };
                let p = next(ledger, SYNC);
                let r = sp.publish(
                    Record::new(&p).partition(partition).producer(PRODUCER + u64::from(partition), sequence),
                )?;
                if !r.duplicate {
                    if retry {
                        let original = ledger.idempotent[&partition].1;
                        assert!(
                            original < kept_at_open[partition as usize],
                            "a retry of sequence {sequence} (at {original}, still kept) was accepted again"
                        );
                    }
                    ledger.sync_acked.insert((r.partition, r.offset), p);
                    ledger.idempotent.insert(partition, (sequence, r.offset));
                }
            }
            _ => {
                let (member, name) =
                    if rng.below(2) == 0 { (&mut sync_member, SYNC) } else { (&mut async_member, ASYNC) };
                let offsets = member.commit()?;
                let floor = ledger.committed.entry(name).or_insert_with(|| vec![0; offsets.len()]);
                for (f, o) in floor.iter_mut().zip(&offsets) {
                    *f = (*f).max(*o);
                }
            }
        }
    }
    if quiet && !sim.is_cut() {
        std::thread::sleep(MAX_DELAY + SLACK + Duration::from_millis(20));
        sim.cut();
    }
    Ok(())
}

/// Opens the image a cut left and checks it (see the module docs).
fn check(dir: &Path, seed: u64, cut: Instant, ledger: &mut Ledger, totals: &mut Totals) {
    let files = listing(dir);
    let bus = Bus::open(dir).unwrap_or_else(|e| panic!("seed {seed}: the directory does not open after the cut: {e}"));
    for name in [SYNC, ASYNC] {
        let Some(topic) = bus.topic(name) else {
            assert!(!ledger.created.contains(name), "seed {seed}: topic {name:?} is gone after the cut");
            continue;
        };
        let ends: Vec<u64> = topic.stats().partitions.iter().map(|p| p.next_offset).collect();
        // Group offsets: never past the end of what survived, never below an acknowledged commit.
        for (group, offsets) in topic.committed_groups().expect("read the group offsets") {
            for (p, &o) in offsets.iter().enumerate() {
                assert!(
                    o <= ends[p],
                    "seed {seed}: group {group:?} of {name} committed {o} past the log's end {}",
                    ends[p]
                );
            }
            if let Some(floor) = ledger.committed.get(name) {
                for (p, (&o, &f)) in offsets.iter().zip(floor).enumerate() {
                    assert!(
                        o >= f,
                        "seed {seed}: group {group:?} of {name} p{p}: commit of {f} acknowledged, {o} after the cut"
                    );
                }
            }
        }
        // Everything it holds.
        let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).expect("subscribe");
        let mut log: BTreeMap<(u32, u64), Vec<u8>> = BTreeMap::new();
        topic.close();
        loop {
            match sub.poll(Some(Duration::from_secs(10))) {
                Ok(Some(e)) => {
                    log.insert((e.partition, e.offset), e.payload.to_vec());
                }
                Ok(None) => panic!("seed {seed}: reading {name} stalled"),
                Err(Error::Closed) => break,
                Err(e) => panic!("seed {seed}: reading {name}: {e}"),
            }
        }
        totals.events_delivered += log.len() as u64;
        // Taken after the read: the reopened topic's retention may have deleted old segments
        // before the subscription began (never one it was reading).
        let earliest: Vec<u64> =
            topic.stats().partitions.iter().map(|p| p.log.as_ref().expect("persisted").earliest_offset).collect();
        let attempted = ledger.attempted.entry(name).or_default();
        let mut seen = HashSet::new();
        for ((p, o), bytes) in &log {
            match parse(bytes) {
                Some(id) => {
                    assert!(attempted.contains(&id), "seed {seed}: {name} p{p}@{o} holds an event never published");
                    assert!(seen.insert(id), "seed {seed}: {name} p{p}@{o} holds an event twice");
                }
                None => {
                    totals.torn_delivered += 1;
                    panic!("seed {seed}: {name} p{p}@{o} delivered a torn or invented event ({} bytes)", bytes.len());
                }
            }
        }
        let kept = |p: u32, o: u64| o >= earliest[p as usize];
        let mut lost = Vec::new();
        if name == SYNC {
            for (&(p, o), bytes) in ledger.sync_acked.iter().filter(|((p, o), _)| kept(*p, *o)) {
                totals.sync_acked_checked += 1;
                if log.get(&(p, o)) != Some(bytes) {
                    lost.push(format!("acknowledged p{p}@{o}"));
                }
            }
            ledger.sync_acked.retain(|&(p, o), _| kept(p, o));
        } else {
            for (o, at, bytes) in &ledger.async_acked {
                if *at + MAX_DELAY + SLACK <= cut {
                    totals.async_acked_checked += 1;
                    if log.get(&(0, *o)) != Some(bytes) {
                        lost.push(format!("async-acknowledged p0@{o}, {:?} before the cut", cut - *at));
                    }
                }
            }
        }
        if let Some(before) = ledger.recovered.get(name) {
            for (&(p, o), bytes) in before.iter().filter(|((p, o), _)| kept(*p, *o)) {
                if log.get(&(p, o)) != Some(bytes) {
                    lost.push(format!("recovered earlier p{p}@{o}"));
                }
            }
        }
        totals.losses += lost.len() as u64;
        assert!(
            lost.is_empty(),
            "seed {seed}: {name} lost {} events: {:?}\nthe directory the cut left:\n{files}",
            lost.len(),
            &lost[..lost.len().min(10)]
        );
        ledger.recovered.insert(name, log);
    }
    drop(bus);
    // Idempotent producers remember their last accepted record across the cut.
    if ledger.idempotent.is_empty() {
        return;
    }
    let bus = Bus::open(dir).expect("reopen");
    let topic = bus.topic(SYNC).expect("the Sync topic");
    let mut publisher = topic.publisher().expect("publisher");
    let earliest: Vec<u64> =
        topic.stats().partitions.iter().map(|p| p.log.as_ref().expect("persisted").earliest_offset).collect();
    for (&partition, &(sequence, offset)) in &ledger.idempotent {
        if offset < earliest[partition as usize] {
            // Retention deleted the record: a reopened topic remembers producers from its log.
            continue;
        }
        let r = publisher
            .publish(Record::new(b"retry").partition(partition).producer(PRODUCER + u64::from(partition), sequence))
            .expect("retry");
        assert!(
            r.duplicate,
            "seed {seed}: p{partition}: a retry of acknowledged sequence {sequence} was accepted after the cut"
        );
        totals.duplicates_dropped_after_recovery += 1;
    }
}

/// Every file under `dir` with its size, and each segment's header fields, for failure reports.
fn listing(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_default();
            let rel = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
            if rel.ends_with(".seg") && bytes.len() >= 48 {
                let field = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
                out.push_str(&format!(
                    "  {rel} {} bytes, header first {} durable {}\n",
                    bytes.len(),
                    field(16),
                    field(40)
                ));
            } else {
                out.push_str(&format!("  {rel} {} bytes\n", bytes.len()));
            }
        }
    }
    out
}

fn run(rounds: u64, seed: u64) -> Totals {
    let base = std::env::temp_dir().join(format!("ringbus-power-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let mut ledger = Ledger::default();
    let mut totals = Totals::default();
    let mut dir: PathBuf = base.join("round-0");
    let mut rng = Rng(seed | 1);
    for round in 1..=rounds {
        let round_seed = rng.next() | 1;
        let out = base.join(format!("round-{round}"));
        let cut = run_round(&dir, &out, round_seed, &mut ledger, &mut totals);
        let _ = std::fs::remove_dir_all(&dir);
        check(&out, round_seed, cut, &mut ledger, &mut totals);
        totals.rounds += 1;
        dir = out;
    }
    let _ = std::fs::remove_dir_all(&base);
    totals
}

#[test]
fn power_cuts_lose_nothing_acknowledged() {
    let rounds = std::env::var("RINGBUS_POWER_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(50);
    let seed = std::env::var("RINGBUS_POWER_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("seed {seed} (RINGBUS_POWER_SEED={seed} replays it), {rounds} rounds");
    let totals = run(rounds, seed);
    eprintln!("{totals:#?}");
    assert_eq!(totals.rounds, rounds);
    assert_eq!((totals.losses, totals.torn_delivered), (0, 0));
    assert!(totals.sync_acked_checked > 0, "no acknowledged event was checked");
    // The Async topic rotates onto segments its fsync thread prepared, cuts included.
    let spares = ringbus::fuzzing::SPARES_USED.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("segments made from prepared spares: {spares}");
    assert!(rounds < 10 || spares > 0, "no round rotated onto a prepared spare");
}
