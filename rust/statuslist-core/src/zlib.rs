//! The zlib container (RFC 1950) around DEFLATE data (spec §4.1 step 4): Adler-32 and its
//! combination, stitching independently compressed segments into one stream, and bounded
//! decompression of untrusted input.

use crate::deflate::{Segment, StreamWriter};
use crate::error::{Error, Result};

const ADLER_MOD: u32 = 65_521;
/// Largest number of bytes that can be summed before the 32-bit Adler accumulators may overflow.
const ADLER_NMAX: usize = 5552;
/// CMF/FLG for deflate, 32 KiB window, "maximum compression" level hint (as `zlib.compress(_, 9)`).
pub(crate) const ZLIB_HEADER: [u8; 2] = [0x78, 0xda];

/// Adler-32 checksum (RFC 1950 §8) of `data`, continuing from `adler` (start with 1).
#[must_use]
pub fn adler32(adler: u32, data: &[u8]) -> u32 {
    const LANES: usize = 32;
    let (mut a, mut b) = (u64::from(adler & 0xffff), u64::from(adler >> 16));
    // Blocks of whole groups (5,536 bytes), the remainder summed byte by byte.
    for block in data.chunks(ADLER_NMAX / LANES * LANES) {
        // The block as groups of 32 bytes, lane i holding each group's i-th byte. A byte adds
        // itself to `a` once, and to `b` once per step from its own to the block's end: 32 for
        // every later group, plus 32 - i within its group. So each lane keeps the sum of its
        // bytes and, before every group, adds that sum to a second counter (its bytes' later
        // groups): lane-wise additions only, which the compiler vectorises, and at most
        // 255 * 173 * 172 / 2 < 2^22 in a lane of one block.
        let mut groups = block.chunks_exact(LANES);
        let count = groups.len() as u64;
        let (mut sums, mut later) = ([0u32; LANES], [0u32; LANES]);
        for group in &mut groups {
            // As an array, so each group is loaded whole (iterating the slice loaded it a byte
            // at a time).
            let group: &[u8; LANES] = group.try_into().unwrap_or(&[0; LANES]);
            for i in 0..LANES {
                // Bounded as said above: wrapping, so that the overflow checks of the release
                // profile do not keep the loop scalar.
                later[i] = later[i].wrapping_add(sums[i]);
                sums[i] = sums[i].wrapping_add(u32::from(group[i]));
            }
        }
        let total: u64 = sums.iter().map(|&s| u64::from(s)).sum();
        let later: u64 = later.iter().map(|&s| u64::from(s)).sum();
        let within: u64 = (0..LANES)
            .map(|i| (LANES - i) as u64 * u64::from(sums[i]))
            .sum();
        b += a * count * LANES as u64 + LANES as u64 * later + within;
        a += total;
        for &byte in groups.remainder() {
            a += u64::from(byte);
            b += a;
        }
        a %= u64::from(ADLER_MOD);
        b %= u64::from(ADLER_MOD);
    }
    ((b as u32) << 16) | a as u32
}

/// Adler-32 of `A ‖ B` from `adler32(A)`, `adler32(B)` and `len(B)`.
///
/// Summing B after A instead of after the initial 1 raises every running `a` by `a_A - 1`, and `b`
/// accumulates that offset once per byte of B.
#[must_use]
pub fn adler32_combine(adler_a: u32, adler_b: u32, len_b: u64) -> u32 {
    let m = u64::from(ADLER_MOD);
    let (a1, b1) = (u64::from(adler_a & 0xffff), u64::from(adler_a >> 16));
    let (a2, b2) = (u64::from(adler_b & 0xffff), u64::from(adler_b >> 16));
    let a = (a1 + a2 + m - 1) % m;
    let b = (b1 + b2 + (len_b % m) * ((a1 + m - 1) % m)) % m;
    ((b as u32) << 16) | a as u32
}

/// Writes header, segments (each with the bytes it encodes, consecutive slices of `bytes`; the
/// last one final) and the Adler-32 trailer into one zlib stream.
pub(crate) fn assemble(
    segments: &[(&Segment, &[u8])],
    bytes: &[u8],
    capacity: usize,
    adler: u32,
) -> Vec<u8> {
    let mut w = StreamWriter::new(capacity + 16);
    w.out().extend_from_slice(&ZLIB_HEADER);
    w.append_all(segments, bytes);
    let mut out = w.finish(!segments.is_empty());
    out.extend_from_slice(&adler.to_be_bytes());
    out
}

/// Checks the two-byte zlib header, naming the format when the input is something else.
fn check_header(data: &[u8]) -> Result<()> {
    let fail = |msg: &str| Err(Error::Decompress(msg.to_owned()));
    if data.len() < 2 {
        return fail("stream too short for a zlib header");
    }
    if data[0] == 0x1f && data[1] == 0x8b {
        return fail("input is gzip (RFC 1952); status lists use the zlib format (RFC 1950)");
    }
    let (cmf, flg) = (data[0], data[1]);
    if cmf & 0x0f != 8 || cmf >> 4 > 7 || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
        return fail("no zlib header (RFC 1950); raw DEFLATE or another format is not accepted");
    }
    if flg & 0x20 != 0 {
        return fail("zlib preset dictionaries are not supported");
    }
    Ok(())
}

/// Inflates a complete zlib stream, refusing to produce more than `max_out` bytes.
///
/// The output grows in steps, so a decompression bomb costs at most `max_out` bytes of memory.
/// The Adler-32 trailer is verified and trailing bytes after the stream are an error.
pub fn inflate(data: &[u8], max_out: usize) -> Result<Vec<u8>> {
    use flate2::{Decompress, FlushDecompress, Status};
    check_header(data)?;
    let body = &data[2..];
    let mut inflater = Decompress::new(false);
    let mut out: Vec<u8> = Vec::new();
    // Compressed status lists are rarely below 1:8; start there and grow geometrically.
    let first = body
        .len()
        .saturating_mul(8)
        .max(1024)
        .min(max_out.saturating_add(1));
    out.try_reserve_exact(first)
        .map_err(|_| alloc_error(first))?;
    loop {
        let (in_before, out_before) = (inflater.total_in(), out.len());
        let consumed = in_before as usize;
        let status = inflater
            .decompress_vec(&body[consumed..], &mut out, FlushDecompress::Finish)
            .map_err(|e| Error::Decompress(format!("corrupt DEFLATE data ({e})")))?;
        if out.len() > max_out {
            return Err(Error::LimitExceeded {
                what: "inflated status list size in bytes",
                actual: out.len() as u64,
                limit: max_out as u64,
            });
        }
        if status == Status::StreamEnd {
            break;
        }
        if out.len() == out.capacity() {
            let grow = out.capacity().min(max_out + 1 - out.len()).max(1);
            out.try_reserve_exact(grow).map_err(|_| alloc_error(grow))?;
            continue;
        }
        // Output space was left over, so the inflater stopped for want of input.
        let stalled = inflater.total_in() == in_before && out.len() == out_before;
        if stalled || inflater.total_in() as usize >= body.len() {
            return Err(Error::Decompress("stream is truncated".to_owned()));
        }
    }
    let rest = &body[inflater.total_in() as usize..];
    if rest.len() < 4 {
        return Err(Error::Decompress(
            "stream is truncated (missing Adler-32 trailer)".to_owned(),
        ));
    }
    if rest.len() > 4 {
        return Err(Error::Decompress(format!(
            "{} unexpected bytes after the zlib stream",
            rest.len() - 4
        )));
    }
    let expected = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    if adler32(1, &out) != expected {
        return Err(Error::Decompress("Adler-32 checksum mismatch".to_owned()));
    }
    Ok(out)
}

fn alloc_error(bytes: usize) -> Error {
    Error::LimitExceeded {
        what: "memory allocation in bytes",
        actual: bytes as u64,
        limit: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler_known_value() {
        // RFC 1950 example-style check: "Wikipedia" -> 0x11E60398.
        assert_eq!(adler32(1, b"Wikipedia"), 0x11e6_0398);
        assert_eq!(adler32(1, b""), 1);
    }

    /// The sixteen-at-a-time sums equal the definition, byte by byte, on lengths around the
    /// block sizes and on the bytes that make the sums largest.
    #[test]
    fn adler_equals_the_definition() {
        let naive = |data: &[u8]| {
            let (mut a, mut b) = (1u64, 0u64);
            for &x in data {
                a = (a + u64::from(x)) % u64::from(ADLER_MOD);
                b = (b + a) % u64::from(ADLER_MOD);
            }
            (b << 16 | a) as u32
        };
        let mut x = 1u32;
        let noise: Vec<u8> = (0..40_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for data in [noise, vec![0xff; 40_000]] {
            for n in [0, 1, 15, 16, 17, 5551, 5552, 5553, 11_104, 40_000] {
                assert_eq!(adler32(1, &data[..n]), naive(&data[..n]), "{n} bytes");
            }
        }
    }

    #[test]
    fn adler_combine_matches_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 3) as u8).collect();
        for cut in [0, 1, 5551, 5552, 65_536, 99_999, 100_000] {
            let (a, b) = data.split_at(cut);
            assert_eq!(
                adler32_combine(adler32(1, a), adler32(1, b), b.len() as u64),
                adler32(1, &data)
            );
        }
    }

    #[test]
    fn adler_continues_from_any_value() {
        let data: Vec<u8> = (0..60_000u32)
            .map(|i| (i * 151 + i / 7) as u8 | 0x80)
            .collect();
        for cut in [0, 1, 16, 5551, 5552, 5553, 33_333, 60_000] {
            let (a, b) = data.split_at(cut);
            assert_eq!(adler32(adler32(1, a), b), adler32(1, &data), "cut at {cut}");
        }
    }

    #[test]
    fn adler_equals_its_definition_on_the_largest_bytes() {
        // All bytes 255: the largest lane sums the block bound allows.
        let naive = |d: &[u8]| {
            let (mut a, mut b) = (1u32, 0u32);
            for &x in d {
                a = (a + u32::from(x)) % ADLER_MOD;
                b = (b + a) % ADLER_MOD;
            }
            (b << 16) | a
        };
        let data = vec![0xffu8; 3 * ADLER_NMAX + 77];
        for n in [
            0,
            31,
            32,
            33,
            ADLER_NMAX - 1,
            ADLER_NMAX,
            ADLER_NMAX + 1,
            data.len(),
        ] {
            assert_eq!(adler32(1, &data[..n]), naive(&data[..n]), "{n} bytes");
        }
    }

    #[test]
    fn small_limits_do_not_panic() {
        let z = [0x78, 0xda, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01]; // two zero bytes
        assert_eq!(inflate(&z, 2).unwrap(), vec![0, 0]);
        assert!(matches!(inflate(&z, 1), Err(Error::LimitExceeded { .. })));
        assert!(matches!(inflate(&z, 0), Err(Error::LimitExceeded { .. })));
    }

    #[test]
    fn header_errors_name_the_format() {
        let gz = Error::Decompress(
            "input is gzip (RFC 1952); status lists use the zlib format (RFC 1950)".into(),
        );
        assert_eq!(inflate(&[0x1f, 0x8b, 8, 0, 0, 0], 100), Err(gz));
        assert!(
            matches!(inflate(&[0x63, 0x60, 0, 0], 100), Err(Error::Decompress(m)) if m.contains("raw DEFLATE"))
        );
    }
}
