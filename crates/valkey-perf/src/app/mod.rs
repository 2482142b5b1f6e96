//! Commands that tie every layer together. Only this module and `cli` see everything.

pub mod logging;
pub mod run;
