#![deny(warnings)]

use token_runtime_id::{get_runtime_id, runtime_id};

// `#[runtime_id]` expands first and leaves an `async fn main` for `#[tokio::main]`.
#[runtime_id(prefix = "MAIN")]
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    tokio::task::yield_now().await;
    assert!(get_runtime_id().unwrap().as_str().starts_with("MAIN:"));
}
