//! The trace as a ShiViz log, one line per host event with its vector clock.
//!
//! The clocks let ShiViz draw which events could have influenced which.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::message_name;
use crate::engine::Time;
use crate::network::MsgKind;
use crate::topology::Topology;
use crate::trace::matching::{match_all, Matched};
use crate::trace::TraceEvent;

/// The regular expression that parses the log of [`shiviz`] (paste it into ShiViz's "log
/// parsing regular expression" box). One line per event: host, a space, the vector clock as a
/// JSON object without nested braces, a space, and the description up to the end of the line.
pub const SHIVIZ_REGEX: &str = r"(?<host>\S+) (?<clock>\{[^}]*\}) (?<event>.*)";

/// The events as a ShiViz log (<https://bestchai.bitbucket.io/shiviz/>), with the regular
/// expression that parses it ([`SHIVIZ_REGEX`]): `(log, regex)`.
///
/// One line per event: `HOST {"HOST":3,"OTHER":1} description`. Hosts are the tasks (names
/// sanitised by replacing whitespace, braces, quotes and backslashes with `_`). A host's events
/// are its sends (data, control and end of input), its receives, its local snapshots and its
/// state changes, in trace order. The vector clocks follow ShiViz's rules: a host's own entry
/// is 1 at its first event and rises by exactly one per event; a receive first takes the
/// element-wise maximum of the receiver's clock and the sender's clock at the matching send
/// (see [`crate::trace::matching`]; a message restored from channel state is matched to its
/// send before the recovery). A clock lists only hosts with a nonzero entry, in task order.
pub fn shiviz(events: &[TraceEvent], topo: &Topology) -> (String, String) {
    let matched = match_all(events);
    let mut log = Log::new(topo, &matched);
    for (i, e) in events.iter().enumerate() {
        let line = match *e {
            TraceEvent::Send { .. } => log.send(i, e),
            TraceEvent::Receive { t, ch, seq } => {
                let send = matched[i].map(|m| (m, &events[m.send]));
                log.receive(t, ch, seq, send)
            }
            TraceEvent::LocalSnapshot {
                t, task, id, bytes, ..
            } => log.tick(task, || {
                format!("local snapshot {id} ({bytes} B) {}", at(t))
            }),
            TraceEvent::StateChange { t, task, label } => {
                log.tick(task, || format!("state change to label {label} {}", at(t)))
            }
            _ => None,
        };
        if let Some((host, desc)) = line {
            log.write(host, &desc);
        }
    }
    (log.text, SHIVIZ_REGEX.to_string())
}

/// The log being written, with every host's vector clock.
struct Log<'a> {
    topo: &'a Topology,
    hosts: Vec<String>,
    /// The hosts as JSON strings, the keys of a clock.
    keys: Vec<String>,
    /// The vector clock of each host.
    clocks: Vec<Vec<u64>>,
    /// Sends that some receive matches: their clocks are kept until the end.
    needed: BTreeSet<usize>,
    /// The sender's clock at each needed send, by the send's index.
    sent: BTreeMap<usize, Vec<u64>>,
    text: String,
}

impl<'a> Log<'a> {
    fn new(topo: &'a Topology, matched: &[Option<Matched<usize>>]) -> Self {
        let hosts = host_names(topo);
        let n = hosts.len();
        let keys = hosts
            .iter()
            .map(|h| serde_json::to_string(h).expect("strings serialize"))
            .collect();
        Log {
            topo,
            hosts,
            keys,
            clocks: vec![vec![0; n]; n],
            needed: matched.iter().flatten().map(|m| m.send).collect(),
            sent: BTreeMap::new(),
            text: String::new(),
        }
    }

    /// The sending (or, with `receiver`, receiving) host of channel `ch`.
    fn host_of(&self, ch: u32, receiver: bool) -> Option<usize> {
        self.topo.channels.get(ch as usize).map(|c| {
            if receiver {
                c.dst as usize
            } else {
                c.src as usize
            }
        })
    }

    /// The line of the send at index `i`, after ticking the sender's clock.
    fn send(&mut self, i: usize, e: &TraceEvent) -> Option<(usize, String)> {
        let TraceEvent::Send {
            t,
            ch,
            seq,
            bytes,
            kind,
            tag,
            num,
        } = *e
        else {
            return None;
        };
        let src = self.host_of(ch, false)?;
        let to = &self.hosts[self.host_of(ch, true).unwrap_or(src)];
        self.clocks[src][src] += 1;
        if self.needed.contains(&i) {
            self.sent.insert(i, self.clocks[src].clone());
        }
        let what = message_name(kind, tag);
        let desc = if kind == MsgKind::Data as u8 {
            format!(
                "send data to {to} (ch {ch} seq {seq}, key {num}, {bytes} B) {}",
                at(t)
            )
        } else if kind == MsgKind::Control as u8 {
            format!("send {what} {num} to {to} (ch {ch} seq {seq}) {}", at(t))
        } else {
            format!("send {what} to {to} (ch {ch} seq {seq}) {}", at(t))
        };
        Some((src, desc))
    }

    /// The line of a receive, after merging the clock of its matched send (if any) into the
    /// receiver's and ticking it.
    fn receive(
        &mut self,
        t: Time,
        ch: u32,
        seq: u64,
        send: Option<(Matched<usize>, &TraceEvent)>,
    ) -> Option<(usize, String)> {
        let dst = self.host_of(ch, true)?;
        let from = &self.hosts[self.host_of(ch, false).unwrap_or(dst)];
        let mut what = "message".to_string();
        let mut note = "";
        if let Some((m, send_event)) = send {
            if let Some(sc) = self.sent.get(&m.send) {
                for (mine, theirs) in self.clocks[dst].iter_mut().zip(sc) {
                    *mine = (*mine).max(*theirs);
                }
            }
            if let TraceEvent::Send { kind, tag, num, .. } = *send_event {
                what = message_name(kind, tag);
                if kind == MsgKind::Control as u8 {
                    what = format!("{what} {num}");
                }
            }
            if m.restored() {
                note = ", restored";
            }
        } else {
            note = ", unmatched";
        }
        self.clocks[dst][dst] += 1;
        Some((
            dst,
            format!(
                "receive {what} from {from} (ch {ch} seq {seq}{note}) {}",
                at(t)
            ),
        ))
    }

    /// The line of a local event of `task`, after ticking its clock.
    fn tick(&mut self, task: u32, desc: impl FnOnce() -> String) -> Option<(usize, String)> {
        let task = task as usize;
        if task >= self.hosts.len() {
            return None;
        }
        self.clocks[task][task] += 1;
        Some((task, desc()))
    }

    /// Writes one line: host, clock (nonzero entries only) and description.
    fn write(&mut self, host: usize, desc: &str) {
        let log = &mut self.text;
        log.push_str(&self.hosts[host]);
        log.push_str(" {");
        let mut first = true;
        for (k, &v) in self.clocks[host].iter().enumerate() {
            if v > 0 {
                if !first {
                    log.push(',');
                }
                first = false;
                let _ = write!(log, "{}:{v}", self.keys[k]);
            }
        }
        log.push_str("} ");
        log.push_str(desc);
        log.push('\n');
    }
}

/// ShiViz host names: the task names with whitespace, braces, quotes and backslashes replaced
/// by `_` (so that [`SHIVIZ_REGEX`] matches them), made unique with `#index` if needed.
fn host_names(topo: &Topology) -> Vec<String> {
    let mut seen = BTreeSet::new();
    topo.tasks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut h: String = t
                .name
                .chars()
                .map(|c| {
                    if c.is_whitespace() || c.is_control() || matches!(c, '{' | '}' | '"' | '\\') {
                        '_'
                    } else {
                        c
                    }
                })
                .collect();
            if h.is_empty() {
                h = format!("task{i}");
            }
            while !seen.insert(h.clone()) {
                h = format!("{h}#{i}");
            }
            h
        })
        .collect()
}

/// `t=1.234567ms`.
fn at(t: Time) -> String {
    format!("t={}.{:06}ms", t / 1_000_000, t % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::export::test_runs::{cl_paper, job, job_with_crash};
    use crate::trace::matching::Matcher;

    /// One parsed ShiViz line.
    struct Line {
        host: String,
        clock: BTreeMap<String, u64>,
        event: String,
    }

    /// Parses a line as [`SHIVIZ_REGEX`] does (`\S+`, a space, `\{[^}]*\}`, a space, `.*`).
    fn parse_line(line: &str) -> Line {
        let (host, rest) = line.split_once(' ').unwrap();
        assert!(!host.is_empty() && !host.chars().any(char::is_whitespace));
        assert!(rest.starts_with('{'), "{line}");
        let close = rest.find('}').unwrap();
        let clock: BTreeMap<String, u64> = serde_json::from_str(&rest[..=close]).unwrap();
        let event = rest[close + 1..].strip_prefix(' ').unwrap().to_string();
        assert!(!event.is_empty());
        Line {
            host: host.to_string(),
            clock,
            event,
        }
    }

    fn dominates(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> bool {
        b.iter().all(|(h, v)| a.get(h).copied().unwrap_or(0) >= *v)
    }

    /// Checks the ShiViz log; returns how many receives of restored messages it holds.
    fn check_shiviz(events: &[TraceEvent], topo: &Topology) -> usize {
        let (log, regex) = shiviz(events, topo);
        assert_eq!(regex, SHIVIZ_REGEX);
        assert_eq!(log, shiviz(events, topo).0, "deterministic");
        let hosts = host_names(topo);
        let mut own: BTreeMap<String, u64> = BTreeMap::new();
        // The clock of every send line, found by the matcher through its index here.
        let mut send_clocks: Vec<BTreeMap<String, u64>> = Vec::new();
        let mut matcher = Matcher::new();
        let mut lines = log.lines();
        let mut restored = 0;
        for e in events {
            let (host, key) = match *e {
                TraceEvent::Send { ch, seq, .. } => {
                    (topo.channels[ch as usize].src, Some((false, ch, seq)))
                }
                TraceEvent::Receive { ch, seq, .. } => {
                    (topo.channels[ch as usize].dst, Some((true, ch, seq)))
                }
                TraceEvent::LocalSnapshot { task, .. } | TraceEvent::StateChange { task, .. } => {
                    (task, None)
                }
                TraceEvent::Recover { .. } => {
                    matcher.on_recover();
                    continue;
                }
                _ => continue,
            };
            let line = parse_line(lines.next().expect("a line per host event"));
            let host = &hosts[host as usize];
            assert_eq!(&line.host, host);
            // Own entry: 1, 2, 3, ... without gaps.
            let next = own.get(host).copied().unwrap_or(0) + 1;
            assert_eq!(line.clock.get(host), Some(&next), "{}", line.event);
            own.insert(host.clone(), next);
            // Only nonzero entries, only known hosts, nothing from another host's future.
            for (h, v) in &line.clock {
                assert!(*v > 0);
                assert!(hosts.contains(h));
                assert!(
                    own.get(h).copied().unwrap_or(0) >= *v,
                    "{h} in {}",
                    line.event
                );
            }
            match key {
                Some((false, ch, seq)) => {
                    assert!(line.event.starts_with("send "));
                    matcher.on_send(ch, seq, send_clocks.len());
                    send_clocks.push(line.clock);
                }
                Some((true, ch, seq)) => {
                    assert!(line.event.starts_with("receive "));
                    let m = matcher
                        .on_receive(ch, seq)
                        .expect("every receive has a send");
                    assert!(
                        dominates(&line.clock, &send_clocks[m.send]),
                        "{}",
                        line.event
                    );
                    if m.restored() {
                        restored += 1;
                        assert!(line.event.contains("restored"));
                    }
                }
                None => {}
            }
        }
        assert!(lines.next().is_none(), "no extra lines");
        restored
    }

    #[test]
    fn shiviz_clocks_follow_the_rules() {
        let (topo, events) = cl_paper();
        check_shiviz(&events, &topo);
        let (log, _) = shiviz(&events, &topo);
        // p: snapshot, marker, M; q: M', state change, ...; every line starts with its host.
        assert!(log
            .lines()
            .all(|l| l.starts_with("p ") || l.starts_with("q ")));
        assert!(log.contains("send marker 1 to q"));

        let (topo, events) = job();
        check_shiviz(&events, &topo);
    }

    #[test]
    fn shiviz_matches_restored_messages_across_a_recovery() {
        let (topo, events) = job_with_crash();
        let restored = check_shiviz(&events, &topo);
        assert!(restored > 0, "the crash restores recorded channel state");
    }

    #[test]
    fn host_names_are_unique_and_regex_safe() {
        let (mut topo, _) = cl_paper();
        topo.tasks[0].name = "a b".to_string();
        topo.tasks[1].name = "a_b".to_string();
        let hosts = host_names(&topo);
        assert_eq!(hosts[0], "a_b");
        assert_ne!(hosts[0], hosts[1]);
        assert!(hosts.iter().all(|h| !h.contains(char::is_whitespace)));
    }
}
