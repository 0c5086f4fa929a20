//! Where the diagram's parts go, in SVG user units.
//!
//! What is drawn of many messages, the time scale and its ticks, the lanes, the legend's
//! rows, and the labels placed along their arrows.

use std::collections::BTreeSet;

use super::extract::{Class, Extract, Fate, Msg};
use crate::engine::{Time, MS, SEC, US};
use crate::topology::Topology;

/// At most this many data messages are drawn; control messages are always drawn.
pub(super) const MAX_DATA: usize = 2_000;
/// Above this many drawn data messages, data arrows lose their heads.
const HEADS_UPTO: usize = 300;
/// Up to this many drawn messages, control messages are labelled too.
const LABEL_CONTROL_UPTO: usize = 60;

/// Horizontal room between a task's name and the window's start (and after its end), so
/// labels at the window's edges stay legible.
const PAD: f64 = 48.0;
/// Width of the plotted window.
pub(super) const PLOT_W: f64 = 900.0;

/// The messages drawn: every control message, the first data messages; and how densely.
#[derive(Debug)]
pub(super) struct Shown<'a> {
    /// In trace order.
    pub msgs: Vec<&'a Msg>,
    /// Data messages in the window, drawn or not.
    pub total_data: usize,
    /// Data messages drawn.
    pub drawn_data: usize,
    /// Few enough data messages for arrow heads.
    pub heads: bool,
    /// Few enough messages to name the control messages.
    pub label_control: bool,
}

impl<'a> Shown<'a> {
    pub(super) fn cap(x: &'a Extract) -> Self {
        let total_data = x.msgs.iter().filter(|m| m.class == Class::Data).count();
        let mut kept_data = 0;
        let msgs: Vec<&Msg> = x
            .msgs
            .iter()
            .filter(|m| {
                if m.class != Class::Data {
                    return true;
                }
                kept_data += 1;
                kept_data <= MAX_DATA
            })
            .collect();
        let drawn_data = total_data.min(MAX_DATA);
        Shown {
            heads: drawn_data <= HEADS_UPTO,
            label_control: msgs.len() <= LABEL_CONTROL_UPTO,
            msgs,
            total_data,
            drawn_data,
        }
    }
}

/// `1234567` as `1,234,567`.
pub(super) fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A time axis: the unit, its name, the tick step and the number of decimals to print.
#[derive(Debug, Clone, Copy)]
pub(super) struct Axis {
    unit: Time,
    pub unit_name: &'static str,
    pub step: Time,
    decimals: u32,
}

impl Axis {
    pub(super) fn new(span: Time) -> Axis {
        let (unit, unit_name) = if span >= 2 * SEC {
            (SEC, "s")
        } else if span >= 2 * MS {
            (MS, "ms")
        } else if span >= 2 * US {
            (US, "µs")
        } else {
            (1, "ns")
        };
        let raw = (span / 8).max(1);
        let mut mag: Time = 1;
        while mag <= raw / 10 {
            mag *= 10;
        }
        let step = [1, 2, 5, 10]
            .iter()
            .map(|k| k * mag)
            .find(|&s| s >= raw)
            .unwrap_or(10 * mag);
        let mut decimals = 0;
        while decimals < 9 && (step * 10u64.pow(decimals)) % unit != 0 {
            decimals += 1;
        }
        Axis {
            unit,
            unit_name,
            step,
            decimals,
        }
    }

    /// `t` in the axis unit with up to three decimals, trailing zeros dropped.
    pub(super) fn precise(&self, t: Time) -> String {
        let whole = t / self.unit;
        let frac = u128::from(t % self.unit) * 1000 / u128::from(self.unit);
        if frac == 0 {
            return whole.to_string();
        }
        let digits = format!("{frac:03}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }

    /// A tick's label: `t` in the axis unit with the decimals the step needs.
    pub(super) fn format(&self, t: Time) -> String {
        let whole = t / self.unit;
        if self.decimals == 0 {
            return whole.to_string();
        }
        let frac = (u128::from(t % self.unit) * 10u128.pow(self.decimals)) / u128::from(self.unit);
        format!("{whole}.{frac:0width$}", width = self.decimals as usize)
    }
}

/// Maps time to x.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geo {
    t0: Time,
    t1: Time,
    /// Where the window starts.
    pub x0: f64,
    pub width: f64,
}

impl Geo {
    pub(super) fn x(&self, t: Time) -> f64 {
        self.x0 + (t as f64 - self.t0 as f64) / (self.t1 - self.t0) as f64 * self.width
    }
}

/// One legend entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Key {
    Msg(Class),
    Recorded,
    Replay,
    Lost,
    Snapshot,
    Cut,
    State,
    BackPressure,
    Crash,
}

impl Key {
    fn text(self) -> String {
        match self {
            Key::Msg(c) => match c {
                Class::Data => "data message",
                Class::Control { .. } if c.name() == "cancel" => "cancellation",
                Class::Control { .. } => c.name(),
                Class::OtherControl => "other control message",
                Class::End => "end of input",
            },
            Key::Recorded => "recorded channel state",
            Key::Replay => "replayed after recovery",
            Key::Lost => "lost in a crash",
            Key::Snapshot => "local snapshot (id)",
            Key::Cut => "cut of a completed snapshot",
            Key::State => "state change",
            Key::BackPressure => "back-pressure",
            Key::Crash => "crash until recovery",
        }
        .to_string()
    }
}

/// The legend entries, in a fixed order, for what the diagram shows.
fn legend_keys(x: &Extract, shown: &Shown<'_>, has_cuts: bool, has_labels: bool) -> Vec<Key> {
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    keys.insert(Key::Msg(Class::Data));
    for m in &shown.msgs {
        keys.insert(Key::Msg(m.class));
        if m.recorded.is_some() {
            keys.insert(Key::Recorded);
        }
        if m.replay {
            keys.insert(Key::Replay);
        }
        if m.fate == Fate::Lost {
            keys.insert(Key::Lost);
        }
    }
    let shows = [
        (!x.snaps.is_empty(), Key::Snapshot),
        (has_cuts, Key::Cut),
        (has_labels && !x.states.is_empty(), Key::State),
        (!x.backpressure.is_empty(), Key::BackPressure),
        (!x.crashes.is_empty(), Key::Crash),
    ];
    keys.extend(shows.iter().filter(|s| s.0).map(|s| s.1));
    keys.into_iter().collect()
}

/// A legend entry placed: its x, what it is and its text.
pub(super) type LegendEntry = (f64, Key, String);

/// Where everything goes.
#[derive(Debug)]
pub(super) struct Layout {
    /// The window.
    pub t0: Time,
    pub t1: Time,
    pub axis: Axis,
    pub geo: Geo,
    /// Number of lanes (at least one).
    pub tasks: usize,
    /// Where the lane names end and the title starts.
    pub left: f64,
    pub width: f64,
    pub height: f64,
    /// Font size of the lane names.
    pub lane_font: u32,
    /// Vertical distance between lanes.
    gap: f64,
    pub legend_top: f64,
    /// The legend's rows.
    pub rows: Vec<Vec<LegendEntry>>,
    /// The first lane's y.
    lanes_top: f64,
    /// The clipped plot, above the first and below the last lane.
    pub plot_top: f64,
    pub plot_bottom: f64,
    pub axis_y: f64,
    /// Notes under the axis, such as that messages were left out.
    pub notes: Vec<String>,
    pub notes_top: f64,
}

impl Layout {
    pub(super) fn new(
        topo: &Topology,
        x: &Extract,
        shown: &Shown<'_>,
        (has_cuts, has_labels): (bool, bool),
        (t0, t1): (Time, Time),
    ) -> Layout {
        let tasks = topo.tasks.len().max(1);
        let name_w = topo
            .tasks
            .iter()
            .map(|t| t.name.chars().count())
            .max()
            .unwrap_or(1) as f64
            * 8.5;
        let left = 24.0 + name_w.max(16.0);
        let geo = Geo {
            t0,
            t1,
            x0: left + PAD,
            width: PLOT_W,
        };
        let width = geo.x0 + PLOT_W + PAD + 24.0;
        let gap = match tasks {
            1 | 2 => 200.0,
            3 => 150.0,
            4 => 120.0,
            k => (720.0 / (k - 1) as f64).clamp(26.0, 90.0),
        };
        let lane_font = if gap < 34.0 {
            11
        } else if tasks <= 4 {
            16
        } else {
            14
        };
        let keys = legend_keys(x, shown, has_cuts, has_labels);
        let rows = legend_rows(&keys, left, width);
        let legend_top = 64.0;
        let lanes_top = legend_top + rows.len() as f64 * 22.0 + 58.0;
        let lanes_bottom = lanes_top + (tasks - 1) as f64 * gap;
        let plot_bottom = lanes_bottom + 40.0;
        let axis_y = plot_bottom + 4.0;
        let notes = notes(shown);
        let notes_top = axis_y + 56.0;
        Layout {
            t0,
            t1,
            axis: Axis::new(t1 - t0),
            geo,
            tasks,
            left,
            width,
            height: notes_top + notes.len() as f64 * 18.0 + 12.0,
            lane_font,
            gap,
            legend_top,
            rows,
            lanes_top,
            plot_top: lanes_top - 40.0,
            plot_bottom,
            axis_y,
            notes,
            notes_top,
        }
    }

    /// The y of a task's lane.
    pub(super) fn lane(&self, task: u32) -> f64 {
        self.lanes_top + f64::from(task) * self.gap
    }

    /// The times of the axis ticks: the round multiples of the step within the window.
    pub(super) fn ticks(&self) -> Vec<Time> {
        let step = self.axis.step;
        let mut ticks = Vec::new();
        let mut tick = self.t0.div_ceil(step) * step;
        while tick <= self.t1 {
            ticks.push(tick);
            tick += step;
        }
        ticks
    }
}

/// Fills legend rows from the left, starting a new row when an entry would pass the edge.
fn legend_rows(keys: &[Key], left: f64, width: f64) -> Vec<Vec<LegendEntry>> {
    let mut rows: Vec<Vec<LegendEntry>> = vec![Vec::new()];
    let mut lx = left;
    for &k in keys {
        let text = k.text();
        let w = 40.0 + 6.6 * text.chars().count() as f64 + 18.0;
        if lx + w > width - 16.0 && !rows.last().is_some_and(Vec::is_empty) {
            rows.push(Vec::new());
            lx = left;
        }
        rows.last_mut().expect("one row").push((lx, k, text));
        lx += w;
    }
    rows
}

/// The note that data messages were left out, if they were.
fn notes(shown: &Shown<'_>) -> Vec<String> {
    if shown.total_data <= MAX_DATA {
        return Vec::new();
    }
    let control = shown.msgs.len() - shown.drawn_data;
    vec![format!(
        "Too many messages to draw: showing the first {} of {} data messages in the window{}.",
        thousands(MAX_DATA),
        thousands(shown.total_data),
        match control {
            0 => String::new(),
            1 => ", and the one control message".to_string(),
            c => format!(", and all {} control messages", thousands(c)),
        },
    )]
}

/// A line segment: (x1, y1, x2, y2).
pub(super) type Segment = (f64, f64, f64, f64);

/// A message label still to be placed along its arrow.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub seg: Segment,
    /// Index of the message's own line in the obstacles.
    pub own: usize,
    pub text: String,
    pub colour: &'static str,
    /// Labels of data messages go first above their line, in bold.
    pub data: bool,
}

/// A placed label: position, rotation, text, colour, whether it is above its line, bold.
pub(super) type Placed = (f64, f64, f64, String, &'static str, bool, bool);

/// A point of a cubic Bézier curve.
pub(super) fn bezier(c: [(f64, f64); 4], t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    let (a, b, cc, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    (
        a * c[0].0 + b * c[1].0 + cc * c[2].0 + d * c[3].0,
        a * c[0].1 + b * c[1].1 + cc * c[2].1 + d * c[3].1,
    )
}

/// Distance from a point to a segment.
fn distance(p: (f64, f64), s: Segment) -> f64 {
    let (dx, dy) = (s.2 - s.0, s.3 - s.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.0 - s.0) * dx + (p.1 - s.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (qx, qy) = (s.0 + t * dx, s.1 + t * dy);
    ((p.0 - qx).powi(2) + (p.1 - qy).powi(2)).sqrt()
}

/// Places each label along its arrow, on the side and at the point farthest from other lines
/// and labels (`search`), or at a fixed point. Labels outside the window are dropped.
pub(super) fn place_labels(
    pending: &[Pending],
    segments: &[Segment],
    search: bool,
    geo: &Geo,
) -> Vec<Placed> {
    let mut placed: Vec<Placed> = Vec::new();
    let mut centres: Vec<(f64, f64)> = Vec::new();
    for p in pending {
        let (xa, ya, xb, yb) = p.seg;
        let len = ((xb - xa).powi(2) + (yb - ya).powi(2)).sqrt().max(1e-9);
        let (ux, uy) = ((xb - xa) / len, (yb - ya) / len);
        // The normal pointing up the page (for left-to-right arrows).
        let (nx, ny) = (uy, -ux);
        let half = 3.6 * p.text.chars().count() as f64;
        let fractions: &[f64] = if p.data {
            &[0.3, 0.4, 0.25, 0.5, 0.2, 0.6, 0.7, 0.8]
        } else {
            &[0.62, 0.5, 0.7, 0.4, 0.75, 0.3, 0.8, 0.25]
        };
        let sides = if p.data { [true, false] } else { [false, true] };
        let candidates = fractions
            .iter()
            .flat_map(|&f| sides.iter().map(move |&above| (f, above)))
            .take(if search { usize::MAX } else { 1 });
        let mut best: Option<(f64, f64, bool)> = None;
        for (i, (f, above)) in candidates.enumerate() {
            let (px, py) = (xa + (xb - xa) * f, ya + (yb - ya) * f);
            if px < geo.x0 || px > geo.x0 + geo.width {
                continue;
            }
            let off = if above { 10.0 } else { -10.0 };
            let (cx, cy) = (px + nx * off, py + ny * off);
            let probes = [
                (cx, cy),
                (cx - ux * half, cy - uy * half),
                (cx + ux * half, cy + uy * half),
            ];
            let mut score: f64 = 40.0;
            if search {
                for (j, seg) in segments.iter().enumerate() {
                    if j != p.own {
                        for q in probes {
                            score = score.min(distance(q, *seg));
                        }
                    }
                }
                for c in &centres {
                    score = score.min(((c.0 - cx).powi(2) + (c.1 - cy).powi(2)).sqrt() * 0.5);
                }
            }
            let score = score - i as f64 * 0.5;
            if best.is_none_or(|b| score > b.0) {
                best = Some((score, f, above));
            }
        }
        let Some((_, f, above)) = best else {
            continue;
        };
        let (px, py) = (xa + (xb - xa) * f, ya + (yb - ya) * f);
        let off = if above { 10.0 } else { -10.0 };
        centres.push((px + nx * off, py + ny * off));
        let angle = uy.atan2(ux).to_degrees();
        placed.push((px, py, angle, p.text.clone(), p.colour, above, p.data));
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_ticks_are_round_numbers() {
        let a = Axis::new(22 * MS);
        assert_eq!((a.unit_name, a.step, a.decimals), ("ms", 5 * MS, 0));
        let a = Axis::new(5 * MS);
        assert_eq!((a.unit_name, a.step, a.decimals), ("ms", MS, 0));
        assert_eq!(Axis::new(4 * MS).format(2_500_000), "2.5");
        assert_eq!(Axis::new(25 * MS).precise(560_312_345), "560.312");
        assert_eq!(Axis::new(25 * MS).precise(22 * MS), "22");
        let a = Axis::new(800 * US);
        assert_eq!((a.unit_name, a.step), ("µs", 100 * US));
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
