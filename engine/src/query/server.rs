//! The HTTP server: a small tokio runtime of its own serving the router.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::middleware;
use tokio::sync::oneshot;

use crate::discovery::{Directory, StoreRegistry};
use crate::error::StreamsError;
use crate::metrics::Metrics;
use crate::query::api::Api;
use crate::query::forward::Peers;
use crate::query::middleware::authorize;
use crate::query::routes;

/// Worker threads of the server's runtime: key lookups read RocksDB on them (microseconds);
/// range reads run on its blocking pool.
const SERVER_THREADS: usize = 2;

/// What the server is started with.
pub(crate) struct ServerParts {
    pub(crate) registry: Arc<StoreRegistry>,
    pub(crate) directory: Arc<Directory>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) token: Option<String>,
    pub(crate) ready: Box<dyn Fn() -> bool + Send + Sync>,
    /// `acceptable.recovery.lag`: how far behind a standby may answer stale reads.
    pub(crate) acceptable_recovery_lag: u64,
}

/// A running HTTP server.
pub(crate) struct QueryServer {
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: Option<oneshot::Sender<()>>,
    address: SocketAddr,
}

impl QueryServer {
    /// Binds `bind` (`host:port`; port 0 picks a free one) and serves.
    ///
    /// # Errors
    /// When the address does not parse or cannot be bound (for example, in use).
    pub(crate) fn start(bind: &str, parts: ServerParts) -> Result<Self, StreamsError> {
        let bad = |reason: String| StreamsError::Config {
            key: "application.server".into(),
            reason,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(SERVER_THREADS)
            .thread_name("tributary-http")
            .enable_all()
            .build()
            .map_err(|e| bad(format!("cannot start the HTTP runtime: {e}")))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(bind))
            .map_err(|e| {
                bad(format!(
                    "cannot listen on `{bind}` ({e}); set `application.server` to a free host:port"
                ))
            })?;
        let address = listener
            .local_addr()
            .map_err(|e| bad(format!("cannot read the bound address: {e}")))?;
        if !address.ip().is_loopback() && parts.token.is_none() {
            tracing::warn!(%address, "the query server listens beyond loopback without `query.auth.token`: anyone who reaches it can read every store");
        }
        let api = Arc::new(Api {
            registry: parts.registry,
            directory: parts.directory,
            metrics: parts.metrics,
            address: address.to_string(),
            peers: Peers::new(parts.token.clone()),
            token: parts.token,
            ready: parts.ready,
            acceptable_recovery_lag: parts.acceptable_recovery_lag,
        });
        let router = routes::router(&api)
            .layer(middleware::from_fn_with_state(api.clone(), authorize))
            .with_state(api);
        let (shutdown, stopped) = oneshot::channel::<()>();
        runtime.spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "the query server stopped");
            }
        });
        tracing::info!(%address, "query server listening");
        Ok(Self {
            runtime: Some(runtime),
            shutdown: Some(shutdown),
            address,
        })
    }

    /// The address the server listens on.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops serving; open subscriptions end.
    pub(crate) fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}

impl Drop for QueryServer {
    fn drop(&mut self) {
        self.stop();
    }
}
