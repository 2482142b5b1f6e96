//! The integration-test binary: one module per area, sharing fixtures under `tests/fixtures`.

mod compare;
