//! A minimal RESP client for checking servers from the outside.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A minimal RESP client (inline commands in RESP arrays; simple, error, integer and bulk
/// replies), independent of the product's own client so the tests check the server from
/// the outside.
pub struct Resp {
    reader: BufReader<TcpStream>,
}

impl Resp {
    pub fn connect(port: u16) -> std::io::Result<Resp> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(Resp {
            reader: BufReader::new(stream),
        })
    }

    /// Sends one command; returns simple/bulk strings as text, integers in decimal. An error
    /// reply is an `Err`.
    pub fn call(&mut self, args: &[&str]) -> std::io::Result<String> {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.reader.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let line = line.trim_end_matches("\r\n");
        let (kind, rest) = line.split_at(1.min(line.len()));
        match kind {
            "+" | ":" => Ok(rest.to_string()),
            "-" => Err(std::io::Error::other(rest.to_string())),
            "$" => {
                let len: i64 = rest.parse().map_err(std::io::Error::other)?;
                if len < 0 {
                    return Ok(String::new());
                }
                let mut buf = vec![0; len as usize + 2];
                self.reader.read_exact(&mut buf)?;
                buf.truncate(len as usize);
                Ok(String::from_utf8_lossy(&buf).into_owned())
            }
            _ => Err(std::io::Error::other(format!("unexpected reply `{line}`"))),
        }
    }

    /// One numeric field of an INFO section.
    pub fn info_u64(&mut self, section: &str, field: &str) -> u64 {
        let info = self.call(&["INFO", section]).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no `{field}` in INFO {section}:\n{info}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// A field of `INFO <section>` as text, if present.
    pub fn info_field(&mut self, section: &str, field: &str) -> Option<String> {
        let info = self.call(&["INFO", section]).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(|v| v.trim().to_string())
    }

    /// `calls` of one command in `INFO commandstats` (0 when it never ran); a subcommand as
    /// `config|set`.
    pub fn calls(&mut self, command: &str) -> u64 {
        self.info_field("commandstats", &format!("cmdstat_{command}"))
            .map_or(0, |v| {
                let calls = v.strip_prefix("calls=").unwrap();
                calls.split(',').next().unwrap().parse().unwrap()
            })
    }

    /// `count` of one error prefix in `INFO errorstats` (0 when none).
    pub fn error_count(&mut self, prefix: &str) -> u64 {
        self.info_field("errorstats", &format!("errorstat_{prefix}"))
            .map_or(0, |v| v.strip_prefix("count=").unwrap().parse().unwrap())
    }
}
