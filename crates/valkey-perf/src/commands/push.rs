//! `valkey-perf push`: every `metrics.json` below a results directory into the database, one
//! transaction per file, its records read and stored in batches as the file is parsed (a
//! 50 000-record file is never held whole); a second push of the same results adds nothing
//! (docs/design.md §8).

use super::db::DbArgs;
use crate::compare::RecordMap;
use crate::exit::{Code, Failure};
use anyhow::{Context, Result};
use clap::Args;
use serde::de::{DeserializeSeed, Deserializer, Error as _, SeqAccess, Visitor};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Flags of `valkey-perf push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Directory searched (recursively) for `metrics.json` files.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results_dir: PathBuf,
    /// Stored in every row's `test_type` column.
    #[arg(long, value_name = "TYPE")]
    pub test_type: Option<String>,
    /// Say what would be inserted, and insert nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Every `metrics.json` below `dir`, in path order (links are not followed).
pub fn metrics_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| {
            crate::exit::usage(format!(
                "cannot read `{}`: {e}; pass the results directory `run` wrote with --results-dir",
                d.display()
            ))
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && path.file_name().is_some_and(|n| n == "metrics.json") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The per-second samples of the records that have them (`timeseries_file`) into the
/// time series table; returns the rows inserted. A sample file is found where the record says,
/// or in the `timeseries/` directory next to `metrics.json` (results moved since the run).
fn push_timeseries(
    db: &mut store::Db,
    table: &store::TableId,
    metrics: &Path,
    records: &[crate::compare::RecordView],
    dry_run: bool,
) -> Result<u64> {
    let mut inserted = 0;
    for record in records {
        let Some(recorded) = &record.timeseries_file else {
            continue;
        };
        let recorded = PathBuf::from(recorded);
        let beside = metrics
            .parent()
            .unwrap_or(Path::new("."))
            .join("timeseries")
            .join(recorded.file_name().unwrap_or_default());
        let path = if recorded.is_file() { recorded } else { beside };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!(
                "time series `{}` of a record cannot be read ({e}); keep `timeseries/` next to `metrics.json`",
                path.display()
            )
        })?;
        let samples = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| match serde_json::from_str(l) {
                Ok(serde_json::Value::Object(m)) => Ok(m),
                _ => anyhow::bail!("`{}` line {} is not a JSON object", path.display(), i + 1),
            })
            .collect::<Result<Vec<_>>>()?;
        inserted += db.push_timeseries(
            table,
            &path.display().to_string(),
            record.fields(),
            &samples,
            dry_run,
        )?;
    }
    Ok(inserted)
}

/// Records pushed per batch: a few MB of JSON at most, whatever the file's size.
const BATCH_RECORDS: usize = 1000;

/// Reads the records of a `metrics.json` one by one as the file is read (never the whole
/// file), as written (`run_details` nested), handing them to `on_batch` in batches of
/// [`BATCH_RECORDS`]. Returns the number of records. An error of `on_batch` stops the read and
/// is returned as it is.
///
/// Each record's text is cut out of the array ([`split_objects`]) and parsed from memory,
/// about twice as fast as parsing from the reader. A file that is not a well-formed array of
/// objects is read again by serde's streaming parser, only for its message (line, column,
/// what was found), without handing anything on. (Parsing on a thread of its own while the
/// batch before is stored was measured slower: the records are freed on another thread than
/// the one that made them.)
fn stream_records(
    path: &Path,
    on_batch: &mut dyn FnMut(&[RecordMap]) -> Result<()>,
) -> Result<usize> {
    let open = || {
        std::fs::File::open(path)
            .with_context(|| format!("cannot read `{}`: check the path", path.display()))
            .map(|f| std::io::BufReader::with_capacity(1 << 16, f))
    };
    let mut batch = Vec::with_capacity(BATCH_RECORDS);
    let mut count = 0;
    let split = split_objects(open()?, &mut |text| {
        batch.push(serde_json::from_slice(text).map_err(|_| Split::Malformed)?);
        count += 1;
        if batch.len() == BATCH_RECORDS {
            on_batch(&batch).map_err(Split::Stopped)?;
            batch.clear();
        }
        Ok(())
    });
    match split {
        Ok(()) if batch.is_empty() => Ok(count),
        Ok(()) => on_batch(&batch).map(|()| count),
        Err(Split::Stopped(e)) => Err(e),
        Err(Split::Io(e)) => {
            Err(anyhow::Error::new(e)).with_context(|| format!("cannot read `{}`", path.display()))
        }
        Err(Split::Malformed) => match parse_streaming(path, open()?, &mut |_| Ok(())) {
            Err(e) => Err(e),
            Ok(_) => Err(anyhow::anyhow!(
                "`{}` is not a valid metrics.json (an array of records written by valkey-perf or valkey-perf-benchmark)",
                path.display()
            )),
        },
    }
}

/// Where a scan inside one array element stands: how deep in braces and brackets, and
/// whether in a string (just after a backslash in it).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Nesting {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Nesting {
    /// Just after an element's opening `{`.
    fn opened() -> Nesting {
        Nesting {
            depth: 1,
            ..Nesting::default()
        }
    }

    /// Follows `bytes`: `Some(n)` when the element closes at `bytes[n - 1]`, `None` when it
    /// goes on past them (the state carries over to the next chunk).
    fn scan(&mut self, bytes: &[u8]) -> Option<usize> {
        for (i, &b) in bytes.iter().enumerate() {
            if self.in_string {
                match b {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// Where a scan of the top-level array stands outside its elements.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ArrayAt {
    Start,
    /// After `[` (`first`) or a `,`.
    Before {
        first: bool,
    },
    Inside,
    After,
    Done,
}

impl ArrayAt {
    /// The state after `b`, a byte outside any element that is not whitespace; `None` when
    /// the text is not an array of objects.
    fn step(self, b: u8) -> Option<ArrayAt> {
        Some(match (self, b) {
            (ArrayAt::Start, b'[') => ArrayAt::Before { first: true },
            (ArrayAt::Before { .. }, b'{') => ArrayAt::Inside,
            (ArrayAt::Before { first: true }, b']') | (ArrayAt::After, b']') => ArrayAt::Done,
            (ArrayAt::After, b',') => ArrayAt::Before { first: false },
            // A closing brace out here is as malformed as anything else.
            (_, b'}') => return None,
            _ => return None,
        })
    }
}

/// Why [`split_objects`] stopped.
enum Split {
    /// Not a top-level array of objects, or an element that does not parse.
    Malformed,
    /// The error of whoever took the records.
    Stopped(anyhow::Error),
    Io(std::io::Error),
}

/// Hands the text of each element of the top-level JSON array in `reader` to `each`, as
/// the file is read: strings (with their escapes) and nesting are followed, nothing else is
/// checked (the parser does that). An element that is not an object is [`Split::Malformed`].
fn split_objects(
    mut reader: impl std::io::BufRead,
    each: &mut dyn FnMut(&[u8]) -> Result<(), Split>,
) -> Result<(), Split> {
    let mut at = ArrayAt::Start;
    let mut text = Vec::new();
    let mut element = Nesting::default();
    loop {
        let chunk = reader.fill_buf().map_err(Split::Io)?;
        if chunk.is_empty() {
            return if at == ArrayAt::Done {
                Ok(())
            } else {
                Err(Split::Malformed)
            };
        }
        let mut i = 0;
        while i < chunk.len() {
            if at == ArrayAt::Inside {
                let (end, closed) = match element.scan(&chunk[i..]) {
                    Some(n) => (i + n, true),
                    None => (chunk.len(), false),
                };
                text.extend_from_slice(&chunk[i..end]);
                i = end;
                if closed {
                    each(&text)?;
                    text.clear();
                    at = ArrayAt::After;
                }
                continue;
            }
            let b = chunk[i];
            i += 1;
            if b.is_ascii_whitespace() {
                continue;
            }
            at = at.step(b).ok_or(Split::Malformed)?;
            if at == ArrayAt::Inside {
                text.push(b);
                element = Nesting::opened();
            }
        }
        let n = chunk.len();
        reader.consume(n);
    }
}

/// Reads the records with serde's streaming parser, handing them to `on_batch` in batches;
/// its errors carry the line and column of what is wrong.
fn parse_streaming(
    path: &Path,
    reader: impl std::io::Read,
    on_batch: &mut dyn FnMut(&[RecordMap]) -> Result<()>,
) -> Result<usize> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut failed = None;
    let read = RecordsSeed {
        on_batch,
        failed: &mut failed,
    }
    .deserialize(&mut de)
    .and_then(|n| de.end().map(|()| n));
    match (read, failed) {
        (_, Some(e)) => Err(e),
        (Ok(n), None) => Ok(n),
        (Err(e), None) => Err(anyhow::anyhow!(
            "`{}` is not a valid metrics.json (an array of records written by valkey-perf or valkey-perf-benchmark): malformed JSON at line {} column {}: {e}",
            path.display(),
            e.line(),
            e.column()
        )),
    }
}

/// The top-level array of a `metrics.json`, read record by record.
struct RecordsSeed<'a> {
    on_batch: &'a mut dyn FnMut(&[RecordMap]) -> Result<()>,
    /// The error of `on_batch`, kept whole (serde's errors carry only text).
    failed: &'a mut Option<anyhow::Error>,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of records at the top level")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut batch = Vec::with_capacity(BATCH_RECORDS);
        let mut count = 0;
        let mut flush = |batch: &mut Vec<RecordMap>| -> Result<(), A::Error> {
            if let Err(e) = (self.on_batch)(batch) {
                *self.failed = Some(e);
                return Err(A::Error::custom("stopped"));
            }
            batch.clear();
            Ok(())
        };
        while let Some(item) = seq.next_element::<Value>()? {
            match item {
                // As written: the store keeps `run_details` as one JSON column.
                Value::Object(map) => batch.push(map),
                other => {
                    return Err(A::Error::custom(format!(
                        "record {count} is not a JSON object but {}",
                        match other {
                            Value::Array(_) => "an array",
                            Value::String(_) => "a string",
                            Value::Number(_) => "a number",
                            Value::Bool(_) => "a boolean",
                            _ => "null",
                        }
                    )));
                }
            }
            count += 1;
            if batch.len() == BATCH_RECORDS {
                flush(&mut batch)?;
            }
        }
        if !batch.is_empty() {
            flush(&mut batch)?;
        }
        Ok(count)
    }
}

/// Pushes one file in batches within one transaction; returns what was done and the records
/// that name a time series file (pushed after, see [`push_timeseries`]).
fn push_file(
    db: &mut store::Db,
    table: &store::TableId,
    file: &Path,
    args: &PushArgs,
) -> Result<(store::PushOutcome, Vec<crate::compare::RecordView>)> {
    let mut push = db.begin_push(
        table,
        &file.display().to_string(),
        args.test_type.as_deref(),
    )?;
    let mut sampled = Vec::new();
    stream_records(file, &mut |records| {
        sampled.extend(
            records
                .iter()
                .filter(|r| {
                    [
                        Some(*r),
                        r.get(crate::model::DETAILS_KEY).and_then(Value::as_object),
                    ]
                    .into_iter()
                    .flatten()
                    .any(|m| m.get("timeseries_file").is_some_and(|v| !v.is_null()))
                })
                .map(|r| {
                    crate::compare::RecordView::from_map(crate::model::flatten_details(r.clone()))
                }),
        );
        push.push(records).map_err(anyhow::Error::from)
    })?;
    Ok((push.finish(args.dry_run)?, sampled))
}

/// Runs `valkey-perf push`.
pub fn run(args: PushArgs) -> Result<Code> {
    let table = args.db.table()?;
    let files = metrics_files(&args.results_dir)?;
    if files.is_empty() {
        return Err(crate::exit::usage(format!(
            "no metrics.json below `{}`; run `valkey-perf run` first or pass --results-dir",
            args.results_dir.display()
        )));
    }
    let mut db = args.db.open()?;
    let mut failed = Vec::new();
    let (mut inserted, mut present, mut pushed) = (0, 0, 0);
    let mut lost = None;
    for (n, file) in files.iter().enumerate() {
        match push_file(&mut db, &table, file, &args) {
            Ok((o, sampled)) => {
                pushed += 1;
                inserted += o.inserted;
                present += o.already_present;
                let mut line = format!(
                    "{}: {} {}, {} already present",
                    file.display(),
                    if args.dry_run {
                        "would insert"
                    } else {
                        "inserted"
                    },
                    o.inserted,
                    o.already_present
                );
                if !o.columns_added.is_empty() {
                    line.push_str(&format!("; new columns: {}", o.columns_added.join(", ")));
                }
                if !o.columns_widened.is_empty() {
                    line.push_str(&format!("; widened: {}", o.columns_widened.join(", ")));
                }
                match push_timeseries(&mut db, &table, file, &sampled, args.dry_run) {
                    Ok(0) => {}
                    Ok(n) => line.push_str(&format!("; {n} time series rows")),
                    Err(e) => {
                        eprintln!("error: {}: {e:#}", file.display());
                        failed.push(file.display().to_string());
                    }
                }
                crate::util::outln(format_args!("{line}"));
            }
            Err(e) if is_connection(&e) => {
                // No later file can be pushed on this connection: one message, not one per file.
                lost = Some((n, e));
                break;
            }
            Err(e) => {
                eprintln!(
                    "error: {}: nothing from this file was pushed: {e:#}",
                    file.display()
                );
                failed.push(file.display().to_string());
            }
        }
    }
    if let Some((n, e)) = lost {
        return Err(e.context(Failure {
            code: Code::ServerStart,
            message: format!(
                "the connection to the database `{}` was lost while pushing `{}`: {} of {} files were pushed before it (they are stored), {} were not; push again when the database is back (pushing twice adds nothing)",
                store::redact_url(&args.db.db),
                files[n].display(),
                pushed,
                files.len(),
                files.len() - pushed - failed.len(),
            ),
        }));
    }
    eprintln!(
        "{} files into `{}` ({}): {inserted} rows {}, {present} already present",
        files.len(),
        table.metrics_table(),
        store::redact_url(&args.db.db),
        if args.dry_run {
            "would be inserted"
        } else {
            "inserted"
        },
    );
    if failed.is_empty() {
        Ok(Code::Success)
    } else {
        // Some files stored and some not is exit 5 (as some runs failed); exit 2 only when
        // nothing was pushed.
        Err(Failure::new(
            if pushed == 0 {
                Code::Usage
            } else {
                Code::RunsFailed
            },
            format!(
                "{} of {} files were not pushed (the others were): {}; fix them and push again (pushing twice adds nothing)",
                failed.len(),
                files.len(),
                failed.join(", ")
            ),
        ))
    }
}

/// Whether an error of a file's push is the database connection going away.
fn is_connection(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<store::Error>()
            .is_some_and(store::Error::is_connection)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An element's end is found past braces, brackets, quotes and escapes inside strings,
    /// and across chunks.
    #[test]
    fn nesting_finds_the_element_end_across_chunks() {
        let text = br#"{"a": [1, {"b": "x}\"]"}], "c": "{"} ,{"#;
        // The element ends before the trailing ` ,{`.
        let end = text.len() - 3;
        let mut whole = Nesting::opened();
        assert_eq!(whole.scan(&text[1..]), Some(end - 1));
        for cut in 1..end {
            let mut split = Nesting::opened();
            assert_eq!(split.scan(&text[1..cut]), None, "cut at {cut}");
            assert_eq!(split.scan(&text[cut..]), Some(end - cut), "cut at {cut}");
        }
    }

    #[test]
    fn the_array_punctuation_is_followed_alone() {
        let walk = |text: &str| text.bytes().try_fold(ArrayAt::Start, |at, b| at.step(b));
        assert_eq!(walk("["), Some(ArrayAt::Before { first: true }));
        assert_eq!(walk("[{"), Some(ArrayAt::Inside));
        assert_eq!(walk("[]"), Some(ArrayAt::Done));
        // After an element (the caller moves to `After` when it closes).
        assert_eq!(
            ArrayAt::After.step(b','),
            Some(ArrayAt::Before { first: false })
        );
        assert_eq!(ArrayAt::After.step(b']'), Some(ArrayAt::Done));
        for bad in ["{", "[,", "[}", "[1", "]"] {
            assert_eq!(walk(bad), None, "{bad}");
        }
        // A trailing comma, and anything after the end.
        assert_eq!(ArrayAt::Before { first: false }.step(b']'), None);
        assert_eq!(ArrayAt::Done.step(b'['), None);
    }

    /// The elements [`split_objects`] cuts out of `text`, read in chunks of `chunk` bytes.
    fn split(text: &str, chunk: usize) -> Result<Vec<String>, &'static str> {
        let reader = std::io::BufReader::with_capacity(chunk, text.as_bytes());
        let mut out = Vec::new();
        split_objects(reader, &mut |t| {
            out.push(String::from_utf8(t.to_vec()).unwrap());
            Ok(())
        })
        .map(|()| out)
        .map_err(|e| match e {
            Split::Malformed => "malformed",
            Split::Stopped(_) => "stopped",
            Split::Io(_) => "io",
        })
    }

    #[test]
    fn objects_are_cut_out_whole_whatever_the_chunks() {
        let text = r#" [ {"a": "}{][\"", "b": {"c": [1, {"d": "\\"}]}},
            {"e": "x\\\"]"} ,{} ] "#;
        for chunk in [1, 2, 3, 7, 64, 4096] {
            let objects = split(text, chunk).unwrap();
            assert_eq!(objects.len(), 3, "chunk {chunk}");
            for (o, expected) in objects.iter().zip([
                json!({"a": "}{][\"", "b": {"c": [1, {"d": "\\"}]}}),
                json!({"e": "x\\\"]"}),
                json!({}),
            ]) {
                assert_eq!(serde_json::from_str::<Value>(o).unwrap(), expected);
            }
        }
        assert_eq!(split("[]", 1), Ok(vec![]));
    }

    #[test]
    fn what_is_not_an_array_of_objects_is_malformed() {
        for text in [
            "", "{}", "[", "[{}", "[{},]", "[,{}]", "[{}{}]", "[1]", "[{}] x", "[\"s\"]",
        ] {
            assert_eq!(split(text, 3), Err("malformed"), "{text:?}");
        }
    }
}
