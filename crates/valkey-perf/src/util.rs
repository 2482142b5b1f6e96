//! Small helpers shared by several layers.

use std::path::Path;

/// The last `lines` lines of a text file, for error messages ("log tail"). Empty when the
/// file cannot be read.
pub fn tail_of_file(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => tail_of_text(&String::from_utf8_lossy(&bytes), lines),
        Err(_) => String::new(),
    }
}

/// The last `lines` lines of `text`.
pub fn tail_of_text(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail_of_text("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail_of_text("a", 5), "a");
        assert_eq!(tail_of_text("", 5), "");
    }
}
