//! `sessioncast completions SHELL` and `sessioncast man`: generated from the same clap definition
//! as `--help`, so they never drift from the real flags.

use super::{CommandResult, Failure};
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit::Exit;
use clap::CommandFactory;
use std::io::Write;

pub fn completions(a: &CompletionsArgs) -> CommandResult {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(a.shell, &mut cmd, "sessioncast", &mut out);
    out.flush()?;
    Ok(Exit::Ok)
}

pub fn man(a: &ManArgs) -> CommandResult {
    let cmd = Cli::command();
    match &a.out {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            out.flush()?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::runtime(format!("cannot create {}: {e}", dir.display())))?;
            // One page for the tool and one per command (sessioncast-run.1, ...).
            clap_mangen::generate_to(cmd, dir).map_err(|e| {
                Failure::runtime(format!("cannot write man pages in {}: {e}", dir.display()))
            })?;
        }
    }
    Ok(Exit::Ok)
}
