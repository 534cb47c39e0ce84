//! JWT Status List Tokens (spec §5.1): the envelope parser (`envelope::peek_header`), `verify`
//! and `verify_claims` on arbitrary bytes, on tokens the fuzzer shapes and the target signs, and
//! `sign_jwt` round trips.
//!
//! Input byte 0 picks the mode:
//! - 0: the rest is the token, verified with the fuzz key and the spec example key; a token that
//!   verifies has the header `peek_header` read;
//! - 1: the rest is `header 0x00 payload`; the target signs it with the fuzz key, so the fuzzer
//!   reaches everything after the signature check (`read_claims`). A verified token returns
//!   exactly the header and payload signed; a canonical header (compact, sorted, no duplicates)
//!   of only `alg` `EdDSA`, `typ` `statuslist+jwt` and a string `kid` must verify;
//! - 2: claims from the rest (`sub`, `iss`, times, list bytes) are signed by `sign_jwt`; the
//!   token verifies and its claims read back as given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statuslist_core::envelope::{peek_header, read_claims};
use statuslist_core::token::{sign_jwt, verify, verify_claims, Claims, Format};
use statuslist_core::{Error, StatusList, StatusListObject};
use statuslist_fuzz::{ed_signing_key, ed_verifying_key, jws, spec_verifying_key, u64_at};

/// The errors a token may be refused with: envelope and header rules, bounds, the signature,
/// and (for the claims) the `status_list` object's own errors.
fn typed(e: &Error) {
    assert!(
        matches!(
            e,
            Error::MalformedToken(_)
                | Error::BadSignature(_)
                | Error::CriticalExtension(_)
                | Error::LimitExceeded { .. }
                | Error::MalformedObject(_)
                | Error::MalformedBase64(_)
                | Error::InvalidBits(_)
        ),
        "unexpected error kind {e:?}"
    );
}

/// A header the rules must accept: canonical JSON of only alg EdDSA, typ, and a string kid.
fn plain(header: &[u8]) -> bool {
    let Ok(serde_json::Value::Object(h)) = serde_json::from_slice(header) else {
        return false;
    };
    serde_json::to_vec(&h).ok().as_deref() == Some(header)
        && h.keys()
            .all(|k| matches!(k.as_str(), "alg" | "typ" | "kid"))
        && h.get("alg").and_then(|a| a.as_str()) == Some("EdDSA")
        && h.get("typ").and_then(|t| t.as_str()) == Some("statuslist+jwt")
        && h.get("kid").is_none_or(serde_json::Value::is_string)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let peeked = peek_header(rest, Format::Jwt);
            if let Err(e) = &peeked {
                typed(e);
            }
            for key in [ed_verifying_key(), spec_verifying_key()] {
                match verify_claims(rest, Format::Jwt, &key) {
                    Ok((header, claims)) => {
                        assert_eq!(peeked.as_ref().ok(), Some(&header));
                        assert!(matches!(claims.status_list.bits, 1 | 2 | 4 | 8));
                    }
                    Err(e) => typed(&e),
                }
            }
            if let Err(e) = peek_header(rest, Format::Cwt) {
                typed(&e);
            }
        }
        1 => {
            let cut = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            let (header, payload) = (&rest[..cut], rest.get(cut + 1..).unwrap_or(&[]));
            let token = jws(header, payload);
            match verify(token.as_bytes(), Format::Jwt, &ed_verifying_key()) {
                Ok((h, v)) => {
                    assert_eq!(v.header, header);
                    assert_eq!(v.claims, payload);
                    assert_eq!(peek_header(token.as_bytes(), Format::Jwt).ok(), Some(h));
                    match read_claims(payload, Format::Jwt) {
                        Ok(c) => assert!(matches!(c.status_list.bits, 1 | 2 | 4 | 8)),
                        Err(e) => typed(&e),
                    }
                }
                Err(e) => {
                    typed(&e);
                    assert!(
                        !matches!(e, Error::BadSignature(_)),
                        "own signature refused"
                    );
                    assert!(
                        !plain(header),
                        "a plain EdDSA statuslist+jwt header was refused: {e}"
                    );
                }
            }
        }
        _ => {
            if rest.len() < 26 {
                return;
            }
            let (nums, tail) = rest.split_at(26);
            let cut = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
            let sub = String::from_utf8_lossy(&tail[..cut]).into_owned();
            let after = tail.get(cut + 1..).unwrap_or(&[]);
            let iss = (nums[24] & 1 == 1).then(|| String::from_utf8_lossy(after).into_owned());
            let iat = u64_at(nums, 0);
            let exp = (nums[25] & 1 == 1).then(|| u64_at(nums, 8));
            let ttl = (nums[25] & 2 == 2).then(|| u64_at(nums, 16));
            let bits = [1, 2, 4, 8][usize::from(nums[24] >> 6)];
            let Ok(mut list) = StatusList::from_bytes(after.to_vec(), bits) else {
                return;
            };
            let claims = Claims {
                sub,
                iat,
                exp,
                ttl,
                iss,
                status_list: StatusListObject::from_list(&mut list, None),
            };
            let key = ed_signing_key("fuzz".into()).expect("fuzz key loads");
            match sign_jwt(&claims, &key) {
                Ok(token) => {
                    let v = verify(token.as_bytes(), Format::Jwt, &ed_verifying_key())
                        .expect("signed JWT verifies")
                        .1;
                    let c: serde_json::Value =
                        serde_json::from_slice(&v.claims).expect("claims are JSON");
                    assert_eq!(c["sub"].as_str(), Some(claims.sub.as_str()));
                    assert_eq!(c["iat"].as_u64(), Some(iat));
                    assert_eq!(c.get("exp").and_then(serde_json::Value::as_u64), exp);
                    assert_eq!(c.get("ttl").and_then(serde_json::Value::as_u64), ttl);
                    assert_eq!(c.get("iss").and_then(|i| i.as_str()), claims.iss.as_deref());
                    let obj = StatusListObject::from_json(&c["status_list"].to_string())
                        .expect("status_list claim parses");
                    assert_eq!(obj, claims.status_list);
                }
                Err(Error::InvalidArgument(_)) => {
                    assert!(ttl == Some(0) || exp.is_some_and(|e| e <= iat));
                }
                Err(other) => panic!("sign_jwt: unexpected error {other:?}"),
            }
        }
    }
});
