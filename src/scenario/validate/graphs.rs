//! The job's or the process graph's shape: names, operators, edges, cycles and workloads.

use super::*;

pub(super) fn check_dataflow(df: &DataflowSpec) -> Result<Names, ScenarioError> {
    if df.operators.is_empty() {
        return Err(ScenarioError::new(
            "dataflow.operators",
            "a job needs at least one operator",
        ));
    }
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut names = Names {
        tasks: BTreeSet::new(),
        groups: BTreeSet::new(),
    };
    for (i, op) in df.operators.iter().enumerate() {
        let path = format!("dataflow.operators[{i}]");
        check_name(&op.name, &format!("{path}.name"))?;
        if index.insert(&op.name, i).is_some() {
            return Err(ScenarioError::new(
                format!("{path}.name"),
                format!("`{}` is used by two operators", op.name),
            ));
        }
        if op.parallelism == 0 {
            return Err(ScenarioError::new(
                format!("{path}.parallelism"),
                "must be at least 1",
            ));
        }
        if let Some(m) = op.max_parallelism {
            let upper = crate::keygroups::UPPER_BOUND_MAX_PARALLELISM;
            if m == 0 || m > upper {
                return Err(ScenarioError::new(
                    format!("{path}.max_parallelism"),
                    format!("must be between 1 and {upper}, as in Flink"),
                ));
            }
            if m < op.parallelism {
                return Err(ScenarioError::new(
                    format!("{path}.max_parallelism"),
                    format!(
                        "{m} is below the parallelism {}: every subtask needs a key group",
                        op.parallelism
                    ),
                ));
            }
        }
        if let OperatorKind::Source(src) = &op.kind {
            let sp = format!("{path}.kind.source");
            if src.rate.is_some_and(|r| r.0 == 0) {
                return Err(ScenarioError::new(
                    format!("{sp}.rate"),
                    "must be larger than zero",
                ));
            }
            if src.keys == 0 {
                return Err(ScenarioError::new(
                    format!("{sp}.keys"),
                    "must be at least 1",
                ));
            }
            if src.record_size.0 == 0 || src.record_size.0 > u64::from(u32::MAX) {
                return Err(ScenarioError::new(
                    format!("{sp}.record_size"),
                    "must be between 1 byte and 4294967295 bytes",
                ));
            }
            if src.duration.is_some_and(|d| d.ns() == 0) {
                return Err(ScenarioError::new(
                    format!("{sp}.duration"),
                    "must be longer than zero",
                ));
            }
            if let KeyDistribution::Zipf { exponent } = src.key_distribution {
                if !(exponent.is_finite() && exponent > 0.0) {
                    return Err(ScenarioError::new(
                        format!("{sp}.key_distribution.zipf.exponent"),
                        "must be a positive number",
                    ));
                }
            }
        }
        if let OperatorKind::KeyedCount(k) | OperatorKind::KeyedSum(k) | OperatorKind::Join(k) =
            &op.kind
        {
            let variant = match op.kind {
                OperatorKind::KeyedCount(_) => "keyed_count",
                OperatorKind::KeyedSum(_) => "keyed_sum",
                _ => "join",
            };
            if k.output_size
                .is_some_and(|b| b.0 == 0 || b.0 > u64::from(u32::MAX))
            {
                return Err(ScenarioError::new(
                    format!("{path}.kind.{variant}.output_size"),
                    "must be between 1 byte and 4294967295 bytes",
                ));
            }
        }
        names.groups.insert(op.name.clone());
        for t in 0..op.parallelism {
            names.tasks.insert(format!("{}[{t}]", op.name));
        }
    }
    if !df
        .operators
        .iter()
        .any(|o| matches!(o.kind, OperatorKind::Source(_)))
    {
        return Err(ScenarioError::new(
            "dataflow.operators",
            "a job needs at least one source",
        ));
    }
    let mut incoming = vec![0usize; df.operators.len()];
    let mut seen = BTreeSet::new();
    let mut adj = vec![Vec::new(); df.operators.len()];
    for (i, e) in df.edges.iter().enumerate() {
        let path = format!("dataflow.edges[{i}]");
        let from = *index.get(e.from.as_str()).ok_or_else(|| {
            ScenarioError::new(
                format!("{path}.from"),
                format!("no operator is called `{}`", e.from),
            )
        })?;
        let to = *index.get(e.to.as_str()).ok_or_else(|| {
            ScenarioError::new(
                format!("{path}.to"),
                format!("no operator is called `{}`", e.to),
            )
        })?;
        if from == to {
            return Err(ScenarioError::new(path, "an operator cannot feed itself"));
        }
        if !seen.insert((from, to)) {
            return Err(ScenarioError::new(
                path,
                format!("a second edge from `{}` to `{}`", e.from, e.to),
            ));
        }
        if matches!(df.operators[to].kind, OperatorKind::Source(_)) {
            return Err(ScenarioError::new(
                format!("{path}.to"),
                format!("`{}` is a source and takes no input", e.to),
            ));
        }
        if matches!(df.operators[from].kind, OperatorKind::Sink(_)) {
            return Err(ScenarioError::new(
                format!("{path}.from"),
                format!("`{}` is a sink and has no output", e.from),
            ));
        }
        if e.partition == Partition::Forward
            && df.operators[from].parallelism != df.operators[to].parallelism
        {
            return Err(ScenarioError::new(
                format!("{path}.partition"),
                format!(
                    "forward needs equal parallelism, but `{}` has {} and `{}` has {}",
                    e.from, df.operators[from].parallelism, e.to, df.operators[to].parallelism
                ),
            ));
        }
        incoming[to] += 1;
        adj[from].push(to);
    }
    for (i, op) in df.operators.iter().enumerate() {
        let path = format!("dataflow.operators[{i}]");
        match op.kind {
            OperatorKind::Source(_) => {}
            OperatorKind::Join(_) if incoming[i] != 2 => {
                return Err(ScenarioError::new(
                    path,
                    format!(
                        "join `{}` needs exactly two incoming edges, has {}",
                        op.name, incoming[i]
                    ),
                ));
            }
            _ if incoming[i] == 0 => {
                return Err(ScenarioError::new(
                    path,
                    format!("`{}` has no incoming edge", op.name),
                ));
            }
            _ => {}
        }
    }
    // Cycles are for later protocols (back-edges); reject them for now.
    let mut state = vec![0u8; df.operators.len()];
    fn dfs(v: usize, adj: &[Vec<usize>], state: &mut [u8]) -> bool {
        state[v] = 1;
        for &w in &adj[v] {
            if state[w] == 1 || (state[w] == 0 && dfs(w, adj, state)) {
                return true;
            }
        }
        state[v] = 2;
        false
    }
    for v in 0..adj.len() {
        if state[v] == 0 && dfs(v, &adj, &mut state) {
            return Err(ScenarioError::new(
                "dataflow.edges",
                "the edges form a cycle; dataflow jobs must be acyclic",
            ));
        }
    }
    Ok(names)
}

pub(super) fn check_processes(ps: &ProcessSpec) -> Result<Names, ScenarioError> {
    let list: Vec<String> = match (&ps.count, &ps.names) {
        (Some(_), Some(_)) => {
            return Err(ScenarioError::new(
                "processes",
                "give `count` or `names`, not both",
            ))
        }
        (None, None) => return Err(ScenarioError::new("processes", "give `count` or `names`")),
        (Some(0), None) => return Err(ScenarioError::new("processes.count", "must be at least 1")),
        (Some(n), None) => (0..*n).map(|i| format!("p{i}")).collect(),
        (None, Some(names)) => {
            if names.is_empty() {
                return Err(ScenarioError::new(
                    "processes.names",
                    "must name at least one process",
                ));
            }
            let mut seen = BTreeSet::new();
            for (i, n) in names.iter().enumerate() {
                check_name(n, &format!("processes.names[{i}]"))?;
                if !seen.insert(n) {
                    return Err(ScenarioError::new(
                        format!("processes.names[{i}]"),
                        format!("`{n}` appears twice"),
                    ));
                }
            }
            names.clone()
        }
    };
    let n = list.len();
    let known: BTreeSet<&str> = list.iter().map(String::as_str).collect();
    let mut edges: BTreeSet<(&str, &str)> = BTreeSet::new();
    match &ps.graph {
        GraphSpec::Ring { .. } | GraphSpec::FullMesh {} if n < 2 => {
            return Err(ScenarioError::new(
                "processes.graph",
                "needs at least two processes",
            ));
        }
        GraphSpec::RandomKOut { k, .. } => {
            if *k == 0 {
                return Err(ScenarioError::new(
                    "processes.graph.random_k_out.k",
                    "must be at least 1",
                ));
            }
            if *k as usize >= n {
                return Err(ScenarioError::new(
                    "processes.graph.random_k_out.k",
                    format!("must be below the number of processes ({n})"),
                ));
            }
        }
        GraphSpec::Edges(list) => {
            if list.is_empty() {
                return Err(ScenarioError::new(
                    "processes.graph.edges",
                    "must list at least one edge",
                ));
            }
            for (i, (a, b)) in list.iter().enumerate() {
                for (j, name) in [a, b].into_iter().enumerate() {
                    if !known.contains(name.as_str()) {
                        return Err(ScenarioError::new(
                            format!("processes.graph.edges[{i}][{j}]"),
                            format!("no process is called `{name}`"),
                        ));
                    }
                }
                if a == b {
                    return Err(ScenarioError::new(
                        format!("processes.graph.edges[{i}]"),
                        "a process cannot send to itself",
                    ));
                }
                if !edges.insert((a, b)) {
                    return Err(ScenarioError::new(
                        format!("processes.graph.edges[{i}]"),
                        format!("edge {a} -> {b} appears twice"),
                    ));
                }
            }
        }
        _ => {}
    }
    match &ps.workload {
        ProcessWorkload::Bank(b) => {
            let p = "processes.workload.bank";
            if b.max_amount == 0 || b.max_amount > MAX_AMOUNT {
                return Err(ScenarioError::new(
                    format!("{p}.max_amount"),
                    format!("must be between 1 and {MAX_AMOUNT}"),
                ));
            }
            if b.transfer_interval.is_some_and(|d| d.ns() == 0) {
                return Err(ScenarioError::new(
                    format!("{p}.transfer_interval"),
                    "must be longer than zero",
                ));
            }
            if b.message_size.0 == 0 || b.message_size.0 > u64::from(u32::MAX) {
                return Err(ScenarioError::new(
                    format!("{p}.message_size"),
                    "must be between 1 byte and 4294967295 bytes",
                ));
            }
            if b.initial_balance > MAX_AMOUNT {
                return Err(ScenarioError::new(
                    format!("{p}.initial_balance"),
                    "is too large",
                ));
            }
        }
        ProcessWorkload::Script(sc) => {
            let p = "processes.workload.script";
            for name in sc.initial_states.keys() {
                if !known.contains(name.as_str()) {
                    return Err(ScenarioError::new(
                        format!("{p}.initial_states.{name}"),
                        format!("no process is called `{name}`"),
                    ));
                }
            }
            for (i, st) in sc.steps.iter().enumerate() {
                let sp = format!("{p}.steps[{i}]");
                if !known.contains(st.process.as_str()) {
                    return Err(ScenarioError::new(
                        format!("{sp}.process"),
                        format!("no process is called `{}`", st.process),
                    ));
                }
                if st.send.is_none() && st.becomes.is_none() && st.initiate_snapshot.is_none() {
                    return Err(ScenarioError::new(
                        sp,
                        "a step must `send`, change state with `becomes`, or `initiate_snapshot`",
                    ));
                }
                if let Some(send) = &st.send {
                    if !known.contains(send.to.as_str()) {
                        return Err(ScenarioError::new(
                            format!("{sp}.send.to"),
                            format!("no process is called `{}`", send.to),
                        ));
                    }
                    let from = list
                        .iter()
                        .position(|x| *x == st.process)
                        .expect("checked above");
                    let to = list
                        .iter()
                        .position(|x| *x == send.to)
                        .expect("checked above");
                    let linked = match &ps.graph {
                        GraphSpec::Edges(_) => {
                            edges.contains(&(st.process.as_str(), send.to.as_str()))
                        }
                        GraphSpec::FullMesh {} => from != to,
                        GraphSpec::Ring { bidirectional } => {
                            to == (from + 1) % n || (*bidirectional && from == (to + 1) % n)
                        }
                        GraphSpec::RandomKOut { .. } => {
                            return Err(ScenarioError::new(
                                format!("{sp}.send"),
                                "scripted sends need a graph whose channels are known in advance: explicit edges, a ring or a full mesh",
                            ));
                        }
                    };
                    if !linked {
                        return Err(ScenarioError::new(
                            format!("{sp}.send.to"),
                            format!("there is no channel from `{}` to `{}`", st.process, send.to),
                        ));
                    }
                }
                if st.initiate_snapshot == Some(0) {
                    return Err(ScenarioError::new(
                        format!("{sp}.initiate_snapshot"),
                        "snapshot ids start at 1",
                    ));
                }
            }
            for (i, r) in sc.on_receive.iter().enumerate() {
                if !known.contains(r.process.as_str()) {
                    return Err(ScenarioError::new(
                        format!("{p}.on_receive[{i}].process"),
                        format!("no process is called `{}`", r.process),
                    ));
                }
            }
        }
    }
    Ok(Names {
        groups: BTreeSet::new(),
        tasks: list.into_iter().collect(),
    })
}
