//! Identical workloads: one key seed per case and round, the same for every target of the
//! round, so both sides of a paired comparison send the same keys in the same order and their
//! difference is the servers', not the draw's. The seeds derive from one number per
//! invocation (`--seed`, else a hash of the invocation id), so a run can be repeated key for
//! key. A config object's own `seed` still wins: it fixes the seed of every run of its cases.

use crate::engine::Engine;
use crate::model::Case;
use std::borrow::Cow;

/// SplitMix64's finaliser (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", OOPSLA 2014): a bijection of u64 whose outputs of consecutive inputs look
/// independent.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The invocation's base seed when `--seed` gives none: FNV-1a of its id, mixed.
pub(super) fn base_of(invocation_id: &str) -> u64 {
    let h = invocation_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    mix(h)
}

/// The key seed of case `ci` in round `run_index`: a function of the base, the case and the
/// round only, never of the target. Kept below 2³¹ so that every engine that takes a seed
/// (valkey-benchmark's `--seed` is an int) takes it as is.
pub(super) fn seed_of(base: u64, ci: usize, run_index: u32) -> u64 {
    mix(base ^ mix(((ci as u64) << 32) | u64::from(run_index))) & 0x7FFF_FFFF
}

/// `case` as round `run_index` runs it: with the round's seed when the config sets none and
/// the engine takes one (the native engine, valkey-benchmark with `--seed`); as it is
/// otherwise.
pub(super) fn case_for_round<'a>(
    case: &'a Case,
    engine: &Engine,
    base: u64,
    ci: usize,
    run_index: u32,
) -> Cow<'a, Case> {
    if case.seed.is_some() || case.memory || !engine.takes_seed() {
        return Cow::Borrowed(case);
    }
    let mut c = case.clone();
    c.seed = Some(seed_of(base, ci, run_index));
    Cow::Owned(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_depend_on_case_and_round_and_repeat_with_the_base() {
        let base = base_of("20261206T223018Z-16095");
        assert_eq!(base, base_of("20261206T223018Z-16095"));
        assert_ne!(base, base_of("20261206T223018Z-16096"));
        let mut seen = std::collections::HashSet::new();
        for ci in 0..20 {
            for r in 0..50 {
                let s = seed_of(base, ci, r);
                assert_eq!(s, seed_of(base, ci, r));
                assert!(s <= i32::MAX as u64);
                seen.insert(s);
            }
        }
        assert_eq!(seen.len(), 1000, "every case and round gets its own seed");
        assert_ne!(seed_of(base, 0, 0), seed_of(base ^ 1, 0, 0));
    }
}
