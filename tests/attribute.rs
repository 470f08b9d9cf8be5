//! `#[runtime_id]` at run time: nesting, the arguments' effects, the depth limit, methods,
//! `Result`s, and `async fn` across awaits and worker threads.

#![cfg(feature = "macros")]

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};

use slog::{Drain, Logger, info, o};
use token_runtime_id::{
    RuntimeId, RuntimeIdConfig, RuntimeIdDrain, RuntimeIdError, get_runtime_id, runtime_id,
    set_default_config, with_runtime_id,
};

/// Held for reading by the tests that rely on the process-wide default config's length,
/// for writing by the one that changes it. (It changes only the length, so the async tests,
/// which do not look at lengths, need not wait.)
static DEFAULT_CONFIG: RwLock<()> = RwLock::new(());

fn uses_default_config() -> std::sync::RwLockReadGuard<'static, ()> {
    DEFAULT_CONFIG.read().unwrap_or_else(|e| e.into_inner())
}

fn current() -> RuntimeId {
    get_runtime_id().expect("a runtime ID is current")
}

/// A logger writing JSON lines to memory, and the `runtime_id` of each line written.
fn json_logger() -> (Logger, impl Fn() -> Vec<Option<String>>) {
    let (json, out) = common::mutex_json();
    let logger = Logger::root(RuntimeIdDrain::new(json).fuse(), o!());
    let ids = move || {
        out.records()
            .iter()
            .map(|record| record["runtime_id"].as_str().map(str::to_owned))
            .collect()
    };
    (logger, ids)
}

#[runtime_id]
fn process_request(log: &Logger) {
    info!(log, "Processing request");
    query_database(log);
    info!(log, "Request completed");
}

#[runtime_id]
fn query_database(log: &Logger) {
    info!(log, "Querying database");
}

#[test]
fn nested_attributed_functions_give_parent_child() {
    let _default = uses_default_config();
    let (log, ids) = json_logger();
    info!(log, "Service started");
    process_request(&log);
    let ids = ids();
    assert_eq!(ids.len(), 4);
    assert_eq!(ids[0], None);
    let request = ids[1].clone().unwrap();
    let query = ids[2].clone().unwrap();
    assert_eq!(request.len(), 8);
    assert_eq!(query.len(), 8 + 1 + 8);
    assert!(query.starts_with(&format!("{request}:")), "{query}");
    assert_eq!(ids[3].as_deref(), Some(request.as_str()));
    assert_eq!(get_runtime_id(), None);
}

#[test]
fn an_attributed_call_nests_under_the_scope_it_is_called_in() {
    let _default = uses_default_config();
    let (log, _) = json_logger();
    with_runtime_id(&log, |_| {
        let scope = current();
        #[runtime_id]
        fn inner() -> RuntimeId {
            current()
        }
        let id = inner();
        assert_eq!(id.parent(), Some(scope.clone()));
        assert_eq!(current(), scope);
    })
    .unwrap();
}

#[test]
fn length_4() {
    #[runtime_id(length = 4)]
    fn short() -> RuntimeId {
        current()
    }
    let id = short();
    assert_eq!(id.as_str().len(), 4);
    assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
}

#[test]
fn separator_dot_joins_the_new_segment() {
    let _default = uses_default_config();
    #[runtime_id(sep = ".")]
    fn dotted() -> RuntimeId {
        current()
    }
    #[runtime_id]
    fn outer() -> (RuntimeId, RuntimeId) {
        (current(), dotted())
    }
    let (parent, child) = outer();
    let expected_prefix = format!("{parent}.");
    assert!(child.as_str().starts_with(&expected_prefix), "{child}");
    assert_eq!(child.as_str().len(), expected_prefix.len() + 8);
}

#[test]
fn prefix_with_process_id_marks_the_root_only() {
    #[runtime_id(prefix = "API", prefix_process_id = true)]
    fn api() -> RuntimeId {
        current()
    }
    let root = api();
    let pid = std::process::id();
    let expected_prefix = format!("{pid}:API:");
    assert!(root.as_str().starts_with(&expected_prefix), "{root}");
    assert_eq!(root.as_str().len(), expected_prefix.len() + 8);

    let nested = root.scope(api);
    assert_eq!(nested.parent(), Some(root.clone()));
    assert_eq!(nested.as_str().matches("API").count(), 1);
}

#[test]
fn characters_and_max_depth() {
    #[runtime_id(characters = "01", length = 16, max_depth = 5)]
    fn binary(levels: u32) -> RuntimeId {
        if levels == 0 {
            current()
        } else {
            binary(levels - 1)
        }
    }
    let id = binary(4);
    assert_eq!(id.depth(), 5);
    assert!(id.as_str().chars().all(|c| matches!(c, '0' | '1' | ':')));
}

#[test]
fn no_arguments_read_the_process_wide_default_at_call_time() {
    let _exclusive = DEFAULT_CONFIG.write().unwrap_or_else(|e| e.into_inner());
    #[runtime_id]
    fn plain() -> RuntimeId {
        current()
    }
    // With arguments, the fields not given are the crate's defaults, not the process-wide.
    #[runtime_id(prefix = "P")]
    fn own() -> RuntimeId {
        current()
    }
    assert_eq!(plain().as_str().len(), 8);
    let previous = set_default_config(RuntimeIdConfig::builder().length(12).build().unwrap());
    let twelve = plain();
    let own_id = own();
    set_default_config((*previous).clone());
    assert_eq!(twelve.as_str().len(), 12);
    assert_eq!(own_id.as_str().len(), "P:".len() + 8);
    assert_eq!(plain().as_str().len(), 8);
}

#[runtime_id]
fn recurse(levels: u32, seen: &mut Vec<RuntimeId>) {
    seen.push(current());
    if levels > 0 {
        recurse(levels - 1, seen);
    }
}

#[test]
fn recursion_within_the_limit_nests() {
    let _default = uses_default_config();
    let mut seen = Vec::new();
    recurse(2, &mut seen);
    assert_eq!(
        seen.iter().map(RuntimeId::depth).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(seen[2].parent(), Some(seen[1].clone()));
    assert_eq!(seen[1].parent(), Some(seen[0].clone()));
}

#[runtime_id(max_depth = 2)]
fn descend(levels: u32) -> u32 {
    if levels == 0 {
        0
    } else {
        1 + descend(levels - 1)
    }
}

#[test]
fn past_max_depth_the_call_panics_naming_the_function_and_the_limit() {
    assert_eq!(descend(1), 1);
    let panic = std::panic::catch_unwind(|| descend(2)).unwrap_err();
    let message = panic
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(message.contains("#[runtime_id] on `descend`"), "{message}");
    assert!(message.contains("max_depth = 2"), "{message}");
    assert!(message.contains("on_max_depth = \"reuse\""), "{message}");
    // The scopes the panic unwound through are closed.
    assert_eq!(get_runtime_id(), None);
}

#[test]
fn reuse_runs_past_max_depth_in_the_current_id() {
    #[runtime_id(max_depth = 2, on_max_depth = "reuse")]
    fn walk(levels: u32, seen: &mut Vec<RuntimeId>) {
        seen.push(current());
        if levels > 0 {
            walk(levels - 1, seen);
        }
    }
    let mut seen = Vec::new();
    walk(5, &mut seen);
    assert_eq!(seen.len(), 6);
    assert_eq!(seen[0].depth(), 1);
    assert_eq!(seen[1].parent(), Some(seen[0].clone()));
    assert!(seen[2..].iter().all(|id| *id == seen[1]));
}

#[test]
fn on_max_depth_error_is_the_default_policy_spelled_out() {
    #[runtime_id(max_depth = 1, on_max_depth = "error")]
    fn flat() {}
    flat();
    let root = RuntimeId::new_root(&RuntimeIdConfig::default());
    assert!(std::panic::catch_unwind(|| root.scope(flat)).is_err());
}

#[derive(Debug, Default, Clone)]
struct Service {
    calls: u32,
}

impl Service {
    #[runtime_id]
    fn by_ref(&self) -> RuntimeId {
        current()
    }

    #[runtime_id(length = 5)]
    fn by_mut(&mut self) -> RuntimeId {
        self.calls += 1;
        current()
    }

    #[runtime_id]
    fn by_value(self) -> (u32, RuntimeId) {
        (self.calls, current())
    }

    /// A generic method with an `impl Trait` argument.
    #[runtime_id]
    pub fn generic<T: ToString>(&self, value: T, also: impl AsRef<str>) -> (String, RuntimeId) {
        (format!("{}{}", value.to_string(), also.as_ref()), current())
    }

    #[runtime_id]
    fn associated() -> RuntimeId {
        current()
    }
}

trait Handler {
    fn handle(&self) -> RuntimeId;
}

impl Handler for Service {
    #[runtime_id]
    fn handle(&self) -> RuntimeId {
        current()
    }
}

#[test]
fn methods_run_in_a_new_child() {
    let _default = uses_default_config();
    let parent = RuntimeId::new_root(&RuntimeIdConfig::default());
    parent.scope(|| {
        let mut service = Service::default();
        assert_eq!(service.by_ref().parent(), Some(parent.clone()));
        let id = service.by_mut();
        assert_eq!(id.as_str().len(), parent.as_str().len() + 1 + 5);
        assert_eq!(service.calls, 1);
        let (text, id) = service.generic(4, "2");
        assert_eq!(text, "42");
        assert_eq!(id.parent(), Some(parent.clone()));
        assert_eq!(Service::associated().parent(), Some(parent.clone()));
        assert_eq!(service.handle().parent(), Some(parent.clone()));
        let (calls, id) = service.by_value();
        assert_eq!(calls, 1);
        assert_eq!(id.parent(), Some(parent.clone()));
        assert_eq!(current(), parent);
    });
}

#[runtime_id]
fn parse_port(text: &str) -> Result<(u16, RuntimeId), std::num::ParseIntError> {
    if text.is_empty() {
        return Ok((80, current()));
    }
    let port = text.parse::<u16>()?;
    Ok((port, current()))
}

#[runtime_id]
fn fallible(fail: bool) -> Result<RuntimeId, Box<dyn std::error::Error>> {
    if fail {
        Err(RuntimeIdError::NotSet)?;
    }
    Ok(current())
}

#[test]
fn functions_returning_result_keep_return_and_question_mark() {
    let _default = uses_default_config();
    assert_eq!(parse_port("").unwrap().0, 80);
    let (port, id) = parse_port("8080").unwrap();
    assert_eq!((port, id.depth()), (8080, 1));
    assert!(parse_port("http").is_err());
    assert_eq!(get_runtime_id(), None);
    assert!(fallible(false).is_ok());
    assert_eq!(
        fallible(true).unwrap_err().to_string(),
        RuntimeIdError::NotSet.to_string()
    );
}

#[test]
fn locals_are_dropped_inside_the_scope() {
    struct SeesOnDrop(Arc<Mutex<Option<RuntimeId>>>);
    impl Drop for SeesOnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = get_runtime_id();
        }
    }
    #[runtime_id]
    fn holds(seen: Arc<Mutex<Option<RuntimeId>>>) -> RuntimeId {
        let _local = SeesOnDrop(seen);
        current()
    }
    let seen = Arc::default();
    let id = holds(Arc::clone(&seen));
    assert_eq!(*seen.lock().unwrap(), Some(id));
}

// ---- async fn ----

#[runtime_id]
async fn step() -> RuntimeId {
    let before = current();
    tokio::task::yield_now().await;
    assert_eq!(
        current(),
        before,
        "the ID follows the future across an await"
    );
    before
}

/// Only an await: the body must not trip `clippy::redundant_async_block`.
#[runtime_id]
async fn delegate() -> RuntimeId {
    step().await
}

#[runtime_id]
async fn handle_request(index: usize) -> (usize, RuntimeId, Vec<RuntimeId>) {
    let request = current();
    let mut steps = Vec::new();
    for _ in 0..3 {
        steps.push(step().await);
        let delegated = delegate().await;
        assert_eq!(
            delegated.parent().unwrap().parent().as_ref(),
            Some(&request)
        );
        tokio::task::yield_now().await;
        assert_eq!(current(), request);
    }
    (index, request, steps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_fn_nests_across_awaits_with_200_concurrent_calls() {
    let tasks: Vec<_> = (0..200).map(|i| tokio::spawn(handle_request(i))).collect();
    let mut roots = HashSet::new();
    for (i, task) in tasks.into_iter().enumerate() {
        let (index, request, steps) = task.await.unwrap();
        assert_eq!(index, i);
        assert_eq!(request.depth(), 1);
        for step in &steps {
            assert_eq!(step.parent().as_ref(), Some(&request));
        }
        assert_eq!(steps.iter().collect::<HashSet<_>>().len(), 3);
        roots.insert(request);
    }
    // Every call has its own root: calls sharing one would repeat it 199 times. 200 roots
    // of 36^8 values repeat one by chance with probability 7.1e-9; two with 2.5e-17.
    assert!(roots.len() >= 199, "{} roots for 200 calls", roots.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_fn_makes_its_id_at_first_poll_under_the_id_current_then() {
    let parent = RuntimeId::new_root(&RuntimeIdConfig::default());
    // Created outside any scope, first polled inside `parent`.
    let fut = step();
    let id = token_runtime_id::RuntimeIdFutureExt::with_runtime_id(fut, parent.clone()).await;
    assert_eq!(id.parent(), Some(parent));
}

#[runtime_id(max_depth = 1)]
async fn shallow() {}

#[tokio::test]
async fn async_fn_past_max_depth_panics_at_first_poll() {
    let root = RuntimeId::new_root(&RuntimeIdConfig::default());
    let fut = token_runtime_id::RuntimeIdFutureExt::with_runtime_id(shallow(), root);
    let error = tokio::spawn(fut).await.unwrap_err();
    let panic = error.into_panic();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("`shallow`"), "{message}");
    assert!(message.contains("max_depth = 1"), "{message}");
}

struct Client {
    name: String,
}

impl Client {
    #[runtime_id(prefix = "CLI")]
    async fn get(&self, path: impl AsRef<str>) -> Result<String, RuntimeIdError> {
        tokio::task::yield_now().await;
        let id = get_runtime_id().ok_or(RuntimeIdError::NotSet)?;
        if path.as_ref().is_empty() {
            return Err(RuntimeIdError::NotSet);
        }
        Ok(format!("{} {} {id}", self.name, path.as_ref()))
    }

    #[runtime_id]
    async fn into_name<T: From<String>>(self) -> T {
        tokio::task::yield_now().await;
        T::from(self.name)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_methods_generics_and_results() {
    let client = Client { name: "c".into() };
    let line = tokio::spawn(async move {
        let line = client.get("/users").await.unwrap();
        assert!(client.get("").await.is_err());
        let name: String = client.into_name().await;
        (line, name)
    })
    .await
    .unwrap();
    assert!(line.0.starts_with("c /users CLI:"), "{}", line.0);
    assert_eq!(line.1, "c");
}

#[tokio::test]
#[runtime_id]
async fn under_tokio_test_below_it() {
    assert_eq!(current().depth(), 1);
}

#[runtime_id]
#[tokio::test]
async fn under_tokio_test_above_it() {
    assert_eq!(current().depth(), 1);
}
