//! A power-loss simulator for tests (the `power-loss` feature): it watches every change ringbus
//! makes under a directory (through `fs.rs` and the persister's [`Io`](super::io::Io)) and
//! keeps, per file, what the page cache holds apart from what is durable. A **power cut**
//! freezes the directory (every later change fails with EIO) and computes what a disk might
//! hold afterwards; [`Simulator::write_image`] writes that out as a directory tree to recover
//! from.
//!
//! The model is what ext4 and xfs *may* do, not what they usually do:
//!
//! - A write lands in the cache. `fdatasync`/`fsync` of a file makes all of that file's data
//!   and its size durable. Preallocation and truncation are size changes under the same rule.
//! - A directory fsync makes the creates, renames and deletes in that directory durable.
//! - At a cut, a file keeps its durable bytes, plus, independently and at random, each 4 KiB
//!   page written since its last sync (writes persist out of order); the page written last may
//!   be torn at a 512-byte sector boundary. An unsynced size change persists or not.
//! - Each directory entry whose creation, rename or deletion was not followed by a directory
//!   fsync persists or not, independently of every other (a rename may leave both names, or
//!   neither). A directory whose own entry is lost takes its contents with it.
//!
//! The simulator syncs nothing for real (a sync only moves the model's durable state), so
//! rounds run at memory speed. At the cut it also checks that the model's view of the cache
//! equals the real files: a change made around `fs.rs` shows up in
//! [`Simulator::unseen_changes`].
//!
//! Choices come from a seeded generator, so a round replays from its seed (the operations'
//! interleaving across threads may still differ).
#![deny(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use super::fs;
use super::io::{Io, Write};

/// The unit in which unsynced data persists or not.
const PAGE: usize = 4096;
/// The unit a torn page is cut at.
const SECTOR: usize = 512;

static SIMULATORS: Mutex<Vec<Weak<Simulator>>> = Mutex::new(Vec::new());
/// How many simulators are attached: when none is, finding one costs a load.
static ATTACHED: AtomicUsize = AtomicUsize::new(0);

/// What one power cut did, for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Changes seen before the cut.
    pub operations: u64,
    /// Unsynced pages that persisted, and that were lost.
    pub pages_kept: u64,
    /// Unsynced pages lost.
    pub pages_lost: u64,
    /// Pages that persisted torn at a sector boundary.
    pub pages_torn: u64,
    /// Unsynced directory entries (creates, renames, deletes) that persisted.
    pub entries_kept: u64,
    /// Unsynced directory entries that were lost (the durable binding came back).
    pub entries_lost: u64,
}

/// A simulated disk under one directory; see the module docs. Dropping it detaches it.
#[derive(Debug)]
pub struct Simulator {
    root: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    nodes: Vec<Node>,
    /// (device, inode) of a real file -> its node.
    inodes: HashMap<(u64, u64), usize>,
    operations: u64,
    cut_at: Option<u64>,
    cut: Option<Cut>,
    rng: u64,
}

#[derive(Debug)]
struct Cut {
    at: Instant,
    image: Image,
    report: CutReport,
    unseen: Vec<String>,
}

#[derive(Debug)]
enum Node {
    File(FileNode),
    Dir(DirNode),
}

#[derive(Debug, Default)]
struct FileNode {
    cache: Vec<u8>,
    durable: Vec<u8>,
    /// Pages written since the last sync.
    dirty: BTreeSet<usize>,
    /// The page the last write ended in (the one that may tear).
    last_page: Option<usize>,
}

#[derive(Debug, Default)]
struct DirNode {
    cache: BTreeMap<OsString, usize>,
    durable: BTreeMap<OsString, usize>,
}

/// A directory tree as it survived a cut.
#[derive(Debug)]
enum Image {
    File(Vec<u8>),
    Dir(BTreeMap<OsString, Image>),
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

fn inode_of(file: &File) -> io::Result<(u64, u64)> {
    let m = file.metadata()?;
    Ok((m.dev(), m.ino()))
}

impl Simulator {
    /// Attaches a simulator to `root` (created if missing): everything under it now counts as
    /// durable, and every later change ringbus makes there is simulated. `seed` drives every
    /// choice a cut makes.
    ///
    /// # Errors
    /// Reading the tree, or `root` already has a simulator (or is inside one's root).
    pub fn attach(root: &Path, seed: u64) -> io::Result<Arc<Simulator>> {
        std::fs::create_dir_all(root)?;
        if for_path(root).is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is simulated already", root.display()),
            ));
        }
        let mut state =
            State { nodes: Vec::new(), inodes: HashMap::new(), operations: 0, cut_at: None, cut: None, rng: seed | 1 };
        state.snapshot(root)?;
        let sim = Arc::new(Simulator { root: root.to_owned(), state: Mutex::new(state) });
        let mut all = SIMULATORS.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&sim));
        ATTACHED.fetch_add(1, Ordering::SeqCst);
        Ok(sim)
    }

    /// The directory this simulator watches.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Arms a cut: the `n`-th change from the start (counting from 1) finds the power gone
    /// and fails, as does every change after it.
    pub fn cut_at_operation(&self, n: u64) {
        self.lock().cut_at = Some(n.max(1));
    }

    /// Cuts the power now (no effect if it is cut already). Returns when the cut happened.
    pub fn cut(&self) -> Instant {
        let mut st = self.lock();
        if st.cut.is_none() {
            st.cut_now(&self.root);
        }
        st.cut.as_ref().expect("cut").at
    }

    /// Whether the power is cut.
    pub fn is_cut(&self) -> bool {
        self.lock().cut.is_some()
    }

    /// When the power was cut.
    pub fn cut_time(&self) -> Option<Instant> {
        self.lock().cut.as_ref().map(|c| c.at)
    }

    /// Changes seen so far.
    pub fn operations(&self) -> u64 {
        self.lock().operations
    }

    /// What the cut did (`None` before it).
    pub fn report(&self) -> Option<CutReport> {
        self.lock().cut.as_ref().map(|c| c.report)
    }

    /// Differences between the model's view of the cache and the real files at the cut: a
    /// change that did not go through `fs.rs`. Empty when the model saw everything.
    pub fn unseen_changes(&self) -> Vec<String> {
        self.lock().cut.as_ref().map(|c| c.unseen.clone()).unwrap_or_default()
    }

    /// Writes what survived the cut under `dest` (which must not exist): the directory to
    /// recover from.
    ///
    /// # Errors
    /// The power is not cut yet, or writing fails.
    pub fn write_image(&self, dest: &Path) -> io::Result<()> {
        let st = self.lock();
        let cut = st.cut.as_ref().ok_or_else(|| io::Error::other("the power was not cut"))?;
        if dest.exists() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} exists", dest.display())));
        }
        cut.image.write(dest)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a change and fails it if the power is (or now goes) out.
    fn enter(&self) -> io::Result<MutexGuard<'_, State>> {
        let mut st = self.lock();
        if st.cut.is_some() {
            return Err(eio());
        }
        st.operations += 1;
        if st.cut_at.is_some_and(|n| st.operations >= n) {
            st.cut_now(&self.root);
            return Err(eio());
        }
        Ok(st)
    }

    fn relative(&self, path: &Path) -> io::Result<Vec<OsString>> {
        let rel = path.strip_prefix(&self.root).map_err(|_| io::Error::other("path outside the simulated root"))?;
        Ok(rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_owned()),
                _ => None,
            })
            .collect())
    }

    /// `create_dir_all` (`recursive`) or `create_dir`.
    pub(crate) fn create_dir(&self, path: &Path, recursive: bool) -> io::Result<()> {
        let mut st = self.enter()?;
        fs::make_dir(path, recursive)?;
        let mut at = 0;
        for name in self.relative(path)? {
            at = match st.dir(at).cache.get(&name) {
                Some(&id) => id,
                None => {
                    let id = st.push(Node::Dir(DirNode::default()));
                    st.dir_mut(at).cache.insert(name, id);
                    id
                }
            };
        }
        Ok(())
    }

    /// Opens or creates a file (see [`fs::create_file`]).
    pub(crate) fn create_file(&self, path: &Path, truncate: bool) -> io::Result<File> {
        let mut st = self.enter()?;
        let file = fs::open_for_create(path, truncate)?;
        let (parent, name) = st.parent(&self.relative(path)?)?;
        let id = match st.dir(parent).cache.get(&name) {
            Some(&id) => {
                if truncate {
                    st.file_mut(id).cache.clear();
                }
                id
            }
            None => {
                let id = st.push(Node::File(FileNode::default()));
                st.dir_mut(parent).cache.insert(name, id);
                id
            }
        };
        st.inodes.insert(inode_of(&file)?, id);
        Ok(file)
    }

    /// Writes `(offset, bytes)` pieces, then, with `sync`, makes the file durable.
    pub(crate) fn write(&self, file: &File, writes: &[(u64, &[u8])], sync: bool) -> io::Result<()> {
        let mut st = self.enter()?;
        let id = st.node_of(file)?;
        for &(offset, bytes) in writes {
            file.write_all_at(bytes, offset)?;
            let node = st.file_mut(id);
            let (start, end) = (offset as usize, offset as usize + bytes.len());
            if node.cache.len() < end {
                node.cache.resize(end, 0);
            }
            node.cache[start..end].copy_from_slice(bytes);
            if !bytes.is_empty() {
                node.dirty.extend(start / PAGE..=(end - 1) / PAGE);
                node.last_page = Some((end - 1) / PAGE);
            }
        }
        if sync {
            let node = st.file_mut(id);
            node.durable.clone_from(&node.cache);
            node.dirty.clear();
            node.last_page = None;
        }
        Ok(())
    }

    /// Preallocates (extends the size to at least `len`).
    pub(crate) fn allocate(&self, file: &File, len: u64) -> io::Result<()> {
        let mut st = self.enter()?;
        let id = st.node_of(file)?;
        fs::fallocate(file, len)?;
        let node = st.file_mut(id);
        if node.cache.len() < len as usize {
            node.cache.resize(len as usize, 0);
        }
        Ok(())
    }

    /// Renames within the tree.
    pub(crate) fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.enter()?;
        std::fs::rename(from, to)?;
        let (from_dir, from_name) = st.parent(&self.relative(from)?)?;
        let (to_dir, to_name) = st.parent(&self.relative(to)?)?;
        let id = st.dir_mut(from_dir).cache.remove(&from_name).ok_or_else(|| io::Error::other("unknown file"))?;
        st.dir_mut(to_dir).cache.insert(to_name, id);
        Ok(())
    }

    /// Deletes a file.
    pub(crate) fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.enter()?;
        std::fs::remove_file(path)?;
        let (dir, name) = st.parent(&self.relative(path)?)?;
        if let Some(id) = st.dir_mut(dir).cache.remove(&name) {
            // The inode number may be reused by a file outside the tree.
            st.inodes.retain(|_, node| *node != id);
        }
        Ok(())
    }

    /// Makes a directory's entries durable.
    pub(crate) fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut st = self.enter()?;
        let id = st.lookup(&self.relative(path)?).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        match &mut st.nodes[id] {
            Node::Dir(d) => d.durable.clone_from(&d.cache),
            Node::File(_) => return Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
        }
        Ok(())
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        ATTACHED.fetch_sub(1, Ordering::SeqCst);
    }
}

impl State {
    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn dir(&self, id: usize) -> &DirNode {
        match &self.nodes[id] {
            Node::Dir(d) => d,
            Node::File(_) => panic!("node {id} is a file"),
        }
    }

    fn dir_mut(&mut self, id: usize) -> &mut DirNode {
        match &mut self.nodes[id] {
            Node::Dir(d) => d,
            Node::File(_) => panic!("node {id} is a file"),
        }
    }

    fn file_mut(&mut self, id: usize) -> &mut FileNode {
        match &mut self.nodes[id] {
            Node::File(f) => f,
            Node::Dir(_) => panic!("node {id} is a directory"),
        }
    }

    fn node_of(&self, file: &File) -> io::Result<usize> {
        self.inodes.get(&inode_of(file)?).copied().ok_or_else(|| io::Error::other("a file the simulator never saw"))
    }

    /// The node at `names` from the root, in the cache's view.
    fn lookup(&self, names: &[OsString]) -> Option<usize> {
        let mut at = 0;
        for name in names {
            match &self.nodes[at] {
                Node::Dir(d) => at = *d.cache.get(name)?,
                Node::File(_) => return None,
            }
        }
        Some(at)
    }

    /// The directory holding `names`' last component, and that component.
    fn parent(&self, names: &[OsString]) -> io::Result<(usize, OsString)> {
        let (name, dirs) = names.split_last().ok_or_else(|| io::Error::other("the root itself"))?;
        let dir = self.lookup(dirs).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        if !matches!(self.nodes[dir], Node::Dir(_)) {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        Ok((dir, name.clone()))
    }

    /// Takes the tree under `root` as durable.
    fn snapshot(&mut self, root: &Path) -> io::Result<usize> {
        let id = self.push(Node::Dir(DirNode::default()));
        let mut entries: Vec<_> = std::fs::read_dir(root)?.collect::<io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let kind = entry.file_type()?;
            let child = if kind.is_dir() {
                self.snapshot(&entry.path())?
            } else if kind.is_file() {
                let bytes = std::fs::read(entry.path())?;
                let meta = entry.metadata()?;
                let child =
                    self.push(Node::File(FileNode { cache: bytes.clone(), durable: bytes, ..FileNode::default() }));
                self.inodes.insert((meta.dev(), meta.ino()), child);
                child
            } else {
                continue;
            };
            let d = self.dir_mut(id);
            d.cache.insert(entry.file_name(), child);
            d.durable.insert(entry.file_name(), child);
        }
        Ok(id)
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn coin(&mut self) -> bool {
        self.next() >> 63 == 1
    }

    fn cut_now(&mut self, root: &Path) {
        let at = Instant::now();
        let mut unseen = Vec::new();
        self.compare(0, root, &mut unseen);
        let mut report = CutReport { operations: self.operations, ..CutReport::default() };
        let mut files = HashMap::new();
        let image = self.image_of(0, &mut files, &mut report);
        self.cut = Some(Cut { at, image, report, unseen });
    }

    /// What node `id` looks like after the cut.
    fn image_of(&mut self, id: usize, files: &mut HashMap<usize, Vec<u8>>, report: &mut CutReport) -> Image {
        match &self.nodes[id] {
            Node::Dir(d) => {
                let names: BTreeSet<OsString> = d.cache.keys().chain(d.durable.keys()).cloned().collect();
                let mut out = BTreeMap::new();
                for name in names {
                    let d = self.dir(id);
                    let (cached, durable) = (d.cache.get(&name).copied(), d.durable.get(&name).copied());
                    let chosen = if cached == durable {
                        cached
                    } else if self.coin() {
                        report.entries_kept += 1;
                        cached
                    } else {
                        report.entries_lost += 1;
                        durable
                    };
                    if let Some(child) = chosen {
                        out.insert(name, self.image_of(child, files, report));
                    }
                }
                Image::Dir(out)
            }
            Node::File(_) => {
                if let Some(bytes) = files.get(&id) {
                    return Image::File(bytes.clone());
                }
                let bytes = self.file_image(id, report);
                files.insert(id, bytes.clone());
                Image::File(bytes)
            }
        }
    }

    fn file_image(&mut self, id: usize, report: &mut CutReport) -> Vec<u8> {
        let (cache_len, durable_len) = match &self.nodes[id] {
            Node::File(f) => (f.cache.len(), f.durable.len()),
            Node::Dir(_) => unreachable!(),
        };
        let len = if cache_len == durable_len || self.coin() { cache_len } else { durable_len };
        let dirty: Vec<usize> = match &self.nodes[id] {
            Node::File(f) => f.dirty.iter().copied().collect(),
            Node::Dir(_) => unreachable!(),
        };
        let mut choices = Vec::with_capacity(dirty.len());
        for _ in &dirty {
            let keep = self.coin();
            let torn_sectors = (self.next() % (PAGE / SECTOR) as u64) as usize;
            let tear = self.coin();
            choices.push((keep, tear, torn_sectors));
        }
        let Node::File(f) = &self.nodes[id] else { unreachable!() };
        let mut out = f.durable.clone();
        out.resize(len, 0);
        for (&page, (keep, tear, sectors)) in dirty.iter().zip(choices) {
            if !keep {
                report.pages_lost += 1;
                continue;
            }
            report.pages_kept += 1;
            let start = page * PAGE;
            let mut end = ((page + 1) * PAGE).min(len).min(f.cache.len());
            if tear && f.last_page == Some(page) {
                report.pages_torn += 1;
                end = end.min(start + sectors * SECTOR);
            }
            if start < end {
                out[start..end].copy_from_slice(&f.cache[start..end]);
            }
        }
        out
    }

    /// Compares the cache's view of node `id` with the real `path`.
    fn compare(&self, id: usize, path: &Path, unseen: &mut Vec<String>) {
        match &self.nodes[id] {
            Node::Dir(d) => {
                let real: BTreeSet<OsString> = match std::fs::read_dir(path) {
                    Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.file_name())).collect(),
                    Err(e) => {
                        unseen.push(format!("{}: {e}", path.display()));
                        return;
                    }
                };
                let model: BTreeSet<OsString> = d.cache.keys().cloned().collect();
                for extra in real.difference(&model) {
                    unseen.push(format!("{} exists but was never created through fs.rs", path.join(extra).display()));
                }
                for (name, &child) in &d.cache {
                    if real.contains(name) {
                        self.compare(child, &path.join(name), unseen);
                    } else {
                        unseen.push(format!("{} was removed around fs.rs", path.join(name).display()));
                    }
                }
            }
            Node::File(f) => match std::fs::read(path) {
                Ok(real) if real == f.cache => {}
                Ok(real) => unseen.push(format!(
                    "{} holds {} bytes the simulator did not see written ({} in its cache)",
                    path.display(),
                    real.len(),
                    f.cache.len()
                )),
                Err(e) => unseen.push(format!("{}: {e}", path.display())),
            },
        }
    }
}

impl Image {
    fn write(&self, path: &Path) -> io::Result<()> {
        match self {
            Image::File(bytes) => std::fs::write(path, bytes),
            Image::Dir(entries) => {
                std::fs::create_dir_all(path)?;
                for (name, child) in entries {
                    child.write(&path.join(name))?;
                }
                Ok(())
            }
        }
    }
}

/// The simulator watching `path`, if any.
pub(crate) fn for_path(path: &Path) -> Option<Arc<Simulator>> {
    if ATTACHED.load(Ordering::SeqCst) == 0 {
        return None;
    }
    let all = SIMULATORS.lock().unwrap_or_else(|e| e.into_inner());
    all.iter().filter_map(Weak::upgrade).find(|s| path.starts_with(&s.root))
}

/// The simulator that saw `file` created (or found it when attached), if any: the file's
/// path (from /proc/self/fd) must lie under the simulator's root, and its inode must be one
/// the simulator knows (inode numbers are reused once files are deleted).
pub(crate) fn for_file(file: &File) -> Option<Arc<Simulator>> {
    use std::os::fd::AsRawFd;
    if ATTACHED.load(Ordering::SeqCst) == 0 {
        return None;
    }
    let path = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
    let sim = for_path(&path)?;
    let key = inode_of(file).ok()?;
    let known = sim.lock().inodes.contains_key(&key);
    known.then_some(sim)
}

/// The persister's backend wrapped so a simulated directory's writes and syncs go to its
/// simulator (and are not synced for real); other files pass through.
pub(crate) struct SimIo(pub(crate) Box<dyn Io>);

impl Io for SimIo {
    fn write(&mut self, file: &File, writes: &[Write<'_>], sync: bool) -> io::Result<()> {
        match for_file(file) {
            Some(sim) => {
                let pieces: Vec<(u64, &[u8])> = writes.iter().map(|w| (w.offset, w.bytes)).collect();
                sim.write(file, &pieces, sync)
            }
            None => self.0.write(file, writes, sync),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ringbus-sim-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// Runs `work` under a simulator seeded `seed`, cuts, and returns the image's files:
    /// relative path -> bytes.
    fn cut_after(name: &str, seed: u64, work: impl FnOnce(&Path)) -> BTreeMap<PathBuf, Vec<u8>> {
        let dir = root(name);
        let sim = Simulator::attach(&dir, seed).unwrap();
        work(&dir);
        sim.cut();
        assert_eq!(sim.unseen_changes(), Vec::<String>::new());
        let out = dir.with_extension("image");
        let _ = std::fs::remove_dir_all(&out);
        sim.write_image(&out).unwrap();
        drop(sim);
        let mut files = BTreeMap::new();
        let mut stack = vec![out.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    files.insert(e.path().strip_prefix(&out).unwrap().to_owned(), std::fs::read(e.path()).unwrap());
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&out).unwrap();
        files
    }

    #[test]
    fn synced_data_and_entries_always_survive() {
        for seed in 1..40 {
            let files = cut_after("synced", seed, |dir| {
                let f = fs::create_file(&dir.join("a"), true).unwrap();
                fs::write_at(&f, &[7; 10_000], 0).unwrap();
                fs::sync_data(&f).unwrap();
                fs::sync_dir(dir).unwrap();
            });
            assert_eq!(files.get(Path::new("a")).map(Vec::as_slice), Some(&[7u8; 10_000][..]), "seed {seed}");
        }
    }

    #[test]
    fn unsynced_pages_and_entries_may_go_either_way() {
        let (mut page_kept, mut page_lost, mut entry_kept, mut entry_lost, mut torn) = (0, 0, 0, 0, 0);
        for seed in 1..200 {
            let files = cut_after("unsynced", seed, |dir| {
                // Synced: a.txt with two pages of 1s; then the second page rewritten with 2s,
                // unsynced; b created, synced as a file, its entry never synced.
                let a = fs::create_file(&dir.join("a"), true).unwrap();
                fs::write_at(&a, &[1; 8192], 0).unwrap();
                fs::sync_data(&a).unwrap();
                fs::sync_dir(dir).unwrap();
                fs::write_at(&a, &[2; 4096], 4096).unwrap();
                let b = fs::create_file(&dir.join("b"), true).unwrap();
                fs::write_at(&b, b"b", 0).unwrap();
                fs::sync_data(&b).unwrap();
            });
            let a = &files[Path::new("a")];
            assert_eq!(&a[..4096], &[1; 4096][..], "the synced page is intact");
            match (a[4096], a[8191]) {
                (2, 2) => page_kept += 1,
                (1, 1) => page_lost += 1,
                (2, 1) => torn += 1,
                other => panic!("seed {seed}: page mixes {other:?}"),
            }
            if files.contains_key(Path::new("b")) {
                assert_eq!(files[Path::new("b")], b"b");
                entry_kept += 1;
            } else {
                entry_lost += 1;
            }
        }
        assert!(page_kept > 0 && page_lost > 0 && torn > 0, "{page_kept} {page_lost} {torn}");
        assert!(entry_kept > 0 && entry_lost > 0, "{entry_kept} {entry_lost}");
    }

    #[test]
    fn an_unsynced_rename_may_leave_both_names_or_neither() {
        let mut outcomes = BTreeSet::new();
        for seed in 1..100 {
            let files = cut_after("rename", seed, |dir| {
                let f = fs::create_file(&dir.join("x.tmp"), true).unwrap();
                fs::write_at(&f, b"new", 0).unwrap();
                fs::sync_data(&f).unwrap();
                fs::sync_dir(dir).unwrap();
                fs::rename(&dir.join("x.tmp"), &dir.join("x")).unwrap();
            });
            outcomes.insert((files.contains_key(Path::new("x.tmp")), files.contains_key(Path::new("x"))));
        }
        assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    }

    #[test]
    fn a_change_made_around_fs_rs_is_reported() {
        let dir = root("unseen");
        let sim = Simulator::attach(&dir, 1).unwrap();
        let f = fs::create_file(&dir.join("a"), true).unwrap();
        std::fs::write(dir.join("a"), b"behind its back").unwrap();
        drop(f);
        sim.cut();
        assert_eq!(sim.unseen_changes().len(), 1, "{:?}", sim.unseen_changes());
        drop(sim);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn after_the_cut_every_change_fails() {
        let dir = root("frozen");
        let sim = Simulator::attach(&dir, 1).unwrap();
        sim.cut_at_operation(2);
        let f = fs::create_file(&dir.join("a"), true).unwrap();
        assert_eq!(fs::write_at(&f, b"x", 0).unwrap_err().raw_os_error(), Some(libc::EIO));
        assert!(sim.is_cut());
        assert_eq!(fs::sync_dir(&dir).unwrap_err().raw_os_error(), Some(libc::EIO));
        drop(sim);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
