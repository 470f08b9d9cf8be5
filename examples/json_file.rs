//! JSON lines to a file, one record per line, each with its runtime ID.
//!
//! ```text
//! cargo run --example json_file [PATH]
//! ```
//!
//! Writes to `PATH` (default: `runtime-ids.jsonl` in the system's temporary directory),
//! then prints the path and the lines back.

use slog::{Logger, info, warn};
use token_runtime_id::{LoggerExt, RuntimeIdError, with_runtime_id};

/// One order: its lines, a nested scope, and a receipt sent from another thread. (The
/// viewer's tests run it too, to view what it logs.)
pub(crate) fn handle_order(log: &Logger, order: u32) -> Result<(), RuntimeIdError> {
    info!(log, "Order received"; "order" => order);
    with_runtime_id(log, |log| {
        info!(log, "Charging card"; "order" => order);
        if order % 2 == 0 {
            warn!(log, "Card needs a second attempt"; "order" => order);
        }
    })?;

    // A background job keeps its own child ID on another thread.
    let job = log.new_child()?;
    std::thread::spawn(move || info!(job, "Sending receipt"; "order" => order))
        .join()
        .expect("the receipt thread does not panic");
    info!(log, "Order done"; "order" => order);
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("runtime-ids.jsonl"));

    let (logger, guard) = token_runtime_id::setup::json_file(&path)
        .truncate(true)
        .build()?;
    for order in 1..=2 {
        with_runtime_id(&logger, |log| handle_order(log, order))??;
    }
    // Every record is in the file once the guard has finished.
    guard.finish()?;

    println!("wrote {}", path.display());
    for line in std::fs::read_to_string(&path)?.lines() {
        println!("{line}");
    }
    Ok(())
}
