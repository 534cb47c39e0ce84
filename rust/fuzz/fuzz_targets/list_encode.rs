//! The list encoder (packed list -> zlib, our own DEFLATE encoder with incremental per-chunk
//! segments) round-trips through inflate, before and after updates.
//!
//! Input: 1 byte `bits`, 1 byte of extra length (lists past one 64 KiB chunk), 2 bytes update
//! count, then the byte array. Properties: encode(list) inflates to exactly the list's bytes;
//! after `set`s on some entries, the incremental re-encode inflates to the updated bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statuslist_core::{zlib, StatusList};

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let bits = [1u64, 2, 4, 8][usize::from(data[0] % 4)];
    let updates = usize::from(u16::from_le_bytes([data[2], data[3]]) % 512);
    let body = &data[4..];
    // Mostly the body alone (fast runs); for `data[1]` of 0xf0 and above, up to 15 extra 8 KiB
    // pages of zeros after it (up to two chunks more), which the updates below then touch.
    // (Not the body cycled: periodic data takes the encoder ~40x longer than zeros per byte, see
    // README.md, which would slow every run down.)
    let mut bytes = body.to_vec();
    bytes.resize(
        body.len() + usize::from(data[1].saturating_sub(0xf0)) * 8192,
        0,
    );
    let mut list = StatusList::from_bytes(bytes.clone(), bits).expect("from_bytes");
    let encoded = list.encode();
    let back = zlib::inflate(&encoded, bytes.len()).expect("encoded list inflates");
    assert_eq!(back, bytes, "encode lost data");
    assert_eq!(list.dirty_chunks(), 0);

    if updates == 0 || list.is_empty() {
        return;
    }
    let max = (1u64 << bits) - 1;
    let len = list.len();
    for k in 0..updates {
        let b = u64::from(body[k % body.len()]);
        let index = (b * 7919 + k as u64 * 104_729) % len;
        list.set(index, b & max).expect("set in range");
    }
    let expected = list.as_bytes().to_vec();
    let encoded = list.encode();
    let back = zlib::inflate(&encoded, expected.len()).expect("re-encoded list inflates");
    assert_eq!(back, expected, "incremental re-encode lost data");
});
