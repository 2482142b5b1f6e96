//! A duet ([`Engine::measure_duet`]): the runs of two targets measured at once. Each target's
//! servers are seeded as in a solo run; then both instruments open, the native engine runs
//! both loads behind one start gate ([`native::measure_duet`]), and both instruments close.

use super::seed::SeedPlan;
use super::{
    Engine, Measurement, RunRequest, check_pops_left, in_window, left, native, now_utc_ms,
};
use anyhow::{Result, bail};

impl Engine {
    /// Seeds both targets' servers, then measures their loads at once: one run each, the
    /// same key seed, windows that start at one instant. `abort` is polled during the load
    /// (either target's servers gone). Only the native engine runs duets; only built-in,
    /// timed cases.
    pub fn measure_duet(
        &self,
        runs: [RunRequest<'_>; 2],
        abort: &mut dyn FnMut() -> bool,
    ) -> Result<[Measurement; 2]> {
        if !matches!(self, Engine::Native) {
            bail!("duet runs need the native engine, which runs both loads behind one gate");
        }
        let [mut a, mut b] = runs;
        if a.case.memory || b.case.memory {
            bail!("a duet times load; memory mode times none");
        }
        let plans = [SeedPlan::for_case(a.case), SeedPlan::for_case(b.case)];
        let mut warnings: [Vec<crate::model::Warning>; 2] = Default::default();
        for (run, (plan, w)) in [&mut a, &mut b]
            .into_iter()
            .zip(plans.iter().zip(warnings.iter_mut()))
        {
            w.extend(self.seed(
                run.case,
                run.load,
                run.control,
                plan.as_ref(),
                left(run.deadline, run.run_end)?,
                run.run_end,
            )?);
            if let Some(waiter) = run.replicas {
                let n = waiter.wait(left(super::REPLICATION_DEADLINE, run.run_end)?)?;
                tracing::debug!("{n} replicas caught up with their primaries");
            }
        }
        let deadline = left(a.deadline, a.run_end)?;
        let started_at = now_utc_ms();
        let file = |run: &RunRequest<'_>| {
            run.histogram_dir.join(format!(
                "{}-{}-run{}-duet.json",
                started_at.replace([':', '.'], ""),
                run.case.command,
                run.run_index
            ))
        };
        let files = [file(&a), file(&b)];
        let (cases, loads) = ([a.case, b.case], [a.load, b.load]);
        let [ia, ib] = [&mut *a.instruments, &mut *b.instruments];
        let measured = in_window(ia, || {
            in_window(ib, || {
                native::measure_duet(
                    cases,
                    loads,
                    deadline,
                    [files[0].as_path(), files[1].as_path()],
                    abort,
                )
            })
        })?;
        let mut out = measured;
        for ((m, run), (plan, w)) in out
            .iter_mut()
            .zip([&mut a, &mut b])
            .zip(plans.iter().zip(warnings))
        {
            m.started_at = started_at.clone();
            m.warnings.extend(w);
            if let Some(plan) = plan.as_ref().filter(|_| !run.load.cluster) {
                m.warnings
                    .extend(check_pops_left(run.case, plan, run.control, &mut m.parts));
            }
        }
        Ok(out)
    }
}
