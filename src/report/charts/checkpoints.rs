//! Charts of a comparison's checkpoints: duration, size, and size against duration.

use plotters::prelude::*;

use super::*;

/// Checkpoint duration per protocol: every completed checkpoint of every seed as a dot, with
/// a box from the 25th to the 75th percentile and a line at the median.
pub fn duration(runs: &[RunResult], title: &str) -> Result<Chart, String> {
    let protos = protocols(runs);
    let per: Vec<(String, Vec<f64>)> = protos
        .iter()
        .map(|p| {
            let mut v: Vec<f64> = runs
                .iter()
                .filter(|r| &r.protocol == p)
                .flat_map(|r| completed(r).map(|c| ms(c.duration_ns)))
                .collect();
            v.sort_by(|a, b| a.total_cmp(b));
            (p.clone(), v)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let max = per
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0, f64::max)
        * 1.1
        + 1e-6;
    macro_rules! draw {
        ($root:expr) => {{
            let root = $root;
            let names: Vec<String> = per.iter().map(|(p, _)| p.clone()).collect();
            let mut chart = columns(root, title, &names, max, "checkpoint duration (ms)")?;
            for (i, (p, v)) in per.iter().enumerate() {
                let c = colour(p);
                let q = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
                let x0 = i as f64 + 0.25;
                let x1 = i as f64 + 0.75;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, q(0.25)), (x1, q(0.75))],
                        c.mix(0.25).filled(),
                    )))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x0, q(0.5)), (x1, q(0.5))],
                        c.stroke_width(3),
                    )))
                    .map_err(|e| e.to_string())?;
                column_dots(&mut chart, i, v, c.filled())?;
            }
            Ok(())
        }};
    }
    render("duration", &|r| draw!(r), &|r| draw!(r))
}

/// Snapshot size per protocol, median over completed checkpoints: operator state and channel
/// state stacked.
pub fn size(runs: &[RunResult], title: &str) -> Result<Chart, String> {
    let protos = protocols(runs);
    let median = |mut v: Vec<u64>| {
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    let bars: Vec<(String, f64, f64)> = protos
        .iter()
        .map(|p| {
            let cps: Vec<_> = runs
                .iter()
                .filter(|r| &r.protocol == p)
                .flat_map(completed)
                .collect();
            (
                p.clone(),
                kib(median(cps.iter().map(|c| c.state_bytes).collect())),
                kib(median(cps.iter().map(|c| c.channel_state_bytes).collect())),
            )
        })
        .filter(|(p, _, _)| {
            runs.iter()
                .filter(|r| &r.protocol == p)
                .any(|r| completed(r).next().is_some())
        })
        .collect();
    let max = bars.iter().map(|b| b.1 + b.2).fold(0.0, f64::max) * 1.15 + 1e-6;
    macro_rules! draw {
        ($root:expr) => {{
            let root = $root;
            let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
            let mut chart = columns(root, title, &names, max, "median snapshot size (KiB)")?;
            for (i, (p, state, channel)) in bars.iter().enumerate() {
                let c = colour(p);
                let (x0, x1) = (i as f64 + 0.2, i as f64 + 0.8);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, 0.0), (x1, *state)],
                        c.filled(),
                    )))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, *state), (x1, state + channel)],
                        c.mix(0.35).filled(),
                    )))
                    .map_err(|e| e.to_string())?;
            }
            // A legend for the two shades.
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, 0.0), (0.0, 0.0)],
                    BLACK.filled(),
                )))
                .map_err(|e| e.to_string())?
                .label("operator state (solid)")
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], BLACK.filled()));
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, 0.0), (0.0, 0.0)],
                    BLACK.mix(0.35).filled(),
                )))
                .map_err(|e| e.to_string())?
                .label("channel state (light)")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], BLACK.mix(0.35).filled())
                });
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
            Ok(())
        }};
    }
    render("size", &|r| draw!(r), &|r| draw!(r))
}

/// Size against duration: one point per completed checkpoint, coloured by protocol.
pub fn size_vs_duration(runs: &[RunResult], title: &str) -> Result<Chart, String> {
    let protos = protocols(runs);
    let points: Vec<(String, f64, f64)> = runs
        .iter()
        .flat_map(|r| {
            completed(r).map(move |c| {
                (
                    r.protocol.clone(),
                    ms(c.duration_ns),
                    kib(c.state_bytes + c.channel_state_bytes),
                )
            })
        })
        .collect();
    let xmax = points.iter().map(|p| p.1).fold(0.0, f64::max) * 1.1 + 1e-6;
    let ymax = points.iter().map(|p| p.2).fold(0.0, f64::max) * 1.1 + 1e-6;
    macro_rules! draw {
        ($root:expr) => {{
            let root = $root;
            let mut chart = xy_frame(
                root,
                title,
                (xmax, ymax),
                ("checkpoint duration (ms)", "snapshot size (KiB)"),
            )?;
            for p in &protos {
                let c = colour(p);
                chart
                    .draw_series(
                        points
                            .iter()
                            .filter(|q| &q.0 == p)
                            .map(|q| Circle::new((q.1, q.2), 4, c.filled())),
                    )
                    .map_err(|e| e.to_string())?
                    .label(p.as_str())
                    .legend(move |(x, y)| Circle::new((x + 7, y), 5, c.filled()));
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
            Ok(())
        }};
    }
    render("size-vs-duration", &|r| draw!(r), &|r| draw!(r))
}
