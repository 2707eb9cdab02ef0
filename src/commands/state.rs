//! The ledger as commands use it: campaign file → ledger path, run lock, reconciling the ledger
//! with this run's rendering, and the pacer's memory of earlier runs.

use super::Failure;
use crate::campaign::{Campaign, UserId};
use crate::exit::Exit;
use crate::ledger::pg::{self, lease::Lease, lease::LeaseError, Target, UrlError};
use crate::ledger::PACER_META;
use crate::ledger::{
    Asked, Begun, Key, Ledger, LedgerError, LockError, Payloads, Planned, RunLock, State,
};
use crate::plan::{DropReason, Settled};
use crate::provider::Request;
use crate::ratelimit::{Pacer, PacerState};
use crate::render::{Decided, Requests, Status};
use rayon::prelude::*;
use std::collections::HashMap;
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

/// Where a campaign's ledger lives: a SQLite file, or a campaign in a PostgreSQL database.
#[derive(Debug, Clone)]
pub enum Location {
    File(PathBuf),
    Postgres {
        target: Box<Target>,
        campaign: String,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(p) => write!(f, "{}", p.display()),
            Location::Postgres { target, .. } => write!(f, "{target}"),
        }
    }
}

/// The variable that names the ledger when `--state` is absent (how a PostgreSQL password stays
/// out of argv).
pub const STATE_ENV: &str = "SESSIONCAST_STATE";

/// `--state`, else `$SESSIONCAST_STATE`, else `.sessioncast/<name>.db` beside the campaign. A
/// `postgres://` URL names a PostgreSQL ledger; a password written in `--state` is refused
/// (exit 3). `name` is asked only when needed (the campaign's `name:` keys its rows).
pub fn locate(
    state: Option<&Path>,
    campaign_file: &Path,
    name: impl FnOnce() -> Result<String, Failure>,
) -> Result<Location, Failure> {
    let (text, from_argv) = match state {
        Some(p) => (p.to_string_lossy().into_owned(), true),
        None => match std::env::var(STATE_ENV) {
            Ok(v) if !v.trim().is_empty() => (v.trim().to_string(), false),
            _ => return Ok(Location::File(default_path(campaign_file, &name()?))),
        },
    };
    if !pg::is_url(&text) {
        return Ok(Location::File(match state {
            Some(p) => p.to_path_buf(),
            None => PathBuf::from(text),
        }));
    }
    let target = Target::parse(&text, from_argv).map_err(|e| Failure {
        exit: Exit::Invalid,
        message: match e {
            UrlError::PasswordInArgv => e.to_string(),
            UrlError::Bad { .. } => format!(
                "{e}; write postgres://USER@HOST[:PORT]/DATABASE{}",
                if from_argv {
                    ""
                } else {
                    " in SESSIONCAST_STATE"
                }
            ),
        },
    })?;
    Ok(Location::Postgres {
        target: Box::new(target),
        campaign: name()?,
    })
}

/// The sender key of a campaign: the Cloud API phone number id, or Messangi's sender number.
/// Its rate and its lease belong to it, whichever campaign sends from it.
pub fn sender_key(c: &Campaign) -> String {
    match &c.provider.account {
        crate::provider::Account::CloudApi {
            phone_number_id, ..
        } => format!("cloud_api:{phone_number_id}"),
        crate::provider::Account::Messangi { from, .. } => format!("messangi:{from}"),
    }
}

/// Takes the sender's lease (exit 6 when another runner holds it, unless `standby`) and opens
/// the campaign's PostgreSQL ledger with the lease's fence on every claim.
pub fn lease_and_open(
    target: &Target,
    campaign: &str,
    sender: &str,
    standby: bool,
) -> Result<(Lease, Ledger), Failure> {
    let db = |e: crate::ledger::LedgerError| {
        Failure::runtime(format!("cannot use the ledger {target}: {e}"))
    };
    // The schema first: the lease writes its row into it.
    let mut ledger = Ledger::open_pg(target, campaign).map_err(db)?;
    let lease = Lease::take(target, sender, campaign, standby).map_err(|e| match e {
        LeaseError::Busy { .. } => Failure {
            exit: Exit::Locked,
            message: e.to_string(),
        },
        LeaseError::Db(e) => db(e),
    })?;
    if let Some(waited) = lease.waited() {
        eprintln!(
            "took over sender {sender} after {:.1} s",
            waited.as_secs_f64()
        );
    }
    if let Some(pg) = ledger.pg() {
        pg.register(sender).map_err(db)?;
        pg.set_fence(lease.fence(), lease.offset_ms());
    }
    Ok((lease, ledger))
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

/// The start of every payload the ledger freezes for requests to `url`, up to its body: the
/// payload is `{"method":"POST","url":…,"body":…}`, never the token.
fn payload_head(url: &str) -> String {
    let url = serde_json::Value::from(url).to_string();
    format!(
        "{{\"method\":\"{}\",\"url\":{url},\"body\":",
        Request::METHOD
    )
}

/// The requests this run may send, frozen as the ledger keeps them: one row per message of
/// every recipient render kept (not invalid, repeated or suppressed). The rows are built from
/// the rendered requests a block at a time into the ledger ([`Frozen::with_chunks`]), by one
/// function ([`Frozen::rows_of`]); two million payloads held at once were most of a
/// million-recipient run's memory. Once the ledger holds them the rendering is freed
/// ([`Frozen::into_decided`]) and the executor reads each payload back from the ledger
/// ([`Sending`]): what goes out is what the ledger froze.
pub struct Frozen {
    requests: Requests,
    /// The start of every payload, up to its body.
    head: String,
}

/// Recipients whose rows go to the ledger together (rendered in parallel, then written).
const FREEZE_BLOCK: usize = 8192;

/// Freezes the requests of `requests` (see [`Frozen`]).
pub fn freeze(requests: Requests) -> Frozen {
    let head = payload_head(requests.url());
    Frozen { requests, head }
}

impl Frozen {
    /// Recipient `i`'s frozen rows, in message order: none unless render kept it.
    pub fn rows_of(&self, c: &Campaign, i: usize) -> Vec<Planned> {
        if self.requests.status(i) != Status::Ready {
            return Vec::new();
        }
        let r = &c.recipients[i];
        let to = r.to.to_string();
        let deadline = SystemTime::from(c.deadline(r));
        let bodies = self.requests.bodies(c, i);
        bodies
            .into_iter()
            .map(|(index, body)| {
                // Sized exactly: grown by doubling, a payload would hold up to twice its text.
                let mut payload = String::with_capacity(self.head.len() + body.len() + 1);
                payload.push_str(&self.head);
                payload.push_str(&body);
                payload.push('}');
                Planned {
                    key: Key::new(to.clone(), index as u32),
                    payload,
                    deadline,
                }
            })
            .collect()
    }

    /// Only what render decided, the rendered messages freed: all a run needs once the ledger
    /// holds its payloads.
    pub fn into_decided(self) -> Decided {
        self.requests.into_decided()
    }

    /// Calls `write` with every frozen row, in recipient order, a block of recipients at a
    /// time: what the ledger's `begin_run` writes. The next blocks are rendered (in parallel)
    /// on another thread while `write` stores the current one; at most a few are held at once.
    /// Also returns which messages were frozen for each recipient.
    pub fn with_chunks<R>(
        &self,
        c: &Campaign,
        write: impl FnOnce(&mut dyn Iterator<Item = Vec<Planned>>) -> R,
    ) -> (R, Chosen) {
        let n = c.recipients.len();
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Planned>>(2);
        std::thread::scope(|scope| {
            let producer = scope.spawn(move || {
                let mut chosen = Chosen::with_recipients(n);
                for start in (0..n).step_by(FREEZE_BLOCK) {
                    let each: Vec<Vec<Planned>> = (start..(start + FREEZE_BLOCK).min(n))
                        .into_par_iter()
                        .map(|i| self.rows_of(c, i))
                        .collect();
                    for (i, rows) in (start..).zip(&each) {
                        chosen.set(i, rows.iter().map(|row| row.key.message_index));
                    }
                    // The writer stopped (an error): nothing more to render.
                    if tx.send(each.into_iter().flatten().collect()).is_err() {
                        break;
                    }
                }
                chosen
            });
            let written = write(&mut rx.into_iter());
            let chosen = producer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (written, chosen)
        })
    }
}

/// Which messages this run froze for each recipient (by campaign index): the keys the
/// executor reads back from the ledger. A bit per message index below 64 (8 bytes a
/// recipient); a recipient with a later message keeps its list aside.
pub struct Chosen {
    bits: Vec<u64>,
    beyond: HashMap<usize, Vec<u32>>,
}

impl Chosen {
    fn with_recipients(n: usize) -> Chosen {
        Chosen {
            bits: vec![0; n],
            beyond: HashMap::new(),
        }
    }

    fn set(&mut self, recipient: usize, indexes: impl Iterator<Item = u32> + Clone) {
        if indexes.clone().all(|i| i < 64) {
            self.bits[recipient] = indexes.fold(0, |bits, i| bits | 1 << i);
        } else {
            self.beyond.insert(recipient, indexes.collect());
        }
    }

    /// Recipient `recipient`'s frozen message indexes, in order.
    pub fn of(&self, recipient: usize) -> Vec<u32> {
        if let Some(list) = self.beyond.get(&recipient) {
            return list.clone();
        }
        let bits = self.bits.get(recipient).copied().unwrap_or(0);
        (0..64).filter(|i| bits & 1 << i != 0).collect()
    }
}

/// The body of a frozen payload (`{"method":…,"url":…,"body":BODY}`), its very bytes.
fn body_of(payload: &str) -> Result<&str, &'static str> {
    let start = format!("{{\"method\":\"{}\",\"url\":", Request::METHOD);
    let rest = payload
        .strip_prefix(start.as_str())
        .ok_or("it does not start with the method and URL")?;
    let mut url = serde_json::Deserializer::from_str(rest).into_iter::<String>();
    if !matches!(url.next(), Some(Ok(_))) {
        return Err("its URL is not a JSON string");
    }
    rest[url.byte_offset()..]
        .strip_prefix(",\"body\":")
        .and_then(|body| body.strip_suffix('}'))
        .ok_or("it has no body after its URL")
}

/// The executor's bodies on a run with a ledger: each block of the plan's recipients read back
/// from the payloads the ledger froze (on a connection of its own), never rendered again.
pub struct Sending {
    chosen: Chosen,
    payloads: std::sync::Mutex<Payloads>,
}

impl Sending {
    /// Reads the payloads of `ledger` for the messages `chosen` names.
    pub fn new(ledger: &Ledger, chosen: Chosen) -> Result<Sending, Failure> {
        let payloads = ledger.payloads().map_err(|e| {
            Failure::runtime(format!("cannot open the ledger to read its payloads: {e}"))
        })?;
        Ok(Sending {
            chosen,
            payloads: std::sync::Mutex::new(payloads),
        })
    }
}

impl crate::execute::Bodies for Sending {
    fn fetch(
        &self,
        c: &Campaign,
        block: &[usize],
    ) -> Result<Vec<crate::execute::Messages>, LedgerError> {
        let mut keys = Vec::new();
        let mut counts = Vec::with_capacity(block.len());
        for &i in block {
            let to = c.recipients[i].to.to_string();
            let indexes = self.chosen.of(i);
            counts.push(indexes.len());
            keys.extend(indexes.into_iter().map(|index| Key::new(to.clone(), index)));
        }
        let payloads = self
            .payloads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .fetch(&keys)?;
        let mut rows = keys.into_iter().zip(payloads);
        counts
            .into_iter()
            .map(|n| {
                rows.by_ref()
                    .take(n)
                    .map(|(key, payload)| {
                        let Some(payload) = payload else {
                            return Err(LedgerError::UnknownKey { key });
                        };
                        match body_of(&payload) {
                            Ok(body) => Ok((key.message_index as usize, body.as_bytes().to_vec())),
                            Err(why) => Err(LedgerError::BadPayload {
                                key,
                                why: why.to_string(),
                            }),
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

/// Brings the ledger up to this run: interrupted attempts become `unknown`; then, in one
/// transaction, the requested requeues happen and new messages are recorded `pending` with their
/// frozen payload. Refuses (exit 2, the ledger untouched) when content not yet sent changed,
/// unless `--rerender`. Returns the settled rows and how many interrupted attempts became
/// `unknown` (this run reports them in its summary and exit code: nobody else will).
pub fn reconcile(
    ledger: &mut Ledger,
    c: &Campaign,
    frozen: &Frozen,
    asked: Asked,
    campaign_file: &Path,
) -> Result<(HashMap<Key, State>, u64, Chosen), Failure> {
    let db = |e: crate::ledger::LedgerError| Failure::runtime(e.to_string());
    let n = ledger.recover_interrupted().map_err(db)?;
    if n > 0 {
        eprintln!(
            "ledger: {n} requests were in flight when an earlier run stopped; they are now `unknown` (they may have been delivered) and are not sent again unless --resend-unknown"
        );
    }
    let (begun, chosen) = frozen.with_chunks(c, |rows| ledger.begin_run_chunks(rows, asked));
    let (unknown, failed, sync, rerendered) = match begun.map_err(db)? {
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
    Ok((settled, n as u64, chosen))
}

/// What earlier runs settled, per recipient number: how many of its messages, and the reason
/// the planner drops it for once all are settled: `already_unknown` when any of its messages
/// is `unknown`, else `already_failed` when any failed, else `already_expired` when any
/// expired, else `already_sent`. (The worst state wins: it is the one the operator has to act
/// on.)
pub fn by_recipient(settled: &HashMap<Key, State>) -> HashMap<String, Settled> {
    let mut by: HashMap<String, Settled> = HashMap::new();
    for (key, state) in settled {
        let entry = by.entry(key.to.clone()).or_insert(Settled {
            messages: 0,
            reason: DropReason::AlreadySent,
        });
        entry.messages += 1;
        entry.reason = worse(entry.reason, *state);
    }
    by
}

/// One recipient's entry of [`by_recipient`].
pub fn settled_of(by: &HashMap<String, Settled>, to: UserId) -> Option<Settled> {
    if by.is_empty() {
        return None; // never run: no number to format
    }
    by.get(&to.to_string()).copied()
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
pub fn peek_settled(at: &Location) -> Result<HashMap<Key, State>, Failure> {
    let Some(ledger) = open_at(at)? else {
        return Ok(HashMap::new());
    };
    ledger.settled().map_err(|e| match at {
        Location::File(path) => unreadable(path, e),
        Location::Postgres { target, .. } => {
            Failure::runtime(format!("cannot read the ledger {target}: {e}"))
        }
    })
}

/// The ledger at `at` for reading, `None` when there is certainly none: no file, or no run of
/// the campaign recorded in the database.
pub fn open_at(at: &Location) -> Result<Option<Ledger>, Failure> {
    match at {
        Location::File(path) => open_existing(path),
        Location::Postgres { target, campaign } => {
            let db = |e: crate::ledger::LedgerError| {
                Failure::runtime(format!("cannot read the ledger {target}: {e}"))
            };
            let mut ledger = Ledger::open_pg(target, campaign).map_err(db)?;
            let exists = match ledger.pg() {
                Some(pg) => pg.exists().map_err(db)?,
                None => false,
            };
            Ok(exists.then_some(ledger))
        }
    }
}

/// Whether no run holds the ledger at `at`, for readers that change rows (`status`, `ingest`).
/// On PostgreSQL the database answers this itself inside the change's transaction, so this
/// only serves files.
pub fn idle(at: &Location) -> bool {
    match at {
        Location::File(path) => RunLock::is_free(path),
        Location::Postgres { .. } => true,
    }
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
    // Persisted instants are on the ledger's clock (the database's, on PostgreSQL).
    let offset = std::time::Duration::from_millis(ledger.clock_offset_ms().unsigned_abs());
    let local = SystemTime::now();
    let now = match ledger.clock_offset_ms() >= 0 {
        true => local.checked_add(offset),
        false => local.checked_sub(offset),
    }
    .unwrap_or(local);
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
    fn frozen_payloads_keep_the_format_earlier_ledgers_hold() {
        // Ledgers written before hold `json!({method, url, body})`: a payload in another
        // shape would read as changed content and refuse the next run.
        let url = "https://h.example.com/v23.0/1/messages?\"x\"";
        let body = serde_json::json!({"to": "+1", "text": {"body": "¡Hola \"José\" 🌷\n"}});
        let old = serde_json::json!({"method": "POST", "url": url, "body": body}).to_string();
        assert_eq!(format!("{}{body}}}", payload_head(url)), old);
    }

    #[test]
    fn a_payload_gives_back_its_body_byte_for_byte() {
        let url = "https://h.example.com/v23.0/1/messages?\"x\"}";
        let body = r#"{"to":"+1","text":{"body":"¡Hola \"José\" 🌷\n}"}}"#;
        let payload = format!("{}{body}}}", payload_head(url));
        assert_eq!(body_of(&payload), Ok(body));
        assert!(body_of(r#"{"method":"POST","body":{}}"#).is_err());
        assert!(body_of(r#"{"method":"POST","url":3,"body":{}}"#).is_err());
    }

    #[test]
    fn chosen_messages_are_kept_for_any_index() {
        let mut chosen = Chosen::with_recipients(3);
        chosen.set(0, [0, 2, 63].into_iter());
        chosen.set(2, [1, 64, 70].into_iter());
        assert_eq!(chosen.of(0), [0, 2, 63]);
        assert_eq!(chosen.of(1), Vec::<u32>::new());
        assert_eq!(chosen.of(2), [1, 64, 70]);
    }

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
