//! The keyed index permutation behind allocation: random-looking, never-reused indices.
//!
//! Entry `k` handed out from a list (`k` is the list's durable allocation counter) is
//! `permute(k)`, a bijection of `[0, size)`: indices never repeat while the counter only grows,
//! yet consecutive allocations land far apart (spec §12.4/§12.5).
//!
//! Construction (fixed: it decides which index every existing list hands out next, so any change
//! would hand an index out twice): an unbalanced Feistel network over the
//! `b = max(2, ceil(log2(size)))`-bit domain, left half `b / 2` bits, right half the rest, six
//! rounds. Round `r`'s function is keyed `BLAKE2b` (RFC 7693) with an 8-byte digest, key = the
//! list's key (its first 64 bytes), salt = eight bytes of value `r`, personalisation
//! `"statuslist"`, over the right half as 8 little-endian bytes; the digest, read little-endian,
//! is masked to the left half's width and combined into it by XOR, then the halves swap. A value outside
//! `[0, size)` is permuted again (cycle walking) until it falls inside; since `2^b < 2·size`
//! a walk takes fewer than two steps on average.
//!
//! The `BLAKE2b` here is specialised for that one use: the chaining value after the key block is
//! computed once per round, and each call compresses one block whose only non-zero word is the
//! message, keeping only the first output word. A round's input is only half as wide as the
//! domain, so each round's values are remembered per input (`Memo`): after the first batches
//! of a list, drawing an index is a handful of table look-ups.

// The round function's compression is the whole cost; forcing it inline keeps the state in
// registers and lets the constant message-word indices fold away.
#![allow(clippy::inline_always)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::{Error, Result};

/// Feistel rounds.
pub const ROUNDS: usize = 6;

/// Batches longer than this are split across the rayon pool.
const PARALLEL_CHUNK: usize = 4096;

const IV: [u64; 8] = [
    0x6a09_e667_f3bc_c908,
    0xbb67_ae85_84ca_a73b,
    0x3c6e_f372_fe94_f82b,
    0xa54f_f53a_5f1d_36f1,
    0x510e_527f_ade6_82d1,
    0x9b05_688c_2b3e_6c1f,
    0x1f83_d9ab_fb41_bd6b,
    0x5be0_cd19_137e_2179,
];

const SIGMA: [[usize; 16]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

/// Personalisation of every round's `BLAKE2b` (zero-padded to 16 bytes).
const PERSON: &[u8] = b"statuslist";
/// Digest length of the round function, in bytes.
const DIGEST: u64 = 8;
/// `BLAKE2b`'s longest key.
const MAX_KEY: usize = 64;

#[inline(always)]
fn g(v: &mut [u64; 16], a: usize, b: usize, c: usize, d: usize, x: u64, y: u64) {
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(x);
    v[d] = (v[d] ^ v[a]).rotate_right(32);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(24);
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(y);
    v[d] = (v[d] ^ v[a]).rotate_right(16);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(63);
}

#[inline(always)]
fn round(v: &mut [u64; 16], m: &[u64; 16], s: &[usize; 16]) {
    g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
}

/// `BLAKE2b`'s compression function F (RFC 7693 §3.2) with byte counter `t` (below 2^64 here).
/// The rounds are spelled out so that each message word's index is a constant, which lets the
/// compiler drop the additions of the zero words of [`Permutation`]'s one-word blocks.
#[inline(always)]
fn compress(h: &[u64; 8], m: &[u64; 16], t: u64, last: bool) -> [u64; 8] {
    let mut v = [0u64; 16];
    v[..8].copy_from_slice(h);
    v[8..].copy_from_slice(&IV);
    v[12] ^= t;
    if last {
        v[14] = !v[14];
    }
    round(&mut v, m, &SIGMA[0]);
    round(&mut v, m, &SIGMA[1]);
    round(&mut v, m, &SIGMA[2]);
    round(&mut v, m, &SIGMA[3]);
    round(&mut v, m, &SIGMA[4]);
    round(&mut v, m, &SIGMA[5]);
    round(&mut v, m, &SIGMA[6]);
    round(&mut v, m, &SIGMA[7]);
    round(&mut v, m, &SIGMA[8]);
    round(&mut v, m, &SIGMA[9]);
    round(&mut v, m, &SIGMA[0]);
    round(&mut v, m, &SIGMA[1]);
    let mut out = *h;
    for (i, o) in out.iter_mut().enumerate() {
        *o ^= v[i] ^ v[i + 8];
    }
    out
}

/// One Feistel round's function: BLAKE2b-64 keyed and salted for that round, its state after
/// the key block kept.
#[derive(Clone, Copy, Debug)]
struct RoundKey {
    /// Chaining value after the key block (or the parameter block alone for an empty key).
    h: [u64; 8],
    /// Byte counter after the 8 message bytes.
    t: u64,
}

impl RoundKey {
    fn new(key: &[u8], round: u8) -> Self {
        let mut h = IV;
        h[0] ^= 0x0101_0000 ^ ((key.len() as u64) << 8) ^ DIGEST;
        // Salt: 8 bytes of `round`, then 8 zero bytes.
        h[4] ^= u64::from_le_bytes([round; 8]);
        let mut person = [0u8; 16];
        person[..PERSON.len()].copy_from_slice(PERSON);
        h[6] ^= u64::from_le_bytes(person[..8].try_into().expect("8 bytes"));
        h[7] ^= u64::from_le_bytes(person[8..].try_into().expect("8 bytes"));
        if key.is_empty() {
            return Self { h, t: 8 };
        }
        let mut block = [0u8; 128];
        block[..key.len()].copy_from_slice(key);
        let mut m = [0u64; 16];
        for (w, bytes) in m.iter_mut().zip(block.chunks_exact(8)) {
            *w = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        }
        Self {
            h: compress(&h, &m, 128, false),
            t: 128 + 8,
        }
    }

    /// The first 8 digest bytes (little-endian) of `x` as 8 little-endian bytes.
    #[inline(always)]
    fn apply(&self, x: u64) -> u64 {
        let mut m = [0u64; 16];
        m[0] = x;
        compress(&self.h, &m, self.t, true)[0]
    }
}

/// Round-function values remembered per round and input, as `value + 1` (0: not computed yet).
///
/// A round's input is one half of the domain, at most 16 bits for the lists the service can
/// have (`MAX_ENTRIES` is 2^32), so all six rounds' values fit in at most 6 · 2^16 cells
/// (1.5 MiB; about `24 · sqrt(2 · size)` bytes in general) and, once the cells a batch needs
/// are filled, a permutation is six look-ups instead of six `BLAKE2b` compressions. Concurrent
/// writers of one cell store the same value, so relaxed atomics suffice.
struct Memo {
    offsets: [usize; ROUNDS],
    cells: Box<[AtomicU32]>,
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("cells", &self.cells.len())
            .finish_non_exhaustive()
    }
}

/// Round inputs (half-domain widths) up to this many bits are remembered in a [`Memo`].
const MEMO_WIDTH: u32 = 16;

/// A keyed bijection of `[0, size)`.
#[derive(Debug)]
pub struct Permutation {
    size: u64,
    /// Width of the left half (`bits / 2`); the right half has `bits - left` bits.
    left: u32,
    right: u32,
    rounds: [RoundKey; ROUNDS],
    /// Filled on the first batch ([`Permutation::fill`]) when the halves are narrow enough.
    memo: OnceLock<Memo>,
}

impl Permutation {
    /// The permutation of `[0, size)` keyed by `key` (only its first 64 bytes count).
    pub fn new(key: &[u8], size: u64) -> Result<Self> {
        if size == 0 {
            return Err(Error::InvalidArgument("size must be positive".into()));
        }
        let key = &key[..key.len().min(MAX_KEY)];
        let bits = (u64::BITS - (size - 1).leading_zeros()).max(2);
        let left = bits / 2;
        let mut r = 0u8;
        let rounds = [(); ROUNDS].map(|()| {
            let k = RoundKey::new(key, r);
            r += 1;
            k
        });
        Ok(Self {
            size,
            left,
            right: bits - left,
            rounds,
            memo: OnceLock::new(),
        })
    }

    /// The memo, allocated on first use; `None` when a half is wider than [`MEMO_WIDTH`].
    fn memo(&self) -> Option<&Memo> {
        if self.right > MEMO_WIDTH {
            return None;
        }
        Some(self.memo.get_or_init(|| {
            let mut offsets = [0usize; ROUNDS];
            let mut total = 0usize;
            for (r, o) in offsets.iter_mut().enumerate() {
                *o = total;
                // Round r's input is the right half for even r, the left half for odd r.
                total += 1usize << if r % 2 == 0 { self.right } else { self.left };
            }
            Memo {
                offsets,
                cells: (0..total).map(|_| AtomicU32::new(0)).collect(),
            }
        }))
    }

    /// The size of the domain.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// One pass of the Feistel network over the `bits`-bit domain.
    #[inline]
    fn encrypt(&self, x: u64) -> u64 {
        let (mut wa, mut wb) = (self.left, self.right);
        let (mut a, mut b) = (x >> wb, x & mask(wb));
        for k in &self.rounds {
            (a, b) = (b, a ^ (k.apply(b) & mask(wa)));
            (wa, wb) = (wb, wa);
        }
        (a << wb) | b
    }

    /// [`Self::encrypt`] with the round values looked up in (or added to) `memo`.
    #[inline]
    fn encrypt_memo(&self, memo: &Memo, x: u64) -> u64 {
        let (mut wa, mut wb) = (self.left, self.right);
        let (mut a, mut b) = (x >> wb, x & mask(wb));
        for (k, &offset) in self.rounds.iter().zip(&memo.offsets) {
            let cell = &memo.cells[offset + b as usize];
            let f = match cell.load(Ordering::Relaxed) {
                0 => {
                    let f = k.apply(b) & mask(wa);
                    cell.store(f as u32 + 1, Ordering::Relaxed);
                    f
                }
                v => u64::from(v - 1),
            };
            (a, b) = (b, a ^ f);
            (wa, wb) = (wb, wa);
        }
        (a << wb) | b
    }

    #[inline]
    fn walk(&self, k: u64) -> u64 {
        let mut x = self.encrypt(k);
        while x >= self.size {
            x = self.encrypt(x);
        }
        x
    }

    #[inline]
    fn walk_memo(&self, memo: &Memo, k: u64) -> u64 {
        let mut x = self.encrypt_memo(memo, k);
        while x >= self.size {
            x = self.encrypt_memo(memo, x);
        }
        x
    }

    /// `permute(k)` for one counter value `k < size`.
    pub fn permute(&self, k: u64) -> Result<u64> {
        if k >= self.size {
            return Err(Error::IndexOutOfRange {
                index: k,
                len: self.size,
            });
        }
        Ok(match self.memo.get() {
            Some(memo) => self.walk_memo(memo, k),
            None => self.walk(k),
        })
    }

    /// `permute(k)` for `k` in `[start, start + out.len())`, written to `out`; large batches
    /// are spread over the rayon pool.
    pub fn fill(&self, start: u64, out: &mut [u64]) -> Result<()> {
        let count = out.len() as u64;
        if start.checked_add(count).is_none_or(|end| end > self.size) {
            return Err(Error::IndexOutOfRange {
                index: start.saturating_add(count).saturating_sub(1).max(start),
                len: self.size,
            });
        }
        let memo = self.memo();
        let serial = |first: u64, chunk: &mut [u64]| match memo {
            Some(memo) => {
                for (k, o) in (first..).zip(chunk.iter_mut()) {
                    *o = self.walk_memo(memo, k);
                }
            }
            None => {
                for (k, o) in (first..).zip(chunk.iter_mut()) {
                    *o = self.walk(k);
                }
            }
        };
        if out.len() <= PARALLEL_CHUNK {
            serial(start, out);
        } else {
            out.par_chunks_mut(PARALLEL_CHUNK)
                .enumerate()
                .for_each(|(i, chunk)| serial(start + (i * PARALLEL_CHUNK) as u64, chunk));
        }
        Ok(())
    }

    /// `permute(k)` for `k` in `[start, start + count)`.
    pub fn many(&self, start: u64, count: usize) -> Result<Vec<u64>> {
        let mut out = vec![0u64; count];
        self.fill(start, &mut out)?;
        Ok(out)
    }
}

/// What precedes each entry's index in [`entries_json`].
const ENTRY_HEAD: &[u8] = b"{\"status_list\": {\"idx\": ";

/// The entries of one allocation answer: `{"status_list": {"idx": N, "uri": "…"}}` items joined
/// by `", "`, byte for byte what Python's `json.dumps` writes for them (default separators,
/// `ensure_ascii`), so a caller joins the parts of several lists inside `[` and `]`. Its exact
/// length is known before writing, so it can be written straight into its final buffer.
#[derive(Debug)]
pub struct EntriesJson<'a> {
    indices: &'a [u64],
    /// `, "uri": "…"}}`
    tail: Vec<u8>,
    len: usize,
}

impl<'a> EntriesJson<'a> {
    #[must_use]
    pub fn new(indices: &'a [u64], uri: &str) -> Self {
        let mut tail = String::with_capacity(uri.len() + 16);
        tail.push_str(", \"uri\": ");
        json_string(uri, &mut tail);
        tail.push_str("}}");
        let tail = tail.into_bytes();
        let digits: usize = indices.iter().map(|&i| decimal_len(i)).sum();
        let len = digits
            + indices.len() * (ENTRY_HEAD.len() + tail.len())
            + 2 * indices.len().saturating_sub(1);
        Self { indices, tail, len }
    }

    /// The length in bytes of what [`Self::write`] writes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the entries to `out`, which must be exactly [`Self::len`] bytes long.
    ///
    /// # Panics
    ///
    /// If `out` has another length.
    pub fn write(&self, out: &mut [u8]) {
        assert_eq!(
            out.len(),
            self.len,
            "EntriesJson::write needs exactly len() bytes"
        );
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        let mut digits = [0u8; 20];
        for (n, &idx) in self.indices.iter().enumerate() {
            if n > 0 {
                put(b", ");
            }
            put(ENTRY_HEAD);
            put(decimal(idx, &mut digits));
            put(&self.tail);
        }
    }
}

/// A whole allocation answer: the JSON array of the entries of every part, in order.
#[derive(Debug)]
pub struct AnswerJson<'a> {
    parts: Vec<EntriesJson<'a>>,
    len: usize,
}

impl<'a> AnswerJson<'a> {
    #[must_use]
    pub fn new(parts: Vec<EntriesJson<'a>>) -> Self {
        let full = parts.iter().filter(|p| !p.is_empty()).count();
        let len =
            2 + parts.iter().map(EntriesJson::len).sum::<usize>() + 2 * full.saturating_sub(1);
        Self { parts, len }
    }

    /// The length in bytes of what [`Self::write`] writes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never: an answer has at least its brackets.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the answer to `out`, which must be exactly [`Self::len`] bytes long.
    ///
    /// # Panics
    ///
    /// If `out` has another length.
    pub fn write(&self, out: &mut [u8]) {
        assert_eq!(
            out.len(),
            self.len,
            "AnswerJson::write needs exactly len() bytes"
        );
        out[0] = b'[';
        let mut at = 1;
        let mut first = true;
        for part in self.parts.iter().filter(|p| !p.is_empty()) {
            if !first {
                out[at..at + 2].copy_from_slice(b", ");
                at += 2;
            }
            first = false;
            part.write(&mut out[at..at + part.len()]);
            at += part.len();
        }
        out[at] = b']';
    }
}

/// The allocation answer's entries for counter values `[start, start + count)` of the list at
/// `uri` (see [`EntriesJson`]).
pub fn entries_json(perm: &Permutation, start: u64, count: usize, uri: &str) -> Result<Vec<u8>> {
    let indices = perm.many(start, count)?;
    let json = EntriesJson::new(&indices, uri);
    let mut out = vec![0u8; json.len()];
    json.write(&mut out);
    Ok(out)
}

/// The number of decimal digits of `v`.
fn decimal_len(v: u64) -> usize {
    v.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// `v` in decimal, written at the end of `buf`.
fn decimal(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[i..];
        }
    }
}

/// `s` as a JSON string the way `json.dumps` (`ensure_ascii=True`) writes it.
fn json_string(s: &str, out: &mut String) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[inline(always)]
fn mask(width: u32) -> u64 {
    (1u64 << width) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(words: &[u64; 8]) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        for b in words.iter().flat_map(|w| w.to_le_bytes()) {
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// BLAKE2b-512("abc"), RFC 7693 Appendix A: the compression function and parameter block.
    #[test]
    fn blake2b_512_of_abc() {
        let mut h = IV;
        h[0] ^= 0x0101_0000 ^ 64;
        let mut m = [0u64; 16];
        m[0] = u64::from_le_bytes(*b"abc\0\0\0\0\0");
        assert_eq!(
            hex(&compress(&h, &m, 3, true)),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1\
             7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        );
    }

    #[test]
    fn is_a_bijection_for_small_sizes() {
        for size in 1..300u64 {
            let p = Permutation::new(b"0123456789abcdef", size).unwrap();
            let mut seen = p.many(0, size as usize).unwrap();
            seen.sort_unstable();
            assert!(seen.iter().copied().eq(0..size), "size {size}");
        }
    }

    #[test]
    fn parallel_batches_equal_serial() {
        let p = Permutation::new(&[7u8; 32], 1 << 30).unwrap();
        let big = p.many(123, 3 * PARALLEL_CHUNK + 5).unwrap();
        for (k, x) in (123..).zip(&big) {
            assert_eq!(p.permute(k).unwrap(), *x);
        }
    }

    #[test]
    fn remembered_round_values_equal_computed_ones() {
        for size in [1u64, 2, 5, 1000, (1 << 20) + 1, 100_000_000, 1 << 32] {
            let p = Permutation::new(b"memo", size).unwrap();
            let start = size.saturating_sub(20_000);
            let n = (size - start) as usize;
            let direct: Vec<u64> = (start..size).map(|k| p.walk(k)).collect();
            assert!(p.memo.get().is_none());
            assert_eq!(p.many(start, n).unwrap(), direct, "size {size}");
            assert!(p.memo.get().is_some());
            assert_eq!(
                p.many(start, n).unwrap(),
                direct,
                "size {size}, memo filled"
            );
        }
        // Past 2^32 entries the halves are wider than the memo: computed every time.
        let wide = Permutation::new(b"memo", (1 << 33) + 3).unwrap();
        let _ = wide.many(0, 10).unwrap();
        assert!(wide.memo.get().is_none());
    }

    #[test]
    fn entries_json_lengths_are_exact() {
        for v in [0u64, 9, 10, 99, 100, 12_345, u64::MAX] {
            assert_eq!(decimal_len(v), v.to_string().len());
        }
        let indices = [0u64, 7, 1_000_000, u64::MAX];
        let json = EntriesJson::new(&indices, "https://x/\u{e9}\"");
        let mut out = vec![0u8; json.len()];
        json.write(&mut out);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            format!(
                "{{\"status_list\": {{\"idx\": 0, \"uri\": \"https://x/\\u00e9\\\"\"}}}}, {}",
                indices[1..]
                    .iter()
                    .map(|i| format!(
                        "{{\"status_list\": {{\"idx\": {i}, \"uri\": \"https://x/\\u00e9\\\"\"}}}}"
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        );
        assert!(EntriesJson::new(&[], "u").is_empty());
        let empty: &[u64] = &[];
        let answer = AnswerJson::new(vec![
            EntriesJson::new(&indices[..1], "a"),
            EntriesJson::new(empty, "b"),
            EntriesJson::new(&indices[1..2], "c"),
        ]);
        let mut out = vec![0u8; answer.len()];
        answer.write(&mut out);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "[{\"status_list\": {\"idx\": 0, \"uri\": \"a\"}}, \
             {\"status_list\": {\"idx\": 7, \"uri\": \"c\"}}]"
        );
        let none = AnswerJson::new(vec![]);
        let mut out = vec![0u8; none.len()];
        none.write(&mut out);
        assert_eq!(out, b"[]");
    }

    #[test]
    fn refuses_out_of_range() {
        let p = Permutation::new(b"k", 10).unwrap();
        assert!(p.permute(10).is_err());
        assert!(p.many(5, 6).is_err());
        assert!(p.many(u64::MAX, 2).is_err());
        assert_eq!(p.many(10, 0).unwrap(), Vec::<u64>::new());
        assert!(Permutation::new(b"k", 0).is_err());
        let full = Permutation::new(b"k", u64::MAX).unwrap();
        assert!(full.permute(u64::MAX - 1).unwrap() < u64::MAX);
    }
}
