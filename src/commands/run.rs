//! `sessioncast run`: with `--dry-run`, print the plan's exact requests and send nothing;
//! without it, send (see `send.rs`).

use super::{now, plan_at, prepare, release, CommandResult};
use crate::cli::RunArgs;
use crate::exit::Exit;
use crate::preview::write_requests;
use std::io::{BufWriter, Write};

pub fn run(a: &RunArgs) -> CommandResult {
    if !a.dry_run {
        return super::send::run(a);
    }
    let now = now(a.now.as_deref())?;
    let (campaign, requests) = prepare(&a.campaign, now, a.skip_invalid, crate::render::render)?;
    let c = &campaign;
    let plan = plan_at(c, requests.decided(), now, a.state.as_deref(), &a.campaign)?;
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = write_requests(c, &requests, &plan, a.format, &mut out)?;
    out.flush()?;
    drop(out);
    let dropped: Vec<_> = plan.dropped().collect();
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "dry run: {written} requests for {} recipients; nothing was sent",
        plan.scheduled().count()
    )?;
    let skipped: usize = plan.skipped().values().sum();
    if skipped > 0 {
        writeln!(err, "skipped {skipped} recipients:")?;
        for (e, reason) in dropped {
            writeln!(
                err,
                "  {}  {reason}  (deadline {})",
                c.recipients[e.recipient()].to,
                e.deadline
            )?;
        }
        for r in &c.rejected {
            writeln!(err, "  {}  invalid  ({})", r.to, r.reason)?;
        }
    }
    release(campaign, requests);
    Ok(Exit::Ok)
}
