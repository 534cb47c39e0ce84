//! Near-optimal parsing for the DEFLATE encoder: a shortest-path search over a chunk where the
//! edges are literals, run continuations and the LZ77 matches that can beat them, priced with the
//! Huffman code lengths of the previous pass (two passes after a first run-length parse).
//!
//! Status lists make the match search cheap. A match made only of one repeated byte is never
//! better than a distance-1 match, so the only matches worth finding contain a change of byte.
//! Those are found from *anchors*: run heads (in a sparse list, the non-zero bytes), looked up in
//! three indexes (see [`find_candidates`]); each match is extended forwards and backwards (into the
//! run before it). The search then considers, besides literals:
//!
//! - a run continued to its end, to the next match start, or to the largest multiple of 258 bytes
//!   short of its end (where a copy crossing the byte after the run may take over), priced by
//!   [`RunTable`]: the cheapest split into literals and distance-1 matches of any lengths (exact,
//!   not just "258s and a rest");
//! - every match, also cut short where another match may start (a prefix of a copy is a copy);
//! - from any position inside a run, the later part of every match that starts earlier in that run
//!   (a suffix of a copy that begins in a run of equal bytes is a copy at the same distance);
//! - from any position inside a *region* (a copy found longer than 258 bytes, on periodic data),
//!   a copy at the region's distance, up to 258 bytes or the region's end.
//!
//! On sparse lists this turns most gaps into "zeros, Y, zeros" copies between literals, as the
//! best general-purpose encoders do. The scan visits only reached positions (a bitmap), so a chunk
//! that is mostly long runs costs little beyond reading it. On repetitive data (periodic lists)
//! the search skips the anchors inside long copies, so the work per byte stays within a small
//! constant of random data's ([`Work`] counts it; a test bounds it).

use std::rc::Rc;

use crate::deflate::{
    distance_symbol, length_symbol, Tokens, DIST_CODES, END_OF_BLOCK, LITLEN_CODES, MAX_MATCH,
    MIN_MATCH, WINDOW,
};

/// Earlier anchors examined per anchor; bounds the search on dense, repetitive data.
const CHAIN_LIMIT: usize = 16;
const HASH_BITS: u32 = 15;
/// Earlier anchors examined per anchor that follows a run (see [`find_candidates`]).
const PAIR_LIMIT: usize = 16;
const PAIR_BITS: u32 = 12;
/// Earlier anchors of the same signature examined per anchor beyond those of the pair chain
/// (see [`Index::insert_sig`]); one found nearly all the gain.
const SIG_LIMIT: usize = 4;
const SIG_BITS: u32 = 14;
/// How hard the parse tries: candidates kept per anchor at most (the nearest ones that are
/// not dominated), and price passes after the initial run-length parse (each re-prices with the
/// code lengths the last one chose).
#[derive(Clone, Copy)]
struct Effort {
    kept: usize,
    /// `kept` where an earlier anchor has the same signature (whose copy is looked up after).
    kept_with_sig: usize,
    passes: usize,
}

/// For most chunks: a third pass gained ~0.4% at 1% density for half again the time. Two
/// nearer copies instead of three where a copy by signature follows: at 1% density 9 bytes of
/// 13,237 larger than three, for 8% fewer instructions.
const NORMAL: Effort = Effort {
    kept: 3,
    kept_with_sig: 2,
    passes: 2,
};
/// For dense clustered chunks (no byte value above 80% of the chunk, runs of 3 bytes or more on
/// average: bursts of revocations at 50% density), where zlib-9's exhaustive search beat the
/// normal effort by ~1%: 5 candidates and 3 passes take it to 0.99× zlib-9. Such chunks are
/// few runs for their size, so the extra work is small in absolute terms.
const DENSE_RUNS: Effort = Effort {
    kept: 5,
    kept_with_sig: 5,
    passes: 3,
};

impl Effort {
    /// The effort for `data[start..]` (`ends`: [`run_ends`] of `data`).
    fn for_chunk(data: &[u8], start: usize, ends: &[u32]) -> Self {
        // Counted run by run: a byte-by-byte histogram of a sparse chunk is one long chain of
        // increments of the same counter.
        let mut counts = [0usize; 256];
        let (mut runs, mut p) = (0usize, start);
        while p < data.len() {
            let e = ends[p] as usize;
            counts[data[p] as usize] += e - p;
            runs += 1;
            p = e;
        }
        let top = counts.iter().copied().max().unwrap_or(0);
        let n = data.len() - start;
        if 5 * top < 4 * n && 3 * runs <= n {
            DENSE_RUNS
        } else {
            NORMAL
        }
    }
}
const NONE: u32 = u32::MAX;
/// A copy reaching this far forwards from its anchor is taken as found: the anchors it covers
/// are not searched (see [`find_candidates`]).
const NICE: usize = 64;
/// Longest stretch a copy region is followed beyond its first 258 bytes.
const LONG: usize = 16 * 1024;

/// Units of work the parse did, counted so tests can bound its complexity per byte without
/// timing it: chain probes, 8-byte words compared while extending matches, and edge
/// relaxations of the shortest-path passes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Work {
    pub(crate) probes: u64,
    pub(crate) words: u64,
    pub(crate) relaxations: u64,
}

/// Adds `n` to a [`Work`] counter in test builds; nothing in others, where no one reads them
/// (without the increments a cold encode of the 1-bit 1% list runs 8.6% fewer instructions:
/// the counters lived in memory, one load and store per edge relaxed).
#[inline]
fn tally(counter: &mut u64, n: u64) {
    if cfg!(test) {
        *counter += n;
    }
}

impl Work {
    #[cfg(test)]
    pub(crate) fn total(&self) -> u64 {
        self.probes + self.words + self.relaxations
    }
}

/// A match candidate: copy `len` bytes from `dist` back, starting at `start`.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    start: u32,
    len: u16,
    dist: u16,
}

/// Bit prices per symbol, including extra bits.
struct Prices {
    lit: [u32; 256],
    len: [u32; MAX_MATCH + 1],
    /// `len[l]` plus the price of distance 1: continuing a run.
    rle: [u32; MAX_MATCH + 1],
    dist_sym: [u32; DIST_CODES],
}

impl Prices {
    fn from_frequencies(litlen: &[u32; LITLEN_CODES], dist: &[u32; DIST_CODES]) -> Self {
        let ll = crate::deflate::huffman_lengths(litlen, 15);
        let dl = crate::deflate::huffman_lengths(dist, 15);
        // Unused symbols get a price a little above the longest used code, so a new symbol is
        // only chosen where it clearly wins.
        let price = |l: u8, unused: u32| if l == 0 { unused } else { u32::from(l) };
        let mut p = Self {
            lit: [0; 256],
            len: [0; MAX_MATCH + 1],
            rle: [0; MAX_MATCH + 1],
            dist_sym: [0; DIST_CODES],
        };
        for (price_b, &l) in p.lit.iter_mut().zip(&ll[..256]) {
            *price_b = price(l, 12);
        }
        for l in MIN_MATCH..=MAX_MATCH {
            let (sym, extra, _) = length_symbol(l);
            p.len[l] = price(ll[sym], 12) + extra;
        }
        for (s, d) in p.dist_sym.iter_mut().enumerate() {
            *d = price(dl[s], 8) + crate::deflate::distance_extra_bits(s);
        }
        for l in MIN_MATCH..=MAX_MATCH {
            p.rle[l] = p.len[l] + p.dist_sym[0];
        }
        p
    }
}

/// Buffers of one parse, kept by each thread for the next one: allocating them afresh for every
/// chunk cost more than the parse itself on sparse and clustered lists (page faults: the
/// allocator returns such large blocks to the system when they are freed). At most ~36 bytes per
/// byte of the largest segment parsed (a group of four chunks: ~10 MB). The tables indexed by
/// hash or by position that must start empty (`head`, `pair_head`, `first`, `first_in_run`) are
/// kept empty between parses: each parse clears the slots it set, not the whole table (on a sparse
/// list those are a few per thousand).
#[derive(Default)]
struct Scratch {
    ends: Vec<u32>,
    head: Vec<u32>,
    pair_head: Vec<u32>,
    head_set: Vec<u32>,
    pair_set: Vec<u32>,
    sig_head: Vec<u32>,
    sig_prev: Vec<u32>,
    sig_set: Vec<u32>,
    prev: Vec<u32>,
    run_before: Vec<u32>,
    first: Vec<u32>,
    next: Vec<u32>,
    next_start: Vec<u32>,
    first_in_run: Vec<u32>,
    next_in_run: Vec<u32>,
    starts: Vec<u64>,
    cost: Vec<u32>,
    how: Vec<(u32, u16)>,
    reached: Vec<u64>,
    run_tables: RunTables,
    /// The hash table of [`copy_gain`].
    probe: Vec<(u32, u32)>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// `v` with length `n`, every element `x`.
fn refill<T: Copy>(v: &mut Vec<T>, n: usize, x: T) {
    v.clear();
    v.resize(n, x);
}

/// `v` with length `n`; the elements' values are whatever was left (the caller writes each one
/// before reading it).
fn reuse<T: Copy + Default>(v: &mut Vec<T>, n: usize) {
    v.resize(n, T::default());
}

/// End (exclusive) of the run of equal bytes containing `p`, for every `p`.
fn run_ends(data: &[u8], mut ends: Vec<u32>) -> Vec<u32> {
    reuse(&mut ends, data.len());
    let n = data.len();
    let mut p = 0;
    while p < n {
        // Most runs of dense data are one byte: that is decided before a word is loaded.
        if p + 1 < n && data[p + 1] != data[p] {
            ends[p] = (p + 1) as u32;
            p += 1;
            continue;
        }
        let end = p + crate::deflate::run_length(data, p);
        ends[p..end].fill(end as u32);
        p = end;
    }
    ends
}

fn common_prefix(a: &[u8], b: &[u8], limit: usize, work: &mut Work) -> usize {
    let limit = limit.min(a.len()).min(b.len());
    let mut n = 0;
    while n + 8 <= limit {
        tally(&mut work.words, 1);
        let x = u64::from_le_bytes(a[n..n + 8].try_into().unwrap_or([0; 8]));
        let y = u64::from_le_bytes(b[n..n + 8].try_into().unwrap_or([0; 8]));
        if x != y {
            return n + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while n < limit && a[n] == b[n] {
        n += 1;
    }
    n
}

/// `common_prefix(&data[a..], &data[b..], limit)` for `b < a`, skipping long runs whole (`ends`:
/// [`run_ends`] of `data`): where both sides are in runs of one byte, they agree up to the end
/// of the shorter run, and if the runs end at different places they disagree right there. On a
/// sparse list that makes the forward extension of a "zeros, Y, zeros" copy a few steps instead
/// of a word compare per 8 zero bytes.
// Forced into the candidate walk (both chain walks), with `Index::reach_back`: 7.8% fewer
// instructions per cold encode of a 1-bit list with 1% revoked, ~1.5% less time (medians of 8
// alternating runs). A plain `#[inline]` left both calls in place.
#[allow(clippy::inline_always)]
#[inline(always)]
fn run_prefix(
    data: &[u8],
    ends: &[u32],
    a: usize,
    b: usize,
    limit: usize,
    work: &mut Work,
) -> usize {
    let limit = limit.min(data.len() - a);
    // Most copies end within a few words: compare those first, without looking up runs.
    let first = limit.min(32);
    let mut n = common_prefix(&data[a..], &data[b..], first, work);
    if n < first {
        return n;
    }
    while n < limit {
        let (pa, pb) = (a + n, b + n);
        if data[pa] != data[pb] {
            return n;
        }
        let (ra, rb) = (ends[pa] as usize - pa, ends[pb] as usize - pb);
        if ra >= 32 || rb >= 32 {
            tally(&mut work.words, 1);
            n += ra.min(rb);
            if ra != rb {
                return n.min(limit);
            }
        } else {
            let cap = (limit - n).min(64);
            let m = common_prefix(&data[pa..], &data[pb..], cap, work);
            n += m;
            if m < cap {
                return n;
            }
        }
    }
    limit
}

/// Match candidates, in discovery order.
///
/// Anchors are run heads (a byte different from its predecessor); a match starting inside the
/// run before an anchor is found as the anchor's backward extension, so those positions need no
/// anchors of their own. Three indexes find earlier anchors:
///
/// - an anchor after a run of two or more bytes (in a sparse list: a non-zero byte after zeros)
///   is looked up by the pair (run byte, anchor byte), a long chain deep: the best copies of
///   "zeros, Y, zeros" are the ones whose runs on both sides are long enough, whatever follows;
/// - if none of those copies takes in the next two changes of byte as well ("zeros, Y, zeros,
///   Z": two revoked entries), the same anchor is looked up by its *signature*, those changes'
///   places and bytes (see [`Index::insert_sig`]), beyond the anchors the pair chain examined;
/// - any other anchor (dense data) by its next four bytes, unless they are one repeated byte
///   (distance-1 matches cover a pure run), a short chain deep.
///
/// From each anchor the nearest earlier anchors come first; a farther one is kept only if it
/// reaches farther forwards or backwards than every nearer one (a nearer copy is cheaper).
///
/// Three rules bound the work on repetitive data (a periodic list makes every byte an anchor
/// with a full-length copy one period back), as the "nice length" of zlib and libdeflate does:
///
/// - a copy of the longest length DEFLATE allows ends the chain walk (no farther copy can
///   reach farther forwards);
/// - such a copy is followed on (up to [`LONG`] bytes) into a *region* of the same distance,
///   starting at the head of the run before its anchor, in which the parse may start a copy
///   anywhere (where it goes on only through the run the copy ends in, it stops with the copy);
///   the anchors inside it, but its last 258 bytes, are indexed and not searched;
/// - anchors inside any copy reaching [`NICE`] bytes forwards are indexed and not searched
///   either (a block repeated with small changes has long copies everywhere that never reach
///   258 bytes).
///
/// Bytes before `start` are a dictionary: indexed and copied from, never the start of a copy.
/// Returns the candidates and the regions (sorted by start).
// The two chain walks share one body (a macro), which reads best beside them.
#[allow(clippy::too_many_lines)]
fn find_candidates(
    data: &[u8],
    start: usize,
    ends: &[u32],
    effort: Effort,
    work: &mut Work,
    scratch: &mut Scratch,
) -> (Vec<Candidate>, Vec<Candidate>) {
    let n = data.len();
    let mut out = Vec::new();
    let mut long = Vec::new();
    if n < MIN_MATCH {
        return (out, long);
    }
    let mut index = Index::new(n, scratch);
    let mut kept: Vec<(usize, usize)> = Vec::new();
    // Anchors before this position lie in the dictionary or inside a long copy found earlier.
    let mut covered = start;
    let mut x = 0usize;
    loop {
        // The next run head is the end of the current run.
        let before = ends[x] as usize - x;
        x = ends[x] as usize;
        if x >= n - 1 {
            break;
        }
        let Some((mut y, limit)) = index.insert(data, x, before) else {
            continue;
        };
        let sig = if before >= 2 {
            index.insert_sig(data, ends, x)
        } else {
            None
        };
        if x < covered {
            continue;
        }
        kept.clear();
        let (mut steps, mut stop, mut farthest) = (0, false, x);
        // Where an earlier anchor has the same signature, fewer nearer copies are kept.
        let kept_limit = match sig {
            Some((z, _)) if z != NONE && x - z as usize <= WINDOW => effort.kept_with_sig,
            _ => effort.kept,
        };
        // Keeps the copy from `yu` if no nearer one dominates it; `stop`: no farther copy is
        // wanted. `full_only`: only the copy from its farthest start back, not also the ones
        // from the anchor and from the head of the run before it (for a copy found by its
        // signature those cost 2% more instructions for 7 bytes of 13,237 at 1% density).
        macro_rules! consider {
            ($yu:expr, $full_only:expr) => {{
                let (yu, full_only): (usize, bool) = ($yu, $full_only);
                'c: {
                    let forward = run_prefix(data, ends, x, yu, MAX_MATCH, work);
                    if forward == 0 {
                        break 'c; // another pair or word in the same slot
                    }
                    // Farther back than a copy can use is wanted only for the run before the anchor.
                    let cap = (MAX_MATCH - forward).max(before).min(MAX_MATCH - 1);
                    let reach = index.reach_back(data, x, yu, before, cap, work);
                    let back = reach.min(MAX_MATCH - forward);
                    if forward + back < MIN_MATCH || kept.iter().any(|&(f, b)| f >= forward && b >= reach) {
                        break 'c;
                    }
                    kept.push((forward, reach));
                    if kept.len() >= kept_limit {
                        stop = true;
                    }
                    let dist = (x - yu) as u16;
                    // A copy starting in the dictionary starts at its end instead.
                    let at = |from: usize, len: usize| {
                        let cut = start.saturating_sub(from);
                        (len >= cut + MIN_MATCH).then(|| Candidate {
                            start: (from + cut) as u32,
                            len: (len - cut) as u16,
                            dist,
                        })
                    };
                    out.extend(at(x - back, forward + back));
                    if !full_only && back > 0 && forward >= MIN_MATCH {
                        out.extend(at(x, forward));
                    }
                    let in_run = reach.min(before);
                    if !full_only && in_run > back {
                        // Too long to keep both ends: also the copy from the head of the run before the
                        // anchor, so a copy that ends inside that run can be followed by the rest of
                        // this one (the later part of a copy starting in a run is a copy).
                        out.extend(at(x - in_run, (in_run + forward).min(MAX_MATCH)));
                    }
                    if forward == MAX_MATCH {
                        stop = true;
                        let more =
                            common_prefix(&data[x + MAX_MATCH..], &data[yu + MAX_MATCH..], LONG, work);
                        if more > 0 {
                            // Where all the bytes beyond the first copy lie in the run that copy ends
                            // in (a sparse list's zeros after a revoked entry), the region ends with
                            // that copy: a copy within one run is a run continuation, which distance 1
                            // prices lower, so only copies that start at or before the anchor matter,
                            // and those reach no farther. (Followed to its end, such a region made the
                            // parse visit every reached position of a long run of zeros: a third of the
                            // instructions of an 8-bit list with 0.1% of its entries revoked.)
                            let tail = if (ends[x + MAX_MATCH - 1] as usize) < x + MAX_MATCH + more {
                                more
                            } else {
                                0
                            };
                            long.extend(at(x - in_run, in_run + MAX_MATCH + tail));
                            covered = covered.max(x + more);
                        }
                    }
                    if forward >= NICE {
                        covered = covered.max(x + forward);
                    }
                }
            }};
        }
        while !stop && y != NONE && steps < limit && x - y as usize <= WINDOW {
            let yu = y as usize;
            steps += 1;
            tally(&mut work.probes, 1);
            y = index.prev[yu];
            farthest = yu;
            consider!(yu, false);
        }
        // If no copy found takes in the next two changes of byte too, the nearest earlier anchor
        // of the same signature beyond those probed above gives one: in a 1-bit list with 1%
        // revoked at random, the same two revoked entries the same distance apart occur about
        // once a window, far beyond the few nearest copies of one (1.0% smaller there).
        if let Some((mut z, need)) = sig {
            stop = false;
            let mut links = 0;
            while !stop
                && !kept.iter().any(|&(f, _)| f > need)
                && z != NONE
                && links < SIG_LIMIT + steps
                && x - z as usize <= WINDOW
            {
                let zu = z as usize;
                z = index.sig_prev[zu];
                links += 1;
                if zu < farthest {
                    tally(&mut work.probes, 1);
                    consider!(zu, true);
                }
            }
        }
    }
    index.give_back(scratch);
    long.sort_by_key(|c| c.start);
    (out, long)
}

/// The three indexes of earlier anchors (see [`find_candidates`]).
struct Index {
    head: Vec<u32>,
    pair_head: Vec<u32>,
    /// Both indexed by run head only (the other entries are never read, so they are not
    /// initialised): the chain link and the length of the run before the head.
    prev: Vec<u32>,
    run_before: Vec<u32>,
    /// The slots of `head` and `pair_head` set in this parse, to be cleared after it: the first
    /// `head_used` (`pair_used`) entries. Recorded without a branch (a slot is written at every
    /// insert, kept by advancing the count only on a slot's first use): on dense data the test
    /// "first use?" is a coin toss the predictor loses.
    head_set: Vec<u32>,
    pair_set: Vec<u32>,
    head_used: usize,
    pair_used: usize,
    /// The third index: anchors after a run by their bytes and the next two changes of byte
    /// within a copy's length (see [`Index::insert_sig`]); chain links by run head.
    sig_head: Vec<u32>,
    sig_prev: Vec<u32>,
    sig_set: Vec<u32>,
    sig_used: usize,
}

/// Whether a table of `len` entries of which `set` were set is cleared cheaper whole (a fill is
/// sequential; clearing slot by slot pays off for a few slots in eight).
fn clear_whole(set: usize, len: usize) -> bool {
    8 * set > len
}

/// Sets the `slots` of `table` to [`NONE`] (all of it where that is cheaper).
fn clear_slots(table: &mut [u32], slots: &[u32]) {
    if clear_whole(slots.len(), table.len()) {
        table.fill(NONE);
    } else {
        for &k in slots {
            table[k as usize] = NONE;
        }
    }
}

impl Index {
    fn new(n: usize, s: &mut Scratch) -> Self {
        let mut t = Self {
            head: std::mem::take(&mut s.head),
            pair_head: std::mem::take(&mut s.pair_head),
            prev: std::mem::take(&mut s.prev),
            run_before: std::mem::take(&mut s.run_before),
            head_set: std::mem::take(&mut s.head_set),
            pair_set: std::mem::take(&mut s.pair_set),
            head_used: 0,
            pair_used: 0,
            sig_head: std::mem::take(&mut s.sig_head),
            sig_prev: std::mem::take(&mut s.sig_prev),
            sig_set: std::mem::take(&mut s.sig_set),
            sig_used: 0,
        };
        t.sig_head.resize(1 << SIG_BITS, NONE);
        t.sig_set.resize((1 << SIG_BITS) + 1, 0);
        reuse(&mut t.sig_prev, n);
        // Empty from the last parse (see `give_back`); only a new table is filled here.
        t.head.resize(1 << HASH_BITS, NONE);
        t.pair_head.resize(1 << PAIR_BITS, NONE);
        // One entry more than the slots: once all are used, each insert still writes past them.
        t.head_set.resize((1 << HASH_BITS) + 1, 0);
        t.pair_set.resize((1 << PAIR_BITS) + 1, 0);
        reuse(&mut t.prev, n);
        reuse(&mut t.run_before, n);
        t
    }

    fn give_back(mut self, s: &mut Scratch) {
        clear_slots(&mut self.head, &self.head_set[..self.head_used]);
        clear_slots(&mut self.pair_head, &self.pair_set[..self.pair_used]);
        clear_slots(&mut self.sig_head, &self.sig_set[..self.sig_used]);
        (s.sig_head, s.sig_prev, s.sig_set) = (self.sig_head, self.sig_prev, self.sig_set);
        (
            s.head,
            s.pair_head,
            s.prev,
            s.run_before,
            s.head_set,
            s.pair_set,
        ) = (
            self.head,
            self.pair_head,
            self.prev,
            self.run_before,
            self.head_set,
            self.pair_set,
        );
    }

    /// Indexes the anchor `x` (after a run of `before` bytes); returns the nearest earlier
    /// anchor of its kind and how many to examine, or `None` if `x` heads a pure run.
    fn insert(&mut self, data: &[u8], x: usize, before: usize) -> Option<(u32, usize)> {
        self.run_before[x] = before as u32;
        let (y, limit) = if before >= 2 {
            let key =
                (usize::from(data[x - 1]) << 8 | usize::from(data[x])) & ((1 << PAIR_BITS) - 1);
            let y = self.pair_head[key];
            self.pair_set[self.pair_used] = key as u32;
            self.pair_used += usize::from(y == NONE);
            self.pair_head[key] = x as u32;
            (y, PAIR_LIMIT)
        } else {
            if x + 4 > data.len() {
                return None;
            }
            let word = u32::from_le_bytes([data[x], data[x + 1], data[x + 2], data[x + 3]]);
            if word == u32::from(data[x]) * 0x0101_0101 {
                return None; // a pure run: distance-1 matches already cover it
            }
            let h = (word.wrapping_mul(0x9e37_79b1) >> (32 - HASH_BITS)) as usize;
            let y = self.head[h];
            self.head_set[self.head_used] = h as u32;
            self.head_used += usize::from(y == NONE);
            self.head[h] = x as u32;
            (y, CHAIN_LIMIT)
        };
        self.prev[x] = y;
        Some((y, limit))
    }

    /// Indexes the anchor `x` after a run by its signature: the byte before it, its byte,
    /// where its run ends and the byte there, where that run ends and the byte there (the next
    /// two changes, if both lie within a copy's length of `x`). Returns the nearest earlier
    /// anchor of the same signature (or a colliding one) and how far a copy must reach forwards
    /// to take in both changes; `None` if they are too far apart.
    fn insert_sig(&mut self, data: &[u8], ends: &[u32], x: usize) -> Option<(u32, usize)> {
        let e1 = ends[x] as usize;
        if e1 >= data.len() {
            return None;
        }
        let e2 = ends[e1] as usize;
        if e2 >= data.len() || e2 - x >= MAX_MATCH {
            return None;
        }
        let key = u64::from(data[x - 1])
            | u64::from(data[x]) << 8
            | u64::from(data[e1]) << 16
            | u64::from(data[e2]) << 24
            | ((e1 - x) as u64) << 32
            | ((e2 - x) as u64) << 41;
        let h = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SIG_BITS)) as usize;
        let y = self.sig_head[h];
        self.sig_set[self.sig_used] = h as u32;
        self.sig_used += usize::from(y == NONE);
        self.sig_head[h] = x as u32;
        self.sig_prev[x] = y;
        Some((y, e2 - x))
    }

    /// How far a copy from `yu` to `x` extends backwards (at most `cap` bytes): through the
    /// runs that precede both, then 8 bytes at a time.
    #[allow(clippy::inline_always)] // see `run_prefix`
    #[inline(always)]
    fn reach_back(
        &self,
        data: &[u8],
        x: usize,
        yu: usize,
        before: usize,
        cap: usize,
        work: &mut Work,
    ) -> usize {
        // Most copies extend no further back (dense data): one byte decides that before any
        // word is loaded.
        if data[x - 1] != data[yu - 1] {
            return 0;
        }
        let mut reach = before.min(self.run_before[yu] as usize).min(cap);
        let limit = yu.min(cap);
        // Then a word at a time: the 8 bytes before each side, the first difference being the
        // highest differing byte of the little-endian words; the last few bytes before the
        // limit one at a time.
        if reach < limit && data[x - reach - 1] == data[yu - reach - 1] {
            reach += 1;
            loop {
                if reach + 8 > limit {
                    while reach < limit && data[x - reach - 1] == data[yu - reach - 1] {
                        reach += 1;
                    }
                    break;
                }
                let word = |end: usize| {
                    u64::from_le_bytes(data[end - 8..end].try_into().unwrap_or([0; 8]))
                };
                let diff = word(x - reach) ^ word(yu - reach);
                if diff != 0 {
                    reach += (diff.leading_zeros() / 8) as usize;
                    break;
                }
                reach += 8;
            }
        }
        tally(&mut work.words, reach as u64 / 8);
        reach
    }
}

/// Candidates grouped by start position (singly linked lists, no sort needed).
struct ByStart {
    first: Vec<u32>,
    next: Vec<u32>,
    /// `next_start[p]`: the first position at or after `p` where a candidate starts.
    next_start: Vec<u32>,
    /// Candidates grouped by the end of the run their start lies in: a copy starting inside a
    /// run may also start later in that run (a suffix of the same copy).
    first_in_run: Vec<u32>,
    next_in_run: Vec<u32>,
    /// Copy regions longer than a copy (see [`find_candidates`]), by start: a copy at their
    /// distance may start anywhere in them. Their starts count as match starts.
    long: Vec<Candidate>,
}

impl ByStart {
    fn new(
        cands: &[Candidate],
        long: Vec<Candidate>,
        n: usize,
        ends: &[u32],
        s: &mut Scratch,
    ) -> Self {
        let mut first = std::mem::take(&mut s.first);
        let mut next = std::mem::take(&mut s.next);
        let mut first_in_run = std::mem::take(&mut s.first_in_run);
        let mut next_in_run = std::mem::take(&mut s.next_in_run);
        let mut next_start = std::mem::take(&mut s.next_start);
        let mut starts = std::mem::take(&mut s.starts);
        // Empty from the last parse (see `give_back`): only new entries are filled here.
        first.resize(n + 1, NONE);
        reuse(&mut next, cands.len());
        first_in_run.resize(n + 1, NONE);
        reuse(&mut next_in_run, cands.len());
        // Match starts, one bit each: `next_start` is filled a stretch at a time between them.
        refill(&mut starts, n / 64 + 1, 0);
        for (k, c) in cands.iter().enumerate().rev() {
            let p = c.start as usize;
            next[k] = first[p];
            first[p] = k as u32;
            let e = ends[p] as usize;
            next_in_run[k] = first_in_run[e];
            first_in_run[e] = k as u32;
            starts[p / 64] |= 1 << (p % 64);
        }
        for c in &long {
            let p = c.start as usize;
            starts[p / 64] |= 1 << (p % 64);
        }
        reuse(&mut next_start, n + MIN_MATCH + 1);
        let mut from = 0;
        for (i, &w) in starts.iter().enumerate() {
            let mut w = w;
            while w != 0 {
                let q = i * 64 + w.trailing_zeros() as usize;
                next_start[from..=q].fill(q as u32);
                from = q + 1;
                w &= w - 1;
            }
        }
        next_start[from..].fill(NONE);
        s.starts = starts;
        Self {
            first,
            next,
            next_start,
            first_in_run,
            next_in_run,
            long,
        }
    }

    /// Returns the buffers, `first` and `first_in_run` cleared at the slots `cands` set.
    fn give_back(mut self, cands: &[Candidate], ends: &[u32], s: &mut Scratch) {
        if clear_whole(cands.len(), self.first.len()) {
            self.first.fill(NONE);
            self.first_in_run.fill(NONE);
        } else {
            for c in cands {
                let p = c.start as usize;
                self.first[p] = NONE;
                self.first_in_run[ends[p] as usize] = NONE;
            }
        }
        (s.first, s.next, s.next_start, s.first_in_run, s.next_in_run) = (
            self.first,
            self.next,
            self.next_start,
            self.first_in_run,
            self.next_in_run,
        );
    }
}

/// Longest run piece priced exactly; longer runs add whole 258-byte pieces in front.
const RUN_TABLE: usize = 2 * MAX_MATCH;
/// The shortest and longest match length of every length symbol (RFC 1951 §3.2.5), ascending.
const LENGTH_EDGES: [u16; 49] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 22, 23, 26, 27, 30, 31, 34, 35,
    42, 43, 50, 51, 58, 59, 66, 67, 82, 83, 98, 99, 114, 115, 130, 131, 162, 163, 194, 195, 226,
    227, 257, 258,
];
/// Edge marker in the parse: a run continuation of any length, split by [`RunTable`].
const RUN_EDGE: u16 = u16::MAX;

/// The cheapest way to continue a run of one byte value by `r` bytes, for every `r`: a knapsack
/// over literals of the byte and distance-1 matches of every length, under the current prices.
struct RunTable {
    cost: Vec<u32>,
    /// Last piece of the cheapest split of `r`: 1 = a literal, otherwise a match length.
    piece: Vec<u16>,
}

impl RunTable {
    fn new(lit: u32, prices: &Prices, longest: usize) -> Self {
        let m = longest.min(RUN_TABLE);
        let mut cost = vec![0u32; m + 1];
        let mut piece = vec![0u16; m + 1];
        for r in 1..=m {
            let (mut c, mut pc) = (cost[r - 1] + lit, 1u16);
            if (MIN_MATCH..=MAX_MATCH).contains(&r) && prices.rle[r] < c {
                (c, pc) = (prices.rle[r], r as u16);
            }
            // Pieces of one length symbol cost the same, so some cheapest split has every piece
            // but one at an end of its symbol's range: trying those ends as the last piece finds it.
            for &l in &LENGTH_EDGES {
                let l = l as usize;
                if l >= r {
                    break;
                }
                let v = cost[r - l] + prices.rle[l];
                if v < c {
                    (c, pc) = (v, l as u16);
                }
            }
            cost[r] = c;
            piece[r] = pc;
        }
        Self { cost, piece }
    }

    /// Whole 258-byte pieces in front of the priced remainder of `r`.
    #[inline]
    fn split(r: usize) -> (usize, usize) {
        if r <= RUN_TABLE {
            (0, r)
        } else {
            let k = (r - MAX_MATCH - 1) / MAX_MATCH;
            (k, r - k * MAX_MATCH)
        }
    }

    #[inline]
    fn price(&self, r: usize, prices: &Prices) -> u32 {
        let (k, rest) = Self::split(r);
        k as u32 * prices.rle[MAX_MATCH] + self.cost[rest]
    }

    fn emit(&self, t: &mut Tokens, byte: u8, r: usize) {
        let (k, mut rest) = Self::split(r);
        for _ in 0..k {
            t.matched(MAX_MATCH, 1);
        }
        while rest > 0 {
            let l = self.piece[rest] as usize;
            if l == 1 {
                t.literal(byte);
            } else {
                t.matched(l, 1);
            }
            rest -= l;
        }
    }
}

/// The run tables built last on this thread, by the prices they were built for: a table depends
/// only on its byte's literal price and the prices of distance-1 matches, which often stay the
/// same from one pass to the next and from one chunk to the next (a sparse list's code lengths
/// settle at once), and building one is a knapsack over 516 lengths.
#[derive(Default)]
struct RunTables {
    built: Vec<(u32, [u32; MAX_MATCH + 1], Rc<RunTable>)>,
    /// The entry to replace next once [`RUN_TABLES_KEPT`] are kept.
    oldest: usize,
}

/// Run tables kept per thread.
const RUN_TABLES_KEPT: usize = 8;

impl RunTables {
    /// The table of a byte whose literal costs `lit` and whose longest run is `longest` bytes:
    /// one built before under the same prices (for a run at least as long), or a new one.
    fn get(&mut self, lit: u32, prices: &Prices, longest: usize) -> Rc<RunTable> {
        let m = longest.min(RUN_TABLE);
        if let Some((_, _, t)) = self
            .built
            .iter()
            .find(|(l, rle, t)| *l == lit && t.cost.len() > m && *rle == prices.rle)
        {
            return Rc::clone(t);
        }
        let t = Rc::new(RunTable::new(lit, prices, longest));
        let entry = (lit, prices.rle, Rc::clone(&t));
        if self.built.len() < RUN_TABLES_KEPT {
            self.built.push(entry);
        } else {
            self.built[self.oldest] = entry;
            self.oldest = (self.oldest + 1) % RUN_TABLES_KEPT;
        }
        t
    }
}

/// Runs in the longest copy of a region from which that copy is taken to beat every path of
/// literals and run continuations through the same bytes (each run costs such a path a literal
/// at least), so that the parse does not price those paths there. Measured on the sweep: with
/// 4, one list of 45 grew by a byte (2-bit 1% clustered) and the lists with a revoked entry every
/// 37, 100 or 250 bytes encode 3-4x faster; with 2, lists with one every 997 bytes grew by a
/// third, beyond zlib-9's size.
const MANY_RUNS: usize = 4;

/// Whether the [`MANY_RUNS`] runs from a position on start within [`MAX_MATCH`] bytes of it:
/// the start of the last of them is cached per run, so that a long run asks [`run_ends`] once.
struct RunsAhead {
    /// The end of the run the cached answer is for, and the start of its last run.
    run_end: usize,
    last_start: usize,
}

impl RunsAhead {
    fn new() -> Self {
        Self {
            run_end: usize::MAX,
            last_start: usize::MAX,
        }
    }

    /// Whether `data[p..p + MAX_MATCH]` holds at least [`MANY_RUNS`] runs (`ends`: [`run_ends`]).
    fn many(&mut self, ends: &[u32], p: usize) -> bool {
        let end = ends[p] as usize;
        if end != self.run_end {
            let mut q = end;
            for _ in 2..MANY_RUNS {
                if q >= ends.len() {
                    break;
                }
                q = ends[q] as usize;
            }
            (self.run_end, self.last_start) = (end, q);
        }
        self.last_start < (p + MAX_MATCH).min(ends.len())
    }
}

/// Whether a bit after bit `p` of `reached` is set.
fn reached_beyond(reached: &[u64], p: usize) -> bool {
    let q = p + 1;
    let Some(&first) = reached.get(q / 64) else {
        return false;
    };
    first & (u64::MAX << (q % 64)) != 0 || reached[q / 64 + 1..].iter().any(|&w| w != 0)
}

/// Shortest path over `data[start..]` under `prices`; returns the tokens on it (`None` only if
/// the end was not reached, which the edges rule out).
// One relaxation loop over the edge kinds reads best in one place, and it needs every table.
#[allow(clippy::too_many_lines, clippy::too_many_arguments)]
fn shortest_path<const DENSE: bool>(
    data: &[u8],
    start: usize,
    cands: &[Candidate],
    by_start: &ByStart,
    ends: &[u32],
    longest: &[usize; 256],
    prices: &Prices,
    work: &mut Work,
    scratch: &mut Scratch,
) -> Option<Tokens> {
    let next_start = &by_start.next_start;
    let n = data.len();
    let dist_prices: Vec<u32> = cands
        .iter()
        .map(|c| prices.dist_sym[distance_symbol(c.dist as usize).0])
        .collect();
    let long = &by_start.long;
    let long_dist_prices: Vec<u32> = long
        .iter()
        .map(|c| prices.dist_sym[distance_symbol(c.dist as usize).0])
        .collect();
    // Regions that started at or before the current position and may still hold a copy.
    let (mut active, mut next_long) = (Vec::<usize>::new(), 0usize);
    let mut tables: Vec<Option<Rc<RunTable>>> = (0..256).map(|_| None).collect();
    let mut runs_ahead = RunsAhead::new();
    // cost[p]: cheapest bits to encode data[..p]; how[p]: (length, distance) of the last edge
    // (distance 0 = literal, RUN_EDGE = a run continuation split by the byte's table).
    // Both are read only where `reached` is set, so they are not initialised; but where edges
    // are many (`DENSE`), an unreached position costs `u32::MAX`, so that a relaxation is one
    // comparison (filling `cost` costs more than that saves where most positions are never
    // reached).
    let (mut cost, mut how) = (
        std::mem::take(&mut scratch.cost),
        std::mem::take(&mut scratch.how),
    );
    if DENSE {
        refill(&mut cost, n + 1, u32::MAX);
    } else {
        reuse(&mut cost, n + 1);
    }
    reuse(&mut how, n + 1);
    cost[start] = 0;
    // Positions some edge reaches, one bit each: the scan skips the rest 64 at a time (in a
    // sparse list almost every position lies inside a long run and is never reached).
    let mut reached = std::mem::take(&mut scratch.reached);
    refill(&mut reached, n / 64 + 1, 0);
    reached[start / 64] = 1 << (start % 64);
    // A macro, not a closure, so that every edge kind's relaxation is inlined.
    macro_rules! relax {
        ($from:expr, $to:expr, $c:expr, $len:expr, $dist:expr $(,)?) => {{
            let (from, to): (usize, usize) = ($from, $to);
            tally(&mut work.relaxations, 1);
            let total = cost[from] + $c;
            let bit = 1 << (to % 64);
            if (!DENSE && reached[to / 64] & bit == 0) || total < cost[to] {
                cost[to] = total;
                how[to] = ($len, $dist);
                reached[to / 64] |= bit;
            }
        }};
    }
    // Deep inside a region whose copies take in many runs, its copies start only where one of
    // them ended (or at its start): one chain of them covers it, and a chain from every other
    // position reached (every run end) would reach every byte. Where they take in few runs, runs
    // and literals may be cheaper and copies at the region's distance are wanted anywhere. (Not
    // at the parse's start either: no edge reached it, and `how` holds nothing.)
    macro_rules! chain_only {
        ($c:expr, $p:expr) => {{
            let (c, p): (Candidate, usize) = ($c, $p);
            c.start as usize + c.len as usize >= p + 2 * MAX_MATCH
                && p != c.start as usize
                && p != start
                && how[p].1 != c.dist
                && runs_ahead.many(ends, p)
        }};
    }
    let mut p = start;
    loop {
        let mut i = p / 64;
        let mut word = reached[i] & (u64::MAX << (p % 64));
        while word == 0 && i + 1 < reached.len() {
            i += 1;
            word = reached[i];
        }
        if word == 0 {
            break;
        }
        p = i * 64 + word.trailing_zeros() as usize;
        if p >= n {
            break;
        }
        while next_long < long.len() && long[next_long].start as usize <= p {
            active.push(next_long);
            next_long += 1;
        }
        active.retain(|&a| long[a].start as usize + long[a].len as usize >= p + MIN_MATCH);
        let byte = data[p];
        // Inside a run, a copy (or a copy's prefix) ending within the run is the same bytes as
        // the run continuation relaxed below, at a distance that costs more than distance 1
        // (in any list but a periodic one of few runs, where both are rare): only copies
        // reaching past the run are relaxed. (At a run's head there is no continuation.)
        let run_end = if p > 0 && byte == data[p - 1] {
            ends[p] as usize
        } else {
            p
        };
        if run_end > p {
            // Continue the run to its end or to the next match start inside it, each priced
            // with the best split into literals and distance-1 matches.
            let table = tables[byte as usize].get_or_insert_with(|| {
                scratch
                    .run_tables
                    .get(prices.lit[byte as usize], prices, longest[byte as usize])
            });
            let end = ends[p] as usize;
            let next = next_start[p + 1] as usize;
            let r = end - p;
            relax!(p, end, table.price(r, prices), r as u32, RUN_EDGE,);
            // In a region, also stop the run a whole number of longest copies short of its
            // end, where a copy at the region's distance may cross the byte after it: on
            // periodic data every copy can then be of the longest length.
            let whole = (r - 1) / MAX_MATCH * MAX_MATCH;
            if whole > 0 && p + whole != next {
                relax!(
                    p,
                    p + whole,
                    table.price(whole, prices),
                    whole as u32,
                    RUN_EDGE,
                );
            }
            if next < end {
                let r = next - p;
                relax!(p, next, table.price(r, prices), r as u32, RUN_EDGE,);
            }
            // Copies that start earlier in this run may start here instead.
            let mut k = by_start.first_in_run[end];
            while k != NONE {
                let c = cands[k as usize];
                let k_here = k;
                k = by_start.next_in_run[k as usize];
                let stop = c.start as usize + c.len as usize;
                if (c.start as usize) < p && stop >= p + MIN_MATCH {
                    let l = stop - p;
                    let price = prices.len[l] + dist_prices[k_here as usize];
                    relax!(p, stop, price, l as u32, c.dist);
                }
            }
        } else if !(!active.is_empty()
            && p >= 4
            && p + 3 < n
            && (data[p - 4..p + 4].windows(2).all(|w| w[0] != w[1]) || runs_ahead.many(ends, p))
            && active
                .iter()
                .any(|&a| long[a].start as usize + long[a].len as usize >= p + MAX_MATCH))
        {
            // Not where a region holds a copy of the longest length through bytes that are not
            // runs (dense periodic data: no two equal neighbours among the 8 around) or through
            // many runs (sparse periodic data: a revoked entry every few dozen bytes): there the
            // literals it beats need not be priced, and the positions after them are reached
            // only by copies and run ends, so the pass visits a few per 258 bytes instead of
            // each one.
            relax!(p, p + 1, prices.lit[byte as usize], 1, 0,);
        } else if active.iter().all(|&a| chain_only!(long[a], p)) && !reached_beyond(&reached, p) {
            // No edge leaves here (the regions' copies are all left out below): that is right
            // where some position beyond is reached, but the furthest one reached needs an edge
            // onwards, or the end is not reached.
            relax!(p, p + 1, prices.lit[byte as usize], 1, 0,);
        }
        for &a in &active {
            let c = long[a];
            if chain_only!(c, p) {
                continue;
            }
            let l = (c.start as usize + c.len as usize - p).min(MAX_MATCH);
            if p + l <= run_end {
                continue;
            }
            let dist_price = long_dist_prices[a];
            relax!(p, p + l, prices.len[l] + dist_price, l as u32, c.dist,);
            let mut q = next_start[(p + MIN_MATCH).max(run_end + 1)] as usize;
            while q < p + l {
                let l = q - p;
                relax!(p, q, prices.len[l] + dist_price, l as u32, c.dist,);
                q = next_start[q + 1] as usize;
            }
        }
        let mut k = by_start.first[p];
        while k != NONE {
            let c = cands[k as usize];
            let len = c.len as usize;
            let dist_price = dist_prices[k as usize];
            relax!(
                p,
                p + len,
                prices.len[len] + dist_price,
                u32::from(c.len),
                c.dist,
            );
            // A prefix of the copy is a copy too: end it where another match may start.
            let mut q = next_start[(p + MIN_MATCH).max(run_end + 1)] as usize;
            while q < p + len {
                let l = q - p;
                relax!(p, q, prices.len[l] + dist_price, l as u32, c.dist,);
                q = next_start[q + 1] as usize;
            }
            k = by_start.next[k as usize];
        }
        p += 1;
    }
    // The furthest position reached always has an edge onwards (a position left without one
    // has some position beyond it reached, above), so the end is reached; were it not (a bug),
    // `how` there would hold whatever the last parse left, and the walk back would not end.
    let end_reached = reached[n / 64] & (1 << (n % 64)) != 0;
    debug_assert!(end_reached, "the shortest path did not reach the end");
    if !end_reached {
        (scratch.cost, scratch.how, scratch.reached) = (cost, how, reached);
        return None;
    }
    let mut rev = Vec::new();
    let mut p = n;
    while p > start {
        let (len, dist) = how[p];
        rev.push((p - len as usize, len, dist));
        p -= len as usize;
    }
    let mut t = Tokens::with_capacity(rev.len());
    for &(at, len, dist) in rev.iter().rev() {
        match dist {
            0 => t.literal(data[at]),
            RUN_EDGE => tables[data[at] as usize]
                .as_ref()
                .expect("a run edge was priced with its table")
                .emit(&mut t, data[at], len as usize),
            _ => t.matched(len as usize, dist as usize),
        }
    }
    t.end_block();
    (scratch.cost, scratch.how, scratch.reached) = (cost, how, reached);
    Some(t)
}

/// The counts of `data[start..]`'s bytes (the end of block included), for a block of every
/// byte as a literal, when a parse would save too little over that to
/// be worth its time: on dense, nearly random bytes (a list with 10% or more of its entries set
/// at random positions) the parse found copies and runs that saved nothing, or 0.06% at most,
/// for 20–50× the time of this check. `None` elsewhere.
///
/// Checked where runs average under two bytes (elsewhere runs alone save much), by estimating
/// what copies could save: a greedy pass over the copies a 4-byte hash finds (see
/// [`copy_gain`]), against the literal-only block. Where its estimate is at least
/// 1/[`LITERALS_SUFFICE`] of that block the chunk is parsed (an 8-bit list with half its entries
/// set at random: estimated 0.90–0.97%, and the parse saves 1.2%).
pub(crate) fn literals_suffice(data: &[u8], start: usize) -> Option<[u32; LITLEN_CODES]> {
    let body = &data[start..];
    // Sparse and clustered chunks leave at their first bytes. (A chunk whose first bytes are
    // dense but not the rest is probed in vain: its runs are copies at distance 1.)
    let head = &body[..body.len().min(PROBE_HEAD)];
    if body.is_empty() || 2 * crate::deflate::runs(head) < head.len() {
        return None;
    }
    let mut litlen = [0u32; LITLEN_CODES];
    for (l, c) in litlen.iter_mut().zip(histogram(body)) {
        *l = c;
    }
    litlen[END_OF_BLOCK] = 1;
    let (literal_bits, lens) = crate::deflate::literal_block(&litlen);
    let gain = SCRATCH.with(|cell| {
        let mut scratch = cell.take();
        let gain = copy_gain(data, start, &lens, &mut scratch.probe);
        cell.replace(scratch);
        gain
    });
    (gain * LITERALS_SUFFICE < literal_bits).then_some(litlen)
}

/// See [`literals_suffice`]: 0.625%. On the lists of the sweep where the parse saved nothing,
/// the estimate was at most 0.40% (2-bit, 10% at random).
const LITERALS_SUFFICE: u64 = 160;
/// The price of a length or of a distance code (besides their extra bits) in [`copy_gain`]'s
/// estimate: near what those codes cost in a block of few copies (with 4, the estimate was
/// three times the parse's gain on the lists where copies pay; with 6, a third).
const PROBE_CODE_BITS: u64 = 5;
/// Slots of [`copy_gain`]'s hash table, as a power of two (8 bytes each: 64 KiB).
const PROBE_BITS: u32 = 13;
/// Bytes whose runs are counted first (see [`literals_suffice`]).
const PROBE_HEAD: usize = 4096;

/// Counts of each byte value in `data`, in four interleaved tables (one table is a chain of
/// increments of the same few counters on low-entropy bytes). Unchecked increments: a segment
/// is far below 2^32 bytes.
fn histogram(data: &[u8]) -> [u32; 256] {
    let mut c = [[0u32; 256]; 4];
    let mut quads = data.chunks_exact(4);
    for q in &mut quads {
        for (t, &b) in c.iter_mut().zip(q) {
            t[b as usize] = t[b as usize].wrapping_add(1);
        }
    }
    for &b in quads.remainder() {
        c[0][b as usize] += 1;
    }
    let mut out = [0u32; 256];
    for (i, o) in out.iter_mut().enumerate() {
        *o = c[0][i] + c[1][i] + c[2][i] + c[3][i];
    }
    out
}

/// Bits that copies would save over coding `data[start..]` in literals of code lengths `lens`,
/// estimated by one greedy pass: at each position the latest earlier one with the same hash of
/// four bytes (within the window, the dictionary `data[..start]` included) gives a copy, taken
/// (and skipped) where its literals cost more than the copy. A copy of any distance and
/// length, distance 1 included (runs), is found wherever it repeats four bytes.
fn copy_gain(data: &[u8], start: usize, lens: &[u8], table: &mut Vec<(u32, u32)>) -> u64 {
    refill(table, 1 << PROBE_BITS, (NONE, 0));
    let n = data.len();
    let word = |p: usize| u32::from_le_bytes(data[p..p + 4].try_into().unwrap_or([0; 4]));
    let slot = |w: u32| (w.wrapping_mul(0x9E37_79B1) >> (32 - PROBE_BITS)) as usize;
    // Each slot holds the latest position of its hash and the four bytes there, so a probe
    // reads no bytes but where a copy is found.
    for p in start.saturating_sub(WINDOW)..start.min(n.saturating_sub(3)) {
        let w = word(p);
        table[slot(w)] = (p as u32, w);
    }
    // Every position is indexed, every fourth looked up (the four words taken from one load of
    // eight bytes): a copy of 7 bytes or more contains a looked-up position, and its earlier
    // bytes are found by extending it backwards.
    let (mut gain, mut p, mut taken) = (0u64, start, start);
    while p + 8 <= n {
        let x = u64::from_le_bytes(data[p..p + 8].try_into().unwrap_or([0; 8]));
        let w = x as u32;
        let (y, seen) = table[slot(w)];
        for i in 0..4 {
            let w = (x >> (8 * i)) as u32;
            table[slot(w)] = ((p + i) as u32, w);
        }
        let y = y as usize;
        if seen == w && y != NONE as usize && p - y <= WINDOW {
            let tail = MAX_MATCH - 4;
            let mut l =
                4 + common_prefix(&data[p + 4..], &data[y + 4..], tail, &mut Work::default());
            let mut back = 0;
            while back < 3
                && p - back > taken
                && y > back
                && data[p - back - 1] == data[y - back - 1]
                && l < MAX_MATCH
            {
                back += 1;
                l += 1;
            }
            let p0 = p - back;
            let literals: u64 = data[p0..p0 + l]
                .iter()
                .map(|&b| u64::from(lens[b as usize]))
                .sum();
            let (_, length_extra, _) = length_symbol(l);
            let (_, distance_extra, _) = distance_symbol(p - y);
            let copy = 2 * PROBE_CODE_BITS + u64::from(length_extra + distance_extra);
            if literals > copy {
                gain += literals - copy;
                p = p0 + l;
                taken = p;
                continue;
            }
        }
        p += 4;
    }
    gain
}

/// Tokens for `data[start..]`, starting from the prices implied by `initial` (a cheap first
/// parse of it) and the copies of the regions found; the passes' smallest block is kept. `data[..start]` is a dictionary: bytes the decoder has already produced (at
/// most one window), which copies may reference.
pub(crate) fn optimal_tokens(data: &[u8], start: usize, initial: Tokens) -> Tokens {
    optimal_tokens_counted(data, start, initial, &mut Work::default())
}

/// [`optimal_tokens`], adding the work it did to `work`.
pub(crate) fn optimal_tokens_counted(
    data: &[u8],
    start: usize,
    initial: Tokens,
    work: &mut Work,
) -> Tokens {
    SCRATCH.with(|cell| {
        let mut scratch = cell.take();
        let t = parse_with(data, start, initial, work, &mut scratch);
        cell.replace(scratch);
        t
    })
}

fn parse_with(
    data: &[u8],
    start: usize,
    initial: Tokens,
    work: &mut Work,
    scratch: &mut Scratch,
) -> Tokens {
    let ends = run_ends(data, std::mem::take(&mut scratch.ends));
    let effort = Effort::for_chunk(data, start, &ends);
    let (cands, long) = find_candidates(data, start, &ends, effort, work, scratch);
    if cands.is_empty() {
        scratch.ends = ends;
        return initial;
    }
    let mut longest = [0usize; 256];
    let mut p = start;
    while p < data.len() {
        let e = ends[p] as usize;
        let l = &mut longest[data[p] as usize];
        *l = (*l).max(e - p);
        p = e;
    }
    // Regions (periodic data) seed the first prices with their copies: priced as unused
    // symbols, copies at a new distance never beat the run-length parse they start from.
    let (mut litlen, mut dist) = (initial.litlen, initial.dist);
    for c in &long {
        let copies = (c.len as usize).div_ceil(MAX_MATCH) as u32;
        litlen[length_symbol(MAX_MATCH).0] += copies;
        dist[distance_symbol(c.dist as usize).0] += copies;
    }
    // So do the candidates' distances, at half their count: the run-length parse uses no
    // distance but 1, and a copy priced at 8 bits for its distance code loses to literals where
    // it wins once such distances are in use (the passes then settle in a cheaper mix: the
    // sweep's lists 2,256 bytes smaller in all, 1-bit 1% uniform 13,246 → 13,201, five lists
    // 1–16 bytes larger; every candidate counted once saved 1,981, a quarter of them 1,611).
    let mut seen = [0u32; DIST_CODES];
    for c in &cands {
        seen[distance_symbol(c.dist as usize).0] += 1;
    }
    for (d, s) in dist.iter_mut().zip(seen) {
        *d += s.div_ceil(2);
    }
    let by_start = ByStart::new(&cands, long, data.len(), &ends, scratch);
    let mut best_bits = crate::deflate::block_bits(&initial.litlen, &initial.dist);
    let mut best = initial;
    // At least a candidate per 8 bytes: most positions are reached (see `shortest_path`).
    let dense = cands.len() * 8 >= data.len() - start;
    for _ in 0..effort.passes {
        let prices = Prices::from_frequencies(&litlen, &dist);
        let path = if dense {
            shortest_path::<true>(
                data, start, &cands, &by_start, &ends, &longest, &prices, work, scratch,
            )
        } else {
            shortest_path::<false>(
                data, start, &cands, &by_start, &ends, &longest, &prices, work, scratch,
            )
        };
        let Some(t) = path else {
            break;
        };
        (litlen, dist) = (t.litlen, t.dist);
        let bits = crate::deflate::block_bits(&t.litlen, &t.dist);
        if bits < best_bits {
            (best, best_bits) = (t, bits);
        }
    }
    by_start.give_back(&cands, &ends, scratch);
    scratch.ends = ends;
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// A 1-bit list (LSB first) with every `k`th entry set, `n` bytes.
    fn every(k: usize, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        for i in (0..n * 8).step_by(k) {
            b[i / 8] |= 1 << (i % 8);
        }
        b
    }

    fn random(n: usize, rng: &mut Rng) -> Vec<u8> {
        (0..n).map(|_| rng.next() as u8).collect()
    }

    /// `n` bytes of a list of `bits`-bit entries, each set with probability `set`/256 to a
    /// value drawn from 1..=3 (1 on a 1-bit list), as the sweep's uniform lists.
    fn dense(n: usize, bits: u32, set: u64, rng: &mut Rng) -> Vec<u8> {
        let top = if bits == 1 { 1 } else { 3 };
        (0..n)
            .map(|_| {
                (0..8 / bits).fold(0u8, |b, k| {
                    let v = if rng.next() % 256 < set {
                        1 + rng.next() % top
                    } else {
                        0
                    };
                    b | (v as u8) << (k * bits)
                })
            })
            .collect()
    }

    fn block_bits_of(t: &Tokens) -> u64 {
        crate::deflate::block_bits(&t.litlen, &t.dist)
    }

    /// On dense, nearly random lists (where the parse found nothing worth a copy) every byte
    /// is a literal, in a block no larger than the parse's.
    #[test]
    fn dense_random_chunks_are_literals() {
        let mut rng = Rng(17);
        let cases = [
            ("random bytes", random(CHUNK, &mut rng)),
            ("1-bit, 10% set", dense(CHUNK, 1, 26, &mut rng)),
            ("1-bit, 50% set", dense(CHUNK, 1, 128, &mut rng)),
            ("2-bit, 10% set", dense(CHUNK, 2, 26, &mut rng)),
            ("2-bit, 50% set", dense(CHUNK, 2, 128, &mut rng)),
        ];
        for (name, data) in cases {
            let litlen = literals_suffice(&data, 0).unwrap_or_else(|| panic!("{name}: parsed"));
            assert_eq!(
                litlen.iter().sum::<u32>() as usize,
                data.len() + 1,
                "{name}"
            );
            let parsed = optimal_tokens(&data, 0, crate::deflate::tokenize(&data));
            let lit = crate::deflate::block_bits(&litlen, &[0; DIST_CODES]);
            let par = block_bits_of(&parsed);
            assert!(
                lit * 1000 <= par * 1001,
                "{name}: literals {lit} bits, parse {par}"
            );
        }
    }

    /// Everywhere copies or runs pay, the chunk is parsed: sparse and periodic lists, repeated
    /// blocks, random bytes whose second half repeats the first (found only in that half), random
    /// bytes with an 8-byte word every 32, an 8-bit list with half its entries set at random
    /// (copies save 1.2% there), a sparse list after random first bytes, and random bytes after
    /// a dictionary they repeat. In each the
    /// parse is smaller than the literals by more than the threshold.
    #[test]
    fn chunks_where_copies_pay_are_parsed() {
        let mut rng = Rng(23);
        let mut cases = repetitive_inputs(CHUNK);
        cases.push(("every 1000th entry".into(), every(1000, CHUNK)));
        let half = random(WINDOW / 2, &mut rng);
        cases.push(("second half repeats the first".into(), half.repeat(2)));
        let mut words = random(CHUNK, &mut rng);
        for p in (0..CHUNK - 8).step_by(32) {
            words[p..p + 8].copy_from_slice(b"revoked!");
        }
        cases.push(("a word every 32 bytes".into(), words));
        cases.push(("8-bit, 50% set".into(), dense(CHUNK, 8, 128, &mut rng)));
        // Dense only where the runs are counted first: the probe sees the zeros as copies.
        let mut head = random(PROBE_HEAD, &mut rng);
        head.extend(every(1000, CHUNK - PROBE_HEAD));
        cases.push(("random first bytes, then sparse".into(), head));
        for (name, data) in &cases {
            assert!(literals_suffice(data, 0).is_none(), "{name}: literals only");
            let mut litlen = [0u32; LITLEN_CODES];
            for &b in data {
                litlen[b as usize] += 1;
            }
            litlen[END_OF_BLOCK] = 1;
            let lit = crate::deflate::block_bits(&litlen, &[0; DIST_CODES]);
            let parsed = optimal_tokens(data, 0, crate::deflate::tokenize(data));
            let par = block_bits_of(&parsed);
            assert!(
                par * LITERALS_SUFFICE < lit * (LITERALS_SUFFICE - 1),
                "{name}: the parse ({par} bits) saves too little over literals ({lit}) to be a case"
            );
        }
        // The same random bytes as the dictionary before them: every byte is a copy.
        let dict = random(4096, &mut rng);
        let whole = dict.repeat(2);
        assert!(
            literals_suffice(&whole, 4096).is_none(),
            "dictionary repeated"
        );
        let parsed = optimal_tokens(&whole, 4096, crate::deflate::tokenize(&whole[4096..]));
        assert!(
            block_bits_of(&parsed) < 8 * 100,
            "dictionary repeated: {} bits",
            block_bits_of(&parsed)
        );
    }

    /// The tables a parse leaves empty for the next one on its thread (cleared slot by slot or
    /// whole) really are empty: after dense, sparse and periodic parses of other data, in turn
    /// and at other sizes, each input gets exactly the tokens a fresh thread gives it.
    #[test]
    fn a_parse_leaves_nothing_behind_for_the_next() {
        let mut rng = Rng(5);
        let inputs: Vec<Vec<u8>> = vec![
            random(70_000, &mut rng),
            every(97, 40_000),
            (0..65_536).map(|i| u8::from(i % 997 == 0)).collect(),
            random(3_000, &mut rng)
                .into_iter()
                .map(|b| b & 0x11)
                .collect(),
            every(5, 200_000),
            vec![0; 10_000],
        ];
        let tokens = |data: &[u8]| optimal_tokens(data, 0, crate::deflate::tokenize(data));
        let fresh: Vec<Vec<u32>> = inputs
            .iter()
            .map(|data| {
                let data = data.clone();
                std::thread::spawn(move || tokens(&data).stream().to_vec())
                    .join()
                    .unwrap_or_default()
            })
            .collect();
        for round in 0..2 {
            for (k, data) in inputs.iter().enumerate() {
                assert_eq!(
                    tokens(data).stream(),
                    &fresh[k][..],
                    "input {k}, round {round}"
                );
            }
        }
    }

    /// Inputs whose copies are long everywhere, the worst case of an LZ77 search, and ordinary
    /// ones to compare them with.
    fn repetitive_inputs(n: usize) -> Vec<(String, Vec<u8>)> {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut out: Vec<(String, Vec<u8>)> = [2, 3, 5, 13, 100, 997]
            .iter()
            .map(|&k| (format!("every {k}th entry"), every(k, n)))
            .collect();
        for period in [64, 250, 257, 259, 1000] {
            let unit = random(period, &mut rng);
            let data = unit.iter().copied().cycle().take(n).collect();
            out.push((format!("{period}-byte repeat"), data));
        }
        // Copies that stop just short of the longest length: a block repeated with one byte
        // changed per repetition.
        for block in [100, 200, 257] {
            let mut data: Vec<u8> = random(block, &mut rng)
                .into_iter()
                .cycle()
                .take(n)
                .collect();
            for p in (block..n).step_by(block) {
                data[p] = rng.next() as u8;
            }
            out.push((format!("{block}-byte block, one change each"), data));
        }
        out
    }

    const CHUNK: usize = 64 * 1024;

    fn work_per_byte(data: &[u8]) -> f64 {
        let mut work = Work::default();
        let t = optimal_tokens_counted(data, 0, crate::deflate::tokenize(data), &mut work);
        assert!(t.litlen[256] == 1);
        work.total() as f64 / data.len() as f64
    }

    /// The parse's work per byte stays within a small constant of random data's on inputs where
    /// every position has a long copy (periodic lists, repeated blocks, blocks repeated with one
    /// change, whose copies stop just short of the longest length). Before the search was
    /// bounded, these cost 500-900 units per byte (1-2 s per MiB); random bytes cost ~3.5.
    #[test]
    fn work_per_byte_is_bounded_on_repetitive_inputs() {
        for n in [CHUNK, 4 * CHUNK] {
            let mut rng = Rng(5);
            let random_work = work_per_byte(&random(n, &mut rng));
            assert!(
                random_work < 8.0,
                "random bytes: {random_work:.2} units per byte"
            );
            for (name, data) in repetitive_inputs(n) {
                let w = work_per_byte(&data);
                assert!(
                    w <= 8.0 && w <= 2.0 * random_work,
                    "{name}, {n} bytes: {w:.2} units per byte (random: {random_work:.2})"
                );
            }
        }
    }

    /// The cached run count agrees with counting the runs of each window of the longest copy.
    #[test]
    fn runs_ahead_counts_the_runs_of_the_window() {
        let mut rng = Rng(11);
        for n in [1, 5, 300, 5000] {
            // Runs of random lengths (mostly short, some longer than a window).
            let mut data = Vec::with_capacity(n);
            while data.len() < n {
                let byte = (rng.next() % 3) as u8;
                let len = 1 + (rng.next() % if rng.next() % 4 == 0 { 400 } else { 6 }) as usize;
                data.extend(std::iter::repeat_n(byte, len.min(n - data.len())));
            }
            let ends = run_ends(&data, Vec::new());
            let mut ahead = RunsAhead::new();
            for p in 0..n {
                let window = &data[p..(p + MAX_MATCH).min(n)];
                let runs = 1 + window.windows(2).filter(|w| w[0] != w[1]).count();
                assert_eq!(ahead.many(&ends, p), runs >= MANY_RUNS, "n {n}, at {p}");
            }
        }
    }

    /// Sparse periodic lists (a non-zero byte every few dozen or hundred bytes) are regions whose
    /// copies take in many runs: the parse visits a few positions per copy there, not every
    /// byte (a chain of copies from every run end reached them all: ~4 relaxations per byte).
    #[test]
    fn sparse_periodic_regions_are_one_chain_of_copies() {
        let n = 4 * CHUNK;
        for k in [37, 100, 250] {
            let mut data = vec![0u8; n];
            for p in (0..n).step_by(k) {
                data[p] = 1 + (p % 3) as u8;
            }
            let w = work_per_byte(&data);
            assert!(w < 1.0, "one in {k}: {w:.2} units per byte");
        }
    }

    /// On periodic data the parse is the first period, then copies of the longest length: no
    /// literals where the copies' phase drifts against the period.
    #[test]
    fn periodic_data_is_copies_of_the_longest_length() {
        let mut rng = Rng(11);
        let mut inputs: Vec<(String, usize, Vec<u8>)> = [(3, 3), (5, 5), (13, 13), (100, 25)]
            .iter()
            .map(|&(k, period)| (format!("every {k}th entry"), period, every(k, CHUNK)))
            .collect();
        for period in [64, 257, 1000] {
            let unit = random(period, &mut rng);
            let data = unit.iter().copied().cycle().take(CHUNK).collect();
            inputs.push((format!("{period}-byte repeat"), period, data));
        }
        // Sparse: the zero runs are copies at distance 1 until the last 258 bytes before each
        // non-zero byte, which a copy one period back crosses (no literals after the first
        // period, even though the copy's distance is unused in the run-length parse the prices
        // start from).
        for period in [100, 997, 4093] {
            let data = (0..CHUNK).map(|i| u8::from(i % period == 0)).collect();
            inputs.push((format!("one byte in {period}"), period, data));
        }
        for (name, period, data) in inputs {
            let t = optimal_tokens(&data, 0, crate::deflate::tokenize(&data));
            let copies = t.litlen[285] as usize;
            let literals: u32 = t.litlen[..256].iter().sum();
            assert!(
                copies + 2 >= (CHUNK - period) / MAX_MATCH,
                "{name}: {copies} copies of 258 bytes, {literals} literals"
            );
        }
    }

    /// The run-skipping prefix equals the word-by-word one, on sparse, run-heavy and random
    /// bytes, at every pair of positions of a small window and every limit.
    #[test]
    fn run_prefix_equals_common_prefix() {
        let mut rng = Rng(3);
        let mut inputs = vec![random(600, &mut rng), every(7, 600), vec![0u8; 600]];
        let mut runs = Vec::new();
        while runs.len() < 600 {
            let (byte, len) = (rng.next() as u8 % 3, 1 + rng.next() as usize % 40);
            runs.extend(std::iter::repeat_n(byte, len));
        }
        runs.truncate(600);
        inputs.push(runs);
        let mut sparse = vec![0u8; 600];
        for p in (0..600).step_by(37) {
            sparse[p] = 1;
        }
        inputs.push(sparse);
        let mut work = Work::default();
        for data in &inputs {
            let ends = run_ends(data, Vec::new());
            for a in (1..data.len()).step_by(7) {
                for b in (0..a).step_by(5) {
                    for limit in [3, 9, 64, 258] {
                        assert_eq!(
                            run_prefix(data, &ends, a, b, limit, &mut work),
                            common_prefix(&data[a..], &data[b..], limit, &mut work),
                            "a {a}, b {b}, limit {limit}"
                        );
                    }
                }
            }
        }
    }

    /// Two revoked entries the same distance apart as two seen far back, beyond more recent
    /// copies of the first with the second elsewhere than the pair chain examines, are found
    /// as one copy taking in both (by their signature); and only a copy that does take in
    /// both is looked up that way (the same entries at another distance apart are not).
    #[test]
    fn a_pair_of_changes_seen_far_back_is_found_by_its_signature() {
        let mut data = vec![0u8; 4000];
        data[100] = 1;
        data[140] = 2;
        for k in 0..2 * PAIR_LIMIT {
            data[200 + 90 * k] = 1;
            data[217 + 90 * k] = 2;
        }
        data[3100] = 1;
        data[3140] = 2;
        let candidates = |data: &[u8]| {
            let ends = run_ends(data, Vec::new());
            let mut scratch = Scratch::default();
            find_candidates(data, 0, &ends, NORMAL, &mut Work::default(), &mut scratch).0
        };
        let covers_both = |c: &Candidate| {
            let (from, to) = (c.start as usize, c.start as usize + c.len as usize);
            from <= 3100 && to > 3140
        };
        assert!(
            candidates(&data)
                .iter()
                .any(|c| c.dist == 3000 && covers_both(c)),
            "no copy of both entries from 3,000 back"
        );
        // Without the far pair, no copy of both exists at all.
        data[140] = 0;
        data[141] = 2;
        let cands = candidates(&data);
        assert!(!cands.iter().any(covers_both));
    }

    #[test]
    fn length_edges_are_the_ends_of_every_length_symbol() {
        let mut edges = Vec::new();
        for l in MIN_MATCH..=MAX_MATCH {
            let sym = length_symbol(l).0;
            let first = l == MIN_MATCH || length_symbol(l - 1).0 != sym;
            let last = l == MAX_MATCH || length_symbol(l + 1).0 != sym;
            if first || last {
                edges.push(l as u16);
            }
        }
        assert_eq!(edges, LENGTH_EDGES);
    }

    /// A kept run table is handed out only for the prices it was built under and a run no longer
    /// than it covers; otherwise a new one is built, equal to one built directly.
    #[test]
    fn run_tables_are_reused_only_under_their_prices() {
        let prices_from = |seed: u32| {
            let mut litlen = [1u32; LITLEN_CODES];
            let mut dist = [1u32; DIST_CODES];
            for (i, f) in litlen.iter_mut().chain(dist.iter_mut()).enumerate() {
                *f += (i as u32 * seed) % 97;
            }
            Prices::from_frequencies(&litlen, &dist)
        };
        let same = |a: &RunTable, b: &RunTable| a.cost == b.cost && a.piece == b.piece;
        let mut kept = RunTables::default();
        let (p1, p2) = (prices_from(7), prices_from(11));
        assert!(p1.rle != p2.rle);
        let a = kept.get(p1.lit[0], &p1, 100);
        assert!(Rc::ptr_eq(&a, &kept.get(p1.lit[0], &p1, 100)));
        assert!(Rc::ptr_eq(&a, &kept.get(p1.lit[0], &p1, 50)));
        // A longer run, another literal price, other match prices: each a table of its own.
        for (lit, prices, longest) in [
            (p1.lit[0], &p1, 300),
            (p1.lit[0] + 1, &p1, 100),
            (p2.lit[0], &p2, 100),
        ] {
            let t = kept.get(lit, prices, longest);
            assert!(!Rc::ptr_eq(&a, &t));
            assert!(same(&t, &RunTable::new(lit, prices, longest)));
        }
        // Once more tables were built than are kept, the first is built again.
        for k in 0..RUN_TABLES_KEPT as u32 {
            kept.get(1000 + k, &p2, 10);
        }
        assert!(!Rc::ptr_eq(&a, &kept.get(p1.lit[0], &p1, 100)));
    }

    /// The run table's split equals a brute-force knapsack over every piece length, under
    /// irregular prices, and its pieces add up.
    #[test]
    fn run_table_is_an_exact_knapsack() {
        let mut x = 12_345u32;
        for _ in 0..20 {
            let mut litlen = [0u32; LITLEN_CODES];
            let mut dist = [0u32; DIST_CODES];
            for f in litlen.iter_mut().chain(dist.iter_mut()) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *f = if x % 3 == 0 { 0 } else { x % 1000 };
            }
            let prices = Prices::from_frequencies(&litlen, &dist);
            let lit = prices.lit[0];
            let table = RunTable::new(lit, &prices, RUN_TABLE);
            let mut brute = vec![0u32; RUN_TABLE + 1];
            for r in 1..=RUN_TABLE {
                brute[r] = brute[r - 1] + lit;
                for l in MIN_MATCH..=r.min(MAX_MATCH) {
                    brute[r] = brute[r].min(brute[r - l] + prices.rle[l]);
                }
                assert_eq!(table.cost[r], brute[r], "r = {r}");
            }
            for r in [1, 2, 3, 300, RUN_TABLE, 5000] {
                let mut t = Tokens::with_capacity(64);
                table.emit(&mut t, 0, r);
                let covered: usize = t
                    .stream()
                    .iter()
                    .map(|&tok| {
                        if tok >> 31 == 0 {
                            1
                        } else {
                            ((tok >> 16) & 0x1ff) as usize
                        }
                    })
                    .sum();
                assert_eq!(covered, r);
            }
        }
    }
}
