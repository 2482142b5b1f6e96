//! A case: one fully specified measurement, expanded from a config object (docs/design.md §2, §4).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

use super::scenario::Scenario;

/// Commands with built-in workloads (docs/design.md §5.3): the load generator's list, which is the one
/// list of commands (`Builtin::CONFIG`, `command_name()`, `seeded_by()`).
pub use loadgen::Builtin;

/// What a case measures: a built-in workload, or a scenario's command lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CaseCommand {
    Builtin(Builtin),
    Scenario(Box<Scenario>),
}

impl std::fmt::Display for CaseCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaseCommand::Builtin(c) => write!(f, "{c}"),
            CaseCommand::Scenario(s) => f.write_str(&s.name()),
        }
    }
}

/// How long a run lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchmarkMode {
    Requests(u64),
    /// Seconds.
    Duration(u64),
}

impl BenchmarkMode {
    pub fn label(self) -> &'static str {
        match self {
            BenchmarkMode::Requests(_) => "requests",
            BenchmarkMode::Duration(_) => "duration",
        }
    }
}

/// How a run picks the key numbers of its requests (`key_distribution` in configs and
/// records): uniformly at random (valkey-benchmark's way, the default), in sequence, or Zipf
/// distributed (hot keys: key 0 hottest, key `k` drawn with probability proportional to
/// `(k + 1)^-exponent`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum KeyDistribution {
    #[default]
    Uniform,
    Sequential,
    Zipf(f64),
}

impl KeyDistribution {
    /// Parses `uniform`, `sequential` or `zipf:<exponent>` (a positive number); the error says
    /// what is accepted.
    pub fn parse(text: &str) -> Result<KeyDistribution, String> {
        let usage = "use \"uniform\" (the default), \"sequential\" or \"zipf:<exponent>\" with a positive exponent, e.g. \"zipf:0.99\"";
        match text.trim() {
            "uniform" => Ok(KeyDistribution::Uniform),
            "sequential" => Ok(KeyDistribution::Sequential),
            other => match other.strip_prefix("zipf:").map(|e| e.trim().parse::<f64>()) {
                Some(Ok(e)) if e.is_finite() && e > 0.0 => Ok(KeyDistribution::Zipf(e)),
                Some(_) => Err(format!(
                    "the exponent of \"{other}\" is not a positive number; {usage}"
                )),
                None => Err(format!("\"{other}\" is not a key distribution; {usage}")),
            },
        }
    }

    pub fn is_uniform(self) -> bool {
        self == KeyDistribution::Uniform
    }
}

impl std::fmt::Display for KeyDistribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyDistribution::Uniform => f.write_str("uniform"),
            KeyDistribution::Sequential => f.write_str("sequential"),
            KeyDistribution::Zipf(e) => write!(f, "zipf:{e}"),
        }
    }
}

/// Written as configs spell it (`"zipf:0.99"`).
impl Serialize for KeyDistribution {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeyDistribution {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<KeyDistribution, D::Error> {
        KeyDistribution::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Where a cluster case's reads go (`read_from_replicas`, valkey-benchmark's `--rfr`): the
/// primaries (`no`, the default), the replicas (`yes`), or both (`all`). Only read commands
/// use it; a case of a write command always says `no`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadFromReplicas {
    #[default]
    No,
    Yes,
    All,
}

impl std::fmt::Display for ReadFromReplicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReadFromReplicas::No => "no",
            ReadFromReplicas::Yes => "yes",
            ReadFromReplicas::All => "all",
        })
    }
}

/// A set of CPU ids, written in the upstream syntax `0-3`, `0,2,4`, `144-191,48-95`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CpuSet {
    /// The text as the user wrote it (kept for messages and records).
    pub spec: String,
    pub cpus: BTreeSet<usize>,
}

/// Why a CPU range string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpuSetError {
    #[error("empty CPU range; write CPU ids like `0-3`, `0,2,4` or `0-3,8-11`")]
    Empty,
    #[error("`{0}` is not a CPU id or range; write CPU ids like `0-3`, `0,2,4` or `0-3,8-11`")]
    BadPart(String),
    #[error("range `{0}` runs backwards; write the lower CPU id first, e.g. `2-5`")]
    Backwards(String),
}

impl CpuSet {
    pub fn parse(spec: &str) -> Result<CpuSet, CpuSetError> {
        let trimmed = spec.trim();
        if trimmed.is_empty() {
            return Err(CpuSetError::Empty);
        }
        let mut cpus = BTreeSet::new();
        for part in trimmed.split(',') {
            let part = part.trim();
            let parse_id = |s: &str| -> Result<usize, CpuSetError> {
                let s = s.trim();
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CpuSetError::BadPart(part.to_string()));
                }
                s.parse()
                    .map_err(|_| CpuSetError::BadPart(part.to_string()))
            };
            match part.split_once('-') {
                Some((lo, hi)) => {
                    let (lo, hi) = (parse_id(lo)?, parse_id(hi)?);
                    if lo > hi {
                        return Err(CpuSetError::Backwards(part.to_string()));
                    }
                    cpus.extend(lo..=hi);
                }
                None => {
                    cpus.insert(parse_id(part)?);
                }
            }
        }
        Ok(CpuSet {
            spec: trimmed.to_string(),
            cpus,
        })
    }

    /// Canonical compact form, e.g. `{0,1,2,5}` → `0-2,5`.
    pub fn canonical(&self) -> String {
        format_cpu_list(self.cpus.iter().copied())
    }
}

/// Formats CPU ids as a compact list with ranges (`0-2,5`), as `/proc/<pid>/status` does.
pub fn format_cpu_list(cpus: impl IntoIterator<Item = usize>) -> String {
    let mut out = Vec::new();
    let mut iter = cpus.into_iter().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().unwrap_or(end);
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    out.join(",")
}

/// Everything that needs its own server start: one start per distinct topology.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerTopology {
    pub cluster: bool,
    pub cluster_nodes: u32,
    pub cluster_replicas: u32,
    pub tls: bool,
    pub io_threads: u32,
    pub server_cpus: Option<CpuSet>,
    /// `custom-server-configs`, passed on the command line at start.
    pub custom_configs: Vec<(String, String)>,
    /// One `config_sets` bundle, applied with CONFIG SET after every start.
    pub config_set: Map<String, Value>,
    /// `benchmark_mode: "instructions"`: every server process runs under valgrind's callgrind,
    /// which counts the instructions of the measured window.
    #[serde(default)]
    pub callgrind: bool,
    /// Modules every server loads at start (`modules`: path and arguments).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<Module>,
    /// `custom-server-config-file`: a server config file read first at every start (the
    /// settings valkey-perf gives on the command line win over it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<std::path::PathBuf>,
}

/// A module a server loads at start (`--loadmodule PATH ARGS...`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Module {
    /// Absolute path of the shared object.
    pub path: std::path::PathBuf,
    pub args: Vec<String>,
}

/// One fully specified measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Index of the config object this case came from.
    pub config_index: usize,
    pub topology: ServerTopology,
    pub command: CaseCommand,
    pub mode: BenchmarkMode,
    pub keyspacelen: u64,
    pub data_size: u64,
    pub pipeline: u64,
    pub clients: u64,
    pub warmup_secs: u64,
    pub client_threads: Option<u64>,
    pub client_cpus: Option<CpuSet>,
    pub seed: Option<u64>,
    /// How key numbers are drawn (native engine; valkey-benchmark draws uniformly only).
    #[serde(default)]
    pub key_distribution: KeyDistribution,
    /// `benchmark_mode: "memory"`: no load; `keyspacelen` keys of `data_size` bytes are
    /// written once on a fresh server and the memory they cost is recorded.
    #[serde(default)]
    pub memory: bool,
    /// Cluster reads from replicas (read commands only; `No` otherwise).
    #[serde(default)]
    pub read_from_replicas: ReadFromReplicas,
    /// `per_second_sampling: true` or `run --sample`: a 1 Hz sampler of the servers runs during
    /// the measured window, on its own connections.
    #[serde(default)]
    pub sampling: bool,
    /// An enabled `profiling_sets` entry: one extra, unmeasured run of the case with `perf`
    /// attached to the servers, drawn as a flamegraph.
    #[serde(default)]
    pub profiling: Option<Profiling>,
    /// `duet: true` or `run --duet`: the two targets' servers run at once, each with its own
    /// load, pinning crossed and swapped every round; their records are paired round by round.
    #[serde(default)]
    pub duet: bool,
    /// `benchmark_mode: "capacity"`: a ladder of fixed open-loop rates under a latency SLO,
    /// each step `duration` seconds after `warmup`, all on one server start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<super::capacity::CapacitySpec>,
}

/// How a profiled run samples the servers (`profiling_sets`: `mode` `cpu`, `sampling_freq`,
/// `delay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Profiling {
    /// Samples per second and thread.
    pub sampling_freq: u32,
    /// Seconds into the measured window before sampling starts.
    pub delay_secs: u64,
}

impl Case {
    /// The built-in command, or `None` for a scenario.
    pub fn builtin(&self) -> Option<Builtin> {
        match &self.command {
            CaseCommand::Builtin(c) => Some(*c),
            CaseCommand::Scenario(_) => None,
        }
    }

    /// The scenario, or `None` for a built-in command.
    pub fn scenario(&self) -> Option<&Scenario> {
        match &self.command {
            CaseCommand::Scenario(s) => Some(s),
            CaseCommand::Builtin(_) => None,
        }
    }

    /// A short human label, e.g. `GET d=64 P=16 c=50 n=100000`.
    pub fn label(&self) -> String {
        if self.memory {
            return format!(
                "memory {} d={} keys={}",
                self.command, self.data_size, self.keyspacelen
            );
        }
        let mode = match self.mode {
            _ if self.capacity.is_some() => match self.mode {
                BenchmarkMode::Duration(s) => format!("capacity step={s}s"),
                BenchmarkMode::Requests(n) => format!("capacity n={n}"),
            },
            BenchmarkMode::Requests(n) => format!("n={n}"),
            BenchmarkMode::Duration(s) => format!("t={s}s"),
        };
        let mut label = match self.scenario() {
            Some(s) => format!(
                "{} ({}) P={} c={} {} r={}",
                s.name(),
                s.kind.as_str(),
                self.pipeline,
                self.clients,
                mode,
                self.keyspacelen
            ),
            None => format!(
                "{} d={} P={} c={} {} r={}",
                self.command, self.data_size, self.pipeline, self.clients, mode, self.keyspacelen
            ),
        };
        if self.topology.cluster {
            label.push_str(" cluster");
        }
        if self.topology.tls {
            label.push_str(" tls");
        }
        if self.topology.io_threads > 1 {
            label.push_str(&format!(" io={}", self.topology.io_threads));
        }
        if self.read_from_replicas != ReadFromReplicas::No {
            label.push_str(&format!(" rfr={}", self.read_from_replicas));
        }
        if !self.key_distribution.is_uniform() {
            label.push_str(&format!(" keys={}", self.key_distribution));
        }
        label
    }
}

#[cfg(test)]
impl Case {
    /// A standalone case with small settings, for unit tests.
    pub(crate) fn for_test(command: Builtin, mode: BenchmarkMode) -> Case {
        Case {
            config_index: 0,
            topology: ServerTopology {
                cluster: false,
                cluster_nodes: 3,
                cluster_replicas: 0,
                tls: false,
                io_threads: 1,
                server_cpus: None,
                custom_configs: vec![],
                config_set: Default::default(),
                callgrind: false,
                modules: Vec::new(),
                config_file: None,
            },
            command: crate::model::CaseCommand::Builtin(command),
            mode,
            keyspacelen: 1000,
            data_size: 8,
            pipeline: 1,
            clients: 1,
            warmup_secs: 0,
            client_threads: None,
            client_cpus: None,
            seed: None,
            key_distribution: Default::default(),
            memory: false,
            read_from_replicas: Default::default(),
            sampling: false,
            profiling: None,
            duet: false,
            capacity: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_sets_parse_upstream_syntax() {
        let s = CpuSet::parse("144-146,48-49").unwrap();
        assert_eq!(
            s.cpus.iter().copied().collect::<Vec<_>>(),
            vec![48, 49, 144, 145, 146]
        );
        assert_eq!(s.canonical(), "48-49,144-146");
        assert_eq!(CpuSet::parse("0,2,4").unwrap().canonical(), "0,2,4");
        assert_eq!(CpuSet::parse(" 3 ").unwrap().canonical(), "3");
        assert_eq!(CpuSet::parse("0-0").unwrap().canonical(), "0");
    }

    #[test]
    fn cpu_sets_reject_bad_text() {
        assert_eq!(CpuSet::parse(""), Err(CpuSetError::Empty));
        assert_eq!(
            CpuSet::parse("3-1"),
            Err(CpuSetError::Backwards("3-1".into()))
        );
        assert_eq!(
            CpuSet::parse("a-3"),
            Err(CpuSetError::BadPart("a-3".into()))
        );
        assert_eq!(CpuSet::parse("1,,2"), Err(CpuSetError::BadPart("".into())));
        assert_eq!(CpuSet::parse("-1"), Err(CpuSetError::BadPart("-1".into())));
        assert_eq!(
            CpuSet::parse("1-2-3"),
            Err(CpuSetError::BadPart("1-2-3".into()))
        );
    }

    #[test]
    fn key_distributions_parse_and_print_as_configs_spell_them() {
        for (text, want) in [
            ("uniform", KeyDistribution::Uniform),
            ("sequential", KeyDistribution::Sequential),
            ("zipf:0.99", KeyDistribution::Zipf(0.99)),
            ("zipf:1", KeyDistribution::Zipf(1.0)),
        ] {
            let d = KeyDistribution::parse(text).unwrap();
            assert_eq!(d, want);
            assert_eq!(KeyDistribution::parse(&d.to_string()).unwrap(), d);
        }
        assert_eq!(KeyDistribution::Zipf(0.99).to_string(), "zipf:0.99");
        for bad in [
            "zipf", "zipf:", "zipf:0", "zipf:-1", "zipf:nan", "zipf:inf", "hot", "",
        ] {
            let err = KeyDistribution::parse(bad).unwrap_err();
            assert!(err.contains("zipf:<exponent>"), "{bad}: {err}");
        }
    }

    #[test]
    fn commands_round_trip_and_seed() {
        for c in Builtin::CONFIG {
            assert_eq!(Builtin::from_config_name(c.command_name()), Some(c));
            assert_eq!(
                Builtin::from_config_name(&c.command_name().to_lowercase()),
                Some(c)
            );
        }
        assert_eq!(Builtin::Get.seeded_by(), Some(Builtin::Set));
        assert_eq!(Builtin::Lpop.seeded_by(), Some(Builtin::Rpush));
        assert_eq!(Builtin::Set.seeded_by(), None);
    }
}
