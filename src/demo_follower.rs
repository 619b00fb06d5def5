//! The demo's follower of the live journal (`sluice_node::Follower`): off the live path, never
//! past the durable cursor; at the end its state hash is compared with the live engine's.

use sluice_gateway::server::Server;
use sluice_node::{Follower, FollowerStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The demo's follower: a thread applying the live journal to an engine of its own, off the live
/// path, never past the durable cursor.
pub(crate) struct LiveFollower {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<Followed, String>>,
}

/// What the follower showed at the end.
pub(crate) struct Followed {
    pub(crate) status: FollowerStatus,
    pub(crate) max_lag_inputs: u64,
    pub(crate) hash: String,
}

impl LiveFollower {
    /// Starts the follower unless `no_follower`.
    pub(crate) fn start_unless(
        no_follower: bool,
        data_dir: &std::path::Path,
        server: &Server,
    ) -> Result<Option<LiveFollower>, String> {
        (!no_follower)
            .then(|| LiveFollower::start(data_dir, server))
            .transpose()
    }

    /// Starts the follower of `server`'s journal, registered with its metrics.
    pub(crate) fn start(
        data_dir: &std::path::Path,
        server: &Server,
    ) -> Result<LiveFollower, String> {
        let cursor = server.durable_cursor();
        let mut follower = Follower::open(data_dir, "demo", cursor).map_err(|e| e.to_string())?;
        let progress = follower.progress();
        server.register_follower("demo", progress.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sluice-follower".into())
            .spawn(move || {
                // Off the live path: on a small machine it lags under load and catches up after.
                if let Err(e) = sluice_node::follower::background_priority() {
                    tracing::warn!("demo follower at normal priority: {e}");
                }
                follower
                    .run(&flag, Duration::from_secs(1), |_| Ok(()))
                    .map_err(|e| e.to_string())?;
                Ok(Followed {
                    status: follower.status(),
                    max_lag_inputs: follower.progress().max_lag_inputs(),
                    hash: follower.engine().state_hash().to_string(),
                })
            })
            .map_err(|e| e.to_string())?;
        Ok(LiveFollower { stop, thread })
    }

    /// Stops the follower once it has applied everything up to `last_seq` (the server stopped).
    pub(crate) fn finish(self, last_seq: u64) -> Result<Followed, String> {
        self.stop.store(true, Ordering::Release);
        let followed = self
            .thread
            .join()
            .map_err(|_| "follower thread panicked".to_string())??;
        if followed.status.applied_seq != last_seq {
            return Err(format!(
                "the follower stopped at {} instead of {last_seq}",
                followed.status.applied_seq
            ));
        }
        Ok(followed)
    }
}
