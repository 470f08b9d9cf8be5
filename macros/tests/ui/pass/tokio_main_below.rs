#![deny(warnings)]

use token_runtime_id::{get_runtime_id, runtime_id};

// `#[tokio::main]` expands first and leaves a plain `fn main`, which `#[runtime_id]` runs
// in a new ID.
#[tokio::main]
#[runtime_id(prefix = "MAIN")]
async fn main() {
    tokio::task::yield_now().await;
    assert!(get_runtime_id().unwrap().as_str().starts_with("MAIN:"));
}
