//! `valkey-perf dashboard` end to end: a database of 10 commits × 4 cases × 3 runs (pushed by
//! `push`), the page opened in a real headless Chromium from a file URL with the network off:
//! the DOM (what changed first, one chart per case combination drawn by the page's script,
//! commit labels in commit-time order, the comparison table, the command filter working), a
//! screenshot that is not blank, the size; a history with a planted step lists it first and
//! its chart marks it; charts below the fold are drawn when scrolled to, not before; an empty
//! database gives the no-data page; `--serve` serves the page and rebuilds it.
//!
//! With `VALKEY_PERF_WRITE_SCREENSHOT=1` the screenshot is also written to
//! `docs/dashboard.png` (the README's picture).

use assert_cmd::Command;
use serde_json::{Value, json};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn vp(db: &str) -> Command {
    let mut cmd = Command::cargo_bin("valkey-perf").unwrap();
    cmd.env_remove("RUST_LOG").env("VALKEY_PERF_DB", db);
    cmd.timeout(Duration::from_secs(120));
    cmd
}

/// Fixture commits: SHAs whose alphabetical order is not their time order, listed out of order.
pub fn fixture_commits() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = (0..10)
        .map(|i| {
            // A scrambled but valid hex SHA per commit.
            let sha: String = format!("{:040x}", (i as u128 * 0x9e37_79b9_7f4a_7c15) ^ 0xabc)
                .chars()
                .rev()
                .collect();
            (sha, format!("2025-03-{:02}T{:02}:00:00Z", 1 + i, 8 + i))
        })
        .collect();
    out.swap(2, 7);
    out.swap(0, 5);
    out
}

/// The four cases: SET and GET, each at (16 B, pipeline 1) and (512 B, pipeline 16).
pub const CASES: [(&str, u64, u64); 4] = [
    ("SET", 16, 1),
    ("GET", 16, 1),
    ("SET", 512, 16),
    ("GET", 512, 16),
];

/// Three runs per case of one commit, with a deterministic wiggle; the commit with time
/// index `t` (0 oldest) gets a gentle trend, and the newest a 10 % drop in SET 16 B.
pub fn fixture_records(sha: &str, time: &str, t: usize, newest: bool, git_ref: &str) -> Value {
    let mut records = Vec::new();
    for (c, (command, size, pipeline)) in CASES.iter().enumerate() {
        for run in 0..3u64 {
            let wiggle = 1.0 + [0.0, -0.008, 0.009][run as usize] + 0.002 * c as f64;
            let base = if *pipeline == 1 { 120_000.0 } else { 900_000.0 };
            let mut rps = base * (1.0 + 0.01 * t as f64) * wiggle;
            if newest && c == 0 {
                rps *= 0.9;
            }
            let p50 = 50.0 * *pipeline as f64 / rps * 1000.0;
            records.push(json!({
                "timestamp": time, "commit": sha, "ref": git_ref,
                "repository": "valkey-io/valkey", "command": command, "data_size": size,
                "pipeline": pipeline, "clients": 50, "requests": 100000,
                "benchmark_mode": "requests", "keyspacelen": 100000, "rps": rps,
                "avg_latency_ms": p50 * 1.05, "min_latency_ms": p50 * 0.3,
                "p50_latency_ms": p50, "p95_latency_ms": p50 * 1.6,
                "p99_latency_ms": p50 * 2.1, "max_latency_ms": p50 * 9.0,
                "cluster_mode": false, "tls": false, "io_threads": 1,
                "valkey_benchmark_threads": null, "warmup": 0, "architecture": "x86_64",
                "run_index": run, "engine": "native", "engine_version": "valkey-perf 0.1.0",
                "server_version": "9.1.2", "server_restarted": true, "config_set": {},
                "seed": 1000 + run,
                "run_started_at": format!("{}.{run:03}Z", &time[..19]),
            }));
        }
    }
    Value::Array(records)
}

/// Records as `run` writes them: per-run details in the nested `run_details` object.
pub fn as_written(records: Value) -> Value {
    Value::Array(
        records
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                Value::Object(valkey_perf::model::nest_details(
                    r.as_object().unwrap().clone(),
                ))
            })
            .collect(),
    )
}

/// Writes the fixture's results below `dir` and pushes them into `db` (and three release tags
/// into `--table tag`). Returns the commits in commit-time order.
pub fn load_fixture(db: &str, dir: &Path) -> Vec<String> {
    let commits = fixture_commits();
    let mut by_time = commits.clone();
    by_time.sort_by(|a, b| a.1.cmp(&b.1));
    let results = dir.join("results");
    for (sha, time) in &commits {
        let t = by_time.iter().position(|(s, _)| s == sha).unwrap();
        let d = results.join(sha);
        fs::create_dir_all(&d).unwrap();
        let records = as_written(fixture_records(sha, time, t, t == 9, "unstable"));
        fs::write(d.join("metrics.json"), records.to_string()).unwrap();
    }
    vp(db)
        .args(["push", "--results-dir", results.to_str().unwrap()])
        .assert()
        .success();
    let tags = dir.join("tags");
    for (i, tag) in ["8.0.0", "8.1.0", "9.0.0"].into_iter().enumerate() {
        let d = tags.join(tag);
        fs::create_dir_all(&d).unwrap();
        let sha = format!("{:040x}", 0xfeed_0000 + i);
        let time = format!("2024-0{}-01T00:00:00Z", 3 + 3 * i);
        fs::write(
            d.join("metrics.json"),
            as_written(fixture_records(&sha, &time, i * 3, false, tag)).to_string(),
        )
        .unwrap();
    }
    vp(db)
        .args([
            "push",
            "--table",
            "tag",
            "--results-dir",
            tags.to_str().unwrap(),
        ])
        .assert()
        .success();
    by_time.into_iter().map(|(s, _)| s).collect()
}

/// Headless Chromium from Debian, or `None` after saying why (a failure under `CI=true`).
pub fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser"] {
        for dir in ["/usr/bin", "/usr/local/bin"] {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let why = "`chromium` is missing; apt-get install -y chromium (scripts/install-deps.sh)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the dashboard tests need a browser under CI: {why}");
    }
    eprintln!("skipping: {why}");
    None
}

/// Runs headless Chromium on `url` with the network off, stopping it (its own process group)
/// after a deadline. Returns stdout.
pub fn run_chromium(bin: &Path, extra: &[String], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out_file = profile.path().join("stdout");
    let mut cmd = std::process::Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-extensions",
        "--hide-scrollbars",
        // No name resolves and no proxy answers: the page must need no network.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--virtual-time-budget=3000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(url)
    .stdout(fs::File::create(&out_file).unwrap())
    .stderr(std::process::Stdio::null())
    .process_group(0);
    let mut child = cmd.spawn().expect("starting chromium");
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            panic!("chromium did not finish within 90 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Chromium's helpers share its process group; make sure none outlives the test.
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    assert!(status.success(), "chromium failed on {url}: {status}");
    fs::read_to_string(out_file).unwrap()
}

pub fn file_url(p: &Path) -> String {
    format!("file://{}", p.canonicalize().unwrap().display())
}

/// Every `<text class="xlabel">` label of the first chart, in document order.
fn first_chart_labels(dom: &str) -> Vec<String> {
    let start = dom.find("<figure class=\"chart\"").expect("a chart");
    let svg = &dom[start..start + dom[start..].find("</svg>").unwrap()];
    svg.split("class=\"xlabel\"")
        .skip(1)
        .map(|s| {
            let after_title = &s[s.find("</title>").unwrap() + "</title>".len()..];
            after_title[..after_title.find("</text>").unwrap()].to_string()
        })
        .collect()
}

fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("<section id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section `{id}`"));
    &dom[start..start + dom[start..].find("</section>").unwrap()]
}

/// Pixels that differ clearly from the page's white background.
fn non_background_pixels(png_path: &Path) -> (usize, usize) {
    let decoder = png::Decoder::new(fs::File::open(png_path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = buf[..info.buffer_size()].chunks(channels);
    let total = (info.width * info.height) as usize;
    let ink = pixels
        .filter(|p| p.iter().take(3).any(|&c| c < 235))
        .count();
    (ink, total)
}

/// Pixels of the throughput line's colour (`#1f6fb4`, give or take anti-aliasing).
fn line_pixels(png_path: &Path) -> usize {
    let decoder = png::Decoder::new(fs::File::open(png_path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| {
            let near = |c: u8, want: i32| (i32::from(c) - want).abs() < 24;
            near(p[0], 0x1f) && near(p[1], 0x6f) && near(p[2], 0xb4)
        })
        .count()
}

#[test]
fn dashboard_of_ten_commits_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("perf.db").display());
    let in_order = load_fixture(&db, dir.path());
    let html = dir.path().join("dashboard.html");
    let out = vp(&db)
        .args(["dashboard", "--output", html.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        html.display().to_string()
    );
    let page = fs::read_to_string(&html).unwrap();
    let size = page.len();
    assert!(size < 2_000_000, "the page is {size} bytes");
    // Self-contained: nothing is loaded from anywhere (links to commits are only links).
    for needle in [" src=", "<link", "@import", "url("] {
        assert!(
            !page.contains(needle),
            "the page loads something: `{needle}`"
        );
    }

    let Some(bin) = chromium() else { return };
    // Wide enough that every one of the ten commits gets its label.
    let dom = run_chromium(
        &bin,
        &["--dump-dom".into(), "--window-size=1200,900".into()],
        &file_url(&html),
    );
    let trends = section(&dom, "trends");
    // One chart per (data size, pipeline, io-threads, cluster, TLS) combination: two here,
    // each with a panel per command, each panel an rps and a latency chart, drawn by the
    // page's script from its data block.
    assert_eq!(
        trends.matches("<figure class=\"chart\"").count(),
        2,
        "{trends}"
    );
    assert_eq!(trends.matches("<div class=\"panel\"").count(), 4);
    assert_eq!(trends.matches("data-drawn=\"1\"").count(), 4, "{trends}");
    assert_eq!(trends.matches("<svg class=\"rps\"").count(), 4);
    assert_eq!(trends.matches("<svg class=\"latency\"").count(), 4);
    assert_eq!(
        trends.matches("<path class=\"line\"").count(),
        4 * 3,
        "{trends}"
    );
    assert!(trends.contains("16 B values · pipeline 1 · io-threads 1 · standalone · plain TCP"));
    // Commit labels: short SHAs in commit-time order, linked to the commits.
    let short: Vec<String> = in_order.iter().map(|s| s[..7].to_string()).collect();
    assert_eq!(first_chart_labels(&dom), short);
    assert!(dom.contains(&format!(
        "href=\"https://github.com/valkey-io/valkey/commit/{}\"",
        in_order[0]
    )));
    // What changed leads the page: the fixture's steady 1 %-per-commit climb is found as a
    // step in the middle of the history, each entry linked to its chart.
    let changes = dom.find("<section id=\"changes\"").unwrap();
    assert!(changes < dom.find("<section id=\"latest\"").unwrap());
    let changes = section(&dom, "changes");
    let entries = changes.matches("<tr data-command=").count();
    assert!(entries >= 1, "{changes}");
    assert_eq!(changes.matches("href=\"#p").count(), entries, "{changes}");
    // The newest commit against the previous one: 4 cases × rps, p50, p99; the planted drop.
    let latest = section(&dom, "latest");
    assert!(latest.contains("<table id=\"comparison\""));
    assert_eq!(latest.matches("<tr data-command=").count(), 12, "{latest}");
    assert!(latest.contains(&in_order[9][..7]) && latest.contains(&in_order[8][..7]));
    // Two commits are two invocations: a 9 % drop of one case of 4 is judged against the
    // default drift between invocations (sd 5 %), so it is shown with its interval, and a
    // verdict only if it clears that drift.
    assert!(
        latest.contains("SET") && latest.contains("-9.17 %"),
        "{latest}"
    );
    assert!(
        latest.contains("class=\"regression\">regression") || latest.contains("-17.75 … +0.31 %"),
        "{latest}"
    );
    // Release view from the tag table.
    let releases = section(&dom, "releases");
    assert_eq!(releases.matches("<svg class=\"release-rps\"").count(), 4);
    assert!(releases.contains("8.1.0") && releases.contains("9.0.0"));

    // The command filter (plain JavaScript): only GET shown.
    let dom = run_chromium(
        &bin,
        &["--dump-dom".into()],
        &format!("{}#commands=GET", file_url(&html)),
    );
    let hidden = |cmd: &str| {
        section(&dom, "trends")
            .matches(&format!("data-command=\"{cmd}\" hidden"))
            .count()
    };
    assert_eq!(
        (hidden("SET"), hidden("GET")),
        (2, 0),
        "the filter did not run"
    );

    // The screenshot is not blank.
    let shot = dir.path().join("shot.png");
    run_chromium(
        &bin,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,1500".into(),
        ],
        &file_url(&html),
    );
    let (ink, total) = non_background_pixels(&shot);
    eprintln!(
        "dashboard: {size} bytes; screenshot {ink} of {total} pixels not background ({:.1} %)",
        100.0 * ink as f64 / total as f64
    );
    assert!(
        ink * 100 > total * 3,
        "{ink} of {total} pixels drawn: blank?"
    );
    if std::env::var("VALKEY_PERF_WRITE_SCREENSHOT").is_ok_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        fs::create_dir_all(&docs).unwrap();
        fs::copy(&shot, docs.join("dashboard.png")).unwrap();
    }
}

#[test]
fn an_empty_database_gives_the_no_data_page() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("empty.db").display());
    let html = dir.path().join("out/dashboard.html");
    vp(&db)
        .args(["dashboard", "--output", html.to_str().unwrap()])
        .assert()
        .success();
    let page = fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("id=\"no-data\"") && page.contains("No data yet"),
        "{page}"
    );
    let Some(bin) = chromium() else { return };
    let dom = run_chromium(&bin, &["--dump-dom".into()], &file_url(&html));
    assert!(dom.contains("No data yet"), "{dom}");
    assert!(!dom.contains("<figure"));
}

fn http_get(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn serve_rebuilds_the_page_when_results_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("perf.db").display());
    let html = dir.path().join("dashboard.html");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("valkey-perf"))
        .env("VALKEY_PERF_DB", &db)
        .args([
            "dashboard",
            "--serve",
            "127.0.0.1:0",
            "--poll",
            "1",
            "--output",
        ])
        .arg(&html)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let stdout = child.stdout.take().unwrap();
    let result = std::panic::catch_unwind(|| {
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(stdout);
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        let addr = line
            .trim()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        assert!(addr.starts_with("127.0.0.1:"), "{line}");
        let first = http_get(&addr);
        assert!(first.starts_with("HTTP/1.1 200") && first.contains("No data yet"));
        load_fixture(&db, dir.path());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let page = http_get(&addr);
            if page.contains("<figure class=\"chart\"") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the page was not rebuilt: {page}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        assert!(fs::read_to_string(&html).unwrap().contains("<figure"));
    });
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let status = child.wait().unwrap();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    assert_eq!(
        status.code(),
        Some(130),
        "Ctrl-C / SIGTERM stops the server"
    );
}

/// A failed scenario run (`status: failed`, no numbers) is stored by `push` but not drawn: a
/// database holding only such runs gives the no-data page, not a chart at zero.
#[test]
fn failed_scenario_runs_are_not_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("failed.db").display());
    let (sha, time) = fixture_commits().remove(0);
    let mut records = fixture_records(&sha, &time, 0, false, "unstable");
    for r in records.as_array_mut().unwrap() {
        r["status"] = json!("failed");
        r["rps"] = json!(0.0);
    }
    let d = dir.path().join("results").join(&sha);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("metrics.json"), records.to_string()).unwrap();
    vp(&db)
        .args(["push", "--results-dir"])
        .arg(dir.path().join("results"))
        .assert()
        .success();
    let html = dir.path().join("dashboard.html");
    vp(&db)
        .args(["dashboard", "--output", html.to_str().unwrap()])
        .assert()
        .success();
    let page = fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"no-data\""), "a chart of failed runs");
}

/// 30 commits × the four cases × 3 runs with 1 % noise; SET 16 B drops 15 % from the 21st
/// commit on (ten commits before the newest). The page lists that step first under "What
/// changed", with its commit and a link to its chart; following the link in a real browser
/// draws that chart with the change point marked at that commit and outlines the panel.
#[test]
fn a_planted_step_leads_the_page_and_is_marked_on_its_chart() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("step.db").display());
    let results = dir.path().join("results");
    let mut shas = Vec::new();
    for t in 0..30usize {
        let sha = format!("{:040x}", 0x5eed_0000_u64 + t as u64 * 7919);
        let time = format!("2025-04-{:02}T10:00:00Z", 1 + t);
        let mut records = fixture_records(&sha, &time, 0, false, "unstable");
        for (i, r) in records.as_array_mut().unwrap().iter_mut().enumerate() {
            // Deterministic noise of about 1 % per run and 0.5 % per commit.
            let noise = 1.0
                + 0.01 * (((i * 37 + t * 101) % 17) as f64 / 8.0 - 1.0)
                + 0.005 * (((t * 13) % 7) as f64 / 3.0 - 1.0);
            let step = if i < 3 && t >= 20 { 0.85 } else { 1.0 };
            r["rps"] = json!(r["rps"].as_f64().unwrap() * noise * step);
            r["invocation_id"] = json!(format!("inv-{t}"));
        }
        let d = results.join(&sha);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("metrics.json"), records.to_string()).unwrap();
        shas.push(sha);
    }
    vp(&db)
        .args(["push", "--results-dir", results.to_str().unwrap()])
        .assert()
        .success();
    let html = dir.path().join("dashboard.html");
    vp(&db)
        .args(["dashboard", "--output", html.to_str().unwrap()])
        .assert()
        .success();
    let page = fs::read_to_string(&html).unwrap();
    let changes = section(&page, "changes");
    let first = &changes[changes.find("<tbody><tr").expect(changes)..];
    let first = &first[..first.find("</tr>").unwrap()];
    assert!(first.contains(&shas[20][..7]), "{first}");
    assert!(
        first.contains("<b>SET</b>") && first.contains("16 B values"),
        "{first}"
    );
    assert!(first.contains("class=\"regression\">-1"), "{first}");
    let target = first
        .split("href=\"#p")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();

    let Some(bin) = chromium() else { return };
    let dom = run_chromium(
        &bin,
        &["--dump-dom".into()],
        &format!("{}#p{target}", file_url(&html)),
    );
    let at = dom
        .find(&format!("id=\"p{target}\""))
        .expect("the linked panel");
    let panel = &dom[dom[..at].rfind("<div").unwrap()..];
    let panel = &panel[..panel.find("</svg>").unwrap()];
    assert!(panel.contains("class=\"panel focus\""), "{panel}");
    assert!(panel.contains("data-drawn=\"1\""), "{panel}");
    assert_eq!(
        panel.matches("class=\"changepoint\" data-x=\"20\"").count(),
        1,
        "{panel}"
    );
    assert!(
        panel.contains(&format!("change point at {}", &shas[20][..7])),
        "{panel}"
    );
    assert!(panel.contains("class=\"noise\""), "{panel}");
}

/// Whether the panel `p{i}` of a dumped DOM was drawn by the page's script.
fn panel_drawn(dom: &str, i: usize) -> bool {
    let at = dom
        .find(&format!(" id=\"p{i}\""))
        .unwrap_or_else(|| panic!("no panel p{i}"));
    let open = &dom[dom[..at].rfind("<div").unwrap()..];
    open[..open.find('>').unwrap()].contains("data-drawn=\"1\"")
}

/// Sixteen charts (one per value size, a SET panel each) in a window 600 px high: the page
/// draws the charts in view and three screens below, not the ones further down; a chart is drawn
/// once it is scrolled to. Following the link to the last chart scrolls there: the chart
/// before it is drawn by the same observer (the link itself draws only its own), the charts
/// in the middle, never in view, are not.
#[test]
fn dashboard_charts_are_drawn_when_scrolled_into_view() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("fold.db").display());
    let results = dir.path().join("results");
    let sizes: Vec<u64> = (0..16).map(|k| 16 << k).collect();
    for t in 0..5usize {
        let sha = format!("{:040x}", 0xf01d_0000_u64 + t as u64 * 7919);
        let time = format!("2025-05-{:02}T10:00:00Z", 1 + t);
        let set_16: Vec<Value> = fixture_records(&sha, &time, t, false, "unstable")
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["command"] == "SET" && r["data_size"] == 16)
            .cloned()
            .collect();
        let mut records = Vec::new();
        for &size in &sizes {
            for r in &set_16 {
                let mut r = r.clone();
                r["data_size"] = json!(size);
                records.push(r);
            }
        }
        let d = results.join(&sha);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("metrics.json"), Value::Array(records).to_string()).unwrap();
    }
    vp(&db)
        .args(["push", "--results-dir", results.to_str().unwrap()])
        .assert()
        .success();
    let html = dir.path().join("dashboard.html");
    vp(&db)
        .args(["dashboard", "--output", html.to_str().unwrap()])
        .assert()
        .success();
    let page = fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<div class=\"panel\"").count(), sizes.len());

    let Some(bin) = chromium() else { return };
    let window = "--window-size=1200,600".to_string();
    let dom = run_chromium(
        &bin,
        &["--dump-dom".into(), window.clone()],
        &file_url(&html),
    );
    let drawn: Vec<bool> = (0..sizes.len()).map(|i| panel_drawn(&dom, i)).collect();
    assert!(drawn[0], "the first chart is in view: {drawn:?}");
    assert!(
        !drawn[15],
        "the last chart is far below the fold: {drawn:?}"
    );
    let count = drawn.iter().filter(|d| **d).count();
    assert!(
        dom.contains(&format!("data-charts-drawn=\"{count}\"")),
        "{drawn:?}"
    );

    // A screenshot shows the first view's charts drawn: their throughput lines are there.
    let shot = dir.path().join("fold.png");
    run_chromium(
        &bin,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,1400".into(),
        ],
        &file_url(&html),
    );
    let line = line_pixels(&shot);
    assert!(
        line > 200,
        "{line} pixels of the throughput line's blue: charts not drawn"
    );

    let dom = run_chromium(
        &bin,
        &["--dump-dom".into(), window],
        &format!("{}#p15", file_url(&html)),
    );
    let drawn: Vec<bool> = (0..sizes.len()).map(|i| panel_drawn(&dom, i)).collect();
    assert!(
        drawn[15] && drawn[14],
        "scrolled to the last charts: {drawn:?}"
    );
    assert!(
        !drawn[8],
        "the middle charts were never near the view: {drawn:?}"
    );
    // Drawn from the data block: the line of every commit, the commit labels.
    let at = dom.find(" id=\"p14\"").unwrap();
    let panel = &dom[at..at + dom[at..].find("</div>").unwrap()];
    assert_eq!(panel.matches("<path class=\"line\"").count(), 3, "{panel}");
    assert_eq!(panel.matches("class=\"xlabel\"").count(), 5, "{panel}");
}
