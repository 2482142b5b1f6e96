//! Key numbers: uniform draws, the keys of one cluster node, and their fixed-width decimal
//! digits.

use crate::cluster::SLOTS;
use crate::zipf::Zipf;

/// The key numbers of `0..keyspacelen` whose hash tag lands in one node's slots, numbered
/// `0..len()` without a table of keys (cluster mode binds each connection to one node).
///
/// Key number `k` carries the hash tag `k % 16384`, so the node's keys are `t + 16384 j` for
/// each tag `t` it owns: index `i` maps to tag `tags[i % n]` and round `i / n`, and the last,
/// partial round holds only the tags below `keyspacelen % 16384`.
#[derive(Debug, Clone)]
pub(crate) struct NodeKeys {
    /// The tags whose slot the node owns, ascending.
    pub(super) tags: Vec<u16>,
    /// Whole rounds of 16384 key numbers in the keyspace.
    pub(super) full: u64,
    /// Tags below `rem` (a prefix of `tags`).
    pub(super) below_rem: u64,
    /// Zipf key order: the distribution over the node's keys (its first key hottest).
    pub(super) zipf: Option<Zipf>,
}

impl NodeKeys {
    /// Number of the node's key numbers (without a keyspace: number of its tags).
    pub(crate) fn len(&self) -> u64 {
        self.full * self.tags.len() as u64 + self.below_rem
    }

    /// Key number `i` of the node (`i < len()`).
    pub(super) fn nth(&self, i: u64) -> u64 {
        let n = self.tags.len() as u64;
        if i < self.full * n {
            u64::from(self.tags[(i % n) as usize]) + SLOTS as u64 * (i / n)
        } else {
            u64::from(self.tags[(i - self.full * n) as usize]) + SLOTS as u64 * self.full
        }
    }
}

/// The key numbers with tag `t` (`t % 16384`): the `r`-th of them, modulo their count.
pub(super) fn same_tag(t: u64, r: u64, space: u64) -> u64 {
    let count = (space / SLOTS as u64 + u64::from(t < space % SLOTS as u64)).max(1);
    t + SLOTS as u64 * (r % count)
}

/// Per-connection generator state.
pub(crate) struct KeyGen {
    pub(super) rng: u64,
    pub(super) counter: u64,
}

impl KeyGen {
    /// A double in `[0, 1)` (the top 53 bits of the next number).
    pub(super) fn next_unit(&mut self) -> f64 {
        (self.next_rand() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub(super) fn next_rand(&mut self) -> u64 {
        // splitmix64 (Steele, Lea, Flood: "Fast splittable pseudorandom number generators").
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Writes `v` as `buf.len()` zero-padded decimal digits (the low digits when it is longer).
pub(super) fn write_digits(buf: &mut [u8], mut v: u64) {
    if let Ok(twelve) = <&mut [u8; 12]>::try_from(&mut *buf) {
        // Key numbers: two independent halves of three digit pairs each.
        let v = v % 1_000_000_000_000;
        write_six(&mut twelve[..6], (v / 1_000_000) as u32);
        write_six(&mut twelve[6..], (v % 1_000_000) as u32);
        return;
    }
    for b in buf.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// The decimal digit pairs `00` to `99`.
pub(super) const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Writes `v` (below 1 000 000) as six zero-padded digits.
pub(super) fn write_six(out: &mut [u8], v: u32) {
    let pairs = [v / 10_000, (v / 100) % 100, v % 100];
    for (dst, p) in out.chunks_exact_mut(2).zip(pairs) {
        let p = p as usize * 2;
        dst.copy_from_slice(&DIGIT_PAIRS[p..p + 2]);
    }
}

/// A uniform number below `n` from a uniform 64-bit `r` (the high half of `r × n`: no
/// division).
pub(super) fn below(r: u64, n: u64) -> u64 {
    ((u128::from(r) * u128::from(n)) >> 64) as u64
}
