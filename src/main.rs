//! The `rdbshift` command line: a thin layer that wires the library's parts together.

mod cli;

fn main() {
    std::process::exit(cli::run());
}
