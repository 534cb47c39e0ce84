//! The bit-packed status list (spec §4.1) and its incremental zlib encoding.
//!
//! Entry `i` of a list with `bits` bits per entry lives in byte `i / (8 / bits)` at bit offset
//! `(i % (8 / bits)) * bits`, least significant bits first, bytes in ascending order.
//!
//! Encoding splits the byte array into fixed [`CHUNK_BYTES`] chunks, compresses each into a
//! DEFLATE segment (in parallel) and remembers the segment and its Adler-32. A segment may copy
//! from the last [`DICT_BYTES`] of the chunk before it (so a periodic list needs no literals at a
//! chunk's start), and depends on nothing else. A write marks its chunk dirty (and the next one,
//! if it falls in those last bytes), so re-encoding after a few changes recompresses only those
//! chunks and stitches the cached segments, bit by bit, into one zlib stream with a combined
//! checksum; neighbouring segments of few tokens share one Huffman block there.
//!
//! Aligned groups of [`GROUP_CHUNKS`] chunks whose bytes hold few runs (sparse or clustered
//! lists) are compressed as one segment instead: one Huffman header instead of four, and the
//! whole group is still cheap to recompress because the encoder's work follows the runs.

use rayon::prelude::*;

use crate::deflate::{deflate_segment, runs, Segment};
use crate::error::{Error, Result};
use crate::zlib::{adler32, adler32_combine, assemble};

/// Uncompressed bytes per independently compressed chunk. Small enough that one change costs
/// little to recompress, large enough that per-chunk Huffman headers stay well under 1%.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks per group (see the module documentation).
pub const GROUP_CHUNKS: usize = 4;
/// A segment may copy from this many bytes before it (the end of the chunk before it), so a
/// write there makes the next chunk dirty too. Enough to start a periodic list's copies at once
/// for periods up to 4 KiB; a whole window (32 KiB) gained nothing more on the sweep.
pub const DICT_BYTES: usize = 4 * 1024;
/// A group with at most this many runs of equal bytes is compressed as one segment; about the
/// runs of four chunks of a 1-bit list with 0.4% of its entries revoked at random (denser groups
/// stay per chunk, so one change recompresses 64 KiB, not 256).
const GROUP_RUNS: usize = 16 * 1024;
/// Largest list we agree to hold: 2^32 entries (512 MiB at one bit per entry).
pub const MAX_ENTRIES: u64 = 1 << 32;

/// Bits per entry allowed by spec §4.1.
pub fn check_bits(bits: impl Into<i128>) -> Result<u8> {
    match bits.into() {
        bits @ (1 | 2 | 4 | 8) => Ok(bits as u8),
        other => Err(Error::InvalidBits(other)),
    }
}

/// Cached encodings of one group of chunks.
#[derive(Debug, Clone, Default)]
struct Group {
    /// The group as one segment, when its runs are few (`whole_fresh`: it matches the bytes).
    whole: Option<Segment>,
    whole_fresh: bool,
    /// Per-chunk segments (`fresh[k]`: segment `k` matches its chunk's bytes).
    parts: Vec<Segment>,
    fresh: Vec<bool>,
    adlers: Vec<u32>,
}

/// A status list of `len` entries of `bits` bits each.
#[derive(Debug, Clone)]
pub struct StatusList {
    bits: u8,
    len: u64,
    bytes: Vec<u8>,
    groups: Vec<Group>,
    dirty: Vec<bool>,
}

impl StatusList {
    /// A list of `len` entries, all 0x00 (VALID).
    pub fn new(len: u64, bits: u64) -> Result<Self> {
        let bits = check_bits(bits)?;
        if len > MAX_ENTRIES {
            return Err(Error::LimitExceeded {
                what: "list size in entries",
                actual: len,
                limit: MAX_ENTRIES,
            });
        }
        let nbytes = (len * u64::from(bits)).div_ceil(8) as usize;
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(nbytes)
            .map_err(|_| Error::LimitExceeded {
                what: "memory for the list in bytes",
                actual: nbytes as u64,
                limit: 0,
            })?;
        bytes.resize(nbytes, 0);
        Ok(Self::with_bytes(bits, len, bytes))
    }

    /// A list over an existing byte array; it has `8 / bits` entries per byte (spec §4.1 allows
    /// the array to be larger than the number of referenced tokens).
    pub fn from_bytes(bytes: Vec<u8>, bits: u64) -> Result<Self> {
        let bits = check_bits(bits)?;
        let len = bytes.len() as u64 * u64::from(8 / bits);
        if len > MAX_ENTRIES {
            return Err(Error::LimitExceeded {
                what: "list size in entries",
                actual: len,
                limit: MAX_ENTRIES,
            });
        }
        Ok(Self::with_bytes(bits, len, bytes))
    }

    fn with_bytes(bits: u8, len: u64, bytes: Vec<u8>) -> Self {
        let chunks = bytes.len().div_ceil(CHUNK_BYTES);
        let groups = (0..chunks.div_ceil(GROUP_CHUNKS))
            .map(|g| {
                let n = (chunks - g * GROUP_CHUNKS).min(GROUP_CHUNKS);
                Group {
                    whole: None,
                    whole_fresh: false,
                    parts: vec![Segment::default(); n],
                    fresh: vec![false; n],
                    adlers: vec![1; n],
                }
            })
            .collect();
        Self {
            bits,
            len,
            bytes,
            groups,
            dirty: vec![true; chunks],
        }
    }

    /// Decodes a zlib-compressed byte array (spec §4.1), inflating at most `max_bytes` bytes.
    pub fn decode(compressed: &[u8], bits: u64, max_bytes: usize) -> Result<Self> {
        let bits_checked = check_bits(bits)?;
        let max_entry_bytes = (MAX_ENTRIES * u64::from(bits_checked) / 8) as usize;
        let raw = crate::zlib::inflate(compressed, max_bytes.min(max_entry_bytes))?;
        Self::from_bytes(raw, bits)
    }

    #[must_use]
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packed byte array (spec §4.1), padding bits zero.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    #[inline]
    fn locate(&self, index: u64) -> Result<(usize, u32)> {
        if index >= self.len {
            return Err(Error::IndexOutOfRange {
                index,
                len: self.len,
            });
        }
        let per_byte = u64::from(8 / self.bits);
        Ok((
            (index / per_byte) as usize,
            ((index % per_byte) as u32) * u32::from(self.bits),
        ))
    }

    #[inline]
    fn mask(&self) -> u8 {
        if self.bits == 8 {
            0xff
        } else {
            (1u8 << self.bits) - 1
        }
    }

    /// The status of entry `index`.
    pub fn get(&self, index: u64) -> Result<u8> {
        let (byte, shift) = self.locate(index)?;
        Ok((self.bytes[byte] >> shift) & self.mask())
    }

    fn check_value(&self, value: u64) -> Result<u8> {
        if value > u64::from(self.mask()) {
            return Err(Error::ValueOutOfRange {
                value,
                bits: self.bits,
                max: self.mask(),
            });
        }
        Ok(value as u8)
    }

    /// Sets entry `index` to `value`; rejects an index past the end or a value ≥ 2^bits.
    pub fn set(&mut self, index: u64, value: u64) -> Result<()> {
        let value = self.check_value(value)?;
        let (byte, shift) = self.locate(index)?;
        self.store(byte, shift, value);
        Ok(())
    }

    #[inline]
    fn store(&mut self, byte: usize, shift: u32, value: u8) {
        let mask = self.mask() << shift;
        let slot = &mut self.bytes[byte];
        let new = (*slot & !mask) | (value << shift);
        if new != *slot {
            *slot = new;
            let chunk = byte / CHUNK_BYTES;
            self.mark(chunk);
            // The next chunk's segment copies from the end of this one.
            if byte % CHUNK_BYTES >= CHUNK_BYTES - DICT_BYTES && chunk + 1 < self.dirty.len() {
                self.mark(chunk + 1);
            }
        }
    }

    #[inline]
    fn mark(&mut self, chunk: usize) {
        self.dirty[chunk] = true;
        let group = &mut self.groups[chunk / GROUP_CHUNKS];
        group.whole_fresh = false;
        group.fresh[chunk % GROUP_CHUNKS] = false;
    }

    /// Sets `indices[k]` to `values[k]` for every `k`, or nothing at all: every index and value is
    /// validated before the first write. Later duplicates win.
    pub fn set_many<I: Copy + Into<u64>>(&mut self, indices: &[I], values: &[u8]) -> Result<()> {
        if indices.len() != values.len() {
            return Err(Error::InvalidArgument(format!(
                "{} indices but {} values",
                indices.len(),
                values.len()
            )));
        }
        if let Some(&v) = values.iter().find(|&&v| v > self.mask()) {
            self.check_value(u64::from(v))?;
        }
        if let Some(&i) = indices.iter().find(|&&i| i.into() >= self.len) {
            self.locate(i.into())?;
        }
        let (per_byte, bits) = (u64::from(8 / self.bits), u32::from(self.bits));
        for (&i, &v) in indices.iter().zip(values) {
            let i: u64 = i.into();
            self.store((i / per_byte) as usize, (i % per_byte) as u32 * bits, v);
        }
        Ok(())
    }

    /// The statuses at `indices`, in order; an index past the end fails the whole call.
    pub fn get_many<I: Copy + Into<u64>>(&self, indices: &[I]) -> Result<Vec<u8>> {
        if let Some(&i) = indices.iter().find(|&&i| i.into() >= self.len) {
            self.locate(i.into())?;
        }
        let (per_byte, bits, mask) = (u64::from(8 / self.bits), u32::from(self.bits), self.mask());
        Ok(indices
            .iter()
            .map(|&i| {
                let i: u64 = i.into();
                (self.bytes[(i / per_byte) as usize] >> ((i % per_byte) as u32 * bits)) & mask
            })
            .collect())
    }

    /// How many entries hold each status value (index = value, length 2^bits).
    #[must_use]
    pub fn counts(&self) -> Vec<u64> {
        let mut histogram = [0u64; 256];
        for chunk in self.bytes.chunks(1 << 20) {
            let mut local = [0u32; 256];
            for &b in chunk {
                local[b as usize] += 1;
            }
            for (h, l) in histogram.iter_mut().zip(local) {
                *h += u64::from(l);
            }
        }
        let mut counts = vec![0u64; 1 << self.bits];
        let per_byte = 8 / u32::from(self.bits);
        for (byte, &n) in histogram.iter().enumerate() {
            if n == 0 {
                continue;
            }
            for slot in 0..per_byte {
                counts[(byte >> (slot * u32::from(self.bits))) & usize::from(self.mask())] += n;
            }
        }
        // Padding slots past `len` are zero and are not entries.
        let padding = self.bytes.len() as u64 * u64::from(per_byte) - self.len;
        counts[0] -= padding;
        counts
    }

    /// Number of chunks that changed since the last [`encode`](Self::encode).
    #[must_use]
    pub fn dirty_chunks(&self) -> usize {
        self.dirty.iter().filter(|d| **d).count()
    }

    /// The zlib stream (RFC 1950) of the byte array, recompressing only chunks changed since the
    /// previous call. The output is one ordinary zlib stream any inflater reads.
    pub fn encode(&mut self) -> Vec<u8> {
        let bytes = &self.bytes;
        let span = |g: usize, k: usize, n: usize| {
            let start = (g * GROUP_CHUNKS + k) * CHUNK_BYTES;
            &bytes[start.min(bytes.len())..(start + n * CHUNK_BYTES).min(bytes.len())]
        };
        // Which groups changed, and whether each is encoded whole (few runs) or chunk by chunk.
        let changed: Vec<usize> = (0..self.groups.len())
            .filter(|&g| {
                let first = g * GROUP_CHUNKS;
                self.dirty[first..(first + GROUP_CHUNKS).min(self.dirty.len())]
                    .iter()
                    .any(|d| *d)
            })
            .collect();
        let whole: Vec<bool> = changed
            .par_iter()
            .map(|&g| {
                let data = span(g, 0, GROUP_CHUNKS);
                data.len() > CHUNK_BYTES && runs(data) <= GROUP_RUNS
            })
            .collect();
        let mut jobs: Vec<(usize, Option<usize>)> = Vec::new();
        for (&g, &w) in changed.iter().zip(&whole) {
            let group = &self.groups[g];
            if w {
                if !group.whole_fresh {
                    jobs.push((g, None));
                }
            } else {
                jobs.extend(
                    (0..group.parts.len())
                        .filter(|&k| !group.fresh[k])
                        .map(|k| (g, Some(k))),
                );
            }
        }
        // Chunk by chunk across the threads (a list of one group is four chunks).
        let adlers: Vec<(usize, usize, u32)> = (0..self.dirty.len())
            .into_par_iter()
            .filter(|&c| self.dirty[c])
            .map(|c| {
                let (g, k) = (c / GROUP_CHUNKS, c % GROUP_CHUNKS);
                (g, k, adler32(1, span(g, k, 1)))
            })
            .collect();
        // A segment's chunks and the bytes before them, which it may copy from.
        let segment = |g: usize, k: usize, n: usize| {
            let start = ((g * GROUP_CHUNKS + k) * CHUNK_BYTES).min(bytes.len());
            let end = (start + n * CHUNK_BYTES).min(bytes.len());
            let from = start.saturating_sub(DICT_BYTES);
            deflate_segment(&bytes[from..end], start - from)
        };
        let work = |&(g, k): &(usize, Option<usize>)| match k {
            None => segment(g, 0, GROUP_CHUNKS),
            Some(k) => segment(g, k, 1),
        };
        let done: Vec<Segment> = if jobs.len() > 1 {
            jobs.par_iter().map(work).collect()
        } else {
            jobs.iter().map(work).collect()
        };
        for ((g, k), seg) in jobs.into_iter().zip(done) {
            let group = &mut self.groups[g];
            match k {
                None => {
                    group.whole = Some(seg);
                    group.whole_fresh = true;
                }
                Some(k) => {
                    group.parts[k] = seg;
                    group.fresh[k] = true;
                }
            }
        }
        for (g, k, a) in adlers {
            self.groups[g].adlers[k] = a;
        }
        for (&g, &w) in changed.iter().zip(&whole) {
            if !w {
                self.groups[g].whole_fresh = false;
            }
        }
        self.dirty.fill(false);

        let mut adler = 1u32;
        let mut pieces: Vec<(&Segment, &[u8])> = Vec::new();
        let mut capacity = 0;
        for (g, group) in self.groups.iter().enumerate() {
            for (k, &a) in group.adlers.iter().enumerate() {
                adler = adler32_combine(adler, a, span(g, k, 1).len() as u64);
            }
            if let (true, Some(seg)) = (group.whole_fresh, group.whole.as_ref()) {
                let data = span(g, 0, GROUP_CHUNKS);
                capacity += seg.bit_len(data.len()) / 8 + 8;
                pieces.push((seg, data));
            } else {
                for (k, seg) in group.parts.iter().enumerate() {
                    let data = span(g, k, 1);
                    capacity += seg.bit_len(data.len()) / 8 + 8;
                    pieces.push((seg, data));
                }
            }
        }
        assemble(&pieces, bytes, capacity as usize, adler)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn runs_counts_every_change_of_byte() {
        let naive =
            |d: &[u8]| usize::from(!d.is_empty()) + d.windows(2).filter(|w| w[0] != w[1]).count();
        let mut x = 0x9e37_79b9_u32;
        let mut data: Vec<u8> = (0..200_000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                if i % 3 == 0 {
                    x as u8
                } else {
                    0
                }
            })
            .collect();
        data.extend(std::iter::repeat_n(7, 70_000));
        for n in [
            0,
            1,
            2,
            3,
            65_536,
            65_537,
            65_538,
            131_073,
            200_000,
            data.len(),
        ] {
            assert_eq!(runs(&data[..n]), naive(&data[..n]), "{n} bytes");
        }
        // Every byte a change: each lane counts to its limit of 255.
        let alternating: Vec<u8> = (0..40_000).map(|i| (i % 2) as u8).collect();
        for n in [8_160, 8_161, 8_162, 16_321, 40_000] {
            let d = &alternating[..n];
            assert_eq!(runs(d), naive(d), "{n} alternating bytes");
        }
    }

    fn inflate(z: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(z)
            .read_to_end(&mut out)
            .expect("valid zlib");
        out
    }

    #[test]
    fn packing_is_lsb_first() {
        // Spec §4.1 example: 16 entries, 1 bit → b9 a3.
        let mut l = StatusList::new(16, 1).unwrap();
        for i in [0, 3, 4, 5, 7, 8, 9, 13, 15] {
            l.set(i, 1).unwrap();
        }
        assert_eq!(l.as_bytes(), &[0xb9, 0xa3]);
        // 2-bit example: 12 entries → c9 44 f9.
        let mut l = StatusList::new(12, 2).unwrap();
        for (i, v) in [
            (0, 1),
            (1, 2),
            (3, 3),
            (5, 1),
            (7, 1),
            (8, 1),
            (9, 2),
            (10, 3),
            (11, 3),
        ] {
            l.set(i, v).unwrap();
        }
        assert_eq!(l.as_bytes(), &[0xc9, 0x44, 0xf9]);
        assert_eq!(l.get(1).unwrap(), 2);
        assert_eq!(l.counts(), vec![3, 4, 2, 3]);
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        assert_eq!(StatusList::new(8, 3).unwrap_err(), Error::InvalidBits(3));
        let mut l = StatusList::new(10, 2).unwrap();
        assert_eq!(
            l.set(10, 1).unwrap_err(),
            Error::IndexOutOfRange { index: 10, len: 10 }
        );
        assert_eq!(
            l.set(0, 4).unwrap_err(),
            Error::ValueOutOfRange {
                value: 4,
                bits: 2,
                max: 3
            }
        );
        assert!(l.set_many(&[1u64, 99], &[1, 1]).is_err());
        assert!(l.set_many(&[1u64, 2], &[1, 9]).is_err());
        assert_eq!(l.counts()[0], 10, "a failed batch must change nothing");
        assert!(StatusList::new(MAX_ENTRIES + 1, 1).is_err());
    }

    #[test]
    fn get_many_reads_what_set_many_wrote() {
        for bits in [1u64, 2, 4, 8] {
            let mut l = StatusList::new(1000, bits).unwrap();
            let idx: Vec<u64> = (0..1000).step_by(7).collect();
            let vals: Vec<u8> = idx.iter().map(|&i| (i % (1 << bits)) as u8).collect();
            l.set_many(&idx, &vals).unwrap();
            assert_eq!(l.get_many(&idx).unwrap(), vals);
            let single: Vec<u8> = idx.iter().map(|&i| l.get(i).unwrap()).collect();
            assert_eq!(single, vals);
            assert_eq!(
                l.get_many(&[0u64, 1000]).unwrap_err(),
                Error::IndexOutOfRange {
                    index: 1000,
                    len: 1000
                }
            );
        }
    }

    /// Chunks coded as literals (dense random bytes) and parsed chunks side by side, and chunks
    /// that change from one kind to the other: an incremental encode still equals a fresh one.
    #[test]
    fn incremental_encode_equals_fresh_encode_across_literal_chunks() {
        let mut x = 7u64;
        let mut next = move || {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            x >> 33
        };
        let chunk = CHUNK_BYTES;
        let mut bytes = vec![0u8; 5 * chunk + 1000];
        for b in &mut bytes[..chunk] {
            *b = next() as u8; // random: literals
        }
        for b in &mut bytes[2 * chunk..3 * chunk] {
            // Four 2-bit entries, each set (to 1, 2 or 3) with probability 1/2: literals.
            *b = (0..4).fold(0u8, |b, k| {
                let v = if next() % 2 == 0 { 0 } else { 1 + next() % 3 };
                b | (v as u8) << (2 * k)
            });
        }
        for k in 0..200 {
            bytes[chunk + k * 300] = 1 << (k % 8); // sparse: parsed
        }
        for (c, literals) in [(0, true), (1, false), (2, true)] {
            let at = c * chunk;
            let dict = &bytes[at.saturating_sub(DICT_BYTES)..at + chunk];
            let coded = crate::parse::literals_suffice(dict, at.min(DICT_BYTES)).is_some();
            assert_eq!(coded, literals, "chunk {c}");
        }
        let mut l = StatusList::from_bytes(bytes, 2).unwrap();
        let first = l.encode();
        assert_eq!(inflate(&first), l.as_bytes());
        let entries = l.len();
        for round in 0..6u64 {
            // A few scattered changes, then one that fills a whole sparse chunk with noise or
            // empties a dense one.
            for _ in 0..5 {
                l.set(next() % entries, next() % 4).unwrap();
            }
            let c = (round % 5) as usize;
            let idx: Vec<u64> = (0..(chunk as u64 * 4))
                .map(|i| c as u64 * chunk as u64 * 4 + i)
                .filter(|&i| i < entries)
                .collect();
            let vals: Vec<u8> = idx
                .iter()
                .map(|_| {
                    if round % 2 == 0 {
                        (next() % 4) as u8
                    } else {
                        0
                    }
                })
                .collect();
            l.set_many(&idx, &vals).unwrap();
            let again = l.encode();
            let fresh = StatusList::from_bytes(l.as_bytes().to_vec(), 2)
                .unwrap()
                .encode();
            assert_eq!(again, fresh, "round {round}");
            assert_eq!(inflate(&again), l.as_bytes(), "round {round}");
        }
    }

    #[test]
    fn incremental_encode_equals_fresh_encode() {
        let mut l = StatusList::new(3_000_000, 1).unwrap();
        let mut x = 99u64;
        for _ in 0..30_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            l.set((x >> 20) % 3_000_000, 1).unwrap();
        }
        let first = l.encode();
        assert_eq!(inflate(&first), l.as_bytes());
        assert_eq!(l.dirty_chunks(), 0);
        for i in [1_234_567, 2_999_999] {
            let flipped = 1 - l.get(i).unwrap();
            l.set(i, u64::from(flipped)).unwrap();
        }
        assert_eq!(l.dirty_chunks(), 2);
        let second = l.encode();
        let fresh = StatusList::from_bytes(l.as_bytes().to_vec(), 1)
            .unwrap()
            .encode();
        assert_eq!(second, fresh);
        assert_eq!(inflate(&second), l.as_bytes());
    }

    #[test]
    fn empty_list_encodes() {
        let mut l = StatusList::new(0, 1).unwrap();
        assert_eq!(inflate(&l.encode()), Vec::<u8>::new());
    }
}
