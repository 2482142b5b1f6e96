//! A small blocking client for control commands (PING, INFO, CONFIG SET, FLUSHALL, CLUSTER
//! ...). Load is never generated here; see the engines.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A decoded reply, as far as control commands need it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text (simple or bulk strings).
    pub fn text(&self) -> Option<String> {
        match self {
            Reply::Simple(s) => Some(s.clone()),
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

/// Something a control connection can run over: plain TCP or TLS.
pub trait Transport: Read + Write + Send {}
impl<T: Read + Write + Send> Transport for T {}

/// One control connection.
pub struct Control {
    addr: String,
    reader: BufReader<Box<dyn Transport>>,
}

impl Control {
    /// Connects over plain TCP with the given I/O timeout.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<Control> {
        let addr = format!("{host}:{port}");
        let sock = addr
            .to_socket_addrs()
            .with_context(|| format!("resolving `{addr}`"))?
            .next()
            .with_context(|| format!("`{addr}` resolves to no address"))?;
        let stream = TcpStream::connect_timeout(&sock, timeout)
            .with_context(|| format!("connecting to `{addr}`"))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Control::over(addr, Box::new(stream)))
    }

    /// Wraps an already connected transport (for TLS).
    pub fn over(addr: String, transport: Box<dyn Transport>) -> Control {
        Control {
            addr,
            reader: BufReader::new(transport),
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends one command and reads its reply. Error replies are returned as `Reply::Error`.
    pub fn call_raw(&mut self, args: &[&str]) -> Result<Reply> {
        let mut out = Vec::new();
        encode(&mut out, args.iter().copied());
        let addr = self.addr.clone();
        self.reader
            .get_mut()
            .write_all(&out)
            .with_context(|| format!("sending `{}` to `{addr}`", args.join(" ")))?;
        read_reply(&mut self.reader).with_context(|| {
            format!(
                "reading the reply to `{}` from `{addr}`",
                args.first().unwrap_or(&"")
            )
        })
    }

    /// Sends many commands at once and reads all their replies (error replies included).
    pub fn pipeline(&mut self, commands: &[Vec<String>]) -> Result<Vec<Reply>> {
        let mut out = Vec::new();
        for args in commands {
            encode(&mut out, args.iter().map(String::as_str));
        }
        let addr = self.addr.clone();
        self.reader.get_mut().write_all(&out).with_context(|| {
            format!("sending {} pipelined commands to `{addr}`", commands.len())
        })?;
        (0..commands.len())
            .map(|_| read_reply(&mut self.reader))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("reading pipelined replies from `{addr}`"))
    }

    /// Sends one command; an error reply becomes an error naming the command.
    pub fn call(&mut self, args: &[&str]) -> Result<Reply> {
        match self.call_raw(args)? {
            Reply::Error(e) => bail!("`{}` failed on `{}`: {e}", args.join(" "), self.addr),
            reply => Ok(reply),
        }
    }

    /// Sends one command expecting text back (INFO, CLUSTER INFO ...).
    pub fn call_text(&mut self, args: &[&str]) -> Result<String> {
        let reply = self.call(args)?;
        reply.text().with_context(|| {
            format!(
                "`{}` on `{}` returned {reply:?}, expected text",
                args.join(" "),
                self.addr
            )
        })
    }

    /// `INFO section` parsed into `field → value`.
    pub fn info(&mut self, section: &str) -> Result<Vec<(String, String)>> {
        let text = self.call_text(&["INFO", section])?;
        Ok(parse_info(&text))
    }
}

/// Parses `INFO` text into `(field, value)` pairs, skipping section headers.
pub fn parse_info(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Looks a field up in parsed INFO output.
pub fn info_field<'a>(info: &'a [(String, String)], key: &str) -> Option<&'a str> {
    info.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Appends one command in RESP array form.
fn encode<'a>(out: &mut Vec<u8>, args: impl ExactSizeIterator<Item = &'a str>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

fn read_line(r: &mut impl BufRead) -> Result<String> {
    let mut line = Vec::new();
    let n = r.read_until(b'\n', &mut line)?;
    if n == 0 {
        bail!("connection closed by the server");
    }
    if !line.ends_with(b"\r\n") {
        bail!("malformed reply line {:?}", String::from_utf8_lossy(&line));
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn read_reply(r: &mut impl BufRead) -> Result<Reply> {
    let line = read_line(r)?;
    let (kind, rest) = line.split_at(1.min(line.len()));
    let int = |s: &str| -> Result<i64> {
        s.parse()
            .with_context(|| format!("malformed length or integer {s:?} in reply"))
    };
    Ok(match kind {
        "+" => Reply::Simple(rest.to_string()),
        "-" => Reply::Error(rest.to_string()),
        ":" => Reply::Int(int(rest)?),
        "$" | "=" | "!" => {
            let len = int(rest)?;
            if len < 0 {
                Reply::Bulk(None)
            } else {
                let mut buf = vec![0; len as usize + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(len as usize);
                if kind == "!" {
                    Reply::Error(String::from_utf8_lossy(&buf).into_owned())
                } else {
                    Reply::Bulk(Some(buf))
                }
            }
        }
        "*" | "~" | ">" => {
            let len = int(rest)?;
            if len < 0 {
                Reply::Array(None)
            } else {
                let items = (0..len)
                    .map(|_| read_reply(r))
                    .collect::<Result<Vec<_>>>()?;
                Reply::Array(Some(items))
            }
        }
        "%" => {
            let len = int(rest)?;
            let items = (0..len * 2)
                .map(|_| read_reply(r))
                .collect::<Result<Vec<_>>>()?;
            Reply::Array(Some(items))
        }
        "_" => Reply::Bulk(None),
        "#" => Reply::Int(i64::from(rest == "t")),
        "," | "(" => Reply::Simple(rest.to_string()),
        _ => bail!("unexpected reply type {line:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Reply {
        read_reply(&mut BufReader::new(bytes)).unwrap()
    }

    #[test]
    fn decodes_control_replies() {
        assert_eq!(decode(b"+PONG\r\n"), Reply::Simple("PONG".into()));
        assert_eq!(decode(b"-ERR nope\r\n"), Reply::Error("ERR nope".into()));
        assert_eq!(decode(b":42\r\n"), Reply::Int(42));
        assert_eq!(decode(b"$-1\r\n"), Reply::Bulk(None));
        assert_eq!(
            decode(b"*2\r\n$1\r\na\r\n:1\r\n"),
            Reply::Array(Some(vec![Reply::Bulk(Some(b"a".to_vec())), Reply::Int(1)]))
        );
        assert!(read_reply(&mut BufReader::new(&b"$5\r\nab"[..])).is_err());
    }

    #[test]
    fn parses_info() {
        let info = parse_info("# Server\r\nvalkey_version:9.1.2\r\nio_threads_active:0\r\n");
        assert_eq!(info_field(&info, "valkey_version"), Some("9.1.2"));
        assert_eq!(info_field(&info, "nope"), None);
    }
}
