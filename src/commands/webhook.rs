//! `sessioncast webhook --listen ADDR --log PATH`: secrets from the environment → the webhook
//! receiver, served until Ctrl-C or SIGTERM, then what it stored and refused.

use super::{CommandResult, Failure};
use crate::cli::WebhookArgs;
use crate::exit::Exit;
use crate::webhook::receiver::{Receiver, ReceiverConfig};

pub fn run(a: &WebhookArgs) -> CommandResult {
    let config = ReceiverConfig {
        log: a.log.clone(),
        verify_token: secret(&a.verify_token_env),
        app_secret: secret(&a.app_secret_env),
        messangi_token: secret(&a.messangi_token_env),
    };
    if config.app_secret.is_none() && config.messangi_token.is_none() {
        return Err(Failure::usage(format!(
            "neither `{}` (the Meta app secret that signs Cloud API webhooks) nor `{}` (the token of the Messangi callback URL) is set: with neither, every webhook would be refused",
            a.app_secret_env, a.messangi_token_env
        )));
    }
    // Say what will be refused, by variable name only: the values are never printed.
    if config.verify_token.is_none() {
        eprintln!(
            "webhook: `{}` is not set: Meta's subscription handshake will be refused",
            a.verify_token_env
        );
    }
    if config.app_secret.is_none() {
        eprintln!(
            "webhook: `{}` is not set: Cloud API webhooks will be refused",
            a.app_secret_env
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let receiver = Receiver::start(config, a.listen)
            .await
            .map_err(|e| Failure::runtime(format!("cannot listen on {}: {e}", a.listen)))?;
        println!("http://{}", receiver.addr());
        eprintln!(
            "webhook: appending to {} until Ctrl-C or SIGTERM",
            a.log.display()
        );
        super::send::wait_for_signal().await;
        let stats = receiver
            .shutdown()
            .await
            .map_err(|e| Failure::runtime(format!("the receiver failed: {e}")))?;
        eprintln!(
            "webhook: stored {}, refused {}, bad {}, handshakes {} ok / {} refused",
            stats.stored, stats.refused, stats.bad, stats.verified, stats.handshakes_refused
        );
        Ok(Exit::Ok)
    })
}

/// A secret from the variable `name`, or `None` when it is unset or empty.
fn secret(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
