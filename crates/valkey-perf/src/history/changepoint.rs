//! Change points in one series over commits: E-divisive means (Matteson & James 2014, "A
//! nonparametric approach for multiple change point analysis of multivariate data", JASA
//! 109(505), with α = 1), the method behind MongoDB's performance CI and Apache Otava. The
//! series is split by binary segmentation: the split with the largest energy statistic among
//! the current segments is kept when a permutation test (values shuffled within their
//! segments) says so at level α. The shuffles come from a fixed seed, so a series gives the
//! same change points every time.
//!
//! Pure math on a slice of numbers; what the numbers are (a case's mean log rps per commit) is
//! [`super`]'s business.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// How change points are searched.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Level of the permutation test of each split.
    pub alpha: f64,
    /// Shuffles per permutation test.
    pub permutations: usize,
    /// Fewest commits on either side of a split.
    pub min_segment: usize,
    /// Seed of the shuffles.
    pub seed: u64,
    /// Shuffles of a test made one at a time before the rest are shared among the machine's
    /// cores, a block at a time: a test decided in a few dozen shuffles (most) wastes no
    /// work, and one that needs them all (a real change) does not hold up the others. The
    /// answer is the same either way.
    pub parallel_after: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            alpha: 0.05,
            permutations: 199,
            min_segment: 3,
            seed: 0x5eed_cafe,
            parallel_after: 500,
        }
    }
}

impl Options {
    /// Options at level `alpha`, with enough shuffles that a p-value below it can be seen.
    pub fn at_level(alpha: f64, seed: u64) -> Options {
        let needed = (20.0 / alpha).ceil() as usize;
        Options {
            alpha,
            permutations: needed.clamp(199, 9_999),
            seed,
            ..Options::default()
        }
    }
}

/// One change point: the series steps between `index - 1` and `index`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangePoint {
    /// The first position of the new level.
    pub index: usize,
    /// The permutation test's p-value when this split was accepted.
    pub p_value: f64,
    /// Difference of the means of the segments on either side (in the series' unit).
    pub step: f64,
    /// Welch 95 % interval of `step` (Student t, Welch–Satterthwaite degrees of freedom).
    pub step_ci95: [f64; 2],
}

/// SplitMix64 (Steele, Lea & Flood 2014): a small, well-mixed generator for the shuffles.
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(f64::MIN_POSITIVE);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Fisher–Yates shuffle.
    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            xs.swap(i, j);
        }
    }
}

/// Running sums of the values added so far, indexed by the values' ranks (a Fenwick tree,
/// Fenwick 1994): how many are at or below a rank and their sum, in O(log n). Count and sum
/// of a node sit side by side.
#[derive(Clone)]
struct RankSums {
    nodes: Vec<[f64; 2]>,
}

impl RankSums {
    fn new(ranks: usize) -> RankSums {
        RankSums {
            nodes: vec![[0.0; 2]; ranks + 1],
        }
    }

    fn add(&mut self, rank: usize, value: f64, sign: f64) {
        let mut i = rank + 1;
        while i < self.nodes.len() {
            self.nodes[i][0] += sign;
            self.nodes[i][1] += sign * value;
            i += i & i.wrapping_neg();
        }
    }

    /// (count, sum) of the values with rank at most `rank`.
    fn upto(&self, rank: usize) -> (f64, f64) {
        let (mut c, mut s) = (0.0, 0.0);
        let mut i = rank + 1;
        while i > 0 {
            c += self.nodes[i][0];
            s += self.nodes[i][1];
            i -= i & i.wrapping_neg();
        }
        (c, s)
    }
}

/// The series as the split search reads it: values centred on their mean (so the running
/// sums lose no precision), each value's rank among them, each value's summed distance to the
/// values of its segment, and scratch space.
#[derive(Clone)]
struct Ranked {
    values: Vec<f64>,
    ranks: Vec<usize>,
    sums: RankSums,
    /// Σⱼ|xᵢ−xⱼ| over the j of i's segment ([`Ranked::segments`]): shuffles within segments
    /// keep each segment's set of values, so this holds for every shuffle.
    to_segment: Vec<f64>,
    scratch: Vec<f64>,
}

impl Ranked {
    fn new(x: &[f64]) -> Ranked {
        let mean = x.iter().sum::<f64>() / x.len().max(1) as f64;
        let values: Vec<f64> = x.iter().map(|v| v - mean).collect();
        let mut order: Vec<usize> = (0..x.len()).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        let mut ranks = vec![0; x.len()];
        for (r, &i) in order.iter().enumerate() {
            ranks[i] = r;
        }
        let mut ranked = Ranked {
            values,
            ranks,
            sums: RankSums::new(x.len()),
            to_segment: vec![0.0; x.len()],
            scratch: Vec::new(),
        };
        ranked.segments(&[0, x.len()]);
        ranked
    }

    /// Sets [`Ranked::to_segment`] for the segments between `bounds` (sorted, first 0, last
    /// n), from each segment's values in rank order, in O(n log n).
    fn segments(&mut self, bounds: &[usize]) {
        for w in bounds.windows(2) {
            let mut order: Vec<usize> = (w[0]..w[1]).collect();
            order.sort_unstable_by_key(|&i| self.ranks[i]);
            let total: f64 = order.iter().map(|&i| self.values[i]).sum();
            let m = order.len() as f64;
            let mut below = 0.0;
            for (k, &i) in order.iter().enumerate() {
                let (v, k) = (self.values[i], k as f64);
                // k values at or below v sum to `below`; the other m − k − 1 lie above.
                self.to_segment[i] = v * k - below + (total - below - v) - v * (m - k - 1.0);
                below += v;
            }
        }
    }

    /// `within[t]` = Σ|xᵢ−xⱼ| over the pairs inside the first `t` items of `items` (indices
    /// into the series), in O(m log n): each new item adds its distance to those before it,
    /// read from the running sums below and above its rank.
    fn within(&mut self, items: &[usize], within: &mut Vec<f64>) {
        within.clear();
        within.push(0.0);
        let (mut n, mut total, mut acc) = (0.0, 0.0, 0.0);
        for &i in items {
            let (v, r) = (self.values[i], self.ranks[i]);
            let (c_le, s_le) = self.sums.upto(r);
            acc += v * c_le - s_le + (total - s_le) - v * (n - c_le);
            within.push(acc);
            self.sums.add(r, v, 1.0);
            n += 1.0;
            total += v;
        }
        // Emptied for the next call: cleared at once when that is cheaper than undoing each.
        let depth = usize::BITS - self.sums.nodes.len().leading_zeros();
        if items.len() * depth as usize > self.sums.nodes.len() {
            self.sums.nodes.fill([0.0; 2]);
        } else {
            for &i in items {
                self.sums.add(self.ranks[i], self.values[i], -1.0);
            }
        }
    }
}

/// The best split of the segment `items` (indices into the series, one whole segment of
/// [`Ranked::segments`] in some order; left size, statistic): the energy statistic
/// Q(τ) = τ(m−τ)/m · (2/(τ(m−τ)) Σ|xᵢ−xⱼ| − Σ_left|·|/C(τ,2) − Σ_right|·|/C(m−τ,2)), in
/// O(m log m) from one pass of running sums: the pairs inside the left part come from the
/// pass; each item's distance to the items after it is its distance to the whole segment
/// less its distance to those before, which gives the cross pairs, and the right part is
/// what remains.
fn best_split(r: &mut Ranked, items: &[usize], min_segment: usize) -> Option<(usize, f64)> {
    let m = items.len();
    let lo = min_segment.max(2);
    if m < 2 * lo {
        return None;
    }
    let mut within_left = std::mem::take(&mut r.scratch);
    r.within(items, &mut within_left);
    let total = within_left[m];
    // Σ over the first t items of each one's distance to the items after it.
    let mut to_later = 0.0;
    let mut best: Option<(usize, f64)> = None;
    for t in 1..=m - lo {
        let before = within_left[t] - within_left[t - 1];
        to_later += r.to_segment[items[t - 1]] - before;
        if t < lo {
            continue;
        }
        let (a, b) = (t as f64, (m - t) as f64);
        let left = within_left[t];
        let cross = to_later - left;
        let right = total - left - cross;
        let q = a * b / m as f64
            * (2.0 * cross / (a * b)
                - left / (a * (a - 1.0) / 2.0)
                - right / (b * (b - 1.0) / 2.0));
        if best.is_none_or(|(_, bq)| q > bq) {
            best = Some((t, q));
        }
    }
    r.scratch = within_left;
    best
}

/// The best split over all segments of `items` (bounds sorted, first 0, last n): (position,
/// statistic).
fn best_over(
    r: &mut Ranked,
    items: &[usize],
    bounds: &[usize],
    min_segment: usize,
) -> Option<(usize, f64)> {
    bounds
        .windows(2)
        .filter_map(|w| best_split(r, &items[w[0]..w[1]], min_segment).map(|(t, q)| (w[0] + t, q)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Welch's difference of means of `right` − `left` with its 95 % interval.
fn welch_step(left: &[f64], right: &[f64]) -> (f64, [f64; 2]) {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let var = |v: &[f64], m: f64| {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0).max(1.0)
    };
    let (ml, mr) = (mean(left), mean(right));
    let (vl, vr) = (
        var(left, ml) / left.len() as f64,
        var(right, mr) / right.len() as f64,
    );
    let step = mr - ml;
    let se2 = vl + vr;
    if se2 <= 0.0 {
        return (step, [step, step]);
    }
    // Welch–Satterthwaite degrees of freedom.
    let df = se2.powi(2)
        / (vl.powi(2) / (left.len() as f64 - 1.0).max(1.0)
            + vr.powi(2) / (right.len() as f64 - 1.0).max(1.0));
    let t = StudentsT::new(0.0, 1.0, df.max(1.0))
        .map(|d| d.inverse_cdf(0.975))
        .unwrap_or(1.96);
    let half = t * se2.sqrt();
    (step, [step - half, step + half])
}

/// Shuffles made at once when a test's shuffles are shared among threads.
const BLOCK: usize = 256;

/// One permutation test: do shuffles (within the segments between `bounds`) give a
/// statistic reaching `reach`?
struct Test<'b> {
    bounds: &'b [usize],
    min_segment: usize,
    reach: f64,
}

impl Test<'_> {
    fn reaches(&self, r: &mut Ranked, items: &[usize]) -> bool {
        best_over(r, items, self.bounds, self.min_segment).is_some_and(|(_, q)| q >= self.reach)
    }

    /// How many of `opts.permutations` shuffles of `order` reach the statistic, counted in
    /// shuffle order and stopped once more than `most` did (the test is decided then). The
    /// first [`Options::parallel_after`] one at a time, then blocks of [`BLOCK`] made here
    /// in turn and shared among the cores: the count is the one made one at a time gives.
    fn count(
        &self,
        ranked: &mut Ranked,
        order: &[usize],
        rng: &mut SplitMix,
        opts: &Options,
        most: f64,
    ) -> usize {
        let mut shuffled = order.to_vec();
        let shuffle = |rng: &mut SplitMix, items: &mut [usize]| {
            for w in self.bounds.windows(2) {
                rng.shuffle(&mut items[w[0]..w[1]]);
            }
        };
        let mut as_large = 0usize;
        let one_by_one = opts.permutations.min(opts.parallel_after);
        for _ in 0..one_by_one {
            shuffle(rng, &mut shuffled);
            if self.reaches(ranked, &shuffled) {
                as_large += 1;
                if as_large as f64 > most {
                    return as_large;
                }
            }
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let n = order.len().max(1);
        let mut left = opts.permutations - one_by_one;
        let mut block = Vec::with_capacity(BLOCK.min(left) * n);
        while left > 0 {
            let k = left.min(BLOCK);
            left -= k;
            block.clear();
            for _ in 0..k {
                shuffle(rng, &mut shuffled);
                block.extend_from_slice(&shuffled);
            }
            for hit in self.share(ranked, &block, n, threads) {
                as_large += usize::from(hit);
                if hit && as_large as f64 > most {
                    return as_large;
                }
            }
        }
        as_large
    }

    /// Whether each shuffle of `block` (shuffles of `n` items one after another) reaches
    /// the statistic, in order, on up to `threads` threads.
    fn share(&self, ranked: &mut Ranked, block: &[usize], n: usize, threads: usize) -> Vec<bool> {
        let per = (block.len() / n).div_ceil(threads.max(1)).max(1) * n;
        let mut parts = block.chunks(per);
        let mine = parts.next().unwrap_or_default();
        std::thread::scope(|s| {
            let helpers: Vec<_> = parts
                .map(|part| {
                    let mut r = ranked.clone();
                    s.spawn(move || {
                        part.chunks(n)
                            .map(|items| self.reaches(&mut r, items))
                            .collect::<Vec<bool>>()
                    })
                })
                .collect();
            let mut hits: Vec<bool> = mine
                .chunks(n)
                .map(|items| self.reaches(ranked, items))
                .collect();
            for h in helpers {
                hits.extend(h.join().expect("a permutation test thread panicked"));
            }
            hits
        })
    }
}

/// The change points of `x`, in position order.
///
/// A permutation test stops as soon as its decision is known: once more than α(P+1) − 1
/// shuffles reached the statistic, p = (k+1)/(P+1) can no longer fall to α, so a series
/// without a step costs a few dozen shuffles, not P (the decision is the one all P shuffles
/// give).
pub fn detect(x: &[f64], opts: &Options) -> Vec<ChangePoint> {
    let mut rng = SplitMix::new(opts.seed);
    let mut ranked = Ranked::new(x);
    let order: Vec<usize> = (0..x.len()).collect();
    let mut bounds = vec![0, x.len()];
    let mut found: Vec<(usize, f64)> = Vec::new();
    let most_as_large = opts.alpha * (opts.permutations + 1) as f64 - 1.0;
    while let Some((at, q)) = best_over(&mut ranked, &order, &bounds, opts.min_segment) {
        // A shuffle's statistic equal to this one up to rounding (the running sums add in
        // another order) counts as reaching it: a constant segment gives no split.
        let test = Test {
            bounds: &bounds,
            min_segment: opts.min_segment,
            reach: q - 1e-9 * (1.0 + q.abs()),
        };
        let as_large = test.count(&mut ranked, &order, &mut rng, opts, most_as_large);
        let p = (as_large + 1) as f64 / (opts.permutations + 1) as f64;
        if p > opts.alpha {
            break;
        }
        found.push((at, p));
        bounds.push(at);
        bounds.sort_unstable();
        ranked.segments(&bounds);
    }
    found.sort_by_key(|&(at, _)| at);
    found
        .iter()
        .map(|&(index, p_value)| {
            let before = bounds.iter().rev().find(|&&b| b < index).copied();
            let after = bounds.iter().find(|&&b| b > index).copied();
            let (step, step_ci95) = welch_step(
                &x[before.unwrap_or(0)..index],
                &x[index..after.unwrap_or(x.len())],
            );
            ChangePoint {
                index,
                p_value,
                step,
                step_ci95,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` values of noise with standard deviation `sd`, stepping by `step` from `at` on.
    fn series(rng: &mut SplitMix, n: usize, sd: f64, at: usize, step: f64) -> Vec<f64> {
        (0..n)
            .map(|i| sd * rng.normal() + if i >= at { step } else { 0.0 })
            .collect()
    }

    #[test]
    fn the_statistic_peaks_at_a_clean_step() {
        let x = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let mut r = Ranked::new(&x);
        let all: Vec<usize> = (0..x.len()).collect();
        assert_eq!(best_split(&mut r, &all, 2).map(|(t, _)| t), Some(4));
        assert_eq!(best_split(&mut r, &all[..3], 2), None, "too short to split");
    }

    /// The running sums give the pairwise distances a direct O(m²) sum gives.
    #[test]
    fn within_segment_sums_match_the_direct_sum() {
        let mut rng = SplitMix::new(3);
        let x: Vec<f64> = (0..60)
            .map(|i| rng.normal() + f64::from(i % 7 == 0))
            .collect();
        let mut r = Ranked::new(&x);
        let items: Vec<usize> = (5..50).rev().collect();
        let mut within = Vec::new();
        r.within(&items, &mut within);
        for t in 0..=items.len() {
            let v: Vec<f64> = items[..t].iter().map(|&i| x[i]).collect();
            let direct: f64 = (0..t)
                .flat_map(|i| (0..i).map(move |j| (i, j)))
                .map(|(i, j)| (v[i] - v[j]).abs())
                .sum();
            assert!(
                (within[t] - direct).abs() < 1e-9,
                "{t}: {} {direct}",
                within[t]
            );
        }
    }

    /// The statistic from one pass of running sums is the one the direct O(m²) sums give,
    /// for a segment in shuffled order, after the series was split.
    #[test]
    fn one_pass_statistic_matches_the_direct_one() {
        let mut rng = SplitMix::new(11);
        let x: Vec<f64> = (0..50).map(|i| rng.normal() + f64::from(i > 30)).collect();
        let mut r = Ranked::new(&x);
        r.segments(&[0, 12, 50]);
        let mut items: Vec<usize> = (12..50).collect();
        rng.shuffle(&mut items);
        let xs = &x;
        let d = |a: &[usize], b: &[usize]| -> f64 {
            a.iter()
                .flat_map(|&i| b.iter().map(move |&j| (xs[i] - xs[j]).abs()))
                .sum()
        };
        let (m, lo) = (items.len(), 3);
        let direct = (lo..=m - lo)
            .map(|t| {
                let (l, rt) = items.split_at(t);
                let (a, b) = (t as f64, (m - t) as f64);
                let q = a * b / m as f64
                    * (2.0 * d(l, rt) / (a * b)
                        - d(l, l) / 2.0 / (a * (a - 1.0) / 2.0)
                        - d(rt, rt) / 2.0 / (b * (b - 1.0) / 2.0));
                (t, q)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        let (t, q) = best_split(&mut r, &items, lo).unwrap();
        assert_eq!(t, direct.0);
        assert!(
            (q - direct.1).abs() < 1e-9 * (1.0 + q.abs()),
            "{q} {direct:?}"
        );
    }

    #[test]
    fn a_clean_step_is_found_with_its_size_and_nothing_else() {
        let x: Vec<f64> = (0..20).map(|i| if i < 12 { 1.0 } else { 2.0 }).collect();
        let cps = detect(&x, &Options::default());
        assert_eq!(cps.len(), 1, "{cps:?}");
        assert_eq!(cps[0].index, 12);
        assert_eq!(cps[0].step, 1.0);
        assert!(cps[0].p_value <= 0.01, "{cps:?}");
    }

    #[test]
    fn the_same_series_gives_the_same_answer() {
        let mut rng = SplitMix::new(7);
        let x = series(&mut rng, 40, 0.03, 25, 0.02);
        assert_eq!(
            detect(&x, &Options::default()),
            detect(&x, &Options::default())
        );
    }

    /// Shuffles shared among threads give the answer made one at a time gives, p-values
    /// included: for tests that need every shuffle (two real steps) and for tests decided
    /// early (noise), whichever shuffle the sharing starts at.
    #[test]
    fn shared_shuffles_give_the_same_answer() {
        let mut rng = SplitMix::new(5);
        let stepped: Vec<f64> = series(&mut rng, 150, 0.02, 60, 0.1)
            .into_iter()
            .enumerate()
            .map(|(i, v)| v - if i >= 110 { 0.08 } else { 0.0 })
            .collect();
        let noise = series(&mut rng, 150, 0.02, 150, 0.0);
        for x in [&stepped, &noise] {
            let at = |parallel_after| {
                detect(
                    x,
                    &Options {
                        alpha: 0.01,
                        permutations: 1_999,
                        parallel_after,
                        ..Options::default()
                    },
                )
            };
            let alone = at(usize::MAX);
            for after in [0, 37, 300] {
                assert_eq!(at(after), alone, "sharing after {after} shuffles");
            }
        }
        assert_eq!(
            at_steps(&stepped),
            [60, 110],
            "the stepped series has its two steps"
        );
    }

    fn at_steps(x: &[f64]) -> Vec<usize> {
        let opts = Options {
            alpha: 0.01,
            permutations: 1_999,
            ..Options::default()
        };
        detect(x, &opts).iter().map(|c| c.index).collect()
    }

    #[test]
    fn welch_interval_covers_the_step() {
        let (step, ci) = welch_step(&[1.0, 1.1, 0.9, 1.0], &[2.0, 2.1, 1.9, 2.05]);
        assert!((step - 1.0125).abs() < 1e-9);
        assert!(
            ci[0] < step && step < ci[1] && ci[0] > 0.8 && ci[1] < 1.25,
            "{ci:?}"
        );
    }

    /// Rates over `SERIES` fixed-seed series of 40 commits with per-commit noise `sd`: A/A
    /// series with any change point; series with a 5 % drop at commit 20 where one is found,
    /// found exactly at 20, and found within one commit of it.
    fn rates(sd: f64, seed: u64) -> [f64; 4] {
        const SERIES: usize = 300;
        let mut rng = SplitMix::new(seed);
        let mut counts = [0usize; 4];
        for trial in 0..SERIES {
            let opts = Options {
                permutations: 99,
                seed: trial as u64,
                ..Options::default()
            };
            let aa = series(&mut rng, 40, sd, 40, 0.0);
            counts[0] += usize::from(!detect(&aa, &opts).is_empty());
            let stepped = series(&mut rng, 40, sd, 20, (0.95f64).ln());
            let cps = detect(&stepped, &opts);
            counts[1] += usize::from(!cps.is_empty());
            counts[2] += usize::from(cps.iter().any(|c| c.index == 20));
            counts[3] += usize::from(cps.iter().any(|c| c.index.abs_diff(20) <= 1));
        }
        counts.map(|k| k as f64 / SERIES as f64)
    }

    /// Monte Carlo, fixed seeds, 300 series per setting. The promise: an A/A series of 40
    /// commits gives a change point in at most α = 5 % of series (plus three Monte Carlo
    /// standard errors). A 5 % step at commit 20 with 3 % noise per commit is found in at least
    /// 90 % of series, at exactly commit 20 in at least 40 % and within one commit in at least
    /// 65 %; with three runs of 3 % noise per commit (1.7 % per commit), at least 97 %, 60 %
    /// and 85 %.
    #[test]
    fn monte_carlo_false_change_points_and_detection_rate() {
        let mc_se = (0.05f64 * 0.95 / 300.0).sqrt();
        for (sd, seed, floor) in [
            (0.03, 2024, [0.90, 0.40, 0.65]),
            (0.03 / 3f64.sqrt(), 2025, [0.97, 0.60, 0.85]),
        ] {
            let [aa, found, exact, near] = rates(sd, seed);
            eprintln!(
                "noise {sd:.4}: A/A series with a change point {aa:.3}; 5 % step found {found:.3}, at 20 {exact:.3}, within 1 {near:.3}"
            );
            assert!(aa <= 0.05 + 3.0 * mc_se, "A/A: {aa} at noise {sd}");
            assert!(found >= floor[0], "found {found} at noise {sd}");
            assert!(exact >= floor[1], "at 20: {exact} at noise {sd}");
            assert!(near >= floor[2], "within one: {near} at noise {sd}");
        }
    }
}
