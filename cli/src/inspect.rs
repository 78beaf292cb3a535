//! The commands that look inside a data directory or feed it: topics, stats, tail, verify,
//! publish.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use ringbus::{
    Bus, Durability, EventRef, FollowOptions, Follower, Record, Start, SubscribeOptions, Topic, TopicConfig,
};

use crate::time::{format_time, parse_time};
use crate::{DurabilityArg, Failure, Outcome};

/// Fails unless `dir` is an existing directory (reading commands never create one).
fn existing_dir(dir: &Path) -> Result<(), Failure> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Failure::new(format!("{} is not a directory", dir.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Failure::new(format!("data directory {} does not exist", dir.display())))
        }
        Err(e) => Err(Failure::new(format!("data directory {}: {e}", dir.display()))),
    }
}

/// A data directory as the reading commands see it: opened as a bus, or, while another
/// process has it open, followed (read-only, nothing held).
enum Opened {
    Bus(Bus),
    Live(Follower, u32),
}

/// Opens an existing data directory, or follows it if a bus in another process has it open.
fn open_or_follow(dir: &Path) -> Result<Opened, Failure> {
    existing_dir(dir)?;
    match Bus::open(dir) {
        Ok(bus) => Ok(Opened::Bus(bus)),
        Err(ringbus::Error::Locked { .. }) => {
            let follower = Follower::open(dir)?;
            let pid = follower.owner().map_or(0, |o| o.pid);
            Ok(Opened::Live(follower, pid))
        }
        Err(e) => Err(e.into()),
    }
}

/// The configuration of topic `name` in a followed directory, or an error naming the topics
/// there are.
fn followed_topic(follower: &Follower, name: &str) -> Result<TopicConfig, Failure> {
    follower.topic_config(name)?.ok_or_else(|| {
        let names = follower.topic_names().unwrap_or_default();
        Failure::new(format!(
            "no topic '{name}' in {} (topics: {})",
            follower.path().display(),
            if names.is_empty() { "none".to_owned() } else { names.join(", ") }
        ))
    })
}

/// The topic `name` of `bus`, or an error naming the topics there are.
fn topic(bus: &Bus, dir: &Path, name: &str) -> Result<Topic, Failure> {
    bus.topic(name).ok_or_else(|| {
        let names = bus.topic_names();
        Failure::new(format!(
            "no topic '{name}' in {} (topics: {})",
            dir.display(),
            if names.is_empty() { "none".to_owned() } else { names.join(", ") }
        ))
    })
}

fn durability_text(d: &Durability) -> String {
    match d {
        Durability::Memory => "memory".into(),
        Durability::Async { max_delay } => format!("async (fsync within {} ms)", max_delay.as_millis()),
        Durability::Sync => "sync".into(),
        _ => format!("{d:?}"),
    }
}

/// `ringbus topics DIR`.
pub fn topics(dir: &Path) -> Outcome {
    let bus = match open_or_follow(dir)? {
        Opened::Bus(bus) => bus,
        Opened::Live(follower, _) => {
            let mut out = std::io::stdout().lock();
            for name in follower.topic_names()? {
                let config = followed_topic(&follower, &name)?;
                let parts = follower.partitions(&name)?;
                let bytes: u64 = parts.iter().map(|p| p.next_offset - p.earliest_offset).sum();
                writeln!(
                    out,
                    "{name}\t{} partitions\t{}\t{bytes} bytes",
                    config.partitions,
                    durability_text(&config.durability)
                )?;
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let mut out = std::io::stdout().lock();
    for name in bus.topic_names() {
        let t = topic(&bus, dir, &name)?;
        let stats = t.stats();
        let bytes: u64 = stats.partitions.iter().map(|p| p.next_offset - p.earliest_offset).sum();
        writeln!(
            out,
            "{name}\t{} partitions\t{}\t{bytes} bytes",
            t.partitions(),
            durability_text(&t.config().durability)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// How `ringbus stats` prints.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsFormat {
    /// A block per topic, for people.
    Text,
    /// OpenMetrics text (`Bus::metrics`).
    Prometheus,
}

/// `ringbus stats DIR [TOPIC] [--format text|prometheus]`.
pub fn stats(dir: &Path, only: Option<&str>, format: StatsFormat) -> Outcome {
    let bus = match (open_or_follow(dir)?, format) {
        (Opened::Bus(bus), _) => bus,
        (Opened::Live(follower, pid), StatsFormat::Text) => return live_stats(&follower, pid, only),
        (Opened::Live(follower, _), StatsFormat::Prometheus) => {
            if let Some(name) = only {
                followed_topic(&follower, name)?;
            }
            std::io::stdout().lock().write_all(follower.metrics(only)?.as_bytes())?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    if format == StatsFormat::Prometheus {
        let text = match only {
            Some(name) => topic(&bus, dir, name)?.metrics(),
            None => bus.metrics(),
        };
        std::io::stdout().lock().write_all(text.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let names = match only {
        Some(name) => vec![topic(&bus, dir, name)?.name().to_owned()],
        None => bus.topic_names(),
    };
    let mut out = std::io::stdout().lock();
    for name in names {
        let t = topic(&bus, dir, &name)?;
        let stats = t.stats();
        let rows: Vec<Row> = stats
            .partitions
            .iter()
            .map(|p| Row {
                partition: p.partition,
                earliest: p.earliest_offset,
                next: p.next_offset,
                durable: p.log.as_ref().map_or(0, |l| l.durable_offset),
                segments: p.log.as_ref().map_or(0, |l| l.segments),
            })
            .collect();
        let source = format!("io backend      {}", stats.io_backend.unwrap_or("-"));
        print_topic_stats(&mut out, &name, t.config(), &source, &rows, t.committed_groups()?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One partition's line of `ringbus stats`.
struct Row {
    partition: u32,
    earliest: u64,
    next: u64,
    durable: u64,
    segments: usize,
}

/// Prints one topic of `ringbus stats`: its configuration, where the figures come from, a line
/// per partition, and its groups' commits and lag.
fn print_topic_stats(
    out: &mut impl Write,
    name: &str,
    c: &TopicConfig,
    source: &str,
    rows: &[Row],
    groups: Vec<(String, Vec<u64>)>,
) -> Result<(), Failure> {
    writeln!(out, "topic {name}")?;
    writeln!(out, "  partitions      {}", c.partitions)?;
    writeln!(out, "  durability      {}", durability_text(&c.durability))?;
    writeln!(out, "  segment bytes   {}", c.segment_bytes)?;
    writeln!(
        out,
        "  retention       {}; {}",
        c.retention_bytes.map_or("no byte limit".into(), |b| format!("{b} bytes per partition")),
        c.retention_age.map_or("no age limit".into(), |a| format!("{} s", a.as_secs()))
    )?;
    writeln!(out, "  {source}")?;
    writeln!(out, "  partition      earliest          next       durable  segments     log bytes")?;
    for r in rows {
        writeln!(
            out,
            "  {:>9} {:>13} {:>13} {:>13} {:>9} {:>13}",
            r.partition,
            r.earliest,
            r.next,
            r.durable,
            r.segments,
            r.next - r.earliest
        )?;
    }
    if groups.is_empty() {
        writeln!(out, "  groups          none committed")?;
    }
    for (group, committed) in groups {
        let lag: Vec<u64> = rows.iter().zip(&committed).map(|(r, &c)| r.next.saturating_sub(c)).collect();
        writeln!(
            out,
            "  group {group}: committed {:?}, lag {} bytes ({:?} per partition)",
            committed,
            lag.iter().sum::<u64>(),
            lag
        )?;
    }
    Ok(())
}

/// `ringbus stats` on a directory another process has open: what its files say.
fn live_stats(follower: &Follower, pid: u32, only: Option<&str>) -> Outcome {
    let names = match only {
        Some(name) => {
            followed_topic(follower, name)?;
            vec![name.to_owned()]
        }
        None => follower.topic_names()?,
    };
    let mut out = std::io::stdout().lock();
    for name in names {
        let c = followed_topic(follower, &name)?;
        let rows: Vec<Row> = follower
            .partitions(&name)?
            .iter()
            .map(|p| Row {
                partition: p.partition,
                earliest: p.earliest_offset,
                next: p.next_offset,
                durable: p.durable_offset,
                segments: p.segments,
            })
            .collect();
        let source = format!("owner           process {pid} has it open (figures read from its files)");
        print_topic_stats(&mut out, &name, &c, &source, &rows, follower.committed_groups(&name)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// How `tail` prints events.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TailFormat {
    /// `partition@offset time key payload`; payloads as JSON when they are JSON, else escaped.
    Text,
    /// One JSON object per event.
    Json,
    /// Only the payload bytes, one event a line.
    Raw,
}

/// `ringbus tail`.
#[derive(Args, Debug, Clone)]
pub struct TailArgs {
    /// The data directory.
    dir: PathBuf,
    /// The topic.
    topic: String,
    /// Where to start: earliest, latest, an offset (with one partition, or --partition), or a
    /// time (RFC 3339, e.g. 2026-11-26T10:00:00Z).
    #[arg(long, conflicts_with = "group")]
    from: Option<String>,
    /// Only this partition.
    #[arg(long)]
    partition: Option<u32>,
    /// Keep waiting for new events (until Ctrl-C).
    #[arg(long)]
    follow: bool,
    /// Read as a member of this work-queue group, from its last commit, committing after each
    /// batch printed.
    #[arg(long)]
    group: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TailFormat::Text)]
    format: TailFormat,
}

fn start_of(text: &str) -> Result<Start, Failure> {
    match text {
        "earliest" => Ok(Start::Earliest),
        "latest" => Ok(Start::Latest),
        t if t.bytes().all(|b| b.is_ascii_digit()) => {
            t.parse().map(Start::Offset).map_err(|_| Failure::new(format!("--from {t}: offset too large")))
        }
        t => parse_time(t).map(Start::Timestamp).ok_or_else(|| {
            Failure::new(format!(
                "--from {t:?}: expected earliest, latest, an offset or a time such as 2026-11-26T10:00:00Z"
            ))
        }),
    }
}

/// `ringbus tail`.
pub fn tail(args: &TailArgs) -> Outcome {
    let bus = match open_or_follow(&args.dir)? {
        Opened::Bus(bus) => bus,
        Opened::Live(follower, _) => return live_tail(args, &follower),
    };
    let t = topic(&bus, &args.dir, &args.topic)?;
    let start = tail_start(args, t.partitions())?;
    // Without --follow: stop at the end the topic has now.
    let ends: Vec<u64> = t.stats().partitions.iter().map(|p| p.next_offset).collect();
    match &args.group {
        Some(group) => print_all(&mut t.group(group, Start::Committed)?.join(), args, &ends),
        None => {
            let mut options = SubscribeOptions::new().start(start);
            if let Some(p) = args.partition {
                options = options.partitions(vec![p]);
            }
            print_all(&mut t.subscribe(options)?, args, &ends)
        }
    }
}

/// `ringbus tail` on a directory another process has open: a follower. `--group` joins the
/// follower group of that name (follower groups are separate from the owner's groups).
fn live_tail(args: &TailArgs, follower: &Follower) -> Outcome {
    let config = followed_topic(follower, &args.topic)?;
    let start = tail_start(args, config.partitions)?;
    // Without --follow: stop at the end the files have now.
    let ends: Vec<u64> = follower.partitions(&args.topic)?.iter().map(|p| p.next_offset).collect();
    match &args.group {
        Some(group) => print_all(&mut follower.join_group(&args.topic, group, Start::Earliest)?, args, &ends),
        None => {
            let mut options = FollowOptions::new().start(start);
            if let Some(p) = args.partition {
                options = options.partitions(vec![p]);
            }
            print_all(&mut follower.subscribe(&args.topic, options)?, args, &ends)
        }
    }
}

/// Checks `tail`'s arguments against a topic of `partitions` partitions; where it starts.
fn tail_start(args: &TailArgs, partitions: u32) -> Result<Start, Failure> {
    if let Some(p) = args.partition {
        if p >= partitions {
            return Err(Failure::new(format!("--partition {p}: topic '{}' has {partitions} partitions", args.topic)));
        }
        if args.group.is_some() {
            return Err(Failure::new(
                "--partition and --group: a group member reads the partitions its group gives it",
            ));
        }
    }
    let start = match &args.from {
        Some(from) => start_of(from)?,
        None => Start::Earliest,
    };
    if matches!(start, Start::Offset(_)) && args.partition.is_none() && partitions > 1 {
        return Err(Failure::new(format!(
            "--from OFFSET needs --partition: topic '{}' has {partitions} partitions",
            args.topic
        )));
    }
    Ok(start)
}

/// What `tail` reads: a subscription or a group member, of a bus or of a follower.
trait TailSource {
    /// Hands a batch to `f`; `None` once the topic is closed and drained.
    fn batch(&mut self, f: &mut dyn FnMut(EventRef<'_>)) -> Result<Option<usize>, ringbus::Error>;
    /// After a printed batch (group members commit it): where each partition's reading is.
    fn printed(&mut self) -> Result<Vec<(u32, u64)>, ringbus::Error>;
}

/// How long a `tail` batch waits for its first event before `tail` looks at the ends again.
const TAIL_WAIT: Option<Duration> = Some(Duration::from_millis(200));

fn closed_is_end(n: Result<usize, ringbus::Error>) -> Result<Option<usize>, ringbus::Error> {
    match n {
        Err(ringbus::Error::Closed) => Ok(None),
        other => other.map(Some),
    }
}

impl TailSource for ringbus::Subscription {
    fn batch(&mut self, f: &mut dyn FnMut(EventRef<'_>)) -> Result<Option<usize>, ringbus::Error> {
        closed_is_end(self.poll_batch(1024, TAIL_WAIT, f))
    }
    fn printed(&mut self) -> Result<Vec<(u32, u64)>, ringbus::Error> {
        Ok(self.positions())
    }
}

impl TailSource for ringbus::Member {
    fn batch(&mut self, f: &mut dyn FnMut(EventRef<'_>)) -> Result<Option<usize>, ringbus::Error> {
        closed_is_end(self.poll_batch(1024, TAIL_WAIT, f))
    }
    fn printed(&mut self) -> Result<Vec<(u32, u64)>, ringbus::Error> {
        Ok(self.commit()?.into_iter().enumerate().map(|(p, at)| (p as u32, at)).collect())
    }
}

impl TailSource for ringbus::FollowerSubscription {
    fn batch(&mut self, f: &mut dyn FnMut(EventRef<'_>)) -> Result<Option<usize>, ringbus::Error> {
        self.poll_batch(1024, TAIL_WAIT, f).map(Some)
    }
    fn printed(&mut self) -> Result<Vec<(u32, u64)>, ringbus::Error> {
        Ok(self.positions())
    }
}

impl TailSource for ringbus::FollowerMember {
    fn batch(&mut self, f: &mut dyn FnMut(EventRef<'_>)) -> Result<Option<usize>, ringbus::Error> {
        self.poll_batch(1024, TAIL_WAIT, f).map(Some)
    }
    fn printed(&mut self) -> Result<Vec<(u32, u64)>, ringbus::Error> {
        self.commit()?;
        Ok(self.positions())
    }
}

/// Prints what `source` delivers until the ends (`--follow`: until interrupted, or the topic
/// closes). Events retention deleted before they were printed are reported on stderr.
fn print_all(source: &mut impl TailSource, args: &TailArgs, ends: &[u64]) -> Outcome {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    loop {
        let mut failed = Ok(());
        let n = match source.batch(&mut |e| {
            if failed.is_ok() {
                failed = print_event(&mut out, args.format, &e);
            }
        }) {
            Ok(Some(n)) => n,
            Ok(None) => break,
            Err(e @ ringbus::Error::OffsetTrimmed { .. }) => {
                eprintln!("ringbus tail: {e}");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        failed?;
        out.flush()?;
        let at = source.printed()?;
        if n == 0 && !args.follow && at.iter().all(|&(p, at)| at >= ends[p as usize]) {
            break;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn print_event(out: &mut impl Write, format: TailFormat, e: &EventRef<'_>) -> Result<(), Failure> {
    match format {
        TailFormat::Raw => {
            out.write_all(e.payload)?;
            out.write_all(b"\n")?;
        }
        TailFormat::Text => {
            let key = e.key.map_or("-".to_owned(), |k| k.escape_ascii().to_string());
            writeln!(
                out,
                "{}@{} {} {key} {}",
                e.partition,
                e.offset,
                format_time(e.timestamp),
                payload_text(e.payload)
            )?;
        }
        TailFormat::Json => {
            let payload = match serde_json::from_slice::<serde_json::Value>(e.payload) {
                Ok(v) => v,
                Err(_) => serde_json::Value::String(e.payload.escape_ascii().to_string()),
            };
            let line = serde_json::json!({
                "partition": e.partition,
                "offset": e.offset,
                "timestamp": format_time(e.timestamp),
                "timestamp_ns": e.timestamp,
                "key": e.key.map(|k| k.escape_ascii().to_string()),
                "payload": payload,
            });
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// A payload as JSON when it is JSON, else as an escaped string in quotes.
fn payload_text(payload: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(v) => v.to_string(),
        Err(_) => format!("\"{}\"", payload.escape_ascii()),
    }
}

/// `ringbus verify DIR`.
pub fn verify(dir: &Path) -> Outcome {
    existing_dir(dir)?;
    let report = ringbus::verify_data_dir(dir)?;
    let mut out = std::io::stdout().lock();
    if let Some(pid) = report.live_owner {
        writeln!(
            out,
            "live: process {pid} has {} open; active segments checked up to what it has written",
            dir.display()
        )?;
    }
    for t in &report.topics {
        let events: u64 = t.partitions.iter().map(|p| p.events).sum();
        let segments: usize = t.partitions.iter().map(|p| p.segments).sum();
        writeln!(
            out,
            "topic {}: {} partitions, {segments} segments, {events} events checked",
            t.name,
            t.partitions.len()
        )?;
        for p in &t.partitions {
            if let Some((at, len)) = p.torn_tail {
                writeln!(
                    out,
                    "  partition {}: torn tail of {len} bytes at offset {at} (an interrupted write; opening the bus cuts it)",
                    p.partition
                )?;
            }
        }
    }
    let damage: Vec<_> = report.damage().collect();
    for d in &damage {
        writeln!(out, "DAMAGE {} at byte {} (offset {}): {}", d.file.display(), d.file_position, d.offset, d.reason)?;
    }
    if damage.is_empty() {
        writeln!(out, "ok: no damage in {}", dir.display())?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(out, "{} damaged place(s)", damage.len())?;
        Ok(ExitCode::FAILURE)
    }
}

/// `ringbus publish`.
#[derive(Args, Debug, Clone)]
pub struct PublishArgs {
    /// The data directory (created if missing).
    dir: PathBuf,
    /// The topic (created if missing).
    topic: String,
    /// Key of every event (it picks the partition).
    #[arg(long)]
    key: Option<String>,
    /// Partitions, when the topic is created (default 1).
    #[arg(long)]
    partitions: Option<u32>,
    /// Durability, when the topic is created (default sync).
    #[arg(long, value_enum)]
    durability: Option<DurabilityArg>,
}

/// The core durability for an argument.
pub fn durability_of(d: DurabilityArg) -> Durability {
    match d {
        DurabilityArg::Memory => Durability::Memory,
        DurabilityArg::Async => Durability::Async { max_delay: Duration::from_millis(10) },
        DurabilityArg::Sync => Durability::Sync,
    }
}

/// `ringbus publish`.
pub fn publish(args: &PublishArgs) -> Outcome {
    if args.dir.exists() && !args.dir.is_dir() {
        return Err(Failure::new(format!("{} is not a directory", args.dir.display())));
    }
    let bus = Bus::open(&args.dir)?;
    let t = match bus.topic(&args.topic) {
        Some(t) => {
            if let Some(p) = args.partitions.filter(|&p| p != t.partitions()) {
                return Err(Failure::new(format!(
                    "topic '{}' exists with {} partitions, not {p}",
                    args.topic,
                    t.partitions()
                )));
            }
            if let Some(d) = args.durability.map(durability_of) {
                if std::mem::discriminant(&d) != std::mem::discriminant(&t.config().durability) {
                    return Err(Failure::new(format!(
                        "topic '{}' exists with {} durability",
                        args.topic,
                        durability_text(&t.config().durability)
                    )));
                }
            }
            t
        }
        None => {
            let config = TopicConfig::new()
                .partitions(args.partitions.unwrap_or(1))
                .durability(durability_of(args.durability.unwrap_or(DurabilityArg::Sync)));
            bus.create_topic(&args.topic, config)?
        }
    };
    let mut publisher = t.publisher()?;
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    for line in stdin.split(b'\n') {
        let line = line?;
        let mut record = Record::new(&line);
        if let Some(k) = &args.key {
            record = record.key(k.as_bytes());
        }
        let receipt = publisher.publish(record)?;
        writeln!(out, "{}", receipt.offset)?;
        out.flush()?;
    }
    drop(publisher);
    t.flush(None)?;
    bus.close();
    Ok(ExitCode::SUCCESS)
}
