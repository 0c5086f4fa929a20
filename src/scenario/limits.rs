//! The size limits a scenario and a command line must keep to, and `--limit` that raises them.
//!
//! [`Limits::default`] admits every shipped scenario; `--limit KEY=VALUE` raises one limit
//! deliberately. [`Limits::check`] refuses the first figure of an [`Estimate`] above its limit
//! with a message that names the field, the estimate, the limit and the flag that raises it.

use super::{units::ByteSize, ScenarioError};

// The estimates were part of this module before they had one of their own; their paths
// here keep working.
pub use super::estimate::{estimate, Estimate, Need};

/// The limits a scenario and a command line must keep to. [`Limits::default`] admits every
/// shipped scenario; `--limit KEY=VALUE` raises one deliberately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Size of a scenario file, in bytes, checked before parsing.
    pub file_bytes: u64,
    /// Tasks (dataflow subtasks or processes).
    pub tasks: u64,
    /// Channels.
    pub channels: u64,
    /// Messages in flight at once (buffers full, bank transfers, scripted sends).
    pub in_flight: u64,
    /// Timeline buckets (a hundredth of `duration` each) up to the last thing planned.
    pub timeline_buckets: u64,
    /// Periodic checkpoint triggers over `duration`.
    pub checkpoints: u64,
    /// Records the sources read at their rate plus bank transfers started on their own.
    pub records: u64,
    /// Scripted steps and receive rules.
    pub steps: u64,
    /// Crashes and other failures planned.
    pub failures: u64,
    /// `--seeds`.
    pub seeds: u64,
    /// Runs of one command: protocols x seeds x sweep points x scenarios.
    pub runs: u64,
    /// Estimated peak memory of one run, in bytes.
    pub memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            file_bytes: 16 << 20,
            tasks: 1_000_000,
            channels: 20_000_000,
            in_flight: 50_000_000,
            timeline_buckets: 1_000_000,
            checkpoints: 100_000,
            // Each record costs at least two events (read, then received), so more than
            // half the default event budget of a run could never finish.
            records: 100_000_000,
            steps: 1_000_000,
            failures: 10_000,
            seeds: 100_000,
            runs: 1_000_000,
            memory: 2 << 30,
        }
    }
}

/// How a limit's value is written: a count or a size with a unit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Count,
    Bytes,
}

/// The keys of `--limit`, their kind and what they bound.
const KEYS: &[(&str, Kind, &str)] = &[
    ("memory", Kind::Bytes, "estimated peak memory of one run"),
    ("file", Kind::Bytes, "size of a scenario file"),
    ("tasks", Kind::Count, "tasks or processes"),
    ("channels", Kind::Count, "channels"),
    ("in-flight", Kind::Count, "messages in flight at once"),
    (
        "timeline",
        Kind::Count,
        "timeline buckets (a hundredth of the duration each)",
    ),
    ("checkpoints", Kind::Count, "periodic checkpoint triggers"),
    (
        "records",
        Kind::Count,
        "records the sources read (at their rate, or as fast as their cost allows) and bank transfers started",
    ),
    ("steps", Kind::Count, "scripted steps (or buffer-debloating ticks, if more)"),
    ("failures", Kind::Count, "planned failures"),
    ("seeds", Kind::Count, "--seeds"),
    ("runs", Kind::Count, "runs of one command"),
];

impl Limits {
    fn slot(&mut self, key: &str) -> Option<&mut u64> {
        Some(match key {
            "memory" => &mut self.memory,
            "file" => &mut self.file_bytes,
            "tasks" => &mut self.tasks,
            "channels" => &mut self.channels,
            "in-flight" => &mut self.in_flight,
            "timeline" => &mut self.timeline_buckets,
            "checkpoints" => &mut self.checkpoints,
            "records" => &mut self.records,
            "steps" => &mut self.steps,
            "failures" => &mut self.failures,
            "seeds" => &mut self.seeds,
            "runs" => &mut self.runs,
            _ => return None,
        })
    }

    /// The value of one limit by its `--limit` key.
    pub fn get(&self, key: &str) -> Option<u64> {
        let mut copy = *self;
        copy.slot(key).map(|v| *v)
    }

    /// Applies one `--limit KEY=VALUE`: `memory=8GiB`, `tasks=2000000`, `channels=none` (no
    /// limit). Sizes take the scenario units (`B`, `KiB`, `MiB`, `GiB`, `KB`, `MB`, `GB`).
    pub fn set(&mut self, flag: &str) -> Result<(), String> {
        let keys = || {
            KEYS.iter()
                .map(|(k, _, _)| *k)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (key, value) = flag.split_once('=').ok_or_else(|| {
            format!(
                "`{}`: write KEY=VALUE, such as memory=8GiB; keys: {}",
                escape(flag),
                keys()
            )
        })?;
        let kind = KEYS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, kind, _)| *kind)
            .ok_or_else(|| {
                format!(
                    "unknown limit `{}`; expected one of {}",
                    escape(key),
                    keys()
                )
            })?;
        let parsed = if value == "none" {
            u64::MAX
        } else {
            match kind {
                Kind::Bytes => value.parse::<ByteSize>()?.bytes(),
                Kind::Count => value.replace('_', "").parse::<u64>().map_err(|_| {
                    format!(
                        "`{}`: the limit on {key} is a whole number (or `none`)",
                        escape(value)
                    )
                })?,
            }
        };
        if let Some(slot) = self.slot(key) {
            *slot = parsed;
        }
        Ok(())
    }

    /// A line per limit with its default, for help texts.
    pub fn describe() -> String {
        let d = Limits::default();
        KEYS.iter()
            .map(|(k, kind, what)| {
                let v = d.get(k).unwrap_or(0);
                let shown = if *kind == Kind::Bytes {
                    ByteSize(v).to_string()
                } else {
                    v.to_string()
                };
                format!("  {k}={shown}: {what}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Refuses the first figure of `e` above its limit.
    pub fn check(&self, e: &Estimate) -> Result<(), ScenarioError> {
        let counts = [
            (&e.tasks, self.tasks, "tasks", "tasks"),
            (&e.channels, self.channels, "channels", "channels"),
            (
                &e.in_flight,
                self.in_flight,
                "in-flight",
                "messages in flight",
            ),
            (
                &e.checkpoints,
                self.checkpoints,
                "checkpoints",
                "checkpoint triggers",
            ),
            (&e.records, self.records, "records", "records and transfers"),
            (&e.steps, self.steps, "steps", "scripted steps"),
            (&e.failures, self.failures, "failures", "failures"),
            // Last: the timeline follows from the others (crashes, steps, latencies).
            (
                &e.timeline_buckets,
                self.timeline_buckets,
                "timeline",
                "timeline buckets",
            ),
        ];
        for (need, limit, key, what) in counts {
            if need.value > limit {
                return Err(ScenarioError::new(
                    need.field.clone(),
                    format!(
                        "needs an estimated {} {what}{}, above the limit of {}; \
                         raise it with --limit {key}={}",
                        need.value,
                        need.detail,
                        limit,
                        suggest(need.value)
                    ),
                ));
            }
        }
        if e.memory.value > self.memory {
            return Err(ScenarioError::new(
                e.memory.field.clone(),
                format!(
                    "needs an estimated {} of memory{}, above the limit of {}; \
                     raise it with --limit memory={}",
                    human_bytes(e.memory.value),
                    e.memory.detail,
                    ByteSize(self.memory),
                    suggest_bytes(e.memory.value)
                ),
            ));
        }
        Ok(())
    }

    /// Checks a count given on the command line (`--seeds`, the runs of a campaign).
    pub fn check_count(&self, key: &str, flag: &str, value: u64) -> Result<(), String> {
        let limit = self.get(key).unwrap_or(u64::MAX);
        if value > limit {
            return Err(format!(
                "{flag}: {value} is above the limit of {limit} {key}; raise it with --limit {key}={}",
                suggest(value)
            ));
        }
        Ok(())
    }
}

fn suggest(v: u64) -> String {
    v.to_string()
}

fn suggest_bytes(v: u64) -> String {
    let gib = v.div_ceil(1 << 30);
    if gib >= (1 << 33) {
        "none".to_string()
    } else {
        format!("{gib}GiB")
    }
}

/// `3.3 GB`, `212 MB`, `18 KB`: a size in powers of 1000, with three significant digits.
pub fn human_bytes(v: u64) -> String {
    let x = v as f64;
    for (unit, f) in [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)] {
        if x >= f {
            let q = x / f;
            return if q >= 100.0 {
                format!("{q:.0} {unit}")
            } else {
                format!("{q:.1} {unit}")
            };
        }
    }
    format!("{v} B")
}

/// Escapes the control characters of input quoted in a message (`\n`, `\u{1b}`), so that a
/// message is one line and never sends control codes to a terminal.
pub fn escape(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    let mut out = String::new();
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Input quoted in a message, escaped and cut after 60 characters.
pub fn shorten(s: &str) -> String {
    let mut cut: String = s.chars().take(60).collect();
    if cut.len() < s.len() {
        cut.push('…');
    }
    escape(&cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_refuse_nonsense() {
        let mut l = Limits::default();
        l.set("memory=8GiB").unwrap();
        assert_eq!(l.memory, 8 << 30);
        l.set("tasks=none").unwrap();
        assert_eq!(l.tasks, u64::MAX);
        l.set("seeds=1_000").unwrap();
        assert_eq!(l.seeds, 1000);
        assert!(l.set("bogus=1").unwrap_err().contains("unknown limit"));
        assert!(l.set("memory").unwrap_err().contains("KEY=VALUE"));
        assert!(l.set("tasks=lots").unwrap_err().contains("whole number"));
        assert!(l.check_count("seeds", "--seeds", 1001).is_err());
    }

    #[test]
    fn escape_makes_one_line() {
        assert_eq!(escape("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
        assert_eq!(shorten(&"x".repeat(100)).chars().count(), 61);
    }
}
