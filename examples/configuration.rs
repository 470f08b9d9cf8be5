//! The seed's configuration examples: a process-ID and prefix root, short segments, another
//! separator, and a depth limit.
//!
//! ```text
//! cargo run --example configuration
//! ```

use slog::{Logger, info};
use token_runtime_id::{
    MaxDepthPolicy, RuntimeIdConfig, RuntimeIdError, set_default_config, with_runtime_id,
    with_runtime_id_config,
};

fn nest(log: &Logger, config: &RuntimeIdConfig, label: &str) -> Result<(), RuntimeIdError> {
    with_runtime_id_config(log, config, |log| {
        info!(log, "{}: outer", label);
        with_runtime_id_config(log, config, |log| info!(log, "{}: nested", label))
    })?
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (logger, guard) = token_runtime_id::setup::terminal().build()?;

    // 12345:API:a1b2c3d4 — the process ID, then the prefix, at the root only.
    let api = RuntimeIdConfig::builder()
        .prefix("API")
        .prefix_process_id(true)
        .build()?;
    nest(&logger, &api, "pid and prefix")?;

    // a1b2 — four characters per segment.
    let short = RuntimeIdConfig::builder().length(4).build()?;
    nest(&logger, &short, "length 4")?;

    // a1b2c3d4.e5f6g7h8 — another separator.
    let dotted = RuntimeIdConfig::builder().sep(".").build()?;
    nest(&logger, &dotted, "separator '.'")?;

    // Hexadecimal segments.
    let hex = RuntimeIdConfig::builder()
        .characters("0123456789abcdef")
        .build()?;
    nest(&logger, &hex, "hex characters")?;

    // A depth limit: max_depth 1 allows the root only.
    let flat = RuntimeIdConfig::builder().max_depth(1).build()?;
    match nest(&logger, &flat, "max_depth 1") {
        Err(err @ RuntimeIdError::MaxDepthExceeded { .. }) => info!(logger, "as expected: {}", err),
        other => other?,
    }
    // ... or stay in the current ID instead, for code that recurses.
    let reuse = RuntimeIdConfig::builder()
        .max_depth(1)
        .on_max_depth(MaxDepthPolicy::Reuse)
        .build()?;
    nest(&logger, &reuse, "max_depth 1, reuse")?;

    // Invalid values are errors that name the field, never panics.
    for bad in [
        RuntimeIdConfig::builder().length(0).build(),
        RuntimeIdConfig::builder().characters("aab").build(),
        RuntimeIdConfig::builder().prefix("A:B").build(),
        RuntimeIdConfig::builder().sep("\n").build(),
    ] {
        if let Err(err) = bad {
            info!(logger, "rejected: {}", err);
        }
    }

    // The process-wide default, used wherever no config is passed.
    set_default_config(short);
    with_runtime_id(&logger, |log| info!(log, "with the new default"))?;

    guard.finish()?;
    Ok(())
}
