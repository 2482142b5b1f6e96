//! The Grafana dashboards (`dashboards/grafana/dashboards/*.json`) against a real PostgreSQL
//! on each row shape they meet: valkey-perf's own rows, rows pushed by upstream's script
//! (valkey-perf-benchmark: no io-threads column, release tags in `commit`), and such a database
//! after valkey-perf migrated it. Every template variable's query and every panel's SQL, with
//! Grafana's macros and the variables substituted as Grafana does (every value selected), runs
//! and returns rows, and the regression table names the planted drop on each shape.

use crate::dashboard::{fixture_commits, fixture_records, load_fixture};
use crate::shared_db::{Upstream, pg_with_tls};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use store::test_support::PgInstance;

/// `$__timeFilter(col)` as Grafana expands it, over a range that holds every fixture commit.
fn expand_macros(sql: &str) -> String {
    let mut out = sql.to_string();
    while let Some(i) = out.find("$__timeFilter(") {
        let close = i + out[i..].find(')').expect("closing parenthesis");
        let column = &out[i + "$__timeFilter(".len()..close];
        let expanded =
            format!("{column} BETWEEN '2000-01-01T00:00:00Z' AND '2100-01-01T00:00:00Z'");
        out.replace_range(i..=close, &expanded);
    }
    out
}

/// Multi-value variables as Grafana's PostgreSQL data source formats them: `'a','b'`.
fn substitute(sql: &str, vars: &[(String, Vec<String>)]) -> String {
    let mut out = expand_macros(sql);
    let mut sorted: Vec<&(String, Vec<String>)> = vars.iter().collect();
    sorted.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    for (name, values) in sorted {
        let list: Vec<String> = values
            .iter()
            .map(|v| format!("'{}'", v.replace('\'', "''")))
            .collect();
        out = out.replace(&format!("${name}"), &list.join(","));
    }
    assert!(
        !out.contains('$'),
        "an unsubstituted variable or macro:\n{out}"
    );
    out
}

/// The previous commit measured again beside the newest (`reference_for`), twice as fast: the
/// panels read a commit's own rows only, so the planted drop below still reads -10 %.
fn push_reference_rows(url: &str, dir: &Path, commits: &[String]) {
    let [.., previous, newest] = commits else {
        panic!("{commits:?}")
    };
    let own = dir.join("results").join(previous).join("metrics.json");
    let mut records: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(own).unwrap()).unwrap();
    for r in &mut records {
        *r = Value::Object(valkey_perf::model::flatten_details(
            r.as_object().unwrap().clone(),
        ));
        r["rps"] = serde_json::json!(r["rps"].as_f64().unwrap() * 2.0);
        r["reference_for"] = serde_json::json!(newest);
        r["run_started_at"] = serde_json::json!("2030-01-01T00:00:00.000Z");
        r["run_index"] = serde_json::json!(r["run_index"].as_u64().unwrap() + 100);
        *r = Value::Object(valkey_perf::model::nest_details(
            r.as_object().unwrap().clone(),
        ));
    }
    let d = dir.join("reference").join(previous);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("metrics.json"), Value::Array(records).to_string()).unwrap();
    crate::dashboard::vp(url)
        .args(["push", "--results-dir", d.to_str().unwrap()])
        .assert()
        .success();
}

/// Upstream's form of the fixture (no run details, no io-threads, no `config_set`), as
/// valkey-perf-benchmark writes it; release rows carry the tag in `commit`, as upstream's do.
fn upstream_form(records: Value, commit: Option<&str>) -> Value {
    let mut records = records;
    for r in records.as_array_mut().unwrap() {
        let m = r.as_object_mut().unwrap();
        m.retain(|k, _| {
            !matches!(
                k.as_str(),
                "ref"
                    | "run_index"
                    | "run_started_at"
                    | "engine"
                    | "engine_version"
                    | "seed"
                    | "server_version"
                    | "server_restarted"
                    | "config_set"
                    | "keyspacelen"
                    | "valkey_benchmark_threads"
                    | "io_threads"
            )
        });
        if let Some(c) = commit {
            m.insert("commit".into(), json!(c));
        }
    }
    records
}

/// The fixture in upstream's form, pushed by upstream's own script (core and tag tables).
fn upstream_pushed(up: &Upstream, pg: &PgInstance, db: &str, dir: &Path) -> (PathBuf, PathBuf) {
    let commits = fixture_commits();
    let mut by_time = commits.clone();
    by_time.sort_by(|a, b| a.1.cmp(&b.1));
    let results = dir.join("upstream-results");
    for (sha, time) in &commits {
        let t = by_time.iter().position(|(s, _)| s == sha).unwrap();
        let d = results.join(sha);
        std::fs::create_dir_all(&d).unwrap();
        let records = upstream_form(fixture_records(sha, time, t, t == 9, "unstable"), None);
        std::fs::write(d.join("metrics.json"), records.to_string()).unwrap();
    }
    let tags = dir.join("upstream-tags");
    for (i, tag) in ["8.0.0", "8.1.0", "9.0.0"].into_iter().enumerate() {
        let d = tags.join(tag);
        std::fs::create_dir_all(&d).unwrap();
        let time = format!("2024-0{}-01T00:00:00Z", 3 + 3 * i);
        let records = upstream_form(fixture_records(tag, &time, i * 3, false, tag), Some(tag));
        std::fs::write(d.join("metrics.json"), records.to_string()).unwrap();
    }
    for (dir, table) in [(&results, "core"), (&tags, "tag")] {
        let out = up.run(
            pg,
            db,
            "push_to_postgres",
            &["--results-dir", dir.to_str().unwrap(), "--table", table],
        );
        assert_eq!(out.code, Some(0), "{out:?}");
    }
    (results, tags)
}

/// Runs every variable's and panel's SQL of every dashboard on `db`; returns the rows per
/// panel (dashboard file, panel title, rows) and the regression table's worst case.
type PanelRows = Vec<(String, String, usize)>;

fn run_panels(pg: &PgInstance, shape: &str) -> (PanelRows, (String, String, f64)) {
    let mut client = pg.client(shape).unwrap();
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards/grafana/dashboards");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    let mut counts = Vec::new();
    let mut worst = None;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let dash: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let mut vars = Vec::new();
        for v in dash["templating"]["list"].as_array().unwrap() {
            let var = v["name"].as_str().unwrap().to_string();
            let sql = v["query"].as_str().unwrap();
            let rows = client
                .query(sql, &[])
                .unwrap_or_else(|e| panic!("{shape}: {name}: variable `{var}`: {e}\n{sql}"));
            let values: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
            assert!(
                !values.is_empty(),
                "{shape}: {name}: variable `{var}` has no values"
            );
            vars.push((var, values));
        }
        eprintln!("{shape}: {name}: variables {vars:?}");
        for panel in dash["panels"].as_array().unwrap() {
            let title = panel["title"].as_str().unwrap();
            for t in panel["targets"].as_array().unwrap() {
                let sql = substitute(t["rawSql"].as_str().unwrap(), &vars);
                let rows = client
                    .query(sql.as_str(), &[])
                    .unwrap_or_else(|e| panic!("{shape}: {name}: panel `{title}`: {e}\n{sql}"));
                assert!(
                    !rows.is_empty(),
                    "{shape}: {name}: panel `{title}` returned no rows:\n{sql}"
                );
                if sql.starts_with("WITH newest") {
                    let rows = client
                        .query(
                            format!("SELECT command, data_size, rps_change_pct::float8 FROM ({sql}) q ORDER BY 3").as_str(),
                            &[],
                        )
                        .unwrap();
                    assert_eq!(rows.len(), 4, "{shape}: one row per case");
                    worst = Some((rows[0].get(0), rows[0].get(1), rows[0].get(2)));
                }
                counts.push((name.clone(), title.to_string(), rows.len()));
            }
        }
    }
    assert!(counts.len() >= 6, "{counts:?}");
    (counts, worst.expect("the regression table ran"))
}

#[test]
fn every_grafana_panel_returns_rows_on_every_row_shape() {
    // Without upstream's scripts only valkey-perf's own rows can be made: those are still
    // checked.
    let up = Upstream::find();
    let Some(pg) = pg_with_tls("every_grafana_panel_returns_rows_on_every_row_shape") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();

    // valkey-perf's own rows (per-run details nested, reference rows beside).
    let url = pg.create_database("ours").unwrap();
    let commits = load_fixture(&url, dir.path());
    push_reference_rows(&url, dir.path(), &commits);
    if let Some(up) = &up {
        // Upstream's rows, pushed by its own script into a database valkey-perf never opened.
        pg.create_database("upstream").unwrap();
        upstream_pushed(up, &pg, "upstream", &dir.path().join("u1"));
        // The same, then opened by valkey-perf: migrated, and the same results pushed again
        // (nothing added).
        let migrated = pg.create_database("migrated").unwrap();
        let (results, tags) = upstream_pushed(up, &pg, "migrated", &dir.path().join("u2"));
        for (d, table) in [(&results, "core"), (&tags, "tag")] {
            let out = crate::dashboard::vp(&migrated)
                .args([
                    "push",
                    "--table",
                    table,
                    "--results-dir",
                    d.to_str().unwrap(),
                ])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains(" 0 rows inserted"),
                "{out:?}"
            );
        }
    }
    let shapes: &[&str] = if up.is_some() {
        &["ours", "upstream", "migrated"]
    } else {
        &["ours"]
    };
    let mut table = Vec::new();
    for &shape in shapes {
        let (counts, (command, size, change)) = run_panels(&pg, shape);
        eprintln!("{shape}: regression table: worst case {command} {size} B, rps {change:+.2} %");
        // The planted drop: SET 16 B about -10 %, whoever wrote the rows.
        assert_eq!((command.as_str(), size.as_str()), ("SET", "16"), "{shape}");
        assert!((-12.0..-8.0).contains(&change), "{shape}: {change}");
        table.push((shape, counts));
    }
    // Rows per panel per shape, for the record.
    eprintln!("| dashboard | panel | ours | upstream-pushed | upstream, migrated |");
    eprintln!("| --- | --- | --- | --- | --- |");
    for (i, (file, title, _)) in table[0].1.iter().enumerate() {
        let counts: Vec<String> = table.iter().map(|(_, c)| c[i].2.to_string()).collect();
        eprintln!("| {file} | {title} | {} |", counts.join(" | "));
    }
    if up.is_none() {
        return;
    }
    // Upstream's rows have no io-threads: the series are there, labelled `default`.
    let mut client = pg.client("upstream").unwrap();
    let io: Vec<String> = client
        .query(
            "SELECT DISTINCT COALESCE(to_jsonb(m) ->> 'io_threads', 'default') FROM benchmark_metrics m",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(io, ["default"]);
}
