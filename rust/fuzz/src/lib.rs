//! Shared pieces of the fuzz targets: fixed keys, token framing, and the limit a target picks.
//!
//! Targets that sign (so the fuzzer reaches past the signature check) use one fixed Ed25519 key;
//! targets that verify raw bytes also try the ES256 key of the spec examples, so the committed
//! spec tokens in the seed corpora verify.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use statuslist_core::token::{Algorithm, SigningKey, VerifyingKey};

/// The seed of the fuzz targets' Ed25519 key (kid `fuzz`).
pub const SEED: [u8; 32] = [7; 32];

/// The spec examples' ES256 public key (draft -20 §5.1/§5.2, uncompressed point).
pub const SPEC_ES256: &str = "042371d69bfd03b3574f308f885a67f8981987f9869e0156cf56eeef076ec2c57ae8dfdde44963f5bb3586d815de890928875b1c4a6481398096e60a25e9b39f53";

#[must_use]
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[must_use]
pub fn ed_pair() -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&SEED).expect("seed")
}

/// The fuzz key as the core loads it: PKCS#8 v1 (RFC 8410 §7) around the seed.
#[must_use]
pub fn ed_signing_key(kid: String) -> Option<SigningKey> {
    let mut der = hex("302e020100300506032b657004220420");
    der.extend_from_slice(&SEED);
    SigningKey::from_pkcs8(Algorithm::EdDSA, &der, kid, vec![]).ok()
}

#[must_use]
pub fn ed_verifying_key() -> VerifyingKey {
    VerifyingKey {
        alg: Algorithm::EdDSA,
        public_key: ed_pair().public_key().as_ref().to_vec(),
    }
}

#[must_use]
pub fn spec_verifying_key() -> VerifyingKey {
    VerifyingKey {
        alg: Algorithm::ES256,
        public_key: hex(SPEC_ES256),
    }
}

/// A JWS compact token over arbitrary header and payload bytes, signed with the fuzz key.
#[must_use]
pub fn jws(header: &[u8], payload: &[u8]) -> String {
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let signature = ed_pair().sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
    token
}

/// A `COSE_Sign1` (tag 18) over arbitrary protected-header and payload bytes, unprotected
/// `{4: kid}`, signed with the fuzz key (RFC 9052 §4.4 `Sig_structure`).
#[must_use]
pub fn cose_sign1(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut tbs = Vec::new();
    let mut e = minicbor::Encoder::new(&mut tbs);
    e.array(4)
        .and_then(|e| e.str("Signature1"))
        .and_then(|e| e.bytes(protected))
        .and_then(|e| e.bytes(&[]))
        .and_then(|e| e.bytes(payload))
        .expect("encode");
    let signature = ed_pair().sign(&tbs);
    let mut out = Vec::new();
    let mut e = minicbor::Encoder::new(&mut out);
    e.tag(minicbor::data::Tag::new(18))
        .and_then(|e| e.array(4))
        .and_then(|e| e.bytes(protected))
        .and_then(|e| e.map(1))
        .and_then(|e| e.u64(4))
        .and_then(|e| e.bytes(b"fuzz"))
        .and_then(|e| e.bytes(payload))
        .and_then(|e| e.bytes(signature.as_ref()))
        .expect("encode");
    out
}

/// An inflation limit from two input bytes: 0..65534 bytes, or the default 16 MiB for `ffff`, so
/// the fuzzer meets the limit at every size and bombs are cut short quickly.
#[must_use]
pub fn limit(a: u8, b: u8) -> usize {
    match u16::from_le_bytes([a, b]) {
        u16::MAX => statuslist_core::DEFAULT_MAX_BYTES,
        n => n as usize,
    }
}

/// A `u64` from up to 8 little-endian bytes at `at` (missing bytes read as 0).
#[must_use]
pub fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    for (i, slot) in b.iter_mut().enumerate() {
        *slot = data.get(at + i).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}
