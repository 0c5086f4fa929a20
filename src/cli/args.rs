//! Parsers of the flags several commands share, and the one rule of which protocol runs what.
//!
//! Each parser turns a flag's text into its value or a message that says how to write it;
//! clap prints that message with the flag's name, so the messages never repeat it.

use snapsim::mutant::Mutant;
use snapsim::protocols::ProtocolKind;
use snapsim::scenario::{FailureSpec, Limits, Scenario};

/// A protocol, or a deliberately broken variant of one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Choice {
    /// The protocol that runs (a mutant's base protocol for a mutant).
    pub(super) protocol: ProtocolKind,
    /// The broken variant, when `mutant:NAME` was chosen.
    pub(super) mutant: Option<Mutant>,
}

/// `--protocol`: a protocol's name, or `mutant:NAME`.
pub(super) fn parse_protocol(s: &str) -> Result<Choice, String> {
    if let Some(name) = s.strip_prefix("mutant:") {
        let m = Mutant::from_name(name).ok_or_else(|| {
            let names: Vec<_> = Mutant::ALL.iter().map(|m| m.name()).collect();
            format!(
                "unknown mutant `{name}`; expected one of: {}",
                names.join(", ")
            )
        })?;
        return Ok(Choice {
            protocol: m.base(),
            mutant: Some(m),
        });
    }
    Ok(Choice {
        protocol: s.parse()?,
        mutant: None,
    })
}

/// The protocol a run of `scenario` takes: `chosen` when it can run the scenario's kind of
/// job, or without a choice the scenario's own (validation has checked its name).
///
/// Every rule of the command line about which protocol fits which scenario is here, so that
/// the commands never reason about protocols themselves.
pub(super) fn protocol_for(
    scenario: &Scenario,
    chosen: Option<ProtocolKind>,
) -> Result<ProtocolKind, String> {
    match chosen {
        Some(p) => snapsim::campaign::fits(p, scenario).map(|()| p),
        None => match &scenario.checkpointing {
            Some(c) => c
                .protocol
                .parse()
                .map_err(|e| format!("checkpointing.protocol: {e}")),
            None => Ok(ProtocolKind::baseline()),
        },
    }
}

/// `--fail`: one failure, such as `at=500ms`.
pub(super) fn parse_failure(s: &str) -> Result<FailureSpec, String> {
    FailureSpec::from_flag(s)
}

/// `--limit KEY=VALUE`, checked here and applied once all flags are parsed.
pub(super) fn parse_limit(s: &str) -> Result<String, String> {
    Limits::default().set(s)?;
    Ok(s.to_string())
}

/// `--from` and `--until`: a time such as `200ms`, in nanoseconds.
pub(super) fn parse_time(s: &str) -> Result<u64, String> {
    s.parse::<snapsim::scenario::Duration>().map(|d| d.ns())
}

/// `--vary PATH=V1,V2,...`: a field and the values it takes.
pub(super) fn parse_vary(s: &str) -> Result<(String, Vec<String>), String> {
    let (path, values) = s.split_once('=').ok_or_else(|| {
        format!("`{s}`: write PATH=V1,V2,..., such as checkpointing.interval=50ms,100ms")
    })?;
    let values: Vec<String> = values
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
        .collect();
    if path.is_empty() || values.is_empty() {
        return Err(format!("`{s}`: needs a field path and at least one value"));
    }
    Ok((path.to_string(), values))
}

/// `--shard I/N`: slice I of N, 0-based.
pub(super) fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}`: write I/N with 0 <= I < N, such as 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}
