//! `snapsim validate`: checks scenario files without running them.

use std::path::PathBuf;

use clap::Args;

use super::files::load;
use super::output::{printable, shown};
use super::Failure;

#[derive(Args)]
pub(super) struct ValidateArgs {
    /// Scenario files.
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
}

pub(super) fn validate(args: ValidateArgs) -> Result<(), Failure> {
    let mut invalid = 0;
    for path in &args.scenarios {
        match load(path) {
            Ok(s) => {
                outln!("{}: ok ({})", shown(path), s.name());
                for warning in snapsim::failure::warnings(&s) {
                    errln!("snapsim: warning: {}: {}", shown(path), printable(&warning));
                }
            }
            Err(Failure::BadInput(msg)) => {
                errln!("snapsim: error: {msg}");
                invalid += 1;
            }
            Err(other) => return Err(other),
        }
    }
    if invalid == 0 {
        return Ok(());
    }
    // Every bad file has been reported above; report the count once more for scripts.
    Err(Failure::BadInput(format!(
        "{invalid} of {} scenario files are invalid",
        args.scenarios.len()
    )))
}
