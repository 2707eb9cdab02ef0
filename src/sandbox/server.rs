//! Connection handling: TCP listener → HTTP/1 connections served by the router, until shutdown.
//!
//! A hand-written accept loop instead of `axum::serve`, because a dropped answer has to close the
//! connection without writing anything: hyper does exactly that when the service returns an error,
//! so the service wrapper turns a response marked `DropConnection` into an error.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{service_fn, Service};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::responses::DropConnection;

#[derive(Debug, thiserror::Error)]
#[error("answer dropped on purpose (sandbox drop rate)")]
struct Dropped;

/// Serves until `stop` fires or its sender is dropped; open connections are then cut.
pub(crate) async fn serve(listener: TcpListener, router: Router, mut stop: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, router.clone()));
                }
                // Typically out of file descriptors: pause instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn connection(stream: TcpStream, router: Router) {
    let inner = TowerToHyperService::new(router);
    let service = service_fn(move |request: Request<Incoming>| {
        let pending = inner.call(request);
        async move {
            let response: Response<Body> = match pending.await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if response.extensions().get::<DropConnection>().is_some() {
                return Err(Dropped);
            }
            Ok(response)
        }
    });
    // Errors here are the client going away or a dropped answer; neither concerns the server.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
