//! `sessioncast run` without `--dry-run`: campaign → plan at now → paced sends (to the provider,
//! or to an in-process sandbox with `--sandbox`) → progress, summary and exit code.

use super::{prepare, Failure, Outcome};
use crate::campaign::Campaign;
use crate::cli::RunArgs;
use crate::execute::{self, Setup, Summary};
use crate::plan::build;
use crate::preview::PreviewFormat;
use crate::progress::{self, Style};
use crate::ratelimit::{default_margin, Pacer};
use crate::sandbox::{HeaderDialect, Sandbox, SandboxConfig, Stats, WindowMode};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

pub fn run(a: &RunArgs) -> Outcome {
    if a.now.is_some() {
        return Err(Failure::usage(
            "--now is for --dry-run only: a real run sends at the real time",
        ));
    }
    let now = super::now(None)?;
    let p = prepare(&a.campaign, now, a.skip_invalid)?;
    let token = match a.sandbox {
        true => None,
        false => Some(token(&p.campaign)?),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    let mut campaign = p.campaign;
    let (summary, stats) = runtime.block_on(async {
        let sandbox = match token {
            Some(_) => None,
            None => Some(start_sandbox(&mut campaign).await?),
        };
        let token = match (&sandbox, token) {
            (Some((_, t)), _) => t.clone(),
            (None, t) => t.unwrap_or_default(),
        };
        let summary = send(&campaign, &p.counts, token, a).await?;
        let stats = match sandbox {
            Some((s, _)) => {
                let stats = s.stats();
                s.shutdown().await;
                Some(stats)
            }
            None => None,
        };
        Ok::<_, Failure>((summary, stats))
    })?;
    println!(
        "{}",
        progress::summary(&summary, a.format == PreviewFormat::Json)
    );
    if let Some(s) = stats {
        eprintln!("{}", stats_line(&s));
    }
    std::mem::forget(campaign);
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(summary.exit())
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
async fn start_sandbox(c: &mut Campaign) -> Result<(Sandbox, String), Failure> {
    let token = format!("sbx-{:032x}", rand::random::<u128>());
    let inbound = c
        .recipients
        .iter()
        .map(|r| (r.to.to_string(), SystemTime::from(r.last_inbound_at)))
        .collect();
    let config = SandboxConfig {
        rate: Some(c.rate),
        window_mode: WindowMode::Anchored,
        headers: HeaderDialect::Note,
        token: Some(token.clone()),
        inbound,
        window_length: Duration::try_from(c.window.length).unwrap_or(Duration::MAX),
        // The stand-in refuses what `check` would refuse, as a strict provider would.
        validator: Some(crate::provider::parse::validator()),
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

/// Plans at the current time and sends, stopping on SIGINT/SIGTERM.
async fn send(
    c: &Campaign,
    counts: &[Option<u32>],
    token: String,
    a: &RunArgs,
) -> Result<Summary, Failure> {
    let plan = build(c, counts, jiff::Timestamp::now(), &|_| false);
    let dropped = plan.dropped().count() + c.rejected.len();
    if dropped > 0 {
        eprintln!("skipping {dropped} recipients (see `sessioncast plan` for who and why)");
    }
    let client = execute::client()
        .map_err(|e| Failure::runtime(format!("cannot build the HTTP client: {e}")))?;
    let (events, rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop_tx, stop) = watch::channel(false);
    let signals = tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop_tx.send(true);
    });
    let shower = tokio::spawn(progress::show(rx, Style::detect(a.quiet)));
    let setup = Setup {
        client,
        token,
        pacer: Pacer::new(c.rate, default_margin(c.rate)),
        events,
        stop,
    };
    let summary = execute::execute(c, &plan, setup).await;
    signals.abort();
    let _ = shower.await;
    Ok(summary)
}

/// SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn wait_for_signal() {
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
    format!(
        "sandbox: accepted {}, rejected_rate {}, duplicates {}",
        s.accepted, s.rejected_rate, s.duplicates
    )
}
