//! Comparison charts, as SVG text and PNG bytes. The only module that imports plotters.
//!
//! Charts are fed plain numbers (per-run results), never the simulation. Every protocol has
//! one colour everywhere. PNG text uses DejaVu Sans compiled into the binary, so charts
//! render the same on a machine without any system font. One file per kind of chart; this one
//! holds what they share (the canvas, the colours, the legend, the column frame).

mod checkpoints;
mod costs;
mod lines;
mod timeline;

pub use checkpoints::{duration, size, size_vs_duration};
pub use costs::{checkpointed_vs_full, downtime, latency, phases};
pub use lines::{lines, Series};
pub use timeline::{timeline, TimelineData};

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

/// A chart with numeric axes, as every chart here draws on.
type Frame<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Draws `values` as dots spread across column `i`, in `style`.
fn column_dots<DB: DrawingBackend>(
    chart: &mut Frame<'_, DB>,
    i: usize,
    values: &[f64],
    style: ShapeStyle,
) -> Result<(), String> {
    let k = values.len().max(1) as f64;
    chart
        .draw_series(values.iter().enumerate().map(|(j, &y)| {
            let x = i as f64 + 0.3 + 0.4 * (j as f64 / k);
            Circle::new((x, y), 3, style)
        }))
        .map_err(|e| e.to_string())?;
    Ok(())
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
    chart: &Frame<'_, DB>,
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
) -> Result<Frame<'a, DB>, String> {
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

/// The frame of a chart with numeric axes from 0 to `xmax` and `ymax`: title, mesh and the
/// axes' descriptions.
fn xy_frame<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    (xmax, ymax): (f64, f64),
    (x_desc, y_desc): (&str, &str),
) -> Result<Frame<'a, DB>, String> {
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
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FONT, 15))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}
