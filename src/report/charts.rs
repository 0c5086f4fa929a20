//! Comparison charts, as SVG text and PNG bytes. The only module that imports plotters.
//!
//! Charts are fed plain numbers (per-run results), never the simulation. Every protocol has
//! one colour everywhere. PNG text uses DejaVu Sans compiled into the binary, so charts
//! render the same on a machine without any system font.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::RunResult;
use crate::protocols::ProtocolKind;

/// Draws the series legend the same way on every chart: a framed box at `position`.
fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(position)
        .draw()
        .map_err(|e| e.to_string())
}

/// One chart in both formats.
#[derive(Debug, Clone)]
pub struct Chart {
    /// File stem, such as `duration`.
    pub name: String,
    /// The SVG document.
    pub svg: String,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
}

const WIDTH: u32 = 960;
const HEIGHT: u32 = 600;
const FONT: &str = "sans-serif";

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Both calls only fail on a corrupt font, which the dejavu crate does not ship.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Protocols that take snapshots get these in registry order (matplotlib's `tab10`, grey
/// left out); the baseline is grey and anything else (a mutant) cyan.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
];
const BASELINE: RGBColor = RGBColor(127, 127, 127);
const OTHER: RGBColor = RGBColor(23, 190, 207);

/// The colour of a protocol, the same in every chart.
pub fn colour(protocol: &str) -> RGBColor {
    let Some(kind) = ProtocolKind::named(protocol) else {
        return OTHER;
    };
    if !kind.takes_snapshots() {
        return BASELINE;
    }
    let rank = ProtocolKind::all()
        .filter(|p| p.takes_snapshots())
        .position(|p| p == kind)
        .unwrap_or(0);
    PALETTE[rank % PALETTE.len()]
}

/// Draws a chart on an SVG canvas.
type SvgDraw<'a> = dyn Fn(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String> + 'a;
/// Draws the same chart on a bitmap canvas.
type PngDraw<'a> = dyn Fn(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String> + 'a;

/// Renders `draw` twice, to SVG and to PNG, so both formats show exactly the same chart.
fn render(name: &str, svg_draw: &SvgDraw<'_>, png_draw: &PngDraw<'_>) -> Result<Chart, String> {
    register_fonts();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        svg_draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        png_draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut png = Vec::new();
    {
        let mut enc = ::png::Encoder::new(&mut png, WIDTH, HEIGHT);
        enc.set_color(::png::ColorType::Rgb);
        enc.set_depth(::png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(&pixels).map_err(|e| e.to_string())?;
    }
    Ok(Chart {
        name: name.to_string(),
        svg,
        png,
    })
}

/// The protocols of `runs`, in first-seen order.
fn protocols(runs: &[RunResult]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for r in runs {
        if !v.contains(&r.protocol) {
            v.push(r.protocol.clone());
        }
    }
    v
}

/// Completed checkpoints taken while the job ran (not the final one).
fn completed(r: &RunResult) -> impl Iterator<Item = &super::CheckpointRecord> {
    r.checkpoints.iter().filter(|c| c.completed_while_running())
}

/// Writes each protocol's name under its column, in pixel space (robust to tick placement).
fn name_columns<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    names: &[String],
) -> Result<(), String> {
    for (i, n) in names.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        let c = colour(n);
        let style = TextStyle::from((FONT, 15).into_font()).color(&c).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ),
        );
        root.draw(&Text::new(n.clone(), (x, y + 8), style))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn kib(b: u64) -> f64 {
    b as f64 / 1024.0
}

/// The frame of a chart with one column per protocol: title, y axis, and the protocols' names
/// under their columns. Columns are at x in [i, i + 1).
fn columns<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    names: &[String],
    ymax: f64,
    y_desc: &str,
) -> Result<
    ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    String,
> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 22))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..names.len().max(1) as f64, 0f64..ymax)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(y_desc)
        .label_style((FONT, 15))
        .draw()
        .map_err(|e| e.to_string())?;
    name_columns(root, &chart, names)?;
    Ok(chart)
}

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
                let k = v.len().max(1) as f64;
                chart
                    .draw_series(v.iter().enumerate().map(|(j, &y)| {
                        let x = i as f64 + 0.3 + 0.4 * (j as f64 / k);
                        Circle::new((x, y), 3, c.filled())
                    }))
                    .map_err(|e| e.to_string())?;
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
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let mut chart = ChartBuilder::on(root)
                .caption(title, (FONT, 22))
                .margin(20)
                .x_label_area_size(50)
                .y_label_area_size(80)
                .build_cartesian_2d(0f64..xmax, 0f64..ymax)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc("checkpoint duration (ms)")
                .y_desc("snapshot size (KiB)")
                .label_style((FONT, 15))
                .draw()
                .map_err(|e| e.to_string())?;
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

/// One line of a sweep chart: a name (a protocol, perhaps with other varied values) and, for
/// each x position, the samples over seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text; its first word picks the protocol colour.
    pub name: String,
    /// Samples per x position (empty where the metric does not exist).
    pub samples: Vec<Vec<f64>>,
}

/// A metric against a varied value: one line through the medians per series, with a bar from
/// the smallest to the largest sample over seeds.
pub fn lines(
    name: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    x_labels: &[String],
    series: &[Series],
) -> Result<Chart, String> {
    let n = x_labels.len().max(1);
    let ymax = series
        .iter()
        .flat_map(|s| s.samples.iter().flatten().copied())
        .fold(0.0, f64::max)
        * 1.15
        + 1e-6;
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        v.get(v.len() / 2).copied()
    };
    macro_rules! draw {
        ($root:expr) => {{
            let root = $root;
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let mut chart = ChartBuilder::on(root)
                .caption(title, (FONT, 22))
                .margin(20)
                .x_label_area_size(60)
                .y_label_area_size(80)
                .build_cartesian_2d(0f64..n as f64, 0f64..ymax)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(0)
                .y_desc(y_desc)
                .label_style((FONT, 15))
                .draw()
                .map_err(|e| e.to_string())?;
            for (i, l) in x_labels.iter().enumerate() {
                let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
                let style = TextStyle::from((FONT, 15).into_font()).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Top,
                    ),
                );
                root.draw(&Text::new(l.clone(), (x, y + 8), style))
                    .map_err(|e| e.to_string())?;
            }
            let (cx, cy) = chart.backend_coord(&(n as f64 / 2.0, 0.0));
            let desc = TextStyle::from((FONT, 15).into_font()).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Top,
                ),
            );
            root.draw(&Text::new(x_desc.to_string(), (cx, cy + 32), desc))
                .map_err(|e| e.to_string())?;
            for s in series {
                let c = colour(s.name.split_whitespace().next().unwrap_or(""));
                let pts: Vec<(f64, f64)> = s
                    .samples
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| median(v).map(|m| (i as f64 + 0.5, m)))
                    .collect();
                chart
                    .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3))
                    });
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
                    .map_err(|e| e.to_string())?;
                for (i, v) in s.samples.iter().enumerate() {
                    if v.len() > 1 {
                        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let x = i as f64 + 0.5;
                        chart
                            .draw_series(std::iter::once(PathElement::new(
                                vec![(x, lo), (x, hi)],
                                c.stroke_width(1),
                            )))
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
            Ok(())
        }};
    }
    render(name, &|r| draw!(r), &|r| draw!(r))
}

/// What a timeline chart shows: throughput and back-pressure per bucket, checkpoint spans
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
