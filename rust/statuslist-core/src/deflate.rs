//! A DEFLATE (RFC 1951) block encoder specialised for status lists (spec §4.1 step 4).
//!
//! Status lists are overwhelmingly zero bytes with sparse non-zero bytes, so a general LZ77 search
//! spends almost all its time walking hash chains through runs of zeros (Python's `zlib` level 9
//! needs ~0.7 s for a 10M-entry list with 1% revoked). This encoder tokenises a chunk in one linear
//! pass (runs become distance-1 matches, see [`tokenize`]) and then writes whichever of a dynamic
//! Huffman block, a fixed Huffman block or stored blocks is smallest (a chunk of dense, nearly
//! random bytes, where copies would save next to nothing, is all literals without a parse: see
//! [`crate::parse::literals_suffice`]). Each call produces a
//! non-final *segment* that depends only on its bytes and the few KiB before them (its copies may
//! reach back into them), which is what lets [`crate::list`] re-encode only the chunks that
//! changed and stitch the segments into one stream. Neighbouring segments whose tokens are few
//! are written as one block when one Huffman header for them costs less than theirs apart; there
//! the chains of copies that run through their seams are re-split (see [`rechain`]), so periodic
//! data pays no short copy per chunk.

/// Largest match DEFLATE can express.
pub(crate) const MAX_MATCH: usize = 258;
/// Smallest match DEFLATE can express.
pub(crate) const MIN_MATCH: usize = 3;
/// DEFLATE's window: the farthest a copy reaches back.
pub(crate) const WINDOW: usize = 32 * 1024;
pub(crate) const END_OF_BLOCK: usize = 256;
pub(crate) const LITLEN_CODES: usize = 286;
pub(crate) const DIST_CODES: usize = 30;
const CODELEN_CODES: usize = 19;
/// RFC 1951 §3.2.7: the order in which code-length code lengths are sent.
const CODELEN_ORDER: [usize; CODELEN_CODES] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];
const MATCH_FLAG: u32 = 1 << 31;

/// Length symbol (257..=285), number of extra bits and extra value for a match length of 3..=258.
pub(crate) fn length_symbol(len: usize) -> (usize, u32, u32) {
    debug_assert!((MIN_MATCH..=MAX_MATCH).contains(&len));
    if len == MAX_MATCH {
        return (285, 0, 0);
    }
    let v = (len - MIN_MATCH) as u32;
    if v < 8 {
        return (257 + v as usize, 0, 0);
    }
    let e = v.ilog2(); // floor(log2 v) >= 3
    let sym = 257 + 4 * (e as usize - 1) + ((v >> (e - 2)) & 3) as usize;
    (sym, e - 2, v & ((1 << (e - 2)) - 1))
}

/// Distance symbol (0..=29), number of extra bits and extra value for a distance of 1..=32768.
pub(crate) fn distance_symbol(dist: usize) -> (usize, u32, u32) {
    debug_assert!((1..=32768).contains(&dist));
    let v = (dist - 1) as u32;
    if v < 4 {
        return (v as usize, 0, 0);
    }
    let e = v.ilog2(); // floor(log2 v) >= 2
    let sym = 2 * e as usize + ((v >> (e - 1)) & 1) as usize;
    (sym, e - 1, v & ((1 << (e - 1)) - 1))
}

fn length_extra_bits(sym: usize) -> u32 {
    match sym {
        265..=284 => (sym as u32 - 261) / 4,
        _ => 0,
    }
}

pub(crate) fn distance_extra_bits(sym: usize) -> u32 {
    if sym < 4 {
        0
    } else {
        sym as u32 / 2 - 1
    }
}

/// LSB-first bit packer (RFC 1951 §3.1.1).
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    nbits: u32,
}

impl BitWriter {
    fn new(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
            acc: 0,
            nbits: 0,
        }
    }

    #[inline]
    fn put(&mut self, bits: u32, count: u32) {
        debug_assert!(count <= 32 && (count == 32 || bits >> count == 0));
        // `nbits` < 32 between calls, so neither the shift nor the sum can overflow: unchecked
        // forms, a third of the instructions of writing a block of literals.
        self.acc |= u64::from(bits).wrapping_shl(self.nbits);
        self.nbits = self.nbits.wrapping_add(count);
        if self.nbits >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.nbits = self.nbits.wrapping_sub(32);
        }
    }

    /// Pads with zero bits to the next byte boundary and flushes the accumulator.
    fn align(&mut self) {
        let bytes = self.nbits.div_ceil(8);
        for i in 0..bytes {
            self.out.push((self.acc >> (8 * i)) as u8);
        }
        self.acc = 0;
        self.nbits = 0;
    }
}

/// Optimal prefix-code lengths for `freqs`, limited to `limit` bits. Always yields a complete code
/// when any symbol is used (a lone symbol gets a one-bit partner), which strict inflaters require.
pub(crate) fn huffman_lengths(freqs: &[u32], limit: usize) -> Vec<u8> {
    let mut lens = vec![0u8; freqs.len()];
    let mut leaves: Vec<(u32, usize)> = freqs
        .iter()
        .enumerate()
        .filter(|(_, f)| **f > 0)
        .map(|(s, f)| (*f, s))
        .collect();
    match leaves.len() {
        0 => return lens,
        1 => {
            let only = leaves[0].1;
            lens[only] = 1;
            lens[usize::from(only == 0)] = 1;
            return lens;
        }
        _ => {}
    }
    leaves.sort_unstable();
    let n = leaves.len();
    // Two-queue Huffman construction: leaves are sorted, internal nodes are created in
    // non-decreasing weight order, so the two smallest are always at the queue heads.
    let mut weight: Vec<u64> = leaves.iter().map(|l| u64::from(l.0)).collect();
    weight.resize(2 * n - 1, 0);
    let mut parent = vec![0usize; 2 * n - 1];
    let (mut leaf, mut inner) = (0usize, n);
    for next in n..2 * n - 1 {
        let mut pick = || {
            if leaf < n && (inner >= next || weight[leaf] <= weight[inner]) {
                leaf += 1;
                leaf - 1
            } else {
                inner += 1;
                inner - 1
            }
        };
        let (a, b) = (pick(), pick());
        weight[next] = weight[a] + weight[b];
        parent[a] = next;
        parent[b] = next;
    }
    let mut depth = vec![0usize; 2 * n - 1];
    for node in (0..2 * n - 2).rev() {
        depth[node] = depth[parent[node]] + 1;
    }
    let max_depth = depth[..n].iter().copied().max().unwrap_or(0);
    let mut count = vec![0u64; max_depth.max(limit) + 1];
    for d in &depth[..n] {
        count[*d] += 1;
    }
    if max_depth > limit {
        // Fold the over-long codes onto `limit`, then restore the Kraft equality by lengthening
        // the deepest shorter codes one at a time (each step removes one unit of 2^-limit).
        for d in limit + 1..=max_depth {
            count[limit] += count[d];
            count[d] = 0;
        }
        let mut total: u64 = (1..=limit).map(|d| count[d] << (limit - d)).sum();
        while total > 1 << limit {
            count[limit] -= 1;
            if let Some(d) = (1..limit).rev().find(|d| count[*d] > 0) {
                count[d] -= 1;
                count[d + 1] += 2;
            }
            total -= 1;
        }
    }
    // Least frequent symbols take the longest codes.
    let mut it = leaves.iter();
    for d in (1..count.len()).rev() {
        for _ in 0..count[d] {
            if let Some(&(_, sym)) = it.next() {
                lens[sym] = d as u8;
            }
        }
    }
    lens
}

/// Canonical codes (RFC 1951 §3.2.2), bit-reversed so they can be written LSB first.
fn canonical_codes(lens: &[u8]) -> Vec<u32> {
    let mut bl_count = [0u32; 16];
    for &l in lens {
        bl_count[l as usize] += 1;
    }
    bl_count[0] = 0;
    let mut next = [0u32; 16];
    let mut code = 0u32;
    for bits in 1..16 {
        code = (code + bl_count[bits - 1]) << 1;
        next[bits] = code;
    }
    lens.iter()
        .map(|&l| {
            if l == 0 {
                return 0;
            }
            let c = next[l as usize];
            next[l as usize] += 1;
            c.reverse_bits() >> (32 - u32::from(l))
        })
        .collect()
}

/// Symbol frequencies and tokens of one chunk.
#[derive(Debug, Clone)]
pub(crate) struct Tokens {
    stream: Vec<u32>,
    pub(crate) litlen: [u32; LITLEN_CODES],
    pub(crate) dist: [u32; DIST_CODES],
}

impl Tokens {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            stream: Vec::with_capacity(n),
            litlen: [0; LITLEN_CODES],
            dist: [0; DIST_CODES],
        }
    }

    #[cfg(test)]
    pub(crate) fn stream(&self) -> &[u32] {
        &self.stream
    }

    pub(crate) fn end_block(&mut self) {
        self.litlen[END_OF_BLOCK] += 1;
    }

    #[inline]
    pub(crate) fn literal(&mut self, byte: u8) {
        self.stream.push(u32::from(byte));
        self.litlen[byte as usize] += 1;
    }

    #[inline]
    pub(crate) fn matched(&mut self, len: usize, dist: usize) {
        self.stream
            .push(MATCH_FLAG | (len as u32) << 16 | dist as u32);
        self.litlen[length_symbol(len).0] += 1;
        self.dist[distance_symbol(dist).0] += 1;
    }

    /// `count` repetitions of `byte` that directly follow a copy of `byte`.
    fn repeat(&mut self, byte: u8, mut count: usize) {
        while count >= MIN_MATCH {
            let len = count.min(MAX_MATCH);
            self.matched(len, 1);
            count -= len;
        }
        for _ in 0..count {
            self.literal(byte);
        }
    }
}

/// Length of the run of bytes equal to `data[start]`, starting at `start`.
#[inline]
pub(crate) fn run_length(data: &[u8], start: usize) -> usize {
    let byte = data[start];
    let pattern = u64::from_ne_bytes([byte; 8]);
    let mut i = start + 1;
    while i + 8 <= data.len() {
        let word = u64::from_le_bytes(data[i..i + 8].try_into().unwrap_or([0; 8]));
        let diff = word ^ pattern;
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize - start;
        }
        i += 8;
    }
    while i < data.len() && data[i] == byte {
        i += 1;
    }
    i - start
}

/// Number of runs of equal bytes in `data`.
pub(crate) fn runs(data: &[u8]) -> usize {
    const LANES: usize = 32;
    if data.is_empty() {
        return 0;
    }
    // Byte changes counted in 32 u8 lanes, 255 groups at most before they are added up: a form
    // the compiler vectorises (a `filter().count()` stays one byte per iteration, a fifth of a
    // sparse list's cold encode). Each group is taken as an array, so it is loaded whole.
    let (after, before) = (&data[1..], &data[..data.len() - 1]);
    let (mut xs, mut ys) = (after.chunks_exact(LANES), before.chunks_exact(LANES));
    let mut changes = 0usize;
    let mut lanes = [0u8; LANES];
    let mut steps = 0;
    for (x, y) in (&mut xs).zip(&mut ys) {
        let x: &[u8; LANES] = x.try_into().unwrap_or(&[0; LANES]);
        let y: &[u8; LANES] = y.try_into().unwrap_or(&[0; LANES]);
        for i in 0..LANES {
            lanes[i] = lanes[i].wrapping_add(u8::from(x[i] != y[i])); // at most 255 steps
        }
        steps += 1;
        if steps == 255 {
            changes += lanes.iter().map(|&n| usize::from(n)).sum::<usize>();
            (lanes, steps) = ([0; LANES], 0);
        }
    }
    changes += lanes.iter().map(|&n| usize::from(n)).sum::<usize>();
    for (&a, &b) in xs.remainder().iter().zip(ys.remainder()) {
        changes += usize::from(a != b);
    }
    1 + changes
}

/// One linear pass: every run becomes a literal followed by distance-1 matches.
pub(crate) fn tokenize(data: &[u8]) -> Tokens {
    let mut t = Tokens {
        stream: Vec::with_capacity(data.len() / 8 + 16),
        litlen: [0; LITLEN_CODES],
        dist: [0; DIST_CODES],
    };
    let mut i = 0;
    while i < data.len() {
        let run = run_length(data, i);
        t.literal(data[i]);
        t.repeat(data[i], run - 1);
        i += run;
    }
    t.litlen[END_OF_BLOCK] += 1;
    t
}

/// The dynamic-block header: code-length symbols (with extra bits) and their code.
struct DynamicHeader {
    hlit: usize,
    hdist: usize,
    hclen: usize,
    cl_lens: Vec<u8>,
    cl_codes: Vec<u32>,
    symbols: Vec<(u8, u8)>,
}

impl DynamicHeader {
    fn new(ll_lens: &[u8], d_lens: &[u8]) -> Self {
        let hlit = ll_lens
            .iter()
            .rposition(|&l| l > 0)
            .map_or(257, |p| (p + 1).max(257));
        let hdist = d_lens.iter().rposition(|&l| l > 0).map_or(1, |p| p + 1);
        let all: Vec<u8> = ll_lens[..hlit]
            .iter()
            .chain(&d_lens[..hdist])
            .copied()
            .collect();
        let mut symbols = Vec::with_capacity(all.len());
        let mut i = 0;
        while i < all.len() {
            let l = all[i];
            let run = all[i..].iter().take_while(|&&x| x == l).count();
            let mut rest = run;
            if l == 0 {
                while rest >= 11 {
                    let k = rest.min(138);
                    symbols.push((18, (k - 11) as u8));
                    rest -= k;
                }
                if rest >= 3 {
                    symbols.push((17, (rest - 3) as u8));
                    rest = 0;
                }
            } else {
                symbols.push((l, 0));
                rest -= 1;
                while rest >= 3 {
                    let k = rest.min(6);
                    symbols.push((16, (k - 3) as u8));
                    rest -= k;
                }
            }
            symbols.extend(std::iter::repeat_n((l, 0), rest));
            i += run;
        }
        let mut cl_freq = [0u32; CODELEN_CODES];
        for &(s, _) in &symbols {
            cl_freq[s as usize] += 1;
        }
        let cl_lens = huffman_lengths(&cl_freq, 7);
        let cl_codes = canonical_codes(&cl_lens);
        let hclen = CODELEN_ORDER
            .iter()
            .rposition(|&s| cl_lens[s] > 0)
            .map_or(4, |p| (p + 1).max(4));
        Self {
            hlit,
            hdist,
            hclen,
            cl_lens,
            cl_codes,
            symbols,
        }
    }

    fn bits(&self) -> u64 {
        let body: u64 = self
            .symbols
            .iter()
            .map(|&(s, _)| u64::from(self.cl_lens[s as usize]) + codelen_extra(s))
            .sum();
        14 + 3 * self.hclen as u64 + body
    }

    fn write(&self, w: &mut BitWriter) {
        w.put((self.hlit - 257) as u32, 5);
        w.put((self.hdist - 1) as u32, 5);
        w.put((self.hclen - 4) as u32, 4);
        for &s in &CODELEN_ORDER[..self.hclen] {
            w.put(u32::from(self.cl_lens[s]), 3);
        }
        for &(s, extra) in &self.symbols {
            w.put(
                self.cl_codes[s as usize],
                u32::from(self.cl_lens[s as usize]),
            );
            w.put(u32::from(extra), codelen_extra(s) as u32);
        }
    }
}

fn codelen_extra(sym: u8) -> u64 {
    match sym {
        16 => 2,
        17 => 3,
        18 => 7,
        _ => 0,
    }
}

fn fixed_lengths() -> (Vec<u8>, Vec<u8>) {
    let mut ll = vec![8u8; 288];
    ll[144..256].fill(9);
    ll[256..280].fill(7);
    (ll, vec![5u8; DIST_CODES])
}

/// Bits of the token stream under the given code lengths (block header excluded).
fn body_bits(litlen: &[u32], dist: &[u32], ll_lens: &[u8], d_lens: &[u8]) -> u64 {
    let ll: u64 = litlen
        .iter()
        .enumerate()
        .map(|(s, &f)| u64::from(f) * (u64::from(ll_lens[s]) + u64::from(length_extra_bits(s))))
        .sum();
    let d: u64 = dist
        .iter()
        .enumerate()
        .map(|(s, &f)| u64::from(f) * (u64::from(d_lens[s]) + u64::from(distance_extra_bits(s))))
        .sum();
    ll + d
}

fn write_tokens(w: &mut BitWriter, t: &Tokens, ll_lens: &[u8], d_lens: &[u8]) {
    let ll_codes = canonical_codes(ll_lens);
    let d_codes = canonical_codes(d_lens);
    write_stream(w, t, ll_lens, &ll_codes, d_lens, &d_codes);
    w.put(ll_codes[END_OF_BLOCK], u32::from(ll_lens[END_OF_BLOCK]));
}

/// Every byte of `bytes` as a literal, then the end of block, two codes per write (each at most
/// 15 bits): a third of the instructions of writing them one by one.
fn write_literals(w: &mut BitWriter, bytes: &[u8], ll_lens: &[u8]) {
    let ll_codes = canonical_codes(ll_lens);
    let mut code = [(0u32, 0u32); 256];
    for (s, c) in code.iter_mut().enumerate() {
        *c = (ll_codes[s], u32::from(ll_lens[s]));
    }
    let mut pairs = bytes.chunks_exact(2);
    for pair in &mut pairs {
        let (a, la) = code[pair[0] as usize];
        let (b, lb) = code[pair[1] as usize];
        w.put(a | b << la, la + lb);
    }
    for &s in pairs.remainder() {
        let (a, la) = code[s as usize];
        w.put(a, la);
    }
    w.put(ll_codes[END_OF_BLOCK], u32::from(ll_lens[END_OF_BLOCK]));
}

/// The tokens of `t` (no end-of-block code) under the given code.
fn write_stream(
    w: &mut BitWriter,
    t: &Tokens,
    ll_lens: &[u8],
    ll_codes: &[u32],
    d_lens: &[u8],
    d_codes: &[u32],
) {
    for &tok in &t.stream {
        if tok & MATCH_FLAG == 0 {
            let s = tok as usize;
            w.put(ll_codes[s], u32::from(ll_lens[s]));
        } else {
            let (len, dist) = (((tok >> 16) & 0x1ff) as usize, (tok & 0xffff) as usize);
            let (ls, lbits, lval) = length_symbol(len);
            w.put(ll_codes[ls], u32::from(ll_lens[ls]));
            w.put(lval, lbits);
            let (ds, dbits, dval) = distance_symbol(dist);
            w.put(d_codes[ds], u32::from(d_lens[ds]));
            w.put(dval, dbits);
        }
    }
}

/// Code lengths for a dynamic block of these frequencies (a complete distance code even when
/// no copy is used, as zlib sends, because some inflaters reject the RFC's lone zero-length
/// distance code).
fn dynamic_lengths(litlen: &[u32], dist: &[u32]) -> (Vec<u8>, Vec<u8>) {
    let ll_lens = huffman_lengths(litlen, 15);
    let mut d_lens = huffman_lengths(dist, 15);
    if d_lens.iter().all(|&l| l == 0) {
        d_lens[0] = 1;
        d_lens[1] = 1;
    }
    (ll_lens, d_lens)
}

/// Bits of one dynamic block of these symbol frequencies, block header included.
pub(crate) fn block_bits(litlen: &[u32; LITLEN_CODES], dist: &[u32; DIST_CODES]) -> u64 {
    Merged {
        litlen: *litlen,
        dist: *dist,
    }
    .bits()
}

/// Bits of one dynamic block of literals only with these counts (block header included), and
/// its literal/length code lengths.
pub(crate) fn literal_block(litlen: &[u32; LITLEN_CODES]) -> (u64, Vec<u8>) {
    let no_copies = [0; DIST_CODES];
    let (ll, d) = dynamic_lengths(litlen, &no_copies);
    let header = DynamicHeader::new(&ll, &d);
    let bits = 3 + header.bits() + body_bits(litlen, &no_copies, &ll, &d);
    (bits, ll)
}

/// Symbol frequencies of several token streams as one block (one end-of-block code).
struct Merged {
    litlen: [u32; LITLEN_CODES],
    dist: [u32; DIST_CODES],
}

impl Merged {
    fn of(t: &Tokens) -> Self {
        Self {
            litlen: t.litlen,
            dist: t.dist,
        }
    }

    fn with(&self, t: &Tokens) -> Self {
        let mut m = Self {
            litlen: self.litlen,
            dist: self.dist,
        };
        for (a, b) in m.litlen.iter_mut().zip(&t.litlen) {
            *a += b;
        }
        for (a, b) in m.dist.iter_mut().zip(&t.dist) {
            *a += b;
        }
        m.litlen[END_OF_BLOCK] -= 1;
        m
    }

    /// Bits of one dynamic block holding these symbols, block header included.
    fn bits(&self) -> u64 {
        let (ll, d) = dynamic_lengths(&self.litlen, &self.dist);
        let header = DynamicHeader::new(&ll, &d);
        3 + header.bits() + body_bits(&self.litlen, &self.dist, &ll, &d)
    }
}

/// One chunk's compressed form, a piece of the DEFLATE stream that depends on no other data than
/// its bytes and the dictionary before them (see [`deflate_segment`]).
///
/// Usually a bit string holding one non-final Huffman block (it need not end on a byte boundary:
/// [`StreamWriter`] stitches segments bit by bit, so no flush marker separates them). When stored
/// blocks are cheapest, `stored` is set and the bytes are written as stored blocks during
/// assembly, because a stored block's contents start at a byte boundary of the whole stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Segment {
    bits: Vec<u8>,
    nbits: u64,
    stored: bool,
    /// The tokens, kept when they are few: neighbouring segments with kept tokens may be
    /// written as one block with one Huffman header (see [`StreamWriter::append_all`]).
    tokens: Option<Box<Tokens>>,
}

impl Segment {
    /// Compressed size in bits (for a stored segment: without the alignment padding).
    pub(crate) fn bit_len(&self, data_len: usize) -> u64 {
        if self.stored {
            8 * (data_len as u64 + 4 * data_len.div_ceil(0xffff) as u64) + 3
        } else {
            self.nbits
        }
    }
}

/// Compresses `bytes[start..]` into a [`Segment`]: one block, dynamic, fixed or stored,
/// whichever is smallest by exact bit count. `bytes[..start]` are the bytes that precede it in the
/// stream (at most a window's worth are used): copies may reach back into them, so the segment
/// must be written after them, and depends on them. (One slice, not two: the list's bytes already
/// lie in one buffer, and joining a dictionary to its segment cost a copy of every byte.)
pub(crate) fn deflate_segment(bytes: &[u8], start: usize) -> Segment {
    let bytes = &bytes[start.saturating_sub(WINDOW)..];
    let start = start.min(WINDOW);
    let data = &bytes[start..];
    if data.is_empty() {
        return Segment::default();
    }
    let body = if let Some(litlen) = crate::parse::literals_suffice(bytes, start) {
        Body::Literals(data, litlen)
    } else {
        let t = crate::parse::optimal_tokens(bytes, start, tokenize(data));
        Body::Tokens(rechained(t, bytes, start))
    };
    segment(data, body)
}

/// What a segment's block holds: the tokens of a parse, or every byte as a literal (with the
/// bytes' counts, the end of block included).
enum Body<'a> {
    Tokens(Tokens),
    Literals(&'a [u8], [u32; LITLEN_CODES]),
}

impl Body<'_> {
    fn frequencies(&self) -> (&[u32; LITLEN_CODES], &[u32; DIST_CODES]) {
        const NO_COPIES: [u32; DIST_CODES] = [0; DIST_CODES];
        match self {
            Body::Tokens(t) => (&t.litlen, &t.dist),
            Body::Literals(_, litlen) => (litlen, &NO_COPIES),
        }
    }

    fn write(&self, w: &mut BitWriter, ll_lens: &[u8], d_lens: &[u8]) {
        match self {
            Body::Tokens(t) => write_tokens(w, t, ll_lens, d_lens),
            Body::Literals(bytes, _) => write_literals(w, bytes, ll_lens),
        }
    }
}

/// The segment of `data` holding `body` in whichever of a dynamic block, a fixed block or stored
/// blocks is smallest by exact bit count.
fn segment(data: &[u8], body: Body<'_>) -> Segment {
    let (litlen, dist) = body.frequencies();
    let (ll_lens, d_lens) = dynamic_lengths(litlen, dist);
    let header = DynamicHeader::new(&ll_lens, &d_lens);
    let dynamic = 3 + header.bits() + body_bits(litlen, dist, &ll_lens, &d_lens);
    let (fixed_ll, fixed_d) = fixed_lengths();
    let fixed = 3 + body_bits(litlen, dist, &fixed_ll, &fixed_d);
    // Header bits, at most 7 bits of padding, LEN/NLEN and the bytes, per 65,535-byte block.
    let stored_blocks = data.len().div_ceil(0xffff) as u64;
    let stored = 8 * (data.len() as u64 + 4 * stored_blocks) + 10 * stored_blocks;
    if stored <= dynamic.min(fixed) {
        return Segment {
            bits: Vec::new(),
            nbits: 0,
            stored: true,
            tokens: None,
        };
    }
    let mut w = BitWriter::new((dynamic.min(fixed) / 8) as usize + 16);
    if fixed <= dynamic {
        w.put(0b010, 3); // BFINAL=0, BTYPE=01
        body.write(&mut w, &fixed_ll, &fixed_d);
    } else {
        w.put(0b100, 3); // BFINAL=0, BTYPE=10
        header.write(&mut w);
        body.write(&mut w, &ll_lens, &d_lens);
    }
    let nbits = w.out.len() as u64 * 8 + u64::from(w.nbits);
    w.align();
    let tokens = match body {
        Body::Tokens(t) if t.stream.len() <= MERGE_TOKENS => Some(Box::new(t)),
        _ => None,
    };
    Segment {
        bits: w.out,
        nbits,
        stored: false,
        tokens,
    }
}

/// Segments of at most this many tokens keep them for merging (4 bytes each: at most 1/4 of the
/// bytes they encode, and far less on the lists that merge, whose chunks are a few hundred
/// tokens each).
const MERGE_TOKENS: usize = 4096;
/// Most segments merged into one block: writing a merged block costs its tokens at every
/// encode, so this bounds that work.
const MERGE_MAX: usize = 64;

/// `tokens` (encoding `bytes[start..]`) with chains of copies re-split.
///
/// A *chain* is a run of tokens that all repeat the bytes one distance back: copies at that
/// distance, and literals or copies at other distances whose bytes equal those that far back.
/// It is one long copy at that distance, so it can be re-split into copies of the longest length
/// and one rest: fewer tokens, or as many with fewer rarer (shorter) lengths. Two places leave
/// such chains: the seam between segments (each segment's copies end at its end, so on periodic
/// data each seam costs a short copy or a few literals), and ties in the parse (a zero run inside
/// a periodic region may end where a copy of it one period back would have gone on). With
/// `seams` (marking each segment's first token), only chains that cross a seam are re-split.
fn rechain(tokens: &[u32], seams: Option<&[bool]>, bytes: &[u8], start: usize) -> Tokens {
    let token_len = |tok: u32| {
        if tok & MATCH_FLAG == 0 {
            1
        } else {
            ((tok >> 16) & 0x1ff) as usize
        }
    };
    let mut out = Tokens::with_capacity(tokens.len());
    let (mut i, mut pos) = (0, start);
    while i < tokens.len() {
        let tok = tokens[i];
        if tok & MATCH_FLAG == 0 {
            out.literal(tok as u8);
            (i, pos) = (i + 1, pos + 1);
            continue;
        }
        let dist = (tok & 0xffff) as usize;
        let (mut j, mut len, mut crosses, mut odd) = (i, 0usize, seams.is_none(), 0usize);
        while j < tokens.len() {
            let (t, at) = (tokens[j], pos + len);
            let l = token_len(t);
            let repeats = (t & MATCH_FLAG != 0 && (t & 0xffff) as usize == dist)
                || bytes[at..at + l] == bytes[at - dist..at - dist + l];
            if !repeats {
                break;
            }
            crosses |= j > i && seams.is_some_and(|s| s[j]);
            len += l;
            odd += usize::from(l != MAX_MATCH);
            j += 1;
        }
        pos += len;
        // Tokens at the chain's end that are not copies at its distance stay as they are when
        // re-splitting without them takes no more tokens (a short copy at distance 1 is cheaper
        // than one at a long distance).
        let mut k = j;
        while k > i + 1
            && (tokens[k - 1] & MATCH_FLAG == 0 || (tokens[k - 1] & 0xffff) as usize != dist)
        {
            k -= 1;
        }
        let tail: usize = tokens[k..j].iter().map(|&t| token_len(t)).sum();
        if (len - tail).div_ceil(MAX_MATCH) + (j - k) <= len.div_ceil(MAX_MATCH) {
            len -= tail;
            odd -= tokens[k..j]
                .iter()
                .filter(|&&t| token_len(t) != MAX_MATCH)
                .count();
        } else {
            k = j;
        }
        let (fewer, rest) = (len.div_ceil(MAX_MATCH), usize::from(len % MAX_MATCH != 0));
        if crosses && (fewer < k - i || (fewer == k - i && rest < odd)) {
            while len > 0 {
                let take = if len <= MAX_MATCH {
                    len
                } else if len < MAX_MATCH + MIN_MATCH {
                    len - MIN_MATCH
                } else {
                    MAX_MATCH
                };
                out.matched(take, dist);
                len -= take;
            }
            i = k;
        }
        for &t in &tokens[i..j] {
            if t & MATCH_FLAG == 0 {
                out.literal(t as u8);
            } else {
                out.matched(token_len(t), (t & 0xffff) as usize);
            }
        }
        i = j;
    }
    out.end_block();
    out
}

/// `t` (encoding `bytes[start..]`) with every copy that only repeats the byte before it taken at
/// distance 1 where the code of `t` makes that cheaper (the parse priced such a copy with the
/// code of the pass before, which may have favoured a periodic distance).
fn prefer_distance_one(t: &Tokens, bytes: &[u8], start: usize) -> Tokens {
    let (_, d_lens) = dynamic_lengths(&t.litlen, &t.dist);
    let price = |dist: usize| {
        let (sym, extra, _) = distance_symbol(dist);
        (d_lens[sym] > 0).then(|| u32::from(d_lens[sym]) + extra)
    };
    let mut out = Tokens::with_capacity(t.stream.len());
    let mut pos = start;
    for &tok in &t.stream {
        if tok & MATCH_FLAG == 0 {
            out.literal(tok as u8);
            pos += 1;
            continue;
        }
        let (len, mut dist) = (((tok >> 16) & 0x1ff) as usize, (tok & 0xffff) as usize);
        if dist > 1 {
            if let (Some(one), Some(now)) = (price(1), price(dist)) {
                let byte = bytes[pos - 1];
                if one < now && bytes[pos..pos + len].iter().all(|&b| b == byte) {
                    dist = 1;
                }
            }
        }
        out.matched(len, dist);
        pos += len;
    }
    out.end_block();
    out
}

/// A segment's tokens with their chains re-split ([`rechain`]) if that is smaller. Only where
/// at least one token in 16 is a copy of the longest length (periodic or very sparse data, where
/// ties in the parse leave chains): elsewhere the pass costs time and finds nothing.
fn rechained(t: Tokens, bytes: &[u8], start: usize) -> Tokens {
    if 16 * t.litlen[length_symbol(MAX_MATCH).0] as usize >= t.stream.len() {
        let re = rechain(&t.stream, None, bytes, start);
        smaller(t, re)
    } else {
        t
    }
}

/// Whichever of `a` and `b` makes the smaller dynamic block.
fn smaller(a: Tokens, b: Tokens) -> Tokens {
    if block_bits(&b.litlen, &b.dist) < block_bits(&a.litlen, &a.dist) {
        b
    } else {
        a
    }
}

/// Concatenates segments into one raw DEFLATE stream, bit by bit.
pub(crate) struct StreamWriter {
    w: BitWriter,
}

impl StreamWriter {
    /// Appends every segment of `pieces` (each with the bytes it encodes; the last one final),
    /// writing neighbours that kept their tokens as one block whenever one Huffman header for
    /// them is smaller than theirs apart (greedily, from the left). The decision depends only
    /// on the segments, so an incremental encode still equals a fresh one.
    ///
    /// The pieces' bytes are consecutive slices of `bytes`, the whole input.
    pub(crate) fn append_all(&mut self, pieces: &[(&Segment, &[u8])], bytes: &[u8]) {
        let mut i = 0;
        while i < pieces.len() {
            let mut j = i + 1;
            if let Some(first) = pieces[i].0.tokens.as_deref() {
                let (mut merged, mut bits) = (Merged::of(first), pieces[i].0.nbits);
                while j < pieces.len() && j - i < MERGE_MAX {
                    let Some(next) = pieces[j].0.tokens.as_deref() else {
                        break;
                    };
                    let m = merged.with(next);
                    let b = m.bits();
                    if b > bits + pieces[j].0.nbits {
                        break;
                    }
                    (merged, bits) = (m, b);
                    j += 1;
                }
                if j > i + 1 {
                    // The pieces are subslices of `bytes`: where the first one starts in it.
                    let start = pieces[i].1.as_ptr() as usize - bytes.as_ptr() as usize;
                    debug_assert!(start + pieces[i].1.len() <= bytes.len());
                    self.append_merged(&pieces[i..j], bytes, start, j == pieces.len());
                    i = j;
                    continue;
                }
            }
            self.append(pieces[i].0, pieces[i].1, i + 1 == pieces.len());
            i += 1;
        }
    }

    /// Writes the tokens of `pieces` (whose bytes begin at `start` in `bytes`) as one dynamic
    /// block, re-splitting the chains of copies that cross a seam (see [`rechain`]) and taking
    /// pure-run copies at distance 1 ([`prefer_distance_one`]) when each makes it smaller.
    fn append_merged(
        &mut self,
        pieces: &[(&Segment, &[u8])],
        bytes: &[u8],
        start: usize,
        last: bool,
    ) {
        let mut plain = Tokens::with_capacity(pieces.len() * MERGE_TOKENS);
        let mut seams = Vec::with_capacity(plain.stream.capacity());
        for t in pieces.iter().filter_map(|(seg, _)| seg.tokens.as_deref()) {
            plain.stream.extend_from_slice(&t.stream);
            seams.extend((0..t.stream.len()).map(|k| k == 0));
            for (a, b) in plain.litlen.iter_mut().zip(&t.litlen) {
                *a += b;
            }
            for (a, b) in plain.dist.iter_mut().zip(&t.dist) {
                *a += b;
            }
            plain.litlen[END_OF_BLOCK] -= 1;
        }
        plain.litlen[END_OF_BLOCK] += 1;
        let joined = rechain(&plain.stream, Some(&seams), bytes, start);
        let t = smaller(plain, joined);
        let one = prefer_distance_one(&t, bytes, start);
        let t = smaller(t, one);
        let (ll, d) = dynamic_lengths(&t.litlen, &t.dist);
        let header = DynamicHeader::new(&ll, &d);
        let w = &mut self.w;
        w.put(0b100 | u32::from(last), 3); // BFINAL, BTYPE=10
        header.write(w);
        write_tokens(w, &t, &ll, &d);
        if last {
            w.align();
        }
    }

    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            w: BitWriter::new(capacity),
        }
    }

    /// The bytes written so far; the stream must be byte-aligned (only [`Self::finish`] is).
    pub(crate) fn out(&mut self) -> &mut Vec<u8> {
        debug_assert_eq!(self.w.nbits, 0);
        &mut self.w.out
    }

    /// Appends `seg`, the segment of `data`; `last` marks its (last) block final, which closes
    /// the stream (a Huffman segment's BFINAL is the first bit of its bit string).
    pub(crate) fn append(&mut self, seg: &Segment, data: &[u8], last: bool) {
        let w = &mut self.w;
        if seg.stored {
            let blocks = data.len().div_ceil(0xffff);
            for (k, block) in data.chunks(0xffff).enumerate() {
                write_stored(w, block, last && k + 1 == blocks);
            }
            return;
        }
        if seg.nbits == 0 {
            if last {
                self.close();
            }
            return;
        }
        let whole = (seg.nbits / 8) as usize;
        let rest = (seg.nbits % 8) as u32;
        let mut bits = std::borrow::Cow::Borrowed(&seg.bits[..]);
        if last {
            bits.to_mut()[0] |= 1;
        }
        if w.nbits == 0 {
            w.out.extend_from_slice(&bits[..whole]);
        } else {
            let mut words = bits[..whole].chunks_exact(4);
            for word in &mut words {
                w.put(u32::from_le_bytes([word[0], word[1], word[2], word[3]]), 32);
            }
            for &b in words.remainder() {
                w.put(u32::from(b), 8);
            }
        }
        if rest > 0 {
            w.put(u32::from(bits[whole]) & ((1 << rest) - 1), rest);
        }
        if last {
            w.align();
        }
    }

    /// Closes a stream whose last segment was not final with an empty final fixed-Huffman
    /// block, padded to a byte.
    fn close(&mut self) {
        self.w.put(0b011, 3); // BFINAL=1, BTYPE=01
        self.w.put(0, 7); // end of block (code 0000000)
        self.w.align();
    }

    /// The finished stream; `closed` says whether a segment was appended as the last one.
    pub(crate) fn finish(mut self, closed: bool) -> Vec<u8> {
        if !closed {
            self.close();
        }
        self.w.out
    }
}

fn write_stored(w: &mut BitWriter, block: &[u8], last: bool) {
    w.put(u32::from(last), 3); // BTYPE=00
    w.align();
    let len = block.len() as u16;
    w.out.extend_from_slice(&len.to_le_bytes());
    w.out.extend_from_slice(&(!len).to_le_bytes());
    w.out.extend_from_slice(block);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// The raw DEFLATE stream of `data` as one segment.
    fn one_segment(data: &[u8]) -> Vec<u8> {
        let mut w = StreamWriter::new(data.len());
        w.append(&deflate_segment(data, 0), data, true);
        w.finish(true)
    }

    fn inflate_raw(stream: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(stream)
            .read_to_end(&mut out)
            .expect("valid deflate");
        out
    }

    #[test]
    fn symbol_tables_match_rfc1951() {
        assert_eq!(length_symbol(3), (257, 0, 0));
        assert_eq!(length_symbol(10), (264, 0, 0));
        assert_eq!(length_symbol(11), (265, 1, 0));
        assert_eq!(length_symbol(12), (265, 1, 1));
        assert_eq!(length_symbol(227), (284, 5, 0));
        assert_eq!(length_symbol(257), (284, 5, 30));
        assert_eq!(length_symbol(258), (285, 0, 0));
        assert_eq!(distance_symbol(1), (0, 0, 0));
        assert_eq!(distance_symbol(5), (4, 1, 0));
        assert_eq!(distance_symbol(7), (5, 1, 0));
        assert_eq!(distance_symbol(24577), (29, 13, 0));
        assert_eq!(distance_symbol(32768), (29, 13, 8191));
    }

    #[test]
    pub(crate) fn huffman_lengths_respect_limit_and_kraft() {
        // Fibonacci frequencies force a degenerate tree deeper than the limit.
        let mut f = vec![1u32, 1];
        while f.len() < 30 {
            let n = f[f.len() - 1] + f[f.len() - 2];
            f.push(n);
        }
        for limit in [7usize, 15] {
            let lens = huffman_lengths(&f, limit);
            assert!(lens.iter().all(|&l| l >= 1 && l as usize <= limit));
            let kraft: f64 = lens.iter().map(|&l| 2f64.powi(-i32::from(l))).sum();
            assert!((kraft - 1.0).abs() < 1e-12, "kraft sum {kraft}");
        }
    }

    /// Inputs that stress the match search: periodic patterns (long chains, long matches),
    /// runs that straddle anchors, and sparse data with repeated groups.
    #[test]
    fn round_trips_repetitive_inputs() {
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for period in [2usize, 3, 5, 7, 64, 300, 1000] {
            let unit: Vec<u8> = (0..period)
                .map(|i| if i % 4 == 0 { (i % 251) as u8 + 1 } else { 0 })
                .collect();
            inputs.push(unit.iter().copied().cycle().take(65_536).collect());
        }
        let mut x = 7u32;
        let mut groups = vec![0u8; 65_536];
        let mut p = 0;
        while p < groups.len() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            groups[p] = [1, 2, 4][(x % 3) as usize];
            p += 1 + (x as usize >> 8) % 6;
        }
        inputs.push(groups);
        inputs.push(
            [
                vec![0u8; 40_000],
                vec![9u8; 300],
                vec![0u8; 3],
                vec![9u8; 300],
            ]
            .concat(),
        );
        for data in inputs {
            assert_eq!(inflate_raw(&one_segment(&data)), data, "len {}", data.len());
        }
    }

    /// The bytes a token stream produces after `prefix`.
    fn expand(prefix: &[u8], tokens: &[u32]) -> Vec<u8> {
        let mut out = prefix.to_vec();
        for &tok in tokens {
            if tok & MATCH_FLAG == 0 {
                out.push(tok as u8);
            } else {
                let (len, dist) = (((tok >> 16) & 0x1ff) as usize, (tok & 0xffff) as usize);
                for _ in 0..len {
                    out.push(out[out.len() - dist]);
                }
            }
        }
        out.split_off(prefix.len())
    }

    /// Periodic data (period `2 * period` at most) cut into chunks, each parsed on its own
    /// (copying from the chunk before): joined, the chains of copies through the seams become
    /// copies of the longest length after the first period, and the tokens still produce the
    /// bytes.
    #[test]
    fn rechain_joins_copies_across_seams() {
        const CHUNK: usize = 65_536;
        for (period, mark) in [(3usize, 0x49u8), (100, 1), (997, 1), (64, 7)] {
            let data: Vec<u8> = (0..4 * CHUNK)
                .map(|i| if i % period == 0 { mark } else { (i % 2) as u8 })
                .collect();
            let (mut all, mut seams) = (Vec::new(), Vec::new());
            for c in 0..4 {
                let (lo, hi) = (c * CHUNK, (c + 1) * CHUNK);
                let dict = lo.saturating_sub(4096);
                let t = crate::parse::optimal_tokens(
                    &data[dict..hi],
                    lo - dict,
                    tokenize(&data[lo..hi]),
                );
                seams.extend((0..t.stream.len()).map(|k| k == 0));
                all.extend_from_slice(&t.stream);
            }
            let joined = rechain(&all, Some(&seams), &data, 0);
            assert_eq!(expand(&[], &joined.stream), data, "period {period}");
            let longest = joined.litlen[length_symbol(MAX_MATCH).0] as usize;
            assert!(
                joined.stream.len() < all.len()
                    && longest + 1 >= (data.len() - 2 * period) / MAX_MATCH,
                "period {period}: {} tokens from {}, {longest} copies of {MAX_MATCH}",
                joined.stream.len(),
                all.len()
            );
        }
    }

    #[test]
    fn round_trips_varied_inputs() {
        let mut inputs: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![7],
            vec![0; 70_000],
            vec![0xff; 300],
            (0..=255u8).cycle().take(100_000).collect(),
        ];
        let mut x = 0x1234_5678_u32;
        let mut sparse = vec![0u8; 200_000];
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            sparse[(x as usize) % 200_000] |= 1 << (x % 8);
        }
        inputs.push(sparse);
        let noise: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        inputs.push(noise);
        for data in &inputs {
            assert_eq!(inflate_raw(&one_segment(data)), *data, "len {}", data.len());
        }
        // Segments stitched at every bit offset, stored ones included.
        let mut w = StreamWriter::new(1 << 20);
        for data in &inputs {
            w.append(&deflate_segment(data, 0), data, false);
        }
        assert_eq!(inflate_raw(&w.finish(false)), inputs.concat());
        // Segments that copy from the ones before them.
        let all = inputs.concat();
        let mut w = StreamWriter::new(1 << 20);
        let mut at = 0;
        for data in &inputs {
            w.append(&deflate_segment(&all[..at + data.len()], at), data, false);
            at += data.len();
        }
        assert_eq!(inflate_raw(&w.finish(false)), all);
    }
}
