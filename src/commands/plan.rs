//! `sessioncast plan`: who is reached, in what order, at about what time; who is dropped, why
//! (including `already_sent`/`already_failed`/`already_expired`/`already_unknown`, from the
//! campaign's ledger when it has one).

use super::{color_stdout, now, plan_at, prepare, release, CommandResult};
use crate::cli::PlanArgs;
use crate::exit::Exit;
use crate::report::write_plan;
use std::io::{BufWriter, Write};

pub fn run(a: &PlanArgs) -> CommandResult {
    let now = now(a.now.as_deref())?;
    let (campaign, requests) = prepare(&a.campaign, now, a.skip_invalid, crate::render::decide)?;
    let plan = plan_at(&campaign, &requests, now, a.state.as_deref(), &a.campaign)?;
    // The plan holds all it needs of render's decisions; freed before the output is written,
    // which is when the plan's own entries are the peak.
    drop(requests);
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    write_plan(&campaign, &plan, a.format, color_stdout(), &mut out)?;
    out.flush()?;
    release(campaign, plan);
    Ok(Exit::Ok)
}
