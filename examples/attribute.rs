//! The seed's quick start written with the `#[runtime_id]` attribute: each request runs in
//! a new root ID, the database query nested in it in a child of that ID.
//!
//! ```text
//! cargo run --example attribute
//! ```
//!
//! ```text
//! INFO [k3j9x0qa] Processing request, runtime_id: k3j9x0qa, user: alice
//! INFO [k3j9x0qa:7bd2] Querying database, runtime_id: k3j9x0qa:7bd2, table: users
//! INFO [k3j9x0qa] Request completed, runtime_id: k3j9x0qa
//! ```

use slog::{Logger, info};
use token_runtime_id::runtime_id;

#[runtime_id]
fn process_request(log: &Logger, user: &str) {
    info!(log, "Processing request"; "user" => user);
    query_database(log);
    info!(log, "Request completed");
}

/// A shorter segment for the nested call: the arguments are checked at compile time.
#[runtime_id(length = 4)]
fn query_database(log: &Logger) {
    info!(log, "Querying database"; "table" => "users");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Once, at start-up: a terminal logger with the runtime-ID drain in front.
    let (logger, guard) = token_runtime_id::setup::terminal().build()?;

    info!(logger, "Service started (no runtime ID yet)");
    for user in ["alice", "bob"] {
        process_request(&logger, user);
    }
    info!(logger, "Service stopping");

    // Write out every queued line before exiting.
    guard.finish()?;
    Ok(())
}
