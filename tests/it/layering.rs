//! The house rules of `src/`, read from the code itself: the layer table in ARCHITECTURE.md,
//! no protocol named outside `protocols/`, the filesystem only in the CLI, plotters only in the
//! chart module, no hash maps, and no source file past the size a reader takes in at once.
//!
//! Each rule scans the code before a file's `#[cfg(test)]` line (tests may use anything) and
//! skips comment lines. A failure names the file and the line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use snapsim::protocols::ProtocolKind;

/// The most lines a source file may have before its tests. Past this a file holds more than
/// one concept; split it (data tables excepted, none yet).
const MAX_LINES: usize = 700;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/`, sorted, as a path relative to `src/`.
fn sources() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(base).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let src = root().join("src");
    let mut out = Vec::new();
    walk(&src, &src, &mut out);
    out.sort();
    out
}

/// The code of a file before its tests, as (line number, line), comment lines left out.
fn code(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l))
        .collect()
}

/// The layer a file of `src/` belongs to: its top-level module, `lib` for the crate root's own
/// items and `cli` for the binary.
fn module_of(rel: &str) -> String {
    match rel.split_once('/') {
        Some((dir, _)) => dir.to_string(),
        None => match rel.trim_end_matches(".rs") {
            "main" => "cli".to_string(),
            m => m.to_string(),
        },
    }
}

/// The layer table: module -> the modules it may import (`None`: any).
type Table = BTreeMap<String, Option<BTreeSet<String>>>;

/// Reads the table between the layer markers of ARCHITECTURE.md.
fn layer_table(doc: &str) -> Table {
    let start = doc
        .find("<!-- layers:")
        .expect("ARCHITECTURE.md has the layer table's start marker");
    let end = doc[start..]
        .find("<!-- end of layers -->")
        .expect("ARCHITECTURE.md has the layer table's end marker")
        + start;
    let names = |cell: &str| -> BTreeSet<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let mut table = Table::new();
    for line in doc[start..end].lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let module = names(cells[1]).into_iter().next().expect("a module name");
        let allowed = if cells[2].contains("every module") {
            None
        } else {
            Some(names(cells[2]))
        };
        table.insert(module, allowed);
    }
    table
}

/// Modules ordered so that each comes after everything it may import; `Err` names a cycle.
fn layer_order(table: &Table) -> Result<Vec<String>, String> {
    let mut placed: Vec<String> = Vec::new();
    let mut left: BTreeSet<&String> = table.keys().collect();
    while !left.is_empty() {
        let ready: Vec<&String> = left
            .iter()
            .copied()
            .filter(|m| match &table[*m] {
                None => left.len() == 1 || left.iter().all(|o| o == m || table[*o].is_some()),
                Some(deps) => deps.iter().all(|d| !left.contains(d) || d == *m),
            })
            .collect();
        if ready.is_empty() {
            return Err(format!("the layer table has a cycle among {left:?}"));
        }
        for m in ready {
            left.remove(m);
            placed.push(m.clone());
        }
    }
    Ok(placed)
}

/// The top-level modules that `line` refers to through `prefix` (`crate` or `snapsim`),
/// including every item of a `use prefix::{a, b::c}` group that opens on this line.
fn referenced(line: &str, rest: &[(usize, &str)], prefix: &str) -> Vec<String> {
    let needle = format!("{prefix}::");
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = line[at..].find(&needle) {
        let start = at + i;
        at = start + needle.len();
        let before = line[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // part of a longer name, such as `my_crate::`
        }
        let tail = &line[at..];
        if let Some(group) = tail.strip_prefix('{') {
            // The group may run over several lines: gather them until it closes.
            let mut text = group.to_string();
            for (_, next) in rest {
                if closed(&text) {
                    break;
                }
                text.push_str(next);
            }
            out.extend(group_heads(&text));
        } else {
            out.push(ident(tail));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

/// True once the text has closed the group it opened (one more `}` than `{`).
fn closed(text: &str) -> bool {
    text.matches('}').count() > text.matches('{').count()
}

/// The first path segment of each item of a `{...}` group's text (after its opening brace).
fn group_heads(text: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            c if item_start && (c.is_alphanumeric() || c == '_') => {
                heads.push(ident(&text[i..]));
                item_start = false;
            }
            _ => {}
        }
    }
    heads
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The items the crate root defines itself (`lib` in the table); anything else a path names
/// after `crate::` is a module.
const ROOT_ITEMS: &[&str] = &[
    "simulate",
    "simulate_full",
    "RunOptions",
    "DEFAULT_MAX_EVENTS",
];

/// Every import in `text` (a file of layer `module`) that the table forbids, as messages.
fn forbidden_imports(rel: &str, module: &str, text: &str, table: &Table) -> Vec<String> {
    let Some(allowed) = table.get(module) else {
        return vec![format!(
            "src/{rel}: module `{module}` has no row in ARCHITECTURE.md's layer table"
        )];
    };
    let Some(allowed) = allowed else {
        return Vec::new();
    };
    let prefix = if module == "cli" { "snapsim" } else { "crate" };
    let lines = code(text);
    let mut out = Vec::new();
    for (k, &(number, line)) in lines.iter().enumerate() {
        for target in referenced(line, &lines[k + 1..], prefix) {
            let target = if ROOT_ITEMS.contains(&target.as_str()) {
                "lib".to_string()
            } else {
                target
            };
            if target != module && !allowed.contains(&target) {
                out.push(format!(
                    "src/{rel}:{number}: `{module}` may not import `{target}` \
                     (ARCHITECTURE.md, Layers): {}",
                    line.trim()
                ));
            }
        }
    }
    out
}

#[test]
fn the_layer_table_has_no_cycle_and_a_row_for_every_module() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let table = layer_table(&doc);
    layer_order(&table).unwrap();
    let modules: BTreeSet<String> = sources().iter().map(|r| module_of(r)).collect();
    for m in &modules {
        assert!(table.contains_key(m), "`{m}` has no row in the layer table");
    }
    for (m, allowed) in &table {
        assert!(
            modules.contains(m),
            "the layer table names `{m}`, which src/ lacks"
        );
        for d in allowed.iter().flatten() {
            assert!(
                table.contains_key(d),
                "`{m}` may import `{d}`, which has no row"
            );
        }
    }
}

#[test]
fn no_module_imports_what_the_layer_table_forbids() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let table = layer_table(&doc);
    let mut found = Vec::new();
    for rel in sources() {
        let text = std::fs::read_to_string(root().join("src").join(&rel)).unwrap();
        found.extend(forbidden_imports(&rel, &module_of(&rel), &text, &table));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_layering_check_catches_a_forbidden_import() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let table = layer_table(&doc);
    let text = "//! The checker.\n\nuse crate::trace::TraceEvent;\nuse crate::sim::RunOutput;\n";
    let found = forbidden_imports("checker/x.rs", "checker", text, &table);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("src/checker/x.rs:4: `checker` may not import `sim`"));
    // Groups over several lines, and the crate root's own items.
    let text =
        "use crate::{\n    engine::Time,\n    report::RunResult,\n};\nuse crate::simulate;\n";
    let found = forbidden_imports("sim/x.rs", "sim", text, &table);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].contains("`sim` may not import `report`"),
        "{found:?}"
    );
    assert!(found[1].contains("`sim` may not import `lib`"), "{found:?}");
    // Tests may import anything.
    let text = "use crate::engine::Time;\n#[cfg(test)]\nmod tests {\n    use crate::sim::X;\n}\n";
    assert!(forbidden_imports("checker/x.rs", "checker", text, &table).is_empty());
    // A cycle in the table is refused.
    let mut cyclic = table.clone();
    cyclic.insert(
        "engine".to_string(),
        Some(BTreeSet::from(["sim".to_string()])),
    );
    assert!(layer_order(&cyclic).is_err());
}

/// Every string literal on a line: the text between pairs of unescaped quotes.
fn literals(line: &str) -> Vec<&str> {
    line.split('"').skip(1).step_by(2).collect()
}

/// Words that are also protocol names but mean something else where they appear: `none` as a
/// limit's value (`--limit tasks=none`) and as the word shown for "nothing".
const ORDINARY_WORDS: &[(&str, &str)] =
    &[("scenario/limits.rs", "none"), ("report/mod.rs", "none")];

/// Files that define workloads by the protocol they run, as a scenario file names it.
const WORKLOAD_TABLES: &[&str] = &["bench.rs", "cli/bench.rs"];

#[test]
fn nothing_outside_protocols_names_a_particular_protocol() {
    let mut names: Vec<&str> = ProtocolKind::all().map(|p| p.name()).collect();
    let params: Vec<&str> = ProtocolKind::all()
        .flat_map(|p| p.params().iter().map(|q| q.name))
        .collect();
    names.extend(&params);
    // The types of the protocol files, as code outside would have to spell them.
    let types = [
        "ChandyLamport",
        "AlignedTimeout",
        "AtLeastOnce",
        "StopTheWorld",
        "NoSnapshots",
        "ProtocolKind::Aligned",
        "ProtocolKind::Unaligned",
        "ProtocolKind::None",
    ];
    let mut found = Vec::new();
    for rel in sources() {
        if rel.starts_with("protocols/") || WORKLOAD_TABLES.contains(&rel.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(root().join("src").join(&rel)).unwrap();
        for (number, line) in code(&text) {
            for lit in literals(line) {
                let ordinary = ORDINARY_WORDS.contains(&(rel.as_str(), lit));
                if names.contains(&lit) && !ordinary {
                    found.push(format!("src/{rel}:{number}: names `{lit}`"));
                }
            }
            for t in types {
                if line.contains(t) {
                    found.push(format!("src/{rel}:{number}: names `{t}`"));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// Lines of non-test code in `src/` that contain any of `needles`, outside the files `allowed`
/// (a prefix of the path relative to `src/`).
fn uses(needles: &[&str], allowed: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for rel in sources() {
        if allowed.iter().any(|a| rel.starts_with(a)) {
            continue;
        }
        let text = std::fs::read_to_string(root().join("src").join(&rel)).unwrap();
        for (number, line) in code(&text) {
            if needles.iter().any(|n| line.contains(n)) {
                found.push(format!("src/{rel}:{number}: {}", line.trim()));
            }
        }
    }
    found
}

#[test]
fn only_the_cli_touches_the_filesystem() {
    let found = uses(
        &["std::fs", "fs::", "File::", "OpenOptions", "std::env::var"],
        &["cli/", "main.rs"],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn only_the_chart_module_imports_plotters() {
    let found = uses(&["plotters"], &["report/charts/"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn nothing_uses_a_hash_map() {
    let found = uses(&["HashMap", "HashSet"], &[]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn no_source_file_outgrows_one_concept() {
    let mut found = Vec::new();
    for rel in sources() {
        let text = std::fs::read_to_string(root().join("src").join(&rel)).unwrap();
        let lines = text
            .lines()
            .take_while(|l| l.trim() != "#[cfg(test)]")
            .count();
        if lines > MAX_LINES {
            found.push(format!("src/{rel}: {lines} lines before its tests"));
        }
    }
    assert!(
        found.is_empty(),
        "over {MAX_LINES} lines: {}",
        found.join(", ")
    );
}

#[test]
fn behaviours_never_see_the_queue_or_the_clock() {
    // `workload/` may read times as data (a source's stop time) and draw from its streams, but
    // what happens when is the simulation's to decide.
    let mut found = uses(&["Scheduler", "EventQueue", "Model", ".now()"], &[]);
    found.retain(|l| l.starts_with("src/workload/"));
    assert!(found.is_empty(), "{}", found.join("\n"));
}
