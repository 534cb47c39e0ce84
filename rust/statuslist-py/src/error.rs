//! Maps core errors onto the exception tree defined in `statuslist/exceptions.py`, and the one
//! helper that leaves the interpreter for O(n) work.
//!
//! The classes live in Python so that they can inherit from both `StatusListError` and the
//! matching builtin (`IndexError` for an out-of-range index, `MemoryError`-free `ValueError` for
//! the rest), which `create_exception!` cannot express.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use statuslist_core::Error;

/// A core error on its way to Python.
pub(crate) struct CoreError(pub(crate) Error);

impl From<Error> for CoreError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

static EXCEPTIONS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn class_name(e: &Error) -> &'static str {
    match e {
        Error::InvalidBits(_) => "InvalidBitsError",
        Error::IndexOutOfRange { .. } => "IndexOutOfRangeError",
        Error::ValueOutOfRange { .. } => "ValueOutOfRangeError",
        Error::LimitExceeded { .. } => "LimitExceededError",
        Error::Decompress(_) => "DecompressError",
        Error::MalformedBase64(_) => "Base64Error",
        Error::MalformedObject(_) => "MalformedError",
        Error::InvalidArgument(_) => "ArgumentError",
        Error::Key(_) => "KeyLoadError",
        Error::BadSignature(_) => "SignatureError",
        Error::MalformedToken(_) => "TokenError",
    }
}

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> Self {
        raise(class_name(&err.0), err.0.to_string())
    }
}

/// An exception of the `statuslist.exceptions` class named `class`, for errors the binding
/// detects itself (e.g. a Python int too large for any index).
pub(crate) fn raise(class: &str, message: String) -> PyErr {
    Python::attach(|py| {
        let module = EXCEPTIONS
            .get_or_try_init(py, || py.import("statuslist.exceptions").map(Bound::unbind));
        let class = module.and_then(|m| {
            m.bind(py)
                .getattr(class)?
                .cast_into::<PyType>()
                .map_err(PyErr::from)
        });
        match class {
            Ok(class) => PyErr::from_type(class, message),
            Err(e) => {
                PyRuntimeError::new_err(format!("{message} (exception classes unavailable: {e})"))
            }
        }
    })
}

/// Runs `work` with the GIL released and maps its error. Every O(n) call goes through here.
pub(crate) fn detached<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T, Error> + Send,
{
    py.detach(work).map_err(|e| CoreError(e).into())
}
