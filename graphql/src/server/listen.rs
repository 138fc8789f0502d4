//! Serving connections: the listener, hyper with header and body deadlines, the
//! connection cap and graceful shutdown.

use super::*;

/// Where and how to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub bind: String,
    pub limits: Limits,
    pub server_limits: ServerLimits,
    /// What bills are priced with.
    pub prices: lineage_store::billing::PriceBook,
    /// Witnesses to ask for cosignatures of the transparency log's checkpoints.
    pub witnessing: crate::witness::Witnessing,
}

/// Serves until Ctrl-C or SIGTERM, then lets in-flight requests finish and closes the store.
pub async fn serve(
    store: Arc<Store>,
    options: ServeOptions,
    ready: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<()> {
    serve_until(store, options, ready, shutdown_signal()).await
}

/// Serves until `stop` completes, then lets in-flight requests finish and closes the store.
pub async fn serve_until(
    store: Arc<Store>,
    options: ServeOptions,
    ready: impl FnOnce(std::net::SocketAddr),
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&options.bind)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", options.bind))?;
    let address = listener.local_addr()?;
    // Up before the server says it is: a CLI started on that word finds it.
    let admin = match super::admin::listen(&store) {
        Ok(admin) => Some(admin),
        Err(error) => {
            tracing::warn!(%error, "no administration socket: the CLI cannot run beside this server");
            None
        }
    };
    ready(address);
    tracing::info!(%address, head = store.head().seq, "serving GraphQL at /graphql");
    let state = AppState::new(
        Arc::clone(&store),
        options.limits,
        options.server_limits,
        options.prices,
    );
    let witnessing = (!options.witnessing.witnesses.is_empty()).then(|| {
        tokio::spawn(crate::witness::run(
            Arc::clone(&store),
            options.witnessing,
            Arc::clone(&state.cosigned),
        ))
    });
    serve_connections(listener, app(state.clone()), &state.limits, stop).await;
    if let Some(witnessing) = witnessing {
        witnessing.abort();
    }
    drop(admin);
    tracing::info!("shutting down: requests drained, closing the store");
    let closing = Arc::clone(&store);
    tokio::task::spawn_blocking(move || closing.close()).await??;
    Ok(())
}

/// Accepts connections until `stop`, each served by hyper with a deadline for its
/// headers, at most `max_connections` at once; then lets open ones finish (up to 30 s).
pub(super) async fn serve_connections(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: &ServerLimits,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let mut stop = std::pin::pin!(stop);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut stop => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = watched.await;
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("connections still open after 30 s of shutting down; closing anyway");
        }
    }
}

pub(super) async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
