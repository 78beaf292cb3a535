//! How the persister writes: io_uring, or `pwrite`/`fdatasync` where io_uring is unavailable.
//!
//! Both run behind [`Io`]: write some buffers at file offsets, then make them durable. The
//! io_uring backend submits the writes and the `fdatasync` as one linked chain (io_uring does
//! not complete in submission order; a link makes the sync start only after every write in
//! front of it succeeded) and resubmits what a short write or a broken link left over.
//!
//! The backend is chosen when a bus opens: `RINGBUS_IO=std` forces `pwrite`/`fdatasync`,
//! `RINGBUS_IO=uring` forces io_uring (opening fails if it cannot be set up); otherwise io_uring
//! is tried and, if the kernel refuses it (ENOSYS, EPERM from seccomp, ENOMEM from memlock
//! limits), the standard backend is used and the reason kept for stats.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// One write: bytes at a file offset.
pub(crate) struct Write<'a> {
    pub(crate) offset: u64,
    pub(crate) bytes: &'a [u8],
}

/// A persister's way to write and sync files.
pub(crate) trait Io: Send {
    /// Writes every buffer at its offset; with `sync`, then makes them durable (fdatasync).
    /// Returns once everything completed, or the first error.
    fn write(&mut self, file: &File, writes: &[Write<'_>], sync: bool) -> io::Result<()>;
}

/// Which backend a bus uses, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoChoice {
    /// `"io_uring"` or `"std"` (`pwrite` + `fdatasync`).
    pub backend: &'static str,
    /// Why `std` was chosen, when it was (the environment, or io_uring's setup error).
    pub reason: Option<String>,
}

impl IoChoice {
    /// Whether io_uring was wanted but could not be set up (rather than `RINGBUS_IO=std`).
    pub(crate) fn fell_back(&self) -> bool {
        self.backend == "std" && self.reason.as_deref().is_some_and(|r| !r.starts_with("RINGBUS_IO="))
    }
}

/// `pwrite` + `fdatasync`.
#[derive(Debug, Default)]
pub(crate) struct StdIo;

impl Io for StdIo {
    fn write(&mut self, file: &File, writes: &[Write<'_>], sync: bool) -> io::Result<()> {
        for w in writes {
            file.write_all_at(w.bytes, w.offset)?;
        }
        if sync {
            file.sync_data()?;
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
mod uring {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    use io_uring::{opcode, squeue, types, IoUring};

    use super::{Io, Write};

    /// Most writes in one chain (the ring has room for them and the sync).
    const MAX_CHAIN: usize = 63;

    /// io_uring with linked write → fdatasync chains.
    pub(crate) struct UringIo {
        ring: IoUring,
    }

    impl std::fmt::Debug for UringIo {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("UringIo")
        }
    }

    impl UringIo {
        /// Sets up a ring, or says why the kernel refused.
        pub(crate) fn new() -> io::Result<Self> {
            let ring = IoUring::new((MAX_CHAIN + 1) as u32)?;
            Ok(Self { ring })
        }
    }

    /// A piece still to write: (file offset, bytes).
    type Pending<'a> = (u64, &'a [u8]);

    impl Io for UringIo {
        fn write(&mut self, file: &File, writes: &[Write<'_>], sync: bool) -> io::Result<()> {
            let fd = types::Fd(file.as_raw_fd());
            let mut pending: Vec<Pending<'_>> =
                writes.iter().filter(|w| !w.bytes.is_empty()).map(|w| (w.offset, w.bytes)).collect();
            let mut need_sync = sync;
            while !pending.is_empty() || need_sync {
                let chain: Vec<Pending<'_>> = pending.drain(..pending.len().min(MAX_CHAIN)).collect();
                let with_sync = need_sync && pending.is_empty();
                let n = chain.len() + usize::from(with_sync);
                {
                    let mut sq = self.ring.submission();
                    for (i, (offset, bytes)) in chain.iter().enumerate() {
                        // Each piece is at most 2 GiB - 4 KiB (the kernel's limit per write).
                        let len = bytes.len().min(0x7fff_f000) as u32;
                        let entry =
                            opcode::Write::new(fd, bytes.as_ptr(), len).offset(*offset).build().user_data(i as u64);
                        let entry = if i + 1 < n { entry.flags(squeue::Flags::IO_LINK) } else { entry };
                        // SAFETY: the buffer outlives the submission: we wait below for every
                        // entry of this chain to complete before returning or reusing it.
                        unsafe { sq.push(&entry) }.map_err(|_| io::Error::other("io_uring submission queue full"))?;
                    }
                    if with_sync {
                        let entry =
                            opcode::Fsync::new(fd).flags(types::FsyncFlags::DATASYNC).build().user_data(u64::MAX);
                        // SAFETY: an fsync entry refers to no memory.
                        unsafe { sq.push(&entry) }.map_err(|_| io::Error::other("io_uring submission queue full"))?;
                    }
                }
                let mut first_error = None;
                let mut synced = false;
                let mut retry: Vec<Pending<'_>> = Vec::new();
                let mut done = 0;
                while done < n {
                    // Every entry of the chain must complete before the buffers may go: wait
                    // through interruptions.
                    match self.ring.submit_and_wait(1) {
                        Ok(_) => {}
                        Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => {
                            continue
                        }
                        Err(e) => return Err(e),
                    }
                    for cqe in self.ring.completion() {
                        done += 1;
                        let res = cqe.result();
                        let data = cqe.user_data();
                        if data == u64::MAX {
                            if res >= 0 {
                                synced = true;
                            } else if res != -libc::ECANCELED {
                                first_error.get_or_insert(io::Error::from_raw_os_error(-res));
                            }
                            continue;
                        }
                        let (offset, bytes) = chain[data as usize];
                        if res == -libc::ECANCELED {
                            // A link before it broke: write it again.
                            retry.push((offset, bytes));
                        } else if res < 0 {
                            first_error.get_or_insert(io::Error::from_raw_os_error(-res));
                        } else if res == 0 && !bytes.is_empty() {
                            first_error.get_or_insert(io::Error::new(io::ErrorKind::WriteZero, "write returned 0"));
                        } else if (res as usize) < bytes.len() {
                            // Short write: the rest goes again.
                            retry.push((offset + res as u64, &bytes[res as usize..]));
                        }
                    }
                }
                if let Some(e) = first_error {
                    return Err(e);
                }
                retry.append(&mut pending);
                pending = retry;
                if synced && pending.is_empty() {
                    need_sync = false;
                }
            }
            Ok(())
        }
    }
}

/// Chooses the backend (see the module docs) by trying to set io_uring up once.
/// `RINGBUS_IO` other than `std` or `uring` is an error, as is `uring` where io_uring cannot be
/// set up.
pub(crate) fn choose() -> io::Result<IoChoice> {
    let forced = std::env::var("RINGBUS_IO").ok();
    match forced.as_deref() {
        Some("std") => return Ok(IoChoice { backend: "std", reason: Some("RINGBUS_IO=std".into()) }),
        None | Some("uring") | Some("") => {}
        Some(other) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RINGBUS_IO={other:?}: use \"std\" or \"uring\""),
            ))
        }
    }
    #[cfg(target_os = "linux")]
    match uring::UringIo::new() {
        Ok(_) => Ok(IoChoice { backend: "io_uring", reason: None }),
        Err(e) if forced.as_deref() == Some("uring") => {
            Err(io::Error::new(e.kind(), format!("RINGBUS_IO=uring but io_uring is unavailable: {e}")))
        }
        Err(e) => Ok(IoChoice { backend: "std", reason: Some(format!("io_uring unavailable: {e}")) }),
    }
    #[cfg(not(target_os = "linux"))]
    Ok(IoChoice { backend: "std", reason: Some("io_uring is Linux only".into()) })
}

/// A backend of the chosen kind (one per persister thread: an io_uring instance is not shared).
/// Built with the `fault-injection` feature (the test command's), it is wrapped in `FaultIo`
/// when `RINGBUS_IO_FAULT` asks for it; otherwise that variable is ignored.
pub(crate) fn instance(choice: &IoChoice) -> io::Result<Box<dyn Io>> {
    #[cfg(target_os = "linux")]
    let io: Box<dyn Io> = if choice.backend == "io_uring" { Box::new(uring::UringIo::new()?) } else { Box::new(StdIo) };
    #[cfg(not(target_os = "linux"))]
    let io: Box<dyn Io> = Box::new(StdIo);
    #[cfg(feature = "fault-injection")]
    let io: Box<dyn Io> = match std::env::var("RINGBUS_IO_FAULT") {
        Ok(spec) => Box::new(FaultIo::parse(&spec, io)?),
        Err(_) => io,
    };
    #[cfg(feature = "power-loss")]
    let io: Box<dyn Io> = Box::new(super::powerloss::SimIo(io));
    Ok(io)
}

/// Fault injection for tests (the `fault-injection` feature): `RINGBUS_IO_FAULT=<kind>:<n>` fails the `n`-th (from 1) call of
/// that kind and every later one (a failed disk stays failed): `write` (a call without sync:
/// EIO), `fsync` (a call with sync: EIO after writing), `nospace` (any call: ENOSPC before
/// writing), `short` (any call: the first half of its last buffer reaches the file, then the
/// write fails as a short write the backend could not complete). Read when a topic's persister
/// starts.
#[cfg(feature = "fault-injection")]
pub(crate) struct FaultIo {
    inner: Box<dyn Io>,
    kind: FaultKind,
    at: u64,
    calls: u64,
}

#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultKind {
    Write,
    Fsync,
    NoSpace,
    Short,
}

#[cfg(feature = "fault-injection")]
impl FaultIo {
    fn parse(spec: &str, inner: Box<dyn Io>) -> io::Result<Self> {
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RINGBUS_IO_FAULT={spec:?}: use write:N, fsync:N, nospace:N or short:N"),
            )
        };
        let (kind, n) = spec.split_once(':').ok_or_else(bad)?;
        let kind = match kind {
            "write" => FaultKind::Write,
            "fsync" => FaultKind::Fsync,
            "nospace" => FaultKind::NoSpace,
            "short" => FaultKind::Short,
            _ => return Err(bad()),
        };
        let at = n.parse().ok().filter(|&n| n > 0).ok_or_else(bad)?;
        Ok(Self { inner, kind, at, calls: 0 })
    }
}

#[cfg(feature = "fault-injection")]
impl Io for FaultIo {
    fn write(&mut self, file: &File, writes: &[Write<'_>], sync: bool) -> io::Result<()> {
        let counts = match self.kind {
            FaultKind::Write => !sync,
            FaultKind::Fsync => sync,
            FaultKind::NoSpace | FaultKind::Short => true,
        };
        if counts {
            self.calls += 1;
        }
        if !counts || self.calls < self.at {
            return self.inner.write(file, writes, sync);
        }
        match self.kind {
            FaultKind::Write => Err(io::Error::from_raw_os_error(libc::EIO)),
            FaultKind::NoSpace => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
            FaultKind::Fsync => {
                self.inner.write(file, writes, false)?;
                Err(io::Error::from_raw_os_error(libc::EIO))
            }
            FaultKind::Short => {
                if let Some((last, rest)) = writes.split_last() {
                    let half = Write { offset: last.offset, bytes: &last.bytes[..last.bytes.len() / 2] };
                    self.inner.write(file, rest, false)?;
                    self.inner.write(file, &[half], false)?;
                }
                Err(io::Error::new(io::ErrorKind::WriteZero, "short write: the device took only part of the data"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A forced `pwrite` backend is a choice, not a fallback (the diagnostics warn only for
    /// the latter).
    #[test]
    fn only_an_unavailable_io_uring_is_a_fallback() {
        let choice = |backend, reason: Option<&str>| IoChoice { backend, reason: reason.map(str::to_owned) };
        assert!(!choice("io_uring", None).fell_back());
        assert!(!choice("std", Some("RINGBUS_IO=std")).fell_back());
        assert!(choice("std", Some("io_uring unavailable: Operation not permitted")).fell_back());
    }

    /// Both backends write scattered buffers where they belong and sync.
    #[test]
    fn backends_write_where_asked() {
        let dir = std::env::temp_dir().join(format!("ringbus-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut backends: Vec<(&str, Box<dyn Io>)> = vec![("std", Box::new(StdIo))];
        #[cfg(target_os = "linux")]
        match uring::UringIo::new() {
            Ok(u) => backends.push(("io_uring", Box::new(u))),
            Err(e) => eprintln!("io_uring unavailable here ({e}); testing the std backend only"),
        }
        let big = vec![7u8; 300_000];
        for (name, mut io) in backends {
            let path = dir.join(name);
            let file = File::options().create(true).truncate(true).read(true).write(true).open(&path).unwrap();
            let writes: Vec<Write<'_>> = (0..100u64)
                .map(|i| Write { offset: i * 10, bytes: b"0123456789" })
                .chain([Write { offset: 4096, bytes: &big }])
                .collect();
            io.write(&file, &writes, true).unwrap();
            let got = std::fs::read(&path).unwrap();
            assert_eq!(got.len(), 4096 + big.len(), "{name}");
            assert!(got[..1000].chunks(10).all(|c| c == b"0123456789"), "{name}");
            assert!(got[4096..].iter().all(|&b| b == 7), "{name}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
