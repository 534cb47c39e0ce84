//! The CBOR `status_list` object (spec §4.3) on arbitrary bytes.
//!
//! Properties as for `object_json`, starting from CBOR.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statuslist_core::{Error, StatusListObject};

const MAX: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    match StatusListObject::from_cbor(data) {
        Ok(obj) => {
            assert!(matches!(obj.bits, 1 | 2 | 4 | 8));
            let again = StatusListObject::from_cbor(&obj.to_cbor()).expect("to_cbor re-parses");
            assert_eq!(again, obj, "CBOR round trip changed the object");
            let json = StatusListObject::from_json(&obj.to_json()).expect("to_json re-parses");
            assert_eq!(json, obj, "JSON round trip changed the object");
            match obj.to_list(MAX) {
                Ok(list) => assert!(list.as_bytes().len() <= MAX),
                Err(Error::LimitExceeded { .. } | Error::Decompress(_)) => {}
                Err(other) => panic!("to_list: unexpected error kind {other:?}"),
            }
        }
        Err(Error::MalformedObject(m) | Error::MalformedBase64(m)) => assert!(!m.is_empty()),
        Err(Error::InvalidBits(_)) => {}
        Err(other) => panic!("from_cbor: unexpected error kind {other:?}"),
    }
});
