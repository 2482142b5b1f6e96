//! Decoding: [`check`] (complete or not, allocation-free) and [`parse`] (build a [`Frame`]).

use crate::Frame;
use std::fmt;

/// Deepest nesting of aggregates accepted. Replies from Valkey nest a few levels at most; the
/// bound keeps [`check`] allocation-free and [`parse`] safe from stack exhaustion.
pub const MAX_DEPTH: usize = 128;

/// Largest bulk string or aggregate length accepted (protects against absurd headers).
const MAX_LEN: u64 = 1 << 32;

/// A malformed frame. Incomplete input is not an error (see [`check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Byte offset in the checked buffer where the problem was found.
    pub offset: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RESP protocol error at byte {}: {}",
            self.offset, self.reason
        )
    }
}

impl std::error::Error for Error {}

fn err<T>(offset: usize, reason: &'static str) -> Result<T, Error> {
    Err(Error { offset, reason })
}

/// The type of a top-level frame, known without parsing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Simple,
    Error,
    Integer,
    Bulk,
    Null,
    Array,
    Double,
    Boolean,
    BigNumber,
    BulkError,
    Verbatim,
    Map,
    Set,
    Push,
}

impl FrameKind {
    /// True for error replies (`-` and `!`).
    pub fn is_error(self) -> bool {
        matches!(self, FrameKind::Error | FrameKind::BulkError)
    }
}

/// A complete frame found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// Length in bytes of the frame, including any leading attributes.
    pub len: usize,
    /// The frame's type (attributes skipped).
    pub kind: FrameKind,
}

/// One element header.
enum Head {
    /// A one-line value (`+ - : , # ( _`); `start..end` is the line without CRLF.
    Line { ty: u8, start: usize, end: usize },
    /// A length-prefixed value (`$ ! =`); `start..end` is the payload.
    Blob { ty: u8, start: usize, end: usize },
    /// `$-1` or `*-1` (RESP2 null).
    Null,
    /// An aggregate with `n` child elements (maps and attributes count keys and values).
    Agg { ty: u8, n: u64 },
}

/// Finds the CRLF-terminated line starting at `pos`. `Ok(None)` when not yet complete.
fn line(buf: &[u8], pos: usize) -> Result<Option<(usize, usize)>, Error> {
    let rest = &buf[pos..];
    match rest.iter().position(|&b| b == b'\r' || b == b'\n') {
        None => Ok(None),
        Some(i) => {
            if rest[i] == b'\n' {
                return err(pos + i, "bare LF in line");
            }
            match rest.get(i + 1) {
                None => Ok(None),
                Some(b'\n') => Ok(Some((pos + i, pos + i + 2))),
                Some(_) => err(pos + i, "CR not followed by LF"),
            }
        }
    }
}

fn parse_i64(bytes: &[u8], offset: usize) -> Result<i64, Error> {
    let (neg, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 19 {
        return err(offset, "invalid integer");
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return err(offset, "invalid integer");
        }
        let digit = i64::from(d - b'0');
        v = match v.checked_mul(10).and_then(|v| {
            if neg {
                v.checked_sub(digit)
            } else {
                v.checked_add(digit)
            }
        }) {
            Some(v) => v,
            None => return err(offset, "integer out of range"),
        };
    }
    Ok(v)
}

fn parse_len(bytes: &[u8], offset: usize) -> Result<Option<u64>, Error> {
    let v = parse_i64(bytes, offset)?;
    if v == -1 {
        return Ok(None);
    }
    if v < 0 {
        return err(offset, "negative length");
    }
    let v = v as u64;
    if v > MAX_LEN {
        return err(offset, "length too large");
    }
    Ok(Some(v))
}

/// Reads one element header at `pos`: `Ok(Some((head, next_pos)))`, or `Ok(None)` when more
/// bytes are needed.
fn head(buf: &[u8], pos: usize) -> Result<Option<(Head, usize)>, Error> {
    let Some(&ty) = buf.get(pos) else {
        return Ok(None);
    };
    let Some((end, next)) = line(buf, pos + 1)? else {
        return Ok(None);
    };
    let body = &buf[pos + 1..end];
    let h = match ty {
        b'+' | b'-' => Head::Line {
            ty,
            start: pos + 1,
            end,
        },
        b':' => {
            parse_i64(body, pos + 1)?;
            Head::Line {
                ty,
                start: pos + 1,
                end,
            }
        }
        b'(' => {
            let digits = body.strip_prefix(b"-").unwrap_or(body);
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return err(pos + 1, "invalid big number");
            }
            Head::Line {
                ty,
                start: pos + 1,
                end,
            }
        }
        b',' => {
            let ok = std::str::from_utf8(body)
                .ok()
                .is_some_and(|s| s.parse::<f64>().is_ok());
            if !ok {
                return err(pos + 1, "invalid double");
            }
            Head::Line {
                ty,
                start: pos + 1,
                end,
            }
        }
        b'#' => {
            if body != b"t" && body != b"f" {
                return err(pos + 1, "invalid boolean");
            }
            Head::Line {
                ty,
                start: pos + 1,
                end,
            }
        }
        b'_' => {
            if !body.is_empty() {
                return err(pos + 1, "invalid null");
            }
            Head::Line {
                ty,
                start: pos + 1,
                end,
            }
        }
        b'$' | b'!' | b'=' => {
            let Some(n) = parse_len(body, pos + 1)? else {
                if ty == b'$' {
                    return Ok(Some((Head::Null, next)));
                }
                return err(pos + 1, "negative length");
            };
            let n = n as usize;
            if ty == b'=' && n < 4 {
                return err(pos + 1, "verbatim string shorter than its format prefix");
            }
            let data_end = next + n;
            if buf.len() < data_end + 2 {
                return Ok(None);
            }
            if &buf[data_end..data_end + 2] != b"\r\n" {
                return err(data_end, "bulk payload not followed by CRLF");
            }
            if ty == b'=' && buf[next + 3] != b':' {
                return err(next + 3, "verbatim string without `:` after its format");
            }
            return Ok(Some((
                Head::Blob {
                    ty,
                    start: next,
                    end: data_end,
                },
                data_end + 2,
            )));
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let Some(n) = parse_len(body, pos + 1)? else {
                if ty == b'*' {
                    return Ok(Some((Head::Null, next)));
                }
                return err(pos + 1, "negative length");
            };
            let n = if ty == b'%' || ty == b'|' { n * 2 } else { n };
            Head::Agg { ty, n }
        }
        _ => return err(pos, "unknown type byte"),
    };
    Ok(Some((h, next)))
}

fn kind_of(h: &Head) -> FrameKind {
    let ty = match h {
        Head::Null => return FrameKind::Null,
        Head::Line { ty, .. } | Head::Blob { ty, .. } | Head::Agg { ty, .. } => *ty,
    };
    match ty {
        b'+' => FrameKind::Simple,
        b'-' => FrameKind::Error,
        b':' => FrameKind::Integer,
        b'$' => FrameKind::Bulk,
        b'_' => FrameKind::Null,
        b'*' => FrameKind::Array,
        b',' => FrameKind::Double,
        b'#' => FrameKind::Boolean,
        b'(' => FrameKind::BigNumber,
        b'!' => FrameKind::BulkError,
        b'=' => FrameKind::Verbatim,
        b'%' => FrameKind::Map,
        b'~' => FrameKind::Set,
        _ => FrameKind::Push,
    }
}

/// Says whether `buf` starts with a complete frame, without allocating.
///
/// Returns `Ok(Some(checked))` with the frame's length and kind, `Ok(None)` when more bytes
/// are needed, and `Err` when the bytes can never form a valid frame.
#[inline]
pub fn check(buf: &[u8]) -> Result<Option<Checked>, Error> {
    // Remaining children per open aggregate; the top bit marks an attribute, whose
    // completion does not count as an element of its parent.
    const ATTR: u64 = 1 << 63;
    // Most replies are one element (a bulk string, a status, an integer): no stack at all.
    let Some((first, first_next)) = head(buf, 0)? else {
        return Ok(None);
    };
    if !matches!(first, Head::Agg { n, ty } if n > 0 || ty == b'|') {
        return Ok(Some(Checked {
            len: first_next,
            kind: kind_of(&first),
        }));
    }
    // Aggregates nest a few levels deep: the counters live on the stack up to that, and
    // spill to the heap beyond.
    const INLINE: usize = 16;
    let mut inline = [0u64; INLINE];
    let mut spilled: Vec<u64> = Vec::new();
    let mut depth = 0usize;
    let mut pos = 0usize;
    let mut kind = FrameKind::Null;
    let mut pending = Some((first, first_next));
    loop {
        let (h, next) = match pending.take() {
            Some(hn) => hn,
            None => match head(buf, pos)? {
                Some(hn) => hn,
                None => return Ok(None),
            },
        };
        if depth == 0 && !matches!(h, Head::Agg { ty: b'|', .. }) {
            kind = kind_of(&h);
        }
        let at = pos;
        pos = next;
        if let Head::Agg { ty, n } = h {
            if n > 0 || ty == b'|' {
                if depth == MAX_DEPTH {
                    return err(at, "aggregates nested too deeply");
                }
                if n == 0 {
                    // An empty attribute: nothing to wait for, the annotated value follows.
                    continue;
                }
                let count = if ty == b'|' { n | ATTR } else { n };
                if depth < INLINE {
                    inline[depth] = count;
                } else {
                    spilled.push(count);
                }
                depth += 1;
                continue;
            }
        }
        // One element is complete: close every aggregate it completes.
        loop {
            if depth == 0 {
                return Ok(Some(Checked { len: pos, kind }));
            }
            let top = if depth <= INLINE {
                &mut inline[depth - 1]
            } else {
                &mut spilled[depth - 1 - INLINE]
            };
            *top -= 1;
            if *top & !ATTR != 0 {
                break;
            }
            let was_attr = *top & ATTR != 0;
            depth -= 1;
            if depth >= INLINE {
                spilled.pop();
            }
            if was_attr {
                break;
            }
        }
    }
}

/// Parses the complete frame at the start of `buf`.
///
/// Returns the frame and its length, `Ok(None)` when more bytes are needed, `Err` when the
/// bytes are malformed.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, Error> {
    let Some(checked) = check(buf)? else {
        return Ok(None);
    };
    let (frame, len) = build(buf, 0)?;
    debug_assert_eq!(len, checked.len);
    Ok(Some((frame, len)))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Builds the frame at `pos` in a buffer already known (via [`check`]) to be complete and
/// nested no deeper than [`MAX_DEPTH`].
fn build(buf: &[u8], pos: usize) -> Result<(Frame, usize), Error> {
    let (h, mut next) = match head(buf, pos)? {
        Some(x) => x,
        None => return err(pos, "frame ended early"),
    };
    let frame = match h {
        Head::Null => Frame::Null,
        Head::Line { ty, start, end } => {
            let body = &buf[start..end];
            match ty {
                b'+' => Frame::Simple(text(body)),
                b'-' => Frame::Error(text(body)),
                b':' => Frame::Integer(parse_i64(body, start)?),
                b'(' => Frame::BigNumber(text(body)),
                b',' => {
                    let v = std::str::from_utf8(body)
                        .ok()
                        .and_then(|s| s.parse::<f64>().ok());
                    match v {
                        Some(v) => Frame::Double(v),
                        None => return err(start, "invalid double"),
                    }
                }
                b'#' => Frame::Boolean(body == b"t"),
                _ => Frame::Null,
            }
        }
        Head::Blob { ty, start, end } => {
            let body = &buf[start..end];
            match ty {
                b'$' => Frame::Bulk(body.to_vec()),
                b'!' => Frame::BulkError(text(body)),
                _ => Frame::Verbatim {
                    format: [body[0], body[1], body[2]],
                    text: body[4..].to_vec(),
                },
            }
        }
        Head::Agg { ty: b'|', n } => {
            // Skip the attribute's keys and values, then return the annotated frame.
            for _ in 0..n {
                next = build(buf, next)?.1;
            }
            return build(buf, next);
        }
        Head::Agg { ty, n } => {
            let mut items = Vec::with_capacity(n.min(1024) as usize);
            for _ in 0..n {
                let (f, after) = build(buf, next)?;
                items.push(f);
                next = after;
            }
            match ty {
                b'*' => Frame::Array(items),
                b'~' => Frame::Set(items),
                b'>' => Frame::Push(items),
                _ => {
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Frame::Map(pairs)
                }
            }
        }
    };
    Ok((frame, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(b: &[u8]) -> Option<usize> {
        check(b).expect("valid").map(|c| c.len)
    }

    #[test]
    fn simple_types() {
        assert_eq!(len(b"+OK\r\n"), Some(5));
        assert_eq!(len(b"+OK\r"), None);
        assert_eq!(len(b"+OK"), None);
        assert_eq!(len(b""), None);
        assert_eq!(len(b":-12\r\nextra"), Some(6));
        assert_eq!(len(b"$3\r\nfoo\r\n"), Some(9));
        assert_eq!(len(b"$3\r\nfoo\r"), None);
        assert_eq!(len(b"$-1\r\n"), Some(5));
        assert_eq!(len(b"*-1\r\n"), Some(5));
        assert_eq!(len(b"_\r\n"), Some(3));
    }

    #[test]
    fn aggregates_and_attributes() {
        let b = b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n";
        assert_eq!(len(b), Some(b.len()));
        assert_eq!(len(&b[..b.len() - 1]), None);
        let m = b"%1\r\n+k\r\n+v\r\n";
        assert_eq!(len(m), Some(m.len()));
        let a = b"|1\r\n+key\r\n+val\r\n:7\r\n";
        let c = check(a).unwrap().unwrap();
        assert_eq!(c.len, a.len());
        assert_eq!(c.kind, FrameKind::Integer);
        assert_eq!(parse(a).unwrap().unwrap().0, Frame::Integer(7));
        let nested = b"*1\r\n|1\r\n+a\r\n+b\r\n:1\r\n";
        assert_eq!(
            parse(nested).unwrap().unwrap().0,
            Frame::Array(vec![Frame::Integer(1)])
        );
        assert_eq!(len(b"*0\r\n"), Some(4));
    }

    #[test]
    fn errors_are_kinds() {
        let c = check(b"-ERR bad\r\n").unwrap().unwrap();
        assert!(c.kind.is_error());
        let c = check(b"!3\r\nbad\r\n").unwrap().unwrap();
        assert!(c.kind.is_error());
    }

    #[test]
    fn malformed() {
        assert!(check(b"?x\r\n").is_err());
        assert!(check(b":abc\r\n").is_err());
        assert!(check(b"$3\r\nfooX\r\n").is_err());
        assert!(check(b"+a\nb\r\n").is_err());
        assert!(check(b"#x\r\n").is_err());
        assert!(check(b"$-2\r\n").is_err());
        let deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
        assert!(check(&deep).is_err());
    }

    #[test]
    fn verbatim_and_resp3_scalars() {
        let (f, _) = parse(b"=8\r\ntxt:abcd\r\n").unwrap().unwrap();
        assert_eq!(
            f,
            Frame::Verbatim {
                format: *b"txt",
                text: b"abcd".to_vec()
            }
        );
        assert_eq!(parse(b",1.5\r\n").unwrap().unwrap().0, Frame::Double(1.5));
        assert_eq!(parse(b"#t\r\n").unwrap().unwrap().0, Frame::Boolean(true));
        assert_eq!(
            parse(b"(-123\r\n").unwrap().unwrap().0,
            Frame::BigNumber("-123".into())
        );
    }
}
