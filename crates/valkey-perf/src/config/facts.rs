//! What validation knows and finds besides errors: the facts of the machine it validates for,
//! and the non-fatal findings that go into records. Imported by every file of `config/`.

use crate::model::case::CpuSet;

/// What validation knows about the machine.
#[derive(Debug, Clone, Default)]
pub struct MachineFacts {
    /// CPUs online here; `None` when unknown (then ranges are not checked against it).
    pub online_cpus: Option<CpuSet>,
    /// When true (client-only modes), CPU ranges missing here are warnings, not errors:
    /// the server range may describe another machine.
    pub cpus_may_be_remote: bool,
    /// When true (`config validate` without `--strict`), facts about this host (CPUs that do
    /// not exist here) are warnings: the config may be meant for another machine. `run`
    /// keeps them errors.
    pub host_facts_are_warnings: bool,
}

impl MachineFacts {
    /// Reads the online CPUs of this machine.
    pub fn here() -> MachineFacts {
        let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
            .ok()
            .and_then(|s| CpuSet::parse(s.trim()).ok());
        MachineFacts {
            online_cpus: online,
            cpus_may_be_remote: false,
            host_facts_are_warnings: false,
        }
    }
}

/// A non-fatal finding about one config object; it goes into the records of that object's
/// cases.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigWarning {
    pub config_index: usize,
    pub warning: crate::model::Warning,
}

impl ConfigWarning {
    /// A fact about this host (a CPU or file missing here) that `run` refuses and `config
    /// validate` without `--strict` only warns about: the config may be meant for another
    /// machine.
    pub(crate) fn host_fact(config_index: usize, message: String) -> ConfigWarning {
        ConfigWarning {
            config_index,
            warning: crate::model::Warning::new(crate::model::WarningKind::Config, message)
                .with_hint(
                    "`run` refuses this on this machine; `config validate --strict` checks as `run` does",
                ),
        }
    }
}
