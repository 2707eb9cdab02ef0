//! The `sessioncast` binary: parse the command line, run it, exit with its code.

use clap::Parser;

fn main() {
    let cli = sessioncast::cli::Cli::parse();
    sessioncast::log::init(cli.verbose);
    std::process::exit(sessioncast::run(cli).code());
}
