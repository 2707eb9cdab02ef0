//! `sessioncast check`: validate and render everything; print a short summary, or every problem
//! with its place as JSON.

use super::{now, prepare, release, CommandResult};
use crate::cli::{CheckArgs, CheckFormat};
use crate::diag::Level;
use crate::exit::Exit;
use std::io::Write;

pub fn run(a: &CheckArgs) -> CommandResult {
    if a.format == CheckFormat::Json {
        return json(a);
    }
    let (campaign, rendered) = prepare(
        &a.campaign,
        now(a.now.as_deref())?,
        false,
        crate::render::decide,
    )?;
    let c = &campaign;
    let requests = rendered.total();
    println!(
        "{}: valid — campaign `{}`, {} recipients ({} repeated), {} message{}, {} requests rendered and checked for {} at {}",
        crate::campaign::source::display_path(&a.campaign).display(),
        c.name,
        c.recipients.len(),
        c.duplicates.len(),
        c.messages.len(),
        if c.messages.len() == 1 { "" } else { "s" },
        requests,
        c.provider.name(),
        c.rate,
    );
    release(campaign, rendered);
    Ok(Exit::Ok)
}

/// Every problem and warning as one JSON object on stdout; nothing on stderr.
fn json(a: &CheckArgs) -> CommandResult {
    let (campaign, mut problems) = crate::campaign::load(&a.campaign, now(a.now.as_deref())?);
    let mut all = Vec::new();
    if let Some(c) = &campaign {
        all.extend(c.warnings.iter().cloned());
        problems.extend(crate::render::decide(c).1);
    }
    all.extend(problems.0);
    let errors = all.iter().filter(|p| p.level == Level::Error).count();
    let valid = campaign.is_some() && errors == 0;
    let doc = serde_json::json!({
        "file": crate::campaign::source::display_path(&a.campaign).display().to_string(),
        "valid": valid,
        "errors": errors,
        "warnings": all.len() - errors,
        "problems": all.iter().map(|p| p.to_json()).collect::<Vec<_>>(),
    });
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &doc).map_err(std::io::Error::from)?;
    writeln!(out)?;
    if let Some(c) = campaign {
        // The process exits next: skip freeing a large campaign piece by piece.
        std::mem::forget(c);
    }
    Ok(if valid { Exit::Ok } else { Exit::Invalid })
}
