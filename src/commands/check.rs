//! `sessioncast check`: validate and render everything; print a short summary.

use super::{now, prepare, Outcome};
use crate::cli::CheckArgs;
use crate::exit::Exit;

pub fn run(a: &CheckArgs) -> Outcome {
    let p = prepare(&a.campaign, now(a.now.as_deref())?, false)?;
    let c = &p.campaign;
    let requests: u64 = p.counts.iter().flatten().map(|&n| u64::from(n)).sum();
    println!(
        "{}: valid — campaign `{}`, {} recipients ({} repeated), {} message{}, {} requests rendered and checked for {} at {}",
        a.campaign.display(),
        c.name,
        c.recipients.len(),
        c.duplicates.len(),
        c.messages.len(),
        if c.messages.len() == 1 { "" } else { "s" },
        requests,
        c.provider.name(),
        c.rate,
    );
    p.release();
    Ok(Exit::Ok)
}
