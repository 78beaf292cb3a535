//! Followers in other processes: an owner process publishes (`Sync` and `Async`, with rotation
//! and retention) while follower processes check every event's order and bytes; the owner is
//! SIGKILLed and restarted mid-stream (`RINGBUS_FOLLOW_ROUNDS`, default 20); a follower group
//! of three processes loses one member to SIGKILL and every event is still accounted for.
//!
//! The children are this test binary run again with `RINGBUS_FOLLOW_CHILD` set (the `child`
//! test is their entry point and does nothing otherwise).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{temp_dir, Rng};
use ringbus::{Bus, Durability, Error, FollowOptions, Follower, Record, Start, TopicConfig};

const TOPIC: &str = "readings";
const PARTITIONS: u32 = 3;

fn topic_config(durability: &str) -> TopicConfig {
    let durability = match durability {
        "sync" => Durability::Sync,
        _ => Durability::Async { max_delay: Duration::from_millis(2) },
    };
    TopicConfig::new()
        .partitions(PARTITIONS)
        .capacity(1 << 16)
        .max_payload(2048)
        .durability(durability)
        .segment_bytes(80_000)
        .retention_bytes(if env("RINGBUS_FOLLOW_KEEP").is_empty() { 400_000 } else { u64::MAX >> 2 })
}

/// The payload of event `seq` of partition `p`: its numbers, then bytes derived from them.
fn payload(p: u32, seq: u64) -> Vec<u8> {
    let mut out = format!("{p}:{seq}:").into_bytes();
    let len = (seq.wrapping_mul(2654435761) % 300) as usize;
    out.extend((0..len).map(|i| (seq as usize + i * 31 + p as usize) as u8));
    out
}

/// The (partition, seq) a payload says, if it is exactly what [`payload`] makes.
fn parse(body: &[u8]) -> Option<(u32, u64)> {
    let head = &body[..body.len().min(32)];
    let mut fields = head.split(|&b| b == b':');
    let p = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    let seq = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    (payload(p, seq) == body).then_some((p, seq))
}

fn spawn(role: &str, dir: &Path, extra: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("RINGBUS_FOLLOW_CHILD", role)
        .env("RINGBUS_FOLLOW_DIR", dir);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.stdout(std::process::Stdio::null());
    cmd.spawn().expect("spawning a child process")
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

/// The entry point of the child processes.
#[test]
fn child() {
    let role = env("RINGBUS_FOLLOW_CHILD");
    let dir = PathBuf::from(env("RINGBUS_FOLLOW_DIR"));
    match role.as_str() {
        "" => {}
        "owner" => owner(&dir),
        "follower" => follower(&dir),
        "member" => member(&dir),
        other => panic!("unknown child role {other}"),
    }
}

/// Opens the directory (recovering it after a kill), continues every partition's sequence
/// from its last kept event, publishes `RINGBUS_FOLLOW_EVENTS` more (or until killed), then
/// an end marker per partition if `RINGBUS_FOLLOW_END` is set.
fn owner(dir: &Path) {
    let bus = Bus::open(dir).unwrap();
    let topic = match bus.topic(TOPIC) {
        Some(t) => t,
        None => bus.create_topic(TOPIC, topic_config(&env("RINGBUS_FOLLOW_DURABILITY"))).unwrap(),
    };
    // The next sequence number of each partition: after the last event kept.
    let mut next = [0u64; PARTITIONS as usize];
    for (p, n) in next.iter_mut().enumerate() {
        let end = topic.stats().partitions[p].next_offset;
        let log = topic.stats().partitions[p].log.clone().unwrap();
        if end > log.earliest_offset {
            let mut sub = topic
                .subscribe(ringbus::SubscribeOptions::new().start(Start::Earliest).partitions([p as u32]))
                .unwrap();
            let mut last = None;
            while let Some(e) = sub.try_poll().unwrap() {
                last = Some(parse(e.payload).expect("the owner's own events parse").1);
            }
            *n = last.map_or(0, |s| s + 1);
        }
    }
    let events: u64 = env("RINGBUS_FOLLOW_EVENTS").parse().unwrap_or(u64::MAX);
    let mut publisher = topic.publisher().unwrap();
    let mut rng = Rng(u64::from(std::process::id()) | 1);
    let pause = Duration::from_micros(env("RINGBUS_FOLLOW_PAUSE_US").parse().unwrap_or(200));
    for i in 0..events {
        let p = (rng.next() % PARTITIONS as u64) as u32;
        publisher.publish(Record::new(&payload(p, next[p as usize])).partition(p)).unwrap();
        next[p as usize] += 1;
        if i % 64 == 0 {
            std::thread::sleep(pause);
        }
    }
    if !env("RINGBUS_FOLLOW_END").is_empty() {
        for p in 0..PARTITIONS {
            publisher.publish(Record::new(b"end").partition(p)).unwrap();
        }
    }
    bus.close();
}

/// Follows from the earliest event until every partition's end marker: each partition's
/// sequence must go 0, 1, 2, ... with every payload's bytes exact. Writes the counts to
/// `RINGBUS_FOLLOW_OUT`; panics (a failed exit) on anything else.
fn follower(dir: &Path) {
    let follower = Follower::open(dir).unwrap();
    let mut sub = follower.subscribe(TOPIC, FollowOptions::new().start(Start::Earliest)).unwrap();
    let mut next = [0u64; PARTITIONS as usize];
    let mut ended = BTreeSet::new();
    let mut offsets = [0u64; PARTITIONS as usize];
    let mut idle = 0;
    let parent = std::os::unix::process::parent_id();
    while ended.len() < PARTITIONS as usize {
        assert_eq!(std::os::unix::process::parent_id(), parent, "the test that started this follower is gone");
        let n = sub
            .poll_batch(256, Some(Duration::from_secs(1)), |e| {
                let p = e.partition;
                assert!(e.offset >= offsets[p as usize], "partition {p}: offset {} went back", e.offset);
                offsets[p as usize] = e.next_offset();
                if e.payload == b"end" {
                    ended.insert(p);
                    return;
                }
                let (pp, seq) =
                    parse(e.payload).unwrap_or_else(|| panic!("partition {p}: bytes differ at {}", e.offset));
                assert_eq!(pp, p, "an event of partition {pp} in partition {p}");
                assert_eq!(seq, next[p as usize], "partition {p} at offset {}: a gap or a duplicate", e.offset);
                next[p as usize] += 1;
            })
            .unwrap_or_else(|e| panic!("following: {e}"));
        idle = if n > 0 { 0 } else { idle + 1 };
        assert!(idle < 120, "the follower waited 120 s for an event");
    }
    let out = next.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
    std::fs::write(env("RINGBUS_FOLLOW_OUT"), out).unwrap();
}

/// A follower group member: writes each event's (partition, seq) to `RINGBUS_FOLLOW_OUT` and
/// commits every 50 events, until `<dir>/stop` exists.
fn member(dir: &Path) {
    let follower = Follower::open(dir).unwrap();
    let mut member = follower.join_group(TOPIC, "billing", Start::Earliest).unwrap();
    let mut out = std::fs::File::create(env("RINGBUS_FOLLOW_OUT")).unwrap();
    let mut since_commit = 0;
    let parent = std::os::unix::process::parent_id();
    while !dir.join("stop").exists() {
        assert_eq!(std::os::unix::process::parent_id(), parent, "the test that started this member is gone");
        let mut lines = String::new();
        member
            .poll_batch(64, Some(Duration::from_millis(50)), |e| {
                if let Some((p, seq)) = parse(e.payload) {
                    lines.push_str(&format!("{p} {seq}\n"));
                }
            })
            .unwrap();
        out.write_all(lines.as_bytes()).unwrap();
        since_commit += lines.lines().count();
        if since_commit >= 50 {
            member.commit().unwrap();
            since_commit = 0;
        }
    }
}

fn wait_ok(child: &mut Child, what: &str, limit: Duration) {
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{what} failed: {status}");
            return;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("{what} did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn counts(out: &Path) -> Vec<u64> {
    std::fs::read_to_string(out).unwrap().split(' ').map(|n| n.parse().unwrap()).collect()
}

#[test]
fn followers_in_other_processes_see_sync_and_async_streams_whole() {
    for durability in ["sync", "async"] {
        let dir = temp_dir(&format!("follow-proc-{durability}"));
        let outs: Vec<PathBuf> = (0..2).map(|i| dir.with_extension(format!("out{i}"))).collect();
        // One follower starts before the owner ever opened the directory.
        let mut early = spawn("follower", &dir, &[("RINGBUS_FOLLOW_OUT", outs[0].display().to_string())]);
        std::thread::sleep(Duration::from_millis(100));
        let extra = [
            ("RINGBUS_FOLLOW_DURABILITY", durability.to_string()),
            ("RINGBUS_FOLLOW_EVENTS", "30000".to_string()),
            ("RINGBUS_FOLLOW_END", "1".to_string()),
        ];
        let mut owner = spawn("owner", &dir, &extra);
        std::thread::sleep(Duration::from_millis(50));
        let mut late = spawn("follower", &dir, &[("RINGBUS_FOLLOW_OUT", outs[1].display().to_string())]);
        wait_ok(&mut owner, "the owner", Duration::from_secs(120));
        wait_ok(&mut early, "the early follower", Duration::from_secs(60));
        wait_ok(&mut late, "the late follower", Duration::from_secs(60));
        let (a, b) = (counts(&outs[0]), counts(&outs[1]));
        assert_eq!(a.iter().sum::<u64>(), 30_000, "{durability}: every event");
        assert_eq!(a, b, "{durability}: both followers saw the same");
        // Rotation and retention happened under the followers.
        let bus = Bus::open(&dir).unwrap();
        let log = bus.topic(TOPIC).unwrap().stats().partitions[0].log.clone().unwrap();
        assert!(log.earliest_offset > 0, "{durability}: retention deleted segments");
        drop(bus);
        for o in &outs {
            let _ = std::fs::remove_file(o);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn owner_killed_and_restarted_mid_stream_loses_and_repeats_nothing() {
    let rounds: u32 = std::env::var("RINGBUS_FOLLOW_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    let seed = std::env::var("RINGBUS_FOLLOW_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    println!("owner kill rounds: {rounds}, RINGBUS_FOLLOW_SEED={seed}");
    let mut rng = Rng(seed | 1);
    let dir = temp_dir("follow-kill");
    let out = dir.with_extension("out");
    let mut follower = spawn("follower", &dir, &[("RINGBUS_FOLLOW_OUT", out.display().to_string())]);
    for round in 0..rounds {
        let durability = if round % 2 == 0 { "async" } else { "sync" };
        let mut owner = spawn("owner", &dir, &[("RINGBUS_FOLLOW_DURABILITY", durability.to_string())]);
        std::thread::sleep(Duration::from_millis(30 + rng.next() % 150));
        owner.kill().unwrap();
        let status = owner.wait().unwrap();
        assert!(!status.success(), "round {round}: the owner was killed, not finished ({status})");
        if let Some(status) = follower.try_wait().unwrap() {
            panic!("round {round}: the follower stopped: {status}");
        }
    }
    let extra = [("RINGBUS_FOLLOW_EVENTS", "100".to_string()), ("RINGBUS_FOLLOW_END", "1".to_string())];
    let mut last = spawn("owner", &dir, &extra);
    wait_ok(&mut last, "the last owner", Duration::from_secs(60));
    wait_ok(&mut follower, "the follower", Duration::from_secs(60));
    // What the follower saw is what the owner kept (its checks ran in the child): compare the
    // counts with the owner's own reading of the log.
    let seen = counts(&out);
    let bus = Bus::open(&dir).unwrap();
    let topic = bus.topic(TOPIC).unwrap();
    for p in 0..PARTITIONS {
        let mut sub = topic.subscribe(ringbus::SubscribeOptions::new().start(Start::Earliest).partitions([p])).unwrap();
        let mut last_seq = None;
        loop {
            match sub.try_poll() {
                Ok(Some(e)) => {
                    if let Some((_, seq)) = parse(e.payload) {
                        last_seq = Some(seq);
                    }
                }
                Ok(None) => break,
                Err(Error::OffsetTrimmed { .. }) => continue,
                Err(e) => panic!("reading back: {e}"),
            }
        }
        assert_eq!(seen[p as usize], last_seq.map_or(0, |s| s + 1), "partition {p}: the follower saw every kept event");
    }
    drop(bus);
    let _ = std::fs::remove_file(&out);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_follower_group_survives_losing_a_member() {
    let dir = temp_dir("follow-group");
    let events = 20_000u64;
    let extra = [
        ("RINGBUS_FOLLOW_DURABILITY", "async".to_string()),
        ("RINGBUS_FOLLOW_EVENTS", events.to_string()),
        // Retention is not what this test is about: keep everything.
        ("RINGBUS_FOLLOW_KEEP", "1".to_string()),
        // About 1.5 s of publishing, so the kill lands mid-stream.
        ("RINGBUS_FOLLOW_PAUSE_US", "5000".to_string()),
    ];
    let mut owner = spawn("owner", &dir, &extra);
    let outs: Vec<PathBuf> = (0..3).map(|i| dir.with_extension(format!("member{i}"))).collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut members: Vec<Child> =
        outs.iter().map(|o| spawn("member", &dir, &[("RINGBUS_FOLLOW_OUT", o.display().to_string())])).collect();
    std::thread::sleep(Duration::from_millis(600));
    members[0].kill().unwrap();
    members[0].wait().unwrap();
    wait_ok(&mut owner, "the owner", Duration::from_secs(120));
    // Wait until the survivors have everything, then stop them.
    let read = |o: &PathBuf| -> Vec<(u32, u64)> {
        std::fs::read_to_string(o)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut it = l.split(' ');
                Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
            })
            .collect()
    };
    let t = Instant::now();
    let total = loop {
        let all: BTreeSet<(u32, u64)> = outs.iter().flat_map(read).collect();
        if all.len() as u64 >= events || t.elapsed() > Duration::from_secs(60) {
            break all.len() as u64;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::fs::write(dir.join("stop"), b"").unwrap();
    for (i, m) in members.iter_mut().enumerate().skip(1) {
        wait_ok(m, &format!("member {i}"), Duration::from_secs(30));
    }
    assert_eq!(total, events, "every event was delivered to some member");
    // Duplicates only where the killed member had events after its last commit.
    let mut seen: BTreeMap<(u32, u64), Vec<usize>> = BTreeMap::new();
    for (i, o) in outs.iter().enumerate() {
        for key in read(o) {
            seen.entry(key).or_default().push(i);
        }
    }
    let dups: Vec<_> = seen.iter().filter(|(_, who)| who.len() > 1).collect();
    for (key, who) in &dups {
        assert!(who.len() == 2 && who.contains(&0), "{key:?} delivered to members {who:?}");
    }
    println!("{} duplicates, all from the killed member's uncommitted events", dups.len());
    let killed = read(&outs[0]).len() as u64;
    println!("the killed member had read {killed} events");
    assert!(killed > 0 && killed < events, "the kill landed mid-stream ({killed} of {events} read)");
    assert!(outs[1..].iter().all(|o| !read(o).is_empty()), "each survivor got a share");
    for o in &outs {
        let _ = std::fs::remove_file(o);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
