//! Concurrent requests on a multi-threaded tokio runtime: their log lines interleave, and
//! each line's runtime ID says which request, and which part of it, wrote it.
//!
//! ```text
//! cargo run --example async_tasks --features tokio
//! ```

use std::time::Duration;

use slog::{Logger, info};
use token_runtime_id::{
    RuntimeId, RuntimeIdError, RuntimeIdFutureExt, default_config, task, with_runtime_id_async,
};

/// A database call, one level below its request.
async fn query_database(log: &Logger, user: &str) {
    info!(log, "Querying database"; "user" => user);
    tokio::time::sleep(Duration::from_millis(5)).await;
    info!(log, "Query done"; "rows" => user.len());
}

/// A request: a nested database call and a background job that outlives it.
async fn handle_request(
    log: Logger,
    user: &'static str,
) -> Result<tokio::task::JoinHandle<()>, RuntimeIdError> {
    info!(log, "Processing request"; "user" => user);
    tokio::task::yield_now().await;

    // One level down, for every poll of the query, whichever worker runs it.
    with_runtime_id_async(&log, |log| async move { query_database(&log, user).await }).await?;

    // The job runs in a child of this request's ID, on whichever worker picks it up.
    let job_log = log.clone();
    let job = task::spawn_child(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        info!(job_log, "Sending welcome email"; "user" => user);
    })?;

    info!(log, "Request completed"; "user" => user);
    Ok(job)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (logger, guard) = token_runtime_id::setup::terminal().build()?;

    let requests: Vec<_> = ["alice", "bob", "carol", "dave"]
        .into_iter()
        .map(|user| {
            let request = RuntimeId::new_root(&default_config());
            tokio::spawn(handle_request(logger.clone(), user).with_runtime_id(request))
        })
        .collect();
    for request in requests {
        let job = request.await??;
        job.await?;
    }

    guard.finish()?;
    Ok(())
}
