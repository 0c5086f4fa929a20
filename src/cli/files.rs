//! The files commands read and name: scenarios in; results files and charts out.

use std::path::Path;

use snapsim::report::charts::Chart;
use snapsim::report::RunResult;
use snapsim::scenario::Scenario;

use super::output::{shown, OutputSet};
use super::{limits, Failure};

/// Reads and validates a scenario file; every problem names the file.
pub(super) fn load(path: &Path) -> Result<Scenario, Failure> {
    use std::io::Read;
    // Read at most one byte past the size limit: the parser refuses anything longer.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(limits().file_bytes.saturating_add(1))
                .read_to_end(&mut bytes)
        })
        .map_err(|e| Failure::BadInput(format!("{}: cannot read: {e}", shown(path))))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scenario")
        .to_string();
    Scenario::from_json_limited(&bytes, &stem, limits())
        .map_err(|e| Failure::BadInput(format!("{}: {e}", shown(path))))
}

/// Adds a run's results file to `set`, named after its scenario, protocol and seed; returns
/// where it will be.
pub(super) fn add_results_file(
    set: &mut OutputSet,
    r: &RunResult,
) -> Result<std::path::PathBuf, Failure> {
    let name = snapsim::scenario::results_file_name(&r.scenario, &r.protocol, r.seed);
    set.add(&name, r.to_json().as_bytes())
}

/// Adds each chart as `PREFIXNAME.svg` and `.png`; returns the SVG paths as messages show them.
pub(super) fn write_charts(
    set: &mut OutputSet,
    prefix: &str,
    charts: impl IntoIterator<Item = Result<Chart, String>>,
) -> Result<Vec<String>, Failure> {
    let mut written = Vec::new();
    for chart in charts {
        let chart = chart.map_err(|e| Failure::Io(anyhow::anyhow!("drawing a chart: {e}")))?;
        let stem = format!("{prefix}{}", chart.name);
        let svg = set.add(&format!("{stem}.svg"), chart.svg.as_bytes())?;
        set.add(&format!("{stem}.png"), &chart.png)?;
        written.push(shown(&svg));
    }
    Ok(written)
}
