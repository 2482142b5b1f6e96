//! A private temp area per test (`results/`, `tmp/` as the child's `TMPDIR`), its config file,
//! the records read back from it, and the check that no server data dir is left in it.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// A private temp area for one test: `results/` for valkey-perf and `tmp/`, given to the child
/// as `TMPDIR`, so every data dir it creates (and so every server's working directory, since
/// valkey-server chdirs into `--dir`) lies below this test's own path.
pub struct Scratch {
    _root: tempfile::TempDir,
    /// The root, canonical: `/proc/<pid>/cwd` is canonical, and so must be the prefix it is
    /// compared with.
    path: PathBuf,
}

impl Scratch {
    /// An executable `name` in this area that runs `server` with `args` appended to whatever
    /// it is given: the same server with a planted setting, as a target of its own.
    pub fn wrapper(&self, name: &str, server: &Path, args: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\nexec '{}' \"$@\" {args}\n", server.display()),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        path
    }

    /// Two copies of `server` in this area that differ by one trailing byte, so they are two
    /// targets of one binary (an ELF file runs the same with bytes appended).
    pub fn two_copies(&self, server: &Path) -> (PathBuf, PathBuf) {
        let copy = |name: &str, extra: &[u8]| {
            let dir = self.path().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let p = dir.join("valkey-server");
            let mut bytes = std::fs::read(server).unwrap();
            bytes.extend_from_slice(extra);
            std::fs::write(&p, bytes).unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            p
        };
        (copy("a", b""), copy("b", b"\n"))
    }

    pub fn new() -> Scratch {
        let root = tempfile::Builder::new()
            .prefix("valkey-perf-runtest-")
            .tempdir()
            .expect("temp dir");
        let path = root.path().canonicalize().unwrap();
        std::fs::create_dir(path.join("tmp")).unwrap();
        Scratch { _root: root, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn results(&self) -> PathBuf {
        self.path().join("results")
    }

    pub fn tmp(&self) -> PathBuf {
        self.path().join("tmp")
    }

    /// Writes a config file and returns its path.
    pub fn config(&self, json: &serde_json::Value) -> PathBuf {
        let path = self.path().join("config.json");
        std::fs::write(&path, serde_json::to_string_pretty(json).unwrap()).unwrap();
        path
    }

    /// Every record the runs wrote below `results/` (one `metrics.json` per target), with
    /// their details flattened into the record.
    pub fn records(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.results()) else {
            return out;
        };
        for entry in entries.flatten() {
            let file = entry.path().join("metrics.json");
            if file.exists() {
                let v: Value =
                    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
                out.extend(v.as_array().unwrap().iter().map(|r| {
                    Value::Object(valkey_perf::model::flatten_details(
                        r.as_object().unwrap().clone(),
                    ))
                }));
            }
        }
        out
    }

    /// Leftovers in the private TMPDIR (server data dirs must all be gone).
    pub fn tmp_leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.tmp())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Fails the test if a server data dir is left in the private TMPDIR.
    pub fn assert_no_tmp_leftovers(&self) {
        let left = self.tmp_leftovers();
        assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    }
}
