//! Runtime IDs across tasks on a real multi-threaded tokio runtime.

mod common;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use slog::{Logger, info};
use token_runtime_id::{
    LoggerExt, RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt, get_runtime_id, task, thread,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn new_root() -> RuntimeId {
    RuntimeId::new_root(&RuntimeIdConfig::default())
}

/// Sleeps a little for some tasks and yields for others, so tasks interleave on both
/// workers and move between them.
async fn pause(task: u64, step: u64) {
    if (task + step) % 3 == 0 {
        tokio::time::sleep(Duration::from_micros((task * 7 + step) % 200)).await;
    } else {
        tokio::task::yield_now().await;
    }
}

/// One simulated request: three levels deep, pausing between every line. Each line says
/// which ID it expects; the drain writes the one it finds.
async fn request(log: Logger, task: u64) {
    let cfg = RuntimeIdConfig::default();
    let root = new_root();
    let expect = root.clone();
    async move {
        info!(log, "request"; "task" => task, "expect" => expect.as_str());
        pause(task, 0).await;
        let child = expect.child(&cfg).unwrap();
        let inner = child.clone();
        async {
            info!(log, "query"; "task" => task, "expect" => inner.as_str());
            pause(task, 1).await;
            let grandchild = inner.child(&cfg).unwrap();
            let deepest = grandchild.clone();
            async {
                info!(log, "row"; "task" => task, "expect" => deepest.as_str());
                pause(task, 2).await;
                info!(log, "row done"; "task" => task, "expect" => deepest.as_str());
            }
            .with_runtime_id(grandchild)
            .await;
            info!(log, "query done"; "task" => task, "expect" => inner.as_str());
        }
        .with_runtime_id(child)
        .await;
        pause(task, 3).await;
        info!(log, "request done"; "task" => task, "expect" => expect.as_str());
    }
    .with_runtime_id(root)
    .await
}

#[test]
fn ten_thousand_interleaved_tasks_each_log_only_their_own_ids() {
    const TASKS: u64 = 10_000;
    let (log, out) = common::json_logger();
    let rt = runtime();
    rt.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|task| tokio::spawn(request(log.clone(), task)))
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        assert_eq!(get_runtime_id(), None);
    });
    assert_eq!(get_runtime_id(), None);

    let records = out.records();
    assert_eq!(records.len(), TASKS as usize * 6);
    out.assert_one_key_per_line();
    let mut roots: HashMap<u64, HashSet<String>> = HashMap::new();
    for record in &records {
        let id = record["runtime_id"].as_str().unwrap();
        assert_eq!(id, record["expect"].as_str().unwrap(), "{record}");
        let task = record["task"].as_u64().unwrap();
        let root = id.split(':').next().unwrap().to_owned();
        roots.entry(task).or_default().insert(root);
    }
    assert_eq!(roots.len(), TASKS as usize);
    assert!(roots.values().all(|r| r.len() == 1));
    // Tasks sharing a root would repeat thousands. 10,000 roots of 36^8 values repeat one
    // by chance with probability 1.8e-5, too often to demand none; two with 1.6e-10.
    let distinct: HashSet<_> = roots.values().flatten().collect();
    let repeats = TASKS as usize - distinct.len();
    assert!(repeats <= 1, "{repeats} roots shared by two tasks");
}

/// Records the ID it sees at each poll; ready after `polls` polls.
struct Recorder {
    polls: usize,
    seen: Arc<Mutex<Vec<Option<RuntimeId>>>>,
}

impl Future for Recorder {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.seen.lock().unwrap().push(get_runtime_id());
        self.polls -= 1;
        if self.polls == 0 {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn recorder(polls: usize) -> (Recorder, Arc<Mutex<Vec<Option<RuntimeId>>>>) {
    let seen = Arc::default();
    (
        Recorder {
            polls,
            seen: Arc::clone(&seen),
        },
        seen,
    )
}

#[test]
fn join_and_select_poll_each_future_in_its_own_id() {
    runtime().block_on(async {
        let (a, b, c) = (new_root(), new_root(), new_root());
        let (fa, seen_a) = recorder(5);
        let (fb, seen_b) = recorder(3);
        tokio::join!(fa.with_runtime_id(a.clone()), fb.with_runtime_id(b.clone()));
        assert_eq!(*seen_a.lock().unwrap(), vec![Some(a.clone()); 5]);
        assert_eq!(*seen_b.lock().unwrap(), vec![Some(b.clone()); 3]);

        let (fa, seen_a) = recorder(4);
        let (fc, seen_c) = recorder(2);
        tokio::select! {
            () = fa.with_runtime_id(a.clone()) => panic!("the shorter future finishes first"),
            () = fc.with_runtime_id(c.clone()) => {}
        }
        assert!(
            seen_a
                .lock()
                .unwrap()
                .iter()
                .all(|id| id.as_ref() == Some(&a))
        );
        assert_eq!(*seen_c.lock().unwrap(), vec![Some(c); 2]);
        assert_eq!(get_runtime_id(), None);
    });
}

#[test]
fn nested_wrappers_give_the_innermost_id() {
    runtime().block_on(async {
        let (outer, inner) = (new_root(), new_root());
        let seen = async { get_runtime_id() }
            .with_runtime_id(inner.clone())
            .with_runtime_id(outer.clone())
            .await;
        assert_eq!(seen, Some(inner));
        let around = async {
            let before = get_runtime_id();
            let nested = async { get_runtime_id() }.with_runtime_id(new_root()).await;
            (before, nested, get_runtime_id())
        }
        .with_runtime_id(outer.clone())
        .await;
        assert_eq!(around.0, Some(outer.clone()));
        assert_ne!(around.1, Some(outer.clone()));
        assert_eq!(around.2, Some(outer));
    });
}

#[test]
fn a_future_dropped_early_or_panicking_leaves_the_threads_id_as_it_was() {
    let outer = new_root();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    outer.scope(|| {
        // Dropped before completion, after one poll.
        let (pending, seen) = recorder(10);
        let mut fut = Box::pin(pending.with_runtime_id(new_root()));
        let waker = std::task::Waker::noop();
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(waker))
                .is_pending()
        );
        assert_eq!(get_runtime_id(), Some(outer.clone()));
        drop(fut);
        assert_eq!(get_runtime_id(), Some(outer.clone()));
        assert_eq!(seen.lock().unwrap().len(), 1);

        // Panics inside a poll.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(
                async {
                    tokio::task::yield_now().await;
                    panic!("the task fails");
                }
                .with_runtime_id(new_root()),
            )
        }));
        assert!(result.is_err());
        assert_eq!(get_runtime_id(), Some(outer.clone()));
    });
    assert_eq!(get_runtime_id(), None);
}

#[test]
fn spawn_helpers_carry_the_id_and_plain_spawns_carry_nothing() {
    let rt = runtime();
    rt.block_on(
        async {
            let id = get_runtime_id().unwrap();
            let same = task::spawn(async {
                tokio::task::yield_now().await;
                get_runtime_id()
            });
            assert_eq!(same.await.unwrap(), Some(id.clone()));

            let child = task::spawn_child(async { get_runtime_id() }).unwrap();
            assert_eq!(child.await.unwrap().unwrap().parent(), Some(id.clone()));

            assert_eq!(
                tokio::spawn(async { get_runtime_id() }).await.unwrap(),
                None
            );
            assert_eq!(
                tokio::task::spawn_blocking(get_runtime_id).await.unwrap(),
                None
            );

            let thread_same = thread::spawn(get_runtime_id).join().unwrap();
            assert_eq!(thread_same, Some(id.clone()));
            let thread_child = thread::spawn_child(get_runtime_id).unwrap();
            assert_eq!(thread_child.join().unwrap().unwrap().parent(), Some(id));
            assert_eq!(std::thread::spawn(get_runtime_id).join().unwrap(), None);
        }
        .with_runtime_id(new_root()),
    );
}

#[test]
fn a_bound_logger_keeps_its_id_in_other_tasks() {
    let (log, out) = common::json_logger();
    let rt = runtime();
    let job_id = rt.block_on(
        async {
            let job = log.new_child().unwrap();
            let job_id = job.runtime_id().unwrap();
            // Plain tokio::spawn: the task has no current ID; the logger carries its own.
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                info!(job, "in another task");
            })
            .await
            .unwrap();
            job_id
        }
        .with_runtime_id(new_root()),
    );
    assert_eq!(out.id_of("in another task"), Some(job_id.to_string()));
}

#[test]
fn with_runtime_id_async_keeps_one_id_for_the_logger_and_the_task() {
    let (log, out) = common::json_logger();
    let rt = runtime();
    let results = rt.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..200u64 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let plain = log.clone();
                token_runtime_id::with_runtime_id_async(&log, |log| async move {
                    let at_start = get_runtime_id();
                    info!(log, "bound"; "task" => task);
                    pause(task, 0).await;
                    // A logger that is not bound (as the `log` crate's records use) writes
                    // the same ID: it is the task's current one, on whichever worker.
                    info!(plain, "plain"; "task" => task);
                    pause(task, 1).await;
                    (log.runtime_id(), at_start, get_runtime_id())
                })
                .await
                .unwrap()
            }));
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    });
    let mut by_task: HashMap<u64, Vec<String>> = HashMap::new();
    for record in out.records() {
        let task = record["task"].as_u64().unwrap();
        by_task
            .entry(task)
            .or_default()
            .push(record["runtime_id"].as_str().unwrap().to_owned());
    }
    let mut distinct = HashSet::new();
    for (task, (bound, at_start, at_end)) in results.into_iter().enumerate() {
        let bound = bound.unwrap();
        assert_eq!(at_start.as_ref(), Some(&bound));
        assert_eq!(at_end.as_ref(), Some(&bound));
        assert_eq!(bound.depth(), 1);
        assert_eq!(
            by_task[&(task as u64)],
            [bound.to_string(), bound.to_string()]
        );
        distinct.insert(bound);
    }
    // Each task has its own ID: tasks sharing one would repeat it up to 199 times. 200 roots
    // of 36^8 values repeat one by chance with probability 7.1e-9, above the 1e-9 this suite
    // allows; two with 2.5e-17.
    let repeats = 200 - distinct.len();
    assert!(repeats <= 1, "{repeats} repeated IDs among 200 tasks");
    out.assert_one_key_per_line();
}

#[test]
fn with_runtime_id_async_makes_the_id_at_the_first_poll_under_the_id_current_then() {
    let (log, _out) = common::json_logger();
    let parent = new_root();
    let future =
        token_runtime_id::with_runtime_id_async(&log, |log| async move { log.runtime_id() });
    // Made outside any scope, first polled inside `parent`'s.
    let rt = runtime();
    let id = rt.block_on(future.with_runtime_id(parent.clone())).unwrap();
    assert_eq!(id.unwrap().parent(), Some(parent));
}

#[test]
fn with_runtime_id_async_does_not_call_the_closure_past_the_depth_limit() {
    let (log, _out) = common::json_logger();
    // Three segments: as deep as the default config allows.
    let cfg = RuntimeIdConfig::default();
    let deepest = new_root().child(&cfg).unwrap().child(&cfg).unwrap();
    let called = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&called);
    let bound = log.bind_runtime_id(deepest);
    let result = runtime().block_on(token_runtime_id::with_runtime_id_async(&bound, |_| {
        *flag.lock().unwrap() = true;
        async {}
    }));
    assert_eq!(
        result,
        Err(token_runtime_id::RuntimeIdError::MaxDepthExceeded { max_depth: 3 })
    );
    assert!(!*called.lock().unwrap());
}
