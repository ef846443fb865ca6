//! `/healthz`, `/readyz` (every watched kind has synced) and `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::sync::watch as signal;
use tracing::{error, info};

use super::Shared;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(shared): State<Arc<Shared>>| async move {
                if shared.is_ready() {
                    (StatusCode::OK, "ready".to_string())
                } else {
                    let waiting: Vec<String> = shared.syncing.lock().expect("syncing lock").iter().cloned().collect();
                    (StatusCode::SERVICE_UNAVAILABLE, format!("waiting for: {}", waiting.join(", ")))
                }
            }),
        )
        .route(
            "/metrics",
            get(|State(shared): State<Arc<Shared>>| async move {
                shared.metrics.queue_depth.set(shared.queue.len() as i64);
                (
                    [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
                    shared.metrics.encode(),
                )
            }),
        )
        .with_state(shared)
}

pub async fn serve(addr: SocketAddr, shared: Arc<Shared>, mut shutdown: signal::Receiver<bool>) {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            error!(%addr, error = %e, "cannot listen for /healthz, /readyz and /metrics");
            return;
        }
    };
    info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "serving /healthz, /readyz, /metrics");
    let shutdown = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    if let Err(e) = axum::serve(listener, router(shared)).with_graceful_shutdown(shutdown).await {
        error!(error = %e, "HTTP server failed");
    }
}
