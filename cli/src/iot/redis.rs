//! The pipeline on Redis Streams over loopback, speaking RESP2 directly: XADD pipelined per
//! batch, an XREAD archiver, an XREADGROUP consumer group of aggregators. `benches/peers.sh`
//! installs and starts the server.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use super::net::{connect, io};
use super::run::{run_peer, Role, RunResult, SendFn};
use crate::{BenchArgs, Failure};

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
pub(crate) fn run(args: &BenchArgs, addr: &str) -> Result<RunResult, Failure> {
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
