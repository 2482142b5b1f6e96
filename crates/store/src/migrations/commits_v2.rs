//! Version 2 of a commits table: valkey-perf's claims survive valkey-perf-benchmark's cleanup
//! (PostgreSQL only; those scripts never write SQLite).
//!
//! Upstream's `postgres_track_commits.py determine` (and `cleanup`) first deletes every
//! `in_progress` row of its config and architecture (all of them without a config), however
//! young: it would delete the live claim of a valkey-perf runner, and the commit would be
//! benchmarked twice (or marked complete by whoever finishes last). A row trigger keeps
//! valkey-perf's claims (rows with a `runner_id`, which upstream never writes) unless the
//! deleting session is valkey-perf's own `commits cleanup` (which sets
//! `valkey_perf.cleanup` for its transaction and deletes only stale claims). Upstream's
//! DELETE then reports fewer rows; nothing fails on its side.

use crate::commits::CLEANUP_SETTING;
use crate::conn::{Dialect, Tx};
use crate::error::Result;
use crate::ident::q;

pub(super) fn commits_v2(tx: &mut Tx<'_>, table: &str) -> Result<()> {
    if tx.dialect() != Dialect::Postgres {
        return Ok(());
    }
    let t = q(table);
    let function = q(&format!("valkey_perf_keep_claims_{table}"));
    tx.batch(&format!(
        "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $body$ \
         BEGIN \
           IF OLD.status = 'in_progress' AND OLD.runner_id IS NOT NULL \
              AND coalesce(current_setting('{CLEANUP_SETTING}', true), '') <> 'on' THEN \
             RETURN NULL; \
           END IF; \
           RETURN OLD; \
         END $body$; \
         DROP TRIGGER IF EXISTS {trigger} ON {t}; \
         CREATE TRIGGER {trigger} BEFORE DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION {function}()",
        trigger = q(&format!("{table}_keep_claims")),
    ))
}
