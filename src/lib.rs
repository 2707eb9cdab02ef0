//! sessioncast: WhatsApp session-message campaigns from declarative YAML files.
//!
//! ```text
//! campaign.yaml ─load─▶ Campaign ─render─▶ Requests ─plan(now)─▶ Plan ─┬─▶ preview (dry run)
//!  (+ recipients CSV,    validated,  per recipient:   who, in what   └─▶ freeze ─▶ Ledger
//!   templates/)          typed       status, rendered order, when;          └─▶ execute (paced
//!                                    messages, bodies who is dropped            sends of the
//!                                                                              frozen bodies)
//! ```
//!
//! Each stage is a function from one type to the next; see ARCHITECTURE.md.

pub mod campaign;
pub mod cli;
pub mod commands;
pub mod diag;
pub mod duration;
pub mod execute;
pub mod exit;
pub mod identity;
pub mod ledger;
pub mod log;
pub mod message;
pub mod plan;
pub mod preview;
pub mod progress;
pub mod provider;
pub mod ratelimit;
pub mod render;
pub mod report;
pub mod sandbox;
pub mod template;
pub mod webhook;

/// Run a parsed command line; returns the exit status.
pub fn run(cli: cli::Cli) -> exit::Exit {
    commands::dispatch(cli)
}
