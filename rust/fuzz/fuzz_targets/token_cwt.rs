//! CWT Status List Tokens (spec §5.2): the envelope parser (`envelope::peek_header`), `verify`
//! and `verify_claims` on arbitrary bytes, on `COSE_Sign1`s the fuzzer shapes and the target
//! signs, and `sign_cwt` round trips.
//!
//! Input byte 0 picks the mode:
//! - 0: the rest is the token, verified with the fuzz key and the spec example key; a token that
//!   verifies has the header `peek_header` read;
//! - 1: byte 1 is the protected header's length n, then n bytes of protected header, then the
//!   payload; the target signs it with the fuzz key (unprotected `{4: "fuzz"}`), so the fuzzer
//!   reaches `read_claims`. A verified token returns exactly the protected header and payload;
//! - 2: claims from the rest are signed by `sign_cwt`; the token verifies and its status_list
//!   reads back as given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statuslist_core::envelope::{peek_header, read_claims};
use statuslist_core::token::{sign_cwt, verify, verify_claims, Claims, Format};
use statuslist_core::{Error, StatusList, StatusListObject};
use statuslist_fuzz::{cose_sign1, ed_signing_key, ed_verifying_key, spec_verifying_key, u64_at};

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

/// The value of the claim `key` in a CBOR claims map, as the bytes of that item.
fn claim(claims: &[u8], key: u64) -> Option<&[u8]> {
    let mut d = minicbor::Decoder::new(claims);
    let n = d.map().ok()??;
    for _ in 0..n {
        let k = d.u64().ok()?;
        let start = d.position();
        d.skip().ok()?;
        if k == key {
            return Some(&claims[start..d.position()]);
        }
    }
    None
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let peeked = peek_header(rest, Format::Cwt);
            if let Err(e) = &peeked {
                typed(e);
            }
            for key in [ed_verifying_key(), spec_verifying_key()] {
                match verify_claims(rest, Format::Cwt, &key) {
                    Ok((header, claims)) => {
                        assert_eq!(peeked.as_ref().ok(), Some(&header));
                        assert!(matches!(claims.status_list.bits, 1 | 2 | 4 | 8));
                    }
                    Err(e) => typed(&e),
                }
            }
            if let Err(e) = peek_header(rest, Format::Jwt) {
                typed(&e);
            }
        }
        1 => {
            let Some((&n, rest)) = rest.split_first() else {
                return;
            };
            let n = usize::from(n).min(rest.len());
            let (protected, payload) = rest.split_at(n);
            let token = cose_sign1(protected, payload);
            match verify(&token, Format::Cwt, &ed_verifying_key()) {
                Ok((h, v)) => {
                    assert_eq!(v.header, protected);
                    assert_eq!(v.claims, payload);
                    assert_eq!(peek_header(&token, Format::Cwt).ok(), Some(h));
                    match read_claims(payload, Format::Cwt) {
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
            match sign_cwt(&claims, &key) {
                Ok(token) => {
                    let v = verify(&token, Format::Cwt, &ed_verifying_key())
                        .expect("signed CWT verifies")
                        .1;
                    let sl = claim(&v.claims, 65_533).expect("status_list claim present");
                    let obj = StatusListObject::from_cbor(sl).expect("status_list claim parses");
                    assert_eq!(obj, claims.status_list);
                }
                Err(Error::InvalidArgument(_)) => {
                    assert!(ttl == Some(0) || exp.is_some_and(|e| e <= iat));
                }
                Err(other) => panic!("sign_cwt: unexpected error {other:?}"),
            }
        }
    }
});
