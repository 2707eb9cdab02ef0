//! Progress of a real run: executor `Event`s → a progress bar on a terminal, or one timestamped
//! line per state change otherwise (what cron mails), and the final summary. The only
//! terminal-UI code of the crate.
//!
//! While the run waits (a 300 s window), the bar counts down every second and the log says
//! every minute how long is left; both show the expected finish time, re-forecast from the
//! pace in force (the pacer reports each change as `Event::Pace`), and how many queued
//! requests are now expected to expire: the queue is earliest-deadline-first, so the k-th request
//! still to go leaves at the k-th slot of the pace in force and expires if that slot falls after
//! its deadline.

use crate::execute::{Event, Summary};
use crate::ratelimit::Rate;
use indicatif::{ProgressBar, ProgressStyle};
use jiff::{SignedDuration, Timestamp};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

/// How often the log repeats a countdown while the run waits.
pub const LOG_COUNTDOWN_EVERY: Duration = Duration::from_secs(60);

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
    total: u64,
    sent: u64,
    expired: u64,
    failed: u64,
    unknown: u64,
    /// The pace in force, for the finish forecast.
    rate: Option<Rate>,
    /// The wait in progress: until when (on the runtime's clock) and why.
    waiting: Option<(Instant, String)>,
    /// Every planned request's deadline in sending order (the first `done()` have gone).
    deadlines: Arc<[Timestamp]>,
}

impl Counts {
    fn done(&self) -> u64 {
        self.sent + self.expired + self.failed + self.unknown
    }

    /// The wait left, if the run is waiting.
    fn left(&self) -> Option<(Duration, &str)> {
        let (until, why) = self.waiting.as_ref()?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some((left, why.as_str()))
    }

    /// When the last request is expected to go: after the current wait, the rest at the pace
    /// in force (whole windows for windows over a second, as the pacer sends them).
    fn finish(&self) -> Option<Timestamp> {
        let rate = self.rate?;
        let rest = self.total.saturating_sub(self.done());
        if rest == 0 {
            return None;
        }
        let limit = u64::from(rate.limit.max(1));
        let span = if rate.window > Duration::from_secs(1) {
            let from_now = if self.left().is_some() { 1 } else { 0 };
            rate.window
                .mul_f64(rest.div_ceil(limit).saturating_sub(from_now) as f64)
        } else {
            rate.window.mul_f64(rest as f64 / limit as f64)
        };
        let wait = self.left().map_or(Duration::ZERO, |(d, _)| d);
        let ahead = SignedDuration::try_from(wait + span).ok()?;
        Timestamp::now().checked_add(ahead).ok()
    }

    /// How many requests still queued are expected to miss their deadline at the pace in
    /// force: the k-th still to go (0-based) leaves after the current wait plus its slot, whole
    /// windows of `limit` for windows over a second, even spacing otherwise.
    fn expiring(&self) -> u64 {
        let Some(rate) = self.rate else { return 0 };
        let limit = u64::from(rate.limit.max(1));
        let wait = self.left().map_or(Duration::ZERO, |(d, _)| d);
        let from_now = u64::from(self.left().is_some());
        let now = Timestamp::now();
        let queued = self.deadlines.iter().skip(self.done() as usize);
        let late = queued.enumerate().filter(|(k, deadline)| {
            let k = *k as u64;
            let slot = if rate.window > Duration::from_secs(1) {
                // As `finish`: a batch per window, the first when the wait ends.
                rate.window
                    .mul_f64((k / limit + 1).saturating_sub(from_now) as f64)
            } else {
                rate.window.mul_f64(k as f64 / limit as f64)
            };
            let at = SignedDuration::try_from(wait + slot)
                .ok()
                .and_then(|d| now.checked_add(d).ok())
                .unwrap_or(Timestamp::MAX);
            at > **deadline
        });
        late.count() as u64
    }

    /// ` · N expected to expire` when the forecast has any, else nothing.
    fn expiring_note(&self) -> String {
        match self.expiring() {
            0 => String::new(),
            n => format!(" · {n} expected to expire"),
        }
    }

    fn countdown(&self) -> Option<String> {
        let (left, why) = self.left()?;
        let finish = self.finish().map(clock).unwrap_or_else(|| "-".into());
        Some(format!(
            "waiting {}s more ({why}) · {}/{} done · finish ≈ {finish}{}",
            left.as_secs_f64().ceil(),
            self.done(),
            self.total,
            self.expiring_note()
        ))
    }
}

/// Shows events on stderr until the run finishes or the sender goes away; log lines carry the
/// campaign's name.
pub async fn show(events: UnboundedReceiver<Event>, style: Style, campaign: &str) {
    show_to(
        events,
        style,
        campaign,
        std::io::stderr(),
        LOG_COUNTDOWN_EVERY,
    )
    .await;
}

/// [`show`] with the log written to `out` and its countdown every `every`.
pub async fn show_to(
    mut events: UnboundedReceiver<Event>,
    style: Style,
    campaign: &str,
    mut out: impl Write,
    every: Duration,
) {
    let mut counts = Counts::default();
    let mut bar: Option<ProgressBar> = None;
    let tick = if style == Style::Bar {
        Duration::from_secs(1)
    } else {
        every
    };
    let mut ticker = tokio::time::interval_at(Instant::now() + tick, tick);
    loop {
        let e = tokio::select! {
            e = events.recv() => e,
            _ = ticker.tick() => {
                match (&bar, counts.countdown()) {
                    (Some(b), Some(c)) => b.set_message(format!("{} · {c}", summary_counts(&counts))),
                    (None, Some(c)) if style == Style::Log => {
                        let _ = writeln!(out, "{} [{campaign}] {c}", clock(Timestamp::now()));
                    }
                    _ => {}
                }
                continue;
            }
        };
        let Some(e) = e else { break };
        if let (Style::Bar, Event::Started { total, .. }) = (style, &e) {
            bar = Some(new_bar(*total));
        }
        count(&mut counts, &e);
        match &bar {
            Some(b) => on_bar(b, &counts, &e),
            None => {
                if let Some(mut line) = line(&e, style) {
                    if matches!(e, Event::Pace { .. }) {
                        line.push_str(&counts.expiring_note());
                    }
                    let _ = writeln!(out, "{} [{campaign}] {line}", clock(Timestamp::now()));
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

/// Fixed-width UTC time with milliseconds (`2026-11-29T00:01:02.340Z`), so log columns line up.
fn clock(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
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
        Event::Started {
            total,
            rate,
            deadlines,
        } => {
            (c.total, c.rate) = (*total, Some(*rate));
            c.deadlines = Arc::clone(deadlines);
        }
        Event::Pace { rate, .. } => c.rate = Some(*rate),
        Event::Waiting { until, reason } => {
            let ahead = until.duration_since(Timestamp::now());
            let ahead = Duration::try_from(ahead).unwrap_or(Duration::ZERO);
            c.waiting = Some((Instant::now() + ahead, reason.clone()));
        }
        Event::Sent { .. } => c.sent += 1,
        Event::Expired { .. } => c.expired += 1,
        Event::Failed { .. } => c.failed += 1,
        Event::Unknown { .. } => c.unknown += 1,
        _ => {}
    }
}

fn summary_counts(c: &Counts) -> String {
    format!(
        "sent {} · expired {} · failed {} · unknown {}",
        c.sent, c.expired, c.failed, c.unknown
    )
}

fn on_bar(bar: &ProgressBar, c: &Counts, e: &Event) {
    let counts = summary_counts(c);
    match e {
        Event::Sent { .. } | Event::Expired { .. } => bar.inc(1),
        Event::Failed { .. }
        | Event::Unknown { .. }
        | Event::Stopping { .. }
        | Event::Pace { .. } => {
            if matches!(e, Event::Failed { .. } | Event::Unknown { .. }) {
                bar.inc(1);
            }
            if let Some(mut l) = line(e, Style::Quiet) {
                if matches!(e, Event::Pace { .. }) {
                    l.push_str(&c.expiring_note());
                }
                bar.println(l);
            }
        }
        Event::Waiting { .. } => {
            if let Some(c) = c.countdown() {
                bar.set_message(format!("{counts} · {c}"));
            }
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
        Event::Started { total, rate, .. } if !quiet => {
            format!("started: {total} requests at {rate}")
        }
        Event::Pace { rate, reason } => format!("pace {rate}: {reason}"),
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
        Event::Waiting { until, reason } if !quiet => {
            format!("waiting until {} ({reason})", clock(*until))
        }
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
        if let Some(p) = &s.pace {
            v["pace"] = serde_json::json!({"rate": p.rate.to_string(), "source": p.source});
        }
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
    if let Some(p) = &s.pace {
        let how = match p.source {
            "throttled" => "learned from 429s without headers; later runs start there and probe up",
            _ => "announced by the server",
        };
        out.push_str(&format!("\npace: {} ({how})", p.rate));
    }
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
    use std::str::FromStr;

    #[test]
    fn log_lines_and_quiet() {
        let to = crate::campaign::UserId::from(Phone::parse("+14155550101").unwrap());
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

    /// A `Write` the test can read back after the progress task has finished.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The log-style progress of campaign `spring-promo`, countdown lines every 60 s, running.
    struct LogRun {
        out: Shared,
        task: tokio::task::JoinHandle<()>,
    }

    /// Starts a [`LogRun`]; events go to the returned sender.
    fn log_run() -> (tokio::sync::mpsc::UnboundedSender<Event>, LogRun) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let out = Shared::default();
        let task = tokio::spawn(show_to(
            rx,
            Style::Log,
            "spring-promo",
            out.clone(),
            Duration::from_secs(60),
        ));
        (tx, LogRun { out, task })
    }

    impl LogRun {
        /// Ends the run with a summary and returns everything it wrote.
        async fn finish(self, tx: tokio::sync::mpsc::UnboundedSender<Event>) -> String {
            tx.send(Event::Finished {
                summary: Summary::default(),
            })
            .unwrap();
            self.task.await.unwrap();
            let text = self.out.0.lock().unwrap().clone();
            String::from_utf8(text).unwrap()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_log_counts_a_long_wait_down_with_the_finish_time() {
        let (tx, run) = log_run();
        let to = crate::campaign::UserId::from(Phone::parse("+14155550101").unwrap());
        let rate: Rate = "2/300s".parse().unwrap();
        let sent = |index| Event::Sent {
            to,
            index,
            provider_id: None,
        };
        tx.send(Event::Started {
            total: 6,
            rate,
            deadlines: Arc::new([]),
        })
        .unwrap();
        tx.send(sent(0)).unwrap();
        tx.send(sent(1)).unwrap();
        let until = Timestamp::now() + SignedDuration::from_secs(301);
        tx.send(Event::Waiting {
            until,
            reason: "rate limit".into(),
        })
        .unwrap();
        tokio::time::sleep(Duration::from_secs(130)).await;
        tx.send(Event::Pace {
            rate: "1/300s".parse().unwrap(),
            reason: "429 without a policy that explains it: pace now 1/5m, probing up".into(),
        })
        .unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        let text = run.finish(tx).await;
        let lines: Vec<&str> = text.lines().collect();
        // Every line: a 24-character UTC time, then the campaign's name.
        for l in &lines {
            assert_eq!(&l[23..38], "Z [spring-promo", "{l}");
            assert!(jiff::Timestamp::from_str(&l[..24]).is_ok(), "{l}");
        }
        let bodies: Vec<&str> = lines.iter().map(|l| &l[40..]).collect();
        assert_eq!(bodies[0], "started: 6 requests at 2/5m");
        assert!(bodies[3].starts_with("waiting until "), "{}", bodies[3]);
        // It counts down: 301 s, then 60 s later 241 s, then 181 s; four left at 2 per window
        // finish one window after this wait, and two windows later at the slower pace.
        let forecast = |body: &str| {
            let at = body.rsplit("finish ≈ ").next().unwrap();
            jiff::Timestamp::from_str(at).unwrap()
        };
        assert!(
            bodies[4].starts_with("waiting 241s more (rate limit) · 2/6 done · finish ≈ "),
            "{}",
            bodies[4]
        );
        // (The wall clock stands still while the paused runtime clock moves, so the forecast
        // is the test's start + the wait left + the rest, here 301 s early.)
        let start = until - SignedDuration::from_secs(301);
        let first = forecast(bodies[4]);
        let expected = start + SignedDuration::from_secs(241 + 300);
        assert!(
            (first - expected).get_seconds().abs() <= 1,
            "{first} vs {expected}"
        );
        assert!(bodies[5].starts_with("waiting 181s more"), "{}", bodies[5]);
        assert_eq!(
            bodies[6],
            "pace 1/5m: 429 without a policy that explains it: pace now 1/5m, probing up"
        );
        assert!(bodies[7].starts_with("waiting 121s more"), "{}", bodies[7]);
        let slower = forecast(bodies[7]);
        let expected = start + SignedDuration::from_secs(121 + 900);
        assert!(
            (slower - expected).get_seconds().abs() <= 1,
            "{slower} vs {expected}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slower_pace_forecasts_who_will_expire() {
        let (tx, run) = log_run();
        let to = crate::campaign::UserId::from(Phone::parse("+14155550101").unwrap());
        let start = Timestamp::now();
        let at = |s| start + SignedDuration::from_secs(s);
        // Earliest deadline first; the two sent ones are already past.
        let deadlines = vec![at(-10), at(-5), at(400), at(500), at(700), at(800)];
        tx.send(Event::Started {
            total: 6,
            rate: "2/300s".parse().unwrap(),
            deadlines: deadlines.into(),
        })
        .unwrap();
        for index in 0..2 {
            let provider_id = None;
            tx.send(Event::Sent {
                to,
                index,
                provider_id,
            })
            .unwrap();
        }
        tx.send(Event::Waiting {
            until: at(301),
            reason: "rate limit".into(),
        })
        .unwrap();
        // At 2 per 5 minutes the four left go at ≈ 301 s and ≈ 601 s: all before their deadlines.
        tokio::time::sleep(Duration::from_secs(70)).await;
        // At 1 per 5 minutes they go at ≈ 301, 601, 901 and 1201 s: the last three are late.
        // (The wall clock stands still under the paused runtime clock; the forecast counts
        // from the wait left, so it sees the same order.)
        tx.send(Event::Pace {
            rate: "1/300s".parse().unwrap(),
            reason: "429 without headers".into(),
        })
        .unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        let text = run.finish(tx).await;
        let bodies: Vec<&str> = text.lines().map(|l| &l[40..]).collect();
        assert!(bodies[4].starts_with("waiting 241s more"), "{}", bodies[4]);
        assert!(!bodies[4].contains("expire"), "{}", bodies[4]);
        assert_eq!(
            bodies[5],
            "pace 1/5m: 429 without headers · 3 expected to expire"
        );
        assert!(bodies[6].starts_with("waiting 181s more"), "{}", bodies[6]);
        // The countdown repeats the forecast (its count drifts here only because the paused
        // runtime clock moves while the wall clock the deadlines are on does not).
        assert!(bodies[6].ends_with(" expected to expire"), "{}", bodies[6]);
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
