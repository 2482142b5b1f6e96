//! The inert description of one load run: where to connect, what to send, how fast, how long.

use crate::address::Address;
use std::fmt;
use std::time::Duration;

/// A built-in workload with valkey-benchmark's key names and value layout. This is also the
/// command list of valkey-perf's config files ([`Builtin::CONFIG`]): one list for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Builtin {
    /// `PING` in the multi-bulk protocol (valkey-benchmark's PING_MBULK).
    Ping,
    /// `PING\r\n` in the inline protocol (valkey-benchmark's PING_INLINE); not a config
    /// command.
    PingInline,
    Set,
    Get,
    Incr,
    Lpush,
    Rpush,
    Lpop,
    Rpop,
    Sadd,
    Spop,
    Hset,
    Zadd,
    Zpopmin,
    /// `LRANGE mylist 0 <n-1>`
    Lrange(u32),
    /// `MSET` with this many keys.
    Mset(u32),
    /// `MGET` with this many keys.
    Mget(u32),
    Xadd,
    /// `SISMEMBER myset element:<n>`: a member SADD wrote.
    Sismember,
    /// `ZSCORE myzset element:<n>`: a member ZADD wrote.
    Zscore,
    /// `ZRANGE myzset 0 <n-1>`
    Zrange(u32),
    /// `XRANGE mystream - + COUNT <n>`
    Xrange(u32),
}

impl Builtin {
    /// The commands a config file names (`"commands": [...]`), in the documented order: LRANGE
    /// reads 100 elements and MSET/MGET use 10 keys, as valkey-benchmark's default tests do;
    /// ZRANGE and XRANGE read 100 elements too.
    pub const CONFIG: [Builtin; 21] = [
        Builtin::Set,
        Builtin::Get,
        Builtin::Incr,
        Builtin::Lpush,
        Builtin::Rpush,
        Builtin::Lpop,
        Builtin::Rpop,
        Builtin::Sadd,
        Builtin::Spop,
        Builtin::Hset,
        Builtin::Zadd,
        Builtin::Zpopmin,
        Builtin::Lrange(100),
        Builtin::Mset(10),
        Builtin::Mget(10),
        Builtin::Xadd,
        Builtin::Ping,
        Builtin::Sismember,
        Builtin::Zscore,
        Builtin::Zrange(100),
        Builtin::Xrange(100),
    ];

    /// A command as a config file names it (`SET`, `lrange`): one of [`Builtin::CONFIG`].
    pub fn from_config_name(name: &str) -> Option<Builtin> {
        Builtin::CONFIG
            .into_iter()
            .find(|c| c.command_name().eq_ignore_ascii_case(name))
    }

    /// Parses a command name as used in configs and valkey-benchmark's `-t`
    /// (`lrange` means `lrange_100`, `mset` and `mget` use 10 keys).
    pub fn parse(name: &str) -> Option<Builtin> {
        let n = name.to_ascii_lowercase();
        Some(match n.as_str() {
            "ping" | "ping_mbulk" => Builtin::Ping,
            "ping_inline" => Builtin::PingInline,
            "set" => Builtin::Set,
            "get" => Builtin::Get,
            "incr" => Builtin::Incr,
            "lpush" => Builtin::Lpush,
            "rpush" => Builtin::Rpush,
            "lpop" => Builtin::Lpop,
            "rpop" => Builtin::Rpop,
            "sadd" => Builtin::Sadd,
            "spop" => Builtin::Spop,
            "hset" => Builtin::Hset,
            "zadd" => Builtin::Zadd,
            "zpopmin" => Builtin::Zpopmin,
            "lrange" | "lrange_100" => Builtin::Lrange(100),
            "lrange_300" => Builtin::Lrange(300),
            "lrange_500" => Builtin::Lrange(500),
            "lrange_600" => Builtin::Lrange(600),
            "mset" => Builtin::Mset(10),
            "mget" => Builtin::Mget(10),
            "xadd" => Builtin::Xadd,
            "sismember" => Builtin::Sismember,
            "zscore" => Builtin::Zscore,
            "zrange" | "zrange_100" => Builtin::Zrange(100),
            "xrange" | "xrange_100" => Builtin::Xrange(100),
            _ => return None,
        })
    }

    /// The test title valkey-benchmark prints for this workload.
    pub fn title(self) -> String {
        match self {
            Builtin::Ping => "PING_MBULK".into(),
            Builtin::PingInline => "PING_INLINE".into(),
            Builtin::Lrange(n) => format!("LRANGE_{n} (first {n} elements)"),
            Builtin::Mset(n) => format!("MSET ({n} keys)"),
            Builtin::Mget(n) => format!("MGET ({n} keys)"),
            Builtin::Zrange(n) => format!("ZRANGE_{n} (first {n} elements)"),
            Builtin::Xrange(n) => format!("XRANGE_{n} (first {n} entries)"),
            other => other.command_name().into(),
        }
    }

    /// The command's name on the wire.
    pub fn command_name(self) -> &'static str {
        match self {
            Builtin::Ping | Builtin::PingInline => "PING",
            Builtin::Set => "SET",
            Builtin::Get => "GET",
            Builtin::Incr => "INCR",
            Builtin::Lpush => "LPUSH",
            Builtin::Rpush => "RPUSH",
            Builtin::Lpop => "LPOP",
            Builtin::Rpop => "RPOP",
            Builtin::Sadd => "SADD",
            Builtin::Spop => "SPOP",
            Builtin::Hset => "HSET",
            Builtin::Zadd => "ZADD",
            Builtin::Zpopmin => "ZPOPMIN",
            Builtin::Lrange(_) => "LRANGE",
            Builtin::Mset(_) => "MSET",
            Builtin::Mget(_) => "MGET",
            Builtin::Xadd => "XADD",
            Builtin::Sismember => "SISMEMBER",
            Builtin::Zscore => "ZSCORE",
            Builtin::Zrange(_) => "ZRANGE",
            Builtin::Xrange(_) => "XRANGE",
        }
    }

    /// The write command that fills the keyspace before this one is measured (docs/design.md §5.3):
    /// reads and pops are seeded by the caller with a sequential run of this command.
    pub fn seeded_by(self) -> Option<Builtin> {
        match self {
            Builtin::Get => Some(Builtin::Set),
            Builtin::Mget(n) => Some(Builtin::Mset(n)),
            Builtin::Lrange(_) => Some(Builtin::Lpush),
            Builtin::Lpop | Builtin::Rpop => Some(Builtin::Rpush),
            Builtin::Spop => Some(Builtin::Sadd),
            Builtin::Zpopmin => Some(Builtin::Zadd),
            Builtin::Sismember => Some(Builtin::Sadd),
            Builtin::Zscore | Builtin::Zrange(_) => Some(Builtin::Zadd),
            Builtin::Xrange(_) => Some(Builtin::Xadd),
            _ => None,
        }
    }

    /// Whether the command only reads (and so may go to a replica).
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Builtin::Get
                | Builtin::Mget(_)
                | Builtin::Lrange(_)
                | Builtin::Sismember
                | Builtin::Zscore
                | Builtin::Zrange(_)
                | Builtin::Xrange(_)
        )
    }
}

impl fmt::Display for Builtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.command_name())
    }
}

/// Written as the command name (`"LRANGE"`), as config files and records spell it.
impl serde::Serialize for Builtin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.command_name())
    }
}

/// Read from a config command name (see [`Builtin::from_config_name`]).
impl<'de> serde::Deserialize<'de> for Builtin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Builtin, D::Error> {
        let name = String::deserialize(d)?;
        Builtin::from_config_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format!("`{name}` is not a command valkey-perf benchmarks"))
        })
    }
}

/// What one request sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandSpec {
    Builtin(Builtin),
    /// Arguments with placeholders: `__rand_int__` (12-digit key number), `__data__` (the
    /// value), `{tag}` (a hash tag in cluster mode, left as is otherwise). The key used for
    /// cluster routing is the first argument with `__rand_int__` or `{tag}` in it, else the
    /// first argument after the command name.
    Template(Vec<String>),
}

impl CommandSpec {
    /// The title used in CSV and quiet output.
    pub fn title(&self) -> String {
        match self {
            CommandSpec::Builtin(b) => b.title(),
            CommandSpec::Template(args) => args.join(" "),
        }
    }
}

/// A command and its share of a read/write mix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedCommand {
    pub command: CommandSpec,
    pub weight: u32,
}

/// How `__rand_int__` placeholders get their numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyOrder {
    /// Uniform over `0..keyspacelen`, from a seeded generator (reproducible per seed).
    Random { seed: u64 },
    /// `0, 1, 2, ...` (wrapping at `keyspacelen`), shared by all connections: a run of
    /// `keyspacelen` single-key requests touches every key exactly once.
    Sequential,
    /// Zipf over `0..keyspacelen` (hot keys): key number `k` with probability proportional
    /// to `(k + 1)^-exponent`, so key 0 is the hottest, from a seeded generator. In cluster
    /// mode a client draws over the keys of the node it is bound to, the node's first key
    /// hottest. `exponent` is finite and positive (0.99 is the usual "hot keys" choice).
    Zipf { seed: u64, exponent: f64 },
}

/// Exponents are checked finite when the workload is compiled, so equality is reflexive.
impl Eq for KeyOrder {}

impl fmt::Display for KeyOrder {
    /// As configs and records spell the distribution: `uniform`, `sequential`, `zipf:0.99`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOrder::Random { .. } => f.write_str("uniform"),
            KeyOrder::Sequential => f.write_str("sequential"),
            KeyOrder::Zipf { exponent, .. } => write!(f, "zipf:{exponent}"),
        }
    }
}

/// What the load consists of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// One or more commands; with several, each request picks one by weight.
    pub commands: Vec<WeightedCommand>,
    /// Value size in bytes.
    pub data_size: usize,
    /// Key numbers are drawn from `0..keyspacelen`. `None` leaves `__rand_int__` literal
    /// (valkey-benchmark without `-r`).
    pub keyspacelen: Option<u64>,
    pub key_order: KeyOrder,
    /// Write a per-request counter into the start of every value.
    pub distinct_values: bool,
    /// Rows whose columns fill `__field:NAME__` placeholders (valkey-benchmark's `--dataset`).
    pub dataset: Option<std::sync::Arc<Dataset>>,
    /// Cluster mode: a command without `__rand_int__` or `{tag}` goes to the node its client
    /// is bound to (one stream per primary, as upstream's `cluster_execution: "parallel"`)
    /// instead of the node owning its first argument's slot.
    pub keyless_to_home: bool,
}

/// A table with named columns, read from a CSV or TSV file with a header line. A request of a
/// command with `__field:NAME__` takes its values from one row: in sequential key order the
/// row of its first key number (`k % rows`, so a sequential run writes row `i` under key `i`),
/// or the next row when the command has no key number; in random key order a random row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Why a CSV or TSV text is not a [`Dataset`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatasetError {
    #[error("the file is empty; it needs a header line")]
    Empty,
    #[error("the header line `{header}` has an empty column name")]
    EmptyColumnName { header: String },
    #[error("line {line} has {fields} fields, the header {columns}")]
    FieldCount {
        line: usize,
        fields: usize,
        columns: usize,
    },
    #[error("the file has a header but no rows")]
    NoRows,
}

impl Dataset {
    /// Parses CSV (`"` quotes, `""` for a quote inside) or, with `tab`, TSV text; the first
    /// line names the columns. At most `max_rows` rows are kept. Every row must have as many
    /// fields as the header.
    pub fn parse(text: &str, tab: bool, max_rows: Option<u64>) -> Result<Dataset, DatasetError> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = lines.next().ok_or(DatasetError::Empty)?;
        let split = |line: &str| -> Vec<String> {
            if tab {
                line.split('\t').map(str::to_string).collect()
            } else {
                csv_fields(line)
            }
        };
        let columns: Vec<String> = split(header.trim_end_matches('\r'))
            .into_iter()
            .map(|c| c.trim().to_string())
            .collect();
        if columns.iter().any(String::is_empty) {
            return Err(DatasetError::EmptyColumnName {
                header: header.to_string(),
            });
        }
        let mut rows = Vec::new();
        for (i, line) in lines.enumerate() {
            if max_rows.is_some_and(|m| rows.len() as u64 >= m) {
                break;
            }
            let row = split(line.trim_end_matches('\r'));
            if row.len() != columns.len() {
                return Err(DatasetError::FieldCount {
                    line: i + 2,
                    fields: row.len(),
                    columns: columns.len(),
                });
            }
            rows.push(row);
        }
        if rows.is_empty() {
            return Err(DatasetError::NoRows);
        }
        Ok(Dataset { columns, rows })
    }
}

/// One CSV line's fields (`"` quotes, `""` inside quotes): a dataset's lines, and
/// valkey-benchmark's `--csv` output as valkey-perf reads it.
pub fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

impl Workload {
    /// A single-command workload.
    pub fn single(command: CommandSpec, data_size: usize, keyspacelen: Option<u64>) -> Workload {
        Workload {
            commands: vec![WeightedCommand { command, weight: 1 }],
            data_size,
            keyspacelen,
            key_order: KeyOrder::Random { seed: 0 },
            distinct_values: false,
            dataset: None,
            keyless_to_home: false,
        }
    }

    /// The title of the workload (the titles of its commands joined with `+`).
    pub fn title(&self) -> String {
        let titles: Vec<String> = self.commands.iter().map(|c| c.command.title()).collect();
        titles.join("+")
    }
}

/// When the measured phase ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this many measured requests in total.
    Requests(u64),
    /// After this long (measured phase, warm-up excluded).
    Duration(Duration),
}

/// How requests are spaced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// Send whenever a pipeline slot is free.
    ClosedLoop,
    /// A fixed total rate spread evenly over the connections. Latency counts from each
    /// request's intended send time (coordinated-omission correction).
    FixedRate { rps: f64 },
}

/// Which cluster nodes a run's clients are bound to (valkey-benchmark's `--rfr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadFrom {
    /// Each client to a primary (round robin).
    #[default]
    Primaries,
    /// Each client to a replica (round robin over every primary's replicas), after
    /// `READONLY`, reading the keys of that replica's primary.
    Replicas,
    /// Round robin over the primaries and then the replicas.
    All,
}

impl fmt::Display for ReadFrom {
    /// As valkey-benchmark's `--rfr` and the config's `read_from_replicas` spell it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReadFrom::Primaries => "no",
            ReadFrom::Replicas => "yes",
            ReadFrom::All => "all",
        })
    }
}

/// Everything one load run needs.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The server (a cluster's seed node when `address.cluster`: the client discovers the
    /// cluster from it and routes by key slot), with its TLS and credentials.
    pub address: Address,
    /// `SELECT` this database after connecting (standalone only).
    pub dbnum: Option<u32>,
    /// Speak RESP3 (`HELLO 3`).
    pub resp3: bool,
    /// Cluster mode: which nodes the clients are bound to. Meant for read workloads: a
    /// replica answers writes with a redirect to its primary.
    pub read_from: ReadFrom,
    pub workload: Workload,
    /// Number of clients, each with one connection. In cluster mode client `i` is bound to
    /// primary `i % primaries` and draws its keys from that node's slots.
    pub clients: usize,
    /// Worker threads, each with its own single-threaded event loop.
    pub threads: usize,
    /// Requests in flight per client (sliding window).
    pub pipeline: usize,
    /// Pipelining in lockstep: a client sends its whole window at once and sends again only
    /// when every reply is in (valkey-benchmark's way), so the server reads the same batches
    /// whatever the timing. Counting instructions needs this; the sliding window is faster.
    pub lockstep: bool,
    pub stop: Stop,
    /// Load whose statistics are discarded, on the same connections, before measuring.
    pub warmup: Duration,
    pub pacing: Pacing,
    /// CPUs for the worker threads (thread `i` gets `cpu_set[i % len]`).
    pub cpu_set: Option<Vec<usize>>,
    /// Share of failed requests (0.0..=1.0) above which the run fails. 0.0: any error fails.
    pub max_error_share: f64,
    pub connect_timeout: Duration,
    /// A run with requests in flight and no reply for this long stops with a timeout error.
    pub reply_timeout: Duration,
    /// The caller prepared the data (seeded the keyspace, filled the list), so every reply
    /// should have the shape its command implies; a sampled reply that does not is warned
    /// about ([`crate::LoadWarning::UnexpectedReplies`]).
    pub seeded: bool,
    /// Test hook: worker thread `.0` panics before connecting (`.1` false) or after the
    /// window started (`.1` true).
    #[cfg(test)]
    pub(crate) panic_in_worker: Option<(usize, bool)>,
}

impl LoadSpec {
    /// A spec with the defaults: 50 clients, 1 thread, pipeline 1, 100000 requests, closed
    /// loop, no warm-up, any error fails the run.
    pub fn new(address: Address, workload: Workload) -> LoadSpec {
        LoadSpec {
            address,
            dbnum: None,
            resp3: false,
            read_from: ReadFrom::Primaries,
            workload,
            clients: 50,
            threads: 1,
            pipeline: 1,
            lockstep: false,
            stop: Stop::Requests(100_000),
            warmup: Duration::ZERO,
            pacing: Pacing::ClosedLoop,
            cpu_set: None,
            max_error_share: 0.0,
            connect_timeout: Duration::from_secs(5),
            reply_timeout: Duration::from_secs(10),
            seeded: false,
            #[cfg(test)]
            panic_in_worker: None,
        }
    }
}
