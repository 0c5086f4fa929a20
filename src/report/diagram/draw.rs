//! The diagram's marks as SVG text, written by hand where the layout placed them.
//!
//! Each function writes one layer; the diagram's module calls them in drawing order. Colours
//! are chosen here, control messages' by the name of their kind.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::extract::{Class, Extract, Fate, Msg};
use super::layout::{bezier, thousands, Layout, Pending, Placed, Segment, Shown, PLOT_W};
use crate::snapshot::{GlobalSnapshot, LocalSnapshot};
use crate::topology::Topology;
use crate::workload::{Behaviour, Labels};

pub(super) const DATA: &str = "#9e9e9e";
pub(super) const DATA_FEW: &str = "#616161";
pub(super) const MARKER_C: &str = "#1565c0";
pub(super) const BARRIER_C: &str = "#ef6c00";
pub(super) const CANCEL_C: &str = "#c62828";
pub(super) const CONTROL_C: &str = "#6d4c41";
pub(super) const END_C: &str = "#424242";
pub(super) const RECORDED_C: &str = "#2e7d32";
pub(super) const SNAP_C: &str = "#6a1b9a";
pub(super) const CUT_C: &str = "#8e24aa";
pub(super) const BP_C: &str = "#fbc02d";
pub(super) const CRASH_C: &str = "#e53935";
pub(super) const STATE_C: &str = "#37474f";

/// The colour of each control-message kind, by its name; other kinds are brown.
const KIND_COLOURS: &[(&str, &str)] = &[
    ("marker", MARKER_C),
    ("barrier", BARRIER_C),
    ("cancel", CANCEL_C),
];

/// The colour of a message class.
pub(super) fn colour(class: Class) -> &'static str {
    match class {
        Class::Data => DATA,
        Class::Control { .. } => KIND_COLOURS
            .iter()
            .find(|(name, _)| *name == class.name())
            .map_or(CONTROL_C, |(_, c)| c),
        Class::OtherControl => CONTROL_C,
        Class::End => END_C,
    }
}

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Writes a number with one decimal, without `-0.0`.
pub(super) fn n(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == 0.0 {
        "0".to_string()
    } else if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// Everything a diagram is drawn from.
pub(super) struct Scene<'a> {
    pub topo: &'a Topology,
    pub x: &'a Extract,
    pub shown: &'a Shown<'a>,
    pub layout: &'a Layout,
    /// The completed snapshots whose cut shows in the window.
    pub cuts: &'a [&'a GlobalSnapshot],
    /// Every completed snapshot, by id.
    pub completed: BTreeMap<u64, &'a GlobalSnapshot>,
    pub title: &'a str,
    pub labels: Option<&'a Labels>,
}

/// How data arrows look: with few messages they are as easy to see as the rest.
struct DataStyle {
    colour: &'static str,
    width: f64,
    head: f64,
}

/// The root element, styles, arrow heads and the window's clip path.
pub(super) fn prologue(s: &mut String, sc: &Scene<'_>) {
    let l = sc.layout;
    let data = if sc.shown.label_control {
        DataStyle {
            colour: DATA_FEW,
            width: 1.6,
            head: 10.0,
        }
    } else {
        DataStyle {
            colour: DATA,
            width: 1.0,
            head: 8.0,
        }
    };
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">",
        w = n(l.width),
        h = n(l.height),
    );
    s.push_str("<style>");
    let _ = write!(
        s,
        ".d{{stroke:{};stroke-width:{}}}.dn{{stroke:#bdbdbd;stroke-width:0.6}}\
         .lane{{stroke:#212121;stroke-width:1.6}}.grid{{stroke:#ececec;stroke-width:1}}\
         .lbl{{font-size:13px;paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}}",
        data.colour, data.width,
    );
    s.push_str("</style>\n");
    s.push_str("<defs>\n");
    let mut head = |id: &str, colour: &str, size: f64| {
        let _ = writeln!(
            s,
            "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"9.5\" refY=\"5\" \
             markerUnits=\"userSpaceOnUse\" markerWidth=\"{sz}\" markerHeight=\"{sz}\" \
             orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"{colour}\"/></marker>",
            sz = n(size),
        );
    };
    head("h-data", data.colour, data.head);
    for c in Class::non_data() {
        head(&format!("h-{}", c.name()), colour(c), 11.0);
    }
    head("h-rec", RECORDED_C, 11.0);
    let _ = writeln!(
        s,
        "<clipPath id=\"window\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath>",
        n(l.geo.x0),
        n(l.plot_top),
        n(PLOT_W),
        n(l.plot_bottom - l.plot_top),
    );
    s.push_str("</defs>\n");
}

/// The white background, the title and the line under it.
pub(super) fn title(s: &mut String, sc: &Scene<'_>) {
    let l = sc.layout;
    let _ = writeln!(
        s,
        "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"{}\" y=\"32\" font-size=\"20\" font-weight=\"bold\" fill=\"#212121\">{}</text>",
        n(l.left),
        escape(sc.title),
    );
    let msgs = sc.shown.msgs.len();
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"52\" font-size=\"12\" fill=\"#757575\">window {} – {} {} · {} \
         task{} · {} message{}</text>",
        n(l.left),
        l.axis.precise(l.t0),
        l.axis.precise(l.t1),
        l.axis.unit_name,
        l.tasks,
        if l.tasks == 1 { "" } else { "s" },
        thousands(msgs),
        if msgs == 1 { "" } else { "s" },
    );
}

/// The grid and the time axis with its ticks.
pub(super) fn time_axis(s: &mut String, l: &Layout) {
    let ticks = l.ticks();
    let geo = &l.geo;
    s.push_str("<g>\n");
    for &tk in &ticks {
        let tx = n(geo.x(tk));
        let _ = writeln!(
            s,
            "<line class=\"grid\" x1=\"{tx}\" y1=\"{}\" x2=\"{tx}\" y2=\"{}\"/>",
            n(l.plot_top),
            n(l.axis_y),
        );
    }
    let _ = writeln!(
        s,
        "<line x1=\"{}\" y1=\"{ay}\" x2=\"{}\" y2=\"{ay}\" stroke=\"#616161\" stroke-width=\"1\"/>",
        n(geo.x0),
        n(geo.x0 + PLOT_W),
        ay = n(l.axis_y),
    );
    for &tk in &ticks {
        let tx = n(geo.x(tk));
        let _ = writeln!(
            s,
            "<line x1=\"{tx}\" y1=\"{}\" x2=\"{tx}\" y2=\"{}\" stroke=\"#616161\"/>\
             <text x=\"{tx}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" \
             fill=\"#424242\">{}</text>",
            n(l.axis_y),
            n(l.axis_y + 5.0),
            n(l.axis_y + 20.0),
            l.axis.format(tk),
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#424242\">\
         time ({})</text>",
        n(geo.x0 + PLOT_W / 2.0),
        n(l.axis_y + 40.0),
        l.axis.unit_name,
    );
    s.push_str("</g>\n");
}

/// A band from each crash to its recovery, with a dashed line at the recovery.
pub(super) fn crash_bands(s: &mut String, sc: &Scene<'_>) {
    let l = sc.layout;
    for &(from, to, restored) in &sc.x.crashes {
        let (a, b) = (l.geo.x(from), l.geo.x(to));
        let _ = writeln!(
            s,
            "<rect class=\"crash\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{CRASH_C}\" \
             fill-opacity=\"0.13\"/>\
             <line x1=\"{a}\" y1=\"{top}\" x2=\"{a}\" y2=\"{bot}\" stroke=\"{CRASH_C}\" \
             stroke-width=\"1.5\"/>",
            n(a),
            n(l.plot_top),
            n((b - a).max(1.0)),
            n(l.plot_bottom - l.plot_top),
            a = n(a),
            top = n(l.plot_top),
            bot = n(l.plot_bottom),
        );
        if restored.is_some() {
            let _ = writeln!(
                s,
                "<line x1=\"{b}\" y1=\"{}\" x2=\"{b}\" y2=\"{}\" stroke=\"{CRASH_C}\" \
                 stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>",
                n(l.plot_top),
                n(l.plot_bottom),
                b = n(b),
            );
        }
    }
}

/// Back-pressure shaded on the lanes, then the lanes.
pub(super) fn back_pressure_and_lanes(s: &mut String, sc: &Scene<'_>) {
    let l = sc.layout;
    for &(task, from, to) in &sc.x.backpressure {
        let y = l.lane(task);
        let (a, b) = (l.geo.x(from), l.geo.x(to));
        let _ = writeln!(
            s,
            "<rect class=\"bp\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"12\" fill=\"{BP_C}\" \
             fill-opacity=\"0.55\"/>",
            n(a),
            n(y - 6.0),
            n((b - a).max(1.0)),
        );
    }
    for task in 0..sc.topo.tasks.len() as u32 {
        let y = n(l.lane(task));
        let _ = writeln!(
            s,
            "<line class=\"lane\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>",
            n(l.geo.x0),
            n(l.geo.x0 + PLOT_W),
        );
    }
}

/// The message arrows: data first, then recorded channel state, then control messages on
/// top. Returns their lines, which labels should keep clear of, and the labels to place.
pub(super) fn messages(s: &mut String, sc: &Scene<'_>) -> (Vec<Segment>, Vec<Pending>) {
    let l = sc.layout;
    let mut segments: Vec<Segment> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    for pass in 0..3 {
        for m in &sc.shown.msgs {
            let layer = if m.recorded.is_some() {
                1
            } else if m.class == Class::Data {
                0
            } else {
                2
            };
            if layer != pass {
                continue;
            }
            // A message never received ends where its receiver was when it was lost or the
            // trace ended.
            let seg = (l.geo.x(m.from), l.lane(m.src), l.geo.x(m.to), l.lane(m.dst));
            message(s, m, seg, sc.shown.heads);
            segments.push(seg);
            if let Some(text) = message_label(m, sc) {
                let colour = if m.recorded.is_some() {
                    RECORDED_C
                } else if m.class == Class::Data {
                    "#212121"
                } else {
                    colour(m.class)
                };
                pending.push(Pending {
                    seg,
                    own: segments.len() - 1,
                    text,
                    colour,
                    data: m.class == Class::Data,
                });
            }
        }
    }
    (segments, pending)
}

/// One message's line, and a cross where it was lost.
fn message(s: &mut String, m: &Msg, seg: Segment, heads: bool) {
    let ended = m.fate == Fate::Received;
    let (xa, ya, xb, yb) = (n(seg.0), n(seg.1), n(seg.2), n(seg.3));
    if m.recorded.is_some() {
        let _ = writeln!(
            s,
            "<path class=\"rec\" d=\"M{xa},{ya}L{xb},{yb}\" fill=\"none\" stroke=\"{RECORDED_C}\" \
             {}{}/>",
            if heads {
                "stroke-width=\"2.6\" stroke-dasharray=\"8 4\""
            } else {
                "stroke-width=\"1\" stroke-opacity=\"0.7\""
            },
            if ended && heads {
                " marker-end=\"url(#h-rec)\""
            } else {
                ""
            },
        );
    } else if m.class == Class::Data {
        let dash = if m.replay {
            " stroke-dasharray=\"3 3\""
        } else if !ended {
            " stroke-dasharray=\"1 3\""
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "<line class=\"{}\" x1=\"{xa}\" y1=\"{ya}\" x2=\"{xb}\" y2=\"{yb}\"{dash}{}/>",
            if heads { "d" } else { "dn" },
            if heads && ended {
                " marker-end=\"url(#h-data)\""
            } else {
                ""
            },
        );
    } else {
        let dash = if m.replay {
            " stroke-dasharray=\"5 3\""
        } else if m.class == Class::End {
            " stroke-dasharray=\"2 2\""
        } else if !ended {
            " stroke-dasharray=\"2 3\""
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "<path class=\"c {name}\" d=\"M{xa},{ya}L{xb},{yb}\" fill=\"none\" stroke=\"{}\" \
             stroke-width=\"{}\"{dash}{}/>",
            colour(m.class),
            if m.class == Class::End { "1.2" } else { "2.4" },
            if ended {
                format!(" marker-end=\"url(#h-{})\"", m.class.name())
            } else {
                String::new()
            },
            name = m.class.name(),
        );
    }
    if m.fate == Fate::Lost {
        let _ = writeln!(
            s,
            "<path d=\"M{},{}l8,8m0,-8l-8,8\" stroke=\"{CRASH_C}\" stroke-width=\"2\"/>",
            n(seg.2 - 4.0),
            n(seg.3 - 4.0),
        );
    }
}

/// The message's name (scripts) or, in small diagrams, what control message it is.
fn message_label(m: &Msg, sc: &Scene<'_>) -> Option<String> {
    match (m.class, sc.labels) {
        (Class::Data, Some(l)) if !m.replay => u32::try_from(m.num)
            .ok()
            .map(|i| l.name(i))
            .filter(|name| *name != "?")
            .map(str::to_string),
        (Class::Control { .. }, _) if sc.shown.label_control => {
            Some(format!("{} {}", m.class.name(), m.num))
        }
        _ => None,
    }
}

/// Cuts: a curve through each completed snapshot's points, past the first and last lines.
/// The curve's pieces become obstacles for labels.
pub(super) fn cuts(s: &mut String, sc: &Scene<'_>, segments: &mut Vec<Segment>) {
    let l = sc.layout;
    for snap in sc.cuts {
        let mut pts: Vec<(f64, f64)> = snap
            .tasks
            .iter()
            .map(|t| (l.geo.x(t.taken_at), l.lane(t.task)))
            .collect();
        pts.sort_by(|a, b| a.1.total_cmp(&b.1));
        let Some(&(fx, fy)) = pts.first() else {
            continue;
        };
        let mut d = format!("M{},{}L{},{}", n(fx), n(fy - 34.0), n(fx), n(fy));
        for w in pts.windows(2) {
            let ctl = cut_curve(w[0], w[1]);
            let _ = write!(
                d,
                "C{},{} {},{} {},{}",
                n(ctl[1].0),
                n(ctl[1].1),
                n(ctl[2].0),
                n(ctl[2].1),
                n(ctl[3].0),
                n(ctl[3].1)
            );
        }
        let &(lx, ly) = pts.last().expect("not empty");
        let _ = write!(d, "L{},{}", n(lx), n(ly + 26.0));
        for w in pts.windows(2) {
            let ctl = cut_curve(w[0], w[1]);
            let mut prev = w[0];
            for k in 1..=12 {
                let p = bezier(ctl, f64::from(k) / 12.0);
                segments.push((prev.0, prev.1, p.0, p.1));
                prev = p;
            }
        }
        let _ = writeln!(
            s,
            "<path class=\"cut\" d=\"{d}\" fill=\"none\" stroke=\"{CUT_C}\" stroke-width=\"2.2\" \
             stroke-opacity=\"0.85\" stroke-dasharray=\"10 3 2 3\"/>"
        );
    }
}

/// The Bézier control points of a cut between two of its points: vertical at both,
/// bulging towards the past (left), so the curve does not run along a marker that joins the
/// same two points.
fn cut_curve((ax, ay): (f64, f64), (bx, by): (f64, f64)) -> [(f64, f64); 4] {
    let (ka, kb) = if ax <= bx { (0.8, 0.2) } else { (0.2, 0.8) };
    [
        (ax, ay),
        (ax, ay + (by - ay) * ka),
        (bx, by - (by - ay) * kb),
        (bx, by),
    ]
}

/// Lane names, tied to their lines by a faint lead-in.
pub(super) fn lane_names(s: &mut String, sc: &Scene<'_>) {
    let l = sc.layout;
    for (i, t) in sc.topo.tasks.iter().enumerate() {
        let y = n(l.lane(i as u32));
        let _ = writeln!(
            s,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#bdbdbd\" \
             stroke-width=\"1\"/>",
            n(l.left + 2.0),
            n(l.geo.x0),
        );
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\" font-weight=\"bold\" \
             text-anchor=\"end\" fill=\"#212121\">{}</text>",
            n(l.left - 4.0),
            n(l.lane(i as u32) + f64::from(l.lane_font) * 0.35),
            l.lane_font,
            escape(&t.name),
        );
    }
}

/// `crash` at each crash and what each recovery restored.
pub(super) fn crash_labels(s: &mut String, sc: &Scene<'_>) {
    let l = sc.layout;
    let within = |t| t >= l.t0 && t <= l.t1;
    for &(from, to, restored) in &sc.x.crashes {
        if within(from) {
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{CRASH_C}\">crash</text>",
                n(l.geo.x(from) + 3.0),
                n(l.plot_top + 12.0),
            );
        }
        if let Some(k) = restored {
            if within(to) {
                let text = if k == 0 {
                    "restart from scratch".to_string()
                } else {
                    format!("restore #{k}")
                };
                let _ = writeln!(
                    s,
                    "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{CRASH_C}\">{}</text>",
                    n(l.geo.x(to) + 3.0),
                    n(l.plot_top + 26.0),
                    escape(&text),
                );
            }
        }
    }
}

/// State changes (scripts): a tick on the line and the new state's name.
pub(super) fn state_changes(s: &mut String, sc: &Scene<'_>) {
    let (Some(names), l) = (sc.labels, sc.layout) else {
        return;
    };
    for &(t, task, label) in &sc.x.states {
        let (px, py) = (l.geo.x(t), l.lane(task));
        let below = task as usize + 1 == l.tasks && l.tasks > 1;
        let _ = writeln!(
            s,
            "<line class=\"state\" x1=\"{px}\" y1=\"{}\" x2=\"{px}\" y2=\"{}\" \
             stroke=\"{STATE_C}\" stroke-width=\"1.5\"/>\
             <text class=\"lbl\" x=\"{}\" y=\"{}\" font-size=\"12\" font-style=\"italic\" \
             fill=\"{STATE_C}\">{}</text>",
            n(py - 6.0),
            n(py + 6.0),
            n(px + 4.0),
            n(if below { py + 18.0 } else { py - 8.0 }),
            escape(names.name(label)),
            px = n(px),
        );
    }
}

/// Local snapshots: a diamond, filled when the snapshot completed, the id and (scripts) the
/// recorded state.
pub(super) fn local_snapshots(s: &mut String, sc: &Scene<'_>) {
    let l = sc.layout;
    let local = |id: u64, task: u32| -> Option<&LocalSnapshot> {
        sc.completed
            .get(&id)
            .and_then(|g| g.tasks.iter().find(|l| l.task == task))
    };
    for &(t, task, id) in &sc.x.snaps {
        let (px, py) = (l.geo.x(t), l.lane(task));
        let done = sc.completed.contains_key(&id);
        let _ = writeln!(
            s,
            "<path class=\"snap\" d=\"M{},{}l7,7l-7,7l-7,-7z\" fill=\"{}\" stroke=\"{SNAP_C}\" \
             stroke-width=\"1.8\"/>",
            n(px),
            n(py - 7.0),
            if done { SNAP_C } else { "#ffffff" },
        );
        let mut text = format!("#{id}");
        if let (Some(names), Some(ls)) = (sc.labels, local(id, task)) {
            if let Behaviour::Script(st) = &ls.state {
                let _ = write!(text, ": {}", names.name(st.state));
            }
        }
        let below = task > 0;
        let _ = writeln!(
            s,
            "<text class=\"lbl\" x=\"{}\" y=\"{}\" text-anchor=\"end\" font-weight=\"bold\" \
             fill=\"{SNAP_C}\">{}</text>",
            n(px - 9.0),
            n(if below { py + 22.0 } else { py - 10.0 }),
            escape(&text),
        );
    }
}

/// Message labels where they were placed along their arrows.
pub(super) fn message_labels(s: &mut String, placed: &[Placed]) {
    for (px, py, angle, text, colour, above, bold) in placed {
        let _ = writeln!(
            s,
            "<text class=\"lbl\" transform=\"translate({},{}) rotate({})\" y=\"{}\" \
             text-anchor=\"middle\" fill=\"{colour}\"{}>{}</text>",
            n(*px),
            n(*py),
            n(*angle),
            if *above { "-6" } else { "15" },
            if *bold { " font-weight=\"bold\"" } else { "" },
            escape(text),
        );
    }
}

/// Notes under the axis.
pub(super) fn notes(s: &mut String, l: &Layout) {
    for (i, note) in l.notes.iter().enumerate() {
        let _ = writeln!(
            s,
            "<text class=\"note\" x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#b71c1c\">{}</text>",
            n(l.left),
            n(l.notes_top + i as f64 * 18.0),
            escape(note),
        );
    }
}

/// Cut names, at the top end.
pub(super) fn cut_names(s: &mut String, sc: &Scene<'_>) {
    let l = sc.layout;
    for snap in sc.cuts {
        if let Some(top) = snap.tasks.iter().min_by_key(|t| t.task) {
            if top.taken_at >= l.t0 && top.taken_at <= l.t1 {
                let _ = writeln!(
                    s,
                    "<text class=\"lbl\" x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"{CUT_C}\">\
                     cut #{}</text>",
                    n(l.geo.x(top.taken_at) + 6.0),
                    n(l.lane(top.task) - 24.0),
                    snap.id,
                );
            }
        }
    }
}
