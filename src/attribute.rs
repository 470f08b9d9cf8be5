//! What the code `#[runtime_id]` generates calls: a new child ID per call.

use crate::config::with_config_or_default;
use crate::{RuntimeId, RuntimeIdConfig, RuntimeIdGuard, scope};

/// A new child of the current ID (or a new root) for a call to `function`, made with
/// `config` (`None`: the process-wide default, read now).
///
/// # Panics
///
/// Past `max_depth` under the `Error` policy, with a message naming the function and the
/// limit, as the attribute documents.
#[inline]
pub fn child_id(config: Option<&RuntimeIdConfig>, function: &'static str) -> RuntimeId {
    let made = with_config_or_default(config, |config| {
        RuntimeId::next(config).map_err(|_| config.max_depth())
    });
    match made {
        Ok(id) => id,
        Err(max_depth) => too_deep(function, max_depth),
    }
}

/// Enters a new child of the current ID (or a root) for a call to the `fn` named
/// `function`, until the guard is dropped.
///
/// # Panics
///
/// As [`child_id`].
#[inline]
pub fn enter_child(config: Option<&RuntimeIdConfig>, function: &'static str) -> RuntimeIdGuard {
    scope::enter(Some(child_id(config, function)))
}

#[cold]
#[inline(never)]
fn too_deep(function: &'static str, max_depth: usize) -> ! {
    panic!(
        "#[runtime_id] on `{function}`: cannot nest a runtime ID deeper than max_depth = \
         {max_depth}; use on_max_depth = \"reuse\" to stay in the current ID instead"
    )
}
