//! The Arrow C Data and C Stream interfaces, by hand: exporting an [`EventBatch`]'s columns
//! without copying them (the batch's buffers are shared with the consumer until it releases
//! them), and reading binary or string arrays handed to `publish_many`. The structs are those
//! of the specification (arrow.apache.org/docs/format/CDataInterface.html); the exported
//! schema is a struct of `offset: uint64, partition: uint32, timestamp: timestamp[ns, UTC],
//! key: large_binary (nullable), payload: large_binary`.
//!
//! [`EventBatch`]: crate::EventBatch

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

/// `ArrowSchema` of the C data interface.
#[repr(C)]
pub struct ArrowSchema {
    format: *const c_char,
    name: *const c_char,
    metadata: *const c_char,
    flags: i64,
    n_children: i64,
    children: *mut *mut ArrowSchema,
    dictionary: *mut ArrowSchema,
    release: Option<unsafe extern "C" fn(*mut ArrowSchema)>,
    private_data: *mut c_void,
}

/// `ArrowArray` of the C data interface.
#[repr(C)]
pub struct ArrowArray {
    length: i64,
    null_count: i64,
    offset: i64,
    n_buffers: i64,
    n_children: i64,
    buffers: *mut *const c_void,
    children: *mut *mut ArrowArray,
    dictionary: *mut ArrowArray,
    release: Option<unsafe extern "C" fn(*mut ArrowArray)>,
    private_data: *mut c_void,
}

/// `ArrowArrayStream` of the C stream interface.
#[repr(C)]
pub struct ArrowArrayStream {
    get_schema: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowSchema) -> c_int>,
    get_next: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowArray) -> c_int>,
    get_last_error: Option<unsafe extern "C" fn(*mut ArrowArrayStream) -> *const c_char>,
    release: Option<unsafe extern "C" fn(*mut ArrowArrayStream)>,
    private_data: *mut c_void,
}

const FLAG_NULLABLE: i64 = 2;

/// The columns of a polled batch, in Arrow layout: built once by copying events out of the
/// ring, then shared (read-only) by every export.
#[derive(Debug, Default)]
pub struct Columns {
    pub len: usize,
    pub offsets: Vec<u64>,
    pub partitions: Vec<u32>,
    pub timestamps: Vec<i64>,
    /// `len + 1` entries into `key_data`.
    pub key_offsets: Vec<i64>,
    pub key_data: Vec<u8>,
    /// One bit per event, set where the event has a key; empty while every event has one.
    pub key_validity: Vec<u8>,
    pub key_nulls: usize,
    /// `len + 1` entries into `payload_data`.
    pub payload_offsets: Vec<i64>,
    pub payload_data: Vec<u8>,
}

impl Columns {
    /// Empty columns with room for `events` events.
    pub fn with_capacity(events: usize) -> Self {
        let mut c = Self {
            offsets: Vec::with_capacity(events),
            partitions: Vec::with_capacity(events),
            timestamps: Vec::with_capacity(events),
            key_offsets: Vec::with_capacity(events + 1),
            payload_offsets: Vec::with_capacity(events + 1),
            ..Self::default()
        };
        c.key_offsets.push(0);
        c.payload_offsets.push(0);
        c
    }

    /// Appends one event (copies its key and payload).
    #[inline]
    pub fn push(&mut self, e: &ringbus_core::EventRef<'_>) {
        let i = self.len;
        self.offsets.push(e.offset);
        self.partitions.push(e.partition);
        self.timestamps.push(e.timestamp.min(i64::MAX as u64) as i64);
        match e.key {
            Some(key) => {
                self.key_data.extend_from_slice(key);
                if !self.key_validity.is_empty() {
                    set_bit(&mut self.key_validity, i);
                }
            }
            None => {
                if self.key_validity.is_empty() {
                    // The first event without a key: every earlier one had one.
                    self.key_validity = vec![0xff; i.div_ceil(8).max(1)];
                    clear_bits_from(&mut self.key_validity, i);
                }
                grow_bits(&mut self.key_validity, i + 1);
                self.key_nulls += 1;
            }
        }
        self.key_offsets.push(self.key_data.len() as i64);
        self.payload_data.extend_from_slice(e.payload);
        self.payload_offsets.push(self.payload_data.len() as i64);
        self.len += 1;
    }

    /// The key of event `i`, if it has one.
    pub fn key(&self, i: usize) -> Option<&[u8]> {
        let valid = self.key_validity.is_empty() || self.key_validity[i / 8] & (1 << (i % 8)) != 0;
        valid.then(|| &self.key_data[self.key_offsets[i] as usize..self.key_offsets[i + 1] as usize])
    }

    /// The payload of event `i`.
    pub fn payload(&self, i: usize) -> &[u8] {
        &self.payload_data[self.payload_offsets[i] as usize..self.payload_offsets[i + 1] as usize]
    }
}

fn set_bit(bits: &mut Vec<u8>, i: usize) {
    grow_bits(bits, i + 1);
    bits[i / 8] |= 1 << (i % 8);
}

fn grow_bits(bits: &mut Vec<u8>, n: usize) {
    if bits.len() < n.div_ceil(8) {
        bits.resize(n.div_ceil(8), 0);
    }
}

fn clear_bits_from(bits: &mut [u8], from: usize) {
    for i in from..bits.len() * 8 {
        bits[i / 8] &= !(1 << (i % 8));
    }
}

// ---- export: schema ----

/// What an exported schema node owns.
struct SchemaPrivate {
    _format: CString,
    _name: CString,
    children: Box<[*mut ArrowSchema]>,
}

fn schema_node(format: &str, name: &str, flags: i64, children: Vec<ArrowSchema>) -> ArrowSchema {
    let format = CString::new(format).expect("no NUL");
    let name = CString::new(name).expect("no NUL");
    let children: Box<[*mut ArrowSchema]> = children.into_iter().map(|c| Box::into_raw(Box::new(c))).collect();
    let mut private = Box::new(SchemaPrivate { _format: format, _name: name, children });
    ArrowSchema {
        format: private._format.as_ptr(),
        name: private._name.as_ptr(),
        metadata: std::ptr::null(),
        flags,
        n_children: private.children.len() as i64,
        children: if private.children.is_empty() { std::ptr::null_mut() } else { private.children.as_mut_ptr() },
        dictionary: std::ptr::null_mut(),
        release: Some(release_schema),
        private_data: Box::into_raw(private).cast(),
    }
}

unsafe extern "C" fn release_schema(schema: *mut ArrowSchema) {
    // SAFETY: the consumer passes a schema we exported and have not released (the spec calls
    // release once); its private data is the SchemaPrivate we boxed.
    let schema = unsafe { &mut *schema };
    if schema.release.is_none() {
        return;
    }
    // SAFETY: as above.
    let private = unsafe { Box::from_raw(schema.private_data.cast::<SchemaPrivate>()) };
    for &child in private.children.iter() {
        // SAFETY: each child was boxed by schema_node; one moved out by the consumer has its
        // release set to None and is only freed here.
        unsafe {
            if let Some(release) = (*child).release {
                release(child);
            }
            drop(Box::from_raw(child));
        }
    }
    schema.release = None;
}

/// The schema of an event batch: a struct of its five columns.
pub fn export_schema() -> ArrowSchema {
    schema_node(
        "+s",
        "",
        0,
        vec![
            schema_node("L", "offset", 0, vec![]),
            schema_node("I", "partition", 0, vec![]),
            schema_node("tsn:UTC", "timestamp", 0, vec![]),
            schema_node("Z", "key", FLAG_NULLABLE, vec![]),
            schema_node("Z", "payload", 0, vec![]),
        ],
    )
}

// ---- export: array ----

/// What an exported array node owns: a share of the columns it points into.
struct ArrayPrivate {
    _columns: Arc<Columns>,
    buffers: Box<[*const c_void]>,
    children: Box<[*mut ArrowArray]>,
}

fn array_node(
    columns: &Arc<Columns>,
    null_count: usize,
    buffers: Vec<*const c_void>,
    children: Vec<ArrowArray>,
) -> ArrowArray {
    let children: Box<[*mut ArrowArray]> = children.into_iter().map(|c| Box::into_raw(Box::new(c))).collect();
    let mut private =
        Box::new(ArrayPrivate { _columns: columns.clone(), buffers: buffers.into_boxed_slice(), children });
    ArrowArray {
        length: columns.len as i64,
        null_count: null_count as i64,
        offset: 0,
        n_buffers: private.buffers.len() as i64,
        n_children: private.children.len() as i64,
        buffers: private.buffers.as_mut_ptr(),
        children: if private.children.is_empty() { std::ptr::null_mut() } else { private.children.as_mut_ptr() },
        dictionary: std::ptr::null_mut(),
        release: Some(release_array),
        private_data: Box::into_raw(private).cast(),
    }
}

unsafe extern "C" fn release_array(array: *mut ArrowArray) {
    // SAFETY: the consumer passes an array we exported and have not released; its private
    // data is the ArrayPrivate we boxed.
    let array = unsafe { &mut *array };
    if array.release.is_none() {
        return;
    }
    // SAFETY: as above.
    let private = unsafe { Box::from_raw(array.private_data.cast::<ArrayPrivate>()) };
    for &child in private.children.iter() {
        // SAFETY: each child was boxed by array_node; a moved-out child has release None.
        unsafe {
            if let Some(release) = (*child).release {
                release(child);
            }
            drop(Box::from_raw(child));
        }
    }
    array.release = None;
}

/// The batch as a struct array whose buffers are the columns' own (no copy).
pub fn export_array(columns: &Arc<Columns>) -> ArrowArray {
    let c = columns;
    let ptr = |p: *const u8| p.cast::<c_void>();
    let none = std::ptr::null::<c_void>();
    let key_validity = if c.key_nulls == 0 { none } else { ptr(c.key_validity.as_ptr()) };
    array_node(
        c,
        0,
        vec![none],
        vec![
            array_node(c, 0, vec![none, ptr(c.offsets.as_ptr().cast())], vec![]),
            array_node(c, 0, vec![none, ptr(c.partitions.as_ptr().cast())], vec![]),
            array_node(c, 0, vec![none, ptr(c.timestamps.as_ptr().cast())], vec![]),
            array_node(
                c,
                c.key_nulls,
                vec![key_validity, ptr(c.key_offsets.as_ptr().cast()), ptr(c.key_data.as_ptr())],
                vec![],
            ),
            array_node(c, 0, vec![none, ptr(c.payload_offsets.as_ptr().cast()), ptr(c.payload_data.as_ptr())], vec![]),
        ],
    )
}

// ---- export: stream ----

struct StreamPrivate {
    columns: Arc<Columns>,
    done: bool,
}

unsafe extern "C" fn stream_get_schema(stream: *mut ArrowArrayStream, out: *mut ArrowSchema) -> c_int {
    let _ = stream;
    // SAFETY: the consumer passes a writable ArrowSchema.
    unsafe { out.write(export_schema()) };
    0
}

unsafe extern "C" fn stream_get_next(stream: *mut ArrowArrayStream, out: *mut ArrowArray) -> c_int {
    // SAFETY: a live stream we exported; its private data is our StreamPrivate.
    let private = unsafe { &mut *(*stream).private_data.cast::<StreamPrivate>() };
    let array = if private.done {
        // End of stream: a released array.
        ArrowArray {
            length: 0,
            null_count: 0,
            offset: 0,
            n_buffers: 0,
            n_children: 0,
            buffers: std::ptr::null_mut(),
            children: std::ptr::null_mut(),
            dictionary: std::ptr::null_mut(),
            release: None,
            private_data: std::ptr::null_mut(),
        }
    } else {
        private.done = true;
        export_array(&private.columns)
    };
    // SAFETY: the consumer passes a writable ArrowArray.
    unsafe { out.write(array) };
    0
}

unsafe extern "C" fn stream_get_last_error(_stream: *mut ArrowArrayStream) -> *const c_char {
    std::ptr::null()
}

unsafe extern "C" fn stream_release(stream: *mut ArrowArrayStream) {
    // SAFETY: a stream we exported, released once.
    let stream = unsafe { &mut *stream };
    if stream.release.is_none() {
        return;
    }
    // SAFETY: its private data is the StreamPrivate we boxed.
    drop(unsafe { Box::from_raw(stream.private_data.cast::<StreamPrivate>()) });
    stream.release = None;
}

/// A stream of one record batch: the columns.
pub fn export_stream(columns: &Arc<Columns>) -> ArrowArrayStream {
    ArrowArrayStream {
        get_schema: Some(stream_get_schema),
        get_next: Some(stream_get_next),
        get_last_error: Some(stream_get_last_error),
        release: Some(stream_release),
        private_data: Box::into_raw(Box::new(StreamPrivate { columns: columns.clone(), done: false })).cast(),
    }
}

// ---- capsules ----

/// A value in a PyCapsule named `name`, released (if the consumer did not move it out) when
/// the capsule is destroyed.
pub trait Released {
    fn release_if_live(&mut self);
}

impl Released for ArrowSchema {
    fn release_if_live(&mut self) {
        if let Some(release) = self.release {
            // SAFETY: live (release set) and ours to release.
            unsafe { release(self) };
        }
    }
}

impl Released for ArrowArray {
    fn release_if_live(&mut self) {
        if let Some(release) = self.release {
            // SAFETY: live and ours to release.
            unsafe { release(self) };
        }
    }
}

impl Released for ArrowArrayStream {
    fn release_if_live(&mut self) {
        if let Some(release) = self.release {
            // SAFETY: live and ours to release.
            unsafe { release(self) };
        }
    }
}

/// Transparent, so the capsule's pointer (to its first field) points at the struct itself.
#[repr(transparent)]
struct CapsuleValue<T: Released>(T);

impl<T: Released> Drop for CapsuleValue<T> {
    fn drop(&mut self) {
        self.0.release_if_live();
    }
}

// SAFETY: the raw pointers inside point to data owned by the export (boxed, or shared through
// an Arc of immutable columns); nothing is tied to the creating thread.
unsafe impl<T: Released> Send for CapsuleValue<T> {}

/// Wraps an exported struct in a capsule with the interface's name for it.
pub fn capsule<'py, T: Released + 'static>(
    py: Python<'py>,
    value: T,
    name: &'static CStr,
) -> PyResult<Bound<'py, PyCapsule>> {
    PyCapsule::new_with_value(py, CapsuleValue(value), name)
}

// ---- import: binary and string arrays for publish_many ----

/// A binary or string array imported from `__arrow_c_array__`: the capsules stay referenced
/// (so the producer's buffers stay alive) while slices are read from it.
pub struct ImportedBinary<'py> {
    _schema: Bound<'py, PyCapsule>,
    _array: Bound<'py, PyCapsule>,
    len: usize,
    offset: usize,
    validity: *const u8,
    offsets32: *const i32,
    offsets64: *const i64,
    data: *const u8,
}

impl<'py> ImportedBinary<'py> {
    /// Imports `obj.__arrow_c_array__()`, which must be binary, large binary, string or large
    /// string.
    pub fn import(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        let pair = obj.call_method0("__arrow_c_array__")?;
        let (schema, array): (Bound<'py, PyCapsule>, Bound<'py, PyCapsule>) = pair.extract()?;
        let schema_ptr = schema.pointer_checked(Some(c"arrow_schema"))?.as_ptr().cast::<ArrowSchema>();
        let array_ptr = array.pointer_checked(Some(c"arrow_array"))?.as_ptr().cast::<ArrowArray>();
        // SAFETY: the capsules are named per the PyCapsule interface, so they hold these
        // structs; we only read them, while holding the capsules.
        let (schema_ref, array_ref) = unsafe { (&*schema_ptr, &*array_ptr) };
        if schema_ref.release.is_none() || array_ref.release.is_none() {
            return Err(PyValueError::new_err(format!("{what}: the Arrow array was already released")));
        }
        // SAFETY: a live schema's format is a NUL-terminated string.
        let format = unsafe { CStr::from_ptr(schema_ref.format) }.to_bytes();
        let large = match format {
            b"z" | b"u" => false,
            b"Z" | b"U" => true,
            other => {
                return Err(PyTypeError::new_err(format!(
                    "{what}: an Arrow array must be binary or string (large or not), not format {:?}",
                    String::from_utf8_lossy(other)
                )))
            }
        };
        if array_ref.n_buffers != 3 {
            return Err(PyValueError::new_err(format!(
                "{what}: a binary Arrow array has 3 buffers, not {}",
                array_ref.n_buffers
            )));
        }
        // SAFETY: three buffers, per the check above.
        let buffers = unsafe { std::slice::from_raw_parts(array_ref.buffers, 3) };
        let validity = if array_ref.null_count == 0 { std::ptr::null() } else { buffers[0].cast::<u8>() };
        Ok(Self {
            len: usize::try_from(array_ref.length).map_err(|_| PyValueError::new_err("negative Arrow length"))?,
            offset: usize::try_from(array_ref.offset).map_err(|_| PyValueError::new_err("negative Arrow offset"))?,
            validity,
            offsets32: if large { std::ptr::null() } else { buffers[1].cast() },
            offsets64: if large { buffers[1].cast() } else { std::ptr::null() },
            data: buffers[2].cast(),
            _schema: schema,
            _array: array,
        })
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Value `i` (`None` where it is null).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        assert!(i < self.len);
        let j = self.offset + i;
        // SAFETY: the array is live (we hold its capsule) and `j` is within offset + length,
        // so the validity bit and both offsets exist; the offsets bound bytes of `data`.
        unsafe {
            if !self.validity.is_null() && *self.validity.add(j / 8) & (1 << (j % 8)) == 0 {
                return None;
            }
            let (start, end) = if self.offsets32.is_null() {
                (*self.offsets64.add(j) as usize, *self.offsets64.add(j + 1) as usize)
            } else {
                (*self.offsets32.add(j) as usize, *self.offsets32.add(j + 1) as usize)
            };
            if end == start {
                return Some(&[]);
            }
            Some(std::slice::from_raw_parts(self.data.add(start), end - start))
        }
    }
}
