//! The store's module order (lib.rs's module doc): every `crate::` import points to a module
//! listed earlier, and no import circle exists between the modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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

/// The modules a file's code (not its comments or test modules) names as `crate::<module>`,
/// including each name of a `crate::{a, b::c}` group.
fn crate_imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                out.extend(group[..end].split(',').map(ident).filter(|n| !n.is_empty()));
            } else {
                out.insert(ident(rest));
            }
        }
    }
    out
}

/// Each module of `src` (a top-level file or folder) and the modules it imports.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = top.trim_end_matches(".rs").to_string();
        let imports = crate_imports(&std::fs::read_to_string(file).unwrap());
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(imports.into_iter().filter(|m| *m != module));
    }
    graph
}

/// One import circle, as the path of modules that closes it, if there is any.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut circle = path[i..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

/// The module order lib.rs's doc lists: the backticked names after "Modules, bottom first",
/// as ranks (names separated by a comma share a rank).
fn documented_order(lib: &str) -> BTreeMap<String, usize> {
    let doc: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .skip_while(|l| !l.contains("Modules, bottom first"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let chain = doc.split(". ").next().unwrap_or("");
    let mut order = BTreeMap::new();
    for (rank, step) in chain.split('→').enumerate() {
        for name in step.split('`').skip(1).step_by(2) {
            order.insert(name.to_string(), rank);
        }
    }
    order
}

#[test]
fn store_modules_import_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = module_graph(&src);
    let lib = graph.remove("lib").unwrap_or_default();
    assert!(lib.is_empty(), "lib.rs names modules as `crate::`: {lib:?}");
    graph.remove("test_support");
    assert!(graph.len() >= 10, "read only {} modules", graph.len());
    if let Some(circle) = find_circle(&graph) {
        panic!("import circle: {}", circle.join(" → "));
    }
    let order = documented_order(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut problems = Vec::new();
    for (module, imports) in &graph {
        let Some(own) = order.get(module) else {
            problems.push(format!("`{module}` is not in lib.rs's module order"));
            continue;
        };
        for import in imports {
            if order.get(import).is_none_or(|r| r >= own) {
                problems.push(format!(
                    "`{module}` imports `{import}`, not listed before it"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_a_circle_and_reads_groups() {
    let text = "use crate::{conn::Tx, error::Result};\n// crate::lib\nuse crate::ident::q;\n\
                #[cfg(test)]\nmod t { use crate::metrics; }";
    let names: Vec<String> = crate_imports(text).into_iter().collect();
    assert_eq!(names, ["conn", "error", "ident"]);
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(m, i)| (m.to_string(), i.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(find_circle(&graph).unwrap(), ["a", "b", "c", "a"]);
    let doc = "//! Modules, bottom first; x:\n//! `a` → `b`, `c` → d. More `e`.\n";
    let order = documented_order(doc);
    assert_eq!(order.get("b"), order.get("c"));
    assert!(order["a"] < order["b"] && !order.contains_key("e"));
}
