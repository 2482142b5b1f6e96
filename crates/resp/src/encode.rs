//! Encoding into caller-owned buffers, which are appended to and never cleared here.

use crate::Frame;

/// Appends the decimal form of `n` without allocating.
fn write_int(buf: &mut Vec<u8>, n: i64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        buf.push(b'-');
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn header(buf: &mut Vec<u8>, ty: u8, n: usize) {
    buf.push(ty);
    write_int(buf, n as i64);
    buf.extend_from_slice(b"\r\n");
}

/// Appends an array header `*<n>\r\n`.
pub fn write_array_len(buf: &mut Vec<u8>, n: usize) {
    header(buf, b'*', n);
}

/// Appends a bulk string `$<len>\r\n<bytes>\r\n`.
pub fn write_bulk(buf: &mut Vec<u8>, bytes: &[u8]) {
    header(buf, b'$', bytes.len());
    buf.extend_from_slice(bytes);
    buf.extend_from_slice(b"\r\n");
}

/// Appends a command as an array of bulk strings, the form servers expect from clients.
pub fn write_command<I, A>(buf: &mut Vec<u8>, args: I)
where
    I: IntoIterator<Item = A>,
    I::IntoIter: ExactSizeIterator,
    A: AsRef<[u8]>,
{
    let args = args.into_iter();
    write_array_len(buf, args.len());
    for a in args {
        write_bulk(buf, a.as_ref());
    }
}

/// Appends any frame in its RESP2/RESP3 wire form (a server's view; used by tests and tools).
pub fn encode_frame(frame: &Frame, buf: &mut Vec<u8>) {
    match frame {
        Frame::Simple(s) => line(buf, b'+', s.as_bytes()),
        Frame::Error(s) => line(buf, b'-', s.as_bytes()),
        Frame::Integer(i) => {
            buf.push(b':');
            write_int(buf, *i);
            buf.extend_from_slice(b"\r\n");
        }
        Frame::Bulk(b) => write_bulk(buf, b),
        Frame::Null => buf.extend_from_slice(b"_\r\n"),
        Frame::Array(items) => aggregate(buf, b'*', items),
        Frame::Double(d) => {
            let s = if d.is_nan() {
                "nan".to_string()
            } else if d.is_infinite() {
                if *d > 0.0 { "inf" } else { "-inf" }.to_string()
            } else {
                format!("{d:?}")
            };
            line(buf, b',', s.as_bytes());
        }
        Frame::Boolean(b) => line(buf, b'#', if *b { b"t" } else { b"f" }),
        Frame::BigNumber(s) => line(buf, b'(', s.as_bytes()),
        Frame::BulkError(s) => {
            header(buf, b'!', s.len());
            buf.extend_from_slice(s.as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
        Frame::Verbatim { format, text } => {
            header(buf, b'=', text.len() + 4);
            buf.extend_from_slice(format);
            buf.push(b':');
            buf.extend_from_slice(text);
            buf.extend_from_slice(b"\r\n");
        }
        Frame::Map(pairs) => {
            header(buf, b'%', pairs.len());
            for (k, v) in pairs {
                encode_frame(k, buf);
                encode_frame(v, buf);
            }
        }
        Frame::Set(items) => aggregate(buf, b'~', items),
        Frame::Push(items) => aggregate(buf, b'>', items),
    }
}

fn line(buf: &mut Vec<u8>, ty: u8, body: &[u8]) {
    buf.push(ty);
    buf.extend_from_slice(body);
    buf.extend_from_slice(b"\r\n");
}

fn aggregate(buf: &mut Vec<u8>, ty: u8, items: &[Frame]) {
    header(buf, ty, items.len());
    for f in items {
        encode_frame(f, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_encoding() {
        let mut buf = Vec::new();
        write_command(&mut buf, ["SET", "k", "v"]);
        assert_eq!(buf, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
        buf.clear();
        write_int(&mut buf, i64::MIN);
        assert_eq!(buf, i64::MIN.to_string().as_bytes());
    }
}
