//! Maps core errors onto the exception tree defined in `statuslist/exceptions.py`, and the one
//! helper that leaves the interpreter for O(n) work.
//!
//! The classes live in Python so that they can inherit from both `StatusListError` and the
//! matching builtin (`ValueError` for input errors, `IndexError` for an out-of-range index),
//! which `create_exception!` cannot express. Each core error variant maps to one [`Class`]; the
//! classes are looked up once, when the module is imported ([`load_classes`]), so a missing class
//! fails the import instead of turning an error into something else later.

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

/// The exception classes the binding raises, one per core error kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    InvalidBits,
    IndexOutOfRange,
    ValueOutOfRange,
    LimitExceeded,
    Decompress,
    Base64,
    Malformed,
    Argument,
    KeyLoad,
    Signature,
    Token,
    Critical,
}

impl Class {
    const ALL: [Self; 12] = [
        Self::InvalidBits,
        Self::IndexOutOfRange,
        Self::ValueOutOfRange,
        Self::LimitExceeded,
        Self::Decompress,
        Self::Base64,
        Self::Malformed,
        Self::Argument,
        Self::KeyLoad,
        Self::Signature,
        Self::Token,
        Self::Critical,
    ];

    /// The class's name in `statuslist.exceptions`.
    const fn name(self) -> &'static str {
        match self {
            Self::InvalidBits => "InvalidBitsError",
            Self::IndexOutOfRange => "IndexOutOfRangeError",
            Self::ValueOutOfRange => "ValueOutOfRangeError",
            Self::LimitExceeded => "LimitExceededError",
            Self::Decompress => "DecompressError",
            Self::Base64 => "Base64Error",
            Self::Malformed => "MalformedError",
            Self::Argument => "ArgumentError",
            Self::KeyLoad => "KeyLoadError",
            Self::Signature => "SignatureError",
            Self::Token => "TokenError",
            Self::Critical => "CriticalExtensionError",
        }
    }

    const fn of(e: &Error) -> Self {
        match e {
            Error::InvalidBits(_) => Self::InvalidBits,
            Error::IndexOutOfRange { .. } => Self::IndexOutOfRange,
            Error::ValueOutOfRange { .. } => Self::ValueOutOfRange,
            Error::LimitExceeded { .. } => Self::LimitExceeded,
            Error::Decompress(_) => Self::Decompress,
            Error::MalformedBase64(_) => Self::Base64,
            Error::MalformedObject(_) => Self::Malformed,
            Error::InvalidArgument(_) => Self::Argument,
            Error::Key(_) => Self::KeyLoad,
            Error::BadSignature(_) => Self::Signature,
            Error::MalformedToken(_) => Self::Token,
            Error::CriticalExtension(_) => Self::Critical,
        }
    }
}

static CLASSES: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();

/// Looks every class up in `statuslist.exceptions`; called from the module's init, so the import
/// of `statuslist._native` fails if one is missing.
pub(crate) fn load_classes(py: Python<'_>) -> PyResult<()> {
    CLASSES
        .get_or_try_init(py, || {
            let module = py.import("statuslist.exceptions")?;
            Class::ALL
                .iter()
                .map(|c| Ok(module.getattr(c.name())?.cast_into::<PyType>()?.unbind()))
                .collect::<PyResult<Vec<_>>>()
        })
        .map(|_| ())
}

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> Self {
        raise(Class::of(&err.0), err.0.to_string())
    }
}

/// An exception of `class` with `message`, for core errors and for errors the binding detects
/// itself (e.g. a Python int too large for any index).
pub(crate) fn raise(class: Class, message: String) -> PyErr {
    Python::attach(|py| match load_classes(py) {
        Ok(()) => {
            let classes = CLASSES.get(py).expect("loaded above");
            let index = Class::ALL
                .iter()
                .position(|c| *c == class)
                .expect("ALL lists every class");
            PyErr::from_type(classes[index].bind(py).clone(), message)
        }
        Err(e) => e,
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
