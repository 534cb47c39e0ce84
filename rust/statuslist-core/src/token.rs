//! Status List Tokens (spec §5): building, signing and verifying the JWT (§5.1) and CWT (§5.2)
//! forms, and signing many tokens at once across cores.
//!
//! JWT: JOSE header `{"alg", "kid", "typ": "statuslist+jwt"[, "x5c"]}`, claims `sub`, `iat`,
//! `exp`, `ttl`, `status_list`[, `iss`], JWS compact serialisation. CWT: `COSE_Sign1` tagged 18
//! (never wrapped in the CWT tag 61), protected `{1: alg, 16: "application/statuslist+cwt"}`,
//! unprotected `{4: kid[, 33: x5chain]}`.

use std::fmt::Write as _;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use minicbor::data::Tag;
use rayon::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{self as sig, KeyPair as _};

use crate::envelope::{self, Envelope, Header, TokenClaims};
use crate::error::{Error, Result};
use crate::object::StatusListObject;

/// The CWT claim keys and COSE labels the spec uses; 65533–65535 are still "TBD" in -20.
pub mod labels {
    pub const CWT_ISS: u64 = 1;
    pub const CWT_SUB: u64 = 2;
    pub const CWT_EXP: u64 = 4;
    pub const CWT_IAT: u64 = 6;
    pub const CWT_STATUS_LIST: u64 = 65_533;
    pub const CWT_TTL: u64 = 65_534;
    /// The `status` claim of a CWT Referenced Token.
    pub const CWT_STATUS: u64 = 65_535;
    pub const COSE_ALG: u64 = 1;
    pub const COSE_KID: u64 = 4;
    pub const COSE_TYP: u64 = 16;
    pub const COSE_X5CHAIN: u64 = 33;
    /// `COSE_Sign1_Tagged`.
    pub const TAG_COSE_SIGN1: u64 = 18;
    /// The CWT tag, which a Status List Token must not carry (spec §5.2).
    pub const TAG_CWT: u64 = 61;
    pub const JWT_TYP: &str = "statuslist+jwt";
    pub const CWT_TYP: &str = "application/statuslist+cwt";
}

/// Signature algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    ES256,
    ES384,
    EdDSA,
    PS256,
}

impl Algorithm {
    /// Parses a JOSE `alg` name; anything else (including `none` in any casing) is refused.
    pub fn from_jose(name: &str) -> Result<Self> {
        match name {
            "ES256" => Ok(Self::ES256),
            "ES384" => Ok(Self::ES384),
            "EdDSA" => Ok(Self::EdDSA),
            "PS256" => Ok(Self::PS256),
            other => Err(Error::MalformedToken(format!(
                "algorithm {other:?} is not allowed"
            ))),
        }
    }

    #[must_use]
    pub fn jose(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
            Self::PS256 => "PS256",
        }
    }

    /// The COSE algorithm identifier (RFC 9053).
    #[must_use]
    pub fn cose(self) -> i64 {
        match self {
            Self::ES256 => -7,
            Self::ES384 => -35,
            Self::EdDSA => -8,
            Self::PS256 => -37,
        }
    }

    pub(crate) fn from_cose(id: i64) -> Result<Self> {
        [Self::ES256, Self::ES384, Self::EdDSA, Self::PS256]
            .into_iter()
            .find(|a| a.cose() == id)
            .ok_or_else(|| Error::MalformedToken(format!("COSE algorithm {id} is not allowed")))
    }

    fn verification(self) -> &'static dyn sig::VerificationAlgorithm {
        match self {
            Self::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
            Self::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
            Self::EdDSA => &sig::ED25519,
            Self::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        }
    }
}

enum Signer {
    Ecdsa(sig::EcdsaKeyPair),
    Ed25519(sig::Ed25519KeyPair),
    Rsa(sig::RsaKeyPair),
}

/// A private key with its algorithm, `kid` and optional X.509 chain (DER, leaf first).
pub struct SigningKey {
    alg: Algorithm,
    kid: String,
    x5c: Vec<Vec<u8>>,
    signer: Signer,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Loads a PKCS#8 (DER) private key for `alg`.
    pub fn from_pkcs8(alg: Algorithm, der: &[u8], kid: String, x5c: Vec<Vec<u8>>) -> Result<Self> {
        let rng = SystemRandom::new();
        let bad = |e: ring::error::KeyRejected| {
            Error::Key(format!("not a {} PKCS#8 key ({e})", alg.jose()))
        };
        let signer = match alg {
            Algorithm::ES256 => Signer::Ecdsa(
                sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
                    .map_err(bad)?,
            ),
            Algorithm::ES384 => Signer::Ecdsa(
                sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P384_SHA384_FIXED_SIGNING, der, &rng)
                    .map_err(bad)?,
            ),
            Algorithm::EdDSA => {
                Signer::Ed25519(sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(bad)?)
            }
            Algorithm::PS256 => Signer::Rsa(sig::RsaKeyPair::from_pkcs8(der).map_err(bad)?),
        };
        if kid.is_empty() {
            return Err(Error::Key("kid must not be empty".into()));
        }
        Ok(Self {
            alg,
            kid,
            x5c,
            signer,
            rng,
        })
    }

    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as ring reads it: an uncompressed point (EC), 32 bytes (Ed25519) or an
    /// `RSAPublicKey` DER (RSA).
    #[must_use]
    pub fn public_key(&self) -> Vec<u8> {
        match &self.signer {
            Signer::Ecdsa(k) => k.public_key().as_ref().to_vec(),
            Signer::Ed25519(k) => k.public_key().as_ref().to_vec(),
            Signer::Rsa(k) => k.public_key().as_ref().to_vec(),
        }
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let failed = |_| Error::Key("signing failed".into());
        match &self.signer {
            Signer::Ecdsa(k) => k
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(failed),
            Signer::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
            Signer::Rsa(k) => {
                let mut out = vec![0; k.public().modulus_len()];
                k.sign(&sig::RSA_PSS_SHA256, &self.rng, message, &mut out)
                    .map_err(failed)?;
                Ok(out)
            }
        }
    }
}

/// The claims of a Status List Token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub iat: u64,
    pub exp: Option<u64>,
    pub ttl: Option<u64>,
    pub iss: Option<String>,
    pub status_list: StatusListObject,
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

impl Claims {
    fn check(&self) -> Result<()> {
        if self.ttl == Some(0) {
            return Err(Error::InvalidArgument(
                "ttl must be a positive number of seconds".into(),
            ));
        }
        if matches!(self.exp, Some(exp) if exp <= self.iat) {
            return Err(Error::InvalidArgument("exp must be after iat".into()));
        }
        Ok(())
    }

    fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.status_list.lst.len() * 4 / 3 + 256);
        out.push('{');
        if let Some(exp) = self.exp {
            let _ = write!(out, "\"exp\":{exp},");
        }
        let _ = write!(out, "\"iat\":{},", self.iat);
        if let Some(iss) = &self.iss {
            let _ = write!(out, "\"iss\":{},", json_string(iss));
        }
        out.push_str("\"status_list\":");
        out.push_str(&self.status_list.to_json());
        let _ = write!(out, ",\"sub\":{}", json_string(&self.sub));
        if let Some(ttl) = self.ttl {
            let _ = write!(out, ",\"ttl\":{ttl}");
        }
        out.push('}');
        out
    }

    fn to_cbor(&self) -> Vec<u8> {
        use labels::{CWT_EXP, CWT_IAT, CWT_ISS, CWT_STATUS_LIST, CWT_SUB, CWT_TTL};
        let n = 3
            + u64::from(self.exp.is_some())
            + u64::from(self.ttl.is_some())
            + u64::from(self.iss.is_some());
        let mut out = Vec::with_capacity(self.status_list.lst.len() + 256);
        let mut e = minicbor::Encoder::new(&mut out);
        // Writing into a Vec cannot fail.
        let _ = e.map(n);
        if let Some(iss) = &self.iss {
            let _ = e.u64(CWT_ISS).and_then(|e| e.str(iss));
        }
        let _ = e.u64(CWT_SUB).and_then(|e| e.str(&self.sub));
        let _ = e.u64(CWT_IAT).and_then(|e| e.u64(self.iat));
        if let Some(exp) = self.exp {
            let _ = e.u64(CWT_EXP).and_then(|e| e.u64(exp));
        }
        if let Some(ttl) = self.ttl {
            let _ = e.u64(CWT_TTL).and_then(|e| e.u64(ttl));
        }
        let _ = e.u64(CWT_STATUS_LIST);
        out.extend_from_slice(&self.status_list.to_cbor());
        out
    }
}

/// Token serialisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jwt,
    Cwt,
}

/// A signed JWT Status List Token (JWS compact serialisation).
pub fn sign_jwt(claims: &Claims, key: &SigningKey) -> Result<String> {
    claims.check()?;
    let mut header = format!(
        "{{\"alg\":\"{}\",\"kid\":{},\"typ\":\"{}\"",
        key.alg.jose(),
        json_string(&key.kid),
        labels::JWT_TYP
    );
    if !key.x5c.is_empty() {
        let certs: Vec<String> = key
            .x5c
            .iter()
            .map(|c| format!("\"{}\"", STANDARD.encode(c)))
            .collect();
        let _ = write!(header, ",\"x5c\":[{}]", certs.join(","));
    }
    header.push('}');
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims.to_json()));
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}

pub(crate) fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + protected.len() + 32);
    let mut e = minicbor::Encoder::new(&mut out);
    let _ = e
        .array(4)
        .and_then(|e| e.str("Signature1"))
        .and_then(|e| e.bytes(protected));
    let _ = e.bytes(&[]).and_then(|e| e.bytes(payload));
    out
}

/// A signed CWT Status List Token: `COSE_Sign1`, tag 18.
pub fn sign_cwt(claims: &Claims, key: &SigningKey) -> Result<Vec<u8>> {
    claims.check()?;
    let mut protected = Vec::new();
    let mut e = minicbor::Encoder::new(&mut protected);
    let _ = e
        .map(2)
        .and_then(|e| e.u64(labels::COSE_ALG))
        .and_then(|e| e.i64(key.alg.cose()));
    let _ = e.u64(labels::COSE_TYP).and_then(|e| e.str(labels::CWT_TYP));
    let payload = claims.to_cbor();
    let signature = key.sign(&sig_structure(&protected, &payload))?;

    let mut out = Vec::with_capacity(payload.len() + signature.len() + 128);
    let mut e = minicbor::Encoder::new(&mut out);
    let _ = e
        .tag(Tag::new(labels::TAG_COSE_SIGN1))
        .and_then(|e| e.array(4))
        .and_then(|e| e.bytes(&protected));
    let _ = e.map(if key.x5c.is_empty() { 1 } else { 2 });
    let _ = e
        .u64(labels::COSE_KID)
        .and_then(|e| e.bytes(key.kid.as_bytes()));
    match key.x5c.as_slice() {
        [] => {}
        [one] => {
            let _ = e.u64(labels::COSE_X5CHAIN).and_then(|e| e.bytes(one));
        }
        many => {
            let _ = e
                .u64(labels::COSE_X5CHAIN)
                .and_then(|e| e.array(many.len() as u64));
            for c in many {
                let _ = e.bytes(c);
            }
        }
    }
    let _ = e.bytes(&payload).and_then(|e| e.bytes(&signature));
    Ok(out)
}

/// Signs every job in parallel across cores; results come back in job order.
#[must_use]
pub fn sign_many(jobs: &[(&Claims, &SigningKey, Format)]) -> Vec<Result<Vec<u8>>> {
    jobs.par_iter()
        .map(|(claims, key, format)| match format {
            Format::Jwt => sign_jwt(claims, key).map(String::into_bytes),
            Format::Cwt => sign_cwt(claims, key),
        })
        .collect()
}

/// A public key that verifies tokens.
#[derive(Debug, Clone)]
pub struct VerifyingKey {
    pub alg: Algorithm,
    /// Uncompressed EC point, raw Ed25519 key, or `RSAPublicKey` DER.
    pub public_key: Vec<u8>,
}

fn malformed(msg: impl Into<String>) -> Error {
    Error::MalformedToken(msg.into())
}

/// A verified token: the header/protected header and the claims, as JSON text (JWT) or CBOR (CWT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub header: Vec<u8>,
    pub claims: Vec<u8>,
}

/// Checks the signature over a parsed envelope with `key`.
fn check_signature(envelope: &Envelope, key: &VerifyingKey, what: &str) -> Result<()> {
    let alg = envelope.header.alg;
    if alg != key.alg {
        return Err(malformed(format!(
            "alg {} does not match the key's {}",
            alg.jose(),
            key.alg.jose()
        )));
    }
    sig::UnparsedPublicKey::new(alg.verification(), &key.public_key)
        .verify(&envelope.signed, &envelope.signature)
        .map_err(|_| {
            Error::BadSignature(format!(
                "{what} signature does not verify with the given key"
            ))
        })
}

/// Verifies a token: every header rule of [`envelope`] (RFC 8725 explicit typing, algorithm
/// allowlist, JWE / JSON serialisation / tag 61 refused, `crit` honoured), then the signature.
pub fn verify(token: &[u8], format: Format, key: &VerifyingKey) -> Result<(Header, Verified)> {
    let envelope = envelope::open(token, format)?;
    check_signature(
        &envelope,
        key,
        match format {
            Format::Jwt => "JWT",
            Format::Cwt => "CWT",
        },
    )?;
    Ok((
        envelope.header,
        Verified {
            header: envelope.header_bytes,
            claims: envelope.payload,
        },
    ))
}

/// Verifies a token as [`verify`] does and reads its claims into their types.
pub fn verify_claims(
    token: &[u8],
    format: Format,
    key: &VerifyingKey,
) -> Result<(Header, TokenClaims)> {
    let (header, verified) = verify(token, format, key)?;
    Ok((header, envelope::read_claims(&verified.claims, format)?))
}

/// Verifies a JWT Status List Token's form, `typ`, `alg`, `crit` and signature.
pub fn verify_jwt(token: &str, key: &VerifyingKey) -> Result<Verified> {
    verify(token.as_bytes(), Format::Jwt, key).map(|(_, v)| v)
}

/// Verifies a CWT Status List Token: `COSE_Sign1` tagged 18 and not wrapped in tag 61, protected
/// `typ` (label 16), allowed `alg`, `crit`, signature.
pub fn verify_cwt(token: &[u8], key: &VerifyingKey) -> Result<Verified> {
    verify(token, Format::Cwt, key).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es256_key() -> SigningKey {
        let rng = SystemRandom::new();
        let der =
            sig::EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        SigningKey::from_pkcs8(Algorithm::ES256, der.as_ref(), "k1".into(), vec![]).unwrap()
    }

    fn claims() -> Claims {
        let mut list = crate::StatusList::new(16, 1).unwrap();
        list.set(3, 1).unwrap();
        Claims {
            sub: "https://example.com/statuslists/1".into(),
            iat: 1_686_920_170,
            exp: Some(2_291_720_170),
            ttl: Some(43_200),
            iss: None,
            status_list: StatusListObject::from_list(&mut list, None),
        }
    }

    #[test]
    fn jwt_and_cwt_round_trip_and_tamper_fails() {
        let key = es256_key();
        let vk = VerifyingKey {
            alg: Algorithm::ES256,
            public_key: key.public_key(),
        };
        let jwt = sign_jwt(&claims(), &key).unwrap();
        let v = verify_jwt(&jwt, &vk).unwrap();
        assert!(std::str::from_utf8(&v.claims)
            .unwrap()
            .contains("\"ttl\":43200"));
        let cwt = sign_cwt(&claims(), &key).unwrap();
        assert_eq!(&cwt[..2], &[0xd2, 0x84]);
        verify_cwt(&cwt, &vk).unwrap();
        let mut bad = cwt.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(matches!(verify_cwt(&bad, &vk), Err(Error::BadSignature(_))));
        let results = sign_many(&[
            (&claims(), &key, Format::Jwt),
            (&claims(), &key, Format::Cwt),
        ]);
        assert!(results.iter().all(Result::is_ok));
    }

    #[test]
    fn rejects_bad_claims() {
        let key = es256_key();
        let mut c = claims();
        c.ttl = Some(0);
        assert!(sign_jwt(&c, &key).is_err());
        let mut c = claims();
        c.exp = Some(c.iat);
        assert!(sign_cwt(&c, &key).is_err());
    }

    /// The signed examples of the spec (draft -20 §5.1, §5.2) verify with the example key.
    #[test]
    fn spec_examples_verify() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let vk = VerifyingKey { alg: Algorithm::ES256, public_key: hex("042371d69bfd03b3574f308f885a67f8981987f9869e0156cf56eeef076ec2c57ae8dfdde44963f5bb3586d815de890928875b1c4a6481398096e60a25e9b39f53") };
        let jwt = "eyJhbGciOiJFUzI1NiIsImtpZCI6IjEyIiwidHlwIjoic3RhdHVzbGlzdCtqd3QifQ.eyJleHAiOjIyOTE3MjAxNzAsImlhdCI6MTY4NjkyMDE3MCwiaXNzIjoiaHR0cHM6Ly9leGFtcGxlLmNvbSIsInN0YXR1c19saXN0Ijp7ImJpdHMiOjEsImxzdCI6ImVOcmJ1UmdBQWhjQlhRIn0sInN1YiI6Imh0dHBzOi8vZXhhbXBsZS5jb20vc3RhdHVzbGlzdHMvMSIsInR0bCI6NDMyMDB9.2lKUUNG503R9htu4aHAYi7vjmr3sgApbfoDvPrl65N3URUO1EYqqQl45Jfzd-Av4QzlKa3oVALpLwOEUOq-U_g";
        let v = verify_jwt(jwt, &vk).unwrap();
        assert!(std::str::from_utf8(&v.claims)
            .unwrap()
            .contains("eNrbuRgAAhcBXQ"));
        let cwt = hex("d2845820a2012610781a6170706c69636174696f6e2f7374617475736c6973742b637774a1044231325850a502782168747470733a2f2f6578616d706c652e636f6d2f7374617475736c697374732f31061a648c5bea041a8898dfea19fffe19a8c019fffda2646269747301636c73744a78dadbb918000217015d584093fa4d01032b18c35e2fe1101b77fd6cc9440022caa4694450c4e4e9feab4e99d1fa6d9772ce2bf3a12e0323ded7c982c5e101a5e67f0cbc1e2b6f57ce99c279");
        verify_cwt(&cwt, &vk).unwrap();
        // The same bytes wrapped in tag 61 are refused.
        let mut wrapped = vec![0xd8, 0x3d];
        wrapped.extend_from_slice(&cwt);
        assert!(verify_cwt(&wrapped, &vk)
            .unwrap_err()
            .to_string()
            .contains("61"));
        assert!(
            verify_cwt(&cwt[1..], &vk).is_err(),
            "untagged COSE_Sign1 is refused"
        );
    }
}
