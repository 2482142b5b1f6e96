//! The `env_*` facts recorded with every run: what could make two machines (or two runs on
//! one machine) measure differently.

use crate::model::EnvInfo;
use std::path::Path;

fn read_trim(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The machine's architecture as `uname -m` prints it.
pub fn architecture() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.machine().to_string_lossy().into_owned())
        .unwrap_or_else(|_| std::env::consts::ARCH.to_string())
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn governor() -> String {
    read_trim("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
        .unwrap_or_else(|| "not_available".into())
}

fn turbo() -> String {
    if let Some(v) = read_trim("/sys/devices/system/cpu/intel_pstate/no_turbo") {
        return if v == "1" { "disabled" } else { "enabled" }.into();
    }
    if let Some(v) = read_trim("/sys/devices/system/cpu/cpufreq/boost") {
        return if v == "1" { "enabled" } else { "disabled" }.into();
    }
    "unknown".into()
}

fn idle_states() -> String {
    // Upstream writes `not_available` when the kernel has no cpuidle interface.
    let Ok(entries) = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cpuidle") else {
        return "not_available".into();
    };
    let disabled = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("state"))
        .filter(|e| read_trim(e.path().join("disable")).as_deref() == Some("1"))
        .count();
    if disabled == 0 {
        "all_enabled".into()
    } else {
        format!("{disabled}_disabled")
    }
}

fn aslr() -> String {
    match read_trim("/proc/sys/kernel/randomize_va_space").as_deref() {
        Some("0") => "disabled".into(),
        Some("1") => "partial".into(),
        Some("2") => "full".into(),
        _ => "unknown".into(),
    }
}

fn thp() -> String {
    read_trim("/sys/kernel/mm/transparent_hugepage/enabled")
        .and_then(|v| {
            let start = v.find('[')?;
            let end = v[start..].find(']')?;
            Some(v[start + 1..start + end].to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn numa_nodes() -> String {
    std::fs::read_dir("/sys/devices/system/node")
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.strip_prefix("node")
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
                .count()
                .max(1)
                .to_string()
        })
        .unwrap_or_else(|_| "1".into())
}

/// Collects the machine facts once per invocation; CPU ranges and the tool version are filled
/// in per run.
pub fn collect() -> EnvInfo {
    EnvInfo {
        env_kernel_version: kernel(),
        env_os: os_name(),
        env_cpu_model: cpu_model(),
        env_cpu_governor: governor(),
        env_turbo_boost: turbo(),
        env_idle_states: idle_states(),
        env_aslr: aslr(),
        env_thp: thp(),
        env_numa_nodes: numa_nodes(),
        env_server_cpu_range: None,
        env_client_cpu_range: None,
        env_benchmark_tool_version: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_fact_with_a_value() {
        let env = collect();
        for (name, value) in [
            ("kernel", &env.env_kernel_version),
            ("os", &env.env_os),
            ("cpu", &env.env_cpu_model),
            ("governor", &env.env_cpu_governor),
            ("turbo", &env.env_turbo_boost),
            ("idle", &env.env_idle_states),
            ("aslr", &env.env_aslr),
            ("thp", &env.env_thp),
            ("numa", &env.env_numa_nodes),
        ] {
            assert!(!value.is_empty(), "{name} is empty");
        }
        assert_eq!(
            env.env_kernel_version,
            read_trim("/proc/sys/kernel/osrelease").unwrap()
        );
        assert!(["disabled", "partial", "full", "unknown"].contains(&env.env_aslr.as_str()));
        assert!(env.env_numa_nodes.parse::<u32>().unwrap() >= 1);
        assert!(!architecture().is_empty());
    }
}
