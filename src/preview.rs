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
    // Each part's output buffer is kept for the next chunk: memory new to the process is slow
    // to touch, and reused buffers no longer grow.
    let mut bufs: Vec<Vec<u8>> = Vec::new();
    for chunk in scheduled.chunks(CHUNK * rayon::current_num_threads().max(1)) {
        bufs.resize_with(chunk.len().div_ceil(CHUNK), Vec::new);
        let counts: Vec<u64> = chunk
            .par_chunks(CHUNK)
            .zip(bufs.par_iter_mut())
            .map(|(part, buf)| {
                buf.clear();
                let mut n = 0;
                for entry in part {
                    let r = &campaign.recipients[entry.recipient()];
                    let eta = plan.eta(entry).map(|t| t.to_string()).unwrap_or_default();
                    let to = r.to.to_string();
                    for (index, body) in requests.bodies(campaign, entry.recipient()) {
                        n += 1;
                        let req = (url, body.as_str());
                        let _ = match format {
                            PreviewFormat::Json => write_json(buf, &headers, &to, index, req),
                            PreviewFormat::Pretty => write_pretty(buf, &to, index, req, &eta),
                        };
                    }
                }
                n
            })
            .collect();
        for (buf, n) in bufs.iter().zip(counts) {
            out.write_all(buf)?;
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
    (url, body): (&str, &str),
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
    buf.extend_from_slice(body.as_bytes());
    buf.extend_from_slice(b"}\n");
    Ok(())
}

fn write_pretty(
    buf: &mut Vec<u8>,
    to: &str,
    index: usize,
    (url, body): (&str, &str),
    eta: &str,
) -> io::Result<()> {
    writeln!(buf, "# {to} · messages[{index}] · planned {eta}")?;
    writeln!(buf, "{} {url}", Request::METHOD)?;
    for (k, v) in Request::headers(None) {
        writeln!(buf, "{k}: {v}")?;
    }
    writeln!(buf)?;
    // Indented for reading; the field order is the body's own.
    let value: serde_json::Value = serde_json::from_str(body)?;
    serde_json::to_writer_pretty(&mut *buf, &value)?;
    writeln!(buf, "\n")?;
    Ok(())
}
