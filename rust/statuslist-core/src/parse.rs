//! Near-optimal parsing for the DEFLATE encoder: a shortest-path search over a chunk where the
//! edges are literals, run continuations (distance-1 matches) and the LZ77 matches that can beat
//! them, priced with the Huffman code lengths of the previous pass.
//!
//! Status lists make the match search cheap. A match made only of one repeated byte is never
//! better than a distance-1 match, so the only matches worth finding contain a change of byte.
//! Those are found from *anchors*: positions whose four bytes are not a single repeated byte
//! (in a sparse list, the non-zero bytes). Each anchor looks up earlier anchors with the same four
//! bytes, extends the match forwards and backwards (into the run before it), and the search then
//! prices "reach the match start by run, take the match" against "literal + run".

use crate::deflate::{
    distance_symbol, length_symbol, Tokens, DIST_CODES, LITLEN_CODES, MAX_MATCH, MIN_MATCH,
};

/// DEFLATE's window.
const WINDOW: usize = 32 * 1024;
/// Earlier anchors examined per anchor; bounds the search on dense, repetitive data.
const CHAIN_LIMIT: usize = 16;
const HASH_BITS: u32 = 15;
/// Price passes after the initial one (each re-prices with the code lengths the last one chose).
const PASSES: usize = 1;
const NONE: u32 = u32::MAX;

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

    #[inline]
    fn matched(&self, len: usize, dist: usize) -> u32 {
        self.len[len] + self.dist_sym[distance_symbol(dist).0]
    }
}

/// End (exclusive) of the run of equal bytes containing `p`, for every `p`.
fn run_ends(data: &[u8]) -> Vec<u32> {
    let mut ends = vec![0u32; data.len()];
    let mut end = data.len();
    for p in (0..data.len()).rev() {
        if p + 1 < data.len() && data[p + 1] != data[p] {
            end = p + 1;
        }
        ends[p] = end as u32;
    }
    ends
}

fn common_prefix(a: &[u8], b: &[u8], limit: usize) -> usize {
    let limit = limit.min(a.len()).min(b.len());
    let mut n = 0;
    while n + 8 <= limit {
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

/// Match candidates, in discovery order.
///
/// Anchors are run heads (a byte different from its predecessor) whose next four bytes are not
/// one repeated byte; a match starting inside the run before an anchor is found as the anchor's
/// backward extension, so those positions need no anchors of their own.
fn find_candidates(data: &[u8]) -> Vec<Candidate> {
    let n = data.len();
    let mut out = Vec::new();
    if n < 4 {
        return out;
    }
    let mut head = vec![NONE; 1 << HASH_BITS];
    let mut prev = vec![NONE; n];
    let mut run_first = vec![0u32; n];
    for x in 0..n {
        run_first[x] = if x > 0 && data[x - 1] == data[x] {
            run_first[x - 1]
        } else {
            x as u32
        };
    }
    for x in 0..n - 3 {
        if x > 0 && data[x - 1] == data[x] {
            continue; // not a run head
        }
        let word = u32::from_le_bytes([data[x], data[x + 1], data[x + 2], data[x + 3]]);
        if word == u32::from(data[x]) * 0x0101_0101 {
            continue; // a pure run: distance-1 matches already cover it
        }
        let h = (word.wrapping_mul(0x9e37_79b1) >> (32 - HASH_BITS)) as usize;
        let mut y = head[h];
        prev[x] = y;
        head[h] = x as u32;
        let mut best = MIN_MATCH - 1;
        let mut steps = 0;
        while y != NONE && steps < CHAIN_LIMIT && x - y as usize <= WINDOW {
            let yu = y as usize;
            let forward = common_prefix(&data[x..], &data[yu..], MAX_MATCH);
            if forward >= MIN_MATCH {
                // Extend backwards through the runs that precede both, then byte by byte.
                let mut back = 0;
                if yu > 0 && data[x - 1] == data[yu - 1] {
                    back = (x - run_first[x - 1] as usize).min(yu - run_first[yu - 1] as usize);
                }
                back = back.min(MAX_MATCH - forward);
                while back < yu
                    && forward + back < MAX_MATCH
                    && data[x - back - 1] == data[yu - back - 1]
                {
                    back += 1;
                }
                // Nearer candidates are cheaper; keep a farther one only if it is longer.
                if forward + back > best {
                    best = forward + back;
                    let dist = (x - yu) as u16;
                    out.push(Candidate {
                        start: (x - back) as u32,
                        len: (forward + back) as u16,
                        dist,
                    });
                    if back > 0 {
                        out.push(Candidate {
                            start: x as u32,
                            len: forward as u16,
                            dist,
                        });
                    }
                }
            }
            y = prev[yu];
            steps += 1;
        }
    }
    out
}

/// Candidates grouped by start position (singly linked lists, no sort needed).
struct ByStart {
    first: Vec<u32>,
    next: Vec<u32>,
    /// `next_start[p]`: the first position at or after `p` where a candidate starts.
    next_start: Vec<u32>,
}

impl ByStart {
    fn new(cands: &[Candidate], n: usize) -> Self {
        let mut first = vec![NONE; n + 1];
        let mut next = vec![NONE; cands.len()];
        for (k, c) in cands.iter().enumerate().rev() {
            next[k] = first[c.start as usize];
            first[c.start as usize] = k as u32;
        }
        let mut next_start = vec![NONE; n + MIN_MATCH + 1];
        for p in (0..n).rev() {
            next_start[p] = if first[p] == NONE {
                next_start[p + 1]
            } else {
                p as u32
            };
        }
        Self {
            first,
            next,
            next_start,
        }
    }
}

/// Shortest path over the chunk under `prices`; returns the tokens on it.
fn shortest_path(
    data: &[u8],
    cands: &[Candidate],
    by_start: &ByStart,
    ends: &[u32],
    prices: &Prices,
) -> Tokens {
    let next_start = &by_start.next_start;
    let n = data.len();
    // cost[p]: cheapest bits to encode data[..p]; how[p]: (length, distance) of the last edge
    // (distance 0 = literal).
    let mut cost = vec![u32::MAX; n + 1];
    let mut how = vec![(0u16, 0u16); n + 1];
    cost[0] = 0;
    let mut relax = |cost: &mut Vec<u32>, from: usize, to: usize, c: u32, len: u16, dist: u16| {
        let total = cost[from] + c;
        if total < cost[to] {
            cost[to] = total;
            how[to] = (len, dist);
        }
    };
    for p in 0..n {
        if cost[p] == u32::MAX {
            continue;
        }
        let in_run = p > 0 && data[p] == data[p - 1];
        if in_run {
            // Continue the run: to its end, to the next match start inside it, or 258 on.
            let end = ends[p] as usize;
            let far = end.min(p + MAX_MATCH);
            let next = next_start[p + MIN_MATCH] as usize;
            if far - p >= MIN_MATCH {
                relax(&mut cost, p, far, prices.rle[far - p], (far - p) as u16, 1);
            }
            if next < far {
                relax(
                    &mut cost,
                    p,
                    next,
                    prices.rle[next - p],
                    (next - p) as u16,
                    1,
                );
            }
            // Inside a run a literal only helps where no run edge fits yet; leaving the other
            // positions unreached lets the loop skip them.
            if end - p < 2 * MIN_MATCH || (next_start[p] as usize) < p + 2 * MIN_MATCH {
                relax(&mut cost, p, p + 1, prices.lit[data[p] as usize], 1, 0);
            }
        } else {
            relax(&mut cost, p, p + 1, prices.lit[data[p] as usize], 1, 0);
        }
        let mut k = by_start.first[p];
        while k != NONE {
            let c = cands[k as usize];
            let len = c.len as usize;
            relax(
                &mut cost,
                p,
                p + len,
                prices.matched(len, c.dist as usize),
                c.len,
                c.dist,
            );
            k = by_start.next[k as usize];
        }
    }
    let mut rev = Vec::new();
    let mut p = n;
    while p > 0 {
        let (len, dist) = how[p];
        rev.push((p - len as usize, len, dist));
        p -= len as usize;
    }
    let mut t = Tokens::with_capacity(rev.len());
    for &(at, len, dist) in rev.iter().rev() {
        if dist == 0 {
            t.literal(data[at]);
        } else {
            t.matched(len as usize, dist as usize);
        }
    }
    t.end_block();
    t
}

/// Tokens for `data`, starting from the prices implied by `initial` (a cheap first parse).
pub(crate) fn optimal_tokens(data: &[u8], initial: Tokens) -> Tokens {
    let cands = find_candidates(data);
    if cands.is_empty() {
        return initial;
    }
    let ends = run_ends(data);
    let by_start = ByStart::new(&cands, data.len());
    let mut best = initial;
    for _ in 0..PASSES {
        let prices = Prices::from_frequencies(&best.litlen, &best.dist);
        best = shortest_path(data, &cands, &by_start, &ends, &prices);
    }
    best
}
