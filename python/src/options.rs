//! Topic options from Python keyword arguments: the keys of the core's configuration table,
//! the same keys and units as `topic.conf` and the C API (the seconds-based names of earlier
//! releases still work, with a `DeprecationWarning`).
#![deny(unsafe_code)]

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use ringbus_core as rb;

use crate::errors::Result;

/// Topic settings given to `Bus(**options)` (defaults) or `Bus.topic(...)`: keys of the core's
/// configuration table (`rb::CONFIG_KEYS`, the keys and units of topic.conf and the C API)
/// with their values in the table's string form, each checked when given.
#[derive(Debug, Clone, Default)]
pub(crate) struct TopicOptions {
    entries: Vec<(String, String)>,
}

/// Options of earlier releases, in seconds, and the table key each stands for. Still
/// accepted, with a `DeprecationWarning`.
const SECONDS_OPTIONS: [(&str, &str); 3] =
    [("retention_age", "retention_ms"), ("async_max_delay", "async_max_delay_ms"), ("dedup_window", "dedup_window_ms")];

/// Table keys whose values are words rather than numbers.
const WORD_OPTIONS: [&str; 4] = ["durability", "producers", "timestamps", "wait"];

/// Milliseconds as the table writes them: up to six decimals, no trailing zeros.
pub(crate) fn ms_text(ms: f64, key: &str) -> PyResult<String> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(PyValueError::new_err(format!("{key} must be >= 0, not {ms}")));
    }
    let text = format!("{ms:.6}");
    Ok(text.trim_end_matches('0').trim_end_matches('.').to_owned())
}

impl TopicOptions {
    pub(crate) fn from_kwargs(py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> Result<Self> {
        let mut o = Self::default();
        let Some(kwargs) = kwargs else { return Ok(o) };
        for (k, v) in kwargs.iter() {
            let key: String = k.extract()?;
            o.give(py, &key, &v)?;
        }
        Ok(o)
    }

    /// Takes option `key` = `value` from Python (None: not given).
    pub(crate) fn give(&mut self, py: Python<'_>, key: &str, value: &Bound<'_, PyAny>) -> Result<()> {
        if value.is_none() {
            return Ok(());
        }
        let type_name = value.get_type().name()?.to_string();
        let type_error =
            |expected: &str| PyTypeError::new_err(format!("option {key} must be {expected}, not {type_name}"));
        let is_bool = value.is_instance_of::<pyo3::types::PyBool>();
        let (name, text) = if let Some((_, table_key)) = SECONDS_OPTIONS.iter().find(|(old, _)| *old == key) {
            let message = format!("option {key} (seconds) is deprecated: use {table_key} (milliseconds)");
            PyErr::warn(
                py,
                &py.get_type::<pyo3::exceptions::PyDeprecationWarning>(),
                &std::ffi::CString::new(message)?,
                1,
            )?;
            if is_bool {
                return Err(type_error("a number of seconds").into());
            }
            let seconds: f64 = value.extract().map_err(|_| type_error("a number of seconds"))?;
            (*table_key, ms_text(seconds * 1000.0, key)?)
        } else if let Some(entry) = rb::config_key(key) {
            let text = if WORD_OPTIONS.contains(&entry.name) {
                value.extract::<String>().map_err(|_| type_error("a str"))?
            } else if is_bool {
                return Err(type_error("an int").into());
            } else if let Ok(n) = value.extract::<i128>() {
                n.to_string()
            } else if entry.name.ends_with("_ms") {
                let ms: f64 = value.extract().map_err(|_| type_error("a number"))?;
                ms_text(ms, key)?
            } else {
                return Err(type_error("an int").into());
            };
            (entry.name, text)
        } else {
            let mut known: Vec<&str> = rb::CONFIG_KEYS.iter().map(|k| k.name).collect();
            known.extend(SECONDS_OPTIONS.iter().map(|(old, _)| *old));
            return Err(
                PyTypeError::new_err(format!("unknown option '{key}'; the options are {}", known.join(", "))).into()
            );
        };
        // The value's form now (ranges when the topic is created).
        if let Err(rb::Error::InvalidConfig { reason, .. }) = rb::TopicConfig::new().set(name, &text) {
            let values = rb::config_key(name).map_or("", |k| k.values);
            return Err(PyValueError::new_err(format!("{name} must be {values}, not '{text}' ({reason})")).into());
        }
        self.set(name, text);
        Ok(())
    }

    fn set(&mut self, key: &str, value: String) {
        self.entries.retain(|(k, _)| k != key);
        self.entries.push((key.to_owned(), value));
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// These options over `defaults`.
    pub(crate) fn over(&self, defaults: &TopicOptions) -> TopicOptions {
        let mut o = defaults.clone();
        for (k, v) in &self.entries {
            o.set(k, v.clone());
        }
        o
    }

    pub(crate) fn config(&self) -> Result<rb::TopicConfig> {
        let mut c = rb::TopicConfig::new();
        c.set_all(&self.entries)?;
        Ok(c)
    }
}

pub(crate) fn durability_name(d: &rb::Durability) -> &'static str {
    match d {
        rb::Durability::Memory => "memory",
        rb::Durability::Async { .. } => "async",
        rb::Durability::Sync => "sync",
        _ => "other",
    }
}
