//! Many runs at once: `snapsim check` over seeds and protocols, and the search for each
//! mutant's first violation. Runs go in parallel (rayon); results come back in a fixed order,
//! so the output does not depend on the number of threads.

use rayon::prelude::*;

use crate::engine::RngStreams;
use crate::protocols::Mutant;
use crate::protocols::ProtocolKind;
use crate::report::RunResult;
use crate::scenario::{Limits, Scenario};
use crate::trace::TraceMode;
use crate::{simulate, RunOptions};

/// Checks `--seeds N`: at least one, and within `limits.seeds`.
pub fn check_seeds(n: u32, limits: &Limits) -> Result<(), String> {
    if n == 0 {
        return Err("--seeds: must be at least 1 (0 would run nothing)".to_string());
    }
    limits.check_count("seeds", "--seeds", u64::from(n))
}

/// Checks the number of runs a command would make (scenarios x protocols x seeds x sweep
/// points) against `limits.runs`, before anything is listed.
pub fn check_runs(factors: &[u64], limits: &Limits) -> Result<u64, String> {
    let total = factors
        .iter()
        .try_fold(1u64, |acc, &f| acc.checked_mul(f))
        .unwrap_or(u64::MAX);
    let shown: Vec<String> = factors.iter().map(u64::to_string).collect();
    limits
        .check_count("runs", &format!("{} runs", shown.join(" x ")), total)
        .map(|()| total)
}

/// Seeds `0..n` of a scenario's seed stream: the `n` first draws of the `seeds` stream of
/// the scenario's own seed.
pub fn seeds(base: u64, n: u32) -> Vec<u64> {
    let mut rng = RngStreams::new(base).stream("seeds");
    (0..n)
        .map(|_| rand::RngCore::next_u64(&mut rng) >> 16)
        .collect()
}

/// The protocols that apply to a scenario: those that run on its kind of graph with its
/// number of concurrent checkpoints.
pub fn applicable(s: &Scenario) -> Vec<ProtocolKind> {
    ProtocolKind::all()
        .filter(|&p| fits(p, s).is_ok())
        .collect()
}

/// Whether `protocol` can run `s`; `Err` says why not.
pub fn fits(protocol: ProtocolKind, s: &Scenario) -> Result<(), String> {
    protocol.check_graph(s.processes.is_some())?;
    match &s.checkpointing {
        Some(c) => protocol.check_concurrency(c.max_concurrent),
        None => Ok(()),
    }
}

/// The outcome of one run in a campaign.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Index of the scenario in the campaign's list.
    pub scenario: usize,
    /// What ran: a protocol or a mutant.
    pub label: String,
    /// The seed.
    pub seed: u64,
    /// The verified result (or why it could not run).
    pub result: Result<RunResult, String>,
}

/// Runs every (scenario, options) job in parallel and returns the outcomes in job order.
pub fn run_all(scenarios: &[Scenario], jobs: &[(usize, RunOptions)]) -> Vec<Outcome> {
    run_all_ticking(scenarios, jobs, &|| {})
}

/// [`run_all`], calling `tick` as each job ends (for a progress bar).
pub fn run_all_ticking(
    scenarios: &[Scenario],
    jobs: &[(usize, RunOptions)],
    tick: &(dyn Fn() + Sync),
) -> Vec<Outcome> {
    jobs.par_iter()
        .map(|(i, opts)| {
            let outcome = Outcome {
                scenario: *i,
                label: opts.label(),
                seed: opts.seed.unwrap_or(scenarios[*i].seed),
                result: simulate(&scenarios[*i], opts, &mut |_, _| {}).map_err(|e| e.to_string()),
            };
            tick();
            outcome
        })
        .collect()
}

/// The jobs of `snapsim check`: every scenario under each protocol or mutant (those given, or
/// every protocol that applies) for each of `n` seeds.
pub fn check_jobs(
    scenarios: &[Scenario],
    chosen: Option<&[(ProtocolKind, Option<Mutant>)]>,
    n: u32,
) -> Vec<(usize, RunOptions)> {
    let mut jobs = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        let list: Vec<(ProtocolKind, Option<Mutant>)> = chosen.map_or_else(
            || applicable(s).into_iter().map(|p| (p, None)).collect(),
            |c| c.to_vec(),
        );
        for (p, mutant) in list {
            for seed in seeds(s.seed, n) {
                jobs.push((
                    i,
                    RunOptions {
                        protocol: p,
                        seed: Some(seed),
                        trace: TraceMode::HashOnly,
                        mutant,
                        max_events: crate::DEFAULT_MAX_EVENTS,
                    },
                ));
            }
        }
    }
    jobs
}

/// Runs a scenario twice with the same seed and compares the trace hashes (madsim's
/// `check_determinism`). Returns the two hashes when they differ.
pub fn check_determinism(
    s: &Scenario,
    opts: &RunOptions,
) -> Result<Option<(String, String)>, String> {
    let a = simulate(s, opts, &mut |_, _| {}).map_err(|e| e.to_string())?;
    let b = simulate(s, opts, &mut |_, _| {}).map_err(|e| e.to_string())?;
    Ok((a.trace_hash != b.trace_hash).then_some((a.trace_hash, b.trace_hash)))
}

/// The first run in which `mutant` breaks a promise: scenarios in order, seeds in order.
/// Seeds are tried in parallel batches, the earliest hit wins, so the answer does not depend on
/// the number of threads.
pub fn hunt(mutant: Mutant, scenarios: &[Scenario], n: u32, max_events: u64) -> Option<Outcome> {
    for (i, s) in scenarios.iter().enumerate() {
        if fits(mutant.base(), s).is_err() {
            continue;
        }
        let jobs: Vec<(usize, RunOptions)> = seeds(s.seed, n)
            .into_iter()
            .map(|seed| {
                (
                    i,
                    RunOptions {
                        protocol: mutant.base(),
                        seed: Some(seed),
                        trace: TraceMode::HashOnly,
                        mutant: Some(mutant),
                        max_events,
                    },
                )
            })
            .collect();
        for batch in jobs.chunks(rayon::current_num_threads().max(1) * 2) {
            let found = run_all(scenarios, batch)
                .into_iter()
                .find(|o| o.result.as_ref().is_ok_and(|r| !r.verdict.ok));
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

/// One point of a sweep: the varied values, the protocol and the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepPoint {
    /// Position in the full grid (shards keep it, so merged output can be ordered).
    pub index: usize,
    /// (field path, value) for each varied field, in `--vary` order.
    pub vary: Vec<(String, String)>,
    /// The protocol.
    pub protocol: ProtocolKind,
    /// The seed.
    pub seed: u64,
}

/// One line of `sweep.jsonl`: a point and what its run measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepRow {
    /// Position in the full grid.
    pub index: usize,
    /// (field path, value) for each varied field.
    pub vary: Vec<(String, String)>,
    /// Protocol name.
    pub protocol: String,
    /// Seed.
    pub seed: u64,
    /// Checkpoints completed (the final one excluded).
    pub checkpoints_completed: u64,
    /// Median checkpoint duration.
    pub duration_p50_ns: Option<u64>,
    /// 99th percentile checkpoint duration.
    pub duration_p99_ns: Option<u64>,
    /// Median operator state per checkpoint.
    pub state_bytes_p50: Option<u64>,
    /// Median channel state per checkpoint.
    pub channel_state_bytes_p50: Option<u64>,
    /// Records per simulated second at the sinks.
    pub throughput_per_sec: f64,
    /// The verdict.
    pub ok: bool,
    /// The run's trace hash.
    pub trace_hash: String,
    /// Mean downtime per failure the job restarted from; absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime_ns_mean: Option<u64>,
    /// Median bytes a checkpoint uploaded (with a state backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpointed_bytes_p50: Option<u64>,
    /// Median bytes a checkpoint references (with a state backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_bytes_p50: Option<u64>,
}

/// Sets the field at a dotted `path` (`checkpointing.interval`, `dataflow.operators[4].cost`)
/// of a scenario's JSON to `value`: a number or boolean if it reads as one, else a string.
pub fn set_path(doc: &mut serde_json::Value, path: &str, value: &str) -> Result<(), String> {
    let mut cur = doc;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => {
                let i: usize = rest
                    .strip_suffix(']')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| {
                        format!("`{part}` is not a field name with an index such as operators[2]")
                    })?;
                (k, Some(i))
            }
            None => (part, None),
        };
        let obj = cur
            .as_object_mut()
            .ok_or_else(|| format!("`{path}`: `{key}` is not inside an object"))?;
        cur = obj
            .entry(key.to_string())
            .or_insert(serde_json::Value::Null);
        if let Some(i) = index {
            cur = cur
                .as_array_mut()
                .and_then(|a| a.get_mut(i))
                .ok_or_else(|| format!("`{path}`: `{key}` has no element {i}"))?;
        }
    }
    *cur = serde_json::from_str::<serde_json::Value>(value)
        .ok()
        .filter(|v| v.is_number() || v.is_boolean())
        .unwrap_or_else(|| serde_json::Value::String(value.to_string()));
    Ok(())
}

/// The scenario of one sweep point: the base with the point's values set, validated under
/// `limits`.
pub fn point_scenario(
    base: &Scenario,
    vary: &[(String, String)],
    limits: &Limits,
) -> Result<Scenario, String> {
    let mut doc = serde_json::to_value(base).map_err(|e| e.to_string())?;
    for (path, value) in vary {
        set_path(&mut doc, path, value)?;
    }
    let bytes = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
    Scenario::from_json_limited(&bytes, base.name(), limits)
        .map_err(|e| format!("with {}: {e}", describe(vary)))
}

fn describe(vary: &[(String, String)]) -> String {
    vary.iter()
        .map(|(p, v)| format!("{p}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A sweep's grid: the cartesian product of the varied values (the first `--vary` changing
/// slowest), then protocols, then seeds. Points are computed from their index, never listed
/// whole, so a shard costs only its own points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepGrid {
    vary: Vec<(String, Vec<String>)>,
    protocols: Vec<ProtocolKind>,
    seeds: Vec<u64>,
    combos: usize,
    len: usize,
}

impl SweepGrid {
    /// The grid of `vary` x `protocols` x `n` seeds of `base`; refuses a grid above
    /// `limits.runs` (or `--seeds` outside its limits) before anything is allocated.
    pub fn new(
        base: &Scenario,
        vary: &[(String, Vec<String>)],
        protocols: &[ProtocolKind],
        n: u32,
        limits: &Limits,
    ) -> Result<SweepGrid, String> {
        check_seeds(n, limits)?;
        if protocols.is_empty() {
            return Err("--protocols: no protocol to run".to_string());
        }
        let mut factors: Vec<u64> = vary.iter().map(|(_, v)| v.len() as u64).collect();
        factors.extend([protocols.len() as u64, u64::from(n)]);
        let total = check_runs(&factors, limits)?;
        let len = usize::try_from(total).map_err(|_| format!("{total} runs are too many"))?;
        let combos = vary.iter().map(|(_, v)| v.len()).product::<usize>();
        Ok(SweepGrid {
            vary: vary.to_vec(),
            protocols: protocols.to_vec(),
            seeds: seeds(base.seed, n),
            combos,
            len,
        })
    }

    /// Points in the whole grid.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the grid has no point (never, once built).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Combinations of the varied values.
    pub fn combos(&self) -> usize {
        self.combos
    }

    /// The `c`-th combination of the varied values, the first field changing slowest.
    pub fn combo(&self, mut c: usize) -> Vec<(String, String)> {
        let mut out = vec![(String::new(), String::new()); self.vary.len()];
        for (slot, (path, values)) in out.iter_mut().zip(&self.vary).rev() {
            let n = values.len().max(1);
            *slot = (path.clone(), values[c % n].clone());
            c /= n;
        }
        out
    }

    /// The point at `index` (below [`SweepGrid::len`]).
    pub fn point(&self, index: usize) -> SweepPoint {
        let s = self.seeds.len().max(1);
        let p = self.protocols.len().max(1);
        SweepPoint {
            index,
            vary: self.combo(index / s / p),
            protocol: self.protocols[(index / s) % p],
            seed: self.seeds[index % s],
        }
    }

    /// The indices of shard `i` of `n` (`index % n == i`), or of the whole grid.
    pub fn indices(&self, shard: Option<(usize, usize)>) -> Vec<usize> {
        match shard {
            Some((i, n)) => (i..self.len).step_by(n.max(1)).collect(),
            None => (0..self.len).collect(),
        }
    }
}

/// The full grid as a list (small grids and tests; [`SweepGrid`] computes points by index).
pub fn sweep_points(
    base: &Scenario,
    vary: &[(String, Vec<String>)],
    protocols: &[ProtocolKind],
    n: u32,
) -> Vec<SweepPoint> {
    SweepGrid::new(base, vary, protocols, n, &Limits::default())
        .map(|g| (0..g.len()).map(|i| g.point(i)).collect())
        .unwrap_or_default()
}

/// Runs the grid's points at `indices` in parallel and returns their rows in that order.
/// `progress` is called once per finished point.
pub fn run_points(
    base: &Scenario,
    grid: &SweepGrid,
    indices: &[usize],
    limits: &Limits,
    max_events: u64,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<SweepRow>, String> {
    indices
        .par_iter()
        .map(|&index| {
            let pt = grid.point(index);
            let s = point_scenario(base, &pt.vary, limits)?;
            let opts = RunOptions {
                protocol: pt.protocol,
                seed: Some(pt.seed),
                trace: TraceMode::HashOnly,
                mutant: None,
                max_events,
            };
            let r = simulate(&s, &opts, &mut |_, _| {})
                .map_err(|e| format!("with {}: {e}", describe(&pt.vary)))?;
            let summary = crate::report::summary::summarise(std::slice::from_ref(&r));
            let row = &summary[0];
            progress();
            Ok(SweepRow {
                index: pt.index,
                vary: pt.vary.clone(),
                protocol: r.protocol.clone(),
                seed: r.seed,
                checkpoints_completed: r
                    .checkpoints
                    .iter()
                    .filter(|c| c.completed_while_running())
                    .count() as u64,
                duration_p50_ns: row.duration_p50_ns,
                duration_p99_ns: row.duration_p99_ns,
                state_bytes_p50: row.state_bytes_p50,
                channel_state_bytes_p50: row.channel_state_bytes_p50,
                throughput_per_sec: row.throughput_per_sec,
                ok: r.verdict.ok,
                trace_hash: r.trace_hash.clone(),
                downtime_ns_mean: row.downtime_ns_mean,
                checkpointed_bytes_p50: row.checkpointed_bytes_p50,
                full_bytes_p50: row.full_bytes_p50,
            })
        })
        .collect()
}

/// `sweep.jsonl`: one row per line, in point order.
pub fn rows_jsonl(rows: &[SweepRow]) -> String {
    rows.iter()
        .map(|r| serde_json::to_string(r).expect("rows serialise") + "\n")
        .collect()
}

/// `sweep.csv`: one row per line, the varied fields as columns.
pub fn rows_csv(rows: &[SweepRow]) -> String {
    let opt = |v: Option<u64>| v.map_or(String::new(), |x| x.to_string());
    let vary_names: Vec<String> = rows
        .first()
        .map(|r| r.vary.iter().map(|(p, _)| p.clone()).collect())
        .unwrap_or_default();
    let mut s = String::from("index,");
    for n in &vary_names {
        s.push_str(n);
        s.push(',');
    }
    s.push_str("protocol,seed,checkpoints_completed,duration_p50_ns,duration_p99_ns,state_bytes_p50,channel_state_bytes_p50,throughput_per_sec,ok,trace_hash,downtime_ns_mean,checkpointed_bytes_p50,full_bytes_p50\n");
    for r in rows {
        s.push_str(&format!("{},", r.index));
        for (_, v) in &r.vary {
            s.push_str(v);
            s.push(',');
        }
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.protocol,
            r.seed,
            r.checkpoints_completed,
            opt(r.duration_p50_ns),
            opt(r.duration_p99_ns),
            opt(r.state_bytes_p50),
            opt(r.channel_state_bytes_p50),
            r.throughput_per_sec,
            r.ok,
            r.trace_hash,
            opt(r.downtime_ns_mean),
            opt(r.checkpointed_bytes_p50),
            opt(r.full_bytes_p50)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Scenario {
        Scenario::from_json(
            br#"{"duration":"1ms","dataflow":{"operators":[{"name":"s","kind":{"source":{}}},{"name":"k","kind":{"sink":{}}}],"edges":[{"from":"s","to":"k"}]}}"#,
            "t",
        )
        .unwrap()
    }

    #[test]
    fn points_by_index_match_the_nested_order() {
        let vary = vec![
            ("a".to_string(), vec!["1".to_string(), "2".to_string()]),
            ("b".to_string(), vec!["x".into(), "y".into(), "z".into()]),
        ];
        let protocols = [
            ProtocolKind::named("aligned").unwrap(),
            ProtocolKind::baseline(),
        ];
        let g = SweepGrid::new(&base(), &vary, &protocols, 2, &Limits::default()).unwrap();
        assert_eq!(g.len(), 24);
        let seeds = seeds(base().seed, 2);
        let mut i = 0;
        for a in &vary[0].1 {
            for b in &vary[1].1 {
                for &p in &protocols {
                    for &seed in &seeds {
                        let pt = g.point(i);
                        assert_eq!(pt.index, i);
                        assert_eq!(
                            pt.vary,
                            vec![("a".into(), a.clone()), ("b".into(), b.clone())]
                        );
                        assert_eq!((pt.protocol, pt.seed), (p, seed));
                        i += 1;
                    }
                }
            }
        }
        assert_eq!(g.indices(Some((1, 5))), vec![1, 6, 11, 16, 21]);
    }

    #[test]
    fn huge_grids_and_bad_seed_counts_are_refused_before_listing() {
        let values: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        let vary: Vec<(String, Vec<String>)> =
            (0..3).map(|i| (format!("f{i}"), values.clone())).collect();
        let err = SweepGrid::new(
            &base(),
            &vary,
            &[ProtocolKind::baseline()],
            1,
            &Limits::default(),
        )
        .unwrap_err();
        assert!(
            err.contains("1000 x 1000 x 1000 x 1 x 1 runs") && err.contains("--limit runs="),
            "{err}"
        );
        let one = &vary[..1];
        assert!(SweepGrid::new(
            &base(),
            one,
            &[ProtocolKind::baseline()],
            0,
            &Limits::default()
        )
        .unwrap_err()
        .contains("at least 1"));
        assert!(SweepGrid::new(
            &base(),
            one,
            &[ProtocolKind::baseline()],
            u32::MAX,
            &Limits::default()
        )
        .unwrap_err()
        .contains("--limit seeds="));
    }
}
