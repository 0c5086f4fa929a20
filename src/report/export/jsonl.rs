//! The trace as JSON Lines: one JSON object per event, for scripts and `jq`.

use crate::trace::TraceEvent;

/// The events as JSON Lines: one JSON object per event and line, in trace order, tagged by
/// `"ev"` (`{"ev":"send","t":1000,"ch":0,...}`).
pub fn jsonl(events: &[TraceEvent]) -> String {
    let mut out = Vec::with_capacity(events.len() * 64);
    for e in events {
        serde_json::to_writer(&mut out, e).expect("trace events serialize");
        out.push(b'\n');
    }
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::report::export::test_runs::{cl_paper, job};

    fn check_jsonl(events: &[TraceEvent]) {
        let text = jsonl(events);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), events.len());
        assert!(text.ends_with('\n') || events.is_empty());
        for (line, e) in lines.iter().zip(events) {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(v["ev"].is_string(), "{line}");
            assert_eq!(v["t"].as_u64(), Some(e.time()), "{line}");
        }
    }

    #[test]
    fn jsonl_has_one_json_object_per_event() {
        let (_, events) = cl_paper();
        assert!(!events.is_empty());
        check_jsonl(&events);
        let (_, events) = job();
        check_jsonl(&events);
        assert_eq!(jsonl(&[]), "");
    }
}
