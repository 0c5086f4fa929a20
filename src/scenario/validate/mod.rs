//! The rules of a scenario that its types cannot express.

mod graphs;
mod recovery;

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::protocols::ProtocolKind;
use graphs::{check_dataflow, check_processes};

type Check = Result<(), ScenarioError>;

/// Task and channel ids are 32-bit: no limit can be raised past this.
const MAX_IDS: u64 = 1 << 31;
/// Largest bank amount: sums over a million processes still fit an i64.
const MAX_AMOUNT: u64 = 1 << 40;

fn err(path: impl Into<String>, message: impl Into<String>) -> Check {
    Err(ScenarioError::new(path, message))
}

/// Names a task or group selector may use: task names and operator/process names.
struct Names {
    tasks: BTreeSet<String>,
    groups: BTreeSet<String>,
}

impl Names {
    fn knows(&self, name: &str) -> bool {
        self.tasks.contains(name) || self.groups.contains(name)
    }
}

pub(super) fn validate(s: &Scenario, limits: &super::Limits) -> Check {
    let name = s.name();
    if name.is_empty() {
        return err("name", "must not be empty");
    }
    // The name becomes part of result file names: keep it a short, plain file name.
    if name.chars().count() > MAX_NAME_LEN {
        return err(
            "name",
            format!(
                "has {} characters; at most {MAX_NAME_LEN} are allowed (it becomes part of file names)",
                name.chars().count()
            ),
        );
    }
    if let Some(bad) = name.chars().find(|&c| !name_char_ok(c)) {
        return err(
            "name",
            format!(
                "`{}` contains `{}`; a name may hold only ASCII letters, digits, `-`, `_` and `.`",
                super::limits::shorten(name),
                bad.escape_default()
            ),
        );
    }
    if name.starts_with(['.', '-']) {
        return err(
            "name",
            format!(
                "`{}` may not start with `.` or `-`",
                super::limits::shorten(name)
            ),
        );
    }
    if s.duration.ns() == 0 {
        return err("duration", "must be longer than zero");
    }
    // Sizes before anything is built or listed: a small file can ask for billions of tasks.
    let estimate = super::limits::estimate(s);
    for need in [&estimate.tasks, &estimate.channels] {
        if need.value >= MAX_IDS {
            return err(
                need.field.clone(),
                format!("{} is more than snapsim can number ({MAX_IDS})", need.value),
            );
        }
    }
    // Tasks and channels now, before their names are listed; the rest once every field has
    // been checked on its own.
    if estimate.tasks.value > limits.tasks || estimate.channels.value > limits.channels {
        limits.check(&estimate)?;
    }
    check_network(&s.network)?;
    s.network
        .check_buffers(&s.links)
        .or_else(|(path, message)| err(path, message))?;
    let names = match (&s.dataflow, &s.processes) {
        (Some(_), Some(_)) => {
            return err(".", "give either `dataflow` or `processes`, not both");
        }
        (None, None) => {
            return err(
                ".",
                "missing the topology: give `dataflow` (a job) or `processes` (a graph)",
            );
        }
        (Some(df), None) => check_dataflow(df)?,
        (None, Some(ps)) => check_processes(ps)?,
    };
    for (i, link) in s.links.iter().enumerate() {
        let path = format!("links[{i}]");
        for (field, value) in [("from", &link.from), ("to", &link.to)] {
            if let Some(name) = value {
                if !names.knows(name) {
                    return err(
                        format!("{path}.{field}"),
                        format!("no task or operator is called `{name}`"),
                    );
                }
            }
        }
        if let Some(l) = &link.latency {
            check_latency(l, &format!("{path}.latency"))?;
        }
        check_positive_size(link.out_buffer, &format!("{path}.out_buffer"))?;
        check_positive_size(link.in_buffer, &format!("{path}.in_buffer"))?;
        if link.bandwidth.is_some_and(|b| b.0 == 0) {
            return err(format!("{path}.bandwidth"), "must be larger than zero");
        }
    }
    for (i, t) in s.tasks.iter().enumerate() {
        if !names.knows(&t.task) {
            return err(
                format!("tasks[{i}].task"),
                format!("no task or operator is called `{}`", t.task),
            );
        }
    }
    if let Some(c) = &s.checkpointing {
        check_checkpointing(c, s.processes.is_some(), &names)?;
    }
    for (i, f) in s.failures.iter().enumerate() {
        check_failure(s, f, &format!("failures[{i}]"), &names)?;
    }
    recovery::check_recovery(&s.recovery)?;
    limits.check(&estimate)
}

/// Every field beyond the coordinator's is a parameter some protocol declares (`--protocol`
/// may pick any of them), and no parameter is zero.
fn check_protocol_params(c: &CheckpointingSpec) -> Check {
    let declared: Vec<&str> = ProtocolKind::all()
        .flat_map(|k| k.params().iter().map(|p| p.name))
        .collect();
    for name in c.params.keys() {
        if !declared.contains(&name.as_str()) {
            return err(
                format!("checkpointing.{name}"),
                format!(
                    "unknown field `{}`; expected one of: {}, or a protocol parameter: {}",
                    name,
                    CHECKPOINTING_FIELDS.join(", "),
                    declared.join(", ")
                ),
            );
        }
        let min_ns = ProtocolKind::all()
            .flat_map(|k| k.params().iter())
            .filter(|p| p.name == name)
            .map(|p| p.min_ns)
            .min()
            .unwrap_or(1);
        match c.param(name) {
            Some(Err(why)) => return err(format!("checkpointing.{name}"), why),
            Some(Ok(d)) if d.ns() < min_ns => {
                let why = if min_ns == 1 {
                    "must be longer than zero".to_string()
                } else {
                    format!("must be at least {}", crate::human::fmt_ns(min_ns))
                };
                return err(format!("checkpointing.{name}"), why);
            }
            _ => {}
        }
    }
    Ok(())
}

/// `checkpointing.state_backend`: options that the chosen backend has, and no zero rates.
fn check_state_backend(b: &StateBackendSpec) -> Check {
    let p = "checkpointing.state_backend";
    if b.incremental && b.kind != BackendKind::Rocksdb {
        return err(
            format!("{p}.incremental"),
            "needs kind `rocksdb`: the heap backend has no files to share, so each of its \
             checkpoints uploads the whole state",
        );
    }
    if b.kind != BackendKind::Rocksdb && b.compaction_trigger.is_some() {
        return err(
            format!("{p}.compaction_trigger"),
            "needs kind `rocksdb`: only RocksDB compacts files",
        );
    }
    if !b.changelog {
        for (field, set) in [
            (
                "materialization_interval",
                b.materialization_interval.is_some(),
            ),
            ("replay_bandwidth", b.replay_bandwidth.is_some()),
        ] {
            if set {
                return err(
                    format!("{p}.{field}"),
                    "only for the changelog backend: set `changelog: true` or remove it",
                );
            }
        }
    }
    if b.materialization_interval.is_some_and(|d| d.ns() == 0) {
        return err(
            format!("{p}.materialization_interval"),
            "must be longer than zero",
        );
    }
    if b.replay_bandwidth.is_some_and(|r| r.0 == 0) {
        return err(format!("{p}.replay_bandwidth"), "must be larger than zero");
    }
    if b.num_retained == 0 {
        return err(
            format!("{p}.num_retained"),
            "must be at least 1: recovery needs the last completed checkpoint",
        );
    }
    if b.disk_bandwidth.0 == 0 {
        return err(format!("{p}.disk_bandwidth"), "must be larger than zero");
    }
    if b.write_buffer_size.0 == 0 {
        return err(format!("{p}.write_buffer_size"), "must be larger than zero");
    }
    if b.compaction_trigger == Some(1) {
        return err(
            format!("{p}.compaction_trigger"),
            "must be 0 (never compact) or at least 2: compacting one file changes nothing",
        );
    }
    Ok(())
}

/// The coordinator's fields of `checkpointing`, for messages.
const CHECKPOINTING_FIELDS: &[&str] = &[
    "protocol",
    "interval",
    "max_concurrent",
    "min_pause",
    "timeout",
    "tolerable_failures",
    "storage_bandwidth",
    "sync_copy",
    "force_aligned_pointwise",
    "state_backend",
    "initiators",
];

fn check_checkpointing(c: &CheckpointingSpec, process_graph: bool, names: &Names) -> Check {
    let p = "checkpointing";
    let protocol: ProtocolKind = match c.protocol.parse() {
        Ok(k) => k,
        Err(e) => return err(format!("{p}.protocol"), e),
    };
    if let Err(why) = protocol.check_graph(process_graph) {
        return err(format!("{p}.protocol"), why);
    }
    if let Err(why) = protocol.check_concurrency(c.max_concurrent) {
        return err(format!("{p}.max_concurrent"), why);
    }
    check_protocol_params(c)?;
    if c.interval.is_some_and(|d| d.ns() == 0) {
        return err(format!("{p}.interval"), "must be longer than zero");
    }
    if c.max_concurrent == 0 {
        return err(format!("{p}.max_concurrent"), "must be at least 1");
    }
    if c.timeout.ns() == 0 {
        return err(format!("{p}.timeout"), "must be longer than zero");
    }
    if c.storage_bandwidth.is_some_and(|b| b.0 == 0) {
        return err(format!("{p}.storage_bandwidth"), "must be larger than zero");
    }
    if !c.force_aligned_pointwise && process_graph {
        return err(
            format!("{p}.force_aligned_pointwise"),
            "only for jobs: a process graph has no forward or broadcast edges",
        );
    }
    if let Some(b) = &c.state_backend {
        check_state_backend(b)?;
    }
    if let Some(list) = &c.initiators {
        if !process_graph {
            return err(
                format!("{p}.initiators"),
                "only for process graphs; a job's coordinator triggers its sources",
            );
        }
        if list.is_empty() {
            return err(format!("{p}.initiators"), "must name at least one process");
        }
        for (i, n) in list.iter().enumerate() {
            if !names.tasks.contains(n) {
                return err(
                    format!("{p}.initiators[{i}]"),
                    format!("no process is called `{n}`"),
                );
            }
        }
    }
    Ok(())
}

impl FailureSpec {
    /// The rules a failure must follow on its own: returns the offending field (under the
    /// failure's kind) and the problem. Shared by scenario files and `--fail`.
    pub fn check_ranges(&self) -> Result<(), (&'static str, String)> {
        let positive = |field, d: &Duration| {
            if d.ns() == 0 {
                Err((field, "must be longer than zero".to_string()))
            } else {
                Ok(())
            }
        };
        let from_one = |field, n: u64| {
            if n == 0 {
                Err((field, "numbering starts at 1".to_string()))
            } else {
                Ok(())
            }
        };
        match self {
            FailureSpec::Crash { every, .. } => every
                .as_ref()
                .map_or(Ok(()), |e| positive("crash.every", e)),
            FailureSpec::AfterCheckpoints { fraction, .. } => {
                if fraction.is_finite() && *fraction > 0.0 && *fraction <= 1.0 {
                    Ok(())
                } else {
                    Err((
                        "after_checkpoints.fraction",
                        "must be in (0, 1]".to_string(),
                    ))
                }
            }
            FailureSpec::DuringAlignment { checkpoint, .. } => {
                from_one("during_alignment.checkpoint", *checkpoint)
            }
            FailureSpec::DuringUpload { checkpoint } => {
                from_one("during_upload.checkpoint", *checkpoint)
            }
            FailureSpec::UploadFailure { checkpoint } => {
                from_one("upload_failure.checkpoint", *checkpoint)
            }
            FailureSpec::DuringRecovery { recovery } => {
                from_one("during_recovery.recovery", u64::from(*recovery))
            }
            FailureSpec::Random { mean_interval } => {
                positive("random.mean_interval", mean_interval)
            }
            FailureSpec::Stall { duration, .. } => positive("stall.duration", duration),
        }
    }
}

fn check_failure(s: &Scenario, f: &FailureSpec, path: &str, names: &Names) -> Check {
    f.check_ranges()
        .or_else(|(field, msg)| err(format!("{path}.{field}"), msg))?;
    match f {
        FailureSpec::Crash { tasks, .. } => {
            for (j, t) in tasks.iter().enumerate() {
                if !names.knows(t) {
                    return err(
                        format!("{path}.crash.tasks[{j}]"),
                        format!("no task or operator is called `{t}`"),
                    );
                }
            }
        }
        FailureSpec::AfterCheckpoints { .. }
            if s.checkpointing.as_ref().and_then(|c| c.interval).is_none() =>
        {
            return err(
                format!("{path}.after_checkpoints"),
                "needs periodic checkpoints: set checkpointing.interval",
            );
        }
        FailureSpec::DuringAlignment { task: Some(t), .. } if !names.knows(t) => {
            return err(
                format!("{path}.during_alignment.task"),
                format!("no task or operator is called `{t}`"),
            );
        }
        FailureSpec::Stall { from, to, .. } => {
            for (field, v) in [("from", from), ("to", to)] {
                if let Some(n) = v {
                    if !names.knows(n) {
                        return err(
                            format!("{path}.stall.{field}"),
                            format!("no task or operator is called `{n}`"),
                        );
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn check_positive_size(size: Option<ByteSize>, path: &str) -> Check {
    if size.is_some_and(|b| b.0 == 0) {
        return err(path, "must be larger than zero");
    }
    Ok(())
}

fn check_latency(l: &LatencySpec, path: &str) -> Check {
    match *l {
        LatencySpec::Uniform { min, max } if min > max => err(
            path,
            format!("uniform latency has min {min} above max {max}"),
        ),
        _ => Ok(()),
    }
}

fn check_network(n: &NetworkSpec) -> Check {
    check_latency(&n.latency, "network.latency")?;
    check_positive_size(Some(n.out_buffer), "network.out_buffer")?;
    check_positive_size(Some(n.in_buffer), "network.in_buffer")?;
    if n.bandwidth.is_some_and(|b| b.0 == 0) {
        return err("network.bandwidth", "must be larger than zero");
    }
    Ok(())
}

fn check_name(name: &str, path: &str) -> Check {
    if name.is_empty() {
        return err(path, "must not be empty");
    }
    if name.contains(['[', ']', ',', '/']) || name.chars().any(char::is_whitespace) {
        return err(
            path,
            format!("`{name}` may not contain spaces, brackets, commas or slashes"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field list that messages quote is the coordinator's part of the schema: every
    /// `checkpointing` property that no protocol declares as its parameter.
    #[test]
    fn the_checkpointing_fields_quoted_are_the_schemas() {
        let schema: serde_json::Value = serde_json::from_str(&Scenario::json_schema()).unwrap();
        let declared: Vec<&str> = ProtocolKind::all()
            .flat_map(|k| k.params().iter().map(|p| p.name))
            .collect();
        let mut fields: Vec<String> = schema["$defs"]["CheckpointingSpec"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !declared.contains(&k.as_str()))
            .cloned()
            .collect();
        fields.sort();
        let mut quoted: Vec<String> = CHECKPOINTING_FIELDS.iter().map(|f| f.to_string()).collect();
        quoted.sort();
        assert_eq!(fields, quoted);
    }
}
