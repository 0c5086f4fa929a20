//! Scenario files: the format, loading with precise error messages, validation and the schema.
//!
//! A scenario is plain data. [`Scenario::from_json`] parses it and checks every rule that the
//! type system cannot (names that must exist, numbers that must be positive), and reports the
//! first problem with the field path, such as `dataflow.operators[2].parallelism`. Loading never
//! panics, whatever the bytes.

mod checkpointing;
mod dataflow;
pub mod estimate;
mod faults;
pub mod limits;
mod network;
mod processes;
mod shape;
mod state_backend;
pub mod units;
mod validate;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use checkpointing::*;
pub use dataflow::*;
pub use estimate::Estimate;
pub use faults::*;
pub use limits::Limits;
pub use network::*;
pub use processes::*;
pub use state_backend::*;

use crate::protocols::{Params, ProtocolKind};
pub use units::{Bandwidth, ByteSize, Duration, Rate};

/// The longest scenario `name`: result file names add the protocol and the seed to it and
/// must stay within the 255 bytes file systems allow.
pub const MAX_NAME_LEN: usize = 100;

/// True for the characters a scenario `name` may hold: ASCII letters, digits, `-`, `_`, `.`.
pub fn name_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// A valid scenario name made from a file stem: other characters become `_`, and it is cut
/// to [`MAX_NAME_LEN`].
fn file_name_from(stem: &str) -> String {
    let mut name: String = stem
        .chars()
        .map(|c| if name_char_ok(c) { c } else { '_' })
        .take(MAX_NAME_LEN)
        .collect();
    if name.starts_with(['.', '-']) {
        name.replace_range(0..1, "_");
    }
    if name.is_empty() {
        name.push_str("scenario");
    }
    name
}

/// The results file name of one run, `<scenario>-<protocol>-seed<seed>.json`, safe on every
/// file system: a mutant's `mutant:NAME` is written `mutant_NAME`.
pub fn results_file_name(scenario: &str, protocol: &str, seed: u64) -> String {
    let protocol: String = protocol
        .chars()
        .map(|c| if name_char_ok(c) { c } else { '_' })
        .collect();
    format!("{scenario}-{protocol}-seed{seed}.json")
}

/// serde's message without its `invalid length N, expected ...` phrasing, which names the
/// length found as if it were the one wanted.
fn plain_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // Drop serde_json's " at line L column C" only when a field path already says where.
    if let Some(rest) = text.strip_prefix("invalid length ") {
        if let Some((n, expected)) = rest.split_once(", expected ") {
            let expected = expected.split(" at line ").next().unwrap_or(expected);
            return format!(
                "found {n} element{}; expected {expected}",
                if n == "1" { "" } else { "s" }
            );
        }
    }
    text
}

/// A problem with a scenario, naming the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ScenarioError {
    /// The path of the offending field, such as `network.latency` (`.` for the whole file).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ScenarioError {
    /// A problem at `path`. Control characters that the input put into either are escaped,
    /// so that a message never writes raw control codes to a terminal.
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ScenarioError {
            path: limits::escape(&path.into()),
            message: limits::escape(&message.into()),
        }
    }
}

/// One simulation set-up: the topology, the workload, the network and (later) the protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The JSON Schema the file follows, for editors; accepted and ignored.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Short name used in result file names; defaults to the file name without `.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the scenario shows, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The seed from which every random stream of the run is derived.
    #[serde(default)]
    pub seed: u64,
    /// Simulated time limit. The run also ends earlier when nothing is left to happen.
    pub duration: Duration,
    /// Defaults for every channel.
    #[serde(default)]
    pub network: NetworkSpec,
    /// Per-channel overrides, applied in order; later entries win.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkOverride>,
    /// A dataflow job (sources, operators, sinks). Exactly one of `dataflow` and `processes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataflow: Option<DataflowSpec>,
    /// A process graph (peer-to-peer systems). Exactly one of `dataflow` and `processes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<ProcessSpec>,
    /// Per-task overrides of the processing cost (a straggler), applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskOverride>,
    /// The snapshot protocol and the checkpoint coordinator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpointing: Option<CheckpointingSpec>,
    /// Faults to inject.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<FailureSpec>,
    /// How the job recovers from a crash.
    #[serde(default)]
    pub recovery: RecoverySpec,
}

/// Overrides for the tasks that match `task`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskOverride {
    /// A task (`"sink[0]"`, `"p3"`) or an operator name (all its tasks).
    pub task: String,
    /// Processing time per record or message.
    pub cost: Duration,
}

/// Serde's default of one (a parallelism, a concurrency).
fn one() -> u32 {
    1
}
/// Serde's default of true.
fn default_true() -> bool {
    true
}

impl Scenario {
    /// Parses and validates a scenario from JSON bytes under the default [`Limits`].
    /// `fallback_name` (usually the file stem) is used when the file gives no `name`.
    pub fn from_json(bytes: &[u8], fallback_name: &str) -> Result<Scenario, ScenarioError> {
        Self::from_json_limited(bytes, fallback_name, &Limits::default())
    }

    /// Parses and validates a scenario from JSON bytes, refusing what exceeds `limits`: a
    /// file above `limits.file_bytes` is refused before it is parsed, and a scenario whose
    /// [`limits::estimate`] exceeds a limit after it.
    pub fn from_json_limited(
        bytes: &[u8],
        fallback_name: &str,
        limits: &Limits,
    ) -> Result<Scenario, ScenarioError> {
        if bytes.len() as u64 > limits.file_bytes {
            return Err(ScenarioError::new(
                ".",
                format!(
                    "the file has {} bytes, above the limit of {} for a scenario file; \
                     raise it with --limit file={}",
                    bytes.len(),
                    limits.file_bytes,
                    ByteSize(bytes.len() as u64)
                ),
            ));
        }
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(ScenarioError::new(
                ".",
                "the file is empty; a scenario is a JSON object",
            ));
        }
        let json_error = |path: String, inner: serde_json::Error| {
            let message = match inner.classify() {
                serde_json::error::Category::Eof => format!(
                    "the file ends too early (line {}, column {}): is it truncated?",
                    inner.line(),
                    inner.column()
                ),
                serde_json::error::Category::Syntax => format!("not valid JSON: {inner}"),
                _ => plain_error(&inner),
            };
            ScenarioError::new(path, message)
        };
        // Syntax and shape first, allocating nothing per element, then the typed pass.
        let shape = match shape::scan(bytes) {
            Err((path, e)) if e.classify() != serde_json::error::Category::Data => {
                return Err(json_error(path, e));
            }
            other => other,
        };
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let parsed: Result<Scenario, _> = serde_path_to_error::deserialize(&mut *de);
        let typed = parsed.map_err(|e| {
            // serde_path_to_error marks a position it could not name with `?`.
            let path = e.path().to_string();
            let path = path.trim_end_matches(".?").trim_end_matches('?');
            let path = if path.is_empty() { "." } else { path }.to_string();
            let inner = e.into_inner();
            // serde reading a struct from an array of its fields says "invalid length".
            let as_fields = inner.to_string().starts_with("invalid length ");
            (as_fields, json_error(path, inner))
        });
        // The typed pass names what was expected; the shape pass explains a struct written
        // as an array, which serde either accepts or reports as a wrong length.
        let mut scenario = match (typed, shape) {
            (Err((as_fields, typed)), Err((path, e)))
                if as_fields
                    || path == "."
                    || (typed.path.starts_with(&path) && typed.path != path) =>
            {
                return Err(json_error(path, e))
            }
            (Ok(_), Err((path, e))) => return Err(json_error(path, e)),
            (Err((_, e)), _) => return Err(e),
            (Ok(s), Ok(())) => s,
        };
        if scenario.name.is_none() {
            scenario.name = Some(file_name_from(fallback_name));
        }
        validate::validate(&scenario, limits)?;
        Ok(scenario)
    }

    /// Checks every rule again under the default [`Limits`], after a change such as failures
    /// added on the command line.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        validate::validate(self, &Limits::default())
    }

    /// Checks every rule again under `limits`.
    pub fn validate_limited(&self, limits: &Limits) -> Result<(), ScenarioError> {
        validate::validate(self, limits)
    }

    /// What the scenario will need (tasks, channels, memory...), from its fields alone.
    pub fn estimate(&self) -> limits::Estimate {
        limits::estimate(self)
    }

    /// The scenario's name (set by [`Scenario::from_json`]).
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("scenario")
    }

    /// The JSON Schema of the scenario format, pretty-printed.
    pub fn json_schema() -> String {
        let mut schema = serde_json::to_value(schemars::schema_for!(Scenario))
            .expect("a schema always serialises");
        declare_protocol_params(&mut schema["$defs"]["CheckpointingSpec"]);
        // Back through schemars' type, which writes keywords in a readable order.
        let schema = schemars::Schema::try_from(schema).expect("still a schema");
        serde_json::to_string_pretty(&schema).expect("a schema always serialises") + "\n"
    }
}

impl FailureSpec {
    /// Parses the command line's short form of a failure:
    /// `at=500ms`, `every=300ms` (from one interval on), `after=0.25` (a fraction of the
    /// checkpoints), `alignment=3`, `upload=3`, `recovery=1`, `random=300ms` (mean interval),
    /// `upload-failure=2`.
    pub fn from_flag(flag: &str) -> Result<FailureSpec, String> {
        let (kind, value) = flag.split_once('=').ok_or_else(|| {
            format!("`{flag}` is not a failure; write KIND=VALUE, such as at=500ms or after=0.5")
        })?;
        let dur = |v: &str| v.parse::<Duration>();
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("`{v}` is not a whole number"))
        };
        let spec = match kind {
            "at" => FailureSpec::Crash { at: dur(value)?, every: None, tasks: vec![] },
            "every" => {
                let e = dur(value)?;
                FailureSpec::Crash { at: e, every: Some(e), tasks: vec![] }
            }
            "after" => FailureSpec::AfterCheckpoints {
                fraction: value.parse().map_err(|_| format!("`{value}` is not a fraction"))?,
                delay: None,
            },
            "alignment" => FailureSpec::DuringAlignment { checkpoint: num(value)?, task: None },
            "upload" => FailureSpec::DuringUpload { checkpoint: num(value)? },
            "recovery" => FailureSpec::DuringRecovery {
                recovery: u32::try_from(num(value)?).map_err(|_| format!("`{value}` is too large"))?,
            },
            "random" => FailureSpec::Random { mean_interval: dur(value)? },
            "upload-failure" => FailureSpec::UploadFailure { checkpoint: num(value)? },
            other => {
                return Err(format!(
                    "unknown failure `{other}`; expected at, every, after, alignment, upload, recovery, random or upload-failure"
                ))
            }
        };
        spec.check_ranges()
            .map_err(|(field, msg)| format!("`{flag}`: {field} {msg}"))?;
        Ok(spec)
    }
}

/// The `checkpointing` schema lists every protocol by name and every parameter a protocol
/// declares, and nothing else.
fn declare_protocol_params(spec: &mut serde_json::Value) {
    let mut params: BTreeMap<&str, &crate::protocols::Param> = BTreeMap::new();
    for p in ProtocolKind::all() {
        for param in p.params() {
            params.insert(param.name, param);
        }
    }
    if let Some(props) = spec["properties"].as_object_mut() {
        for (name, param) in params {
            let default = serde_json::to_value(Duration(param.default_ns))
                .expect("a duration always serialises");
            props.insert(
                name.to_string(),
                serde_json::json!({
                    "description": param.doc,
                    "$ref": "#/$defs/Duration",
                    "default": default,
                }),
            );
        }
    }
    let names: Vec<&str> = ProtocolKind::all().map(|p| p.name()).collect();
    spec["properties"]["protocol"]["enum"] = serde_json::json!(names);
    spec["additionalProperties"] = serde_json::Value::Bool(false);
}
