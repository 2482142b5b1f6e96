//! The single integration-test binary; each module covers one layer against real programs.

mod build;
