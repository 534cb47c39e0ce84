//! `statuslist._native.IndexPermutation`: the keyed index permutation behind allocation.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use statuslist_core::permutation::{AnswerJson, EntriesJson, Permutation};
use statuslist_core::Error;

use crate::error::{detached, raise, Class, CoreError};

/// Batches up to this long are computed without releasing the GIL (a hand-off costs more).
const ATTACHED: u64 = 1024;

/// A keyed bijection of `[0, size)`; `key` is the list's secret (its first 64 bytes count).
#[pyclass(frozen, module = "statuslist._native")]
pub(crate) struct IndexPermutation {
    inner: Permutation,
}

/// A counter value or count from Python: negative or past `u64` is an `ArgumentError`.
fn counter(v: i128, what: &str) -> PyResult<u64> {
    u64::try_from(v).map_err(|_| {
        CoreError(Error::InvalidArgument(format!(
            "{what} must be in [0, 2**64), got {v}"
        )))
        .into()
    })
}

impl IndexPermutation {
    /// `[start, start + count)` must lie inside the domain.
    fn check(&self, start: u64, count: u64) -> PyResult<()> {
        let size = self.inner.size();
        if start.checked_add(count).is_none_or(|end| end > size) {
            return Err(raise(
                Class::IndexOutOfRange,
                format!("counter range [{start}, {start} + {count}) outside [0, {size})"),
            ));
        }
        Ok(())
    }

    /// Checks `[start, start + count)` against the domain and runs `work` on it, detached for
    /// long ranges.
    fn range<T: Send>(
        &self,
        py: Python<'_>,
        start: i128,
        count: i128,
        work: impl FnOnce(&Permutation, u64, usize) -> Result<T, Error> + Send,
    ) -> PyResult<T> {
        let (start, count) = (counter(start, "start")?, counter(count, "count")?);
        self.check(start, count)?;
        let count = usize::try_from(count).map_err(|_| {
            CoreError(Error::LimitExceeded {
                what: "permutation batch",
                actual: count,
                limit: usize::MAX as u64,
            })
        })?;
        let inner = &self.inner;
        if count as u64 <= ATTACHED {
            work(inner, start, count).map_err(|e| CoreError(e).into())
        } else {
            detached(py, || work(inner, start, count))
        }
    }
}

#[pymethods]
impl IndexPermutation {
    #[new]
    fn new(key: &[u8], size: i128) -> PyResult<Self> {
        if size < 1 {
            return Err(CoreError(Error::InvalidArgument(format!(
                "size must be positive, got {size}"
            )))
            .into());
        }
        let size = u64::try_from(size).map_err(|_| {
            raise(
                Class::LimitExceeded,
                format!("size {size} is too large (at most 2**64 - 1)"),
            )
        })?;
        Ok(Self {
            inner: Permutation::new(key, size).map_err(CoreError)?,
        })
    }

    /// The size of the domain.
    #[getter]
    fn size(&self) -> u64 {
        self.inner.size()
    }

    /// `permute(k)` for one counter value; outside `[0, size)` is an `IndexOutOfRangeError`.
    fn __call__(&self, k: i128) -> PyResult<u64> {
        let size = self.inner.size();
        match u64::try_from(k) {
            Ok(k) if k < size => Ok(self.inner.permute(k).map_err(CoreError)?),
            _ => Err(raise(
                Class::IndexOutOfRange,
                format!("counter {k} outside [0, {size})"),
            )),
        }
    }

    /// `permute(k)` for `k` in `[start, start + count)` as `bytes` of u64 little-endian.
    fn many<'py>(
        &self,
        py: Python<'py>,
        start: i128,
        count: i128,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = self.range(py, start, count, |p, start, count| {
            let indices = p.many(start, count)?;
            Ok(indices
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect::<Vec<u8>>())
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The allocation answer's entries for `[start, start + count)` of the list at `uri`:
    /// `{"status_list": {"idx": N, "uri": "…"}}` items joined by `", "`, as `json.dumps` writes
    /// them; written straight into the returned `bytes`.
    fn entries_json<'py>(
        &self,
        py: Python<'py>,
        start: i128,
        count: i128,
        uri: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let indices = self.range(py, start, count, Permutation::many)?;
        let json = EntriesJson::new(&indices, uri);
        if indices.len() as u64 <= ATTACHED {
            return PyBytes::new_with(py, json.len(), |buf| {
                json.write(buf);
                Ok(())
            });
        }
        // Long: written without the GIL into a buffer of our own, then copied once (a
        // `new_with` buffer is zero-filled first, with the GIL held: as long as the write).
        let out = detached(py, || {
            let mut out = vec![0u8; json.len()];
            json.write(&mut out);
            Ok(out)
        })?;
        Ok(PyBytes::new(py, &out))
    }

    /// The whole answer of one allocation, `[{"status_list": {"idx": N, "uri": "…"}}, …]` as
    /// `json.dumps` writes it, for `parts` of `(permutation, start, count, uri)` in order; one
    /// native call (without the GIL when long) writing straight into the returned `bytes`.
    #[staticmethod]
    #[allow(clippy::needless_pass_by_value)] // pyo3 hands arguments over by value
    fn answer_json<'py>(
        py: Python<'py>,
        parts: Vec<(PyRef<'py, IndexPermutation>, i128, i128, String)>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut ranges = Vec::with_capacity(parts.len());
        let mut total = 0u64;
        for (perm, start, count, _) in &parts {
            let (start, count) = (counter(*start, "start")?, counter(*count, "count")?);
            perm.check(start, count)?;
            total = total.saturating_add(count);
            ranges.push((&perm.inner, start, count as usize));
        }
        let compute = || -> Result<Vec<Vec<u64>>, Error> {
            ranges
                .iter()
                .map(|(p, start, count)| p.many(*start, *count))
                .collect()
        };
        let indices = if total <= ATTACHED {
            compute().map_err(CoreError)?
        } else {
            detached(py, compute)?
        };
        let answer = AnswerJson::new(
            indices
                .iter()
                .zip(&parts)
                .map(|(idx, (_, _, _, uri))| EntriesJson::new(idx, uri))
                .collect(),
        );
        if total <= ATTACHED {
            return PyBytes::new_with(py, answer.len(), |buf| {
                answer.write(buf);
                Ok(())
            });
        }
        let out = detached(py, || {
            let mut out = vec![0u8; answer.len()];
            answer.write(&mut out);
            Ok(out)
        })?;
        Ok(PyBytes::new(py, &out))
    }

    fn __repr__(&self) -> String {
        format!("IndexPermutation(size={})", self.inner.size())
    }
}
