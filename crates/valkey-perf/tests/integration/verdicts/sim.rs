//! Synthetic result pairs with known truth, in the record format `compare` reads: the settings
//! of the calibration (docs/design.md §7.6) and a seeded generator, so every trial is
//! reproducible.

use serde_json::json;
use valkey_perf::compare::RecordMap;
use valkey_perf::compare::effects::Analysis;
pub use valkey_perf::compare::numeric::Sample;

/// SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", OOPSLA
/// 2014): small, seedable, good enough for Monte Carlo counts.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal by Box–Muller.
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// How the two sides were measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Design {
    /// Two invocations: the new side shares a common drift factor (log sd `common`) and each
    /// case its own (log sd `per_case`).
    Across { common: f64, per_case: f64 },
    /// One invocation, rounds A B, B A, ...: each case's rounds back to back, the machine
    /// slowing linearly by `drift` over the whole invocation.
    Abba { drift: f64 },
}

/// What really changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Truth {
    Same,
    /// Case 0's rps falls by this share (0.10 = 10 % slower).
    OneSlower(f64),
    /// Every case's rps falls by this share.
    AllSlower(f64),
    /// Cases 0, 2, 4, ... fall by this share.
    HalfSlower(f64),
}

impl Truth {
    /// The factor on case `c`'s new rps.
    pub fn factor(self, c: usize) -> f64 {
        match self {
            Truth::Same => 1.0,
            Truth::OneSlower(s) if c == 0 => 1.0 - s,
            Truth::OneSlower(_) => 1.0,
            Truth::AllSlower(s) => 1.0 - s,
            Truth::HalfSlower(s) if c % 2 == 0 => 1.0 - s,
            Truth::HalfSlower(_) => 1.0,
        }
    }
}

/// One calibration setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub name: &'static str,
    pub design: Design,
    pub cases: usize,
    pub runs: usize,
    /// Run-to-run coefficient of variation (lognormal).
    pub cv: f64,
}

/// The case name of case `c`.
pub fn case_name(c: usize) -> String {
    format!("C{c:02}")
}

fn record(c: usize, inv: &str, commit: &str, round: usize, rps: f64) -> RecordMap {
    let v = json!({
        "command": case_name(c), "commit": commit, "invocation_id": inv,
        "run_index": round, "rps": rps,
    });
    v.as_object().cloned().unwrap_or_default()
}

/// One trial of `setting` under `truth`: each case's rps, round by round.
pub fn trial(setting: &Setting, truth: Truth, rng: &mut Rng) -> Vec<Sample> {
    let sd = (1.0 + setting.cv * setting.cv).ln().sqrt();
    let noise = |rng: &mut Rng| (sd * rng.normal() - sd * sd / 2.0).exp();
    let mut out = Vec::new();
    match setting.design {
        Design::Across { common, per_case } => {
            let shift = (common * rng.normal()).exp();
            for c in 0..setting.cases {
                let level = 100_000.0 * (1.0 + c as f64 / 10.0);
                let case_shift = (per_case * rng.normal()).exp();
                let mut s = Sample {
                    baseline: Vec::new(),
                    new: Vec::new(),
                };
                for _ in 0..setting.runs {
                    s.baseline.push(level * noise(rng));
                    s.new
                        .push(level * shift * case_shift * truth.factor(c) * noise(rng));
                }
                out.push(s);
            }
        }
        Design::Abba { drift } => {
            let total = (setting.cases * setting.runs * 2) as f64;
            let mut at = 0.0;
            for c in 0..setting.cases {
                let level = 100_000.0 * (1.0 + c as f64 / 10.0);
                let mut s = Sample {
                    baseline: Vec::new(),
                    new: Vec::new(),
                };
                for r in 0..setting.runs {
                    let order = if r % 2 == 0 {
                        [false, true]
                    } else {
                        [true, false]
                    };
                    for is_new in order {
                        let machine = 1.0 - drift * at / total;
                        at += 1.0;
                        if is_new {
                            s.new.push(level * machine * truth.factor(c) * noise(rng));
                        } else {
                            s.baseline.push(level * machine * noise(rng));
                        }
                    }
                }
                out.push(s);
            }
        }
    }
    out
}

/// The analysis `compare` picks for records of `setting`.
pub fn analysis(setting: &Setting) -> Analysis {
    match setting.design {
        Design::Across { .. } => Analysis::BetweenInvocations,
        Design::Abba { .. } => Analysis::Paired,
    }
}

/// The samples as the records `run` writes: one invocation for ABBA, two otherwise (two
/// consecutive commits, each in its own invocation).
pub fn records(setting: &Setting, samples: &[Sample]) -> (Vec<RecordMap>, Vec<RecordMap>) {
    let (bi, ni, bc, nc) = match setting.design {
        Design::Across { .. } => ("a", "b", "aaaa", "bbbb"),
        Design::Abba { .. } => ("i", "i", "", ""),
    };
    let (mut base, mut new) = (Vec::new(), Vec::new());
    for (c, s) in samples.iter().enumerate() {
        for (r, v) in s.baseline.iter().enumerate() {
            base.push(record(c, bi, bc, r, *v));
        }
        for (r, v) in s.new.iter().enumerate() {
            new.push(record(c, ni, nc, r, *v));
        }
    }
    (base, new)
}

/// The settings of the calibration table.
pub fn settings() -> Vec<Setting> {
    let across = Design::Across {
        common: 0.05,
        per_case: 0.02,
    };
    let still = Design::Across {
        common: 0.0,
        per_case: 0.0,
    };
    let abba = Design::Abba { drift: 0.10 };
    let s = |name, design, runs| Setting {
        name,
        design,
        cases: 20,
        runs,
        cv: 0.05,
    };
    vec![
        s("across, drift, 5 runs", across, 5),
        s("across, no drift, 5 runs", still, 5),
        s("across, drift, 3 runs", across, 3),
        s("ABBA, 5 rounds", abba, 5),
        s("ABBA, 3 rounds", abba, 3),
        s("ABBA, 10 rounds", abba, 10),
    ]
}
