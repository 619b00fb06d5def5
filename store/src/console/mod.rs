//! `sluice console`: a read-only web console over the server's metrics and the exported flow
//! (docs/STORE.md section 5, docs/CONSOLE.md).
//!
//! - `live`: a thread scrapes the server's Prometheus endpoint every few seconds (throughput,
//!   latency, channel health now, the exporter's position); `prom` reads the text format.
//! - `data`: rows through a [`crate::FlowReader`], cached by the store's position.
//! - `pages`: server-rendered HTML, charts as inline SVG (`svg`), every string escaped (`html`).
//! - `auth`: the admin credential, checked by the server's own authority; then a session cookie.
//! - `routes` (requests to replies, no sockets) and `server` (hyper, HTTP/1.1).

pub mod auth;
pub mod data;
pub mod html;
pub mod live;
pub mod pages;
pub mod prom;
pub mod routes;
pub mod server;
pub mod svg;
pub mod testing;

use crate::{FlowReader, StoreError};
use auth::{Authority, Sessions};
use routes::{App, Reply, Req};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How the console runs.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    pub listen: SocketAddr,
    /// The server's metrics endpoint, `http://host:port/metrics`.
    pub metrics_url: String,
    pub scrape_every: Duration,
    pub session_ttl: Duration,
}

impl ConsoleConfig {
    pub fn new(listen: SocketAddr, metrics_url: &str) -> ConsoleConfig {
        ConsoleConfig {
            listen,
            metrics_url: metrics_url.to_string(),
            scrape_every: Duration::from_secs(2),
            session_ttl: Duration::from_secs(8 * 3600),
        }
    }
}

/// A running console.
pub struct Console {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    app: Arc<App>,
}

impl Console {
    /// Binds, starts the scraping thread and serves.
    pub fn start(
        config: &ConsoleConfig,
        reader: Box<dyn FlowReader + Send>,
        authority: Arc<dyn Authority>,
    ) -> Result<Console, StoreError> {
        let live = Arc::new(live::Live::default());
        live.start(&config.metrics_url, config.scrape_every)
            .map_err(StoreError::new)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sluice-console")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| StoreError::new(format!("console runtime: {e}")))?;
        let listener = std::net::TcpListener::bind(config.listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| StoreError::new(format!("listen on {}: {e}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StoreError::new(e.to_string()))?;
        let app = Arc::new(App {
            data: data::Data::new(reader),
            live,
            sessions: Sessions::new(config.session_ttl),
            authority,
        });
        let enter = runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| StoreError::new(e.to_string()))?;
        runtime.spawn(server::accept_loop(listener, app.clone()));
        drop(enter);
        Ok(Console { runtime, addr, app })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers one request without a socket (tests).
    pub fn handle(&self, req: Req) -> Reply {
        self.runtime.block_on(self.app.handle(req))
    }

    /// Serves until the process ends.
    pub fn run_forever(self) -> ! {
        loop {
            std::thread::park();
        }
    }
}

#[cfg(test)]
mod tests;
