//! Commit tracking: determine, mark, query, reset, cleanup.

use std::time::Duration;

use serde_json::{Value, json};
use store::{CommitFilter, Selection, Status, TableId};

use crate::both;
use crate::support::{Fixture, candidates};

fn config() -> Value {
    json!([{"requests": [100000], "data_sizes": [64], "pipelines": [10], "commands": ["SET", "GET"], "io-threads": 1}])
}

fn sel<'a>(config: &'a Value, max_commits: usize) -> Selection<'a> {
    Selection {
        config,
        architecture: "x86_64",
        max_commits,
        max_attempts: 3,
        subset_detection: true,
    }
}

fn determine_skips_done_failed_and_covered(f: &Fixture) {
    let mut db = f.open();
    let core = TableId::core();
    let cfg = config();
    let c = candidates("d", 20);
    let one = |i: usize| std::slice::from_ref(&c[i]);
    let shas = |idx: &[usize]| idx.iter().map(|&i| c[i].sha.clone()).collect::<Vec<_>>();

    db.mark(&core, one(0), Status::Complete, &cfg, "x86_64", None)
        .unwrap();
    for _ in 0..3 {
        db.mark(
            &core,
            one(2),
            Status::Failed,
            &cfg,
            "x86_64",
            Some("build failed"),
        )
        .unwrap();
    }
    db.mark(&core, one(3), Status::Failed, &cfg, "x86_64", Some("flaky"))
        .unwrap();
    // Done under a superset config (more data sizes, more commands), keys in another order.
    let superset = json!([{"io-threads": 1, "commands": ["GET", "SET", "INCR"], "pipelines": [1, 10],
                           "data_sizes": [16, 64, 256], "requests": [100000]}]);
    db.mark(&core, one(4), Status::Complete, &superset, "x86_64", None)
        .unwrap();
    db.mark(&core, one(5), Status::InProgress, &cfg, "x86_64", None)
        .unwrap();
    // Complete, but under a config that does not cover ours, or another architecture.
    let other = json!([{"requests": [100000], "data_sizes": [64], "pipelines": [10], "commands": ["SET", "GET"], "io-threads": 9}]);
    db.mark(&core, one(6), Status::Complete, &other, "x86_64", None)
        .unwrap();
    db.mark(&core, one(7), Status::Complete, &cfg, "aarch64", None)
        .unwrap();
    // Key order of the same config does not matter.
    let reordered = json!([{"io-threads": 1, "commands": ["SET", "GET"], "pipelines": [10], "data_sizes": [64], "requests": [100000]}]);
    db.mark(&core, one(9), Status::Complete, &reordered, "x86_64", None)
        .unwrap();

    assert_eq!(
        db.determine(&core, &c, &sel(&cfg, 6)).unwrap(),
        shas(&[1, 3, 6, 7, 8, 10])
    );
    let no_subset = Selection {
        subset_detection: false,
        ..sel(&cfg, 6)
    };
    assert_eq!(
        db.determine(&core, &c, &no_subset).unwrap(),
        shas(&[1, 3, 4, 6, 7, 8])
    );
    let patient = Selection {
        max_attempts: 4,
        ..sel(&cfg, 3)
    };
    assert_eq!(db.determine(&core, &c, &patient).unwrap(), shas(&[1, 2, 3]));
    assert_eq!(db.determine(&core, &c, &sel(&cfg, 100)).unwrap().len(), 15);

    // `reset` lets the commit that failed 3 times be retried.
    assert_eq!(
        db.reset(&core, &c[2].sha, Some(&cfg), Some("x86_64"))
            .unwrap(),
        1
    );
    assert_eq!(
        db.determine(&core, &c, &sel(&cfg, 3)).unwrap(),
        shas(&[1, 2, 3])
    );
    // Reset only touches failed rows.
    assert_eq!(db.reset(&core, &c[0].sha, None, None).unwrap(), 0);
}
both!(determine_skips_done_failed_and_covered);

fn query_returns_what_mark_wrote(f: &Fixture) {
    let mut db = f.open();
    let core = TableId::core();
    let cfg = config();
    let c = candidates("q", 3);
    db.mark(&core, &c[..2], Status::InProgress, &cfg, "x86_64", None)
        .unwrap();
    db.mark(&core, &c[..1], Status::Complete, &cfg, "x86_64", None)
        .unwrap();
    db.mark(
        &core,
        &c[1..2],
        Status::Failed,
        &cfg,
        "x86_64",
        Some("first"),
    )
    .unwrap();
    db.mark(
        &core,
        &c[1..2],
        Status::Failed,
        &cfg,
        "x86_64",
        Some("make: *** [all] Error 2"),
    )
    .unwrap();
    db.mark(&core, &c[2..3], Status::Complete, &cfg, "aarch64", None)
        .unwrap();

    let all = db.query(&core, &CommitFilter::default()).unwrap();
    assert_eq!(
        all.iter().map(|r| r.sha.clone()).collect::<Vec<_>>(),
        [0, 1, 2].map(|i| c[i].sha.clone())
    );
    let r0 = &all[0];
    assert_eq!(
        (r0.status, r0.attempts, r0.last_error.as_deref()),
        (Status::Complete, 0, None)
    );
    assert_eq!(
        r0.timestamp, c[0].commit_time,
        "`timestamp` is the commit time"
    );
    assert_eq!(r0.config, cfg);
    assert_eq!(r0.architecture.as_deref(), Some("x86_64"));
    assert_eq!(r0.config_hash.as_ref().map(String::len), Some(16));
    assert!(r0.created_at.is_some() && r0.updated_at >= r0.created_at);
    let r1 = &all[1];
    assert_eq!((r1.status, r1.attempts), (Status::Failed, 2));
    assert_eq!(r1.last_error.as_deref(), Some("make: *** [all] Error 2"));

    let failed = db
        .query(
            &core,
            &CommitFilter {
                status: Some(Status::Failed),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(failed.len(), 1);
    let arm = db
        .query(
            &core,
            &CommitFilter {
                architecture: Some("aarch64".into()),
                config: Some(cfg.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(arm.len(), 1);
    assert_eq!(arm[0].sha, c[2].sha);

    // Rows serialize for `--format json`.
    let j = serde_json::to_value(&all[1]).unwrap();
    assert_eq!(j["status"], "failed");
    assert_eq!(j["attempts"], 2);
    assert_eq!(j["sha"], c[1].sha.as_str());
}
both!(query_returns_what_mark_wrote);

fn cleanup_resets_only_stale_rows(f: &Fixture) {
    let mut db = f.open();
    let core = TableId::core();
    let cfg = config();
    let c = candidates("s", 8);
    // Stale: 0 and 1 claimed, 2 claimed after an earlier failure, 3 on another architecture.
    db.mark(&core, &c[2..3], Status::Failed, &cfg, "x86_64", Some("oom"))
        .unwrap();
    let stale = db.claim(&core, &c[..3], &sel(&cfg, 3), "runner-a").unwrap();
    assert_eq!(stale, [0, 1, 2].map(|i| c[i].sha.clone()));
    let arm = Selection {
        architecture: "aarch64",
        ..sel(&cfg, 1)
    };
    assert_eq!(
        db.claim(&core, &c[3..4], &arm, "runner-arm").unwrap().len(),
        1
    );
    db.mark(&core, &c[6..7], Status::Complete, &cfg, "x86_64", None)
        .unwrap();
    std::thread::sleep(Duration::from_millis(1600));
    // Fresh: another runner's claim of 4 and 5, just now.
    let fresh = db.claim(&core, &c[4..], &sel(&cfg, 2), "runner-b").unwrap();
    assert_eq!(fresh, [4, 5].map(|i| c[i].sha.clone()));

    let reset = db
        .cleanup(&core, Duration::from_secs(1), Some(&cfg), Some("x86_64"))
        .unwrap();
    assert_eq!(reset, 3);
    let rows = db.query(&core, &CommitFilter::default()).unwrap();
    let row = |i: usize| rows.iter().find(|r| r.sha == c[i].sha);
    assert!(
        row(0).is_none() && row(1).is_none(),
        "never-failed stale claims are removed"
    );
    let r2 = row(2).unwrap();
    assert_eq!(
        (r2.status, r2.attempts, r2.last_error.as_deref()),
        (Status::Failed, 1, Some("oom"))
    );
    assert_eq!(
        row(3).unwrap().status,
        Status::InProgress,
        "other architecture untouched"
    );
    for i in [4, 5] {
        let r = row(i).unwrap();
        assert_eq!(
            (r.status, r.runner_id.as_deref()),
            (Status::InProgress, Some("runner-b"))
        );
    }
    assert_eq!(row(6).unwrap().status, Status::Complete);
    // The reset commits are offered again (2 with its one failure counted); 3 has no x86_64
    // row at all.
    assert_eq!(
        db.determine(&core, &c, &sel(&cfg, 10)).unwrap(),
        [0, 1, 2, 3, 7].map(|i| c[i].sha.clone())
    );
    // Unscoped, the stale aarch64 claim goes too.
    assert_eq!(
        db.cleanup(&core, Duration::from_secs(1), None, None)
            .unwrap(),
        1
    );
}
both!(cleanup_resets_only_stale_rows);
