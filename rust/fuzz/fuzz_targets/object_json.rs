//! The JSON `status_list` object (spec §4.2) on arbitrary text.
//!
//! Properties: never a panic; only `MalformedObject`, `MalformedBase64` or `InvalidBits` errors;
//! an accepted object survives JSON -> object -> JSON and -> CBOR -> object unchanged; its list
//! decodes within the limit or is refused with a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statuslist_core::{Error, StatusListObject};

const MAX: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match StatusListObject::from_json(text) {
        Ok(obj) => {
            assert!(matches!(obj.bits, 1 | 2 | 4 | 8));
            let again = StatusListObject::from_json(&obj.to_json()).expect("to_json re-parses");
            assert_eq!(again, obj, "JSON round trip changed the object");
            let cbor = StatusListObject::from_cbor(&obj.to_cbor()).expect("to_cbor re-parses");
            assert_eq!(cbor, obj, "CBOR round trip changed the object");
            match obj.to_list(MAX) {
                Ok(list) => assert!(list.as_bytes().len() <= MAX),
                Err(Error::LimitExceeded { .. } | Error::Decompress(_)) => {}
                Err(other) => panic!("to_list: unexpected error kind {other:?}"),
            }
        }
        Err(Error::MalformedObject(m) | Error::MalformedBase64(m)) => assert!(!m.is_empty()),
        Err(Error::InvalidBits(_)) => {}
        Err(other) => panic!("from_json: unexpected error kind {other:?}"),
    }
});
