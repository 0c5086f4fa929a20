//! A run's timeline: throughput and back-pressure over simulated time.

use plotters::prelude::*;

use super::*;

/// (start and end in ms, and whether they completed) and crash times (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineData {
    /// Bucket width in ms.
    pub bucket_ms: f64,
    /// Records per second at the sinks, per bucket.
    pub throughput: Vec<f64>,
    /// Average back-pressured tasks, per bucket.
    pub backpressured: Vec<f64>,
    /// Checkpoint spans.
    pub checkpoints: Vec<(f64, f64, bool)>,
    /// Crashes.
    pub crashes: Vec<f64>,
}

/// Throughput (top) and back-pressure (bottom) over simulated time, with checkpoints shaded
/// (green completed, red aborted or expired) and crashes as red lines.
pub fn timeline(
    name: &str,
    title: &str,
    protocol: &str,
    d: &TimelineData,
) -> Result<Chart, String> {
    let n = d.throughput.len().max(d.backpressured.len()).max(1);
    let tmax = n as f64 * d.bucket_ms;
    let ymax1 = d.throughput.iter().copied().fold(0.0, f64::max) * 1.15 + 1.0;
    let ymax2 = d.backpressured.iter().copied().fold(0.0, f64::max) * 1.2 + 0.5;
    let c = colour(protocol);
    macro_rules! panel {
        ($area:expr, $ymax:expr, $ydesc:expr, $values:expr, $caption:expr, $xdesc:expr) => {{
            let area = $area;
            let mut chart = ChartBuilder::on(area)
                .caption($caption, (FONT, 20))
                .margin(15)
                .x_label_area_size(if $xdesc.is_empty() { 25 } else { 45 })
                .y_label_area_size(90)
                .build_cartesian_2d(0f64..tmax, 0f64..$ymax)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc($xdesc)
                .y_desc($ydesc)
                .label_style((FONT, 14))
                .draw()
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(d.checkpoints.iter().map(|&(a, b, ok)| {
                    let shade = if ok {
                        RGBColor(44, 160, 44).mix(0.12)
                    } else {
                        RGBColor(214, 39, 40).mix(0.18)
                    };
                    Rectangle::new(
                        [(a, 0.0), (b.max(a + tmax / 1000.0), $ymax)],
                        shade.filled(),
                    )
                }))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(
                    d.crashes.iter().map(|&t| {
                        PathElement::new(vec![(t, 0.0), (t, $ymax)], RED.stroke_width(2))
                    }),
                )
                .map_err(|e| e.to_string())?;
            let pts: Vec<(f64, f64)> = $values
                .iter()
                .enumerate()
                .map(|(i, &v)| ((i as f64 + 0.5) * d.bucket_ms, v))
                .collect();
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(|e| e.to_string())?;
            Ok::<(), String>(())
        }};
    }
    macro_rules! draw {
        ($root:expr) => {{
            let root = $root;
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let (top, bottom) = root.split_vertically(HEIGHT / 2);
            panel!(
                &top,
                ymax1,
                "records/s at the sinks",
                d.throughput,
                title,
                ""
            )?;
            panel!(
                &bottom,
                ymax2,
                "back-pressured tasks",
                d.backpressured,
                "shaded: checkpoints (green completed, red aborted); red lines: crashes",
                "simulated time (ms)"
            )?;
            Ok(())
        }};
    }
    render(name, &|r| draw!(r), &|r| draw!(r))
}
