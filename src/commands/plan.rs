//! `sessioncast plan`: who is reached, in what order, at about what time; who is dropped, why
//! (including `already_sent`/`already_failed`/`already_expired`/`already_unknown`, from the
//! campaign's ledger when it has one).

use super::{color_stdout, now, prepare, Outcome};
use crate::cli::PlanArgs;
use crate::exit::Exit;
use crate::report::write_plan;
use std::io::{BufWriter, Write};

pub fn run(a: &PlanArgs) -> Outcome {
    let now = now(a.now.as_deref())?;
    let p = prepare(&a.campaign, now, a.skip_invalid)?;
    let plan = p.plan(now, a.state.as_deref(), &a.campaign)?;
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    write_plan(&p.campaign, &plan, a.format, color_stdout(), &mut out)?;
    out.flush()?;
    p.release();
    Ok(Exit::Ok)
}
