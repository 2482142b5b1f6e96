//! The table of record fields: where each lives in `metrics.json` and whether it defines a
//! case. Every list of record fields in this crate is derived from [`FIELDS`]: the top-level
//! fields of the file ([`is_top_level`]) and the fields `compare` and the dashboard group runs
//! by ([`case_fields`]).
//!
//! The store crate keys its rows by its own fixed list (`store::metrics::KEY_FIELDS`): that key
//! is a hash over the listed values in order, stored with every row, so the list cannot follow
//! this table without changing the key of rows already stored.

/// Where a field is written in a `metrics.json` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// At the top level, where upstream's comparison script groups by it.
    TopLevel,
    /// In the nested `run_details` object.
    Details,
}

/// One record field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub place: Place,
    /// A parameter that defines a case: runs of one case agree on it, and `compare` pairs runs
    /// by it.
    pub case: bool,
}

const fn top(name: &'static str) -> Field {
    Field {
        name,
        place: Place::TopLevel,
        case: false,
    }
}

const fn case(name: &'static str) -> Field {
    Field {
        name,
        place: Place::TopLevel,
        case: true,
    }
}

const fn details(name: &'static str) -> Field {
    Field {
        name,
        place: Place::Details,
        case: false,
    }
}

/// The record's fields; case parameters in the order reports show them. Fields not listed
/// (engine, mode and instrument figures, fields of newer versions) go into `run_details`,
/// except the machine facts `env_*`, which stay at the top level as upstream writes them.
pub const FIELDS: &[Field] = &[
    top("timestamp"),
    top("commit"),
    details("ref"),
    top("repository"),
    case("test_id"),
    case("test_phase"),
    case("command"),
    case("data_size"),
    case("pipeline"),
    case("clients"),
    case("requests"),
    case("duration"),
    case("benchmark_mode"),
    case("keyspacelen"),
    top("rps"),
    top("avg_latency_ms"),
    top("min_latency_ms"),
    top("p50_latency_ms"),
    top("p95_latency_ms"),
    top("p99_latency_ms"),
    top("max_latency_ms"),
    case("io_threads"),
    case("cluster_mode"),
    case("tls"),
    case("config_set"),
    case("engine"),
    case("valkey_benchmark_threads"),
    case("key_distribution"),
    case("read_from_replicas"),
    top("duet"),
    top("warmup"),
    top("architecture"),
    top("warnings"),
    top("group"),
    top("scenario"),
    details("run_started_at"),
    details("run_index"),
    details("invocation_id"),
    details("reference_for"),
    details("engine_version"),
    details("seed"),
    details("server_version"),
    details("server_restarted"),
];

/// Whether `name` stays at the top level of a record in `metrics.json`: upstream's fields, the
/// case parameters and the machine facts (`env_*`).
pub fn is_top_level(name: &str) -> bool {
    name.starts_with("env_")
        || FIELDS
            .iter()
            .any(|f| f.name == name && f.place == Place::TopLevel)
}

/// The fields that define a case, in display order.
pub fn case_fields() -> impl Iterator<Item = &'static str> {
    FIELDS.iter().filter(|f| f.case).map(|f| f.name)
}

/// Whether `name` is a case parameter.
pub fn is_case_field(name: &str) -> bool {
    case_fields().any(|f| f == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_listed_once_and_case_fields_are_top_level() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert!(
                FIELDS[..i].iter().all(|g| g.name != f.name),
                "`{}` twice",
                f.name
            );
            assert!(!f.case || f.place == Place::TopLevel, "`{}`", f.name);
        }
    }
}
