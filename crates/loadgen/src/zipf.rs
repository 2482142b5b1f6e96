//! Zipf-distributed ranks: rank `k` in `1..=n` with probability proportional to `k^-s`, drawn
//! in constant time and without a table, so a keyspace of any size costs nothing to set up.
//!
//! The method is rejection-inversion (W. Hörmann and G. Derflinger, "Rejection-inversion to
//! generate variates from monotone discrete distributions", ACM TOMACS 6(3), 1996): invert
//! the integral `H` of the continuous hat `h(x) = x^-s`, round to the nearest rank, and accept
//! unless the point falls in the part of the hat's area that lies above the rank's own mass.
//! The acceptance rate is above 90 % for every exponent, so a draw costs about one `exp` and
//! one `ln`.

/// A Zipf distribution over the ranks `1..=n`.
#[derive(Debug, Clone)]
pub(crate) struct Zipf {
    n: f64,
    exponent: f64,
    /// `H(1.5) - h(1)`: the upper end of the area a draw falls into.
    h_integral_x1: f64,
    /// `H(n + 0.5)`: the lower end.
    h_integral_n: f64,
    /// Points this close to their rank are accepted without evaluating `H` again.
    squeeze: f64,
}

impl Zipf {
    /// The distribution over `1..=n` with this exponent (`n ≥ 1`, `exponent > 0` and finite).
    pub(crate) fn new(n: u64, exponent: f64) -> Zipf {
        let n = n.max(1) as f64;
        let mut z = Zipf {
            n,
            exponent,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            squeeze: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(n + 0.5);
        z.squeeze = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// A rank in `1..=n`; `uniform` yields independent doubles in `[0, 1)`.
    pub(crate) fn sample(&self, mut uniform: impl FnMut() -> f64) -> u64 {
        loop {
            // `u` runs over the hat's area, from the rank-n end to the rank-1 end.
            let u = self.h_integral_n + uniform() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = x.round().clamp(1.0, self.n);
            if k - x <= self.squeeze || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }

    /// The hat `h(x) = x^-s`.
    fn h(&self, x: f64) -> f64 {
        (-self.exponent * x.ln()).exp()
    }

    /// `H(x) = ∫₁ˣ t^-s dt = (x^(1-s) - 1) / (1 - s)`, written as `ln x · expm1(u) / u` with
    /// `u = (1 - s) ln x`, which stays exact as `s` approaches 1 (where `H` is `ln x`).
    fn h_integral(&self, x: f64) -> f64 {
        let ln_x = x.ln();
        ln_x * expm1_over_x((1.0 - self.exponent) * ln_x)
    }

    /// The inverse of [`Zipf::h_integral`]: `exp(y · ln1p(t) / t)` with `t = (1 - s) y`.
    fn h_integral_inverse(&self, y: f64) -> f64 {
        // Rounding can put `t` a hair below -1 at the far end of the range.
        let t = ((1.0 - self.exponent) * y).max(-1.0 + f64::EPSILON);
        (y * ln1p_over_x(t)).exp()
    }
}

/// `expm1(x) / x`, 1 at 0 (Taylor terms near 0, where the quotient loses precision).
fn expm1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + x * 0.25))
    }
}

/// `ln1p(x) / x`, 1 at 0.
fn ln1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - x * 0.25))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact probability of the ranks `1..=top` among `1..=n`.
    fn share(n: u64, s: f64, top: u64) -> f64 {
        let mass = |k: u64| (k as f64).powf(-s);
        let total: f64 = (1..=n).map(mass).sum();
        (1..=top).map(mass).sum::<f64>() / total
    }

    /// A seeded stream of doubles in [0, 1) (splitmix64).
    fn uniform(seed: u64) -> impl FnMut() -> f64 {
        let mut state = seed;
        move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn ranks_follow_the_distribution() {
        let draws = 400_000;
        for (n, s) in [
            (100_000u64, 0.99),
            (1000, 1.0),
            (1000, 0.5),
            (50, 2.0),
            (1, 1.2),
        ] {
            let z = Zipf::new(n, s);
            let mut u = uniform(n ^ s.to_bits());
            let mut counts = vec![0u64; n as usize + 1];
            for _ in 0..draws {
                let k = z.sample(&mut u);
                assert!((1..=n).contains(&k), "rank {k} outside 1..={n}");
                counts[k as usize] += 1;
            }
            // Each of the first ranks, and the hottest 1 %, within 4 standard errors.
            let tops = [1, 2, 3, 10, (n / 100).max(1)];
            for top in tops.into_iter().filter(|&t| t <= n) {
                let want = share(n, s, top);
                let got = counts[1..=top as usize].iter().sum::<u64>() as f64 / draws as f64;
                let se = (want * (1.0 - want) / draws as f64).sqrt();
                assert!(
                    (got - want).abs() <= 4.0 * se + 1e-12,
                    "n={n} s={s}: ranks 1..={top} got {got:.5}, want {want:.5} (±{se:.5})"
                );
            }
        }
    }
}
