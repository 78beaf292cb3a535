//! Python arguments to Rust values: payloads and keys, timeouts, timestamps, start positions.
#![deny(unsafe_code)]

use std::borrow::Cow;
use std::time::{Duration, Instant};

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyByteArray, PyBytes, PyString};
use ringbus_core as rb;

/// The longest a blocking call stays detached before it checks for signals.
pub(crate) const SLICE: Duration = Duration::from_millis(100);

/// The bytes of a payload or key: bytes and str are borrowed; bytearray and other buffers
/// (memoryview, array, numpy) are copied, since they can change while we read them.
pub(crate) fn bytes_of<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    bytes_or_wrong_type(obj, || what.to_owned())
}

/// As [`bytes_of`], naming the argument only when it is wrong (`publish_many` calls this per
/// value).
#[inline]
pub(crate) fn bytes_or_wrong_type<'a>(
    obj: &'a Bound<'_, PyAny>,
    what: impl FnOnce() -> String,
) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Cow::Borrowed(s.to_str()?.as_bytes()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Cow::Owned(b.to_vec()));
    }
    if let Ok(buffer) = PyBuffer::<u8>::get(obj) {
        return Ok(Cow::Owned(buffer.to_vec(obj.py())?));
    }
    Err(PyTypeError::new_err(format!(
        "{} must be bytes, bytearray, memoryview or str, not {}",
        what(),
        obj.get_type().name()?
    )))
}

/// A timeout in seconds: `None` waits without limit; negative or NaN is an error.
pub(crate) fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_nan() || t < 0.0 => {
            Err(PyValueError::new_err(format!("timeout must be >= 0 seconds, not {t}")))
        }
        Some(t) => Ok(Some(Instant::now() + Duration::try_from_secs_f64(t).unwrap_or(Duration::MAX / 4))),
    }
}

/// How long the next slice of a wait may be; `None` once the deadline has passed.
pub(crate) fn next_slice(deadline: Option<Instant>) -> Option<Duration> {
    match deadline {
        None => Some(SLICE),
        Some(d) => d.checked_duration_since(Instant::now()).filter(|r| !r.is_zero()).map(|r| r.min(SLICE)),
    }
}

/// Seconds as a duration, for options.
pub(crate) fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    if value.is_nan() || value < 0.0 {
        return Err(PyValueError::new_err(format!("{what} must be >= 0 seconds, not {value}")));
    }
    Duration::try_from_secs_f64(value).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

/// Nanoseconds since the Unix epoch from an int (ns) or an aware or naive-UTC datetime.
pub(crate) fn timestamp_ns(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err("timestamp must be an int (ns since the Unix epoch) or a datetime, not bool"));
    }
    if let Ok(ns) = obj.extract::<i128>() {
        return u64::try_from(ns)
            .map_err(|_| PyValueError::new_err(format!("timestamp must be ns since the Unix epoch (>= 0), not {ns}")));
    }
    let datetime = obj.py().import("datetime")?;
    if obj.is_instance(&datetime.getattr("datetime")?)? {
        // Naive datetimes are taken as UTC (the bus's clock is UTC).
        let utc = datetime.getattr("timezone")?.getattr("utc")?;
        let aware = if obj.getattr("tzinfo")?.is_none() {
            obj.call_method("replace", (), Some(&[("tzinfo", utc.clone())].into_py_dict(obj.py())?))?
        } else {
            obj.clone()
        };
        let epoch = datetime.getattr("datetime")?.call1((1970, 1, 1, 0, 0, 0, 0, utc))?;
        let delta = aware.call_method1("__sub__", (epoch,))?;
        let days: i64 = delta.getattr("days")?.extract()?;
        let secs: i64 = delta.getattr("seconds")?.extract()?;
        let micros: i64 = delta.getattr("microseconds")?.extract()?;
        let ns = (days as i128 * 86_400 + secs as i128) * 1_000_000_000 + micros as i128 * 1000;
        return u64::try_from(ns).map_err(|_| PyValueError::new_err("timestamp is before the Unix epoch"));
    }
    Err(PyTypeError::new_err(format!(
        "timestamp must be an int (ns since the Unix epoch) or a datetime, not {}",
        obj.get_type().name()?
    )))
}

/// Where a reader starts, from `"earliest"`, `"latest"`, `"committed"` (groups), an offset or a
/// datetime.
pub(crate) fn start_of(obj: &Bound<'_, PyAny>, group: bool) -> PyResult<rb::Start> {
    if let Ok(s) = obj.cast::<PyString>() {
        return match s.to_str()? {
            "earliest" => Ok(rb::Start::Earliest),
            "latest" => Ok(rb::Start::Latest),
            "committed" if group => Ok(rb::Start::Committed),
            other => Err(PyValueError::new_err(format!(
                "start must be 'earliest', 'latest'{}, an offset or a datetime, not '{other}'",
                if group { ", 'committed'" } else { "" }
            ))),
        };
    }
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err("start must be a string, an offset (int) or a datetime, not bool"));
    }
    if let Ok(offset) = obj.extract::<i128>() {
        return u64::try_from(offset)
            .map(rb::Start::Offset)
            .map_err(|_| PyValueError::new_err(format!("an offset is >= 0, not {offset}")));
    }
    let datetime = obj.py().import("datetime")?.getattr("datetime")?;
    if obj.is_instance(&datetime)? {
        return Ok(rb::Start::Timestamp(timestamp_ns(obj)?));
    }
    Err(PyTypeError::new_err(format!(
        "start must be a string, an offset (int) or a datetime, not {}",
        obj.get_type().name()?
    )))
}
