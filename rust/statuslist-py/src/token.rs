//! Status List Token signing and verification (spec §5) for Python: keys, bulk signing with the
//! GIL released, verification.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyList};
use statuslist_core::envelope::{self, Label, Typ};
use statuslist_core::token::{self, Algorithm, Claims, Format};
use statuslist_core::{Error, StatusListObject};

use crate::error::{detached, CoreError};

fn err(e: Error) -> PyErr {
    CoreError(e).into()
}

fn format_of(name: &str) -> PyResult<Format> {
    match name {
        "jwt" => Ok(Format::Jwt),
        "cwt" => Ok(Format::Cwt),
        other => Err(err(Error::InvalidArgument(format!(
            "format must be 'jwt' or 'cwt', got {other:?}"
        )))),
    }
}

/// A private signing key (PKCS#8 DER) with its algorithm, `kid` and optional X.509 chain.
#[pyclass(frozen, module = "statuslist._native")]
pub(crate) struct SigningKey {
    inner: Arc<token::SigningKey>,
}

#[pymethods]
impl SigningKey {
    #[new]
    #[pyo3(signature = (alg, pkcs8_der, kid, x5c = Vec::new()))]
    fn new(alg: &str, pkcs8_der: &[u8], kid: String, x5c: Vec<Vec<u8>>) -> PyResult<Self> {
        let alg = Algorithm::from_jose(alg).map_err(err)?;
        let key = token::SigningKey::from_pkcs8(alg, pkcs8_der, kid, x5c).map_err(err)?;
        Ok(Self {
            inner: Arc::new(key),
        })
    }

    #[getter]
    fn alg(&self) -> &'static str {
        self.inner.alg().jose()
    }

    #[getter]
    fn kid(&self) -> &str {
        self.inner.kid()
    }

    /// The raw public key (uncompressed EC point, Ed25519 bytes, or `RSAPublicKey` DER).
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.public_key())
    }

    fn __repr__(&self) -> String {
        format!(
            "SigningKey(alg={:?}, kid={:?})",
            self.inner.alg().jose(),
            self.inner.kid()
        )
    }
}

/// One token to sign: `(key, format, sub, iat, exp, ttl, iss, bits, lst, aggregation_uri)`,
/// where `lst` is the zlib-compressed list.
type Job<'py> = (
    PyRef<'py, SigningKey>,
    String,
    String,
    u64,
    Option<u64>,
    Option<u64>,
    Option<String>,
    u8,
    PyBackedBytes,
    Option<String>,
);

/// Signs every job in one native call, in parallel across cores with the GIL released.
/// All-or-nothing: the first failing job raises and no tokens are returned.
#[pyfunction]
pub(crate) fn sign_tokens<'py>(
    py: Python<'py>,
    jobs: Vec<Job<'py>>,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let mut prepared = Vec::with_capacity(jobs.len());
    for (key, format, sub, iat, exp, ttl, iss, bits, lst, aggregation_uri) in jobs {
        statuslist_core::list::check_bits(bits).map_err(err)?;
        let claims = Claims {
            sub,
            iat,
            exp,
            ttl,
            iss,
            status_list: StatusListObject {
                bits,
                lst: lst.to_vec(),
                aggregation_uri,
            },
        };
        prepared.push((claims, Arc::clone(&key.inner), format_of(&format)?));
    }
    let signed = detached(py, || {
        let refs: Vec<(&Claims, &token::SigningKey, Format)> = prepared
            .iter()
            .map(|(c, k, f)| (c, k.as_ref(), *f))
            .collect();
        token::sign_many(&refs)
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(signed.iter().map(|t| PyBytes::new(py, t)).collect())
}

/// Verifies a token's form, type, algorithm and signature against one public key; returns
/// `(header, claims)` — JSON bytes for a JWT, CBOR bytes for a CWT.
#[pyfunction]
pub(crate) fn verify_token<'py>(
    py: Python<'py>,
    token: &[u8],
    format: &str,
    alg: &str,
    public_key: Vec<u8>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let key = token::VerifyingKey {
        alg: Algorithm::from_jose(alg).map_err(err)?,
        public_key,
    };
    let format = format_of(format)?;
    let (_, verified) = detached(py, || token::verify(token, format, &key))?;
    Ok((
        PyBytes::new(py, &verified.header),
        PyBytes::new(py, &verified.claims),
    ))
}

/// A token header that passed every header rule (algorithm allowlist, `typ`, `crit`, no JWE or
/// JSON serialisation, tag 18 only): what a relying party needs to find the key.
#[pyclass(frozen, module = "statuslist._native")]
pub(crate) struct TokenHeader {
    inner: envelope::Header,
}

#[pymethods]
impl TokenHeader {
    #[getter]
    fn alg(&self) -> &'static str {
        self.inner.alg.jose()
    }

    #[getter]
    fn kid(&self) -> Option<&str> {
        self.inner.kid.as_deref()
    }

    /// `x5c` / `x5chain` certificates as DER, leaf first; empty when absent.
    #[getter]
    fn x5c<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        self.inner.x5c.iter().map(|c| PyBytes::new(py, c)).collect()
    }

    /// The (understood) labels `crit` listed: text for JWS, integers for COSE.
    #[getter]
    fn crit<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .inner
            .crit
            .iter()
            .map(|l| match l {
                Label::Int(n) => Ok(n.into_pyobject(py)?.into_any()),
                Label::Text(t) => Ok(t.into_pyobject(py)?.into_any()),
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The media type, or (CWT) the CoAP Content-Format number 279.
    #[getter]
    fn typ<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match &self.inner.typ {
            Typ::Text(t) => t.into_pyobject(py)?.into_any(),
            Typ::ContentFormat(n) => n.into_pyobject(py)?.into_any(),
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "TokenHeader(alg={:?}, kid={}, x5c=<{} certificates>)",
            self.inner.alg.jose(),
            self.inner
                .kid
                .as_deref()
                .map_or_else(|| "None".to_owned(), |k| format!("{k:?}")),
            self.inner.x5c.len()
        )
    }
}

/// Parses a token's envelope and checks every header rule, without checking the signature.
#[pyfunction]
pub(crate) fn peek_header(py: Python<'_>, token: &[u8], format: &str) -> PyResult<TokenHeader> {
    let format = format_of(format)?;
    let inner = detached(py, || envelope::peek_header(token, format))?;
    Ok(TokenHeader { inner })
}

/// A verified Status List Token: its header and typed claims; `lst` still compressed.
#[pyclass(frozen, module = "statuslist._native")]
pub(crate) struct VerifiedToken {
    #[pyo3(get)]
    header: Py<TokenHeader>,
    #[pyo3(get)]
    sub: Option<String>,
    #[pyo3(get)]
    iat: Option<u64>,
    #[pyo3(get)]
    exp: Option<u64>,
    #[pyo3(get)]
    ttl: Option<u64>,
    #[pyo3(get)]
    iss: Option<String>,
    #[pyo3(get)]
    bits: u8,
    lst: Vec<u8>,
    #[pyo3(get)]
    aggregation_uri: Option<String>,
}

#[pymethods]
impl VerifiedToken {
    /// The zlib-compressed list.
    #[getter]
    fn lst<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.lst)
    }
}

/// Verifies a token (header rules, then the signature with `public_key`) and reads its claims
/// into their types: the one path from untrusted bytes to claims a relying party uses.
#[pyfunction]
pub(crate) fn verify_claims(
    py: Python<'_>,
    token: &[u8],
    format: &str,
    alg: &str,
    public_key: Vec<u8>,
) -> PyResult<VerifiedToken> {
    let key = token::VerifyingKey {
        alg: Algorithm::from_jose(alg).map_err(err)?,
        public_key,
    };
    let format = format_of(format)?;
    let (header, claims) = detached(py, || token::verify_claims(token, format, &key))?;
    Ok(VerifiedToken {
        header: Py::new(py, TokenHeader { inner: header })?,
        sub: claims.sub,
        iat: claims.iat,
        exp: claims.exp,
        ttl: claims.ttl,
        iss: claims.iss,
        bits: claims.status_list.bits,
        lst: claims.status_list.lst,
        aggregation_uri: claims.status_list.aggregation_uri,
    })
}
