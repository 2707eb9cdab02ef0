//! The ledger as commands use it: campaign file → ledger path, run lock, reconciling the ledger
//! with this run's rendering, and the pacer's memory of earlier runs.

use super::Failure;
use crate::campaign::{Campaign, UserId};
use crate::execute::PACER_META;
use crate::exit::Exit;
use crate::ledger::{Asked, Begun, Key, Ledger, LockError, Planned, RunLock, State};
use crate::plan::DropReason;
use crate::provider::Request;
use crate::ratelimit::{Pacer, PacerState};
use crate::render::Renderer;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// `.sessioncast/<name>.db` beside the campaign file. Characters a file name should not hold
/// become `_`.
pub fn default_path(campaign_file: &Path, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .collect();
    let safe = match safe.trim_start_matches('.') {
        "" => "campaign".to_string(),
        s => s.to_string(),
    };
    let dir = campaign_file.parent().unwrap_or(Path::new(""));
    dir.join(".sessioncast").join(format!("{safe}.db"))
}

/// Takes the campaign's run lock (exit 6 when another run holds it) and opens its ledger.
pub fn lock_and_open(path: &Path) -> Result<(RunLock, Ledger), Failure> {
    let lock = RunLock::acquire(path).map_err(|e| match e {
        LockError::Held { .. } => Failure {
            exit: Exit::Locked,
            message: e.to_string(),
        },
        LockError::Io { .. } => Failure::runtime(e.to_string()),
    })?;
    if path.is_dir() {
        return Err(Failure::runtime(format!(
            "the ledger {} is a directory, not a ledger file; move it away or pass --state PATH",
            path.display()
        )));
    }
    let ledger = Ledger::open(path).map_err(|e| unreadable(path, e))?;
    Ok((lock, ledger))
}

/// The request as the ledger freezes it: method, URL and body. Never the token.
pub fn payload(request: &Request) -> String {
    serde_json::json!({
        "method": Request::METHOD,
        "url": request.url,
        "body": request.body,
    })
    .to_string()
}

/// Every request this run would send, rendered: recipients that are valid, not repeats and
/// not suppressed.
pub fn planned_rows(c: &Campaign, counts: &[Option<u32>]) -> Vec<Planned> {
    let renderer = Renderer::new(c);
    let skip: HashSet<usize> = c.duplicates.iter().copied().collect();
    c.recipients
        .par_iter()
        .enumerate()
        .filter(|(i, r)| {
            counts.get(*i).copied().flatten().is_some()
                && !skip.contains(i)
                && !c.suppress.contains(&r.to)
        })
        .flat_map_iter(|(_, r)| {
            let to = r.to.to_string();
            let deadline = SystemTime::from(c.deadline(r));
            let requests = renderer.requests(r).unwrap_or_default();
            requests.into_iter().map(move |(index, request)| Planned {
                key: Key::new(to.clone(), index as u32),
                payload: payload(&request),
                deadline,
            })
        })
        .collect()
}

/// Brings the ledger up to this run: interrupted attempts become `unknown`; then, in one
/// transaction, the requested requeues happen and new messages are recorded `pending` with their
/// frozen payload. Refuses (exit 2, the ledger untouched) when content not yet sent changed,
/// unless `--rerender`. Returns the settled rows and how many interrupted attempts became
/// `unknown` (this run reports them in its summary and exit code: nobody else will).
pub fn reconcile(
    ledger: &mut Ledger,
    rows: &[Planned],
    asked: Asked,
    campaign_file: &Path,
) -> Result<(HashMap<Key, State>, u64), Failure> {
    let db = |e: crate::ledger::LedgerError| Failure::runtime(e.to_string());
    let n = ledger.recover_interrupted().map_err(db)?;
    if n > 0 {
        eprintln!(
            "ledger: {n} requests were in flight when an earlier run stopped; they are now `unknown` (they may have been delivered) and are not sent again unless --resend-unknown"
        );
    }
    let (unknown, failed, sync, rerendered) = match ledger.begin_run(rows, asked).map_err(db)? {
        Begun::Ready {
            unknown_requeued,
            failed_requeued,
            sync,
            rerendered,
        } => (unknown_requeued, failed_requeued, sync, rerendered),
        Begun::Refused { changed } => {
            return Err(Failure::usage(format!(
                "{} messages not yet sent differ from what was first planned (e.g. {}): the campaign or its data changed since. Nothing was sent and the ledger is unchanged. Review the new content with `sessioncast run {} --dry-run`, then run again with --rerender to send it",
                changed.len(),
                changed[0],
                campaign_file.display()
            )));
        }
    };
    if asked.resend_unknown {
        eprintln!("ledger: {unknown} `unknown` messages will be sent again (--resend-unknown)");
    }
    if asked.retry_failed {
        eprintln!("ledger: {failed} retryable failures will be sent again (--retry-failed)");
    }
    if !sync.revived.is_empty() {
        eprintln!(
            "ledger: {} expired messages are planned again: their recipients wrote since",
            sync.revived.len()
        );
    }
    if rerendered > 0 {
        eprintln!("ledger: {rerendered} messages not yet sent take the new content (--rerender)");
    }
    let expired = ledger
        .expire_passed(crate::ledger::now_millis())
        .map_err(db)?;
    if expired > 0 {
        eprintln!(
            "ledger: {expired} messages not yet sent are now `expired`: their deadline passed"
        );
    }
    let settled = ledger.settled().map_err(db)?;
    Ok((settled, n as u64))
}

/// Message counts left to send per recipient, and the recipients earlier runs finished with
/// the reason the planner drops them for: `already_unknown` when any of their messages is
/// `unknown`, else `already_failed` when any failed, else `already_expired` when any expired,
/// else `already_sent`. (The worst state wins: it is the one the operator has to act on.)
pub fn pending_counts(
    c: &Campaign,
    counts: &[Option<u32>],
    settled: &HashMap<Key, State>,
) -> (Vec<Option<u32>>, HashMap<UserId, DropReason>) {
    if settled.is_empty() {
        return (counts.to_vec(), HashMap::new());
    }
    let mut by_recipient: HashMap<&str, (u32, DropReason)> = HashMap::new();
    for (key, state) in settled {
        let entry = by_recipient
            .entry(key.to.as_str())
            .or_insert((0, DropReason::AlreadySent));
        entry.0 += 1;
        entry.1 = worse(entry.1, *state);
    }
    let mut done = HashMap::new();
    let left = c
        .recipients
        .iter()
        .zip(counts)
        .map(|(r, count)| {
            let n = (*count)?;
            let (settled, reason) = by_recipient
                .get(r.to.to_string().as_str())
                .copied()
                .unwrap_or((0, DropReason::AlreadySent));
            if n > 0 && settled >= n {
                done.insert(r.to, reason);
            }
            Some(n.saturating_sub(settled))
        })
        .collect();
    (left, done)
}

/// The drop reason of a recipient whose reason so far is `so_far` and who has a row in `state`.
fn worse(so_far: DropReason, state: State) -> DropReason {
    let rank = |r: DropReason| match r {
        DropReason::AlreadyUnknown => 3,
        DropReason::AlreadyFailed => 2,
        DropReason::AlreadyExpired => 1,
        _ => 0,
    };
    let this = match state {
        // `attempting` is only seen before recovery turns it `unknown`.
        State::Unknown | State::Attempting => DropReason::AlreadyUnknown,
        State::Failed => DropReason::AlreadyFailed,
        State::Expired => DropReason::AlreadyExpired,
        State::Sent | State::Pending => DropReason::AlreadySent,
    };
    if rank(this) > rank(so_far) {
        this
    } else {
        so_far
    }
}

/// The ledger's settled rows, read without taking the lock (for `plan` and `--dry-run`): empty
/// when the campaign was never run.
pub fn peek_settled(path: &Path) -> Result<HashMap<Key, State>, Failure> {
    let Some(ledger) = open_existing(path)? else {
        return Ok(HashMap::new());
    };
    ledger.settled().map_err(|e| unreadable(path, e))
}

/// The ledger at `path` for reading, `None` only when there is certainly none (the path does
/// not exist). Anything else that stops us from reading it (a folder on the way we may not
/// enter, a file that is not a database, a directory in its place) is an error: taking it for
/// "never run" would plan everyone again.
pub fn open_existing(path: &Path) -> Result<Option<Ledger>, Failure> {
    match path.try_exists() {
        Ok(false) => return Ok(None),
        Ok(true) => {}
        Err(e) => {
            return Err(Failure::runtime(format!(
                "cannot tell whether the ledger {} exists: {e}; check the path and the permissions of its folders (it is not treated as \"never run\")",
                path.display()
            )))
        }
    }
    if path.is_dir() {
        return Err(Failure::runtime(format!(
            "the ledger {} is a directory, not a ledger file; move it away or pass --state PATH",
            path.display()
        )));
    }
    Ledger::open(path)
        .map(Some)
        .map_err(|e| unreadable(path, e))
}

/// A ledger that exists but cannot be read, with its path.
fn unreadable(path: &Path, e: crate::ledger::LedgerError) -> Failure {
    Failure::runtime(format!(
        "cannot read the ledger {}: {e}; it must be the SQLite file an earlier run wrote (restore it, or pass --state PATH)",
        path.display()
    ))
}

/// Gives the pacer the sends of earlier runs still inside a window (the ledger's attempt
/// times) and what the server told them (blocks, tighter limits), so a cron run does not burst
/// into a window its predecessor used.
pub fn restore_pacer(ledger: &Ledger, pacer: &mut Pacer) -> Result<(), Failure> {
    let db = |e: crate::ledger::LedgerError| Failure::runtime(e.to_string());
    let mut state: PacerState = ledger
        .load_meta(PACER_META)
        .map_err(db)?
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default();
    let now = SystemTime::now();
    let since = now
        .checked_sub(pacer.memory())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let since_ms = crate::ledger::to_millis(since);
    state.sends_unix_ms = ledger
        .attempted_since(since_ms)
        .map_err(db)?
        .into_iter()
        .filter_map(|ms| u64::try_from(ms).ok())
        .collect();
    pacer.restore(&state, tokio::time::Instant::now(), now);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_state_names_the_drop_reason() {
        let of = |states: &[State]| {
            states
                .iter()
                .fold(DropReason::AlreadySent, |r, s| worse(r, *s))
        };
        assert_eq!(of(&[State::Sent, State::Sent]), DropReason::AlreadySent);
        assert_eq!(
            of(&[State::Sent, State::Expired]),
            DropReason::AlreadyExpired
        );
        assert_eq!(
            of(&[State::Expired, State::Failed, State::Sent]),
            DropReason::AlreadyFailed
        );
        assert_eq!(
            of(&[State::Unknown, State::Failed, State::Expired]),
            DropReason::AlreadyUnknown
        );
        assert_eq!(
            of(&[State::Failed, State::Unknown]),
            DropReason::AlreadyUnknown
        );
    }

    #[test]
    fn ledger_sits_beside_the_campaign_under_a_safe_name() {
        let at = |file: &str, name: &str| default_path(Path::new(file), name);
        assert_eq!(
            at("campaigns/demo.yaml", "order-followup"),
            Path::new("campaigns/.sessioncast/order-followup.db")
        );
        assert_eq!(
            at("demo.yaml", "Black Friday/2026"),
            Path::new(".sessioncast/Black_Friday_2026.db")
        );
        assert_eq!(at("c.yaml", "../.."), Path::new(".sessioncast/_...db"));
        assert_eq!(at("c.yaml", "..."), Path::new(".sessioncast/campaign.db"));
    }
}
