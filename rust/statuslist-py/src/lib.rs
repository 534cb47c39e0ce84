//! `statuslist._native`: the pyo3 binding of `statuslist-core`. Conversion, error mapping and GIL
//! release only; the spec logic lives in the core.

mod error;
mod list;
mod permutation;
mod token;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    error::load_classes(m.py())?;
    m.add_class::<list::StatusList>()?;
    m.add_class::<token::SigningKey>()?;
    m.add_class::<token::TokenHeader>()?;
    m.add_class::<token::VerifiedToken>()?;
    m.add_function(wrap_pyfunction!(token::peek_header, m)?)?;
    m.add_function(wrap_pyfunction!(token::verify_claims, m)?)?;
    m.add_class::<permutation::IndexPermutation>()?;
    m.add_function(wrap_pyfunction!(token::sign_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(token::verify_token, m)?)?;
    m.add("DEFAULT_MAX_BYTES", statuslist_core::DEFAULT_MAX_BYTES)?;
    m.add("MAX_ENTRIES", statuslist_core::MAX_ENTRIES)?;
    m.add("CHUNK_BYTES", statuslist_core::CHUNK_BYTES)?;
    m.add("DICT_BYTES", statuslist_core::DICT_BYTES)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // Benchmarks refuse to time a debug build.
    m.add(
        "BUILD_PROFILE",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    )?;
    Ok(())
}
