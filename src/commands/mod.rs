//! Command handlers: each subcommand's flow from arguments to output and exit code.

mod check;
mod docs;
mod ingest;
mod plan;
mod report;
mod run;
mod sandbox;
mod schema;
mod send;
mod state;
mod status;
mod webhook;

use crate::campaign::{self, Campaign};
use crate::cli::{Cli, Command};
use crate::diag::{Level, Problems};
use crate::exit::Exit;
use crate::render::validate_all;
use jiff::Timestamp;
use std::io::Write;
use std::path::Path;

/// Run one command line; returns the process exit code.
pub fn dispatch(cli: Cli) -> Exit {
    let result = match cli.command {
        Command::Check(a) => check::run(&a),
        Command::Plan(a) => plan::run(&a),
        Command::Run(a) => run::run(&a),
        Command::Status(a) => status::run(&a),
        Command::Ingest(a) => ingest::run(&a),
        Command::Report(a) => report::run(&a),
        Command::Schema => schema::run(),
        Command::Sandbox(a) => sandbox::run(&a),
        Command::Webhook(a) => webhook::run(&a),
        Command::Completions(a) => docs::completions(&a),
        Command::Man(a) => docs::man(&a),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        e.exit
    })
}

/// A failure that ends a command, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Failure {
    pub fn runtime(message: impl Into<String>) -> Self {
        Failure {
            exit: Exit::Runtime,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            exit: Exit::Usage,
            message: message.into(),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::runtime(format!("cannot write output: {e}"))
    }
}

pub type Outcome = Result<Exit, Failure>;

/// `--now` or the clock.
pub fn now(arg: Option<&str>) -> Result<Timestamp, Failure> {
    match arg {
        // Whole seconds keep plans and previews readable.
        None => {
            Ok(Timestamp::from_second(Timestamp::now().as_second())
                .unwrap_or(Timestamp::UNIX_EPOCH))
        }
        Some(s) => s.parse().map_err(|_| {
            Failure::usage(format!(
                "--now `{s}` is not an RFC 3339 time; write e.g. 2026-11-23T12:00:00Z"
            ))
        }),
    }
}

/// A loaded campaign whose every recipient was rendered and checked.
pub struct Prepared {
    pub campaign: Campaign,
    /// Messages per recipient; `None` for recipients dropped as invalid.
    pub counts: Vec<Option<u32>>,
}

/// Load, render and check everything. Problems go to stderr, all of them; the command fails
/// with exit 3 unless the only problems are recipients' own and `skip_invalid` is set.
pub fn prepare(path: &Path, now: Timestamp, skip_invalid: bool) -> Result<Prepared, Failure> {
    let (campaign, mut problems) = campaign::load(path, now);
    let mut counts = Vec::new();
    if let Some(c) = &campaign {
        let v = validate_all(c);
        problems.extend(v.problems);
        counts = v.counts;
    }
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    if let Some(c) = &campaign {
        for w in &c.warnings {
            let _ = writeln!(err, "{w}\n");
        }
    }
    let fatal = problems
        .0
        .iter()
        .any(|p| p.level == Level::Error && !(skip_invalid && p.per_recipient));
    match campaign {
        Some(campaign) if !fatal => {
            if !problems.is_empty() {
                let text = problems.to_string().replace(
                    "nothing was sent",
                    "these recipients are dropped as `invalid`",
                );
                let _ = writeln!(err, "{text}");
            }
            Ok(Prepared { campaign, counts })
        }
        _ => {
            let _ = writeln!(err, "{}", with_skip_hint(&problems, skip_invalid));
            Err(Failure {
                exit: Exit::Invalid,
                message: format!(
                    "{} is invalid",
                    crate::campaign::source::display_path(path).display()
                ),
            })
        }
    }
}

/// Say which kind of problems were found: only recipients' own data (`--skip-invalid` may drop
/// them) or the campaign's own text, which is the same for every recipient and must be fixed.
fn with_skip_hint(problems: &Problems, skip_invalid: bool) -> String {
    let mut s = problems.to_string();
    let errors = || problems.0.iter().filter(|p| p.level == Level::Error);
    let campaign = errors().filter(|p| !p.per_recipient).count();
    let own = errors().count() - campaign;
    if campaign == 0 && own > 0 {
        s.push_str("\n(only recipients' own data is wrong: --skip-invalid drops them and goes on)");
    } else if campaign > 0 && (own > 0 || skip_invalid) {
        s.push_str(&format!(
            "\n({campaign} of these {} not in a recipient's own data but in the campaign (its YAML, templates, message text the same for every recipient who gets it, or a CSV row that cannot be read) and must be fixed: --skip-invalid drops only recipients whose own data is wrong)",
            if campaign == 1 { "is" } else { "are" }
        ));
    }
    s
}

impl Prepared {
    /// The plan at `now`, leaving out what the ledger (at `state`, or the campaign's default
    /// place) says earlier runs handled. Reads the ledger without locking it: a preview.
    pub fn plan(
        &self,
        now: Timestamp,
        state: Option<&Path>,
        file: &Path,
    ) -> Result<crate::plan::Plan, Failure> {
        let at = state::locate(state, file, || Ok(self.campaign.name.clone()))?;
        let settled = state::peek_settled(&at)?;
        let (counts, done) = state::pending_counts(&self.campaign, &self.counts, &settled);
        Ok(crate::plan::build(&self.campaign, &counts, now, &|to| {
            done.get(&to).copied()
        }))
    }

    /// End of a command: the process exits next, so the campaign is not freed recipient by
    /// recipient (a million small allocations cost a noticeable part of a second).
    pub fn release(self) {
        std::mem::forget(self);
    }
}

/// Colour only on a terminal, and never when NO_COLOR is set.
pub fn color_stdout() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}
