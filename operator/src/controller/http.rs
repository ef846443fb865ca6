//! `/healthz` (the reconcile loop makes progress), `/readyz` (every watched kind, custom and policy kinds
//! included, has listed once) and `/metrics`. The probes expose no findings; `/metrics` does (by check
//! and namespace), so config/ admits only the monitoring namespace to this port.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::sync::watch as signal;
use tracing::{error, info};

use super::Shared;

pub fn router(shared: Arc<Shared>, stall: std::time::Duration) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(move |State(shared): State<Arc<Shared>>| async move {
                match shared.stalled(stall) {
                    None => (StatusCode::OK, "ok".to_string()),
                    Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason),
                }
            }),
        )
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

pub async fn serve(
    addr: SocketAddr,
    shared: Arc<Shared>,
    stall: std::time::Duration,
    mut shutdown: signal::Receiver<bool>,
) {
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
    if let Err(e) = axum::serve(listener, router(shared, stall)).with_graceful_shutdown(shutdown).await {
        error!(error = %e, "HTTP server failed");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vigil_engine::subject::SubjectKey;

    use super::*;
    use crate::controller::leader::Leadership;

    async fn get_status(router: Router, path: &str) -> (StatusCode, String) {
        use tower::ServiceExt;
        let request = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn healthz_fails_when_queued_work_makes_no_progress() {
        let shared = Arc::new(Shared::new(Default::default(), Arc::new(Leadership::default())));
        let stall = Duration::from_millis(50);
        // Idle with nothing queued: healthy however long it waits.
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(get_status(router(shared.clone(), stall), "/healthz").await.0, StatusCode::OK);
        // Work queued and no progress past the stall timeout: unhealthy, saying why.
        shared.queue.push(SubjectKey::new("Pod", "shop", "web"));
        let (status, body) = get_status(router(shared.clone(), stall), "/healthz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("1 subjects queued"), "{body}");
        // Progress heals it.
        shared.progressed();
        assert_eq!(get_status(router(shared.clone(), stall), "/healthz").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn readyz_waits_for_every_kind() {
        let shared = Arc::new(Shared::new(Default::default(), Arc::new(Leadership::default())));
        let (status, body) = get_status(router(shared.clone(), Duration::from_secs(60)), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("SecurityPolicy") && body.contains("Pod"), "{body}");
        shared.syncing.lock().unwrap().clear();
        assert_eq!(get_status(router(shared, Duration::from_secs(60)), "/readyz").await.0, StatusCode::OK);
    }
}
