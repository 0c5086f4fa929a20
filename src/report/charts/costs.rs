//! What checkpoints and failures cost the job: record latency, downtime per failure split into
//! its parts, checkpointed against full size, and the sync and async phases.

use plotters::prelude::*;

use super::*;
use crate::failure::FailureRecord;

/// Shades of a protocol's colour for the stacked parts of a bar, darkest first.
const SHADES: [f64; 4] = [1.0, 0.6, 0.35, 0.15];

/// Draws column `i`'s bar of `parts` stacked from 0, in the shades of [`SHADES`] of `c`.
fn stack<DB: DrawingBackend>(
    chart: &mut Frame<'_, DB>,
    i: usize,
    c: RGBColor,
    parts: &[f64],
) -> Result<(), String> {
    let (x0, x1) = (i as f64 + 0.2, i as f64 + 0.8);
    let mut bottom = 0.0;
    for (&part, &shade) in parts.iter().zip(&SHADES) {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0, bottom), (x1, bottom + part)],
                c.mix(shade).filled(),
            )))
            .map_err(|e| e.to_string())?;
        bottom += part;
    }
    Ok(())
}

/// Draws the legend entries for stacked parts named `parts`, in the shades of [`SHADES`].
fn part_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Frame<'a, DB>,
    parts: &[&str],
) -> Result<(), String> {
    for (part, &shade) in parts.iter().zip(&SHADES) {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, 0.0), (0.0, 0.0)],
                BLACK.mix(shade).filled(),
            )))
            .map_err(|e| e.to_string())?
            .label(*part)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 14, y + 5)], BLACK.mix(shade).filled())
            });
    }
    legend(chart, SeriesLabelPosition::UpperLeft)
}

/// The mean parts of the downtime of `failures`: detection, restart delay, restore and whatever
/// else the downtime holds (replaying recovered channel state), in ms; `None` without failures.
fn downtime_parts(failures: &[&FailureRecord]) -> Option<[f64; 4]> {
    if failures.is_empty() {
        return None;
    }
    let mut sum = [0u64; 4];
    for f in failures {
        let known = f.detection_ns + f.restart_ns + f.restore_ns;
        let parts = [
            f.detection_ns,
            f.restart_ns,
            f.restore_ns,
            f.downtime_ns.saturating_sub(known),
        ];
        for (s, p) in sum.iter_mut().zip(parts) {
            *s += p;
        }
    }
    let n = failures.len() as f64;
    Some(sum.map(|s| ms(s) / n))
}

/// Mean downtime per failure for each protocol, stacked into detection, restart delay, restore
/// and the rest (the measured replay of restored channel state); a dot for every failure's whole
/// downtime. A failure that ended the job has no downtime and is left out, as are protocols
/// without failures; `None` when no run restarted.
pub fn downtime(runs: &[RunResult], title: &str) -> Result<Option<Chart>, String> {
    let bars: Vec<(String, [f64; 4], Vec<f64>)> = protocols(runs)
        .into_iter()
        .filter_map(|p| {
            let failures: Vec<&FailureRecord> = runs
                .iter()
                .filter(|r| r.protocol == p)
                .flat_map(|r| &r.failures)
                .filter(|f| !f.failed_job)
                .collect();
            let parts = downtime_parts(&failures)?;
            let each = failures.iter().map(|f| ms(f.downtime_ns)).collect();
            Some((p, parts, each))
        })
        .collect();
    if bars.is_empty() {
        return Ok(None);
    }
    let max = bars
        .iter()
        .flat_map(|b| b.2.iter().copied().chain([b.1.iter().sum()]))
        .fold(0.0, f64::max)
        * 1.3
        + 1e-6;
    macro_rules! draw {
        ($root:expr) => {{
            let root = $root;
            let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
            let mut chart = columns(root, title, &names, max, "downtime per failure (ms)")?;
            for (i, (p, parts, each)) in bars.iter().enumerate() {
                let c = colour(p);
                stack(&mut chart, i, c, parts)?;
                column_dots(&mut chart, i, each, BLACK.filled())?;
            }
            part_legend(
                &mut chart,
                &[
                    "detection",
                    "restart delay",
                    "restore (slowest task)",
                    "replay and the rest",
                ],
            )?;
            Ok(())
        }};
    }
    render("downtime", &|r| draw!(r), &|r| draw!(r)).map(Some)
}

/// Source-to-sink record latency per protocol: each seed's median (filled) and 99th percentile
/// (open), the baseline included, so that what a protocol adds shows against it. `None` when no
/// run delivered a record.
pub fn latency(runs: &[RunResult], title: &str) -> Result<Option<Chart>, String> {
    let cols: Vec<(String, Vec<(f64, f64)>)> = protocols(runs)
        .into_iter()
        .map(|p| {
            let pts = runs
                .iter()
                .filter(|r| r.protocol == p)
                .filter_map(|r| {
                    let m = &r.metrics;
                    Some((ms(m.latency_p50_ns?), ms(m.latency_p99_ns?)))
                })
                .collect();
            (p, pts)
        })
        .filter(|(_, pts): &(String, Vec<(f64, f64)>)| !pts.is_empty())
        .collect();
    if cols.is_empty() {
        return Ok(None);
    }
    let max = cols
        .iter()
        .flat_map(|c| c.1.iter().map(|p| p.1))
        .fold(0.0, f64::max)
        * 1.25
        + 1e-6;
    macro_rules! draw {
        ($root:expr) => {{
            let root = $root;
            let names: Vec<String> = cols.iter().map(|c| c.0.clone()).collect();
            let mut chart = columns(root, title, &names, max, "record latency (ms)")?;
            for (i, (p, pts)) in cols.iter().enumerate() {
                let c = colour(p);
                let k = pts.len().max(1) as f64;
                let x = |j: usize| i as f64 + 0.3 + 0.4 * (j as f64 / k);
                chart
                    .draw_series(
                        pts.iter()
                            .enumerate()
                            .map(|(j, &(p50, _))| Circle::new((x(j), p50), 5, c.filled())),
                    )
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(
                        pts.iter()
                            .enumerate()
                            .map(|(j, &(_, p99))| Circle::new((x(j), p99), 5, c.stroke_width(2))),
                    )
                    .map_err(|e| e.to_string())?;
            }
            chart
                .draw_series(std::iter::once(Circle::new((0.0, 0.0), 0, BLACK.filled())))
                .map_err(|e| e.to_string())?
                .label("median (filled)")
                .legend(|(x, y)| Circle::new((x + 7, y), 5, BLACK.filled()));
            chart
                .draw_series(std::iter::once(Circle::new((0.0, 0.0), 0, BLACK.filled())))
                .map_err(|e| e.to_string())?
                .label("99th percentile (open)")
                .legend(|(x, y)| Circle::new((x + 7, y), 5, BLACK.stroke_width(2)));
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
            Ok(())
        }};
    }
    render("latency", &|r| draw!(r), &|r| draw!(r)).map(Some)
}

/// Checkpointed bytes (what each checkpoint uploaded) and full bytes (everything it references)
/// against the checkpoint's trigger time, one pair of lines per protocol (its first seed): the
/// gap is what incremental and changelog checkpoints save, and a compaction shows as a spike of
/// the checkpointed line. `None` when no run has a state backend.
pub fn checkpointed_vs_full(runs: &[RunResult], title: &str) -> Result<Option<Chart>, String> {
    type Line = Vec<(f64, f64)>;
    let lines: Vec<(String, Line, Line)> = protocols(runs)
        .into_iter()
        .filter_map(|p| {
            let r = runs.iter().find(|r| r.protocol == p)?;
            let cps: Vec<_> = completed(r)
                .filter_map(|c| Some((c, c.costs.as_ref()?)))
                .collect();
            if cps.is_empty() {
                return None;
            }
            let at = |c: &crate::coordinator::CheckpointRecord| c.trigger_ns as f64 / 1e9;
            let checkpointed = cps
                .iter()
                .map(|(c, k)| (at(c), kib(k.checkpointed_bytes)))
                .collect();
            let full = cps
                .iter()
                .map(|(c, k)| (at(c), kib(k.full_bytes)))
                .collect();
            Some((p, checkpointed, full))
        })
        .collect();
    if lines.is_empty() {
        return Ok(None);
    }
    let points = || lines.iter().flat_map(|l| l.1.iter().chain(&l.2));
    let xmax = points().map(|p| p.0).fold(0.0, f64::max) * 1.05 + 1e-6;
    // Headroom above the lines for the legend.
    let ymax = points().map(|p| p.1).fold(0.0, f64::max) * (1.3 + 0.08 * lines.len() as f64) + 1e-6;
    macro_rules! draw {
        ($root:expr) => {{
            let root = $root;
            let mut chart = xy_frame(
                root,
                title,
                (xmax, ymax),
                (
                    "checkpoint trigger (s of simulated time)",
                    "bytes per checkpoint (KiB)",
                ),
            )?;
            for (p, checkpointed, full) in &lines {
                let c = colour(p);
                chart
                    .draw_series(LineSeries::new(full.clone(), c.mix(0.45).stroke_width(2)))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(LineSeries::new(checkpointed.clone(), c.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(p.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3))
                    });
                chart
                    .draw_series(checkpointed.iter().map(|&q| Circle::new(q, 3, c.filled())))
                    .map_err(|e| e.to_string())?;
            }
            for (label, shade) in [
                ("checkpointed: dark, dots", 1.0),
                ("full size: light", 0.45),
            ] {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(0.0, 0.0), (0.0, 0.0)],
                        BLACK.mix(shade),
                    )))
                    .map_err(|e| e.to_string())?
                    .label(label)
                    .legend(move |(x, y)| {
                        PathElement::new(
                            vec![(x, y), (x + 18, y)],
                            BLACK.mix(shade).stroke_width(3),
                        )
                    });
            }
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
            Ok(())
        }};
    }
    render("checkpointed-vs-full", &|r| draw!(r), &|r| draw!(r)).map(Some)
}

/// The median over completed checkpoints of the slowest task's synchronous phase (processing
/// stopped) and asynchronous phase (upload, processing going on), stacked per protocol. `None`
/// when no run has a state backend.
pub fn phases(runs: &[RunResult], title: &str) -> Result<Option<Chart>, String> {
    let median = |mut v: Vec<u64>| {
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    let bars: Vec<(String, [f64; 2])> = protocols(runs)
        .into_iter()
        .filter_map(|p| {
            let costs: Vec<_> = runs
                .iter()
                .filter(|r| r.protocol == p)
                .flat_map(completed)
                .filter_map(|c| c.costs.as_ref())
                .collect();
            if costs.is_empty() {
                return None;
            }
            let sync = median(costs.iter().map(|k| k.sync_ns_max).collect());
            let upload = median(costs.iter().map(|k| k.async_ns_max).collect());
            Some((p, [ms(sync), ms(upload)]))
        })
        .collect();
    if bars.is_empty() {
        return Ok(None);
    }
    let max = bars.iter().map(|b| b.1[0] + b.1[1]).fold(0.0, f64::max) * 1.3 + 1e-6;
    macro_rules! draw {
        ($root:expr) => {{
            let root = $root;
            let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
            let mut chart = columns(
                root,
                title,
                &names,
                max,
                "median phase of the slowest task (ms)",
            )?;
            for (i, (p, parts)) in bars.iter().enumerate() {
                let c = colour(p);
                stack(&mut chart, i, c, parts)?;
            }
            part_legend(
                &mut chart,
                &["sync phase (processing stopped)", "async phase (upload)"],
            )?;
            Ok(())
        }};
    }
    render("phases", &|r| draw!(r), &|r| draw!(r)).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(detection: u64, restart: u64, restore: u64, downtime: u64) -> FailureRecord {
        FailureRecord {
            at_ns: 0,
            restored_checkpoint: None,
            replayed_records: 0,
            downtime_ns: downtime,
            detection_ns: detection,
            restart_ns: restart,
            restore_ns: restore,
            cause: String::new(),
            restore_remote_ns: None,
            restore_local_ns: None,
            replay_ns: None,
            failed_job: false,
        }
    }

    #[test]
    fn downtime_parts_are_means_and_the_rest_is_what_the_parts_leave_out() {
        let a = failure(1_000_000, 10_000_000, 4_000_000, 15_000_000);
        let b = failure(3_000_000, 10_000_000, 0, 16_000_000);
        assert_eq!(downtime_parts(&[&a, &b]), Some([2.0, 10.0, 2.0, 1.5]));
        assert_eq!(downtime_parts(&[]), None);
    }
}
