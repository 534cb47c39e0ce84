//! zlib decode with limits: `zlib::inflate` and `StatusList::decode` on arbitrary bytes.
//!
//! Input: 2 bytes of limit (see `limit`), 1 byte selecting `bits`, then the zlib stream.
//! Properties: never a panic; accepted output never exceeds the limit; what is accepted is
//! exactly what an independent zlib decoder (flate2's reader) produces from the same stream; a
//! decoded list re-encodes (our DEFLATE encoder) to a stream that inflates back to the same bytes.
#![no_main]

use std::io::Read as _;

use libfuzzer_sys::fuzz_target;
use statuslist_core::{zlib, Error, StatusList};
use statuslist_fuzz::limit;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let max = limit(data[0], data[1]);
    let bits = [1u64, 2, 4, 8, 0, 3][usize::from(data[2] % 6)];
    let stream = &data[3..];

    match zlib::inflate(stream, max) {
        Ok(out) => {
            assert!(out.len() <= max, "inflate gave {} > limit {max}", out.len());
            // An independent reader agrees on every stream we accept.
            let mut reference = Vec::new();
            flate2::read::ZlibDecoder::new(stream)
                .take(max as u64 + 1)
                .read_to_end(&mut reference)
                .expect("flate2 refuses a stream inflate accepted");
            assert_eq!(reference, out, "inflate and flate2 disagree");
        }
        Err(Error::LimitExceeded { actual, limit, .. }) => {
            // Either the output limit, or an allocation refused (limit 0).
            assert!(limit == 0 || (limit == max as u64 && actual > limit));
        }
        Err(Error::Decompress(msg)) => assert!(!msg.is_empty()),
        Err(other) => panic!("inflate returned an unexpected error kind: {other:?}"),
    }

    match StatusList::decode(stream, bits, max) {
        Ok(mut list) => {
            assert!(matches!(bits, 1 | 2 | 4 | 8));
            let bytes = list.as_bytes().to_vec();
            assert!(bytes.len() <= max);
            assert_eq!(list.len(), bytes.len() as u64 * (8 / bits));
            let again = list.encode();
            let back = zlib::inflate(&again, bytes.len()).expect("re-encoded list inflates");
            assert_eq!(back, bytes, "encode(decode(x)) lost data");
        }
        Err(Error::InvalidBits(b)) => assert!(!matches!(b, 1 | 2 | 4 | 8)),
        Err(Error::LimitExceeded { .. } | Error::Decompress(_)) => {}
        Err(other) => panic!("decode returned an unexpected error kind: {other:?}"),
    }
});
