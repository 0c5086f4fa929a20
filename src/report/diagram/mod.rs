//! Space-time diagrams of a run, as standalone SVG text written by hand.
//!
//! One horizontal line per task, time running left to right, an arrow per message from its
//! send point to its receive point. Markers, barriers and cancellations are drawn thicker in
//! their own colours; messages recorded as the channel state of a completed snapshot are
//! highlighted; each task's local snapshot is a diamond labelled with the snapshot id, and the
//! cut of every completed snapshot is a curve through its tasks' snapshot points.
//! Back-pressure is shaded on the task's line, a crash and its recovery are a vertical band.
//!
//! The trace becomes the diagram's model in `extract` (receives matched to sends by
//! [`crate::trace::matching`], so a message restored by a recovery is drawn again from the
//! recovery on), `layout` gives the model its places, and `draw` and `legend` write the SVG.
//! Nothing here touches the filesystem, and the same input gives the same bytes.

mod draw;
mod extract;
mod layout;
mod legend;

pub use draw::escape;

use crate::engine::Time;
use crate::snapshot::GlobalSnapshot;
use crate::topology::Topology;
use crate::trace::TraceEvent;
use crate::workload::Labels;

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
    let x = extract::extract(events, topo, snapshots, (t0, t1));
    let shown = layout::Shown::cap(&x);
    let cuts = extract::cuts_in_window(snapshots, (t0, t1));
    let has = (!cuts.is_empty(), labels.is_some());
    let layout = layout::Layout::new(topo, &x, &shown, has, (t0, t1));
    let sc = draw::Scene {
        topo,
        x: &x,
        shown: &shown,
        layout: &layout,
        cuts: &cuts,
        completed: snapshots.iter().map(|s| (s.id, s)).collect(),
        title,
        labels,
    };
    let mut s = String::with_capacity(4096 + shown.msgs.len() * 80);
    draw::prologue(&mut s, &sc);
    draw::title(&mut s, &sc);
    legend::legend(&mut s, &layout);
    draw::time_axis(&mut s, &layout);
    // Everything tied to time is clipped to the window.
    s.push_str("<g clip-path=\"url(#window)\">\n");
    draw::crash_bands(&mut s, &sc);
    draw::back_pressure_and_lanes(&mut s, &sc);
    let (mut segments, pending) = draw::messages(&mut s, &sc);
    draw::cuts(&mut s, &sc, &mut segments);
    s.push_str("</g>\n");
    // Labels go where the lines just drawn leave room; they are drawn above everything.
    let search = shown.msgs.len() <= 200;
    let placed = layout::place_labels(&pending, &segments, search, &layout.geo);
    draw::lane_names(&mut s, &sc);
    draw::crash_labels(&mut s, &sc);
    draw::state_changes(&mut s, &sc);
    draw::message_labels(&mut s, &placed);
    draw::local_snapshots(&mut s, &sc);
    draw::cut_names(&mut s, &sc);
    draw::notes(&mut s, &layout);
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::draw::{MARKER_C, RECORDED_C};
    use super::layout::MAX_DATA;
    use super::*;
    use crate::engine::MS;
    use crate::protocols::{ProtocolKind, MARKER_KIND};
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
            tag: MARKER_KIND.tag,
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
    fn a_message_restored_twice_is_replayed_from_the_second_recovery() {
        // Sent, lost in a crash and restored; recorded again and lost in a second crash before
        // it was received; restored again and received.
        let topo = Topology::build(&scenario("cl-paper"), 0).unwrap();
        let events = vec![
            TraceEvent::Send {
                t: 10,
                ch: 0,
                seq: 0,
                bytes: 16,
                kind: 0,
                tag: 0,
                num: 0,
            },
            TraceEvent::Crash { t: 20 },
            TraceEvent::Recover {
                t: 30,
                checkpoint: 1,
            },
            TraceEvent::Crash { t: 40 },
            TraceEvent::Recover {
                t: 50,
                checkpoint: 2,
            },
            TraceEvent::Receive {
                t: 60,
                ch: 0,
                seq: 0,
            },
        ];
        let doc = svg(&events, &topo, &[], (0, 100), "restored twice", None);
        check_well_formed(&doc).unwrap();
        assert!(doc.contains("lost in a crash") && doc.contains("replayed after recovery"));
        let replays: Vec<&str> = doc
            .lines()
            .filter(|l| l.starts_with("<line class=\"d\"") && l.contains("dasharray=\"3 3\""))
            .collect();
        assert_eq!(
            replays.len(),
            2,
            "the legend's sample and one arrow: {replays:?}"
        );
        // From the second recovery (t = 50 of 100) to the receive (t = 60).
        let x_of = |attr: &str| -> f64 {
            replays[1]
                .split(&format!("{attr}=\""))
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        let (x1, x2) = (x_of("x1"), x_of("x2"));
        assert!((x2 - x1 - 90.0).abs() < 0.2, "{x1} {x2}");
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
}
