//! Status List Token signing and verification (spec §5) for Python: keys, bulk signing with the
//! GIL released, verification.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;
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
    let verified = match format_of(format)? {
        Format::Jwt => {
            let text = std::str::from_utf8(token)
                .map_err(|_| err(Error::MalformedToken("JWT is not ASCII text".into())))?;
            detached(py, || token::verify_jwt(text, &key))?
        }
        Format::Cwt => detached(py, || token::verify_cwt(token, &key))?,
    };
    Ok((
        PyBytes::new(py, &verified.header),
        PyBytes::new(py, &verified.claims),
    ))
}
