//! `valkey-perf config`: check a config file and show the cases it expands into, or print the
//! JSON Schema of the format. Owns only the command line and the rendering of cases; loading,
//! validation and expansion belong to the rest of this module.

use crate::config::{self, ConfigFile, MachineFacts};
use crate::exit::Code;
use crate::model::{BenchmarkMode, Case};
use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCmd,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate a config file and print the cases it expands into (exit 2 when invalid).
    Validate(ValidateArgs),
    /// Print the JSON Schema (draft 2020-12) of the config format.
    Schema,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The config file (a JSON list of config objects).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// How to print the cases.
    #[arg(long, value_enum, default_value_t = CasesFormat::Table)]
    pub format: CasesFormat,
    /// Check facts about this machine as `run` does: CPU ranges that do not exist here are
    /// errors (without it they are warnings, so a config for another machine can be checked
    /// anywhere).
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CasesFormat {
    /// A count line and an aligned table.
    Table,
    /// The cases as a JSON list.
    Json,
}

/// Runs `valkey-perf config`.
pub fn run(args: ConfigArgs) -> Result<Code> {
    let text = match args.command {
        ConfigCmd::Schema => config::SCHEMA.to_string(),
        ConfigCmd::Validate(v) => {
            let facts = MachineFacts {
                host_facts_are_warnings: !v.strict,
                ..MachineFacts::here()
            };
            let file = config::load(&v.file, &facts)?;
            for w in file.warnings.iter().map(|w| &w.warning) {
                eprintln!("warning: {w}");
            }
            match v.format {
                CasesFormat::Table => render_table(&file),
                CasesFormat::Json => render_json(&file.cases)?,
            }
        }
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A closed pipe (`| head`) means the reader has what it wanted.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to stdout")
        }
        _ => Ok(Code::Success),
    }
}

/// The cases as pretty JSON, one object per case, ending in a newline.
pub fn render_json(cases: &[Case]) -> Result<String> {
    let mut s = serde_json::to_string_pretty(cases).context("cannot serialize the cases")?;
    s.push('\n');
    Ok(s)
}

const HEADERS: [&str; 13] = [
    "#",
    "config",
    "command",
    "data size",
    "pipeline",
    "clients",
    "requests/duration",
    "keyspace",
    "cluster",
    "tls",
    "io-threads",
    "warmup",
    "config_set",
];

/// Columns holding numbers, aligned right.
const NUMERIC: [bool; 13] = [
    true, true, false, true, true, true, true, true, false, false, true, true, false,
];

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn row(n: usize, case: &Case) -> [String; 13] {
    let t = &case.topology;
    let mode = match case.mode {
        BenchmarkMode::Requests(n) => n.to_string(),
        BenchmarkMode::Duration(secs) => format!("{secs}s"),
    };
    let cluster = if t.cluster {
        // Primaries and replicas per primary, and where reads go when not the primaries.
        let mut cell = format!("yes {}p {}r", t.cluster_nodes, t.cluster_replicas);
        if case.read_from_replicas != crate::model::ReadFromReplicas::No {
            cell.push_str(&format!(" rfr={}", case.read_from_replicas));
        }
        cell
    } else {
        "no".to_string()
    };
    let config_set = if t.config_set.is_empty() {
        "-".to_string()
    } else {
        serde_json::Value::Object(t.config_set.clone()).to_string()
    };
    [
        n.to_string(),
        case.config_index.to_string(),
        case.command.to_string(),
        case.data_size.to_string(),
        case.pipeline.to_string(),
        case.clients.to_string(),
        mode,
        if case.key_distribution.is_uniform() {
            case.keyspacelen.to_string()
        } else {
            format!("{} {}", case.keyspacelen, case.key_distribution)
        },
        cluster,
        yes_no(t.tls),
        t.io_threads.to_string(),
        format!("{}s", case.warmup_secs),
        config_set,
    ]
}

/// A count line, then one aligned row per case (numbered from 1 in run order).
pub fn render_table(file: &ConfigFile) -> String {
    let objects = file.objects.len();
    let mut out = format!(
        "`{}` is valid: {} case{} from {} config object{}\n",
        file.path,
        file.cases.len(),
        if file.cases.len() == 1 { "" } else { "s" },
        objects,
        if objects == 1 { "" } else { "s" },
    );
    let rows: Vec<[String; 13]> = file
        .cases
        .iter()
        .enumerate()
        .map(|(i, c)| row(i + 1, c))
        .collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header = HEADERS.map(str::to_string);
    let rule = widths.map(|w| "-".repeat(w));
    for r in std::iter::once(&header)
        .chain(std::iter::once(&rule))
        .chain(&rows)
    {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(widths[i] - cell.chars().count());
            if NUMERIC[i] {
                line.push_str(&pad);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&pad);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let scenarios: Vec<(usize, &crate::model::Scenario)> = file
        .cases
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.scenario().map(|s| (i + 1, s)))
        .collect();
    if !scenarios.is_empty() {
        out.push_str("\nscenarios (test_id: phase, clients, pipeline, command):\n");
        for (n, s) in scenarios {
            out.push_str(&format!("{n:>4}  {}\n", s.name()));
            for line in scenario_lines(s) {
                out.push_str(&format!("      {line}\n"));
            }
        }
    }
    out
}

/// A scenario's streams and steps, one line each, for `config validate` and `--dry-run`.
pub fn scenario_lines(s: &crate::model::Scenario) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(d) = &s.description {
        lines.push(format!("description: {d}"));
    }
    if s.restart_before {
        lines.push("restart_before: a fresh server first".into());
    } else if s.flush_before {
        lines.push("flush_before: FLUSHALL first".into());
    }
    for c in &s.setup_commands {
        lines.push(format!("setup: {}", c.join(" ")));
    }
    if let Some(p) = &s.populate_with {
        lines.push(format!("populate: {} (every key, in order)", p.join(" ")));
    }
    for st in &s.streams {
        // A mixed scenario's stream with a bound of its own.
        let bound = match st.mode {
            Some(crate::model::BenchmarkMode::Duration(secs)) => format!(", {secs}s"),
            Some(crate::model::BenchmarkMode::Requests(n)) => format!(", {n} requests"),
            None => String::new(),
        };
        lines.push(format!(
            "{}: {}, c={}, P={}{bound}, `{}`",
            s.test_id(st),
            st.phase.as_str(),
            st.clients,
            st.pipeline,
            st.command_line()
        ));
    }
    lines
}
