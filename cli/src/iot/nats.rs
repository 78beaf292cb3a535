//! The pipeline on NATS JetStream over loopback, speaking the NATS protocol directly: a
//! file-storage stream, publishes acknowledged by the stream, a pull consumer for the archiver
//! and one shared pull consumer for the aggregators. `benches/peers.sh` installs and starts
//! the server.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use super::net::{connect, io};
use super::run::{run_peer, Role, RunResult, SendFn};
use crate::{BenchArgs, Failure};

struct Nats {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    /// This connection's own reply subject: inboxes must not be shared between connections,
    /// or every subscriber gets every reply.
    inbox: String,
}

static NEXT_INBOX: AtomicU32 = AtomicU32::new(0);

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
pub(crate) fn run(args: &BenchArgs, addr: &str) -> Result<RunResult, Failure> {
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
