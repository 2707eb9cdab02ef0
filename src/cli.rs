//! The command line: one subcommand per user task. Doc comments here are the `--help` text.

use crate::preview::PreviewFormat;
use crate::report::PlanFormat;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Run WhatsApp session-message campaigns from declarative YAML files.
///
/// A campaign file names the provider, the rate it allows, the 24-hour window, the recipients
/// (inline, a CSV, or the users who wrote in a webhook log) and one or more templated messages.
/// Typical flow:
///
///   sessioncast check campaigns/demo.yaml            # validate and render everything
///   sessioncast plan campaigns/demo.yaml             # who is reached, in what order, when
///   sessioncast run campaigns/demo.yaml --dry-run    # the exact HTTP requests, nothing sent
///   sessioncast run campaigns/demo.yaml --sandbox    # rehearse: real HTTP to a local stand-in
///   sessioncast run campaigns/demo.yaml              # send; safe to repeat from cron
///   sessioncast status campaigns/demo.yaml           # what each recipient got
///
/// Exit codes: 0 ok, 1 runtime error, 2 usage, 3 invalid campaign, 4 finished with failed or
/// unknown deliveries, 5 stopped early with work left, 6 another run holds this campaign.
#[derive(Debug, Parser)]
#[command(
    name = "sessioncast",
    version,
    about,
    long_about,
    max_term_width = 100,
    verbatim_doc_comment
)]
pub struct Cli {
    /// Log each HTTP exchange to stderr: method, URL, status and time taken (-v); with -vv also
    /// the request and answer bodies. The token is never logged at any level.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a campaign and render every message for every recipient; send nothing.
    ///
    /// Reports every problem in one go — YAML syntax, unknown fields, provider limits on the
    /// rendered text, phone numbers, template variables — each with its file, line and path.
    /// Exits 0 when valid, 3 when not (problems on stderr).
    Check(CheckArgs),
    /// Show who will be reached, in what order and at about what time, and who is dropped and why.
    ///
    /// Recipients are ordered earliest-deadline-first over the slots the rate allows, which
    /// reaches the most people before their windows close.
    Plan(PlanArgs),
    /// Send a campaign; with --dry-run, print the exact requests instead and send nothing.
    ///
    /// Each message is recorded in the campaign's ledger (`.sessioncast/<name>.db` beside the
    /// file) before its request leaves, and a run sends only what is still pending: repeat it
    /// from cron as often as you like. A killed run never leads to a message being sent twice
    /// (a request that may have gone out is `unknown` and left alone), and while one run holds a
    /// campaign another exits 6. `sessioncast status` shows where every recipient stands.
    Run(RunArgs),
    /// Show what the ledger recorded for a campaign: counts per state and one row per message.
    ///
    /// Reads the ledger that `run` keeps (by default `.sessioncast/<name>.db` beside the campaign
    /// file); safe while a run is going on. Rows still `pending` whose deadline passed are first
    /// recorded `expired` (only when no run holds the ledger). JSON for scripts, CSV (with the
    /// recipients' variables) for spreadsheets and CRMs; a ledger that exists but cannot be read
    /// is an error (exit 1).
    Status(StatusArgs),
    /// Read a webhook log into the campaign's ledger: outcomes, deliveries, reads and replies.
    ///
    /// A webhook log has one provider POST body per line, as `webhook --listen` and
    /// `sandbox --webhook-log` write it: Cloud API bodies (or bare `value` objects) and Messangi
    /// callbacks. Statuses find their message by send key, else by provider message id: an
    /// `unknown` message becomes `sent` (with its provider id) or `failed`; a sent one gains its
    /// delivery and read times, or becomes `failed` (`expired` for 131047) when the provider
    /// reports so later. Inbound messages record each user's latest message time and replies to
    /// campaign messages. Nothing is ever made `pending`, so nothing is sent again because of a
    /// webhook; each event is applied once, in any order, so ingesting a log twice changes nothing.
    /// While a run holds the campaign, the messages it is sending are left alone (exit 5).
    /// Exit codes: 0 ok, 1 runtime error, 3 some lines were not webhooks (the others were
    /// applied; each bad line is reported with its number), 5 events left for after the run.
    Ingest(IngestArgs),
    /// Show the campaign's funnel per message: planned, sent, delivered, read, replied, failed
    /// (by provider error code), expired, unknown.
    ///
    /// One line per message of the campaign (each `when:` variant is its own message, shown with
    /// its condition). Delivered, read and replied come from the provider's webhooks
    /// (`sessioncast ingest`) and count only messages that are `sent`. With --per-recipient, also
    /// when each recipient's last message came in and when each message was sent, delivered,
    /// read and answered.
    Report(ReportArgs),
    /// Print the JSON Schema of campaign files (for editor completion and validation).
    Schema,
    /// Run a local stand-in for the provider (rate limits, closed windows, faults) until Ctrl-C.
    Sandbox(crate::sandbox::SandboxArgs),
    /// Receive the provider's webhooks and append them to a webhook log, until Ctrl-C or SIGTERM.
    ///
    /// For a host without a webhook endpoint: answers Meta's subscription handshake (GET with
    /// hub.mode=subscribe, hub.verify_token, hub.challenge), accepts Cloud API POSTs on any path
    /// only with a valid X-Hub-Signature-256 (HMAC-SHA256 of the raw body with the app secret,
    /// checked in constant time; missing → 401, wrong → 403), and Messangi callbacks on
    /// /messangi/<token>. Each accepted body is appended to --log as one JSON line and fsynced
    /// before the 200. Put it behind a TLS proxy: providers only post to https:// URLs.
    Webhook(WebhookArgs),
    /// Print a shell completion script, e.g. `sessioncast completions bash > /etc/bash_completion.d/sessioncast`.
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout, or write one page per command into --out DIR.
    ///
    /// `sessioncast man | man -l -` reads it at once; `sessioncast man --out /usr/local/share/man/man1`
    /// installs sessioncast.1 and sessioncast-<command>.1.
    Man(ManArgs),
}

/// How `check` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write sessioncast.1 and one sessioncast-<command>.1 per command into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The campaign YAML file, or `-` to read it from stdin (its relative paths then resolve
    /// against the current directory).
    pub campaign: PathBuf,
    /// Output: readable problems on stderr, or one JSON object on stdout
    /// {"file","valid","errors","warnings","problems":[{"severity","message","hint","file",
    /// "line","column","yaml_path","csv_row","csv_column","recipients","first_recipient",
    /// "per_recipient"}]} (place fields absent when unknown). Exit codes are the same.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CheckFormat,
    /// Evaluate relative inbound times (`-3h`) against this RFC 3339 time instead of the clock.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The campaign YAML file, or `-` to read it from stdin (relative paths in it, and the
    /// default ledger, then resolve against the current directory).
    pub campaign: PathBuf,
    /// Plan as of this RFC 3339 time instead of the clock (same file + same --now = same output).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Output: a readable table, JSON for scripts, or CSV for spreadsheets.
    #[arg(long, value_enum, default_value = "table")]
    pub format: PlanFormat,
    /// Drop recipients whose own data is invalid (reason `invalid`) instead of failing. Problems
    /// in the campaign's own text (the same for every recipient who renders it) still fail.
    #[arg(long)]
    pub skip_invalid: bool,
    /// The ledger whose settled recipients are dropped as `already_sent`, `already_failed`,
    /// `already_expired` or `already_unknown` (default: `.sessioncast/<campaign name>.db` beside
    /// the campaign file, or $SESSIONCAST_STATE when set; a `postgres://` URL names a PostgreSQL
    /// ledger). A ledger that exists but cannot be read is an error.
    #[arg(long, value_name = "PATH|URL")]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The campaign YAML file, or `-` to read it from stdin (relative paths in it, and the
    /// default ledger, then resolve against the current directory).
    pub campaign: PathBuf,
    /// Print the exact HTTP requests (token shown as ***) instead of sending. Needs no token.
    #[arg(long)]
    pub dry_run: bool,
    /// Act as if it were this RFC 3339 time (windows, relative inbound times, slots).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Output of --dry-run: readable requests, or one JSON object per request. When sending:
    /// the final summary as readable lines, or as one JSON object
    /// {"sent","expired","failed","unknown","throttled","not_started","elapsed_s","exit",
    /// "ledger":{"transitions","commits","busy_s"}}, plus "pace":{"rate","source"} when the run
    /// ended below the declared rate (source "policy": announced; "throttled": learned from 429s,
    /// as one request per learned spacing, e.g. "1/504ms").
    #[arg(long, value_enum, default_value = "pretty")]
    pub format: PreviewFormat,
    /// Drop recipients whose own data is invalid (reason `invalid`) instead of failing. Problems
    /// in the campaign's own text (the same for every recipient who renders it) still fail.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Send to an in-process stand-in provider on loopback instead (same rate, the recipients'
    /// inbound times, a one-off token): a rehearsal that reaches nobody. Needs no token variable.
    #[arg(long, conflicts_with = "dry_run")]
    pub sandbox: bool,
    /// With --sandbox: append the webhooks the stand-in posts as the platform would (an inbound
    /// message per recipient at their last_inbound_at; sent, delivered, some read per accepted
    /// send) to this webhook log, one JSON body per line, for `sessioncast ingest`.
    #[arg(long, value_name = "PATH", requires = "sandbox")]
    pub sandbox_webhook_log: Option<PathBuf>,
    /// While sending, print only failures and the summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// The ledger: a file, or a `postgres://USER@HOST/DB` URL (a database several hosts share;
    /// the password comes from SESSIONCAST_STATE or PGPASSWORD, never from this flag). Default:
    /// $SESSIONCAST_STATE, else `.sessioncast/<campaign name>.db` beside the campaign file; with
    /// --sandbox, a temporary file. On PostgreSQL the run first takes its sender's lease
    /// (exit 6 when another runner holds it).
    #[arg(long, value_name = "PATH|URL")]
    pub state: Option<PathBuf>,
    /// With a PostgreSQL ledger: when another runner holds the sender's lease, wait and take
    /// over when it ends or dies, instead of exiting 6.
    #[arg(long)]
    pub standby: bool,
    /// Stop issuing requests after this long, e.g. `10m`, `90min` or `1h30m` (let requests in flight
    /// finish, exit 5 with work left for the next run). Keeps a cron run inside its slot.
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse_positive)]
    pub max_duration: Option<std::time::Duration>,
    /// Send again messages whose outcome is `unknown` (a request that may have been delivered).
    /// Only after checking they were not: this can send a message twice.
    #[arg(long)]
    pub resend_unknown: bool,
    /// Send again messages that failed for a reason that may pass (e.g. a provider error that
    /// says nothing was delivered, or skipped after an earlier message was not delivered).
    #[arg(long)]
    pub retry_failed: bool,
    /// Accept that the campaign's content changed since its messages were first planned, and
    /// send the new rendering to those not yet reached. Without it such a run refuses.
    #[arg(long)]
    pub rerender: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The campaign YAML file, or `-` to read it from stdin (relative paths in it, and the
    /// default ledger, then resolve against the current directory).
    pub campaign: PathBuf,
    /// The ledger: a file, or a `postgres://USER@HOST/DB` URL (password from SESSIONCAST_STATE
    /// or PGPASSWORD). Default: $SESSIONCAST_STATE, else `.sessioncast/<campaign name>.db` beside
    /// the campaign file.
    #[arg(long, value_name = "PATH|URL")]
    pub state: Option<PathBuf>,
    /// Output: `table`, readable; `json`,
    /// {"counts":{"pending","attempting","sent","failed","expired","unknown"},"recipients":[{"to",
    /// "message","state","provider_id","reason","retryable","attempts","deadline","planned_at",
    /// "attempted_at","finished_at","delivered_at","read_at","replied_at","error_code","vars"}]}
    /// (the three times from `sessioncast ingest`, the provider's clock; the error code from the
    /// failed answer or a webhook); or `csv`, one row per message with the same columns and one
    /// column per recipient variable, for spreadsheets and CRMs.
    // The plan's descriptions of the formats do not fit the status: leave them out.
    #[arg(long, value_enum, default_value = "table", hide_possible_values = true)]
    pub format: PlanFormat,
    /// Only rows in these states (repeat the flag or give a comma list, e.g. `--only failed,unknown`):
    /// pending, attempting, sent, failed, expired, unknown. The counts stay those of the whole ledger.
    #[arg(long, value_name = "STATE", value_delimiter = ',', value_parser = parse_state)]
    pub only: Vec<crate::ledger::State>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The campaign YAML file, or `-` to read it from stdin.
    pub campaign: PathBuf,
    /// The ledger: a file, or a `postgres://USER@HOST/DB` URL (password from SESSIONCAST_STATE
    /// or PGPASSWORD). Default: $SESSIONCAST_STATE, else `.sessioncast/<campaign name>.db` beside
    /// the campaign file.
    #[arg(long, value_name = "PATH|URL")]
    pub state: Option<PathBuf>,
    /// Output: `table`, readable; `json`, {"messages":[{"message","kind","when","planned","sent",
    /// "delivered","read","replied","failed","failed_by_code":{"CODE":N},"expired","unknown",
    /// "pending"}]} plus "recipients":[{"to","message","state","last_inbound_at","attempted_at",
    /// "delivered_at","read_at","replied_at","error_code"}] with --per-recipient; or `csv`, one
    /// row per message (per recipient and message with --per-recipient).
    #[arg(long, value_enum, default_value = "table", hide_possible_values = true)]
    pub format: PlanFormat,
    /// Also list each recipient's step times (one row per recipient and message).
    #[arg(long)]
    pub per_recipient: bool,
}

/// How `ingest` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IngestFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The campaign YAML file (its `name` names the ledger and the send keys), or `-` for stdin.
    pub campaign: PathBuf,
    /// The webhook log (JSON lines); `-` or nothing reads stdin.
    pub file: Option<PathBuf>,
    /// The ledger: a file, or a `postgres://USER@HOST/DB` URL (password from SESSIONCAST_STATE
    /// or PGPASSWORD). Default: $SESSIONCAST_STATE, else `.sessioncast/<campaign name>.db` beside
    /// the campaign file.
    #[arg(long, value_name = "PATH|URL")]
    pub state: Option<PathBuf>,
    /// Output: readable lines, or one JSON object {"lines","events","applied","duplicate",
    /// "unmatched","other_campaign","deferred","replies","bad_lines","bad":[{"line","path",
    /// "problem"}],"transitions":{"unknown->sent":N,...},"exit"}.
    #[arg(long, value_enum, default_value = "text")]
    pub format: IngestFormat,
}

/// A `--state` value that names no ledger state.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a state; write one of pending, attempting, sent, failed, expired, unknown")]
pub struct BadState(String);

fn parse_state(s: &str) -> Result<crate::ledger::State, BadState> {
    s.trim().parse().map_err(|_| BadState(s.to_string()))
}

#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// Address to listen on, e.g. `127.0.0.1:8090` behind a TLS proxy, or `0.0.0.0:8090`
    /// (port 0 picks a free port; the address is printed on stdout).
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    pub listen: std::net::SocketAddr,
    /// The webhook log: each accepted POST body appended as one compact JSON line, the input of
    /// `sessioncast ingest` (created if missing).
    #[arg(long, value_name = "PATH")]
    pub log: PathBuf,
    /// The environment variable holding the verify token you entered in Meta's webhook settings.
    /// Unset: every handshake is refused (403).
    #[arg(long, value_name = "NAME", default_value = "WHATSAPP_VERIFY_TOKEN")]
    pub verify_token_env: String,
    /// The environment variable holding the Meta app secret that signs every webhook. Unset:
    /// every Cloud API POST is refused (403).
    #[arg(long, value_name = "NAME", default_value = "WHATSAPP_APP_SECRET")]
    pub app_secret_env: String,
    /// The environment variable holding the token of the Messangi callback URL: give Messangi
    /// `callbacks: https://<host>/messangi/<token>`. Messangi does not sign its callbacks, so
    /// this unguessable path segment is what proves a POST came through that URL. Unset: the
    /// Messangi path does not exist (404).
    #[arg(long, value_name = "NAME", default_value = "MESSANGI_WEBHOOK_TOKEN")]
    pub messangi_token_env: String,
}

/// A `--listen` value that is not `IP:PORT`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an address to listen on; write IP:PORT, e.g. 127.0.0.1:8090 or 0.0.0.0:8090")]
pub struct BadListen(String);

fn parse_listen(s: &str) -> Result<std::net::SocketAddr, BadListen> {
    s.trim().parse().map_err(|_| BadListen(s.to_string()))
}
