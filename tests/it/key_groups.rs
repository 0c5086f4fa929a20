//! Keyed exchanges route by Flink's key groups: each task of a keyed operator holds exactly the
//! keys whose key group falls in its range, for the default and an explicit max parallelism.

use serde_json::json;
use snapsim::keygroups::{default_max_parallelism, range, subtask_of};
use snapsim::scenario::Scenario;
use snapsim::trace::TraceMode;
use snapsim::workload::Behaviour;

use crate::support::{protocol, run};

fn job(parallelism: u32, max_parallelism: Option<u32>) -> Scenario {
    let mut count =
        json!({"name": "count", "kind": {"keyed_count": {}}, "parallelism": parallelism});
    if let Some(m) = max_parallelism {
        count["max_parallelism"] = json!(m);
    }
    let v = json!({
        "duration": "100ms",
        "dataflow": {
            "operators": [
                {"name": "src", "kind": {"source": {"rate": "20000/s", "keys": 300}}, "parallelism": 2},
                count,
                {"name": "sink", "kind": {"sink": {}}}
            ],
            "edges": [
                {"from": "src", "to": "count", "partition": "hash"},
                {"from": "count", "to": "sink", "partition": "rebalance"}
            ]
        }
    });
    Scenario::from_json(v.to_string().as_bytes(), "keys").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_key_lands_on_the_subtask_owning_its_key_group() {
    for (p, max) in [(4, None), (3, None), (3, Some(7)), (5, Some(5))] {
        let s = job(p, max);
        let m = max.unwrap_or_else(|| default_max_parallelism(p));
        let (r, out) = run(&s, protocol("none"), None, TraceMode::HashOnly);
        assert!(r.verdict.ok, "{:?}", r.verdict);
        let mut seen = 0;
        for (i, b) in out.final_states.iter().enumerate().skip(2).take(p as usize) {
            let Behaviour::Keyed { state, .. } = b else {
                panic!("task {i} is not keyed: {b:?}");
            };
            let subtask = (i - 2) as u32;
            let (first, last) = range(subtask, m, p);
            for &key in state.entries.keys() {
                assert_eq!(subtask_of(key, m, p), subtask, "key {key}, p {p}, max {m}");
                let kg = snapsim::keygroups::key_group(key, m);
                assert!((first..=last).contains(&kg));
                seen += 1;
            }
        }
        assert!(seen > 200, "most of the 300 keys were read: {seen}");
    }
}

#[test]
fn a_max_parallelism_below_the_parallelism_or_above_flinks_bound_is_refused() {
    for (p, max, why) in [
        (4, 3, "below the parallelism"),
        (1, 0, "between 1 and 32768"),
        (1, 40000, "between 1 and 32768"),
    ] {
        let mut v = serde_json::to_value(job(p, None)).unwrap();
        v["dataflow"]["operators"][1]["max_parallelism"] = json!(max);
        let e = Scenario::from_json(v.to_string().as_bytes(), "keys")
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains("dataflow.operators[1].max_parallelism") && e.contains(why),
            "{e}"
        );
    }
}
