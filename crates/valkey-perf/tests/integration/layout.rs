//! The crate's layout rule (README, Architecture): each folder imports only the folders before
//! it in the data flow, so an import pointing back up fails here, with the file and the import.
//! README.md's Architecture section is checked against the source tree here too: every file
//! it names exists, every module is listed, and it claims no import circle while one exists.

use std::path::{Path, PathBuf};

/// The data flow, bottom first. A module may import modules at its own rank or below.
const FLOW: &[(&str, u8)] = &[
    ("exit", 0),
    ("util", 0),
    ("model", 1),
    ("process", 2),
    ("config", 3),
    ("source", 4),
    ("server", 5),
    ("engine", 6),
    ("results", 7),
    ("compare", 8),
    ("history", 9),
    ("dashboard", 10),
    ("commands", 11),
    ("cli", 12),
];

fn rank(module: &str) -> Option<u8> {
    FLOW.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `crate::<module>` references outside comments and test modules.
fn crate_imports(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = Vec::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

#[test]
fn no_module_imports_a_later_step_of_the_flow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let Some(own) = rank(&top) else { continue };
        let text = std::fs::read_to_string(file).unwrap();
        for import in crate_imports(&text) {
            if rank(&import).is_some_and(|r| r > own) {
                violations.push(format!("{}: imports `crate::{import}`", rel.display()));
            }
        }
    }
    assert!(
        files.len() > 40,
        "read only {} files under `{}`",
        files.len(),
        src.display()
    );
    assert!(
        violations.is_empty(),
        "imports that point back up the flow:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_an_import_and_skips_comments_and_tests() {
    let text = "use crate::engine::Engine;\n// crate::commands in a comment\n#[cfg(test)]\nmod t { use crate::cli; }";
    assert_eq!(crate_imports(text), vec!["engine".to_string()]);
}

/// The text of README.md's `## Architecture` section.
fn architecture_section() -> String {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let start = text
        .find("\n## Architecture\n")
        .expect("README.md has a `## Architecture` section");
    let rest = &text[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_string()
}

/// A word of the README that names a file or folder: `x.rs` or `x/`, letters, digits, `_`,
/// `/` and `.` only, once punctuation around it is dropped.
fn path_word(word: &str) -> Option<&str> {
    let w = word
        .trim_matches(['(', ')', '`', ',', ':', ';'])
        .trim_end_matches([')', '`', ',', ':', ';', '.']);
    let ok = !w.is_empty()
        && (w.ends_with(".rs") || w.ends_with('/'))
        && w.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '/' | '.'));
    ok.then_some(w)
}

/// The tree of `crates/valkey-perf/src/` the section draws: each name with its path below
/// `src` (a name's parent is the nearest folder above it that starts further left), taking
/// only the names a line starts with, not the description after them.
fn drawn_tree(section: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_tree = false;
    let mut folders: Vec<(usize, String)> = Vec::new();
    for line in section.lines() {
        if line.trim() == "crates/valkey-perf/src/" {
            in_tree = true;
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if !in_tree || line.starts_with("```") {
            in_tree = false;
            continue;
        }
        if indent == 0 {
            in_tree = false;
            continue;
        }
        let mut col = indent;
        let mut rest = &line[indent..];
        while let Some(word) = rest.split_whitespace().next() {
            let Some(name) = path_word(word).filter(|w| *w == word) else {
                break;
            };
            folders.retain(|(c, _)| *c < col);
            let parent = folders.last().map_or(String::new(), |(_, p)| p.clone());
            let path = format!("{parent}{name}");
            if name.ends_with('/') {
                folders.push((col, path.clone()));
            }
            out.push(path);
            let after = &rest[word.len()..];
            let skipped = after.len() - after.trim_start().len();
            col += word.len() + skipped;
            rest = after.trim_start();
        }
    }
    out
}

/// Every file or folder the section names outside the drawn tree (prose, the flow diagram),
/// as written; resolved below `src`.
fn named_paths(section: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_tree = false;
    for line in section.lines() {
        if line.trim() == "crates/valkey-perf/src/" {
            in_tree = true;
        } else if line.starts_with("```") || (in_tree && !line.starts_with(' ')) {
            in_tree = false;
        }
        if in_tree {
            continue;
        }
        out.extend(
            line.split_whitespace()
                .filter_map(path_word)
                .filter(|w| w.contains('/') && !w.starts_with("crates/"))
                .map(str::to_string),
        );
    }
    out
}

/// The module path of a source file below `src`: `a/b.rs` → `[a, b]`, `a/mod.rs` → `[a]`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// The file a module path resolves to: the deepest `x.rs` or `x/mod.rs` along it.
fn file_of(src: &Path, path: &[String]) -> Option<PathBuf> {
    let mut dir = src.to_path_buf();
    let mut found = None;
    for seg in path {
        if dir.join(format!("{seg}.rs")).is_file() {
            found = Some(dir.join(format!("{seg}.rs")));
        } else if dir.join(seg).join("mod.rs").is_file() {
            found = Some(dir.join(seg).join("mod.rs"));
        } else {
            break;
        }
        dir = dir.join(seg);
    }
    found
}

/// The paths a use tree names: `a::{b, c::d}` → `[a, b]`, `[a, c, d]`.
fn use_paths(text: &str) -> Vec<Vec<String>> {
    fn tree(chars: &[char], i: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let skip_ws = |i: &mut usize| {
            while *i < chars.len() && chars[*i].is_whitespace() {
                *i += 1;
            }
        };
        let mut path = prefix.to_vec();
        loop {
            skip_ws(i);
            if *i < chars.len() && chars[*i] == '{' {
                *i += 1;
                loop {
                    tree(chars, i, &path, out);
                    skip_ws(i);
                    match chars.get(*i) {
                        Some(',') => *i += 1,
                        Some('}') => {
                            *i += 1;
                            return;
                        }
                        _ => return,
                    }
                    skip_ws(i);
                    if chars.get(*i) == Some(&'}') {
                        *i += 1;
                        return;
                    }
                }
            }
            let start = *i;
            while *i < chars.len() && (chars[*i].is_ascii_alphanumeric() || chars[*i] == '_') {
                *i += 1;
            }
            if *i == start {
                out.push(path);
                return;
            }
            path.push(chars[start..*i].iter().collect());
            if chars.get(*i) == Some(&':') && chars.get(*i + 1) == Some(&':') {
                *i += 2;
            } else {
                out.push(path);
                return;
            }
        }
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    tree(&chars, &mut i, &[], &mut out);
    out
}

/// File-to-file imports below `src` through `crate::`, `super::` and child-module paths
/// (`once::run_once` in the file declaring `mod once;`), outside comments and test modules.
fn file_imports(src: &Path, files: &[PathBuf]) -> Vec<(PathBuf, PathBuf)> {
    let mut edges = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let module = module_of(rel);
        let text = std::fs::read_to_string(file).unwrap();
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or("")
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let children: Vec<String> = code
            .lines()
            .filter_map(|l| {
                let l = l.trim_start();
                let l = l.strip_prefix("pub ").unwrap_or(l);
                let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
                l.strip_prefix("mod ")?
                    .strip_suffix(';')
                    .map(str::to_string)
            })
            .collect();
        let mut hits: Vec<usize> = ["crate".to_string(), "super".to_string()]
            .iter()
            .chain(&children)
            .flat_map(|name| {
                code.match_indices(&format!("{name}::"))
                    .map(|(at, _)| at)
                    .collect::<Vec<_>>()
            })
            .collect();
        hits.sort();
        for at in hits {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut base = Vec::new();
            let mut rest = &code[at..];
            if let Some(r) = rest.strip_prefix("crate::") {
                rest = r;
            } else if !rest.starts_with("super::") {
                base = module.clone();
            } else {
                base = module.clone();
                while let Some(r) = rest.strip_prefix("super::") {
                    base.pop();
                    rest = r;
                }
            }
            for path in use_paths(rest) {
                let full: Vec<String> = base.iter().cloned().chain(path).collect();
                if let Some(target) = file_of(src, &full).filter(|t| t != file) {
                    edges.push((file.clone(), target));
                }
            }
        }
    }
    edges.sort();
    edges.dedup();
    edges
}

/// One import circle among `edges`, as the files that close it, if there is any.
fn import_circle(edges: &[(PathBuf, PathBuf)]) -> Option<Vec<PathBuf>> {
    fn visit(
        node: &PathBuf,
        edges: &[(PathBuf, PathBuf)],
        path: &mut Vec<PathBuf>,
        done: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut circle = path[i..].to_vec();
            circle.push(node.clone());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.clone());
        for (_, next) in edges.iter().filter(|(from, _)| from == node) {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.push(node.clone());
        None
    }
    let mut done = Vec::new();
    edges
        .iter()
        .find_map(|(start, _)| visit(start, edges, &mut Vec::new(), &mut done))
}

#[test]
fn the_readme_architecture_matches_the_tree() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let section = architecture_section();
    let drawn = drawn_tree(&section);
    let mut problems = Vec::new();
    for path in &drawn {
        if !src.join(path).exists() {
            problems.push(format!(
                "names `{path}`, which is not in crates/valkey-perf/src"
            ));
        }
    }
    // Prose may also name files of the crate (`tests/...`) or of the repository.
    let roots = [src.clone(), src.join(".."), src.join("../../..")];
    for path in named_paths(&section) {
        if !roots.iter().any(|r| r.join(&path).exists()) {
            problems.push(format!(
                "names `{path}`, which is not in crates/valkey-perf/src"
            ));
        }
    }
    let entries = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "rs"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if p.is_dir() { format!("{name}/") } else { name }
            })
            .collect();
        names.sort();
        names
    };
    for (dir, prefix) in [
        (src.clone(), ""),
        (src.join("commands/run"), "commands/run/"),
    ] {
        for name in entries(&dir) {
            let path = format!("{prefix}{name}");
            if !drawn.contains(&path) {
                problems.push(format!("does not list `{path}` in the tree"));
            }
        }
    }
    if section.to_lowercase().contains("no import circle") {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        if let Some(circle) = import_circle(&file_imports(&src, &files)) {
            let names: Vec<String> = circle
                .iter()
                .map(|f| f.strip_prefix(&src).unwrap().display().to_string())
                .collect();
            problems.push(format!(
                "claims no import circle, but there is one: {}",
                names.join(" → ")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "README.md's Architecture section is stale:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_readme_checker_reads_trees_paths_and_circles() {
    let section = "## Architecture\n\n`commands/run/plan.rs` lowers (`engine/`).\n\n```\n\
                   crates/valkey-perf/src/\n  main.rs cli.rs   parse, not.rs\n  commands/    x\n    \
                   run/  args.rs    flags\n          plan/    lowering\n    compare.rs\n  \
                   model/     cases\ncrates/store   db\n```\n";
    assert_eq!(
        drawn_tree(section),
        [
            "main.rs",
            "cli.rs",
            "commands/",
            "commands/run/",
            "commands/run/args.rs",
            "commands/run/plan/",
            "commands/compare.rs",
            "model/"
        ]
    );
    assert_eq!(named_paths(section), ["commands/run/plan.rs", "engine/"]);
    let paths = use_paths("a::{b, c::{d, e}}, f;");
    assert_eq!(
        paths,
        [vec!["a", "b"], vec!["a", "c", "d"], vec!["a", "c", "e"]]
    );
    let e = |a: &str, b: &str| (PathBuf::from(a), PathBuf::from(b));
    assert!(import_circle(&[e("a", "b"), e("b", "c")]).is_none());
    let circle = import_circle(&[e("a", "b"), e("b", "c"), e("c", "a")]).unwrap();
    assert_eq!(circle.len(), 4);
}
