//! A sweep's chart: a metric against a varied value, one line per series.

use plotters::prelude::*;

use super::*;

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
            for (k, s) in series.iter().enumerate() {
                let c = series_colour(series, k);
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

/// The colour of series `k`: its protocol's, darker for each earlier series of the same protocol
/// (the lines of one protocol under other values of the other varied fields stay apart).
fn series_colour(series: &[Series], k: usize) -> RGBColor {
    let protocol = |s: &Series| s.name.split_whitespace().next().unwrap_or("").to_string();
    let mine = protocol(&series[k]);
    let earlier = series[..k].iter().filter(|s| protocol(s) == mine).count();
    let RGBColor(r, g, b) = colour(&mine);
    // Each step keeps 60 % of the colour, so the first series is the protocol's own colour.
    let keep = 0.6f64.powi(earlier as i32);
    let dim = |v: u8| (f64::from(v) * keep).round() as u8;
    RGBColor(dim(r), dim(g), dim(b))
}
