//! The IoT pipeline on the servers a user would otherwise persist events with, over loopback:
//! Redis Streams (XADD pipelined per batch, an XREAD archiver, an XREADGROUP consumer group of
//! aggregators) and NATS JetStream (file storage; publishes acknowledged by the stream, a pull
//! consumer for the archiver and one shared pull consumer for the aggregators). The wire
//! protocols (RESP, NATS) are spoken directly: a few commands each. `benches/peers.sh`
//! installs and starts the servers.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::pipeline::{join_producers, produce, Aggregator, Progress, RunResult};
use crate::{BenchArgs, Failure};

fn io(what: &str) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |e| Failure::new(format!("{what}: {e}"))
}

fn connect(addr: &str, what: &str) -> Result<TcpStream, Failure> {
    let s = TcpStream::connect(addr).map_err(io(what))?;
    s.set_nodelay(true).map_err(io(what))?;
    Ok(s)
}

/// Whether something listens at `addr`.
pub fn reachable(addr: &str) -> bool {
    match addr.parse() {
        Ok(a) => TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok(),
        Err(_) => TcpStream::connect(addr).is_ok(),
    }
}

// ---- Redis (RESP2) ----

/// A RESP value.
#[derive(Debug, Clone, PartialEq)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

struct Redis {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
}

impl Redis {
    fn connect(addr: &str) -> Result<Self, Failure> {
        let s = connect(addr, "redis")?;
        Ok(Redis { reader: BufReader::new(s.try_clone().map_err(io("redis"))?), writer: BufWriter::new(s) })
    }

    /// Queues one command.
    fn send(&mut self, args: &[&[u8]]) -> Result<(), Failure> {
        let w = &mut self.writer;
        let err = io("redis write");
        write!(w, "*{}\r\n", args.len()).map_err(&err)?;
        for a in args {
            write!(w, "${}\r\n", a.len()).map_err(&err)?;
            w.write_all(a).map_err(&err)?;
            w.write_all(b"\r\n").map_err(&err)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Failure> {
        self.writer.flush().map_err(io("redis write"))
    }

    fn read(&mut self) -> Result<Resp, Failure> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).map_err(io("redis read"))?;
        if line.len() < 3 {
            return Err(Failure::new("redis: connection closed"));
        }
        let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        let int = |s: &str| s.parse::<i64>().map_err(|_| Failure::new(format!("redis: bad reply {s:?}")));
        Ok(match line[0] {
            b'+' => Resp::Simple(body),
            b'-' => Resp::Error(body),
            b':' => Resp::Int(int(&body)?),
            b'$' => {
                let n = int(&body)?;
                if n < 0 {
                    Resp::Bulk(None)
                } else {
                    let mut buf = vec![0; n as usize + 2];
                    self.reader.read_exact(&mut buf).map_err(io("redis read"))?;
                    buf.truncate(n as usize);
                    Resp::Bulk(Some(buf))
                }
            }
            b'*' => {
                let n = int(&body)?;
                if n < 0 {
                    Resp::Array(None)
                } else {
                    let mut items = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        items.push(self.read()?);
                    }
                    Resp::Array(Some(items))
                }
            }
            other => return Err(Failure::new(format!("redis: unexpected reply type {:?}", other as char))),
        })
    }

    /// Sends one command and reads its reply; a Redis error is a failure.
    fn call(&mut self, args: &[&[u8]]) -> Result<Resp, Failure> {
        self.send(args)?;
        self.flush()?;
        match self.read()? {
            Resp::Error(e) => Err(Failure::new(format!("redis: {e}"))),
            r => Ok(r),
        }
    }
}

/// One stream's entries in an XREAD reply: its name and (id, payload) pairs.
type StreamEntries = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

/// The entries of an XREAD/XREADGROUP reply.
fn stream_entries(reply: Resp) -> Vec<StreamEntries> {
    let mut out = Vec::new();
    let Resp::Array(Some(streams)) = reply else { return out };
    for s in streams {
        let Resp::Array(Some(mut pair)) = s else { continue };
        if pair.len() != 2 {
            continue;
        }
        let entries = pair.pop();
        let name = match pair.pop() {
            Some(Resp::Bulk(Some(n))) => n,
            _ => continue,
        };
        let mut list = Vec::new();
        if let Some(Resp::Array(Some(entries))) = entries {
            for e in entries {
                let Resp::Array(Some(mut idf)) = e else { continue };
                if idf.len() != 2 {
                    continue;
                }
                let fields = idf.pop();
                let Some(Resp::Bulk(Some(id))) = idf.pop() else { continue };
                // Fields: k <key> v <payload>.
                if let Some(Resp::Array(Some(f))) = fields {
                    if let Some(Resp::Bulk(Some(v))) = f.into_iter().nth(3) {
                        list.push((id, v));
                    }
                }
            }
        }
        out.push((name, list));
    }
    out
}

/// The pipeline on Redis Streams at `addr`.
pub fn run_redis(args: &BenchArgs, addr: &str) -> Result<RunResult, Failure> {
    let mut admin = Redis::connect(addr)?;
    let config = |admin: &mut Redis, key: &str| -> Result<String, Failure> {
        match admin.call(&[b"CONFIG", b"GET", key.as_bytes()])? {
            Resp::Array(Some(v)) => match v.get(1) {
                Some(Resp::Bulk(Some(b))) => Ok(String::from_utf8_lossy(b).into_owned()),
                _ => Ok("?".into()),
            },
            _ => Ok("?".into()),
        }
    };
    let durability = match (config(&mut admin, "appendonly")?.as_str(), config(&mut admin, "appendfsync")?) {
        ("yes", fsync) => format!("AOF, appendfsync {fsync}"),
        _ => "no AOF (memory, snapshots at most)".to_owned(),
    };
    let prefix = format!("ringbus-bench-{}-{}", std::process::id(), Instant::now().elapsed().as_nanos());
    let streams: Vec<String> = (0..args.partitions).map(|p| format!("{prefix}:{p}")).collect();
    for s in &streams {
        admin.call(&[b"XGROUP", b"CREATE", s.as_bytes(), b"aggregators", b"$", b"MKSTREAM"])?;
    }
    let keys: Vec<String> = (0..args.sensors).map(|s| format!("sensor-{s:05}")).collect();
    let result = run_peer(
        args,
        "redis-streams",
        durability,
        |role| match role {
            Role::Producer => {
                let mut r = Redis::connect(addr)?;
                let (keys, streams) = (&keys, &streams);
                let partitions = args.partitions;
                Ok(Box::new(move |batch: &[(u32, Vec<u8>)]| {
                    for (sensor, payload) in batch {
                        let key = keys[*sensor as usize].as_bytes();
                        let stream = &streams[ringbus::partition_for_key(key, partitions) as usize];
                        r.send(&[b"XADD", stream.as_bytes(), b"*", b"k", key, b"v", payload])?;
                    }
                    r.flush()?;
                    for _ in batch {
                        if let Resp::Error(e) = r.read()? {
                            return Err(Failure::new(format!("redis XADD: {e}")));
                        }
                    }
                    Ok(())
                }) as SendFn<'_>)
            }
            Role::Archiver | Role::Aggregator(_) => Err(Failure::new("unused")),
        },
        |role, sink, done| {
            let mut r = Redis::connect(addr)?;
            let mut ids: Vec<Vec<u8>> = streams.iter().map(|_| b"0-0".to_vec()).collect();
            let consumer = match role {
                Role::Aggregator(i) => format!("c{i}"),
                _ => String::new(),
            };
            loop {
                let mut cmd: Vec<&[u8]> = match role {
                    Role::Aggregator(_) => vec![b"XREADGROUP", b"GROUP", b"aggregators", consumer.as_bytes()],
                    _ => vec![b"XREAD"],
                };
                cmd.extend_from_slice(&[b"COUNT", b"4096", b"BLOCK", b"50"]);
                if matches!(role, Role::Aggregator(_)) {
                    cmd.push(b"NOACK");
                }
                cmd.push(b"STREAMS");
                cmd.extend(streams.iter().map(|s| s.as_bytes()));
                match role {
                    Role::Aggregator(_) => cmd.extend(streams.iter().map(|_| b">".as_slice())),
                    _ => cmd.extend(ids.iter().map(Vec::as_slice)),
                }
                let reply = r.call(&cmd)?;
                let mut n = 0;
                for (name, entries) in stream_entries(reply) {
                    if let Some(i) = streams.iter().position(|s| s.as_bytes() == name.as_slice()) {
                        if let Some((last, _)) = entries.last() {
                            ids[i] = last.clone();
                        }
                    }
                    for (_, payload) in &entries {
                        sink(payload);
                        n += 1;
                    }
                }
                if done(n) {
                    return Ok(());
                }
            }
        },
    );
    for s in &streams {
        let _ = admin.call(&[b"DEL", s.as_bytes()]);
    }
    result
}

// ---- NATS JetStream ----

struct Nats {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    /// This connection's own reply subject: inboxes must not be shared between connections,
    /// or every subscriber gets every reply.
    inbox: String,
}

static NEXT_INBOX: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A message received: subject, reply subject, status (from headers), payload.
struct Msg {
    reply: Option<String>,
    status: Option<u16>,
    payload: Vec<u8>,
}

impl Nats {
    fn connect(addr: &str) -> Result<Self, Failure> {
        let s = connect(addr, "nats")?;
        let inbox = format!("_INBOX.ringbus.{}.{}", std::process::id(), NEXT_INBOX.fetch_add(1, Ordering::Relaxed));
        let mut n =
            Nats { reader: BufReader::new(s.try_clone().map_err(io("nats"))?), writer: BufWriter::new(s), inbox };
        let mut info = String::new();
        n.reader.read_line(&mut info).map_err(io("nats read"))?;
        if !info.starts_with("INFO") {
            return Err(Failure::new(format!("nats: expected INFO, got {info:?}")));
        }
        n.raw(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}\r\nPING\r\n")?;
        n.flush()?;
        loop {
            let mut line = String::new();
            n.reader.read_line(&mut line).map_err(io("nats read"))?;
            match line.trim_end() {
                "PONG" => return Ok(n),
                l if l.starts_with("-ERR") => return Err(Failure::new(format!("nats: {l}"))),
                _ => {}
            }
        }
    }

    fn raw(&mut self, b: &[u8]) -> Result<(), Failure> {
        self.writer.write_all(b).map_err(io("nats write"))
    }

    fn flush(&mut self) -> Result<(), Failure> {
        self.writer.flush().map_err(io("nats write"))
    }

    fn publish(&mut self, subject: &str, reply: Option<&str>, payload: &[u8]) -> Result<(), Failure> {
        let w = &mut self.writer;
        let err = io("nats write");
        match reply {
            Some(r) => write!(w, "PUB {subject} {r} {}\r\n", payload.len()).map_err(&err)?,
            None => write!(w, "PUB {subject} {}\r\n", payload.len()).map_err(&err)?,
        }
        w.write_all(payload).map_err(&err)?;
        w.write_all(b"\r\n").map_err(&err)
    }

    fn subscribe(&mut self, subject: &str, sid: u32) -> Result<(), Failure> {
        write!(self.writer, "SUB {subject} {sid}\r\n").map_err(io("nats write"))
    }

    /// The next message (answering server PINGs meanwhile).
    fn next(&mut self) -> Result<Msg, Failure> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).map_err(io("nats read"))? == 0 {
                return Err(Failure::new("nats: connection closed"));
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.first().copied() {
                Some("PING") => {
                    self.raw(b"PONG\r\n")?;
                    self.flush()?;
                }
                Some("MSG") | Some("HMSG") => {
                    let headers = parts[0] == "HMSG";
                    let num =
                        |s: &str| s.parse::<usize>().map_err(|_| Failure::new(format!("nats: bad line {line:?}")));
                    let (reply, hdr_len, total) = match (headers, parts.len()) {
                        (false, 4) => (None, 0, num(parts[3])?),
                        (false, 5) => (Some(parts[3].to_owned()), 0, num(parts[4])?),
                        (true, 5) => (None, num(parts[3])?, num(parts[4])?),
                        (true, 6) => (Some(parts[3].to_owned()), num(parts[4])?, num(parts[5])?),
                        _ => return Err(Failure::new(format!("nats: bad line {line:?}"))),
                    };
                    let mut buf = vec![0; total + 2];
                    self.reader.read_exact(&mut buf).map_err(io("nats read"))?;
                    buf.truncate(total);
                    let status = (hdr_len > 0)
                        .then(|| String::from_utf8_lossy(&buf[..hdr_len]).lines().next().map(str::to_owned))
                        .flatten()
                        .and_then(|first| first.split_whitespace().nth(1).and_then(|c| c.parse().ok()));
                    let payload = buf.split_off(hdr_len);
                    return Ok(Msg { reply, status, payload });
                }
                Some("-ERR") => return Err(Failure::new(format!("nats: {}", line.trim_end()))),
                _ => {}
            }
        }
    }

    /// A request on the JetStream API: its JSON reply.
    fn request(&mut self, subject: &str, body: &str) -> Result<serde_json::Value, Failure> {
        let inbox = self.inbox.clone();
        self.publish(subject, Some(&inbox), body.as_bytes())?;
        self.flush()?;
        let m = self.next()?;
        if m.status == Some(503) {
            return Err(Failure::new("nats: JetStream is not enabled on the server (start it with -js)"));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&m.payload).map_err(|e| Failure::new(format!("nats reply: {e}")))?;
        if let Some(err) = v.get("error") {
            return Err(Failure::new(format!("nats {subject}: {err}")));
        }
        Ok(v)
    }
}

/// The pipeline on NATS JetStream at `addr`.
pub fn run_nats(args: &BenchArgs, addr: &str) -> Result<RunResult, Failure> {
    let mut admin = Nats::connect(addr)?;
    let inbox = admin.inbox.clone();
    admin.subscribe(&inbox, 1)?;
    let stream = format!("ringbus_bench_{}", std::process::id());
    let subjects = format!("{stream}.>");
    admin.request(
        &format!("$JS.API.STREAM.CREATE.{stream}"),
        &serde_json::json!({"name": stream, "subjects": [subjects], "storage": "file", "retention": "limits"})
            .to_string(),
    )?;
    for consumer in ["archive", "aggregators"] {
        admin.request(
            &format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{consumer}"),
            &serde_json::json!({"stream_name": stream, "config": {"durable_name": consumer, "ack_policy": "explicit",
                "deliver_policy": "all", "max_ack_pending": -1, "max_waiting": 512}})
            .to_string(),
        )?;
    }
    let keys: Vec<String> = (0..args.sensors).map(|s| format!("sensor-{s:05}")).collect();
    let durability = "JetStream file storage (acknowledged once stored; fsync every 2 min by default)".to_owned();
    let result = run_peer(
        args,
        "nats-jetstream",
        durability,
        |role| match role {
            Role::Producer => {
                let mut n = Nats::connect(addr)?;
                let inbox = n.inbox.clone();
                n.subscribe(&inbox, 1)?;
                let (keys, stream) = (&keys, &stream);
                Ok(Box::new(move |batch: &[(u32, Vec<u8>)]| {
                    for (sensor, payload) in batch {
                        n.publish(&format!("{stream}.{}", keys[*sensor as usize]), Some(&inbox), payload)?;
                    }
                    n.flush()?;
                    for _ in batch {
                        let ack = n.next()?;
                        if ack.status.is_some() || !ack.payload.starts_with(b"{\"stream\"") {
                            return Err(Failure::new(format!(
                                "nats publish not acknowledged: {}",
                                String::from_utf8_lossy(&ack.payload)
                            )));
                        }
                    }
                    Ok(())
                }) as SendFn<'_>)
            }
            _ => Err(Failure::new("unused")),
        },
        |role, sink, done| {
            let mut n = Nats::connect(addr)?;
            let inbox = n.inbox.clone();
            n.subscribe(&inbox, 1)?;
            let consumer = if matches!(role, Role::Aggregator(_)) { "aggregators" } else { "archive" };
            let next = format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}");
            // no_wait: the server answers at once (404 when it has nothing), so a pull never hangs.
            let ask = serde_json::json!({"batch": 1024, "no_wait": true}).to_string();
            loop {
                n.publish(&next, Some(&inbox), ask.as_bytes())?;
                n.flush()?;
                let mut got = 0;
                loop {
                    let m = n.next()?;
                    if m.status.is_some() {
                        break; // 404: nothing to pull; 408: fewer than asked for. The pull is over.
                    }
                    if let Some(reply) = &m.reply {
                        n.publish(reply, None, b"")?;
                    }
                    sink(&m.payload);
                    got += 1;
                    if got == 1024 {
                        break;
                    }
                }
                n.flush()?;
                if done(got) {
                    return Ok(());
                }
                if got == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
            }
        },
    );
    let _ = admin.request(&format!("$JS.API.STREAM.DELETE.{stream}"), "");
    result
}

// ---- the shared pipeline ----

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Producer,
    Archiver,
    Aggregator(u32),
}

/// What a producer connection does with a batch.
pub type SendFn<'a> = Box<dyn FnMut(&[(u32, Vec<u8>)]) -> Result<(), Failure> + 'a>;

/// Runs producers (made by `producer`) and consumers (run by `consume`, which calls its sink
/// with each payload, and `done` with how many it took after each read until it says so) for
/// the bench's duration. Consumers are done once they took everything published: the archiver
/// by itself, the group's members together.
fn run_peer<'p, P, C>(
    args: &BenchArgs,
    system: &str,
    durability: String,
    producer: P,
    consume: C,
) -> Result<RunResult, Failure>
where
    P: Fn(Role) -> Result<SendFn<'p>, Failure> + Sync,
    C: Fn(Role, &mut dyn FnMut(&[u8]), &mut dyn FnMut(u64) -> bool) -> Result<(), Failure> + Sync,
{
    // The total is known once the producers stop.
    let total = AtomicU64::new(u64::MAX);
    let taken_by_group = AtomicU64::new(0);
    let progress = Progress::new();
    let consumer = |role: Role, counter: Option<&AtomicU64>| -> Result<Aggregator, Failure> {
        let mut agg = Aggregator::new(args.sensors);
        let mut taken = 0u64;
        let mut done = |n: u64| {
            let total = total.load(Ordering::Acquire);
            match role {
                Role::Aggregator(_) => taken_by_group.fetch_add(n, Ordering::AcqRel) + n >= total,
                _ => {
                    taken += n;
                    taken >= total
                }
            }
        };
        consume(
            role,
            &mut |payload| {
                agg.take(payload, "sensor-00000".len(), args.format, progress.start);
                if let Some(c) = counter {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            },
            &mut done,
        )?;
        Ok(agg.finish())
    };
    let (expected, archive, aggregators, samples) = thread::scope(|s| {
        let archiver = s.spawn(|| consumer(Role::Archiver, Some(&progress.archived)));
        let workers: Vec<_> =
            (0..args.aggregators).map(|i| s.spawn(move || consumer(Role::Aggregator(i), None))).collect();
        let producers: Vec<_> = (0..args.producers)
            .map(|p| {
                let (progress, producer) = (&progress, &producer);
                s.spawn(move || {
                    let mut send = producer(Role::Producer)?;
                    produce(p, args, progress, |batch| send(batch))
                })
            })
            .collect();
        let samples = progress.watch(Duration::from_secs_f64(args.duration), system);
        let expected = join_producers(producers, args.sensors);
        let sum: u64 = expected.as_ref().map_or(0, |e| e.iter().map(|a| a.count).sum());
        total.store(sum, Ordering::Release);
        let archive = archiver.join().expect("the archiver thread");
        let aggregators: Vec<_> = workers.into_iter().map(|w| w.join().expect("an aggregator thread")).collect();
        Ok::<_, Failure>((expected?, archive?, aggregators.into_iter().collect::<Result<Vec<_>, _>>()?, samples))
    })?;
    let seconds = progress.start.elapsed().as_secs_f64();
    Ok(RunResult::assemble(
        system,
        durability,
        "the server's".into(),
        args,
        &expected,
        archive,
        &aggregators,
        seconds,
        samples,
    ))
}
