//! `statuslist.StatusList`: a thread-safe handle on a core list.

use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PyString};
use statuslist_core::{Error, StatusListObject, DEFAULT_MAX_BYTES};

use crate::error::{detached, raise, CoreError};

type Core = statuslist_core::StatusList;

/// A bit-packed Token Status List (spec §4.1).
#[pyclass(frozen, module = "statuslist._native")]
pub(crate) struct StatusList {
    inner: Mutex<Core>,
}

fn err(e: Error) -> PyErr {
    CoreError(e).into()
}

/// Borrows a bytes-like argument: `bytes` without a copy, any other buffer copied once.
fn with_bytes<T>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> PyResult<T>) -> PyResult<T> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return f(b.as_bytes());
    }
    match PyBuffer::<u8>::get(obj) {
        Ok(buf) => f(&buf.to_vec(obj.py())?),
        Err(_) => Err(PyTypeError::new_err(format!(
            "expected a bytes-like object, got {}",
            obj.get_type().name()?
        ))),
    }
}

/// A Python int as `i128`, or `None` when it is an int too large for that; a non-int is a
/// `TypeError` saying `expected` (worded like Python's own, e.g. "... must be integers").
fn python_int(obj: &Bound<'_, PyAny>, expected: &str) -> PyResult<Option<i128>> {
    if let Ok(v) = obj.extract::<i128>() {
        return Ok(Some(v));
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(None);
    }
    Err(PyTypeError::new_err(format!(
        "{expected}, not {}",
        obj.get_type().name()?
    )))
}

/// A size or count argument: negative is an `ArgumentError`, beyond `u64` a limit error.
fn non_negative(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    match python_int(obj, &format!("{what} must be an int"))? {
        Some(v) if v < 0 => Err(err(Error::InvalidArgument(format!(
            "{what} must not be negative, got {v}"
        )))),
        Some(v) if v <= i128::from(u64::MAX) => Ok(v as u64),
        _ => Err(raise(
            crate::error::Class::LimitExceeded,
            format!("{what} {obj} is too large"),
        )),
    }
}

/// A `max_bytes` argument.
fn byte_limit(v: i128) -> PyResult<usize> {
    if v < 0 {
        return Err(err(Error::InvalidArgument(format!(
            "max_bytes must not be negative, got {v}"
        ))));
    }
    Ok(usize::try_from(v).unwrap_or(usize::MAX))
}

fn index_error(index: &dyn std::fmt::Display, len: u64) -> PyErr {
    raise(
        crate::error::Class::IndexOutOfRange,
        format!("index {index} is out of range for a list of {len} entries"),
    )
}

/// A status value for a list of `bits` bits: values that no `bits` can hold (beyond 255, or
/// beyond any machine integer) are reported like any other out-of-range value.
fn status_value(obj: &Bound<'_, PyAny>, bits: u8) -> PyResult<u64> {
    let max = if bits == 8 { 255 } else { (1u16 << bits) - 1 };
    match python_int(obj, "status value must be an int")? {
        Some(v) if v < 0 => Err(err(Error::InvalidArgument(format!(
            "status value must not be negative, got {v}"
        )))),
        Some(v) if v <= i128::from(max) => Ok(v as u64),
        _ => Err(raise(
            crate::error::Class::ValueOutOfRange,
            format!("status value {obj} does not fit in {bits} bit(s) (maximum {max})"),
        )),
    }
}

/// Indices as `u64`: typed buffers (array, numpy, memoryview) of 32/64-bit integers or any
/// iterable of ints. Negative or oversized indices are out of range for a list of `len`.
fn extract_indices(obj: &Bound<'_, PyAny>, len: u64) -> PyResult<Vec<u64>> {
    let py = obj.py();
    if let Ok(buf) = PyBuffer::<u64>::get(obj) {
        return buf.to_vec(py);
    }
    if let Ok(buf) = PyBuffer::<u32>::get(obj) {
        return Ok(buf.to_vec(py)?.into_iter().map(u64::from).collect());
    }
    let signed: Vec<i64> = if let Ok(buf) = PyBuffer::<i64>::get(obj) {
        buf.to_vec(py)?
    } else if let Ok(buf) = PyBuffer::<i32>::get(obj) {
        buf.to_vec(py)?.into_iter().map(i64::from).collect()
    } else {
        let mut out = Vec::with_capacity(obj.len().unwrap_or(0));
        for item in obj.try_iter()? {
            let item = item?;
            match python_int(&item, "set_many indices must be integers")? {
                Some(v) if (0..=i128::from(u64::MAX)).contains(&v) => out.push(v as u64),
                _ => return Err(index_error(&item, len)),
            }
        }
        return Ok(out);
    };
    signed
        .into_iter()
        .map(|i| u64::try_from(i).map_err(|_| index_error(&i, len)))
        .collect()
}

/// Status values as bytes: a `bytes`-like object (checked by the list) or ints below 2^bits.
fn extract_values(obj: &Bound<'_, PyAny>, bits: u8) -> PyResult<Vec<u8>> {
    if let Ok(buf) = PyBuffer::<u8>::get(obj) {
        return buf.to_vec(obj.py());
    }
    let mut out = Vec::with_capacity(obj.len().unwrap_or(0));
    for item in obj.try_iter()? {
        out.push(status_value(&item?, bits)? as u8);
    }
    Ok(out)
}

fn parse_json(obj: &Bound<'_, PyAny>) -> PyResult<StatusListObject> {
    if let Ok(s) = obj.cast::<PyString>() {
        return StatusListObject::from_json(s.to_str()?).map_err(err);
    }
    if obj.cast::<PyBytes>().is_ok() || obj.cast::<pyo3::types::PyByteArray>().is_ok() {
        return with_bytes(obj, |b| {
            let text = std::str::from_utf8(b)
                .map_err(|_| err(Error::MalformedObject("JSON text is not UTF-8".into())))?;
            StatusListObject::from_json(text).map_err(err)
        });
    }
    let json = obj.py().import("json")?.call_method1("dumps", (obj,))?;
    StatusListObject::from_json(json.cast::<PyString>()?.to_str()?).map_err(err)
}

impl StatusList {
    fn wrap(core: Core) -> Self {
        Self {
            inner: Mutex::new(core),
        }
    }

    /// Locks the list; when another thread holds it (e.g. during a long encode), waits with the
    /// GIL released so the interpreter keeps running.
    fn lock(&self, py: Python<'_>) -> MutexGuard<'_, Core> {
        match self.inner.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                // Wait for the holder without the GIL (the guard itself cannot leave this
                // thread, so wait, then retry attached).
                py.detach(|| drop(self.inner.lock().unwrap_or_else(PoisonError::into_inner)));
                self.lock(py)
            }
        }
    }

    fn resolve_index(core: &Core, index: &Bound<'_, PyAny>) -> PyResult<u64> {
        let len = i128::from(core.len());
        let Some(i) = python_int(index, "status list indices must be integers")? else {
            return Err(index_error(index, core.len()));
        };
        let resolved = if i < 0 { i + len } else { i };
        if !(0..len).contains(&resolved) {
            return Err(index_error(&i, core.len()));
        }
        Ok(resolved as u64)
    }
}

#[pymethods]
impl StatusList {
    /// A list of `size` entries of `bits` bits each, all 0x00 (VALID).
    #[new]
    #[pyo3(signature = (size, bits = 1))]
    fn new(size: &Bound<'_, PyAny>, bits: i128) -> PyResult<Self> {
        let size = non_negative(size, "size")?;
        let bits = u64::from(statuslist_core::list::check_bits(bits).map_err(err)?);
        Ok(Self::wrap(Core::new(size, bits).map_err(err)?))
    }

    /// Bits per entry (1, 2, 4 or 8).
    #[getter]
    fn bits(&self, py: Python<'_>) -> u8 {
        self.lock(py).bits()
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.lock(py).len() as usize
    }

    fn __getitem__(&self, py: Python<'_>, index: &Bound<'_, PyAny>) -> PyResult<u8> {
        let core = self.lock(py);
        let i = Self::resolve_index(&core, index)?;
        core.get(i).map_err(err)
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        index: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let mut core = self.lock(py);
        let i = Self::resolve_index(&core, index)?;
        let value = status_value(value, core.bits())?;
        core.set(i, value).map_err(err)
    }

    /// Sets `values[k]` at `indices[k]` for all `k`, atomically: nothing changes unless every
    /// index and value is valid. Accepts typed buffers (array, numpy) or sequences of ints.
    fn set_many(
        &self,
        py: Python<'_>,
        indices: &Bound<'_, PyAny>,
        values: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        // Size and bits are fixed for the list's lifetime.
        let (len, bits) = {
            let core = self.lock(py);
            (core.len(), core.bits())
        };
        let indices = extract_indices(indices, len)?;
        let values = extract_values(values, bits)?;
        let core: &mut Core = &mut self.lock(py);
        detached(py, || core.set_many(&indices, &values))
    }

    /// The statuses at `indices` as one `bytes` (one byte per index); any index out of range
    /// fails the whole call. Accepts the same index forms as `set_many`.
    fn get_many<'py>(
        &self,
        py: Python<'py>,
        indices: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let len = self.lock(py).len();
        let indices = extract_indices(indices, len)?;
        let core: &Core = &self.lock(py);
        let values = detached(py, || core.get_many(&indices))?;
        Ok(PyBytes::new(py, &values))
    }

    /// `{status value: number of entries}` for every value that occurs.
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let core: &Core = &self.lock(py);
        let counts = detached(py, || Ok(core.counts()))?;
        let dict = PyDict::new(py);
        for (value, n) in counts.into_iter().enumerate() {
            if n > 0 {
                dict.set_item(value, n)?;
            }
        }
        Ok(dict)
    }

    /// The packed byte array (spec §4.1); with `start` and `length`, only those bytes of it
    /// (cut at its end): a page of a large list without a copy of the whole.
    #[pyo3(signature = (start = None, length = None))]
    fn to_bytes<'py>(
        &self,
        py: Python<'py>,
        start: Option<&Bound<'py, PyAny>>,
        length: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let start = start
            .map(|s| non_negative(s, "start"))
            .transpose()?
            .unwrap_or(0);
        let length = length.map(|l| non_negative(l, "length")).transpose()?;
        let core = self.lock(py);
        let raw = core.as_bytes();
        let from = usize::try_from(start).map_or(raw.len(), |s| s.min(raw.len()));
        let to = match length {
            None => raw.len(),
            Some(l) => {
                usize::try_from(l).map_or(raw.len(), |l| from.saturating_add(l).min(raw.len()))
            }
        };
        Ok(PyBytes::new(py, &raw[from..to]))
    }

    /// An independent list with the same entries (its encoding starts afresh), copied without
    /// passing through Python bytes.
    fn copy(&self, py: Python<'_>) -> PyResult<Self> {
        let (raw, bits) = {
            let core = self.lock(py);
            (core.as_bytes().to_vec(), u64::from(core.bits()))
        };
        detached(py, || Core::from_bytes(raw, bits)).map(Self::wrap)
    }

    /// A list over a packed byte array; it has `8 // bits` entries per byte.
    #[staticmethod]
    #[pyo3(signature = (raw, bits = 1))]
    fn from_bytes(py: Python<'_>, raw: &Bound<'_, PyAny>, bits: i128) -> PyResult<Self> {
        let bits = u64::from(statuslist_core::list::check_bits(bits).map_err(err)?);
        let raw = with_bytes(raw, |b| Ok(b.to_vec()))?;
        detached(py, || Core::from_bytes(raw, bits)).map(Self::wrap)
    }

    /// The zlib stream (RFC 1950) of the byte array; re-encodes only chunks changed since the
    /// previous call.
    fn encode<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let core: &mut Core = &mut self.lock(py);
        let z = detached(py, || Ok(core.encode()))?;
        Ok(PyBytes::new(py, &z))
    }

    /// Decodes a zlib stream, inflating at most `max_bytes` bytes.
    #[staticmethod]
    #[pyo3(signature = (data, bits, max_bytes = DEFAULT_MAX_BYTES as i128))]
    fn decode(
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        bits: i128,
        max_bytes: i128,
    ) -> PyResult<Self> {
        let max_bytes = byte_limit(max_bytes)?;
        let bits = u64::from(statuslist_core::list::check_bits(bits).map_err(err)?);
        with_bytes(data, |z| {
            detached(py, || Core::decode(z, bits, max_bytes)).map(Self::wrap)
        })
    }

    /// The JSON `status_list` object (spec §4.2) as text.
    #[pyo3(signature = (aggregation_uri = None))]
    fn to_json(&self, py: Python<'_>, aggregation_uri: Option<String>) -> PyResult<String> {
        let core: &mut Core = &mut self.lock(py);
        detached(py, || {
            Ok(StatusListObject::from_list(core, aggregation_uri).to_json())
        })
    }

    /// Parses a JSON `status_list` object (text, bytes or a mapping) and inflates its list.
    #[staticmethod]
    #[pyo3(signature = (obj, max_bytes = DEFAULT_MAX_BYTES as i128))]
    fn from_json(py: Python<'_>, obj: &Bound<'_, PyAny>, max_bytes: i128) -> PyResult<Self> {
        let max_bytes = byte_limit(max_bytes)?;
        let parsed = parse_json(obj)?;
        detached(py, || parsed.to_list(max_bytes)).map(Self::wrap)
    }

    /// The CBOR `status_list` map (spec §4.3).
    #[pyo3(signature = (aggregation_uri = None))]
    fn to_cbor<'py>(
        &self,
        py: Python<'py>,
        aggregation_uri: Option<String>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let core: &mut Core = &mut self.lock(py);
        let cbor = detached(py, || {
            Ok(StatusListObject::from_list(core, aggregation_uri).to_cbor())
        })?;
        Ok(PyBytes::new(py, &cbor))
    }

    /// Parses a CBOR `status_list` map and inflates its list.
    #[staticmethod]
    #[pyo3(signature = (data, max_bytes = DEFAULT_MAX_BYTES as i128))]
    fn from_cbor(py: Python<'_>, data: &Bound<'_, PyAny>, max_bytes: i128) -> PyResult<Self> {
        let max_bytes = byte_limit(max_bytes)?;
        with_bytes(data, |b| {
            detached(py, || StatusListObject::from_cbor(b)?.to_list(max_bytes)).map(Self::wrap)
        })
    }

    /// Number of chunks changed since the last encode (what the next encode recompresses).
    fn dirty_chunks(&self, py: Python<'_>) -> usize {
        self.lock(py).dirty_chunks()
    }

    /// Equal when `bits`, size and every entry match.
    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> bool {
        let Ok(other) = other.cast::<StatusList>() else {
            return false;
        };
        if std::ptr::eq(self, other.get()) {
            return true;
        }
        // Copy one side out before locking the other, so two threads comparing a == b and
        // b == a cannot deadlock.
        let (bits, len, bytes) = {
            let a = self.lock(py);
            (a.bits(), a.len(), a.as_bytes().to_vec())
        };
        let b = other.get().lock(py);
        bits == b.bits() && len == b.len() && bytes == b.as_bytes()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let core = self.lock(py);
        format!("StatusList(size={}, bits={})", core.len(), core.bits())
    }
}
