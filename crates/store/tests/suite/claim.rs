//! Concurrent claims from separate OS processes: every commit is claimed exactly once.
//!
//! The workers are this test binary re-executed with `--exact claim::claim_worker --ignored`
//! and the database in the environment, so they run the real `Db::claim` on their own
//! connections, released at once by a barrier file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use store::{CommitFilter, Selection, Status, TableId};

use crate::both;
use crate::support::{Fixture, candidates, chain};

const WORKERS: usize = 4;
const COMMITS: usize = 30;
const URL_ENV: &str = "STORE_TEST_CLAIM_URL";
const DIR_ENV: &str = "STORE_TEST_CLAIM_DIR";
const RUNNER_ENV: &str = "STORE_TEST_CLAIM_RUNNER";

fn wait_for(path: &Path, deadline: Duration) -> bool {
    let start = Instant::now();
    while !path.exists() {
        if start.elapsed() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

fn claims_are_exclusive(f: &Fixture) {
    // Open once first, so the workers race on claims, not on creating the schema.
    let mut db = f.open();
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut children = Vec::new();
    for i in 0..WORKERS {
        let child = Command::new(&exe)
            .args([
                "claim::claim_worker",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(URL_ENV, &f.url)
            .env(DIR_ENV, dir.path())
            .env(RUNNER_ENV, format!("runner-{i}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        children.push(child);
    }
    for i in 0..WORKERS {
        let ready = dir.path().join(format!("ready-runner-{i}"));
        assert!(
            wait_for(&ready, Duration::from_secs(60)),
            "worker {i} did not get ready"
        );
    }
    std::fs::write(dir.path().join("go"), "").unwrap();

    let mut owner: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, mut child) in children.into_iter().enumerate() {
        let status = child.wait().unwrap();
        let mut out = String::new();
        let mut err = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(
            status.success(),
            "worker {i}: {status}\nstdout:\n{out}\nstderr:\n{err}"
        );
        // libtest may print `test claim::claim_worker ... ` on the same line as the first one.
        for sha in out
            .lines()
            .filter_map(|l| l.split_once("CLAIMED ").map(|(_, sha)| sha))
        {
            owner
                .entry(sha.to_owned())
                .or_default()
                .push(format!("runner-{i}"));
        }
    }
    let twice: Vec<_> = owner.iter().filter(|(_, who)| who.len() > 1).collect();
    assert!(twice.is_empty(), "claimed more than once: {twice:?}");
    let all: Vec<String> = candidates("w", COMMITS)
        .into_iter()
        .map(|c| c.sha)
        .collect();
    assert_eq!(owner.keys().cloned().collect::<Vec<_>>(), {
        let mut s = all.clone();
        s.sort();
        s
    });
    // The table agrees with what the workers reported.
    let rows = db
        .query(
            &TableId::core(),
            &CommitFilter {
                status: Some(Status::InProgress),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(rows.len(), COMMITS);
    for r in rows {
        assert_eq!(r.runner_id.as_ref(), Some(&owner[&r.sha][0]), "{}", r.sha);
    }
}
both!(claims_are_exclusive);

/// One claiming process of `claims_are_exclusive`; does nothing when run on its own.
#[test]
#[ignore = "a worker process started by claims_are_exclusive"]
fn claim_worker() {
    let (Ok(url), Ok(dir), Ok(runner)) = (
        std::env::var(URL_ENV),
        std::env::var(DIR_ENV),
        std::env::var(RUNNER_ENV),
    ) else {
        return;
    };
    let dir = Path::new(&dir);
    let mut db = store::Db::open(&url, None).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let config = json!([{"data_sizes": [64], "pipelines": [10]}]);
    let cands = candidates("w", COMMITS);
    let sel = Selection {
        config: &config,
        architecture: "x86_64",
        max_commits: 2,
        max_attempts: 3,
        subset_detection: true,
    };
    std::fs::write(dir.join(format!("ready-{runner}")), "").unwrap();
    assert!(wait_for(&dir.join("go"), Duration::from_secs(60)), "no go");
    loop {
        let got = db
            .claim(&TableId::core(), &cands, &sel, &runner)
            .unwrap_or_else(|e| panic!("{}", chain(&e)));
        if got.is_empty() {
            break;
        }
        for sha in got {
            println!("CLAIMED {sha}");
        }
    }
}
