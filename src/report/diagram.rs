//! Space-time diagrams of a run, as standalone SVG text written by hand.
//!
//! One horizontal line per task, time running left to right, an arrow per message from its
//! send point to its receive point. Markers, barriers and cancellations are drawn thicker in
//! their own colours; messages recorded as the channel state of a completed snapshot are
//! highlighted; each task's local snapshot is a diamond labelled with the snapshot id, and the
//! cut of every completed snapshot is a curve through its tasks' snapshot points.
//! Back-pressure is shaded on the task's line, a crash and its recovery are a vertical band.
//!
//! Messages are identified by (recovery epoch, channel, sequence number): sequence numbers
//! restart after a `Recover` event. Nothing here touches the filesystem, and the same input
//! gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::engine::{Time, MS, SEC, US};
use crate::network::MsgKind;
use crate::protocols::{BARRIER, CANCEL, MARKER};
use crate::snapshot::{GlobalSnapshot, LocalSnapshot};
use crate::topology::Topology;
use crate::trace::TraceEvent;
use crate::workload::{Behaviour, Labels};

/// At most this many data messages are drawn; control messages are always drawn.
const MAX_DATA: usize = 2_000;
/// Above this many drawn data messages, data arrows lose their heads.
const HEADS_UPTO: usize = 300;
/// Up to this many drawn messages, control messages are labelled too.
const LABEL_CONTROL_UPTO: usize = 60;

const DATA: &str = "#9e9e9e";
const DATA_FEW: &str = "#616161";
const MARKER_C: &str = "#1565c0";
const BARRIER_C: &str = "#ef6c00";
const CANCEL_C: &str = "#c62828";
const CONTROL_C: &str = "#6d4c41";
const END_C: &str = "#424242";
const RECORDED_C: &str = "#2e7d32";
const SNAP_C: &str = "#6a1b9a";
const CUT_C: &str = "#8e24aa";
const BP_C: &str = "#fbc02d";
const CRASH_C: &str = "#e53935";
const STATE_C: &str = "#37474f";

/// Horizontal room between a task's name and the window's start (and after its end), so
/// labels at the window's edges stay legible.
const PAD: f64 = 48.0;
const PLOT_W: f64 = 900.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Data,
    Marker,
    Barrier,
    Cancel,
    Control,
    End,
}

impl Class {
    fn of(kind: u8, tag: u8) -> Class {
        if kind == MsgKind::Data as u8 {
            Class::Data
        } else if kind == MsgKind::EndOfInput as u8 {
            Class::End
        } else {
            match tag {
                MARKER => Class::Marker,
                BARRIER => Class::Barrier,
                CANCEL => Class::Cancel,
                _ => Class::Control,
            }
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Class::Data => DATA,
            Class::Marker => MARKER_C,
            Class::Barrier => BARRIER_C,
            Class::Cancel => CANCEL_C,
            Class::Control => CONTROL_C,
            Class::End => END_C,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Class::Data => "data",
            Class::Marker => "marker",
            Class::Barrier => "barrier",
            Class::Cancel => "cancel",
            Class::Control => "control",
            Class::End => "end",
        }
    }

    fn legend(self) -> &'static str {
        match self {
            Class::Data => "data message",
            Class::Marker => "marker",
            Class::Barrier => "barrier",
            Class::Cancel => "cancellation",
            Class::Control => "other control message",
            Class::End => "end of input",
        }
    }
}

/// How a message's line ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Received.
    Received,
    /// Lost in a crash.
    Lost,
    /// Still on its way when the trace ends.
    InFlight,
}

#[derive(Debug, Clone)]
struct Msg {
    /// Trace order of the send (or of the receive, for replays); draws and caps in this order.
    order: u64,
    class: Class,
    src: u32,
    dst: u32,
    /// Send time (the recovery, for a replayed message).
    from: Time,
    /// Receive time, loss time or end of trace.
    to: Time,
    fate: Fate,
    num: u64,
    /// The completed snapshot whose channel state holds the message.
    recorded: Option<u64>,
    /// Put back in the channel by a recovery (recorded channel state).
    replay: bool,
}

/// A recorded message: which snapshot holds it, its number and whether it is data.
type RecordedMap = BTreeMap<(u32, u32, u64), (u64, u64, Class)>;

/// What the trace holds within the window, ready to draw.
#[derive(Debug, Default)]
struct Extract {
    msgs: Vec<Msg>,
    /// (time, task, id).
    snaps: Vec<(Time, u32, u64)>,
    /// (time, task, label).
    states: Vec<(Time, u32, u32)>,
    /// (task, from, to).
    backpressure: Vec<(u32, Time, Time)>,
    /// (crash, recovery or end, restored checkpoint when recovered).
    crashes: Vec<(Time, Time, Option<u64>)>,
}

/// The recovery epoch each snapshot was taken in, from the `LocalSnapshot` events.
fn snapshot_epochs(events: &[TraceEvent]) -> BTreeMap<u64, u32> {
    let mut epoch = 0;
    let mut out = BTreeMap::new();
    for e in events {
        match *e {
            TraceEvent::Recover { .. } => epoch += 1,
            TraceEvent::LocalSnapshot { id, .. } => {
                out.insert(id, epoch);
            }
            _ => {}
        }
    }
    out
}

/// Every message recorded as channel state by a completed snapshot, by (epoch, ch, seq).
fn recorded_messages(snapshots: &[GlobalSnapshot], epochs: &BTreeMap<u64, u32>) -> RecordedMap {
    let mut out = BTreeMap::new();
    for snap in snapshots {
        let epoch = epochs.get(&snap.id).copied().unwrap_or(0);
        for local in &snap.tasks {
            for (ch, msgs) in local.input_state.iter().chain(&local.output_state) {
                for m in msgs {
                    out.insert(
                        (epoch, *ch, m.seq),
                        (snap.id, m.num, Class::of(m.kind as u8, m.tag)),
                    );
                }
            }
        }
    }
    out
}

fn extract(
    events: &[TraceEvent],
    topo: &Topology,
    snapshots: &[GlobalSnapshot],
    (t0, t1): (Time, Time),
) -> Extract {
    let epochs = snapshot_epochs(events);
    let recorded = recorded_messages(snapshots, &epochs);
    let visible = |from: Time, to: Time| from <= t1 && to >= t0;
    let mut x = Extract::default();
    // Messages sent (up to the window's end) and not yet received, by (epoch, ch, seq).
    let mut open: BTreeMap<(u32, u32, u64), Msg> = BTreeMap::new();
    let mut epoch: u32 = 0;
    let mut restored_epoch: u32 = 0;
    let mut recovered_at: Time = 0;
    let mut bp_since: Vec<Option<Time>> = vec![None; topo.tasks.len()];
    let mut crashed_at: Option<Time> = None;
    let mut last_t: Time = 0;
    let channel = |ch: u32| topo.channels.get(ch as usize).map(|c| (c.src, c.dst));
    for (i, e) in events.iter().enumerate() {
        let t = e.time();
        last_t = last_t.max(t);
        if t > t1 && open.is_empty() {
            break;
        }
        match *e {
            TraceEvent::Send {
                ch,
                seq,
                kind,
                tag,
                num,
                ..
            } if t <= t1 => {
                let Some((src, dst)) = channel(ch) else {
                    continue;
                };
                let key = (epoch, ch, seq);
                open.insert(
                    key,
                    Msg {
                        order: i as u64,
                        class: Class::of(kind, tag),
                        src,
                        dst,
                        from: t,
                        to: t,
                        fate: Fate::InFlight,
                        num,
                        recorded: recorded.get(&key).map(|r| r.0),
                        replay: false,
                    },
                );
            }
            TraceEvent::Receive { ch, seq, .. } => {
                if let Some(mut m) = open.remove(&(epoch, ch, seq)) {
                    m.to = t;
                    m.fate = Fate::Received;
                    if visible(m.from, m.to) {
                        x.msgs.push(m);
                    }
                } else if epoch > 0 && visible(recovered_at, t) {
                    // Recorded channel state put back by the recovery.
                    if let (Some((src, dst)), Some(&(_, num, class))) =
                        (channel(ch), recorded.get(&(restored_epoch, ch, seq)))
                    {
                        x.msgs.push(Msg {
                            order: i as u64,
                            class,
                            src,
                            dst,
                            from: recovered_at,
                            to: t,
                            fate: Fate::Received,
                            num,
                            recorded: None,
                            replay: true,
                        });
                    }
                }
            }
            TraceEvent::Crash { .. } => {
                for (_, mut m) in std::mem::take(&mut open) {
                    m.to = t;
                    m.fate = Fate::Lost;
                    if visible(m.from, m.to) {
                        x.msgs.push(m);
                    }
                }
                for (task, since) in bp_since.iter_mut().enumerate() {
                    if let Some(s) = since.take() {
                        if visible(s, t) {
                            x.backpressure.push((task as u32, s, t));
                        }
                    }
                }
                crashed_at = Some(t);
            }
            TraceEvent::Recover { checkpoint, .. } => {
                epoch += 1;
                restored_epoch = epochs.get(&checkpoint).copied().unwrap_or(0);
                recovered_at = t;
                let from = crashed_at.take().unwrap_or(t);
                if visible(from, t) {
                    x.crashes.push((from, t, Some(checkpoint)));
                }
            }
            TraceEvent::BackPressure { task, on, .. } => {
                if let Some(since) = bp_since.get_mut(task as usize) {
                    if on {
                        since.get_or_insert(t);
                    } else if let Some(s) = since.take() {
                        if visible(s, t) {
                            x.backpressure.push((task, s, t));
                        }
                    }
                }
            }
            TraceEvent::LocalSnapshot { task, id, .. } if t >= t0 && t <= t1 => {
                x.snaps.push((t, task, id));
            }
            TraceEvent::StateChange { task, label, .. } if t >= t0 && t <= t1 => {
                x.states.push((t, task, label));
            }
            _ => {}
        }
    }
    for (_, mut m) in open {
        m.to = last_t.max(m.from);
        if visible(m.from, m.to) {
            x.msgs.push(m);
        }
    }
    for (task, since) in bp_since.into_iter().enumerate() {
        if let Some(s) = since {
            if visible(s, last_t) {
                x.backpressure.push((task as u32, s, last_t.max(s)));
            }
        }
    }
    if let Some(c) = crashed_at {
        if visible(c, last_t) {
            x.crashes.push((c, last_t.max(c), None));
        }
    }
    x.msgs.sort_by_key(|m| m.order);
    x.backpressure.sort_unstable();
    x
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

/// `1234567` as `1,234,567`.
fn thousands(n: usize) -> String {
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
struct Axis {
    unit: Time,
    unit_name: &'static str,
    step: Time,
    decimals: u32,
}

impl Axis {
    fn new(span: Time) -> Axis {
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
    fn precise(&self, t: Time) -> String {
        let whole = t / self.unit;
        let frac = u128::from(t % self.unit) * 1000 / u128::from(self.unit);
        if frac == 0 {
            return whole.to_string();
        }
        let digits = format!("{frac:03}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }

    fn format(&self, t: Time) -> String {
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
struct Geo {
    t0: Time,
    t1: Time,
    x0: f64,
    width: f64,
}

impl Geo {
    fn x(&self, t: Time) -> f64 {
        self.x0 + (t as f64 - self.t0 as f64) / (self.t1 - self.t0) as f64 * self.width
    }
}

/// Writes a number with one decimal, without `-0.0`.
fn n(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == 0.0 {
        "0".to_string()
    } else if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// One legend entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
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

/// A space-time diagram of `events` within `window` (inclusive, in simulated nanoseconds) as a
/// standalone SVG document.
///
/// `snapshots` are the completed snapshots: their recorded channel state is highlighted and
/// their cuts drawn. With `labels` (scripted runs), data messages are named by their label
/// and state changes are shown on the task's line.
pub fn svg(
    events: &[TraceEvent],
    topo: &Topology,
    snapshots: &[GlobalSnapshot],
    window: (Time, Time),
    title: &str,
    labels: Option<&Labels>,
) -> String {
    let t0 = window.0.min(Time::MAX - 1);
    let t1 = window.1.max(t0 + 1);
    let x = extract(events, topo, snapshots, (t0, t1));

    // The cap: every control message, the first data messages.
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
    let heads = drawn_data <= HEADS_UPTO;
    let label_control = msgs.len() <= LABEL_CONTROL_UPTO;

    // Layout.
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
    // Few messages: data arrows can be as easy to see as the rest.
    let (data_colour, data_width, data_head) = if label_control {
        (DATA_FEW, 1.6, 10.0)
    } else {
        (DATA, 1.0, 8.0)
    };
    let lane_y = |task: u32| -> f64 { f64::from(task) * gap };

    // Legend entries, in a fixed order, for what the diagram shows.
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    keys.insert(Key::Msg(Class::Data));
    for m in &msgs {
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
    if !x.snaps.is_empty() {
        keys.insert(Key::Snapshot);
    }
    let completed: BTreeMap<u64, &GlobalSnapshot> = snapshots.iter().map(|s| (s.id, s)).collect();
    let cuts: Vec<&GlobalSnapshot> = snapshots
        .iter()
        .filter(|s| {
            let lo = s.tasks.iter().map(|l| l.taken_at).min().unwrap_or(0);
            let hi = s.tasks.iter().map(|l| l.taken_at).max().unwrap_or(0);
            !s.tasks.is_empty() && lo <= t1 && hi >= t0
        })
        .collect();
    if !cuts.is_empty() {
        keys.insert(Key::Cut);
    }
    if labels.is_some() && !x.states.is_empty() {
        keys.insert(Key::State);
    }
    if !x.backpressure.is_empty() {
        keys.insert(Key::BackPressure);
    }
    if !x.crashes.is_empty() {
        keys.insert(Key::Crash);
    }
    let legend: Vec<(Key, String)> = keys
        .iter()
        .map(|&k| {
            let text = match k {
                Key::Msg(c) => c.legend().to_string(),
                Key::Recorded => "recorded channel state".to_string(),
                Key::Replay => "replayed after recovery".to_string(),
                Key::Lost => "lost in a crash".to_string(),
                Key::Snapshot => "local snapshot (id)".to_string(),
                Key::Cut => "cut of a completed snapshot".to_string(),
                Key::State => "state change".to_string(),
                Key::BackPressure => "back-pressure".to_string(),
                Key::Crash => "crash until recovery".to_string(),
            };
            (k, text)
        })
        .collect();
    // Legend rows.
    let mut rows: Vec<Vec<(f64, Key, &str)>> = vec![Vec::new()];
    let mut lx = left;
    for (k, text) in &legend {
        let w = 40.0 + 6.6 * text.chars().count() as f64 + 18.0;
        if lx + w > width - 16.0 && !rows.last().is_some_and(Vec::is_empty) {
            rows.push(Vec::new());
            lx = left;
        }
        rows.last_mut().expect("one row").push((lx, *k, text));
        lx += w;
    }
    let legend_top = 64.0;
    let lanes_top = legend_top + rows.len() as f64 * 22.0 + 58.0;
    let lanes_bottom = lanes_top + (tasks - 1) as f64 * gap;
    let plot_top = lanes_top - 40.0;
    let plot_bottom = lanes_bottom + 40.0;
    let axis_y = plot_bottom + 4.0;
    let mut notes: Vec<String> = Vec::new();
    if total_data > MAX_DATA {
        let control = msgs.len() - drawn_data;
        notes.push(format!(
            "Too many messages to draw: showing the first {} of {} data messages in the window{}.",
            thousands(MAX_DATA),
            thousands(total_data),
            match control {
                0 => String::new(),
                1 => ", and the one control message".to_string(),
                c => format!(", and all {} control messages", thousands(c)),
            },
        ));
    }
    let notes_top = axis_y + 56.0;
    let height = notes_top + notes.len() as f64 * 18.0 + 12.0;

    let mut s = String::with_capacity(4096 + msgs.len() * 80);
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">",
        w = n(width),
        h = n(height),
    );
    s.push_str("<style>");
    let _ = write!(
        s,
        ".d{{stroke:{data_colour};stroke-width:{data_width}}}.dn{{stroke:#bdbdbd;stroke-width:0.6}}\
         .lane{{stroke:#212121;stroke-width:1.6}}.grid{{stroke:#ececec;stroke-width:1}}\
         .lbl{{font-size:13px;paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}}"
    );
    s.push_str("</style>\n");
    // Arrow heads.
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
    head("h-data", data_colour, data_head);
    for c in [
        Class::Marker,
        Class::Barrier,
        Class::Cancel,
        Class::Control,
        Class::End,
    ] {
        head(&format!("h-{}", c.name()), c.colour(), 11.0);
    }
    head("h-rec", RECORDED_C, 11.0);
    let _ = writeln!(
        s,
        "<clipPath id=\"window\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath>",
        n(geo.x0),
        n(plot_top),
        n(PLOT_W),
        n(plot_bottom - plot_top),
    );
    s.push_str("</defs>\n");
    let _ = writeln!(
        s,
        "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"{}\" y=\"32\" font-size=\"20\" font-weight=\"bold\" fill=\"#212121\">{}</text>",
        n(left),
        escape(title),
    );
    let axis = Axis::new(t1 - t0);
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"52\" font-size=\"12\" fill=\"#757575\">window {} – {} {} · {} \
         task{} · {} message{}</text>",
        n(left),
        axis.precise(t0),
        axis.precise(t1),
        axis.unit_name,
        tasks,
        if tasks == 1 { "" } else { "s" },
        thousands(msgs.len()),
        if msgs.len() == 1 { "" } else { "s" },
    );

    // Legend.
    for (r, row) in rows.iter().enumerate() {
        let y = legend_top + r as f64 * 22.0 + 10.0;
        for &(lx, k, text) in row {
            legend_swatch(&mut s, k, lx, y);
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#424242\">{}</text>",
                n(lx + 38.0),
                n(y + 4.0),
                escape(text),
            );
        }
    }

    // Grid and time axis.
    let first_tick = t0.div_ceil(axis.step) * axis.step;
    let mut ticks = Vec::new();
    let mut tick = first_tick;
    while tick <= t1 {
        ticks.push(tick);
        tick += axis.step;
    }
    s.push_str("<g>\n");
    for &tk in &ticks {
        let tx = n(geo.x(tk));
        let _ = writeln!(
            s,
            "<line class=\"grid\" x1=\"{tx}\" y1=\"{}\" x2=\"{tx}\" y2=\"{}\"/>",
            n(plot_top),
            n(axis_y),
        );
    }
    let _ = writeln!(
        s,
        "<line x1=\"{}\" y1=\"{ay}\" x2=\"{}\" y2=\"{ay}\" stroke=\"#616161\" stroke-width=\"1\"/>",
        n(geo.x0),
        n(geo.x0 + PLOT_W),
        ay = n(axis_y),
    );
    for &tk in &ticks {
        let tx = n(geo.x(tk));
        let _ = writeln!(
            s,
            "<line x1=\"{tx}\" y1=\"{}\" x2=\"{tx}\" y2=\"{}\" stroke=\"#616161\"/>\
             <text x=\"{tx}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" \
             fill=\"#424242\">{}</text>",
            n(axis_y),
            n(axis_y + 5.0),
            n(axis_y + 20.0),
            axis.format(tk),
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#424242\">\
         time ({})</text>",
        n(geo.x0 + PLOT_W / 2.0),
        n(axis_y + 40.0),
        axis.unit_name,
    );
    s.push_str("</g>\n");

    // Everything tied to time is clipped to the window.
    s.push_str("<g clip-path=\"url(#window)\">\n");
    for &(from, to, restored) in &x.crashes {
        let (a, b) = (geo.x(from), geo.x(to));
        let _ = writeln!(
            s,
            "<rect class=\"crash\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{CRASH_C}\" \
             fill-opacity=\"0.13\"/>\
             <line x1=\"{a}\" y1=\"{top}\" x2=\"{a}\" y2=\"{bot}\" stroke=\"{CRASH_C}\" \
             stroke-width=\"1.5\"/>",
            n(a),
            n(plot_top),
            n((b - a).max(1.0)),
            n(plot_bottom - plot_top),
            a = n(a),
            top = n(plot_top),
            bot = n(plot_bottom),
        );
        if restored.is_some() {
            let _ = writeln!(
                s,
                "<line x1=\"{b}\" y1=\"{}\" x2=\"{b}\" y2=\"{}\" stroke=\"{CRASH_C}\" \
                 stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>",
                n(plot_top),
                n(plot_bottom),
                b = n(b),
            );
        }
    }
    for &(task, from, to) in &x.backpressure {
        let y = lanes_top + lane_y(task);
        let (a, b) = (geo.x(from), geo.x(to));
        let _ = writeln!(
            s,
            "<rect class=\"bp\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"12\" fill=\"{BP_C}\" \
             fill-opacity=\"0.55\"/>",
            n(a),
            n(y - 6.0),
            n((b - a).max(1.0)),
        );
    }
    for task in 0..topo.tasks.len() as u32 {
        let y = n(lanes_top + lane_y(task));
        let _ = writeln!(
            s,
            "<line class=\"lane\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>",
            n(geo.x0),
            n(geo.x0 + PLOT_W),
        );
    }
    // Messages: data first, then recorded channel state, then control messages on top.
    let point = |m: &Msg| {
        let (ys, yd) = (lanes_top + lane_y(m.src), lanes_top + lane_y(m.dst));
        let (xa, xb) = (geo.x(m.from), geo.x(m.to));
        // A message never received ends where its receiver was when it was lost or the trace
        // ended.
        (xa, ys, xb, yd)
    };
    // Lines a label should keep clear of, and the labels still to place.
    let mut segments: Vec<(f64, f64, f64, f64)> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    for pass in 0..3 {
        for m in &msgs {
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
            let (xa, ya, xb, yb) = point(m);
            let ended = m.fate == Fate::Received;
            if m.recorded.is_some() {
                let _ = writeln!(
                    s,
                    "<path class=\"rec\" d=\"M{},{}L{},{}\" fill=\"none\" stroke=\"{RECORDED_C}\" \
                     {}{}/>",
                    n(xa),
                    n(ya),
                    n(xb),
                    n(yb),
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
                    "<line class=\"{}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"{dash}{}/>",
                    if heads { "d" } else { "dn" },
                    n(xa),
                    n(ya),
                    n(xb),
                    n(yb),
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
                    "<path class=\"c {name}\" d=\"M{},{}L{},{}\" fill=\"none\" stroke=\"{}\" \
                     stroke-width=\"{}\"{dash}{}/>",
                    n(xa),
                    n(ya),
                    n(xb),
                    n(yb),
                    m.class.colour(),
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
                    n(xb - 4.0),
                    n(yb - 4.0),
                );
            }
            // The message's name (scripts) or, in small diagrams, what control message it is.
            let text = match (m.class, labels) {
                (Class::Data, Some(l)) if !m.replay => u32::try_from(m.num)
                    .ok()
                    .map(|i| l.name(i))
                    .filter(|name| *name != "?")
                    .map(str::to_string),
                (Class::Marker | Class::Barrier | Class::Cancel, _) if label_control => {
                    Some(format!("{} {}", m.class.name(), m.num))
                }
                _ => None,
            };
            segments.push((xa, ya, xb, yb));
            if let Some(text) = text {
                let colour = if m.recorded.is_some() {
                    RECORDED_C
                } else if m.class == Class::Data {
                    "#212121"
                } else {
                    m.class.colour()
                };
                pending.push(Pending {
                    seg: (xa, ya, xb, yb),
                    own: segments.len() - 1,
                    text,
                    colour,
                    data: m.class == Class::Data,
                });
            }
        }
    }
    // Cuts: a curve through each completed snapshot's points, past the first and last lines.
    for snap in &cuts {
        let mut pts: Vec<(f64, f64)> = snap
            .tasks
            .iter()
            .map(|l| (geo.x(l.taken_at), lanes_top + lane_y(l.task)))
            .collect();
        pts.sort_by(|a, b| a.1.total_cmp(&b.1));
        let Some(&(fx, fy)) = pts.first() else {
            continue;
        };
        let mut d = format!("M{},{}L{},{}", n(fx), n(fy - 34.0), n(fx), n(fy));
        for w in pts.windows(2) {
            // Vertical at both points, bulging towards the past (left), so the curve does not
            // run along a marker that joins the same two points.
            let ((ax, ay), (bx, by)) = (w[0], w[1]);
            let (ka, kb) = if ax <= bx { (0.8, 0.2) } else { (0.2, 0.8) };
            let _ = write!(
                d,
                "C{},{} {},{} {},{}",
                n(ax),
                n(ay + (by - ay) * ka),
                n(bx),
                n(by - (by - ay) * kb),
                n(bx),
                n(by)
            );
        }
        let &(lx, ly) = pts.last().expect("not empty");
        let _ = write!(d, "L{},{}", n(lx), n(ly + 26.0));
        for w in pts.windows(2) {
            let ((ax, ay), (bx, by)) = (w[0], w[1]);
            let (ka, kb) = if ax <= bx { (0.8, 0.2) } else { (0.2, 0.8) };
            let ctl = [
                (ax, ay),
                (ax, ay + (by - ay) * ka),
                (bx, by - (by - ay) * kb),
                (bx, by),
            ];
            let mut prev = (ax, ay);
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
    s.push_str("</g>\n");
    let msg_labels = place_labels(&pending, &segments, msgs.len() <= 200, &geo);

    // Lane names, tied to their lines by a faint lead-in.
    for (i, t) in topo.tasks.iter().enumerate() {
        let y = n(lanes_top + lane_y(i as u32));
        let _ = writeln!(
            s,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#bdbdbd\" \
             stroke-width=\"1\"/>",
            n(left + 2.0),
            n(geo.x0),
        );
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"{lane_font}\" font-weight=\"bold\" \
             text-anchor=\"end\" fill=\"#212121\">{}</text>",
            n(left - 4.0),
            n(lanes_top + lane_y(i as u32) + f64::from(lane_font) * 0.35),
            escape(&t.name),
        );
    }
    // Crash labels.
    for &(from, to, restored) in &x.crashes {
        if from >= t0 && from <= t1 {
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{CRASH_C}\">crash</text>",
                n(geo.x(from) + 3.0),
                n(plot_top + 12.0),
            );
        }
        if let Some(k) = restored {
            if to >= t0 && to <= t1 {
                let text = if k == 0 {
                    "restart from scratch".to_string()
                } else {
                    format!("restore #{k}")
                };
                let _ = writeln!(
                    s,
                    "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{CRASH_C}\">{}</text>",
                    n(geo.x(to) + 3.0),
                    n(plot_top + 26.0),
                    escape(&text),
                );
            }
        }
    }
    // State changes: a tick on the line and the new state's name.
    if let Some(l) = labels {
        for &(t, task, label) in &x.states {
            let (px, py) = (geo.x(t), lanes_top + lane_y(task));
            let below = task as usize + 1 == tasks && tasks > 1;
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
                escape(l.name(label)),
                px = n(px),
            );
        }
    }
    // Message labels along their arrows.
    for (px, py, angle, text, colour, above, bold) in &msg_labels {
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
    // Local snapshots: a diamond, the id and (scripts) the recorded state.
    let local = |id: u64, task: u32| -> Option<&LocalSnapshot> {
        completed
            .get(&id)
            .and_then(|g| g.tasks.iter().find(|l| l.task == task))
    };
    for &(t, task, id) in &x.snaps {
        let (px, py) = (geo.x(t), lanes_top + lane_y(task));
        let done = completed.contains_key(&id);
        let _ = writeln!(
            s,
            "<path class=\"snap\" d=\"M{},{}l7,7l-7,7l-7,-7z\" fill=\"{}\" stroke=\"{SNAP_C}\" \
             stroke-width=\"1.8\"/>",
            n(px),
            n(py - 7.0),
            if done { SNAP_C } else { "#ffffff" },
        );
        let mut text = format!("#{id}");
        if let (Some(l), Some(ls)) = (labels, local(id, task)) {
            if let Behaviour::Script(st) = &ls.state {
                let _ = write!(text, ": {}", l.name(st.state));
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
    // Cut names, at the top end.
    for snap in &cuts {
        if let Some(top) = snap.tasks.iter().min_by_key(|l| l.task) {
            if top.taken_at >= t0 && top.taken_at <= t1 {
                let _ = writeln!(
                    s,
                    "<text class=\"lbl\" x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"{CUT_C}\">\
                     cut #{}</text>",
                    n(geo.x(top.taken_at) + 6.0),
                    n(lanes_top + lane_y(top.task) - 24.0),
                    snap.id,
                );
            }
        }
    }
    for (i, note) in notes.iter().enumerate() {
        let _ = writeln!(
            s,
            "<text class=\"note\" x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#b71c1c\">{}</text>",
            n(left),
            n(notes_top + i as f64 * 18.0),
            escape(note),
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A message label still to be placed along its arrow.
#[derive(Debug, Clone)]
struct Pending {
    seg: (f64, f64, f64, f64),
    /// Index of the message's own line in the obstacles.
    own: usize,
    text: String,
    colour: &'static str,
    data: bool,
}

/// A point of a cubic Bézier curve.
fn bezier(c: [(f64, f64); 4], t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    let (a, b, cc, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    (
        a * c[0].0 + b * c[1].0 + cc * c[2].0 + d * c[3].0,
        a * c[0].1 + b * c[1].1 + cc * c[2].1 + d * c[3].1,
    )
}

/// Distance from a point to a segment.
fn distance(p: (f64, f64), s: (f64, f64, f64, f64)) -> f64 {
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

/// A placed label: position, rotation, text, colour, whether it is above its line, bold.
type Placed = (f64, f64, f64, String, &'static str, bool, bool);

/// Places each label along its arrow, on the side and at the point farthest from other lines
/// and labels (`search`), or at a fixed point. Labels outside the window are dropped.
fn place_labels(
    pending: &[Pending],
    segments: &[(f64, f64, f64, f64)],
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
            c.colour(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::ProtocolKind;
    use crate::scenario::Scenario;
    use crate::trace::TraceMode;
    use crate::{simulate_full, RunOptions};

    fn scenario(name: &str) -> Scenario {
        let path = format!("{}/scenarios/{name}.json", env!("CARGO_MANIFEST_DIR"));
        Scenario::from_json(&std::fs::read(path).unwrap(), name).unwrap()
    }

    fn run(name: &str, protocol: ProtocolKind) -> crate::sim::RunOutput {
        let opts = RunOptions {
            protocol,
            seed: None,
            trace: TraceMode::Full,
            mutant: None,
            max_events: crate::DEFAULT_MAX_EVENTS,
        };
        simulate_full(&scenario(name), &opts, &mut |_, _| {})
            .expect("scenario runs")
            .1
    }

    /// A minimal well-formedness check: one root, tags balanced and properly nested, attribute
    /// values quoted, no `<` in text, entities known.
    fn check_well_formed(doc: &str) -> Result<(), String> {
        let mut stack: Vec<String> = Vec::new();
        let mut roots = 0;
        let mut rest = doc.trim();
        while !rest.is_empty() {
            if let Some(body) = rest.strip_prefix('<') {
                let end = body.find('>').ok_or("unclosed tag")?;
                let tag = &body[..end];
                rest = &body[end + 1..];
                if let Some(name) = tag.strip_prefix('/') {
                    let open = stack.pop().ok_or(format!("stray </{name}>"))?;
                    if open != name.trim() {
                        return Err(format!("<{open}> closed by </{name}>"));
                    }
                    continue;
                }
                if tag.starts_with('?') || tag.starts_with('!') {
                    continue;
                }
                let self_closing = tag.ends_with('/');
                let tag = tag.trim_end_matches('/');
                let name = tag.split_whitespace().next().ok_or("empty tag")?;
                let attrs = &tag[name.len()..];
                if attrs.matches('"').count() % 2 != 0 || attrs.contains('<') {
                    return Err(format!("bad attributes in <{tag}>"));
                }
                check_entities(attrs)?;
                if stack.is_empty() {
                    roots += 1;
                }
                if !self_closing {
                    stack.push(name.to_string());
                }
            } else {
                let end = rest.find('<').unwrap_or(rest.len());
                if stack.is_empty() && !rest[..end].trim().is_empty() {
                    return Err("text outside the root".into());
                }
                check_entities(&rest[..end])?;
                rest = &rest[end..];
            }
        }
        if !stack.is_empty() {
            return Err(format!("unclosed {stack:?}"));
        }
        if roots != 1 {
            return Err(format!("{roots} roots"));
        }
        Ok(())
    }

    fn check_entities(text: &str) -> Result<(), String> {
        for (i, _) in text.match_indices('&') {
            let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| text[i..].starts_with(e));
            if !ok {
                return Err(format!("bad entity at {:?}", &text[i..]));
            }
        }
        Ok(())
    }

    fn cl_paper_svg() -> String {
        let out = run("cl-paper", "chandy-lamport".parse().unwrap());
        let topo = Topology::build(&scenario("cl-paper"), 0).unwrap();
        let events = out.trace.events();
        let end = events.iter().map(TraceEvent::time).max().unwrap();
        svg(
            events,
            &topo,
            &out.snapshots,
            (0, end + end / 10),
            "Chandy–Lamport: the paper's example",
            Some(&out.labels),
        )
    }

    #[test]
    fn cl_paper_shows_the_messages_markers_snapshot_and_recorded_state() {
        let doc = cl_paper_svg();
        check_well_formed(&doc).unwrap();
        assert!(doc.starts_with("<svg "));
        assert!(doc.contains(">p</text>") && doc.contains(">q</text>"));
        assert!(doc.contains(">M</text>"), "M is named");
        assert!(doc.contains(">M&apos;</text>"), "M' is named");
        assert_eq!(
            doc.matches("class=\"c marker\" d=").count(),
            2,
            "a marker each way"
        );
        assert!(doc.contains(&format!("stroke=\"{MARKER_C}\"")));
        // M' (and only M') is highlighted as recorded channel state, in green.
        assert_eq!(doc.matches("class=\"rec\"").count(), 1);
        let label = |name: &str| -> &str {
            let end = doc.find(&format!(">{name}</text>")).unwrap();
            &doc[doc[..end].rfind("<text").unwrap()..end]
        };
        assert!(
            label("M&apos;").contains(RECORDED_C),
            "M' is named in green"
        );
        assert!(!label("M").contains(RECORDED_C), "M is not recorded");
        // Both local snapshots, with the recorded states A and D, and the cut.
        assert_eq!(doc.matches("class=\"snap\"").count(), 2);
        assert!(doc.contains(">#1: A</text>") && doc.contains(">#1: D</text>"));
        assert_eq!(doc.matches("class=\"cut\"").count(), 1);
        // State changes are shown.
        assert!(doc.contains(">B</text>") && doc.contains(">D</text>"));
        assert_eq!(doc, cl_paper_svg(), "deterministic");

        let dir = std::env::temp_dir().join("snapsim-diagram");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cl-paper.svg"), &doc).unwrap();
    }

    #[test]
    fn quickstart_window_stays_small() {
        let out = run("quickstart", "aligned".parse().unwrap());
        let topo = Topology::build(&scenario("quickstart"), 1).unwrap();
        let window = (200 * MS, 205 * MS);
        let doc = svg(
            out.trace.events(),
            &topo,
            &out.snapshots,
            window,
            "quickstart, aligned",
            None,
        );
        check_well_formed(&doc).unwrap();
        assert!(doc.len() < 600_000, "{} bytes", doc.len());
        assert!(
            doc.contains("class=\"c barrier\""),
            "the first checkpoint's barriers"
        );
        assert!(doc.matches("class=\"dn\"").count() <= MAX_DATA);
        let dir = std::env::temp_dir().join("snapsim-diagram");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("quickstart.svg"), &doc).unwrap();
    }

    #[test]
    fn a_crash_and_its_recovery_under_unaligned_checkpoints() {
        let out = run("failures", "unaligned".parse().unwrap());
        let topo = Topology::build(&scenario("failures"), 1).unwrap();
        let events = out.trace.events();
        let crash = events
            .iter()
            .find_map(|e| match *e {
                TraceEvent::Crash { t } => Some(t),
                _ => None,
            })
            .expect("the scenario crashes");
        let recover = events
            .iter()
            .find_map(|e| match *e {
                TraceEvent::Recover { t, .. } => Some(t),
                _ => None,
            })
            .expect("and recovers");
        let doc = svg(
            events,
            &topo,
            &out.snapshots,
            (crash - 2 * MS, recover + 3 * MS),
            "failures, unaligned: a crash",
            None,
        );
        check_well_formed(&doc).unwrap();
        assert_eq!(doc.matches("class=\"crash\"").count(), 1);
        assert!(doc.contains("crash until recovery"));
        // A completed unaligned checkpoint records in-flight data as channel state.
        let snap = out
            .snapshots
            .iter()
            .find(|g| g.tasks.iter().any(|l| l.channel_state_bytes() > 0))
            .expect("some channel state");
        let (lo, hi) = snap.tasks.iter().fold((Time::MAX, 0), |(lo, hi), l| {
            (lo.min(l.taken_at), hi.max(l.taken_at))
        });
        let doc2 = svg(
            events,
            &topo,
            &out.snapshots,
            (lo.saturating_sub(MS), hi + MS),
            "failures, unaligned: a checkpoint",
            None,
        );
        check_well_formed(&doc2).unwrap();
        assert!(
            doc2.contains("class=\"rec\""),
            "recorded channel state is highlighted"
        );
        assert!(doc2.contains("class=\"cut\""));
        let dir = std::env::temp_dir().join("snapsim-diagram");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("failures-crash.svg"), &doc).unwrap();
        // After the recovery, the restored channel state is delivered again.
        let doc3 = svg(
            events,
            &topo,
            &out.snapshots,
            (recover - MS / 2, recover + 3 * MS / 2),
            "failures, unaligned: the recovery",
            None,
        );
        check_well_formed(&doc3).unwrap();
        assert!(doc3.contains("replayed after recovery"));
        std::fs::write(dir.join("failures-recovery.svg"), &doc3).unwrap();
        std::fs::write(dir.join("failures-checkpoint.svg"), &doc2).unwrap();
    }

    #[test]
    fn too_many_messages_are_capped_with_a_note() {
        let topo = Topology::build(&scenario("cl-paper"), 0).unwrap();
        let mut events = Vec::new();
        for i in 0..3_000u64 {
            events.push(TraceEvent::Send {
                t: i * 10,
                ch: 0,
                seq: i,
                bytes: 16,
                kind: 0,
                tag: 0,
                num: 0,
            });
            events.push(TraceEvent::Receive {
                t: i * 10 + 5,
                ch: 0,
                seq: i,
            });
        }
        events.push(TraceEvent::Send {
            t: 29_990,
            ch: 1,
            seq: 0,
            bytes: 16,
            kind: 1,
            tag: MARKER,
            num: 7,
        });
        events.push(TraceEvent::Receive {
            t: 29_999,
            ch: 1,
            seq: 0,
        });
        events.sort_by_key(TraceEvent::time);
        let doc = svg(
            &events,
            &topo,
            &[],
            (0, 30_000),
            "a <busy> & 'noisy' run",
            None,
        );
        check_well_formed(&doc).unwrap();
        assert_eq!(doc.matches("class=\"dn\" ").count(), MAX_DATA);
        assert_eq!(doc.matches("class=\"c marker\" d=").count(), 1);
        assert!(doc.contains("showing the first 2,000 of 3,000 data messages"));
        assert!(doc.contains("a &lt;busy&gt; &amp; &apos;noisy&apos; run"));
    }

    #[test]
    fn crashes_lost_and_replayed_messages_and_back_pressure_are_drawn() {
        let topo = Topology::build(&scenario("cl-paper"), 0).unwrap();
        let events = vec![
            TraceEvent::BackPressure {
                t: 10,
                task: 0,
                on: true,
            },
            TraceEvent::Send {
                t: 20,
                ch: 0,
                seq: 0,
                bytes: 16,
                kind: 0,
                tag: 0,
                num: 0,
            },
            TraceEvent::BackPressure {
                t: 30,
                task: 0,
                on: false,
            },
            TraceEvent::Crash { t: 40 },
            TraceEvent::Recover {
                t: 60,
                checkpoint: 0,
            },
        ];
        let doc = svg(&events, &topo, &[], (0, 100), "crash", None);
        check_well_formed(&doc).unwrap();
        assert_eq!(doc.matches("class=\"bp\"").count(), 1);
        assert_eq!(doc.matches("class=\"crash\"").count(), 1);
        assert!(doc.contains("lost in a crash") && doc.contains("restart from scratch"));
        assert!(doc.contains("time (ns)"));
    }

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
