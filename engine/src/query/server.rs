//! The HTTP server: a small tokio runtime of its own, an axum router, and the middleware
//! every request passes (bearer token, request metrics, the answering instance's header).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

use crate::error::StreamsError;
use crate::metrics::Metrics;
use crate::query::error::ApiError;
use crate::query::forward::{INSTANCE_HEADER, Peers};
use crate::query::{Directory, StoreRegistry, routes};

/// Worker threads of the server's runtime: queries are short, and RocksDB reads run on its
/// blocking pool.
const SERVER_THREADS: usize = 2;

/// What the handlers share.
pub(crate) struct Api {
    pub(crate) registry: Arc<StoreRegistry>,
    pub(crate) directory: Arc<Directory>,
    pub(crate) metrics: Arc<Metrics>,
    /// This instance's address, as the others reach it.
    pub(crate) address: String,
    pub(crate) token: Option<String>,
    pub(crate) peers: Peers,
    /// Whether the instance is running with nothing restoring.
    pub(crate) ready: Box<dyn Fn() -> bool + Send + Sync>,
}

impl Api {
    /// Store `name`'s index, or the 404 that lists the stores.
    pub(crate) fn store(&self, name: &str) -> Result<usize, ApiError> {
        self.registry
            .index_of(name)
            .ok_or_else(|| ApiError::UnknownStore {
                store: name.to_owned(),
                stores: self
                    .registry
                    .names()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            })
    }
}

/// What the server is started with.
pub(crate) struct ServerParts {
    pub(crate) registry: Arc<StoreRegistry>,
    pub(crate) directory: Arc<Directory>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) token: Option<String>,
    pub(crate) ready: Box<dyn Fn() -> bool + Send + Sync>,
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

/// Requires the bearer token, when one is set, on everything but the health checks.
async fn authorize(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    if let Some(token) = &api.token
        && !request.uri().path().starts_with("/health/")
    {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return ApiError::Unauthorized.into_response();
        }
    }
    next.run(request).await
}

/// Counts the request, times it, and names this instance on answers no other instance gave.
pub(crate) async fn observe(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    if !response.headers().contains_key(INSTANCE_HEADER)
        && let Ok(value) = HeaderValue::from_str(&api.address)
    {
        response.headers_mut().insert(INSTANCE_HEADER, value);
    }
    api.metrics
        .http_request(&route, response.status().as_u16(), started.elapsed());
    response
}
