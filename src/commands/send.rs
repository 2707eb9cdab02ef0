//! `sessioncast run` without `--dry-run`: campaign → ledger (lock, resume) → plan at now → paced
//! sends (to the provider, or to an in-process sandbox with `--sandbox`) → progress, summary and
//! exit code.

use super::state::Location;
use super::{prepare, state, CommandResult, Failure};
use crate::campaign::Campaign;
use crate::cli::RunArgs;
use crate::execute::{self, Event, Record, Setup, Summary};
use crate::exit::Exit;
use crate::ledger::pg::lease::Lease;
use crate::ledger::{Asked, Key, Ledger, RunLock, State, Writer};
use crate::plan::{build, Plan, Settled};
use crate::preview::PreviewFormat;
use crate::progress::{self, Style};
use crate::ratelimit::{default_margin, Pacer};
use crate::render::Requests;
use crate::sandbox::{HeaderDialect, Sandbox, SandboxConfig, Stats, WindowMode};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc::UnboundedSender, watch};

pub fn run(a: &RunArgs) -> CommandResult {
    if a.now.is_some() {
        return Err(Failure::usage(
            "--now is for --dry-run only: a real run sends at the real time",
        ));
    }
    let Some((campaign, requests)) = load(a)? else {
        return Ok(Exit::Ok);
    };
    // The token is checked before any wait for the lease, and again for a campaign loaded anew.
    let token_of = |c: &Campaign| match a.sandbox {
        true => Ok(None),
        false => token(c).map(Some),
    };
    token_of(&campaign)?;
    let (path, _rehearsal) = ledger_path(a, &campaign)?;
    let (name, sender_key) = (campaign.name.clone(), state::sender_key(&campaign));
    // A standby whose sender another runner holds frees this load (a million recipients and
    // their requests) while it waits, perhaps for hours, and loads the campaign again once the
    // lease is its own: by then the file, its recipients and the time its relative inbound
    // times are read against may all have moved on, and what it sends must be what the
    // campaign says now.
    let (lock, ledger, campaign, requests) = match hold(&path, &sender_key, false) {
        Err(busy)
            if busy.exit == Exit::Locked
                && a.standby
                && matches!(path, Location::Postgres { .. }) =>
        {
            drop((campaign, requests));
            let (lock, ledger) = hold(&path, &sender_key, true)?;
            let Some((fresh, requests)) = load(a)? else {
                return Ok(Exit::Ok);
            };
            if state::sender_key(&fresh) != sender_key || fresh.name != name {
                return Err(Failure::usage(format!(
                    "the campaign changed its name or sender while this runner waited for the lease of sender {sender_key}: nothing was sent; run it again"
                )));
            }
            (lock, ledger, fresh, requests)
        }
        held => {
            let (lock, ledger) = held?;
            (lock, ledger, campaign, requests)
        }
    };
    let token = token_of(&campaign)?;
    // Every request this run may send, frozen into the ledger a block at a time; then the
    // rendering is freed, and the executor reads each payload back from the ledger: what goes
    // out is what the ledger keeps.
    let frozen = state::freeze(requests);
    let resumed = resume(a, &campaign, &frozen, ledger)?;
    let decided = frozen.into_decided();
    let bodies = state::Sending::new(&resumed.ledger, resumed.chosen)?;
    let sender = match &lock {
        Hold::Lease(lease) => Some(lease.sender().to_string()),
        Hold::Lock(_) => None,
    };
    let writer = Writer::start(resumed.ledger)
        .map_err(|e| Failure::runtime(format!("cannot start the ledger writer: {e}")))?;
    let record = Record {
        writer: writer.handle(),
        settled: resumed.settled,
    };
    let (settled, pacer) = (resumed.by_recipient, resumed.pacer);
    let recovered = resumed.recovered;
    // One thread for all the async work (the ledger writer has its own): sending is waiting on
    // sockets and the ledger, and a multi-thread runtime spent more CPU handing each recipient
    // between threads than it gained from a second one (measured with bench/oha.sh, pinned or not).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    let mut campaign = campaign;
    let result = runtime.block_on(async {
        let sandbox = match token {
            Some(_) => None,
            None => Some(start_sandbox(&mut campaign, a).await?),
        };
        let token = match (&sandbox, token) {
            (Some((_, t)), _) => t.clone(),
            (None, t) => t.unwrap_or_default(),
        };
        let plan = build(&campaign, &decided, jiff::Timestamp::now(), &|to| {
            state::settled_of(&settled, to)
        });
        report_dropped(&plan);
        let client = execute::client()
            .map_err(|e| Failure::runtime(format!("cannot build the HTTP client: {e}")))?;
        let summary = send(&campaign, &plan, &bodies, a, |events, stop| Setup {
            client,
            token,
            pacer,
            events,
            stop,
            max_duration: a.max_duration,
            ledger: Some(record),
        })
        .await;
        let stats = match sandbox {
            Some((s, _)) => {
                let stats = s.stats();
                s.shutdown().await;
                Some(stats)
            }
            None => None,
        };
        Ok::<_, Failure>((summary, stats))
    });
    // Whatever happened, every outcome recorded so far is committed before the lock is let go.
    let (ledger, cost) = writer.close();
    drop(ledger);
    drop(lock);
    let (mut summary, stats) = result?;
    summary.ledger = Some(cost);
    let lost = cost.lease_lost;
    // The killed run could not report these; this run found them, so its summary and exit code
    // (4) carry them, once: from now on they are plain `unknown` rows.
    summary.unknown += recovered;
    println!(
        "{}",
        progress::summary(&summary, a.format == PreviewFormat::Json)
    );
    if let Some(s) = stats {
        eprintln!("{}", stats_line(&s));
    }
    if a.state.is_none() && !a.sandbox && !a.quiet {
        eprintln!("ledger: {path} (see `sessioncast status`)");
    }
    super::release(campaign, decided);
    runtime.shutdown_timeout(Duration::from_secs(1));
    if lost {
        return Err(Failure {
            exit: Exit::Locked,
            message: format!(
                "lost the lease of sender {}: another runner may have taken over; this run sent nothing after that (its rows in flight are `unknown` to the next holder)",
                sender.unwrap_or_default()
            ),
        });
    }
    Ok(summary.exit())
}

/// Where this run's ledger is: `--state` (or `$SESSIONCAST_STATE`), a temporary file for a
/// rehearsal (kept alive by the returned folder), or `.sessioncast/<name>.db` beside the campaign.
fn ledger_path(
    a: &RunArgs,
    c: &Campaign,
) -> Result<(Location, Option<tempfile::TempDir>), Failure> {
    // A rehearsal keeps its own throw-away ledger: it must never mark a real recipient as sent,
    // so only an explicit --state gives it another (not the environment's production one).
    if a.sandbox && a.state.is_none() {
        if std::env::var_os(state::STATE_ENV).is_some() {
            eprintln!(
                "sandbox: {} is not used by a rehearsal, which keeps a throw-away ledger (pass --state to choose one)",
                state::STATE_ENV
            );
        }
        let dir = tempfile::tempdir()
            .map_err(|e| Failure::runtime(format!("cannot create a temporary ledger: {e}")))?;
        let path = dir.path().join("sandbox.db");
        return Ok((Location::File(path), Some(dir)));
    }
    let at = state::locate(a.state.as_deref(), &a.campaign, || Ok(c.name.clone()))?;
    Ok((at, None))
}

/// What keeps other runs away while this one writes: the file's run lock (SQLite) or the
/// sender's lease (PostgreSQL). Dropped at the end of the run.
enum Hold {
    Lock(#[allow(dead_code)] RunLock),
    Lease(Box<Lease>),
}

/// The ledger brought up to this run, and what it means for the plan and the pacer.
struct Resumed {
    ledger: Ledger,
    settled: HashMap<Key, State>,
    /// The same, per recipient number, as the plan reads it.
    by_recipient: HashMap<String, Settled>,
    pacer: Pacer,
    /// Requests an earlier, killed run left in flight, now `unknown`.
    recovered: u64,
    /// Which messages the ledger froze for each recipient: what the executor reads back.
    chosen: state::Chosen,
}

/// Loads and renders the campaign for a run; `None` when its `not_after` has passed (said on
/// stderr: nothing is to be sent).
fn load(a: &RunArgs) -> Result<Option<(Campaign, Requests)>, Failure> {
    let now = super::now(None)?;
    let (campaign, requests) = prepare(&a.campaign, now, a.skip_invalid, crate::render::render)?;
    if let Some(n) = campaign.not_after.filter(|n| jiff::Timestamp::now() > *n) {
        eprintln!("the campaign's not_after ({n}) has passed: nothing is sent");
        return Ok(None);
    }
    Ok(Some((campaign, requests)))
}

/// Takes the campaign's lock (SQLite) or the lease of its sender `sender` (PostgreSQL; with
/// `wait`, waiting for it) and opens its ledger. Exit 6 (`Locked`) when another run holds it.
fn hold(at: &Location, sender: &str, wait: bool) -> Result<(Hold, Ledger), Failure> {
    Ok(match at {
        Location::File(path) => {
            let (lock, ledger) = state::lock_and_open(path)?;
            (Hold::Lock(lock), ledger)
        }
        Location::Postgres {
            target,
            campaign: name,
        } => {
            let (lease, ledger) = state::lease_and_open(target, name, sender, wait)?;
            eprintln!("sender {sender}: this runner holds its lease (ledger {target})");
            (Hold::Lease(Box::new(lease)), ledger)
        }
    })
}

/// Reconciles the held ledger with this run (see `state::reconcile`) and restores the pacer.
fn resume(
    a: &RunArgs,
    campaign: &Campaign,
    frozen: &state::Frozen,
    mut ledger: Ledger,
) -> Result<Resumed, Failure> {
    let asked = Asked {
        resend_unknown: a.resend_unknown,
        retry_failed: a.retry_failed,
        rerender: a.rerender,
    };
    let (settled, recovered, chosen) =
        state::reconcile(&mut ledger, campaign, frozen, asked, &a.campaign)?;
    let by_recipient = state::by_recipient(&settled);
    let mut pacer = Pacer::new(campaign.rate, default_margin(campaign.rate));
    state::restore_pacer(&ledger, &mut pacer)?;
    Ok(Resumed {
        ledger,
        settled,
        by_recipient,
        pacer,
        recovered,
        chosen,
    })
}

/// One line for the recipients this run leaves out, by reason.
fn report_dropped(plan: &Plan) {
    let by_reason = plan.skipped();
    if by_reason.is_empty() {
        return;
    }
    let total: usize = by_reason.values().sum();
    let parts: Vec<String> = by_reason.iter().map(|(r, n)| format!("{n} {r}")).collect();
    eprintln!(
        "skipping {total} recipients ({}); see `sessioncast plan` for who and why",
        parts.join(", ")
    );
}

/// The bearer token from the variable the campaign names; never printed.
fn token(c: &Campaign) -> Result<String, Failure> {
    let name = &c.provider.token_env;
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(Failure::runtime(format!(
            "the environment variable `{name}` (provider.token_env) is not set or empty; export it with the provider's API key, or rehearse with --sandbox"
        ))),
    }
}

/// Starts the stand-in provider with the campaign's rate and inbound times and points the
/// campaign at it. Returns the sandbox and the one-off token it requires.
async fn start_sandbox(c: &mut Campaign, a: &RunArgs) -> Result<(Sandbox, String), Failure> {
    let token = format!("sbx-{:032x}", rand::random::<u128>());
    // Phone numbers as numbers: a map of a million number strings was most of the stand-in's
    // memory.
    let (mut inbound, mut inbound_numbers) = (HashMap::new(), Vec::new());
    for r in &c.recipients {
        let at = SystemTime::from(r.last_inbound_at);
        match r.to.phone_number() {
            Some(n) => inbound_numbers.push((n, at)),
            None => {
                inbound.insert(r.to.to_string(), at);
            }
        }
    }
    let config = SandboxConfig {
        rate: Some(c.rate),
        window_mode: WindowMode::Anchored,
        headers: HeaderDialect::Note,
        token: Some(token.clone()),
        inbound,
        inbound_numbers,
        window_length: Duration::try_from(c.window.length).unwrap_or(Duration::MAX),
        // The stand-in refuses what `check` would refuse, as a strict provider would.
        validator: Some(crate::provider::parse::validator()),
        // The platform's feedback on the rehearsal, for `sessioncast ingest`.
        webhook_log: a.sandbox_webhook_log.clone(),
        webhook_provider: c.provider.wire(),
        names: c
            .recipients
            .iter()
            .filter_map(|r| Some((r.to.to_string(), r.vars.get("name")?.as_str()?.to_string())))
            .collect(),
        ..SandboxConfig::default()
    };
    let addr = "127.0.0.1:0"
        .parse()
        .map_err(|_| Failure::runtime("bad loopback address"))?;
    let sandbox = Sandbox::start(config, addr)
        .await
        .map_err(|e| Failure::runtime(format!("cannot start the sandbox: {e}")))?;
    eprintln!("sandbox: listening on {}", sandbox.base_url());
    c.provider.base_url = sandbox.base_url();
    Ok((sandbox, token))
}

/// Sends `plan`, stopping on SIGINT/SIGTERM, with progress shown as the run goes.
/// `setup` completes the run's set-up with its event sink and stop flag.
async fn send(
    c: &Campaign,
    plan: &Plan,
    bodies: &state::Sending,
    a: &RunArgs,
    setup: impl FnOnce(UnboundedSender<Event>, watch::Receiver<bool>) -> Setup,
) -> Summary {
    let (events, rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop_tx, stop) = watch::channel(false);
    let signals = tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop_tx.send(true);
    });
    let (name, style) = (c.name.clone(), Style::detect(a.quiet));
    let shower = tokio::spawn(async move { progress::show(rx, style, &name).await });
    let summary = execute::execute(c, plan, bodies, setup(events, stop)).await;
    signals.abort();
    let _ = shower.await;
    summary
}

/// SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub(super) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Stats of a sandbox run, for callers that print them.
pub fn stats_line(s: &Stats) -> String {
    let line = format!(
        "sandbox: accepted {}, rejected_rate {}, duplicates {}",
        s.accepted, s.rejected_rate, s.duplicates
    );
    let w = &s.webhooks;
    if *w == Default::default() {
        return line;
    }
    // What it emitted as the platform, to compare with a funnel after `ingest`.
    format!(
        "{line}; webhooks: sent {}, delivered {}, read {}, failed {}, inbound {}, replies {}, redelivered {}, posted {}, post_failures {}",
        w.sent, w.delivered, w.read, w.failed, w.inbound, w.replies, w.redelivered, w.posted, w.post_failures
    )
}
