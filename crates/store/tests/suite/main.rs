//! The store's test suite. Every scenario runs against both backends: a SQLite file in a
//! temporary directory and a throwaway PostgreSQL server (`store::test_support`). Without
//! PostgreSQL the PostgreSQL variants skip, saying why, except under `CI=true`, where they fail.

mod support;

mod claim;
mod commits;
mod layout;
mod push;
mod upstream;
