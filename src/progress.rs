//! Progress of a real run: executor `Event`s → a progress bar on a terminal, or one timestamped
//! line per state change otherwise (what cron mails), and the final summary. The only
//! terminal-UI code of the crate.

use crate::execute::{Event, Summary};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;
use std::io::{IsTerminal, Write};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// How much to show while sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A live bar on stderr.
    Bar,
    /// One RFC 3339-stamped line per state change on stderr.
    Log,
    /// Only failures and stops.
    Quiet,
}

impl Style {
    /// The bar on a terminal, log lines otherwise; `quiet` wins.
    pub fn detect(quiet: bool) -> Style {
        if quiet {
            Style::Quiet
        } else if std::io::stderr().is_terminal() {
            Style::Bar
        } else {
            Style::Log
        }
    }
}

#[derive(Default)]
struct Counts {
    sent: u64,
    expired: u64,
    failed: u64,
    unknown: u64,
}

/// Shows events until the run finishes or the sender goes away.
pub async fn show(mut events: UnboundedReceiver<Event>, style: Style) {
    let mut counts = Counts::default();
    let mut bar: Option<ProgressBar> = None;
    while let Some(e) = events.recv().await {
        if let (Style::Bar, Event::Started { total }) = (style, &e) {
            bar = Some(new_bar(*total));
        }
        count(&mut counts, &e);
        match &bar {
            Some(b) => on_bar(b, &counts, &e),
            None => {
                if let Some(line) = line(&e, style) {
                    let now = Timestamp::now().round(jiff::Unit::Millisecond);
                    let _ = writeln!(
                        std::io::stderr(),
                        "{} {line}",
                        now.unwrap_or(Timestamp::now())
                    );
                }
            }
        }
        if matches!(e, Event::Finished { .. }) {
            break;
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

fn new_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let template = "{elapsed_precise} [{bar:30}] {pos}/{len} {msg}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

fn count(c: &mut Counts, e: &Event) {
    match e {
        Event::Sent { .. } => c.sent += 1,
        Event::Expired { .. } => c.expired += 1,
        Event::Failed { .. } => c.failed += 1,
        Event::Unknown { .. } => c.unknown += 1,
        _ => {}
    }
}

fn on_bar(bar: &ProgressBar, c: &Counts, e: &Event) {
    let counts = format!(
        "sent {} · expired {} · failed {} · unknown {}",
        c.sent, c.expired, c.failed, c.unknown
    );
    match e {
        Event::Sent { .. } | Event::Expired { .. } => bar.inc(1),
        Event::Failed { .. } | Event::Unknown { .. } | Event::Stopping { .. } => {
            if matches!(e, Event::Failed { .. } | Event::Unknown { .. }) {
                bar.inc(1);
            }
            if let Some(l) = line(e, Style::Quiet) {
                bar.println(l);
            }
        }
        Event::Waiting { until, reason } => {
            let left = until
                .duration_since(Timestamp::now())
                .as_secs_f64()
                .max(0.0);
            bar.set_message(format!("{counts} · waiting {left:.0}s ({reason})"));
            return;
        }
        _ => {}
    }
    bar.set_message(counts);
}

/// The log line for an event (without the timestamp); `None` when `style` hides it.
pub fn line(e: &Event, style: Style) -> Option<String> {
    let quiet = style == Style::Quiet;
    Some(match e {
        Event::Started { total } if !quiet => format!("started: {total} requests"),
        Event::Sent {
            to,
            index,
            provider_id,
        } if !quiet => {
            let id = provider_id.as_deref().unwrap_or("-");
            format!("sent {to} messages[{index}] id={id}")
        }
        Event::Expired { to, index, reason } if !quiet => {
            format!("expired {to} messages[{index}] {reason}")
        }
        Event::Waiting { until, reason } if !quiet => format!("waiting until {until} ({reason})"),
        Event::Failed { to, index, reason } => format!("failed {to} messages[{index}] {reason}"),
        Event::Unknown { to, index, reason } => {
            format!("unknown {to} messages[{index}] {reason} (may have been delivered; not resent)")
        }
        Event::Stopping { reason } => {
            format!("stopping: {reason}; letting in-flight requests finish")
        }
        _ => return None,
    })
}

/// The final summary: readable lines, or one JSON object.
pub fn summary(s: &Summary, json: bool) -> String {
    let ms = |d: std::time::Duration| (d.as_secs_f64() * 1000.0).round() / 1000.0;
    if json {
        let mut v = serde_json::json!({
            "sent": s.sent, "expired": s.expired, "failed": s.failed, "unknown": s.unknown,
            "throttled": s.throttled, "not_started": s.not_started,
            "elapsed_s": ms(s.elapsed),
            "exit": s.exit().code(),
        });
        if let Some(l) = &s.ledger {
            v["ledger"] = serde_json::json!({
                "transitions": l.transitions, "commits": l.commits, "busy_s": ms(l.busy),
            });
        }
        return v.to_string();
    }
    let mut out = format!(
        "sent {} · expired {} · failed {} · unknown {} · not started {} ({} throttled answers) in {:.1}s",
        s.sent, s.expired, s.failed, s.unknown, s.not_started, s.throttled, s.elapsed.as_secs_f64()
    );
    if let Some(reason) = &s.stopped {
        out.push_str(&format!("\nstopped early: {reason}"));
    }
    if s.unknown > 0 {
        out.push_str("\nunknown: the provider may have delivered these; no run sends them again unless --resend-unknown (see `sessioncast status`)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::Phone;

    #[test]
    fn log_lines_and_quiet() {
        let to = Phone::parse("+14155550101").unwrap();
        let sent = Event::Sent {
            to,
            index: 0,
            provider_id: Some("wamid.X".into()),
        };
        assert_eq!(
            line(&sent, Style::Log).as_deref(),
            Some("sent +14155550101 messages[0] id=wamid.X")
        );
        assert_eq!(line(&sent, Style::Quiet), None);
        let failed = Event::Failed {
            to,
            index: 1,
            reason: "HTTP 400".into(),
        };
        assert_eq!(
            line(&failed, Style::Quiet).as_deref(),
            Some("failed +14155550101 messages[1] HTTP 400")
        );
    }

    #[test]
    fn json_summary_has_every_field() {
        let s = Summary {
            sent: 3,
            unknown: 1,
            throttled: 2,
            elapsed: Duration::from_millis(1500),
            ..Summary::default()
        };
        let v: serde_json::Value = serde_json::from_str(&summary(&s, true)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"sent":3,"expired":0,"failed":0,"unknown":1,"throttled":2,
                "not_started":0,"elapsed_s":1.5,"exit":4})
        );
        assert!(summary(&s, false).starts_with("sent 3 · expired 0 · failed 0 · unknown 1"));
    }
}
