//! What the diagram shows, taken from a run's trace and completed snapshots.
//!
//! Message arrows with their fates, local snapshots, state changes, back-pressure and crashes
//! within the window: the model that layout and drawing work from.

use std::collections::BTreeMap;

use crate::engine::Time;
use crate::network::MsgKind;
use crate::protocols::{control_kind, control_kinds};
use crate::snapshot::GlobalSnapshot;
use crate::topology::Topology;
use crate::trace::matching::Matcher;
use crate::trace::TraceEvent;

/// What a message is, for the way it is drawn. The order is the legend's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Class {
    /// An application record.
    Data,
    /// A control message of a kind some protocol declares (in tag order).
    Control {
        /// The kind's tag.
        tag: u8,
        /// The kind's name.
        name: &'static str,
    },
    /// A control message with a tag no protocol declares.
    OtherControl,
    /// The end of a channel's input.
    End,
}

impl Class {
    pub(super) fn of(kind: u8, tag: u8) -> Class {
        if kind == MsgKind::Data as u8 {
            Class::Data
        } else if kind == MsgKind::EndOfInput as u8 {
            Class::End
        } else {
            control_kind(tag).map_or(Class::OtherControl, |k| Class::Control {
                tag: k.tag,
                name: k.name,
            })
        }
    }

    /// Every class a control message or end of input can have.
    pub(super) fn non_data() -> impl Iterator<Item = Class> {
        control_kinds()
            .into_iter()
            .map(|k| Class::Control {
                tag: k.tag,
                name: k.name,
            })
            .chain([Class::OtherControl, Class::End])
    }

    /// The short name, also the class of its lines in the SVG: `data`, `marker`, ...
    pub(super) fn name(self) -> &'static str {
        match self {
            Class::Data => "data",
            Class::Control { name, .. } => name,
            Class::OtherControl => "control",
            Class::End => "end",
        }
    }
}

/// How a message's line ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
    /// Received.
    Received,
    /// Lost in a crash.
    Lost,
    /// Still on its way when the trace ends.
    InFlight,
}

/// One message arrow.
#[derive(Debug, Clone)]
pub(super) struct Msg {
    /// Trace order of the send (or of the receive, for replays); draws and caps in this order.
    pub order: u64,
    pub class: Class,
    /// Sending task.
    pub src: u32,
    /// Receiving task.
    pub dst: u32,
    /// Send time (the recovery, for a replayed message).
    pub from: Time,
    /// Receive time, loss time or end of trace.
    pub to: Time,
    pub fate: Fate,
    /// Control number or data record key.
    pub num: u64,
    /// The completed snapshot whose channel state holds the message.
    pub recorded: Option<u64>,
    /// Put back in the channel by a recovery (recorded channel state).
    pub replay: bool,
}

/// What the trace holds within the window, ready to draw.
#[derive(Debug, Default)]
pub(super) struct Extract {
    pub msgs: Vec<Msg>,
    /// (time, task, id).
    pub snaps: Vec<(Time, u32, u64)>,
    /// (time, task, label).
    pub states: Vec<(Time, u32, u32)>,
    /// (task, from, to).
    pub backpressure: Vec<(u32, Time, Time)>,
    /// (crash, recovery or end, restored checkpoint when recovered).
    pub crashes: Vec<(Time, Time, Option<u64>)>,
}

/// The snapshot that recorded each message as channel state, by (epoch, ch, seq).
type RecordedMap = BTreeMap<(u32, u32, u64), u64>;

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
                    out.insert((epoch, *ch, m.seq), snap.id);
                }
            }
        }
    }
    out
}

/// The completed snapshots whose cut lies at least partly within the window.
pub(super) fn cuts_in_window(
    snapshots: &[GlobalSnapshot],
    (t0, t1): (Time, Time),
) -> Vec<&GlobalSnapshot> {
    snapshots
        .iter()
        .filter(|s| {
            let lo = s.tasks.iter().map(|l| l.taken_at).min().unwrap_or(0);
            let hi = s.tasks.iter().map(|l| l.taken_at).max().unwrap_or(0);
            !s.tasks.is_empty() && lo <= t1 && hi >= t0
        })
        .collect()
}

/// What the diagram shows of `events` within the window `(t0, t1)`.
pub(super) fn extract(
    events: &[TraceEvent],
    topo: &Topology,
    snapshots: &[GlobalSnapshot],
    window: (Time, Time),
) -> Extract {
    let mut ex = Extractor::new(events, topo, snapshots, window);
    for (i, e) in events.iter().enumerate() {
        let t = e.time();
        ex.last_t = ex.last_t.max(t);
        if t > window.1 && ex.open.is_empty() {
            break;
        }
        ex.event(i, e);
    }
    ex.finish()
}

/// The walk through the trace that [`extract`] makes.
struct Extractor<'a> {
    events: &'a [TraceEvent],
    topo: &'a Topology,
    t0: Time,
    t1: Time,
    recorded: RecordedMap,
    x: Extract,
    /// Finds each receive's send, by the send's index.
    matcher: Matcher<usize>,
    /// Messages sent (up to the window's end) and not yet received, by the send's index.
    open: BTreeMap<usize, Msg>,
    recovered_at: Time,
    bp_since: Vec<Option<Time>>,
    crashed_at: Option<Time>,
    last_t: Time,
}

impl<'a> Extractor<'a> {
    fn new(
        events: &'a [TraceEvent],
        topo: &'a Topology,
        snapshots: &[GlobalSnapshot],
        (t0, t1): (Time, Time),
    ) -> Self {
        Extractor {
            events,
            topo,
            t0,
            t1,
            recorded: recorded_messages(snapshots, &snapshot_epochs(events)),
            x: Extract::default(),
            matcher: Matcher::new(),
            open: BTreeMap::new(),
            recovered_at: 0,
            bp_since: vec![None; topo.tasks.len()],
            crashed_at: None,
            last_t: 0,
        }
    }

    /// True when a span of time overlaps the window.
    fn visible(&self, from: Time, to: Time) -> bool {
        from <= self.t1 && to >= self.t0
    }

    /// The (sender, receiver) of channel `ch`.
    fn channel(&self, ch: u32) -> Option<(u32, u32)> {
        self.topo.channels.get(ch as usize).map(|c| (c.src, c.dst))
    }

    /// Keeps a message if it shows in the window.
    fn keep(&mut self, m: Msg) {
        if self.visible(m.from, m.to) {
            self.x.msgs.push(m);
        }
    }

    fn event(&mut self, i: usize, e: &TraceEvent) {
        let t = e.time();
        match *e {
            TraceEvent::Send {
                ch,
                seq,
                kind,
                tag,
                num,
                ..
            } => self.send(i, t, (ch, seq), Class::of(kind, tag), num),
            TraceEvent::Receive { ch, seq, .. } => self.receive(i, t, ch, seq),
            TraceEvent::Crash { .. } => self.crash(t),
            TraceEvent::Recover { checkpoint, .. } => {
                self.matcher.on_recover();
                self.recovered_at = t;
                let from = self.crashed_at.take().unwrap_or(t);
                if self.visible(from, t) {
                    self.x.crashes.push((from, t, Some(checkpoint)));
                }
            }
            TraceEvent::BackPressure { task, on, .. } => self.back_pressure(t, task, on),
            TraceEvent::LocalSnapshot { task, id, .. } if t >= self.t0 && t <= self.t1 => {
                self.x.snaps.push((t, task, id));
            }
            TraceEvent::StateChange { task, label, .. } if t >= self.t0 && t <= self.t1 => {
                self.x.states.push((t, task, label));
            }
            _ => {}
        }
    }

    /// A send is remembered for its receive; within the window it is an open arrow.
    fn send(&mut self, i: usize, t: Time, (ch, seq): (u32, u64), class: Class, num: u64) {
        self.matcher.on_send(ch, seq, i);
        if t > self.t1 {
            return;
        }
        let Some((src, dst)) = self.channel(ch) else {
            return;
        };
        let recorded = self.recorded.get(&(self.matcher.epoch(), ch, seq)).copied();
        self.open.insert(
            i,
            Msg {
                order: i as u64,
                class,
                src,
                dst,
                from: t,
                to: t,
                fate: Fate::InFlight,
                num,
                recorded,
                replay: false,
            },
        );
    }

    /// A receive ends its open arrow, or, for a message restored by a recovery, is a replayed
    /// arrow from the recovery on.
    fn receive(&mut self, i: usize, t: Time, ch: u32, seq: u64) {
        let Some(matched) = self.matcher.on_receive(ch, seq) else {
            return;
        };
        if !matched.restored() {
            if let Some(mut m) = self.open.remove(&matched.send) {
                m.to = t;
                m.fate = Fate::Received;
                self.keep(m);
            }
            return;
        }
        let (Some((src, dst)), TraceEvent::Send { kind, tag, num, .. }) =
            (self.channel(ch), self.events[matched.send])
        else {
            return;
        };
        if self.visible(self.recovered_at, t) {
            self.x.msgs.push(Msg {
                order: i as u64,
                class: Class::of(kind, tag),
                src,
                dst,
                from: self.recovered_at,
                to: t,
                fate: Fate::Received,
                num,
                recorded: None,
                replay: true,
            });
        }
    }

    /// A crash loses every open message and ends back-pressure.
    fn crash(&mut self, t: Time) {
        for (_, mut m) in std::mem::take(&mut self.open) {
            m.to = t;
            m.fate = Fate::Lost;
            self.keep(m);
        }
        for task in 0..self.bp_since.len() {
            if let Some(s) = self.bp_since[task].take() {
                if self.visible(s, t) {
                    self.x.backpressure.push((task as u32, s, t));
                }
            }
        }
        self.crashed_at = Some(t);
    }

    fn back_pressure(&mut self, t: Time, task: u32, on: bool) {
        let Some(since) = self.bp_since.get(task as usize).copied() else {
            return;
        };
        if on {
            self.bp_since[task as usize] = Some(since.unwrap_or(t));
        } else if let Some(s) = since {
            self.bp_since[task as usize] = None;
            if self.visible(s, t) {
                self.x.backpressure.push((task, s, t));
            }
        }
    }

    /// Ends what the trace left open at its last event, in trace order.
    fn finish(mut self) -> Extract {
        let last_t = self.last_t;
        for (_, mut m) in std::mem::take(&mut self.open) {
            m.to = last_t.max(m.from);
            self.keep(m);
        }
        for task in 0..self.bp_since.len() {
            if let Some(s) = self.bp_since[task] {
                if self.visible(s, last_t) {
                    self.x.backpressure.push((task as u32, s, last_t.max(s)));
                }
            }
        }
        if let Some(c) = self.crashed_at {
            if self.visible(c, last_t) {
                self.x.crashes.push((c, last_t.max(c), None));
            }
        }
        self.x.msgs.sort_by_key(|m| m.order);
        self.x.backpressure.sort_unstable();
        self.x
    }
}
