//! The `snapsim` command line; see `snapsim --help`.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
