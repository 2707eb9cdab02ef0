//! Command-line options of `sessioncast sandbox` → `SandboxConfig` (reads the token variable and the inbound CSV).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::config::{HeaderDialect, SandboxConfig, WindowMode, Wire};
use crate::campaign::{parse_inbound, CsvFile, InboundError};
use crate::ratelimit::Rate;

/// Run a local stand-in for the messaging provider, to rehearse campaigns without sending anything real.
///
/// It answers Messangi `POST /notification` and WhatsApp Cloud API `POST /{version}/{phone-id}/messages`
/// like the provider would, including 429s, closed 24-hour windows (error 131047) and flaky
/// networks, and counts what it received at `GET /_sandbox/stats`.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Port to listen on, always on 127.0.0.1 (0 picks a free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    /// Quota to enforce as N/DURATION, e.g. `2/300s` (the provider's 2 requests per 5 minutes) or
    /// `4/2s` for a quick rehearsal. Without it, every request is admitted.
    #[arg(long, value_name = "N/DURATION")]
    pub rate: Option<Rate>,

    /// Enforce this quota instead while the headers keep announcing --rate: a server whose
    /// headers do not match its real limit (e.g. `--rate 4/2s --real-rate 3/2s`).
    #[arg(long, value_name = "N/DURATION", requires = "rate")]
    pub real_rate: Option<Rate>,

    /// How the quota window is laid over time; clients should survive all of them. `leaky`
    /// (nginx `limit_req`) and `estimate` (HAProxy `http_req_rate`) send no rate headers.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = WindowMode::Anchored)]
    pub window_mode: WindowMode,

    /// Which rate-limit headers to send with every answer (and with which reset format).
    #[arg(long, value_enum, value_name = "DIALECT", default_value_t = HeaderDialect::Note)]
    pub headers: HeaderDialect,

    /// Require `Authorization: Bearer <token>`, with the token taken from this environment variable
    /// (e.g. `--token-env MESSANGI_API_KEY`). The token itself is never printed or logged.
    #[arg(long, value_name = "NAME")]
    pub token_env: Option<String>,

    /// CSV with a header row naming `to` and `last_inbound_at` (other columns are ignored):
    /// when each recipient last wrote to you, in any form a campaign accepts: RFC 3339
    /// (`2025-06-01T14:30:00Z`, any offset), Unix seconds, or relative to now (`1h 0m ago`).
    /// Messages to a listed recipient after that time plus --window-length fail with error 131047.
    #[arg(long, value_name = "FILE")]
    pub inbound: Option<PathBuf>,

    /// How long a session window stays open after the recipient's last message.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = crate::duration::parse)]
    pub window_length: Duration,

    /// Share of acceptable sends that fail with HTTP 500 (code 131000) and are not delivered,
    /// from 0 to 1 (0.05 = one in twenty).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub fail_rate: f64,

    /// Share of sends that are delivered but never answered: the connection closes instead, as
    /// when a network fails mid-request. A correct client must not send those again. From 0 to 1.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub drop_rate: f64,

    /// Share of sends that are delivered and answered 200 with complete headers, but whose body
    /// is cut halfway (the connection closes), as when a network fails mid-answer. From 0 to 1.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub cut_rate: f64,

    /// Wait this long before every answer, to mimic a distant server (e.g. `200ms`).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = crate::duration::parse)]
    pub delay: Duration,

    /// Append every delivered message to this file as one JSON line: {"time","to","body"}.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Seed for --fail-rate, --drop-rate and --cut-rate (and the webhooks' read, reply and
    /// late-failure choices), to get the same faults on every run.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Play the platform: append every webhook it would post to this file, one compact JSON POST
    /// body per line (the webhook log `sessioncast ingest` reads). For each delivered send,
    /// including those whose answer was dropped or cut: `sent` (with the provider id and the
    /// request's send key), then `delivered`, `read` for --read-rate of them, or a late `failed`;
    /// a reply for --reply-rate. At start, one inbound message per --inbound user at their
    /// `last_inbound_at` (profile name from a `name` column).
    #[arg(long, value_name = "FILE")]
    pub webhook_log: Option<PathBuf>,

    /// POST every webhook body to this URL as well (retried with backoff for about 3 s, never
    /// holding up a send), signed with `X-Hub-Signature-256` when --app-secret-env is given.
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<String>,

    /// Sign the POSTed Cloud API webhooks with the app secret in this environment variable
    /// (`X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>`, as Meta does; Messangi
    /// callbacks are not signed). The secret is never printed.
    #[arg(long, value_name = "NAME", requires = "webhook_url")]
    pub app_secret_env: Option<String>,

    /// The format of the inbound messages of the --inbound users (statuses always follow the
    /// format of the request they report on).
    #[arg(long, value_enum, value_name = "PROVIDER", default_value_t = Wire::CloudApi)]
    pub webhook_provider: Wire,

    /// Share of delivered messages also reported `read`, from 0 to 1.
    #[arg(long, value_name = "P", default_value_t = 0.5, value_parser = probability)]
    pub read_rate: f64,

    /// Share of accepted sends (answered 200) later reported `failed` instead of delivered, with
    /// error 131047 (window closed) or 131026 (undeliverable), as the platform does. From 0 to 1.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub fail_after_accept_rate: f64,

    /// Share of delivered messages the recipient replies to (an inbound message whose
    /// `context.id` is the message's provider id), from 0 to 1.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub reply_rate: f64,

    /// Share of delivered sends whose status webhooks come newest first (read before delivered
    /// before sent) and then all a second time, as the platform delivers at least once and in no
    /// guaranteed order: for testing deduplication. From 0 to 1.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub disorder_rate: f64,
}

impl SandboxArgs {
    /// The loopback address to bind.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }
}

/// Why the options do not make a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable named by `flag` (`--token-env`, `--app-secret-env`) holds nothing.
    #[error("{flag} {name}: the environment variable `{name}` is not set or empty")]
    Unset { flag: &'static str, name: String },
    /// Not repeated: its path may hold a shared token.
    #[error("--webhook-url is not an http:// or https:// URL, e.g. http://127.0.0.1:8090/webhook")]
    WebhookUrl,
    #[error(transparent)]
    Inbound(#[from] InboundFileError),
}

/// Why the `--inbound` CSV cannot be used; every bad row is reported, each as `file:line`.
#[derive(Debug, thiserror::Error)]
pub enum InboundFileError {
    #[error("{}: {error}", .file.display())]
    Open {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {error}", .file.display())]
    Header { file: PathBuf, error: csv::Error },
    #[error("{}: the header row must name the columns `to` and `last_inbound_at`", .file.display())]
    Columns { file: PathBuf },
    #[error("{}", rows_text(.file, .rows))]
    Rows {
        file: PathBuf,
        rows: Vec<(u64, RowError)>,
    },
}

/// What is wrong with one row of the `--inbound` CSV.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error("`to` is empty")]
    NoTo,
    #[error("last_inbound_at {0}")]
    LastInboundAt(#[from] InboundError),
}

fn rows_text(file: &Path, rows: &[(u64, RowError)]) -> String {
    let lines: Vec<String> = rows
        .iter()
        .map(|(line, e)| format!("{}:{line}: {e}", file.display()))
        .collect();
    lines.join("\n")
}

/// Builds the server configuration: reads the token from its variable and loads the inbound CSV.
pub fn config_from_args(args: &SandboxArgs) -> Result<SandboxConfig, ConfigError> {
    let token = match &args.token_env {
        Some(name) => match std::env::var(name) {
            Ok(value) if !value.trim().is_empty() => Some(value.trim().to_string()),
            _ => {
                return Err(ConfigError::Unset {
                    flag: "--token-env",
                    name: name.clone(),
                })
            }
        },
        None => None,
    };
    let (inbound, names) = match &args.inbound {
        Some(path) => load_inbound(path)?,
        None => (HashMap::new(), HashMap::new()),
    };
    if let Some(u) = &args.webhook_url {
        let ok = url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https"));
        if !ok {
            return Err(ConfigError::WebhookUrl);
        }
    }
    let app_secret = match &args.app_secret_env {
        Some(name) => match std::env::var(name) {
            Ok(value) if !value.is_empty() => Some(value),
            _ => {
                return Err(ConfigError::Unset {
                    flag: "--app-secret-env",
                    name: name.clone(),
                })
            }
        },
        None => None,
    };
    Ok(SandboxConfig {
        rate: args.rate,
        real_rate: args.real_rate,
        window_mode: args.window_mode,
        headers: args.headers,
        token,
        inbound,
        inbound_numbers: Vec::new(),
        window_length: args.window_length,
        fail_rate: args.fail_rate,
        drop_rate: args.drop_rate,
        cut_rate: args.cut_rate,
        delay: args.delay,
        log: args.log.clone(),
        validator: None,
        seed: args.seed,
        webhook_log: args.webhook_log.clone(),
        webhook_url: args.webhook_url.clone(),
        app_secret,
        webhook_provider: args.webhook_provider,
        read_rate: args.read_rate,
        fail_after_accept_rate: args.fail_after_accept_rate,
        reply_rate: args.reply_rate,
        disorder_rate: args.disorder_rate,
        names,
    })
}

/// A `--…-rate` value that is not a number from 0 to 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a probability: use a number from 0 to 1, e.g. 0.05")]
pub struct ProbabilityError(String);

fn probability(s: &str) -> Result<f64, ProbabilityError> {
    match s.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(ProbabilityError(s.into())),
    }
}

/// Reads `to,last_inbound_at,...` with the campaigns' CSV reader and time parser (RFC 3339, Unix
/// seconds, or relative to now such as `1h 0m ago`); rows with an empty time are skipped (window
/// treated as open). An optional `name` column gives the users' profile names (for the inbound
/// webhooks). All bad rows are reported together, each as `file:line`.
fn load_inbound(path: &Path) -> Result<(Inbound, HashMap<String, String>), InboundFileError> {
    let file = || path.to_path_buf();
    let mut reader = CsvFile::open(path, true).map_err(|error| InboundFileError::Open {
        file: file(),
        error,
    })?;
    let header = reader.headers().map_err(|error| InboundFileError::Header {
        file: file(),
        error,
    })?;
    let column = |name: &str| header.iter().position(|h| h == name);
    let (Some(to_col), Some(at_col)) = (column("to"), column("last_inbound_at")) else {
        return Err(InboundFileError::Columns { file: file() });
    };
    let name_col = column("name");
    let now = jiff::Timestamp::now();
    let (mut inbound, mut names, mut errors) = (HashMap::new(), HashMap::new(), Vec::new());
    for (line, record) in reader {
        if let (Ok(r), Some(col)) = (&record, name_col) {
            match (r.get(to_col), r.get(col)) {
                (Some(to), Some(name)) if !to.is_empty() && !name.is_empty() => {
                    names.insert(to.to_string(), name.to_string());
                }
                _ => {}
            }
        }
        let row = record
            .map_err(RowError::from)
            .and_then(|r| inbound_row(&r, to_col, at_col, now));
        match row {
            Ok(Some((to, at))) => {
                inbound.insert(to, at);
            }
            Ok(None) => {}
            Err(e) => errors.push((line, e)),
        }
    }
    if errors.is_empty() {
        Ok((inbound, names))
    } else {
        Err(InboundFileError::Rows {
            file: file(),
            rows: errors,
        })
    }
}

type Inbound = HashMap<String, SystemTime>;

/// One CSV row → (recipient, last inbound time).
fn inbound_row(
    record: &csv::StringRecord,
    to_col: usize,
    at_col: usize,
    now: jiff::Timestamp,
) -> Result<Option<(String, SystemTime)>, RowError> {
    let to = record.get(to_col).unwrap_or("");
    let at = record.get(at_col).unwrap_or("");
    if to.is_empty() {
        return Err(RowError::NoTo);
    }
    if at.is_empty() {
        return Ok(None);
    }
    let t = parse_inbound(at, now)?;
    Ok(Some((to.to_string(), SystemTime::from(t))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::io::Write;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sandbox: SandboxArgs,
    }

    fn parse(args: &[&str]) -> Result<SandboxArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("sandbox").chain(args.iter().copied()))
            .map(|c| c.sandbox)
    }

    #[test]
    fn defaults_and_full_option_set() {
        let d = parse(&[]).unwrap();
        assert_eq!(
            (d.port, d.window_length),
            (8080, Duration::from_secs(86_400))
        );
        assert_eq!(
            (d.window_mode, d.headers),
            (WindowMode::Anchored, HeaderDialect::Note)
        );
        let a = parse(&[
            "--port",
            "0",
            "--rate",
            "2/300s",
            "--window-mode",
            "bucket",
            "--headers",
            "x-ratelimit",
            "--window-length",
            "1h",
            "--fail-rate",
            "0.05",
            "--drop-rate",
            "0.02",
            "--delay",
            "200ms",
            "--seed",
            "7",
        ])
        .unwrap();
        let c = config_from_args(&a).unwrap();
        assert_eq!(c.rate, Some(Rate::new(2, Duration::from_secs(300))));
        assert_eq!(
            (c.window_mode, c.headers),
            (WindowMode::Bucket, HeaderDialect::XRateLimit)
        );
        assert_eq!(
            (c.window_length, c.delay),
            (Duration::from_secs(3600), Duration::from_millis(200))
        );
        assert_eq!((c.fail_rate, c.drop_rate, c.seed), (0.05, 0.02, Some(7)));
    }

    #[test]
    fn webhook_options_reach_the_config() {
        let d = config_from_args(&parse(&[]).unwrap()).unwrap();
        assert_eq!((d.webhook_log, d.webhook_url), (None, None));
        assert_eq!(
            (d.read_rate, d.reply_rate, d.fail_after_accept_rate),
            (0.5, 0.0, 0.0)
        );
        let a = parse(&[
            "--webhook-log",
            "hooks.jsonl",
            "--webhook-provider",
            "messangi",
            "--read-rate",
            "0.2",
            "--reply-rate",
            "0.1",
            "--fail-after-accept-rate",
            "0.05",
        ])
        .unwrap();
        let c = config_from_args(&a).unwrap();
        assert_eq!(c.webhook_log.as_deref(), Some(Path::new("hooks.jsonl")));
        assert_eq!(c.webhook_provider, Wire::Messangi);
        assert_eq!(
            (c.read_rate, c.reply_rate, c.fail_after_accept_rate),
            (0.2, 0.1, 0.05)
        );
        // The secret only signs POSTs, so it needs a URL; its variable must be set.
        assert!(parse(&["--app-secret-env", "X"]).is_err());
        let a = parse(&[
            "--webhook-url",
            "http://127.0.0.1:9/hook",
            "--app-secret-env",
            "SESSIONCAST_SANDBOX_TEST_SECRET_UNSET",
        ])
        .unwrap();
        let e = config_from_args(&a).unwrap_err().to_string();
        assert!(e.contains("SESSIONCAST_SANDBOX_TEST_SECRET_UNSET"), "{e}");
        assert!(parse(&["--read-rate", "2"]).is_err());
        let a = parse(&["--webhook-url", "ftp://x/tok-123"]).unwrap();
        let e = config_from_args(&a).unwrap_err().to_string();
        assert!(e.contains("--webhook-url") && !e.contains("tok-123"), "{e}");
    }

    #[test]
    fn rejects_bad_values_with_hints() {
        let e = parse(&["--fail-rate", "5"]).err().unwrap().to_string();
        assert!(e.contains("from 0 to 1"), "{e}");
        let e = parse(&["--rate", "fast"]).err().unwrap().to_string();
        assert!(e.contains("N/DURATION"), "{e}");
        assert!(parse(&["--headers", "draft8"]).is_err());
    }

    #[test]
    fn token_comes_from_the_named_variable_and_is_required() {
        let a = parse(&["--token-env", "SESSIONCAST_SANDBOX_TEST_TOKEN_UNSET"]).unwrap();
        let e = config_from_args(&a).unwrap_err().to_string();
        assert_eq!(e, "--token-env SESSIONCAST_SANDBOX_TEST_TOKEN_UNSET: the environment variable `SESSIONCAST_SANDBOX_TEST_TOKEN_UNSET` is not set or empty");
        std::env::set_var("SESSIONCAST_SANDBOX_TEST_TOKEN", "tok-123");
        let a = parse(&["--token-env", "SESSIONCAST_SANDBOX_TEST_TOKEN"]).unwrap();
        assert_eq!(
            config_from_args(&a).unwrap().token.as_deref(),
            Some("tok-123")
        );
    }

    #[test]
    fn help_text_teaches_the_values() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        for needle in [
            "2/300s",
            "anchored",
            "x-ratelimit",
            "never printed",
            "last_inbound_at",
            "131047",
        ] {
            assert!(help.contains(needle), "help lacks {needle}:\n{help}");
        }
    }

    fn csv_file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn loads_inbound_times_from_csv() {
        let f = csv_file("name,to,last_inbound_at\nAna,+15551234567,2025-06-01T14:30:00+02:00\nBo,+15557654321,\n");
        let (map, names) = load_inbound(f.path()).unwrap();
        assert_eq!(
            names["+15551234567"], "Ana",
            "profile names come from a `name` column"
        );
        let want: SystemTime = "2025-06-01T12:30:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .into();
        assert_eq!(map.get("+15551234567"), Some(&want));
        assert_eq!(map.len(), 1, "a row without a time stays open");
    }

    #[test]
    fn reads_the_times_campaigns_accept() {
        let f = csv_file(
            "\u{feff}to,last_inbound_at\r\n+15551234567,1h 0m ago\r\n+15557654321,1764300000\r\n",
        );
        let map = load_inbound(f.path()).unwrap().0;
        let ago = SystemTime::now()
            .duration_since(map["+15551234567"])
            .unwrap();
        assert!((3590..3610).contains(&ago.as_secs()), "{ago:?}");
        assert_eq!(
            map["+15557654321"],
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1764300000)
        );
    }

    #[test]
    fn reports_every_bad_inbound_row_with_its_line() {
        let f = csv_file("to,last_inbound_at\r\n+1555,yesterday\r\n,2025-06-01T00:00:00Z\r\n+1556,2025-13-01T00:00:00Z\r\n");
        let e = load_inbound(f.path()).unwrap_err().to_string();
        assert!(e.contains(":2: last_inbound_at `yesterday`"), "{e}");
        assert!(e.contains(":3: `to` is empty"), "{e}");
        assert!(e.contains(":4: last_inbound_at"), "{e}");
        let f = csv_file("phone,when\n+1555,2025-06-01T00:00:00Z\n");
        assert!(load_inbound(f.path())
            .unwrap_err()
            .to_string()
            .contains("`to` and `last_inbound_at`"));
    }
}
