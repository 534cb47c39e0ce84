//! The one parser of Status List Token envelopes and claims (spec §5.1, §5.2): the JWS compact
//! serialisation (RFC 7515) and `COSE_Sign1` (RFC 9052), the header rules every relying party
//! applies before it looks for a key, and the typed claims it reads after the signature checks.
//!
//! Header rules (RFC 8725 and the spec): an allowed `alg` (never `none`), explicit `typ`
//! (`statuslist+jwt`; `application/statuslist+cwt` or CoAP Content-Format 279), JWE, JSON
//! serialisation, untagged and tag-61 CWTs refused, and `crit` honoured: a JWS `crit` (RFC 7515
//! §4.1.11) or COSE `crit` (RFC 9052 §3.1) naming an extension outside [`UNDERSTOOD_JWS_CRIT`] /
//! [`UNDERSTOOD_COSE_CRIT`] refuses the token. Duplicate header parameters and claims are refused
//! (two parsers could otherwise read different values).
//!
//! Bounds: headers are at most [`MAX_HEADER_BYTES`]; JSON nesting is bounded by `serde_json`'s
//! recursion limit (128) where values are built and skipped without recursion elsewhere, CBOR is
//! skipped without recursion; every length is checked against the bytes actually present.

use std::collections::HashSet;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use minicbor::data::Type;
use serde_json::value::RawValue;

use crate::error::{Error, Result};
use crate::object::{Members, StatusListObject};
use crate::token::{labels, Algorithm, Format};

/// The deepest nesting of JSON arrays and objects accepted in a JOSE header or JWT claims.
pub const MAX_JSON_DEPTH: usize = 64;
/// The deepest nesting of CBOR arrays and maps accepted where items are skipped.
pub const MAX_CBOR_DEPTH: usize = 64;
/// The largest JOSE header or COSE header bucket read (certificate chains fit easily).
pub const MAX_HEADER_BYTES: usize = 64 << 10;
/// The most certificates accepted in `x5c` / `x5chain`.
pub const MAX_CHAIN: usize = 16;
/// JWS extensions (names listed in `crit`) this implementation understands: none. A token that
/// marks any extension critical is refused (RFC 7515 §4.1.11).
pub const UNDERSTOOD_JWS_CRIT: &[&str] = &[];
/// COSE header labels a protected `crit` may list: the parameters this implementation processes
/// (alg, kid, typ, x5chain). Any other label, integer or text, refuses the token (RFC 9052 §3.1).
pub const UNDERSTOOD_COSE_CRIT: &[i64] = &[1, 4, 16, 33];
/// CoAP Content-Format of `application/statuslist+cwt` (IANA), accepted in COSE `typ`.
pub const CWT_CONTENT_FORMAT: u64 = 279;
/// Header parameter names RFC 7515 and RFC 7518 register for JWS: `crit` must not list them.
const JWS_REGISTERED: &[&str] = &[
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit",
];
const COSE_CRIT: i64 = 2;

/// A header label: COSE labels are integers or text; JOSE names are text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Label {
    Int(i64),
    Text(String),
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::Text(s) => write!(f, "{:?}", clip(s)),
        }
    }
}

/// The token's declared type: a media type, or (COSE only) a CoAP Content-Format number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typ {
    Text(String),
    ContentFormat(u64),
}

/// What a relying party reads from a token before it verifies the signature, after every header
/// rule has passed: which key to look for and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub alg: Algorithm,
    pub kid: Option<String>,
    /// `x5c` / `x5chain` certificates, DER, leaf first (empty when absent).
    pub x5c: Vec<Vec<u8>>,
    /// The labels `crit` listed (all understood, or the token would have been refused).
    pub crit: Vec<Label>,
    pub typ: Typ,
}

/// A parsed envelope: the header, the bytes the signature covers, the payload and signature.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub header: Header,
    /// The JOSE header JSON / the COSE protected header bytes.
    pub header_bytes: Vec<u8>,
    /// The JWS signing input / the COSE `Sig_structure`.
    pub signed: Vec<u8>,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

/// The claims of a Status List Token, typed (spec §5.1/§5.2). Presence of `sub`, `iat` and `exp`
/// is the relying party's policy; their types are checked here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub sub: Option<String>,
    pub iat: Option<u64>,
    pub exp: Option<u64>,
    pub ttl: Option<u64>,
    pub iss: Option<String>,
    pub status_list: StatusListObject,
}

fn malformed(msg: impl Into<String>) -> Error {
    Error::MalformedToken(msg.into())
}

/// At most 64 characters of untrusted text, for messages.
fn clip(s: &str) -> String {
    match s.char_indices().nth(64) {
        None => s.to_owned(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
}

/// Parses and checks a token's envelope (no signature check).
pub fn open(token: &[u8], format: Format) -> Result<Envelope> {
    match format {
        Format::Jwt => open_jwt(token),
        Format::Cwt => open_cwt(token),
    }
}

/// The header of a token that passes every header rule; no signature is checked.
pub fn peek_header(token: &[u8], format: Format) -> Result<Header> {
    open(token, format).map(|e| e.header)
}

/// Parses a token's claims (JSON for a JWT, CBOR for a CWT) into their types.
pub fn read_claims(claims: &[u8], format: Format) -> Result<TokenClaims> {
    match format {
        Format::Jwt => jwt_claims(claims),
        Format::Cwt => cwt_claims(claims),
    }
}

// ---- JWT -------------------------------------------------------------------------------------

fn b64url(s: &str, what: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|e| malformed(format!("{what} is not base64url without padding: {e}")))
}

fn open_jwt(raw: &[u8]) -> Result<Envelope> {
    if let Some(at) = raw.iter().position(|b| !b.is_ascii()) {
        return Err(malformed(format!(
            "JWT holds a non-ASCII byte at offset {at}"
        )));
    }
    // ASCII was checked: this cannot fail.
    let token = std::str::from_utf8(raw)
        .map_err(|_| malformed("JWT is not ASCII text"))?
        .trim_matches(|c: char| c.is_ascii_whitespace());
    if token.starts_with('{') {
        return Err(malformed(
            "JWS JSON serialisation is not accepted; expected compact serialisation",
        ));
    }
    let parts: Vec<&str> = token.splitn(6, '.').collect();
    match parts.len() {
        3 => {}
        5 => {
            return Err(malformed(
                "token is a JWE (5 parts); a signed JWT (JWS) is required",
            ))
        }
        n => {
            return Err(malformed(format!(
                "expected a compact JWS of 3 dot-separated parts, found {}",
                if n == 6 {
                    "more than 5".into()
                } else {
                    n.to_string()
                }
            )))
        }
    }
    if parts[0].len() > MAX_HEADER_BYTES * 4 / 3 + 4 {
        return Err(Error::LimitExceeded {
            what: "JWT header bytes",
            actual: parts[0].len() as u64 * 3 / 4,
            limit: MAX_HEADER_BYTES as u64,
        });
    }
    let header_bytes = b64url(parts[0], "JWT header")?;
    let header = jose_header(&header_bytes)?;
    let payload = b64url(parts[1], "JWT payload")?;
    let signature = b64url(parts[2], "JWT signature")?;
    let signed = token.as_bytes()[..parts[0].len() + 1 + parts[1].len()].to_vec();
    Ok(Envelope {
        header,
        header_bytes,
        signed,
        payload,
        signature,
    })
}

/// Refuses JSON nested deeper than [`MAX_JSON_DEPTH`], scanning without recursion (members a
/// parser skips are never built, so `serde_json`'s own recursion limit would not see them).
fn check_depth(text: &str, what: &str) -> Result<()> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(malformed(format!(
                        "{what} nests deeper than {MAX_JSON_DEPTH} levels"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn json_members<T: for<'de> serde::Deserialize<'de>>(
    bytes: &[u8],
    what: &str,
) -> Result<Members<T>> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| malformed(format!("{what} is not UTF-8: {e}")))?;
    check_depth(text, what)?;
    let members: Members<T> = serde_json::from_str(text).map_err(|e| {
        if e.is_data() && !e.to_string().contains("recursion") {
            malformed(format!("{what} is not a JSON object"))
        } else {
            malformed(format!("{what} is not valid JSON: {e}"))
        }
    })?;
    if let Some(dup) = members.duplicate() {
        return Err(malformed(format!(
            "{what} has the member {:?} twice",
            clip(dup)
        )));
    }
    Ok(members)
}

fn jose_header(bytes: &[u8]) -> Result<Header> {
    use serde_json::Value;
    let h: Members<Value> = json_members(bytes, "JWT header")?;
    let alg_name = match h.get("alg") {
        None => return Err(malformed("JWT header has no alg")),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(malformed("JWT header alg must be a string")),
    };
    if alg_name.eq_ignore_ascii_case("none") {
        return Err(malformed(format!(
            "algorithm {:?} is not allowed: unsigned tokens are never accepted",
            clip(alg_name)
        )));
    }
    let alg = Algorithm::from_jose(alg_name)
        .map_err(|_| malformed(format!("algorithm {:?} is not allowed", clip(alg_name))))?;
    if h.get("enc").is_some() {
        return Err(malformed("JWT header has enc: a JWE is not accepted"));
    }
    let typ = match h.get("typ") {
        Some(Value::String(t))
            if t.eq_ignore_ascii_case(labels::JWT_TYP)
                || t.eq_ignore_ascii_case("application/statuslist+jwt") =>
        {
            t.clone()
        }
        Some(Value::String(t)) => {
            return Err(malformed(format!(
                "typ must be statuslist+jwt, got {:?}",
                clip(t)
            )))
        }
        Some(_) => return Err(malformed("typ must be the string statuslist+jwt")),
        None => {
            return Err(malformed(
                "JWT header has no typ; it must be statuslist+jwt",
            ))
        }
    };
    let kid = match h.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(malformed("JWT header kid must be a string")),
    };
    let x5c = match h.get("x5c") {
        None => Vec::new(),
        Some(Value::Array(certs)) if !certs.is_empty() && certs.len() <= MAX_CHAIN => certs
            .iter()
            .enumerate()
            .map(|(i, c)| match c {
                // RFC 7515 §4.1.6: base64 (not base64url) DER.
                Value::String(s) => STANDARD
                    .decode(s)
                    .map_err(|e| malformed(format!("x5c[{i}] is not base64 DER: {e}"))),
                _ => Err(malformed(format!("x5c[{i}] must be a string"))),
            })
            .collect::<Result<_>>()?,
        Some(_) => {
            return Err(malformed(format!(
                "x5c must be an array of 1 to {MAX_CHAIN} base64 certificates"
            )))
        }
    };
    let crit = jws_crit(&h)?;
    Ok(Header {
        alg,
        kid,
        x5c,
        crit,
        typ: Typ::Text(typ),
    })
}

/// RFC 7515 §4.1.11: `crit` is a non-empty array of distinct names of header parameters present
/// in the header, none registered by JWS/JWA, each one understood ([`UNDERSTOOD_JWS_CRIT`]).
fn jws_crit(h: &Members<serde_json::Value>) -> Result<Vec<Label>> {
    use serde_json::Value;
    Ok(match h.get("crit") {
        None => Vec::new(),
        Some(Value::Array(names)) if !names.is_empty() => {
            let mut seen = HashSet::new();
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                let Value::String(name) = name else {
                    return Err(crit_error(
                        "JWS crit must list header parameter names (strings)",
                    ));
                };
                if !seen.insert(name.as_str()) {
                    return Err(crit_error(format!("crit lists {:?} twice", clip(name))));
                }
                if JWS_REGISTERED.contains(&name.as_str()) {
                    return Err(crit_error(format!(
                        "crit must not list the registered JWS parameter {name:?} (RFC 7515 §4.1.11)"
                    )));
                }
                if h.get(name).is_none() {
                    return Err(crit_error(format!(
                        "crit lists {:?}, which is not in the header",
                        clip(name)
                    )));
                }
                if !UNDERSTOOD_JWS_CRIT.contains(&name.as_str()) {
                    return Err(crit_error(format!(
                        "critical extension {:?} is not understood",
                        clip(name)
                    )));
                }
                out.push(Label::Text(name.clone()));
            }
            out
        }
        Some(_) => {
            return Err(crit_error(
                "JWS crit must be a non-empty array of header parameter names",
            ))
        }
    })
}

fn crit_error(msg: impl Into<String>) -> Error {
    Error::CriticalExtension(msg.into())
}

fn numeric(raw: &RawValue, name: &str) -> Result<u64> {
    serde_json::from_str::<u64>(raw.get()).map_err(|_| {
        malformed(format!(
            "claim {name} must be a non-negative integer below 2^64, got {}",
            clip(raw.get())
        ))
    })
}

fn text(raw: &RawValue, name: &str) -> Result<String> {
    serde_json::from_str::<String>(raw.get()).map_err(|_| {
        malformed(format!(
            "claim {name} must be a string, got {}",
            clip(raw.get())
        ))
    })
}

fn jwt_claims(bytes: &[u8]) -> Result<TokenClaims> {
    let c: Members<Box<RawValue>> = json_members(bytes, "JWT claims")?;
    let status_list = match c.get("status_list") {
        None => return Err(malformed("claim status_list is missing")),
        Some(raw) => StatusListObject::from_json(raw.get())?,
    };
    Ok(TokenClaims {
        sub: c.get("sub").map(|v| text(v, "sub")).transpose()?,
        iat: c.get("iat").map(|v| numeric(v, "iat")).transpose()?,
        exp: c.get("exp").map(|v| numeric(v, "exp")).transpose()?,
        ttl: c.get("ttl").map(|v| numeric(v, "ttl")).transpose()?,
        iss: c.get("iss").map(|v| text(v, "iss")).transpose()?,
        status_list,
    })
}

// ---- CWT -------------------------------------------------------------------------------------

fn cbor(what: &'static str) -> impl Fn(minicbor::decode::Error) -> Error {
    move |e| malformed(format!("{what}: invalid CBOR: {e}"))
}

fn is_uint(t: Type) -> bool {
    matches!(t, Type::U8 | Type::U16 | Type::U32 | Type::U64)
}

fn is_int(t: Type) -> bool {
    is_uint(t) || matches!(t, Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int)
}

/// Skips one CBOR data item, as `Decoder::skip` does (without recursion), but refuses arrays and
/// maps nested deeper than [`MAX_CBOR_DEPTH`].
fn skip_bounded(d: &mut minicbor::Decoder<'_>, what: &'static str) -> Result<()> {
    let err = cbor(what);
    // Items still to come in each open container; `None`: indefinite, closed by a break.
    let mut open: Vec<Option<u64>> = Vec::new();
    loop {
        match d.datatype().map_err(&err)? {
            Type::Tag => {
                d.tag().map_err(&err)?; // a tag qualifies the next item
                continue;
            }
            Type::Break => {
                if open.last() != Some(&None) {
                    return Err(malformed(format!("{what}: unexpected CBOR break")));
                }
                d.skip().map_err(&err)?; // consumes the break byte
                open.pop();
            }
            t @ (Type::Array | Type::ArrayIndef | Type::Map | Type::MapIndef) => {
                let n = if matches!(t, Type::Array | Type::ArrayIndef) {
                    d.array().map_err(&err)?
                } else {
                    d.map().map_err(&err)?.map(|n| n.saturating_mul(2))
                };
                if n != Some(0) {
                    if open.len() >= MAX_CBOR_DEPTH {
                        return Err(malformed(format!(
                            "{what} nests deeper than {MAX_CBOR_DEPTH} levels"
                        )));
                    }
                    open.push(n);
                    continue;
                }
            }
            _ => d.skip().map_err(&err)?,
        }
        // One item is complete: count it against the containers it completes.
        loop {
            match open.last_mut() {
                None => return Ok(()),
                Some(None) => break,
                Some(Some(n)) => {
                    *n -= 1;
                    if *n > 0 {
                        break;
                    }
                    open.pop();
                }
            }
        }
    }
}

/// A COSE label: an integer in i64 range or a text string.
fn cose_label(d: &mut minicbor::Decoder<'_>, what: &'static str) -> Result<Label> {
    let t = d.datatype().map_err(cbor(what))?;
    if is_int(t) {
        let n = i64::try_from(d.int().map_err(cbor(what))?)
            .map_err(|_| malformed(format!("{what}: label out of range")))?;
        Ok(Label::Int(n))
    } else if t == Type::String {
        Ok(Label::Text(d.str().map_err(cbor(what))?.to_owned()))
    } else {
        Err(malformed(format!(
            "{what}: labels must be integers or text strings, got {t}"
        )))
    }
}

/// The parameters of one COSE header bucket this implementation reads; the rest is skipped.
#[derive(Default)]
struct Bucket {
    labels: Vec<Label>,
    alg: Option<Label>,
    typ: Option<Typ>,
    crit: Option<Vec<Label>>,
    kid: Option<Vec<u8>>,
    x5chain: Option<Vec<Vec<u8>>>,
}

fn read_bucket(d: &mut minicbor::Decoder<'_>, what: &'static str) -> Result<Bucket> {
    let err = cbor(what);
    let entries = match d.datatype().map_err(&err)? {
        Type::Map => d.map().map_err(&err)?.unwrap_or(0),
        Type::MapIndef => return Err(malformed(format!("{what} must be a definite-length map"))),
        t => return Err(malformed(format!("{what} must be a map, got {t}"))),
    };
    let mut b = Bucket::default();
    let mut seen = HashSet::new();
    for _ in 0..entries {
        let label = cose_label(d, what)?;
        if !seen.insert(label.clone()) {
            return Err(malformed(format!("{what} has the label {label} twice")));
        }
        b.labels.push(label.clone());
        let t = d.datatype().map_err(&err)?;
        match label {
            Label::Int(1) => {
                b.alg = Some(if is_int(t) {
                    Label::Int(
                        i64::try_from(d.int().map_err(&err)?)
                            .map_err(|_| malformed("COSE alg out of range"))?,
                    )
                } else if t == Type::String {
                    Label::Text(d.str().map_err(&err)?.to_owned())
                } else {
                    return Err(malformed(format!(
                        "COSE alg (1) must be an integer, got {t}"
                    )));
                });
            }
            Label::Int(2) => {
                let n = match t {
                    Type::Array => d.array().map_err(&err)?.unwrap_or(0),
                    _ => return Err(crit_error("COSE crit (2) must be a definite array")),
                };
                let mut crit = Vec::new();
                for _ in 0..n {
                    crit.push(cose_label(d, "COSE crit (2)")?);
                }
                b.crit = Some(crit);
            }
            Label::Int(4) => {
                if t != Type::Bytes {
                    return Err(malformed(format!(
                        "COSE kid (4) must be a byte string, got {t}"
                    )));
                }
                b.kid = Some(d.bytes().map_err(&err)?.to_vec());
            }
            Label::Int(16) => {
                b.typ = Some(if is_uint(t) {
                    Typ::ContentFormat(d.u64().map_err(&err)?)
                } else if t == Type::String {
                    Typ::Text(d.str().map_err(&err)?.to_owned())
                } else {
                    return Err(malformed(format!(
                        "COSE typ (16) must be a text string or an unsigned integer, got {t}"
                    )));
                });
            }
            Label::Int(33) => {
                b.x5chain = Some(match t {
                    Type::Bytes => vec![d.bytes().map_err(&err)?.to_vec()],
                    Type::Array => {
                        let n = d.array().map_err(&err)?.unwrap_or(0);
                        if n == 0 || n > MAX_CHAIN as u64 {
                            return Err(malformed(format!(
                                "COSE x5chain (33) must hold 1 to {MAX_CHAIN} certificates"
                            )));
                        }
                        let mut certs = Vec::new();
                        for _ in 0..n {
                            if d.datatype().map_err(&err)? != Type::Bytes {
                                return Err(malformed("COSE x5chain (33) must hold byte strings"));
                            }
                            certs.push(d.bytes().map_err(&err)?.to_vec());
                        }
                        certs
                    }
                    _ => {
                        return Err(malformed(format!(
                            "COSE x5chain (33) must be a byte string or an array of them, got {t}"
                        )))
                    }
                });
            }
            _ => skip_bounded(d, what)?,
        }
    }
    Ok(b)
}

fn open_cwt(token: &[u8]) -> Result<Envelope> {
    let err = cbor("COSE_Sign1");
    let mut d = minicbor::Decoder::new(token);
    if d.datatype().map_err(&err)? != Type::Tag {
        return Err(malformed("CWT must be COSE_Sign1 tagged 18 (no tag found)"));
    }
    let tag = d.tag().map_err(&err)?.as_u64();
    if tag == labels::TAG_CWT {
        return Err(malformed("CWT must not carry the CWT tag 61 (spec §5.2)"));
    }
    if tag != labels::TAG_COSE_SIGN1 {
        return Err(malformed(format!(
            "expected COSE_Sign1 tag 18, found tag {tag}"
        )));
    }
    if d.datatype().map_err(&err)? != Type::Array || d.array().map_err(&err)? != Some(4) {
        return Err(malformed("COSE_Sign1 must be an array of 4 items"));
    }
    if d.datatype().map_err(&err)? != Type::Bytes {
        return Err(malformed("COSE protected header must be a byte string"));
    }
    let protected_bytes = d.bytes().map_err(&err)?.to_vec();
    if protected_bytes.len() > MAX_HEADER_BYTES {
        return Err(Error::LimitExceeded {
            what: "COSE protected header bytes",
            actual: protected_bytes.len() as u64,
            limit: MAX_HEADER_BYTES as u64,
        });
    }
    let protected = if protected_bytes.is_empty() {
        Bucket::default()
    } else {
        let mut p = minicbor::Decoder::new(&protected_bytes);
        let b = read_bucket(&mut p, "COSE protected header")?;
        if p.position() != protected_bytes.len() {
            return Err(malformed("trailing bytes after the COSE protected header"));
        }
        b
    };
    let start = d.position();
    let unprotected = read_bucket(&mut d, "COSE unprotected header")?;
    if d.position() - start > MAX_HEADER_BYTES {
        return Err(Error::LimitExceeded {
            what: "COSE unprotected header bytes",
            actual: (d.position() - start) as u64,
            limit: MAX_HEADER_BYTES as u64,
        });
    }
    let payload = match d.datatype().map_err(&err)? {
        Type::Bytes => d.bytes().map_err(&err)?.to_vec(),
        Type::Null => {
            return Err(malformed(
                "COSE_Sign1 with detached payload is not accepted",
            ))
        }
        t => {
            return Err(malformed(format!(
                "COSE payload must be a byte string, got {t}"
            )))
        }
    };
    if d.datatype().map_err(&err)? != Type::Bytes {
        return Err(malformed("COSE signature must be a byte string"));
    }
    let signature = d.bytes().map_err(&err)?.to_vec();
    if d.position() != token.len() {
        return Err(malformed("trailing bytes after the COSE_Sign1"));
    }
    let header = cose_header(&protected, &unprotected)?;
    let signed = crate::token::sig_structure(&protected_bytes, &payload);
    Ok(Envelope {
        header,
        header_bytes: protected_bytes,
        signed,
        payload,
        signature,
    })
}

fn cose_header(p: &Bucket, u: &Bucket) -> Result<Header> {
    // RFC 9052 §3: a label must not occur in both buckets.
    let in_protected: HashSet<&Label> = p.labels.iter().collect();
    if let Some(both) = u.labels.iter().find(|l| in_protected.contains(l)) {
        return Err(malformed(format!(
            "COSE label {both} is in both the protected and the unprotected header"
        )));
    }
    if u.crit.is_some() {
        return Err(crit_error(
            "COSE crit (2) must be in the protected header (RFC 9052 §3.1)",
        ));
    }
    let crit = match &p.crit {
        None => Vec::new(),
        Some(c) if c.is_empty() => {
            return Err(crit_error("COSE crit (2) must list at least one label"))
        }
        Some(c) => {
            let mut seen = HashSet::new();
            for label in c {
                if !seen.insert(label) {
                    return Err(crit_error(format!("COSE crit lists {label} twice")));
                }
                if *label == Label::Int(COSE_CRIT) || !in_protected.contains(label) {
                    return Err(crit_error(format!(
                        "COSE crit lists {label}, which is not a parameter of the protected header"
                    )));
                }
                if !matches!(label, Label::Int(n) if UNDERSTOOD_COSE_CRIT.contains(n)) {
                    return Err(crit_error(format!(
                        "critical COSE header parameter {label} is not understood"
                    )));
                }
            }
            c.clone()
        }
    };
    if u.alg.is_some() {
        return Err(malformed("COSE alg (1) must be in the protected header"));
    }
    let alg = match &p.alg {
        None => return Err(malformed("protected header has no alg (1)")),
        Some(Label::Int(id)) => Algorithm::from_cose(*id)?,
        Some(Label::Text(name)) => {
            return Err(malformed(format!(
                "COSE algorithm {:?} is not allowed",
                clip(name)
            )))
        }
    };
    if u.typ.is_some() {
        return Err(malformed("COSE typ (16) must be in the protected header"));
    }
    let typ = match &p.typ {
        Some(Typ::Text(t)) if t.eq_ignore_ascii_case(labels::CWT_TYP) => Typ::Text(t.clone()),
        Some(Typ::ContentFormat(CWT_CONTENT_FORMAT)) => Typ::ContentFormat(CWT_CONTENT_FORMAT),
        Some(Typ::Text(t)) => {
            return Err(malformed(format!(
                "protected typ (16) must be {:?} or {CWT_CONTENT_FORMAT}, got {:?}",
                labels::CWT_TYP,
                clip(t)
            )))
        }
        Some(Typ::ContentFormat(n)) => {
            return Err(malformed(format!(
                "protected typ (16) must be {:?} or {CWT_CONTENT_FORMAT}, got {n}",
                labels::CWT_TYP
            )))
        }
        None => {
            return Err(malformed(format!(
                "protected typ (16) must be {:?} or {CWT_CONTENT_FORMAT}, got none",
                labels::CWT_TYP
            )))
        }
    };
    let kid = match p.kid.as_ref().or(u.kid.as_ref()) {
        None => None,
        Some(bytes) => Some(
            String::from_utf8(bytes.clone())
                .map_err(|_| malformed("COSE kid (4) is not UTF-8, so it names no JWK"))?,
        ),
    };
    let x5c = p
        .x5chain
        .as_ref()
        .or(u.x5chain.as_ref())
        .cloned()
        .unwrap_or_default();
    Ok(Header {
        alg,
        kid,
        x5c,
        crit,
        typ,
    })
}

fn cwt_claims(bytes: &[u8]) -> Result<TokenClaims> {
    use labels::{CWT_EXP, CWT_IAT, CWT_ISS, CWT_STATUS_LIST, CWT_SUB, CWT_TTL};
    let err = cbor("CWT claims");
    let mut d = minicbor::Decoder::new(bytes);
    let entries = match d.datatype().map_err(&err)? {
        Type::Map | Type::MapIndef => d.map().map_err(&err)?,
        t => return Err(malformed(format!("CWT claims must be a CBOR map, got {t}"))),
    };
    let mut seen = HashSet::new();
    let (mut sub, mut iss, mut iat, mut exp, mut ttl, mut status_list) =
        (None, None, None, None, None, None);
    let mut count = 0u64;
    loop {
        match entries {
            Some(n) if count == n => break,
            None if d.datatype().map_err(&err)? == Type::Break => {
                d.skip().map_err(&err)?;
                break;
            }
            _ => {}
        }
        count += 1;
        let key = cose_label(&mut d, "CWT claims")?;
        if !seen.insert(key.clone()) {
            return Err(malformed(format!("CWT claims have the key {key} twice")));
        }
        let Label::Int(k) = key else {
            skip_bounded(&mut d, "CWT claims")?;
            continue;
        };
        let uint = |d: &mut minicbor::Decoder<'_>, name: &str| -> Result<u64> {
            if is_uint(d.datatype().map_err(cbor("CWT claims"))?) {
                d.u64().map_err(cbor("CWT claims"))
            } else {
                Err(malformed(format!(
                    "claim {name} must be an unsigned integer"
                )))
            }
        };
        let tstr = |d: &mut minicbor::Decoder<'_>, name: &str| -> Result<String> {
            if d.datatype().map_err(cbor("CWT claims"))? == Type::String {
                Ok(d.str().map_err(cbor("CWT claims"))?.to_owned())
            } else {
                Err(malformed(format!("claim {name} must be a text string")))
            }
        };
        match u64::try_from(k) {
            Ok(CWT_SUB) => sub = Some(tstr(&mut d, "sub (2)")?),
            Ok(CWT_ISS) => iss = Some(tstr(&mut d, "iss (1)")?),
            Ok(CWT_IAT) => iat = Some(uint(&mut d, "iat (6)")?),
            Ok(CWT_EXP) => exp = Some(uint(&mut d, "exp (4)")?),
            Ok(CWT_TTL) => ttl = Some(uint(&mut d, "ttl (65534)")?),
            Ok(CWT_STATUS_LIST) => {
                let at = d.position();
                skip_bounded(&mut d, "CWT claim status_list")?;
                status_list = Some(StatusListObject::from_cbor(&bytes[at..d.position()])?);
            }
            _ => skip_bounded(&mut d, "CWT claims")?,
        }
    }
    if d.position() != bytes.len() {
        return Err(malformed("trailing bytes after the CWT claims"));
    }
    Ok(TokenClaims {
        sub,
        iat,
        exp,
        ttl,
        iss,
        status_list: status_list
            .ok_or_else(|| malformed("claim status_list (65533) is missing"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{sign_cwt, sign_jwt, Claims, SigningKey, VerifyingKey};
    use ring::rand::SystemRandom;
    use ring::signature::{self as sig};

    fn key() -> SigningKey {
        let der = sig::EcdsaKeyPair::generate_pkcs8(
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            &SystemRandom::new(),
        )
        .unwrap();
        SigningKey::from_pkcs8(Algorithm::ES256, der.as_ref(), "k1".into(), vec![]).unwrap()
    }

    fn vk(k: &SigningKey) -> VerifyingKey {
        VerifyingKey {
            alg: Algorithm::ES256,
            public_key: k.public_key(),
        }
    }

    fn claims_json() -> String {
        let mut list = crate::StatusList::new(16, 1).unwrap();
        let obj = StatusListObject::from_list(&mut list, None);
        format!(
            r#"{{"sub":"https://e.example/1","iat":1,"exp":9,"ttl":5,"status_list":{}}}"#,
            obj.to_json()
        )
    }

    /// A correctly signed JWT with any header and claims.
    fn jwt(k: &SigningKey, header: &str, claims: &str) -> Vec<u8> {
        let mut t = URL_SAFE_NO_PAD.encode(header);
        t.push('.');
        t.push_str(&URL_SAFE_NO_PAD.encode(claims));
        let s = k.sign(t.as_bytes()).unwrap();
        t.push('.');
        t.push_str(&URL_SAFE_NO_PAD.encode(s));
        t.into_bytes()
    }

    fn cbor_claims() -> Vec<u8> {
        let mut list = crate::StatusList::new(16, 1).unwrap();
        let obj = StatusListObject::from_list(&mut list, None);
        let mut out = Vec::new();
        let mut e = minicbor::Encoder::new(&mut out);
        e.map(4)
            .unwrap()
            .u64(2)
            .unwrap()
            .str("https://e.example/1")
            .unwrap();
        e.u64(6)
            .unwrap()
            .u64(1)
            .unwrap()
            .u64(4)
            .unwrap()
            .u64(9)
            .unwrap();
        e.u64(labels::CWT_STATUS_LIST).unwrap();
        out.extend_from_slice(&obj.to_cbor());
        out
    }

    /// A correctly signed `COSE_Sign1` with the given (encoded) protected and unprotected maps.
    fn cwt(k: &SigningKey, protected: &[u8], unprotected: &[u8], payload: &[u8]) -> Vec<u8> {
        let signature = k
            .sign(&crate::token::sig_structure(protected, payload))
            .unwrap();
        let mut out = Vec::new();
        let mut e = minicbor::Encoder::new(&mut out);
        e.tag(minicbor::data::Tag::new(18))
            .unwrap()
            .array(4)
            .unwrap();
        e.bytes(protected).unwrap();
        out.extend_from_slice(unprotected);
        let mut e = minicbor::Encoder::new(&mut out);
        e.bytes(payload).unwrap().bytes(&signature).unwrap();
        out
    }

    fn hex(s: &str) -> Vec<u8> {
        let s = s.replace(' ', "");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const TYP: &str = "781a6170706c69636174696f6e2f7374617475736c6973742b637774";

    #[test]
    fn peek_reads_our_tokens() {
        let k = key();
        let c = Claims {
            sub: "https://e.example/1".into(),
            iat: 1,
            exp: Some(9),
            ttl: None,
            iss: None,
            status_list: StatusListObject::from_list(
                &mut crate::StatusList::new(8, 1).unwrap(),
                None,
            ),
        };
        let j = sign_jwt(&c, &k).unwrap();
        let h = peek_header(j.as_bytes(), Format::Jwt).unwrap();
        assert_eq!(
            (h.alg, h.kid.as_deref(), h.crit.len()),
            (Algorithm::ES256, Some("k1"), 0)
        );
        assert_eq!(h.typ, Typ::Text("statuslist+jwt".into()));
        let w = sign_cwt(&c, &k).unwrap();
        let h = peek_header(&w, Format::Cwt).unwrap();
        assert_eq!(h.typ, Typ::Text(labels::CWT_TYP.into()));
        assert_eq!(h.kid.as_deref(), Some("k1"));
        let (_, claims) = crate::token::verify_claims(&w, Format::Cwt, &vk(&k)).unwrap();
        assert_eq!(
            (claims.sub.as_deref(), claims.iat, claims.exp),
            (Some(c.sub.as_str()), Some(1), Some(9))
        );
    }

    #[test]
    fn jws_crit_rules() {
        let k = key();
        let base = r#""alg":"ES256","kid":"k1","typ":"statuslist+jwt""#;
        let refused = [
            r#""crit":["b64"],"b64":false"#,
            r#""crit":["exp"],"exp":1"#,
            r#""crit":["urn:example:x"],"urn:example:x":true"#,
            r#""crit":["missing"]"#,
            r#""crit":[]"#,
            r#""crit":"b64","b64":false"#,
            r#""crit":[1]"#,
            r#""crit":["alg"]"#,
            r#""crit":["kid"]"#,
            r#""crit":null"#,
            r#""crit":["x","x"],"x":1"#,
        ];
        for extra in refused {
            let t = jwt(&k, &format!("{{{base},{extra}}}"), &claims_json());
            for r in [
                peek_header(&t, Format::Jwt).map(|_| ()),
                crate::token::verify(&t, Format::Jwt, &vk(&k)).map(|_| ()),
            ] {
                assert!(
                    matches!(r, Err(Error::CriticalExtension(_))),
                    "{extra}: {r:?}"
                );
            }
        }
        let ok = jwt(&k, &format!("{{{base}}}"), &claims_json());
        crate::token::verify(&ok, Format::Jwt, &vk(&k)).unwrap();
    }

    #[test]
    fn cose_crit_and_typ_rules() {
        let k = key();
        let payload = cbor_claims();
        let kid = hex("a104426b31"); // {4: h'6b31'}
                                     // (protected header hex, accepted?)
        let cases = [
            (format!("a20126 10{TYP}"), true),
            ("a2012610 19 0117".replace(' ', ""), true), // typ 279
            ("a2012610 19 0118".replace(' ', ""), false), // typ 280
            ("a2012610 43616263".replace(' ', ""), false), // typ as bytes
            (format!("a30126 10{TYP} 028110").replace(' ', ""), true), // crit [16]
            (
                format!("a40126 10{TYP} 02811863 186300").replace(' ', ""),
                false,
            ), // crit [99], 99: 0
            (format!("a30126 10{TYP} 028118 63").replace(' ', ""), false), // crit [99], 99 absent
            (format!("a30126 10{TYP} 0280").replace(' ', ""), false), // crit []
            (
                format!("a40126 10{TYP} 028161 78 617800").replace(' ', ""),
                false,
            ), // crit ["x"], "x": 0
            (format!("a30126 10{TYP} 028102").replace(' ', ""), false), // crit [2]
            (format!("a30126 10{TYP} 0201").replace(' ', ""), false), // crit 1
            (format!("a30126 10{TYP} 0126").replace(' ', ""), false), // duplicate alg
            (format!("a1 10{TYP}").replace(' ', ""), false), // no alg
            (format!("a2 0105 10{TYP}").replace(' ', ""), false), // HMAC 256/256
        ];
        for (p, accepted) in &cases {
            let t = cwt(&k, &hex(p), &kid, &payload);
            let r = crate::token::verify(&t, Format::Cwt, &vk(&k));
            assert_eq!(r.is_ok(), *accepted, "{p}: {r:?}");
            assert_eq!(peek_header(&t, Format::Cwt).is_ok(), *accepted, "{p}");
        }
        let good = hex(&format!("a20126 10{TYP}").replace(' ', ""));
        // crit in the unprotected bucket; a label in both buckets; kid not UTF-8.
        for u in ["a204426b31 028110", "a204426b31 0126", "a10442ffff"] {
            let t = cwt(&k, &good, &hex(&u.replace(' ', "")), &payload);
            assert!(peek_header(&t, Format::Cwt).is_err(), "{u}");
        }
        let t = cwt(
            &k,
            &hex("a20126 1019 0117".replace(' ', "").as_str()),
            &kid,
            &payload,
        );
        assert_eq!(
            peek_header(&t, Format::Cwt).unwrap().typ,
            Typ::ContentFormat(279)
        );
    }

    #[test]
    fn hostile_headers_are_errors() {
        let k = key();
        let deep = format!(
            r#"{{"alg":"ES256","typ":"statuslist+jwt","x":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let headers = [
            deep.as_str(),
            r#"{"alg":"ES256","typ":"statuslist+jwt","x5c":["a"]}"#,
            r#"{"alg":"ES256","typ":"statuslist+jwt","x5c":[]}"#,
            r#"{"alg":"ES256","typ":"statuslist+jwt","x5c":[1]}"#,
            r#"{"alg":"ES256","typ":"statuslist+jwt","kid":7}"#,
            r#"{"alg":"ES256","typ":"statuslist+jwt","kid":"a","kid":"b"}"#,
            r#"{"alg":"none","typ":"statuslist+jwt"}"#,
            r#"{"alg":"nOnE","typ":"statuslist+jwt"}"#,
            r#"{"alg":"HS256","typ":"statuslist+jwt"}"#,
            r#"{"alg":["ES256"],"typ":"statuslist+jwt"}"#,
            r#"{"alg":"ES256","typ":"JWT"}"#,
            r#"{"alg":"ES256"}"#,
            r#"{"alg":"ES256","typ":"statuslist+jwt","enc":"A128GCM"}"#,
            r#"["alg"]"#,
            "\u{ff}",
        ];
        for h in headers {
            let t = jwt(&k, h, &claims_json());
            assert!(
                peek_header(&t, Format::Jwt).is_err(),
                "{}",
                &h[..h.len().min(80)]
            );
        }
        let mut t = jwt(
            &k,
            r#"{"alg":"ES256","typ":"statuslist+jwt"}"#,
            &claims_json(),
        );
        peek_header(&t, Format::Jwt).unwrap();
        t.insert(3, 0xc3);
        assert!(peek_header(&t, Format::Jwt)
            .unwrap_err()
            .to_string()
            .contains("non-ASCII"));
    }

    #[test]
    fn hostile_claims_are_errors() {
        let k = key();
        let h = r#"{"alg":"ES256","typ":"statuslist+jwt"}"#;
        let good = claims_json();
        let bad = [
            good.replace(r#""exp":9"#, &format!(r#""exp":1{}"#, "0".repeat(400))),
            good.replace(r#""exp":9"#, r#""exp":1e400"#),
            good.replace(r#""exp":9"#, r#""exp":-1"#),
            good.replace(r#""exp":9"#, r#""exp":true"#),
            good.replace(r#""exp":9"#, r#""exp":"9""#),
            good.replace(r#""iat":1"#, r#""iat":null"#),
            good.replace(r#""ttl":5"#, r#""ttl":1.5"#),
            good.replace(r#""sub":"https://e.example/1""#, r#""sub":["x"]"#),
            good.replace(r#""iat":1"#, r#""iat":1,"iat":2"#),
            good.replace(r#""bits":1"#, r#""bits":3"#),
            good.replace(r#""status_list""#, r#""other""#),
            good.replace(
                r#""ttl":5"#,
                &format!(r#""x":{}{}"#, "[".repeat(100_000), "]".repeat(100_000)),
            ),
            "[]".into(),
            "\u{0}".into(),
        ];
        for c in &bad {
            let t = jwt(&k, h, c);
            let r = crate::token::verify_claims(&t, Format::Jwt, &vk(&k));
            assert!(r.is_err(), "{}", &c[..c.len().min(80)]);
        }
        let r = crate::token::verify_claims(&jwt(&k, h, &good), Format::Jwt, &vk(&k)).unwrap();
        assert_eq!((r.1.iat, r.1.exp, r.1.ttl), (Some(1), Some(9), Some(5)));
        // Non-UTF-8 claims.
        let t = jwt(&k, h, "");
        let mut raw = String::from_utf8(t).unwrap();
        let parts: Vec<&str> = raw.split('.').collect();
        let claims = URL_SAFE_NO_PAD.encode([0xff, 0xfe]);
        let input = format!("{}.{claims}", parts[0]);
        let s = URL_SAFE_NO_PAD.encode(k.sign(input.as_bytes()).unwrap());
        raw = format!("{input}.{s}");
        assert!(
            crate::token::verify_claims(raw.as_bytes(), Format::Jwt, &vk(&k))
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
    }

    #[test]
    fn cbor_skip_is_bounded_and_exact() {
        let skip = |data: &[u8]| {
            let mut d = minicbor::Decoder::new(data);
            skip_bounded(&mut d, "test").map(|()| d.position())
        };
        let deep = |n: usize| {
            let mut v = vec![0x81; n];
            v.push(0x00);
            v
        };
        assert_eq!(skip(&deep(MAX_CBOR_DEPTH)), Ok(MAX_CBOR_DEPTH + 1));
        assert!(skip(&deep(MAX_CBOR_DEPTH + 1)).is_err());
        assert!(skip(&deep(100_000)).is_err());
        // Indefinite containers, tags, empty containers, maps; the item ends where it should.
        let mixed = hex("9f c1 a2 01 80 02 bf 61 78 9f ff ff ff 00");
        assert_eq!(skip(&mixed), Ok(mixed.len() - 1));
        assert!(skip(&hex("ff")).is_err(), "a stray break");
        assert!(skip(&hex("82 01")).is_err(), "truncated");
        assert!(
            skip(&hex("9b ff ff ff ff ff ff ff ff")).is_err(),
            "huge length"
        );
    }

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    #[test]
    fn mutated_tokens_never_panic() {
        let k = key();
        let seeds = [
            (
                jwt(
                    &k,
                    r#"{"alg":"ES256","kid":"k1","typ":"statuslist+jwt","x5c":["AAAA"]}"#,
                    &claims_json(),
                ),
                Format::Jwt,
            ),
            (
                cwt(
                    &k,
                    &hex(&format!("a30126 10{TYP} 028110").replace(' ', "")),
                    &hex("a204426b31 1821 80".replace(' ', "").as_str()),
                    &cbor_claims(),
                ),
                Format::Cwt,
            ),
        ];
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        for round in 0..4000 {
            let (seed, format) = &seeds[round % 2];
            let mut data = seed.clone();
            for _ in 0..=xorshift(&mut rng) % 3 {
                let pos = (xorshift(&mut rng) as usize) % data.len();
                match xorshift(&mut rng) % 4 {
                    0 => data[pos] ^= 1 << (xorshift(&mut rng) % 8),
                    1 => data.truncate(pos.max(1)),
                    2 => data.insert(pos, xorshift(&mut rng) as u8),
                    _ => {
                        let other = &seeds[(round + 1) % 2].0;
                        let at = (xorshift(&mut rng) as usize) % other.len();
                        data.splice(pos..pos, other[at..].iter().take(16).copied());
                    }
                }
            }
            let _ = peek_header(&data, *format);
            let _ = crate::token::verify_claims(&data, *format, &vk(&k));
            let _ = read_claims(&data, *format);
        }
    }
}
