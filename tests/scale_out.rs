//! Acceptance tests of the shared PostgreSQL ledger (scale-out): several processes of the real
//! binary on one database, SIGKILLed and replaced, against sandboxes on loopback; judged by what
//! the sandboxes received (their delivery logs and counters) and what the ledger says.
//!
//! Each test has a database of its own on the server named by `SESSIONCAST_TEST_PG` (see
//! tests/support/pg.rs: skipped with a line when unset outside CI, a failure under `CI=true`).

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/pg.rs"]
mod pg;

use fleet::{campaign, config, count, most_in_any_window, text, Folder, Provider};
use rand::{RngExt, SeedableRng};
use sessioncast::sandbox::WindowMode;
use std::time::{Duration, Instant};
use tokio::process::Child;

/// A sandbox announcing `rate` (per second) with the provider note's headers but enforcing the
/// same count per 900 ms in `mode`: the 100 ms of slack absorbs the scheduling delays of a loaded
/// machine (a request late by more than the pacer's 2 % margin would otherwise be refused), while
/// two runners sending without regard to each other would still exceed it at once.
fn sandbox(rate: &str, mode: WindowMode, delay: Duration) -> sessioncast::sandbox::SandboxConfig {
    let (limit, window) = rate.split_once('/').unwrap();
    assert_eq!(window, "1s", "rates here are per second");
    let mut cfg = config(rate, mode, delay);
    cfg.real_rate = Some(format!("{limit}/900ms").parse().unwrap());
    cfg
}

/// The states a row may end in.
const SETTLED: [&str; 4] = ["sent", "failed", "expired", "unknown"];

/// Every one of `n` rows ended sent, failed, expired or unknown.
fn assert_settled(status: &serde_json::Value, n: u64) {
    let settled: u64 = SETTLED.iter().map(|s| count(status, s)).sum();
    assert_eq!(settled, n, "{}", status["counts"]);
    assert_eq!(count(status, "pending") + count(status, "attempting"), 0);
}

/// Which of `pids` holds the sender's lease, according to the `leases` table its holder writes
/// (matched by value, whatever the column is called). `None` while nobody has written it yet.
fn lease_holder(db: &pg::TestDb, pids: &[u32]) -> Option<u32> {
    if !db.has_table("leases") {
        return None;
    }
    let rows = db.rows("SELECT * FROM leases");
    pids.iter().copied().find(|pid| {
        rows.iter().any(|row| {
            row.as_object().unwrap().values().any(|v| {
                v.as_u64() == Some(u64::from(*pid)) || v.as_str() == Some(pid.to_string().as_str())
            })
        })
    })
}

/// Polls until one of `pids` holds the lease (at most 20 s).
async fn wait_for_holder(db: &pg::TestDb, pids: &[u32]) -> u32 {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(pid) = lease_holder(db, pids) {
            return pid;
        }
        assert!(
            Instant::now() < until,
            "no runner of {pids:?} took the lease"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The runs of `folder` kept their ledger in `db`, not in a SQLite file.
fn assert_on_postgres(db: &pg::TestDb, folder: &Folder) {
    db.assert_used();
    folder.assert_no_sqlite();
}

/// Neither the runners' output nor the ledger's lease table shows the database password.
fn assert_password_hidden(db: &pg::TestDb, printed: &[(String, String)]) {
    let pw = db.password();
    assert!(pw.len() >= 8, "the test server should use a real password");
    for (out, err) in printed {
        assert!(
            !out.contains(&pw) && !err.contains(&pw),
            "password printed:\n{out}\n{err}"
        );
    }
    if db.has_table("leases") {
        let rows = serde_json::to_string(&db.rows("SELECT * FROM leases")).unwrap();
        assert!(!rows.contains(&pw), "password stored in leases: {rows}");
    }
}

/// Three runners on one campaign and one sender; every 1–2 s the lease holder is SIGKILLed and
/// replaced by a fresh `--standby` runner, until nothing is left to send. At most once across
/// processes, zero 429s, every row settled, `unknown` bounded by what a kill can leave in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_holder_killed_repeatedly_nobody_receives_twice() {
    let Some(db) = pg::TestDb::new("holder_killed") else {
        return;
    };
    const N: u64 = 400;
    const RATE: &str = "50/1s";
    // 100 ms answers keep requests in flight when a kill lands.
    let provider = Provider::start(sandbox(
        RATE,
        WindowMode::Anchored,
        Duration::from_millis(100),
    ))
    .await;
    let folder = Folder::with_state(db.url());
    let yaml = campaign(
        "scale-kill",
        provider.addr(),
        "1065",
        RATE,
        0..N as usize,
        "",
    );
    folder.write("c.yaml", &yaml);
    let in_flight = sessioncast::execute::in_flight(RATE.parse().unwrap()) as u64;
    let seed: u64 = rand::random();
    eprintln!("kill moments seeded with {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let args = ["run", "c.yaml", "--standby"];
    let mut names = 0;
    let mut spawn = |folder: &Folder| {
        names += 1;
        let name = format!("runner{names}");
        let child = folder.spawn(&name, &args);
        (name, child)
    };
    let mut runners: Vec<(String, Child)> = (0..3).map(|_| spawn(&folder)).collect();
    let mut exits: Vec<(String, Option<i32>)> = Vec::new();
    let mut kills: Vec<jiff::Timestamp> = Vec::new();
    let started = Instant::now();
    let mut next_kill = started + Duration::from_millis(rng.random_range(1000..2000));
    let mut sending = true;
    while !runners.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the campaign did not end; {} kills; sandbox {:?}",
            kills.len(),
            provider.stats()
        );
        let mut i = 0;
        while i < runners.len() {
            match runners[i].1.try_wait().unwrap() {
                Some(st) => exits.push((runners.remove(i).0, st.code())),
                None => i += 1,
            }
        }
        if sending && Instant::now() >= next_kill {
            let st = folder
                .output(&["status", "c.yaml", "--format", "json"])
                .await;
            let pending = match serde_json::from_slice::<serde_json::Value>(&st.stdout) {
                Ok(v) if st.status.success() => count(&v, "pending"),
                _ => N, // no ledger yet
            };
            sending = pending > 0;
            let pids: Vec<u32> = runners.iter().filter_map(|(_, c)| c.id()).collect();
            if let (true, Some(pid)) = (sending, lease_holder(&db, &pids)) {
                let at = runners
                    .iter()
                    .position(|(_, c)| c.id() == Some(pid))
                    .unwrap();
                let (name, mut child) = runners.remove(at);
                kills.push(jiff::Timestamp::now());
                child.start_kill().unwrap();
                let st = child.wait().await.unwrap();
                exits.push((name, st.code()));
                runners.push(spawn(&folder));
                next_kill = Instant::now() + Duration::from_millis(rng.random_range(1000..2000));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let printed: Vec<(String, String)> = (1..=names)
        .map(|k| folder.printed(&format!("runner{k}")))
        .collect();
    let all_printed = || {
        printed
            .iter()
            .enumerate()
            .map(|(k, (o, e))| format!("--- runner{}\n{o}{e}", k + 1))
            .collect::<String>()
    };
    for (name, code) in &exits {
        // Killed (no code), or finished: 0, or 4 when it reported a killed holder's unknowns.
        assert!(
            matches!(code, None | Some(0 | 4)),
            "{name} exited {code:?}\n{}",
            all_printed()
        );
    }
    let status = folder.status("c.yaml").await;
    assert_settled(&status, N);
    let kills_n = kills.len() as u64;
    assert!(
        kills_n >= 3,
        "only {kills_n} kills landed\n{}",
        all_printed()
    );
    let unknown = count(&status, "unknown");
    assert!(
        unknown <= kills_n * in_flight,
        "unknown {unknown} > {kills_n} kills × {in_flight} in flight"
    );
    let stats = provider.stats();
    provider.assert_nobody_twice();
    assert_eq!(stats.rejected_rate, 0, "429s: {stats:?}");
    // What the sandbox received is exactly the `sent` rows plus some of the `unknown` ones.
    let delivered = provider.delivered();
    for row in status["recipients"].as_array().unwrap() {
        let to: String = row["to"]
            .as_str()
            .unwrap()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let got = delivered.contains_key(&to);
        match row["state"].as_str().unwrap() {
            "sent" => assert!(got, "{to} is `sent` but was never delivered"),
            "unknown" => {}
            state => assert!(!got, "{to} is `{state}` but was delivered"),
        }
    }
    let takeovers = takeover_times(&kills, &provider.received());
    eprintln!(
        "{kills_n} kills; final counts {}; sandbox {stats:?}; takeover (holder killed → next request received) in ms: {takeovers:?}",
        status["counts"]
    );
    assert!(
        printed
            .iter()
            .any(|(_, e)| e.contains("took over sender cloud_api:1065 after")),
        "no runner logged its takeover\n{}",
        all_printed()
    );
    assert_password_hidden(&db, &printed);
    assert_on_postgres(&db, &folder);
}

/// For each kill, the time until the sandbox received the next request (from the next holder:
/// what the killed one had written arrives within milliseconds, so requests within 30 ms of the
/// kill are not counted). `None` when nothing came after it (the campaign ended meanwhile).
fn takeover_times(kills: &[jiff::Timestamp], received: &[fleet::Received]) -> Vec<Option<i64>> {
    let grace = jiff::SignedDuration::from_millis(30);
    kills
        .iter()
        .map(|k| {
            let after = *k + grace;
            received
                .iter()
                .find(|r| r.at > after)
                .map(|r| r.at.duration_since(*k).as_millis() as i64)
        })
        .collect()
}

/// Two campaigns on one sender number, each with its runner (two hosts): one waits for the
/// other's lease (`--standby`), a cron-style third exits 6 at once naming the holder, and
/// together they stay within the sender's rate: no 429 from a sliding-window server, and no
/// second of the merged arrival log holds more than the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_campaigns_on_one_sender_stay_within_its_rate() {
    let Some(db) = pg::TestDb::new("shared_sender") else {
        return;
    };
    const RATE: &str = "20/1s";
    let provider = Provider::start(sandbox(
        RATE,
        WindowMode::Sliding,
        Duration::from_millis(20),
    ))
    .await;
    let folder = Folder::with_state(db.url());
    folder.write(
        "a.yaml",
        &campaign("share-a", provider.addr(), "1065", RATE, 0..50, ""),
    );
    folder.write(
        "b.yaml",
        &campaign("share-b", provider.addr(), "1065", RATE, 100..150, ""),
    );
    let mut a = folder.spawn("a", &["run", "a.yaml", "--standby"]);
    let mut b = folder.spawn("b", &["run", "b.yaml", "--standby"]);
    let holder = wait_for_holder(&db, &[a.id().unwrap(), b.id().unwrap()]).await;

    let asked = Instant::now();
    let cron = folder.output(&["run", "b.yaml"]).await;
    let waited = asked.elapsed();
    assert_eq!(cron.status.code(), Some(6), "{}", text(&cron));
    let err = String::from_utf8_lossy(&cron.stderr);
    assert!(
        err.contains("sender cloud_api:1065 is busy: another runner holds its lease")
            && err.contains(&format!("pid {holder}")),
        "{err}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "exit 6 came after {waited:?}"
    );

    let (ca, cb) = (a.wait().await.unwrap(), b.wait().await.unwrap());
    let printed = [folder.printed("a"), folder.printed("b")];
    assert!(
        ca.success() && cb.success(),
        "a: {ca:?} b: {cb:?}\n{printed:?}"
    );
    for file in ["a.yaml", "b.yaml"] {
        let status = folder.status(file).await;
        assert_eq!(count(&status, "sent"), 50, "{file}: {}", status["counts"]);
    }
    let stats = provider.stats();
    assert_eq!(stats.accepted, 100, "{stats:?}");
    assert_eq!(stats.rejected_rate, 0, "429s: {stats:?}");
    provider.assert_nobody_twice();
    let times: Vec<_> = provider.received().iter().map(|r| r.at).collect();
    let most = most_in_any_window(&times, Duration::from_secs(1));
    assert!(
        most <= 20,
        "{most} arrivals within one second against 20/1s"
    );
    assert!(
        printed
            .iter()
            .any(|(_, e)| e.contains("took over sender cloud_api:1065 after")),
        "the waiting runner did not log its takeover: {printed:?}"
    );
    assert_password_hidden(&db, &printed);
    assert_on_postgres(&db, &folder);
}

/// Two sender numbers, each with its own limit (its own sandbox) and runner: they send at the
/// same time, so together they deliver about the sum of the two rates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_senders_send_in_parallel() {
    let Some(db) = pg::TestDb::new("two_senders") else {
        return;
    };
    const RATE: &str = "40/1s";
    const N: usize = 200;
    let one = Provider::start(sandbox(
        RATE,
        WindowMode::Sliding,
        Duration::from_millis(20),
    ))
    .await;
    let two = Provider::start(sandbox(
        RATE,
        WindowMode::Sliding,
        Duration::from_millis(20),
    ))
    .await;
    let folder = Folder::with_state(db.url());
    folder.write(
        "one.yaml",
        &campaign("sender-one", one.addr(), "1111", RATE, 0..N, ""),
    );
    folder.write(
        "two.yaml",
        &campaign("sender-two", two.addr(), "2222", RATE, 0..N, ""),
    );
    let (r1, r2) = tokio::join!(
        folder.output(&["run", "one.yaml"]),
        folder.output(&["run", "two.yaml"])
    );
    assert_eq!(r1.status.code(), Some(0), "{}", text(&r1));
    assert_eq!(r2.status.code(), Some(0), "{}", text(&r2));
    let span = |p: &Provider| {
        let got = p.received();
        assert_eq!(got.len(), N, "{:?}", p.stats());
        (got[0].at, got[N - 1].at)
    };
    let secs = |a: jiff::Timestamp, b: jiff::Timestamp| b.duration_since(a).as_secs_f64();
    let ((s1, e1), (s2, e2)) = (span(&one), span(&two));
    let (d1, d2) = (secs(s1, e1), secs(s2, e2));
    let overlap = secs(s1.max(s2), e1.min(e2)).max(0.0);
    let union = secs(s1.min(s2), e1.max(e2));
    let (rate1, rate2, combined) = (N as f64 / d1, N as f64 / d2, 2.0 * N as f64 / union);
    eprintln!(
        "sender one {rate1:.1}/s over {d1:.2} s, sender two {rate2:.1}/s over {d2:.2} s, overlap {overlap:.2} s, together {combined:.1}/s"
    );
    assert!(
        overlap >= 0.5 * d1.min(d2),
        "the two senders did not send at the same time: overlap {overlap:.2} s of {d1:.2} and {d2:.2}"
    );
    // ≈ the sum; the tolerance covers start-up skew on a loaded machine, not a serial run
    // (which would give about half).
    assert!(
        combined >= 0.75 * (rate1 + rate2),
        "together {combined:.1}/s, the senders alone {rate1:.1} + {rate2:.1}"
    );
    for p in [&one, &two] {
        assert_eq!(p.stats().rejected_rate, 0, "{:?}", p.stats());
        p.assert_nobody_twice();
    }
    assert_on_postgres(&db, &folder);
}

/// The same campaign and the same seeded sandbox, once on SQLite and once on PostgreSQL:
/// `status`, `report`, `plan` and the dry run print the same (times of the runs aside).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_prints_what_sqlite_prints() {
    let Some(db) = pg::TestDb::new("same_output") else {
        return;
    };
    // One absolute inbound time for both runs, so deadlines and plans are the same.
    let inbound = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let inbound = inbound.round(jiff::Unit::Second).unwrap();
    let sqlite = outputs(&Folder::sqlite(), inbound).await;
    let on_pg = Folder::with_state(db.url());
    let postgres = outputs(&on_pg, inbound).await;
    assert_on_postgres(&db, &on_pg);
    for ((what, a), (_, b)) in sqlite.iter().zip(&postgres) {
        assert_eq!(
            a,
            b,
            "{what} differs\nSQLite:\n{}\nPostgreSQL:\n{}",
            serde_json::to_string_pretty(a).unwrap(),
            serde_json::to_string_pretty(b).unwrap()
        );
    }
}

/// Runs the comparison campaign in `folder` against a fresh seeded sandbox, ingests the sandbox's
/// webhooks and returns what each command printed (run times replaced by placeholders).
async fn outputs(
    folder: &Folder,
    inbound: jiff::Timestamp,
) -> Vec<(&'static str, serde_json::Value)> {
    const RATE: &str = "2/1s"; // one request in flight: the seeded faults hit the same rows
    let mut cfg = config(RATE, WindowMode::Anchored, Duration::ZERO);
    cfg.seed = Some(13);
    cfg.fail_rate = 0.2;
    cfg.drop_rate = 0.2;
    cfg.read_rate = 0.5;
    cfg.reply_rate = 0.3;
    cfg.webhook_log = Some(folder.path("webhooks.jsonl"));
    // Two recipients whose session the provider knows is closed: refused with 131047.
    let closed = std::time::SystemTime::now() - Duration::from_secs(30 * 3600);
    for i in [3, 7] {
        let e164: String = fleet::number(i).replace(' ', "");
        cfg.inbound.insert(e164, closed);
    }
    let provider = Provider::start(cfg).await;
    let yaml = campaign("same-output", provider.addr(), "1065", RATE, 0..10, "")
        .replace("1h ago", &inbound.to_string());
    folder.write("c.yaml", &yaml);
    let run = folder.output(&["run", "c.yaml"]).await;
    assert!(matches!(run.status.code(), Some(0 | 4)), "{}", text(&run));
    provider.sandbox.shutdown().await;
    let ingest = folder
        .output(&["ingest", "c.yaml", "webhooks.jsonl", "--format", "json"])
        .await;
    assert_eq!(ingest.status.code(), Some(0), "{}", text(&ingest));
    let now = (inbound + jiff::SignedDuration::from_mins(30)).to_string();
    let now = now.as_str();
    let mut all = vec![("ingest", serde_json::from_slice(&ingest.stdout).unwrap())];
    all.push(("status", folder.status("c.yaml").await));
    for (what, args) in [
        (
            "report",
            &["report", "c.yaml", "--format", "json", "--per-recipient"][..],
        ),
        (
            "plan",
            &["plan", "c.yaml", "--format", "json", "--now", now][..],
        ),
    ] {
        all.push((what, folder.json(args).await));
    }
    let dry = folder
        .output(&[
            "run",
            "c.yaml",
            "--dry-run",
            "--format",
            "json",
            "--now",
            now,
        ])
        .await;
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&dry.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    all.push(("run --dry-run", serde_json::Value::Array(lines)));
    for (_, v) in &mut all {
        placeholders(v);
    }
    all
}

/// Replaces what differs between two runs of the same campaign: the times things happened
/// (any RFC 3339 value except deadlines, which come from the campaign) and the provider's ids.
fn placeholders(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match v {
                    serde_json::Value::String(s) if k == "provider_id" => *s = "<id>".into(),
                    serde_json::Value::String(s)
                        if k != "deadline" && s.parse::<jiff::Timestamp>().is_ok() =>
                    {
                        *s = "<time>".into()
                    }
                    _ => placeholders(v),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(placeholders),
        _ => {}
    }
}

/// A password inside `--state` is refused before anything runs, with the ways to pass it
/// instead, and is not repeated. Needs no server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_on_the_command_line_is_refused() {
    let folder = Folder::sqlite();
    folder.write(
        "c.yaml",
        &campaign(
            "pw",
            "127.0.0.1:9".parse().unwrap(),
            "1065",
            "2/1s",
            0..2,
            "",
        ),
    );
    let url = "postgres://someone:s3cret-Pw-9@127.0.0.1:5432/ledger";
    for args in [
        &["run", "c.yaml", "--state", url][..],
        &["status", "c.yaml", "--state", url][..],
        &["report", "c.yaml", "--state", url][..],
        &["plan", "c.yaml", "--state", url][..],
        &["ingest", "c.yaml", "--state", url][..],
    ] {
        let out = folder.output(args).await;
        let all = text(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {all}");
        assert!(
            all.contains("SESSIONCAST_STATE") && all.contains("PGPASSWORD"),
            "{args:?}: {all}"
        );
        assert!(
            !all.contains("s3cret-Pw-9"),
            "{args:?} printed the password: {all}"
        );
    }
}

/// A `--standby` runner loads the campaign again once it takes the lease: recipients added to
/// the file while it waited are sent, and the ones the holder sent are not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_sends_the_campaign_as_it_is_when_it_takes_over() {
    let Some(db) = pg::TestDb::new("standby_reload") else {
        return;
    };
    const RATE: &str = "10/1s";
    let provider =
        Provider::start(sandbox(RATE, WindowMode::Sliding, Duration::from_millis(5))).await;
    let folder = Folder::with_state(db.url());
    let write = |recipients| {
        folder.write(
            "c.yaml",
            &campaign("reload", provider.addr(), "1065", RATE, recipients, ""),
        )
    };
    write(0..30);
    let mut holder = folder.spawn("holder", &["run", "c.yaml"]);
    wait_for_holder(&db, &[holder.id().unwrap()]).await;
    let mut standby = folder.spawn("standby", &["run", "c.yaml", "--standby"]);
    // Once it says it stands by, it has loaded the file as it was.
    let until = Instant::now() + Duration::from_secs(20);
    while !folder.printed("standby").1.contains("standing by") {
        assert!(Instant::now() < until, "{:?}", folder.printed("standby"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    write(0..40);
    let (h, s) = (holder.wait().await.unwrap(), standby.wait().await.unwrap());
    let printed = (folder.printed("holder"), folder.printed("standby"));
    assert!(h.success() && s.success(), "{printed:?}");
    assert!(printed.1 .1.contains("took over"), "{printed:?}");
    let stats = provider.stats();
    assert_eq!(stats.accepted, 40, "{stats:?} {printed:?}");
    provider.assert_nobody_twice();
    let status = folder.status("c.yaml").await;
    assert_eq!(count(&status, "sent"), 40, "{}", status["counts"]);
}
