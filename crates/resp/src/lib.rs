//! RESP2/RESP3 codec for the native load generator.
//!
//! Decoding happens in two steps, so the hot path never allocates:
//! [`check`] scans a buffer and says whether it starts with a complete frame (and how long it
//! is, and what kind it is), then [`parse`] turns a complete frame into a [`Frame`] when the
//! caller needs its content (errors, redirects, handshake replies). "Incomplete" is not an
//! error: [`check`] returns `Ok(None)` and the caller reads more bytes.
//!
//! Encoders write straight into caller-owned, reusable `Vec<u8>` buffers.
//!
//! This crate owns the wire format only. It does no I/O and depends on nothing.

mod decode;
mod encode;

pub use decode::{Checked, Error, FrameKind, MAX_DEPTH, check, parse};
pub use encode::{encode_frame, write_array_len, write_bulk, write_command};

/// Whether bytes that failed to decode are an HTTP answer (a status line, or an HTML page as
/// an HTTP/0.9 server sends it): whatever sent them is a web server, not a RESP server, and
/// the caller can say so instead of quoting the decoding error.
pub fn looks_like_http(bytes: &[u8]) -> bool {
    let start = bytes.trim_ascii_start();
    let lower: Vec<u8> = start.iter().take(9).map(u8::to_ascii_lowercase).collect();
    start.starts_with(b"HTTP/") || lower.starts_with(b"<!doctype") || lower.starts_with(b"<html")
}

/// The first line of `bytes`, lossily as UTF-8 and at most `max` bytes long, for messages.
pub fn first_line(bytes: &[u8], max: usize) -> String {
    let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(&line[..line.len().min(max)])
        .trim_end()
        .to_string()
}

/// A decoded RESP2 or RESP3 value.
///
/// Attributes (`|`) are accepted by the decoder and skipped: the frame they annotate is
/// returned without them.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+OK`
    Simple(String),
    /// `-ERR message`
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nfoo`
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` (RESP2) or `_` (RESP3)
    Null,
    /// `*2 ...`
    Array(Vec<Frame>),
    /// `,3.14` (RESP3)
    Double(f64),
    /// `#t` / `#f` (RESP3)
    Boolean(bool),
    /// `(12345678901234567890` (RESP3)
    BigNumber(String),
    /// `!21\r\nSYNTAX invalid syntax` (RESP3)
    BulkError(String),
    /// `=15\r\ntxt:Some string` (RESP3); `format` is the three-byte type.
    Verbatim { format: [u8; 3], text: Vec<u8> },
    /// `%2 ...` (RESP3)
    Map(Vec<(Frame, Frame)>),
    /// `~2 ...` (RESP3)
    Set(Vec<Frame>),
    /// `>2 ...` (RESP3 out-of-band push)
    Push(Vec<Frame>),
}

impl Frame {
    /// The error text of an `Error` or `BulkError` frame.
    pub fn error_message(&self) -> Option<&str> {
        match self {
            Frame::Error(s) | Frame::BulkError(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a simple string, bulk string or verbatim string, lossily as UTF-8.
    pub fn as_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Frame::Simple(s) => Some(std::borrow::Cow::Borrowed(s)),
            Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => Some(String::from_utf8_lossy(b)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_an_http_answer_from_resp() {
        assert!(looks_like_http(b"HTTP/1.1 400 Bad Request\r\n"));
        assert!(looks_like_http(b"<!DOCTYPE HTML>\n<html>"));
        assert!(looks_like_http(b"\n<html><body>"));
        assert!(!looks_like_http(b"+PONG\r\n"));
        assert!(!looks_like_http(b"-ERR nope\r\n"));
        assert_eq!(
            first_line(b"<!DOCTYPE HTML>\n<html>", 80),
            "<!DOCTYPE HTML>"
        );
        assert_eq!(first_line(b"HTTP/1.0 200 OK\r\nx", 8), "HTTP/1.0");
    }
}
