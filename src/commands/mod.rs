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
use crate::render::Decided;
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

/// What a command handler returns: its exit code, or the failure that ended it.
pub type CommandResult = Result<Exit, Failure>;

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

/// Load, then render and check everything with `render` (`render::render`, or
/// `render::decide` when no request body is needed). Problems go to stderr, all of them; the
/// command fails with exit 3 unless the only problems are recipients' own and `skip_invalid` is
/// set.
pub fn prepare<T>(
    path: &Path,
    now: Timestamp,
    skip_invalid: bool,
    render: fn(&Campaign) -> (T, Problems),
) -> Result<(Campaign, T), Failure> {
    let (campaign, mut problems) = campaign::load(path, now);
    let mut requests = None;
    if let Some(c) = &campaign {
        let (r, found) = render(c);
        problems.extend(found);
        requests = Some(r);
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
    match (campaign, requests) {
        (Some(campaign), Some(requests)) if !fatal => {
            if !problems.is_empty() {
                let text = problems.then("these recipients are dropped as `invalid`");
                let _ = writeln!(err, "{text}");
            }
            Ok((campaign, requests))
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

/// The plan at `now`, leaving out what the ledger (at `state`, or the campaign's default
/// place) says earlier runs handled. Reads the ledger without locking it: a preview.
pub fn plan_at(
    campaign: &Campaign,
    requests: &Decided,
    now: Timestamp,
    state: Option<&Path>,
    file: &Path,
) -> Result<crate::plan::Plan, Failure> {
    let at = state::locate(state, file, || Ok(campaign.name.clone()))?;
    let settled = state::by_recipient(&state::peek_settled(&at)?);
    Ok(crate::plan::build(campaign, requests, now, &|to| {
        state::settled_of(&settled, to)
    }))
}

/// End of a command: the process exits next, so the campaign and what render made of it are
/// not freed piece by piece (a million small allocations cost a noticeable part of a second).
pub fn release<T>(campaign: Campaign, requests: T) {
    std::mem::forget(campaign);
    std::mem::forget(requests);
}

/// Colour only on a terminal, and never when NO_COLOR is set.
pub fn color_stdout() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}
