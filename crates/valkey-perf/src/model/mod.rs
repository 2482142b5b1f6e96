//! The data model every layer shares: cases (what to measure), records (what was measured)
//! and the metrics a load generator reports. Depends on nothing else in the crate.

pub mod capacity;
pub mod case;
pub mod fields;
pub mod parts;
pub mod record;
pub mod scenario;
pub mod warning;

pub use case::{
    BenchmarkMode, Builtin, Case, CaseCommand, KeyDistribution, ReadFromReplicas, ServerTopology,
};
pub use parts::{
    BenchmarkFigures, CpuSource, EngineKind, Instructions, MemoryFigures, NativeFigures,
    RecordMode, RecordParts, RunStatus, ScenarioFields, TimeseriesRef, WindowUsage,
};
pub use record::{DETAILS_KEY, EnvInfo, Metrics, Record, flatten_details, nest_details};
pub use scenario::{GroupId, Phase, Scenario, ScenarioKind, Stream};
pub use warning::{Warning, WarningKind};
