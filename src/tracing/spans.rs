//! Runtime IDs that ride on `tracing` spans.
//!
//! Libraries move work along with tracing's span, not with this crate's scopes: sqlx runs
//! each statement on its connection's worker thread inside the caller's span, tower's
//! `Buffer` hands each request to a worker task inside the caller's span, and
//! `Instrument`, `in_current_span` and `Span::in_scope` carry a span wherever the work
//! goes. So [`SlogLayer`](super::SlogLayer) gives every span made while an ID is current
//! that ID, in the span's data, and wherever the span is entered, on any thread or task,
//! makes it current again, by the rule of a bound logger: the ID current there if it is the
//! span's or below it, else the span's. Everything that reads the current ID then sees it:
//! `tracing` events through the layer, slog records through the
//! [`RuntimeIdDrain`](crate::RuntimeIdDrain), `log` records through slog-stdlog,
//! [`get_runtime_id`](crate::get_runtime_id).
//!
//! A span made where no scope is open takes the ID of the nearest span above it that holds
//! one. Where no scope is open on a thread, the current ID is that of the innermost entered
//! span holding one, even a span the layer was not shown (a filter on the layer left it
//! out) nested in one it was.

use std::cell::RefCell;

use tracing_core::Subscriber;
use tracing_core::span::Id;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, Registry, SpanRef};

use crate::RuntimeId;
use crate::scope::{self, RuntimeIdGuard};

/// The runtime ID a span holds, in its extensions.
struct Held(RuntimeId);

thread_local! {
    /// The entries of spans holding an ID entered on this thread and not yet exited, the
    /// innermost last, each with the scope it opened (none when the current ID was already
    /// the one to carry).
    static ENTERED: RefCell<Vec<(u64, Option<RuntimeIdGuard>)>> = const { RefCell::new(Vec::new()) };
}

/// The ID `span` holds, if any.
fn held<'a, R: LookupSpan<'a>>(span: &SpanRef<'a, R>) -> Option<RuntimeId> {
    span.extensions().get::<Held>().map(|held| held.0.clone())
}

/// The ID held by `span` or, failing that, by the nearest span above it.
fn held_in_scope<'a, R: LookupSpan<'a>>(span: SpanRef<'a, R>) -> Option<RuntimeId> {
    span.scope().find_map(|span| held(&span))
}

/// Gives a new span the ID current where it is made: the innermost open scope's, or with
/// none, the one its parent span holds.
pub(super) fn on_new_span<S>(id: &Id, ctx: &Context<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.span(id) else { return };
    let held = match scope::innermost() {
        Some(current) => current,
        None => span.parent().and_then(held_in_scope),
    };
    if let Some(held) = held {
        span.extensions_mut().insert(Held(held));
    }
}

/// Makes the entered span's ID current on this thread, by the rule of a bound logger.
pub(super) fn on_enter<S>(id: &Id, ctx: &Context<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(held) = ctx.span(id).as_ref().and_then(held) else {
        return;
    };
    let entry = (id.into_u64(), scope::enter_span_within(&held));
    let refused = ENTERED
        .try_with(|entered| match entered.try_borrow_mut() {
            Ok(mut entered) => {
                entered.push(entry);
                None
            }
            Err(_) => Some(entry),
        })
        .ok()
        .flatten();
    // This thread's storage is torn down: the scope closes at once.
    drop(refused);
}

/// Closes the scope the span's latest entry on this thread opened.
pub(super) fn on_exit(id: &Id) {
    let id = id.into_u64();
    let exited = ENTERED
        .try_with(|entered| {
            let mut entered = entered.try_borrow_mut().ok()?;
            let index = entered.iter().rposition(|(span, _)| *span == id)?;
            Some(entered.remove(index))
        })
        .ok()
        .flatten();
    // The scope closes after the borrow has ended.
    drop(exited);
}

/// The ID held by the innermost span entered on this thread that holds one, or by a span
/// above it: the current ID where no scope is open.
pub(crate) fn entered_span_id() -> Option<RuntimeId> {
    tracing_core::dispatcher::get_default(|dispatch| {
        let current = dispatch.current_span();
        let registry = dispatch.downcast_ref::<Registry>()?;
        held_in_scope(registry.span(current.id()?)?)
    })
}
