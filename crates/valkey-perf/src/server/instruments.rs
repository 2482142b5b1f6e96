//! What watches the servers around one measured window: the usage probe
//! ([`usage`](super::usage)), the 1 Hz [`Sampler`], callgrind's counting window ([`callgrind`])
//! and a `perf record` ([`perf`]), as one [`Instruments`] value the engine opens and closes at
//! the window's edges. [`Instruments::report`] then says what they saw, as an
//! [`InstrumentReport`]; turning that into record fields is the caller's job.
//!
//! The edges run in an order that keeps the tools from counting one another's work: the
//! servers' usage is read outside the callgrind and perf windows (its `INFO` would count as
//! executed instructions and as samples), and the sampler runs inside the usage window only.
//!
//! May import `usage`, `sampler`, `callgrind`, `perf` and `model`; built from a deployment's
//! parts, so it does not import `deployment`.

use super::callgrind;
use super::perf;
use super::sampler::Sampler;
use super::usage::{Probe, Sample, WindowUsage, window_usage};
use crate::model::case::Profiling;
use crate::model::{Warning, WarningKind};
use anyhow::Result;
use std::path::PathBuf;
use std::time::Duration;

/// Whether the servers' usage is read around the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageWatch {
    /// Not read: a mixed scenario's streams share the servers, so no one stream owns the
    /// window's CPU time.
    Off,
    /// Read at both edges of the window.
    Window,
    /// The probe's connections are opened, but no usage is recorded: memory mode times no
    /// load and its record has its own memory figures. A probe that cannot connect is still
    /// reported.
    ProbeOnly,
}

/// A profiled run: `perf record` into `data` (its messages into `log`) for the window.
#[derive(Debug, Clone)]
pub struct PerfRequest {
    pub profiling: Profiling,
    pub data: PathBuf,
    pub log: PathBuf,
}

/// What to watch around one window.
#[derive(Debug, Clone)]
pub struct InstrumentSpec {
    /// The measured command (lowercase, as `INFO commandstats` names it; empty for none).
    pub command: String,
    pub usage: UsageWatch,
    /// The 1 Hz sampler's file (`None`: no sampling).
    pub timeseries: Option<PathBuf>,
    /// Instructions mode: the directory the servers' callgrind dumps go to.
    pub callgrind_dir: Option<PathBuf>,
    pub perf: Option<PerfRequest>,
}

/// The per-second samples of one window: where they are and how many lines were written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeseries {
    pub file: PathBuf,
    pub lines: u64,
}

/// What the instruments saw. Nothing here fails the run: what is missing is a warning.
#[derive(Debug)]
pub struct InstrumentReport {
    /// What the servers used in the window, when it was read.
    pub usage: Option<WindowUsage>,
    pub timeseries: Option<Timeseries>,
    /// Instructions mode: the dumps of the window (empty when it was not closed).
    pub callgrind_dumps: Option<Vec<PathBuf>>,
    /// A profiled run: the recording's data file, or why there is none (`None`: no window).
    pub perf: Option<Result<PathBuf>>,
    /// Why some of the above is missing, in the order the parts are listed.
    pub warnings: Vec<Warning>,
}

/// The instruments of one window, between [`Instruments::new`] and [`Instruments::report`].
pub struct Instruments {
    spec: InstrumentSpec,
    pids: Vec<u32>,
    /// Usage: the connections opened before the window, and its edges.
    probe: Option<Result<Probe>>,
    edges: (Option<Result<Sample>>, Option<Result<Sample>>),
    /// The sampler's own connections until the window starts.
    sampler_parts: Option<Result<Probe>>,
    sampler: Option<Sampler>,
    sampled: Option<Result<u64>>,
    dumps: Vec<PathBuf>,
    recording: Option<perf::Recording>,
    recorded: Option<Result<PathBuf>>,
}

impl Instruments {
    /// Opens what the window needs ahead of it: the server processes `pids`, and connections
    /// from `probe` (one set for the usage, one for the sampler).
    pub fn new(
        spec: InstrumentSpec,
        pids: Vec<u32>,
        mut probe: impl FnMut() -> Result<Probe>,
    ) -> Instruments {
        let usage = (spec.usage != UsageWatch::Off).then(&mut probe);
        let sampler_parts = spec.timeseries.is_some().then(&mut probe);
        Instruments {
            spec,
            pids,
            probe: usage,
            edges: (None, None),
            sampler_parts,
            sampler: None,
            sampled: None,
            dumps: Vec::new(),
            recording: None,
            recorded: None,
        }
    }

    /// The window opens: usage, then the sampler, then callgrind, then perf. Only callgrind
    /// failing to open its window is an error.
    pub fn start(&mut self) -> Result<()> {
        if let Some(Ok(p)) = self.probe.as_mut() {
            self.edges.0 = Some(p.sample());
        }
        if let (Some(parts), Some(file)) = (self.sampler_parts.take(), &self.spec.timeseries) {
            match parts.and_then(|p| {
                let (nodes, pids) = p.into_parts();
                Sampler::start(nodes, pids, &self.spec.command, file)
            }) {
                Ok(s) => self.sampler = Some(s),
                Err(e) => self.sampled = Some(Err(e)),
            }
        }
        if self.spec.callgrind_dir.is_some() {
            callgrind::start_window(&self.pids)?;
        }
        if let Some(req) = &self.spec.perf {
            match perf::Recording::start(
                &self.pids,
                req.profiling.sampling_freq,
                Duration::from_secs(req.profiling.delay_secs),
                &req.data,
                &req.log,
            ) {
                Ok(r) => self.recording = Some(r),
                Err(e) => self.recorded = Some(Err(e)),
            }
        }
        Ok(())
    }

    /// The window closes, in the reverse order: perf, callgrind, the sampler, usage. Only
    /// callgrind failing to close its window is an error.
    pub fn end(&mut self) -> Result<()> {
        if let Some(req) = &self.spec.perf {
            if let Some(r) = self.recording.take() {
                self.recorded = Some(r.finish());
            } else if self.recorded.is_none() {
                self.recorded = Some(Err(anyhow::anyhow!(
                    "`perf record` did not start for `{}`",
                    req.data.display()
                )));
            }
        }
        if let Some(dir) = &self.spec.callgrind_dir {
            self.dumps = callgrind::end_window(&self.pids, dir)?;
        }
        if let Some(s) = self.sampler.take() {
            self.sampled = Some(s.finish());
        }
        if let Some(Ok(p)) = self.probe.as_mut() {
            self.edges.1 = Some(p.sample());
        }
        Ok(())
    }

    /// A reading of the usage probe inside the window, for a part of it (a capacity step):
    /// `None` when usage is not watched or its connections did not open.
    pub fn sample_usage(&mut self) -> Option<Result<crate::server::usage::Sample>> {
        if self.spec.usage != UsageWatch::Window {
            return None;
        }
        match self.probe.as_mut() {
            Some(Ok(p)) => Some(p.sample()),
            _ => None,
        }
    }

    /// What the instruments saw, with a warning for each part that is missing.
    pub fn report(self) -> InstrumentReport {
        let mut warnings = Vec::new();
        let timeseries = match (self.sampled, self.spec.timeseries) {
            (Some(Ok(lines)), Some(file)) => Some(Timeseries { file, lines }),
            (Some(Err(e)), _) => {
                warnings.push(Warning::new(
                    WarningKind::ServerUsage,
                    format!("the per-second sampler stopped: {e:#}"),
                ));
                None
            }
            _ => None,
        };
        let usage = window_usage_of(self.spec.usage, self.probe, self.edges, &self.spec.command)
            .unwrap_or_else(|e| {
                warnings.push(
                    Warning::new(
                        WarningKind::ServerUsage,
                        format!("server CPU time and memory were not recorded: {e:#}"),
                    )
                    .with_hint("check that the server answers `INFO` and that `/proc` is readable"),
                );
                None
            });
        InstrumentReport {
            usage,
            timeseries,
            callgrind_dumps: self.spec.callgrind_dir.map(|_| self.dumps),
            perf: self.recorded,
            warnings,
        }
    }
}

/// The usage of the window between `edges`, read by `probe` (`None`: not read).
fn window_usage_of(
    watch: UsageWatch,
    probe: Option<Result<Probe>>,
    edges: (Option<Result<Sample>>, Option<Result<Sample>>),
    command: &str,
) -> Result<Option<WindowUsage>> {
    let Some(probe) = probe else {
        return Ok(None);
    };
    probe.and_then(|_| match edges {
        _ if watch == UsageWatch::ProbeOnly => Ok(None),
        (Some(start), Some(end)) => window_usage(&start?, &end?, command).map(Some),
        _ => anyhow::bail!("the measured window was not seen"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(usage: UsageWatch) -> InstrumentSpec {
        InstrumentSpec {
            command: "get".into(),
            usage,
            timeseries: None,
            callgrind_dir: None,
            perf: None,
        }
    }

    /// A probe of no node and no process: its samples are empty, its usage all zeros.
    fn empty_probe() -> Result<Probe> {
        Ok(Probe::new(Vec::new(), Vec::new()))
    }

    fn texts(report: &InstrumentReport) -> Vec<String> {
        report.warnings.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn a_window_opened_and_closed_gives_the_usage_and_nothing_else() {
        let mut i = Instruments::new(spec(UsageWatch::Window), Vec::new(), empty_probe);
        i.start().unwrap();
        i.end().unwrap();
        let report = i.report();
        assert!(report.usage.is_some());
        assert!(report.timeseries.is_none() && report.callgrind_dumps.is_none());
        assert!(report.perf.is_none());
        assert!(report.warnings.is_empty(), "{:?}", texts(&report));
    }

    #[test]
    fn a_window_never_seen_is_a_warning_not_a_failure() {
        let report = Instruments::new(spec(UsageWatch::Window), Vec::new(), empty_probe).report();
        assert!(report.usage.is_none());
        let texts = texts(&report);
        assert_eq!(texts.len(), 1);
        assert!(
            texts[0].contains("the measured window was not seen"),
            "{texts:?}"
        );
    }

    #[test]
    fn probe_only_records_no_usage_but_says_when_the_probe_failed() {
        let report =
            Instruments::new(spec(UsageWatch::ProbeOnly), Vec::new(), empty_probe).report();
        assert!(report.usage.is_none() && report.warnings.is_empty());
        let failing = || anyhow::bail!("no connection");
        let report = Instruments::new(spec(UsageWatch::ProbeOnly), Vec::new(), failing).report();
        let texts = texts(&report);
        assert_eq!(texts.len(), 1);
        assert!(
            texts[0].contains("server CPU time and memory were not recorded: no connection"),
            "{texts:?}"
        );
    }

    #[test]
    fn usage_off_opens_no_connection() {
        let mut i = Instruments::new(spec(UsageWatch::Off), Vec::new(), || {
            panic!("no probe is opened when the usage is off")
        });
        i.start().unwrap();
        i.end().unwrap();
        let report = i.report();
        assert!(report.usage.is_none() && report.warnings.is_empty());
    }

    #[test]
    fn a_sampler_that_cannot_start_warns_before_the_usage_does() {
        let spec = InstrumentSpec {
            timeseries: Some(PathBuf::from("unused.jsonl")),
            ..spec(UsageWatch::Window)
        };
        let mut i = Instruments::new(spec, Vec::new(), || anyhow::bail!("refused"));
        i.start().unwrap();
        i.end().unwrap();
        let report = i.report();
        assert!(report.timeseries.is_none());
        let texts = texts(&report);
        assert_eq!(texts.len(), 2, "{texts:?}");
        assert!(texts[0].contains("the per-second sampler stopped: refused"));
        assert!(texts[1].contains("server CPU time and memory were not recorded: refused"));
    }

    #[test]
    fn a_perf_recording_that_never_started_is_reported_at_the_window_end() {
        let spec = InstrumentSpec {
            perf: Some(PerfRequest {
                profiling: Profiling {
                    sampling_freq: 99,
                    delay_secs: 0,
                },
                data: PathBuf::from("run.perf.data"),
                log: PathBuf::from("run.perf.log"),
            }),
            ..spec(UsageWatch::Off)
        };
        let mut i = Instruments::new(spec, Vec::new(), empty_probe);
        i.end().unwrap();
        let err = i.report().perf.expect("an outcome").unwrap_err();
        assert!(
            format!("{err:#}").contains("`perf record` did not start for `run.perf.data`"),
            "{err:#}"
        );
    }
}
