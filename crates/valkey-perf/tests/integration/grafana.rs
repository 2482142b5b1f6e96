//! The Grafana dashboards (`dashboards/grafana/dashboards/*.json`) against a real PostgreSQL
//! loaded by `push`: every template variable's query and every panel's SQL, with Grafana's
//! macros and the variables substituted as Grafana does, runs and returns rows.

use crate::dashboard::load_fixture;
use serde_json::Value;
use std::path::Path;
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
        r["rps"] = serde_json::json!(r["rps"].as_f64().unwrap() * 2.0);
        r["reference_for"] = serde_json::json!(newest);
        r["run_started_at"] = serde_json::json!("2030-01-01T00:00:00.000Z");
        r["run_index"] = serde_json::json!(r["run_index"].as_u64().unwrap() + 100);
    }
    let d = dir.join("reference").join(previous);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("metrics.json"), Value::Array(records).to_string()).unwrap();
    crate::dashboard::vp(url)
        .args(["push", "--results-dir", d.to_str().unwrap()])
        .assert()
        .success();
}

#[test]
fn every_grafana_panel_query_returns_rows_from_pushed_results() {
    let Some(pg) = PgInstance::start_or_skip("every_grafana_panel_query_returns_rows") else {
        return;
    };
    let url = pg.create_database("grafana").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let commits = load_fixture(&url, dir.path());
    push_reference_rows(&url, dir.path(), &commits);
    let mut client = pg.client("grafana").unwrap();

    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards/grafana/dashboards");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    let mut panels_checked = 0;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let dash: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let mut vars = Vec::new();
        for v in dash["templating"]["list"].as_array().unwrap() {
            let var = v["name"].as_str().unwrap().to_string();
            let sql = v["query"].as_str().unwrap();
            let rows = client
                .query(sql, &[])
                .unwrap_or_else(|e| panic!("{name}: variable `{var}`: {e}\n{sql}"));
            let values: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
            assert!(!values.is_empty(), "{name}: variable `{var}` has no values");
            eprintln!("{name}: variable ${var} = {values:?}");
            vars.push((var, values));
        }
        for panel in dash["panels"].as_array().unwrap() {
            let title = panel["title"].as_str().unwrap();
            for t in panel["targets"].as_array().unwrap() {
                let sql = substitute(t["rawSql"].as_str().unwrap(), &vars);
                let rows = client
                    .query(sql.as_str(), &[])
                    .unwrap_or_else(|e| panic!("{name}: panel `{title}`: {e}\n{sql}"));
                eprintln!("{name}: panel `{title}`: {} rows", rows.len());
                assert!(
                    !rows.is_empty(),
                    "{name}: panel `{title}` returned no rows:\n{sql}"
                );
                panels_checked += 1;
            }
        }
    }
    assert!(panels_checked >= 6, "{panels_checked}");
    // The regression table names the planted drop: SET 16 B about -10 %.
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join("valkey-perf-regressions.json")).unwrap(),
    )
    .unwrap();
    let mut all = |q: &str| -> Vec<String> {
        client
            .query(q, &[])
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect()
    };
    let vars: Vec<(String, Vec<String>)> = [
        ("command", "command"),
        ("data_size", "data_size"),
        ("pipeline", "pipeline"),
        ("io_threads", "io_threads"),
        ("cluster_mode", "cluster_mode"),
        ("tls", "tls"),
    ]
    .iter()
    .map(|(n, c)| {
        (
            n.to_string(),
            all(&format!("SELECT DISTINCT {c}::text FROM benchmark_metrics")),
        )
    })
    .collect();
    let sql = substitute(
        dash["panels"][0]["targets"][0]["rawSql"].as_str().unwrap(),
        &vars,
    );
    let rows = client
        .query(
            format!(
                "SELECT command, data_size::text, rps_change_pct::float8 FROM ({sql}) q ORDER BY 3"
            )
            .as_str(),
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 4, "one row per case");
    let (command, size, change): (String, String, f64) =
        (rows[0].get(0), rows[0].get(1), rows[0].get(2));
    eprintln!("regression table: worst case {command} {size} B, rps {change:+.2} %");
    assert_eq!((command.as_str(), size.as_str()), ("SET", "16"));
    assert!((-12.0..-8.0).contains(&change), "{change}");
}
