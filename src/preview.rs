//! Preview (dry run): `Requests` + `Plan` → the plan's requests, printed exactly as a real run
//! would send them, with the token shown as `***`. The bodies come from the same `Requests` the
//! real run freezes and sends, built in plan order a chunk at a time (never all at once).

use crate::campaign::Campaign;
use crate::plan::Plan;
use crate::provider::Request;
use crate::render::Requests;
use rayon::prelude::*;
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PreviewFormat {
    /// Readable HTTP requests.
    Pretty,
    /// One JSON object per request: {"to","message_index","method","url","headers","body"}.
    Json,
}

/// Requests are rendered in parallel in chunks this large, then written in plan order.
const CHUNK: usize = 2048;

/// Write every scheduled request of `plan`, in plan order. Returns how many were written.
pub fn write_requests(
    campaign: &Campaign,
    requests: &Requests,
    plan: &Plan,
    format: PreviewFormat,
    out: &mut impl Write,
) -> io::Result<u64> {
    let url = requests.url();
    let headers = headers_json();
    let scheduled: Vec<_> = plan.scheduled().collect();
    let total = plan.requests();
    let mut written = 0u64;
    for chunk in scheduled.chunks(CHUNK * rayon::current_num_threads().max(1)) {
        let parts: Vec<(Vec<u8>, u64)> = chunk
            .par_chunks(CHUNK)
            .map(|part| {
                let mut buf = Vec::with_capacity(part.len() * 512);
                let mut n = 0;
                for entry in part {
                    let r = &campaign.recipients[entry.recipient];
                    let eta = plan.eta(entry).map(|t| t.to_string()).unwrap_or_default();
                    let to = r.to.to_string();
                    for (index, body) in requests.bodies(campaign, entry.recipient) {
                        n += 1;
                        let req = (url, &body);
                        let _ = match format {
                            PreviewFormat::Json => write_json(&mut buf, &headers, &to, index, req),
                            PreviewFormat::Pretty => write_pretty(&mut buf, &to, index, req, &eta),
                        };
                    }
                }
                (buf, n)
            })
            .collect();
        for (buf, n) in parts {
            out.write_all(&buf)?;
            written += n;
        }
    }
    debug_assert!(written <= total);
    Ok(written)
}

/// The fixed part of every JSON line after `url`: method and redacted headers.
fn headers_json() -> String {
    let map: serde_json::Map<String, serde_json::Value> = Request::headers(None)
        .into_iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// One request as `{"to","message_index","method","url","headers","body"}`, written field by
/// field so the body is serialized in place rather than copied into a wrapper value.
fn write_json(
    buf: &mut Vec<u8>,
    headers: &str,
    to: &str,
    index: usize,
    (url, body): (&str, &serde_json::Value),
) -> io::Result<()> {
    buf.extend_from_slice(b"{\"to\":");
    serde_json::to_writer(&mut *buf, to)?;
    write!(
        buf,
        ",\"message_index\":{index},\"method\":\"{}\",\"url\":",
        Request::METHOD
    )?;
    serde_json::to_writer(&mut *buf, url)?;
    write!(buf, ",\"headers\":{headers},\"body\":")?;
    serde_json::to_writer(&mut *buf, body)?;
    buf.extend_from_slice(b"}\n");
    Ok(())
}

fn write_pretty(
    buf: &mut Vec<u8>,
    to: &str,
    index: usize,
    (url, body): (&str, &serde_json::Value),
    eta: &str,
) -> io::Result<()> {
    writeln!(buf, "# {to} · messages[{index}] · planned {eta}")?;
    writeln!(buf, "{} {url}", Request::METHOD)?;
    for (k, v) in Request::headers(None) {
        writeln!(buf, "{k}: {v}")?;
    }
    writeln!(buf)?;
    serde_json::to_writer_pretty(&mut *buf, body)?;
    writeln!(buf, "\n")?;
    Ok(())
}
