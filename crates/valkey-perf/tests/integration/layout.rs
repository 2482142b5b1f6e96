//! The crate's layout rule (README, Architecture): each folder imports only the folders before
//! it in the data flow, so an import pointing back up fails here, with the file and the import.

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
    ("dashboard", 9),
    ("commands", 10),
    ("cli", 11),
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
