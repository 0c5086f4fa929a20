//! The legend: a sample of each kind of mark the diagram shows, drawn like it, and its name.

use std::fmt::Write as _;

use super::draw::{colour, escape, n, BP_C, CRASH_C, CUT_C, RECORDED_C, SNAP_C, STATE_C};
use super::extract::Class;
use super::layout::{Key, Layout};

/// The legend's rows, where the layout placed them.
pub(super) fn legend(s: &mut String, l: &Layout) {
    for (r, row) in l.rows.iter().enumerate() {
        let y = l.legend_top + r as f64 * 22.0 + 10.0;
        for (lx, k, text) in row {
            legend_swatch(s, *k, *lx, y);
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#424242\">{}</text>",
                n(lx + 38.0),
                n(y + 4.0),
                escape(text),
            );
        }
    }
}

/// Draws the sample of one legend entry, 30 px wide, centred on `y`.
fn legend_swatch(s: &mut String, k: Key, x: f64, y: f64) {
    let (a, b, yy) = (n(x), n(x + 30.0), n(y));
    let _ = match k {
        Key::Msg(Class::Data) => writeln!(
            s,
            "<line class=\"d\" x1=\"{a}\" y1=\"{yy}\" x2=\"{b}\" y2=\"{yy}\" \
             marker-end=\"url(#h-data)\"/>"
        ),
        Key::Msg(c) => writeln!(
            s,
            "<line x1=\"{a}\" y1=\"{yy}\" x2=\"{b}\" y2=\"{yy}\" stroke=\"{}\" stroke-width=\"{}\"{} \
             marker-end=\"url(#h-{})\"/>",
            colour(c),
            if c == Class::End { "1.2" } else { "2.4" },
            if c == Class::End {
                " stroke-dasharray=\"2 2\""
            } else {
                ""
            },
            c.name(),
        ),
        Key::Recorded => writeln!(
            s,
            "<line x1=\"{a}\" y1=\"{yy}\" x2=\"{b}\" y2=\"{yy}\" stroke=\"{RECORDED_C}\" \
             stroke-width=\"2.6\" stroke-dasharray=\"8 4\" marker-end=\"url(#h-rec)\"/>"
        ),
        Key::Replay => writeln!(
            s,
            "<line class=\"d\" x1=\"{a}\" y1=\"{yy}\" x2=\"{b}\" y2=\"{yy}\" \
             stroke-dasharray=\"3 3\" marker-end=\"url(#h-data)\"/>"
        ),
        Key::Lost => writeln!(
            s,
            "<line class=\"d\" x1=\"{a}\" y1=\"{yy}\" x2=\"{}\" y2=\"{yy}\" \
             stroke-dasharray=\"1 3\"/><path d=\"M{},{}l8,8m0,-8l-8,8\" stroke=\"{CRASH_C}\" \
             stroke-width=\"2\"/>",
            n(x + 26.0),
            n(x + 22.0),
            n(y - 4.0),
        ),
        Key::Snapshot => writeln!(
            s,
            "<path d=\"M{},{}l7,7l-7,7l-7,-7z\" fill=\"{SNAP_C}\" stroke=\"{SNAP_C}\" \
             stroke-width=\"1.8\"/>",
            n(x + 15.0),
            n(y - 7.0),
        ),
        Key::Cut => writeln!(
            s,
            "<path d=\"M{a},{}C{},{} {},{} {b},{}\" fill=\"none\" stroke=\"{CUT_C}\" \
             stroke-width=\"2.2\" stroke-dasharray=\"10 3 2 3\"/>",
            n(y - 7.0),
            n(x + 15.0),
            n(y - 7.0),
            n(x + 15.0),
            n(y + 7.0),
            n(y + 7.0),
        ),
        Key::State => writeln!(
            s,
            "<line x1=\"{a}\" y1=\"{yy}\" x2=\"{b}\" y2=\"{yy}\" stroke=\"#212121\" \
             stroke-width=\"1.6\"/><line x1=\"{m}\" y1=\"{}\" x2=\"{m}\" y2=\"{}\" \
             stroke=\"{STATE_C}\" stroke-width=\"1.5\"/>",
            n(y - 6.0),
            n(y + 6.0),
            m = n(x + 12.0),
        ),
        Key::BackPressure => writeln!(
            s,
            "<rect x=\"{a}\" y=\"{}\" width=\"30\" height=\"12\" fill=\"{BP_C}\" \
             fill-opacity=\"0.55\"/>",
            n(y - 6.0),
        ),
        Key::Crash => writeln!(
            s,
            "<rect x=\"{a}\" y=\"{}\" width=\"30\" height=\"16\" fill=\"{CRASH_C}\" \
             fill-opacity=\"0.13\" stroke=\"{CRASH_C}\" stroke-width=\"1\"/>",
            n(y - 8.0),
        ),
    };
}
