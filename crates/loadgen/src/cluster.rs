//! Cluster topology: key → slot hashing, the slot map from `CLUSTER SLOTS`, and parsing of
//! `MOVED` / `ASK` redirects.

use resp::Frame;

/// Why a cluster's layout could not be learnt from its seed node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "`{address}` answered CLUSTER SLOTS with `{reply}`; is it a cluster node? (drop \
         --cluster for a standalone server)"
    )]
    NotACluster { address: String, reply: String },
    #[error("CLUSTER SLOTS returned {reply}, expected an array")]
    SlotsNotAnArray { reply: String },
    #[error("CLUSTER SLOTS entry is not an array")]
    EntryNotAnArray,
    #[error("CLUSTER SLOTS entry lacks start, end or primary")]
    EntryIncomplete,
    #[error("CLUSTER SLOTS primary lacks a port")]
    NoPort,
    #[error("CLUSTER SLOTS range {start}-{end} is invalid")]
    BadRange { start: i64, end: i64 },
    #[error("the cluster serves no slots (CLUSTER SLOTS is empty)")]
    NoSlots,
    #[error("slot {0} is not served by any node")]
    UnservedSlot(usize),
    #[error(
        "reads from replicas were asked for, but the cluster at `{address}` has no replicas \
         (CLUSTER SLOTS lists none); add replicas or read from the primaries"
    )]
    NoReplicas { address: String },
}

/// Number of hash slots in a Valkey cluster.
pub const SLOTS: usize = 16384;

/// CRC16-CCITT (XMODEM), the checksum the cluster specification uses for key slots.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC16 of `bytes` (XMODEM variant).
pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16_TABLE[(((crc >> 8) as u8) ^ b) as usize]
    })
}

/// The slot of a key, honouring hash tags: when the key contains `{...}` with at least one
/// byte between the first `{` and the next `}`, only those bytes are hashed.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16(hashed) % SLOTS as u16
}

/// Which node serves each slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlotMap {
    /// `host:port` of each known node; the primaries of the initial map come first, then
    /// their replicas.
    pub nodes: Vec<(String, u16)>,
    /// Index into `nodes` per slot; `u16::MAX` when no node serves it.
    pub slots: Vec<u16>,
    /// Number of primaries of the initial map (`nodes[..primaries]`).
    pub primaries: usize,
    /// The replicas of each primary of the initial map (indices into `nodes`), by primary.
    pub replicas: Vec<Vec<u16>>,
}

impl SlotMap {
    /// Builds the map from a `CLUSTER SLOTS` reply; an empty host means `seed_host`.
    pub(crate) fn from_cluster_slots(
        reply: &Frame,
        seed_host: &str,
    ) -> Result<SlotMap, ClusterError> {
        let Frame::Array(ranges) = reply else {
            return Err(ClusterError::SlotsNotAnArray {
                reply: format!("{reply:?}"),
            });
        };
        let mut map = SlotMap {
            nodes: Vec::new(),
            slots: vec![u16::MAX; SLOTS],
            primaries: 0,
            replicas: Vec::new(),
        };
        let addr_of = |f: &Frame| -> Option<(String, u16)> {
            let Frame::Array(p) = f else { return None };
            let host = p
                .first()
                .and_then(|h| h.as_text())
                .map(|h| h.into_owned())
                .unwrap_or_default();
            let host = if host.is_empty() || host == "?" {
                seed_host.to_string()
            } else {
                host
            };
            match p.get(1) {
                Some(Frame::Integer(port)) => Some((host, *port as u16)),
                _ => None,
            }
        };
        // Replicas after every primary, so the primaries keep the first indices.
        let mut replica_entries = Vec::new();
        for r in ranges {
            let Frame::Array(items) = r else {
                return Err(ClusterError::EntryNotAnArray);
            };
            let (Some(Frame::Integer(start)), Some(Frame::Integer(end)), Some(Frame::Array(p))) =
                (items.first(), items.get(1), items.get(2))
            else {
                return Err(ClusterError::EntryIncomplete);
            };
            let host = p
                .first()
                .and_then(|h| h.as_text())
                .map(|h| h.into_owned())
                .unwrap_or_default();
            let host = if host.is_empty() || host == "?" {
                seed_host.to_string()
            } else {
                host
            };
            let Some(Frame::Integer(port)) = p.get(1) else {
                return Err(ClusterError::NoPort);
            };
            let node = map.node_index((host, *port as u16));
            if *start < 0 || *end >= SLOTS as i64 || start > end {
                return Err(ClusterError::BadRange {
                    start: *start,
                    end: *end,
                });
            }
            for s in *start..=*end {
                map.slots[s as usize] = node;
            }
            replica_entries.extend(items.iter().skip(3).filter_map(addr_of).map(|a| (node, a)));
        }
        map.primaries = map.nodes.len();
        map.replicas = vec![Vec::new(); map.primaries];
        for (primary, addr) in replica_entries {
            let idx = map.node_index(addr);
            let list = &mut map.replicas[primary as usize];
            if !list.contains(&idx) {
                list.push(idx);
            }
        }
        if map.nodes.is_empty() {
            return Err(ClusterError::NoSlots);
        }
        if let Some(s) = map.slots.iter().position(|&n| n == u16::MAX) {
            return Err(ClusterError::UnservedSlot(s));
        }
        Ok(map)
    }

    /// Adds the replicas a `CLUSTER NODES` reply lists (CLUSTER SLOTS leaves out replicas
    /// that have not replicated anything yet, as in a fresh cluster). Replicas of nodes that
    /// are not primaries of this map, and failed nodes, are skipped.
    pub(crate) fn add_replicas_from_nodes(&mut self, text: &str, seed_host: &str) {
        let mut addr_of_id = Vec::new();
        let mut replicas = Vec::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            if f.len() < 4 {
                continue;
            }
            let endpoint = f[1].split(['@', ',']).next().unwrap_or_default();
            let Some((host, port)) = endpoint.rsplit_once(':') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            let host = if host.is_empty() { seed_host } else { host };
            let addr = (host.to_string(), port);
            let flags: Vec<&str> = f[2].split(',').collect();
            if flags
                .iter()
                .any(|fl| matches!(*fl, "fail" | "noaddr" | "handshake"))
            {
                continue;
            }
            if flags.iter().any(|fl| matches!(*fl, "slave" | "replica")) {
                replicas.push((f[3].to_string(), addr.clone()));
            }
            addr_of_id.push((f[0].to_string(), addr));
        }
        for (primary_id, addr) in replicas {
            let Some((_, primary_addr)) = addr_of_id.iter().find(|(id, _)| *id == primary_id)
            else {
                continue;
            };
            let Some(p) = self.nodes[..self.primaries]
                .iter()
                .position(|n| n == primary_addr)
            else {
                continue;
            };
            let idx = self.node_index(addr);
            if !self.replicas[p].contains(&idx) {
                self.replicas[p].push(idx);
            }
        }
    }

    /// The index of `addr`, added when new.
    pub(crate) fn node_index(&mut self, addr: (String, u16)) -> u16 {
        match self.nodes.iter().position(|n| *n == addr) {
            Some(i) => i as u16,
            None => {
                self.nodes.push(addr);
                (self.nodes.len() - 1) as u16
            }
        }
    }
}

/// A cluster redirect parsed from an error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Redirect {
    Moved { slot: u16, addr: (String, u16) },
    Ask { addr: (String, u16) },
}

/// Parses `MOVED 3999 127.0.0.1:6381` / `ASK 3999 127.0.0.1:6381`; an empty host means
/// `seed_host`.
pub(crate) fn parse_redirect(msg: &str, seed_host: &str) -> Option<Redirect> {
    let mut it = msg.split_ascii_whitespace();
    let kind = it.next()?;
    let slot: u16 = it.next()?.parse().ok()?;
    let endpoint = it.next()?;
    let (host, port) = endpoint.rsplit_once(':')?;
    let host = if host.is_empty() { seed_host } else { host };
    let addr = (host.to_string(), port.parse().ok()?);
    match kind {
        "MOVED" => Some(Redirect::Moved { slot, addr }),
        "ASK" => Some(Redirect::Ask { addr }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_known_values() {
        // The reference value from the cluster specification.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
        assert_eq!(key_slot(b"foo{{bar}}zap"), crc16(b"{bar") % 16384);
    }

    #[test]
    fn error_messages_read_as_one_line() {
        let not = ClusterError::NotACluster {
            address: "h:1".into(),
            reply: "ERR no".into(),
        };
        assert_eq!(
            not.to_string(),
            "`h:1` answered CLUSTER SLOTS with `ERR no`; is it a cluster node? (drop --cluster \
             for a standalone server)"
        );
        let none = ClusterError::NoReplicas {
            address: "h:1".into(),
        };
        assert!(
            none.to_string()
                .contains("`h:1` has no replicas (CLUSTER SLOTS")
        );
    }

    #[test]
    fn redirects() {
        assert_eq!(
            parse_redirect("MOVED 3999 127.0.0.1:6381", "h"),
            Some(Redirect::Moved {
                slot: 3999,
                addr: ("127.0.0.1".into(), 6381)
            })
        );
        assert_eq!(
            parse_redirect("ASK 1 :7000", "seed"),
            Some(Redirect::Ask {
                addr: ("seed".into(), 7000)
            })
        );
        assert_eq!(parse_redirect("ERR nope", "h"), None);
    }

    #[test]
    fn slot_map_from_reply() {
        let node = |port| {
            Frame::Array(vec![
                Frame::Bulk(b"127.0.0.1".to_vec()),
                Frame::Integer(port),
            ])
        };
        let reply = Frame::Array(vec![
            Frame::Array(vec![Frame::Integer(0), Frame::Integer(8191), node(7000)]),
            Frame::Array(vec![
                Frame::Integer(8192),
                Frame::Integer(16383),
                node(7001),
            ]),
        ]);
        let m = SlotMap::from_cluster_slots(&reply, "x").unwrap();
        assert_eq!(m.nodes.len(), 2);
        assert_eq!(m.slots[0], 0);
        assert_eq!(m.slots[16383], 1);
        let partial = Frame::Array(vec![Frame::Array(vec![
            Frame::Integer(0),
            Frame::Integer(10),
            node(7000),
        ])]);
        assert!(SlotMap::from_cluster_slots(&partial, "x").is_err());
        // Replicas come after the primaries and are listed by primary.
        let with_replicas = Frame::Array(vec![
            Frame::Array(vec![
                Frame::Integer(0),
                Frame::Integer(8191),
                node(7000),
                node(7003),
            ]),
            Frame::Array(vec![
                Frame::Integer(8192),
                Frame::Integer(16383),
                node(7001),
                node(7004),
            ]),
        ]);
        let m = SlotMap::from_cluster_slots(&with_replicas, "x").unwrap();
        assert_eq!(m.primaries, 2);
        assert_eq!(m.nodes[2], ("127.0.0.1".to_string(), 7003));
        assert_eq!(m.replicas, vec![vec![2], vec![3]]);
        assert_eq!(m.slots[16383], 1);
        // CLUSTER NODES adds the replicas CLUSTER SLOTS left out (and nothing twice).
        let mut m = SlotMap::from_cluster_slots(&reply, "x").unwrap();
        let nodes = "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-8191\n\
                     b2 127.0.0.1:7001@17001 master - 0 0 2 connected 8192-16383\n\
                     c3 127.0.0.1:7003@17003 slave a1 0 0 1 connected\n\
                     d4 :7004@17004 slave b2 0 0 2 connected\n\
                     e5 127.0.0.1:7005@17005 slave,fail b2 0 0 2 connected\n";
        m.add_replicas_from_nodes(nodes, "127.0.0.1");
        m.add_replicas_from_nodes(nodes, "127.0.0.1");
        assert_eq!(m.replicas, vec![vec![2], vec![3]]);
        assert_eq!(m.nodes[3], ("127.0.0.1".to_string(), 7004));
    }
}
