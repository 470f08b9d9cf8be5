//! The seed's quick start: a request, a database query nested in it, and the IDs that tie
//! their log lines together.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use slog::{Logger, info};
use token_runtime_id::{RuntimeIdError, with_runtime_id};

fn process_request(log: &Logger, user: &str) -> Result<(), RuntimeIdError> {
    info!(log, "Processing request"; "user" => user);
    with_runtime_id(log, query_database)?;
    info!(log, "Request completed");
    Ok(())
}

fn query_database(log: &Logger) {
    info!(log, "Querying database"; "table" => "users");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Once, at start-up: a terminal logger with the runtime-ID drain in front.
    let (logger, guard) = token_runtime_id::setup::terminal().build()?;

    info!(logger, "Service started (no runtime ID yet)");
    for user in ["alice", "bob"] {
        with_runtime_id(&logger, |log| process_request(log, user))??;
    }
    info!(logger, "Service stopping");

    // Write out every queued line before exiting.
    guard.finish()?;
    Ok(())
}
