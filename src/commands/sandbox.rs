//! `sessioncast sandbox`: command-line options → a stand-in provider on loopback, served until
//! Ctrl-C, then its counters.

use super::send::stats_line;
use super::{CommandResult, Failure};
use crate::exit::Exit;
use crate::sandbox::{config_from_args, Sandbox, SandboxArgs};

pub fn run(a: &SandboxArgs) -> CommandResult {
    let mut config = config_from_args(a).map_err(Failure::usage)?;
    // Bodies are checked with the same rules as `sessioncast check`.
    config.validator = Some(crate::provider::parse::validator());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let sandbox = Sandbox::start(config, a.addr()).await.map_err(|e| {
            Failure::runtime(format!("cannot start the sandbox on {}: {e}", a.addr()))
        })?;
        println!("{}", sandbox.base_url());
        eprintln!(
            "sandbox: serving until Ctrl-C (stats at {}/_sandbox/stats)",
            sandbox.base_url()
        );
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("{}", stats_line(&sandbox.stats()));
        sandbox.shutdown().await;
        Ok(Exit::Ok)
    })
}
