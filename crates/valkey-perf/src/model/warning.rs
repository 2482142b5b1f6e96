//! Warnings: findings that do not stop a run but change how its numbers should be read (a
//! cluster whose nodes share CPUs, reads that could not be seeded, a client that may have been
//! the bottleneck). Each has a kind (for code and for filtering), a message and a hint saying
//! what to do. `run` prints each distinct warning once to stderr and writes the warnings of a
//! run into its record (`warnings: [...]`); `compare` carries them into `report.md`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// The config is valid but describes something this machine cannot check.
    Config,
    /// Servers, or server and client, share CPUs.
    SharedCpu,
    /// Reads or pops could not be seeded, so some may miss or find empty keys.
    NotSeeded,
    /// A pop workload emptied its collection during the run.
    RanEmpty,
    /// The load generator may have limited the result.
    ClientBound,
    /// A duet whose client spent as much CPU per request as its server: the other target's
    /// server set the client's pace (`compare`'s coupling check).
    DuetCoupling,
    /// The server's settings differ from what the config says.
    ServerSetting,
    /// Too few runs for confidence intervals.
    FewRuns,
    /// Run-to-run variation too high to detect small changes.
    Noisy,
    /// The inputs of a comparison do not line up.
    Input,
    /// Anything else the load generator reported.
    Load,
    /// What the servers used in the window (CPU, memory) could not be read.
    ServerUsage,
}

/// One warning: what happened and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Warning {
    pub kind: WarningKind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Warning {
    pub fn new(kind: WarningKind, message: impl Into<String>) -> Warning {
        Warning {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Warning {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_message_and_hint_and_serializes_kind_in_snake_case() {
        let w =
            Warning::new(WarningKind::NotSeeded, "GET not seeded").with_hint("use --engine native");
        assert_eq!(w.to_string(), "GET not seeded; use --engine native");
        let json = serde_json::to_value(&w).unwrap();
        assert_eq!(json["kind"], "not_seeded");
        let back: Warning = serde_json::from_value(json).unwrap();
        assert_eq!(back, w);
        let plain = Warning::new(WarningKind::Load, "x");
        assert!(serde_json::to_value(&plain).unwrap().get("hint").is_none());
    }
}
