//! Config files (SPEC §4): parsing, validation and expansion into cases.
