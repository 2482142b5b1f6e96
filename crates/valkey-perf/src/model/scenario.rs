//! Scenarios (upstream's `test_groups` shape): a measurement of arbitrary command lines, with
//! setup and populate steps, as one stream (`write`, `read`) or several streams run at the same
//! time (`mixed`). Pure data: validation is in `config`, running in `engine` and `commands/run`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A group's id as the config writes it: upstream uses numbers (`1`) and names (`"P1"`); the
/// records keep the spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GroupId {
    Number(u64),
    Name(String),
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupId::Number(n) => write!(f, "{n}"),
            GroupId::Name(s) => f.write_str(s),
        }
    }
}

/// What a scenario measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioKind {
    Write,
    Read,
    /// Write and read streams at the same time, each recorded on its own.
    Mixed,
}

impl ScenarioKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioKind::Write => "write",
            ScenarioKind::Read => "read",
            ScenarioKind::Mixed => "mixed",
        }
    }
}

/// The `test_phase` of a stream's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Write,
    Read,
    MixedWrite,
    MixedRead,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Write => "write",
            Phase::Read => "read",
            Phase::MixedWrite => "mixed_write",
            Phase::MixedRead => "mixed_read",
        }
    }
}

/// One load stream of a scenario: its command line (split into arguments, placeholders kept),
/// clients and pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stream {
    pub phase: Phase,
    /// The id of a `writes` / `reads` entry of a mixed scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_id: Option<String>,
    pub args: Vec<String>,
    pub clients: u64,
    pub pipeline: u64,
    /// A mixed scenario's stream with its own `duration` or `requests` (upstream's
    /// `_normalize_mixed_configs`); `None`: the case's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<super::BenchmarkMode>,
}

impl Stream {
    /// The command line as written (arguments with spaces quoted).
    pub fn command_line(&self) -> String {
        self.args
            .iter()
            .map(|a| {
                if a.is_empty() || a.contains([' ', '"', '\'']) {
                    format!("\"{}\"", a.replace('"', "\\\""))
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One expanded scenario (an `options` variant is a scenario of its own).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scenario {
    pub group: GroupId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_description: Option<String>,
    /// The scenario id with the option suffix, as upstream forms it (`a`, `a_nc`).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub kind: ScenarioKind,
    /// One stream for `write` / `read`; the `writes` then the `reads` of a `mixed` one.
    pub streams: Vec<Stream>,
    /// Commands sent once before the scenario (split into arguments).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub setup_commands: Vec<Vec<String>>,
    /// A write command run over the whole keyspace in key order before the measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub populate_with: Option<Vec<String>>,
    #[serde(default)]
    pub flush_before: bool,
    #[serde(default)]
    pub restart_before: bool,
    /// Keys in order (`0, 1, 2, ...`) instead of at random.
    #[serde(default)]
    pub sequential: bool,
    /// The config's `test_name`, recorded with the results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_name: Option<String>,
    /// The config's `socket_timeout`: how long a setup command may take, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_timeout_secs: Option<u64>,
    /// A CSV (or `.tsv`) file with a header whose columns fill `__field:NAME__`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<std::path::PathBuf>,
    /// At most this many rows of the dataset are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxdocs: Option<u64>,
    /// `cluster_execution: "parallel"`: in a cluster, a command without a templated key goes
    /// to its client's own primary (one stream per primary, one merged histogram) instead of
    /// the node owning its first argument.
    #[serde(default)]
    pub parallel: bool,
}

impl Scenario {
    /// Whether the dataset file is tab-separated (`.tsv`).
    pub fn dataset_is_tsv(&self) -> bool {
        self.dataset
            .as_ref()
            .and_then(|p| p.extension())
            .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
    }
}

impl Scenario {
    /// `test_id` of a stream's records: `{group}_{scenario}`, and for a mixed scenario
    /// `{group}_{scenario}_{write|read}_{sub id}`, as upstream writes them.
    pub fn test_id(&self, stream: &Stream) -> String {
        match (stream.phase, &stream.sub_id) {
            (Phase::MixedWrite, Some(sub)) => format!("{}_{}_write_{sub}", self.group, self.id),
            (Phase::MixedRead, Some(sub)) => format!("{}_{}_read_{sub}", self.group, self.id),
            _ => format!("{}_{}", self.group, self.id),
        }
    }

    /// `{group}_{scenario}`: the scenario as `--scenarios` and logs name it.
    pub fn name(&self) -> String {
        format!("{}_{}", self.group, self.id)
    }

    /// Every client of every stream.
    pub fn total_clients(&self) -> u64 {
        self.streams.iter().map(|s| s.clients).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(phase: Phase, sub: Option<&str>) -> Stream {
        Stream {
            phase,
            sub_id: sub.map(str::to_string),
            args: vec!["GET".into(), "key:__rand_int__".into()],
            clients: 1,
            pipeline: 1,
            mode: None,
        }
    }

    #[test]
    fn test_ids_follow_upstream() {
        let s = Scenario {
            group: GroupId::Number(1),
            group_description: None,
            id: "b_nc".into(),
            description: None,
            kind: ScenarioKind::Mixed,
            streams: vec![],
            setup_commands: vec![],
            populate_with: None,
            flush_before: false,
            restart_before: false,
            sequential: false,
            test_name: None,
            setup_timeout_secs: None,
            dataset: None,
            maxdocs: None,
            parallel: false,
        };
        assert_eq!(s.test_id(&stream(Phase::Read, None)), "1_b_nc");
        assert_eq!(
            s.test_id(&stream(Phase::MixedWrite, Some("w"))),
            "1_b_nc_write_w"
        );
        assert_eq!(
            s.test_id(&stream(Phase::MixedRead, Some("r"))),
            "1_b_nc_read_r"
        );
        let named = Scenario {
            group: GroupId::Name("P1".into()),
            ..s
        };
        assert_eq!(named.name(), "P1_b_nc");
    }

    #[test]
    fn command_lines_quote_arguments_with_spaces() {
        let mut s = stream(Phase::Write, None);
        s.args = vec!["HSET".into(), "k".into(), "title".into(), "a b".into()];
        assert_eq!(s.command_line(), "HSET k title \"a b\"");
    }
}
