#![deny(warnings)]
#![forbid(unsafe_op_in_unsafe_fn)]

use std::fmt::Display;

use token_runtime_id::{RuntimeId, get_runtime_id, runtime_id};

/// A free function: docs, attributes and visibility are kept.
#[runtime_id]
#[must_use]
#[inline]
pub fn free(x: u32) -> u32 {
    #![allow(clippy::identity_op)]
    x + 0
}

#[runtime_id]
pub(crate) fn generic<T: Display + Clone, const N: usize>(items: [T; N]) -> String
where
    T: Send,
{
    items.iter().map(T::to_string).collect()
}

#[runtime_id]
fn impl_trait(value: impl Into<String>, mut sink: impl FnMut(String)) -> impl Display {
    let value = value.into();
    sink(value.clone());
    value
}

#[runtime_id]
fn lifetimes<'a>(a: &'a str, _b: &str) -> &'a str {
    a
}

#[runtime_id]
fn patterns((a, b): (u8, u8), [c, ..]: [u8; 3]) -> u8 {
    a + b + c
}

#[runtime_id]
fn result(text: &str) -> Result<u16, std::num::ParseIntError> {
    if text.is_empty() {
        return Ok(0);
    }
    let value = text.parse::<u16>()?;
    Ok(value)
}

#[runtime_id]
fn never() -> ! {
    panic!("diverges")
}

#[runtime_id]
unsafe fn unsafe_fn(pointer: *const u8) -> u8 {
    // SAFETY: the caller passes a valid pointer.
    unsafe { *pointer }
}

#[runtime_id]
extern "C" fn extern_c() -> u32 {
    7
}

#[runtime_id]
fn r#match() -> RuntimeId {
    get_runtime_id().unwrap()
}

#[runtime_id]
fn shadows_nothing() -> u32 {
    // A local with the name the attribute uses for its guard does not clash with it.
    let __token_runtime_id_guard = 1;
    __token_runtime_id_guard
}

#[runtime_id(length = 4)]
fn shadows_nothing_with_arguments() -> u32 {
    // An item with the name the attribute uses for its config does not clash with it.
    static __TOKEN_RUNTIME_ID_CONFIG: u32 = 2;
    __TOKEN_RUNTIME_ID_CONFIG
}

#[derive(Default)]
struct Service {
    calls: u32,
}

impl Service {
    #[runtime_id]
    fn by_ref(&self) -> u32 {
        self.calls
    }

    #[runtime_id(length = 4)]
    fn by_mut(&mut self) {
        self.calls += 1;
    }

    #[runtime_id]
    fn by_value(self) -> u32 {
        self.calls
    }

    #[runtime_id]
    fn boxed(self: Box<Self>) -> u32 {
        self.calls
    }

    #[runtime_id]
    fn new() -> Self {
        Self::default()
    }
}

trait Handler {
    fn handle(&self) -> u32;

    #[runtime_id]
    fn default_body(&self) -> u32 {
        self.handle()
    }
}

impl Handler for Service {
    #[runtime_id]
    fn handle(&self) -> u32 {
        self.calls
    }
}

struct Wrapper<T>(T);

impl<T: Clone> Wrapper<T> {
    #[runtime_id(prefix = "W")]
    fn get(&self) -> T {
        self.0.clone()
    }
}

fn main() {
    assert_eq!(free(1), 1);
    assert_eq!(generic([1, 2]), "12");
    let mut seen = String::new();
    assert_eq!(impl_trait("x", |s| seen = s).to_string(), "x");
    assert_eq!(lifetimes("a", "b"), "a");
    assert_eq!(patterns((1, 2), [3, 4, 5]), 6);
    assert_eq!(result("8"), Ok(8));
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    assert!(std::panic::catch_unwind(|| never()).is_err());
    std::panic::set_hook(hook);
    assert_eq!(unsafe { unsafe_fn(&5) }, 5);
    assert_eq!(extern_c(), 7);
    assert_eq!(r#match().depth(), 1);
    assert_eq!(shadows_nothing(), 1);
    assert_eq!(shadows_nothing_with_arguments(), 2);
    let mut service = Service::new();
    service.by_mut();
    assert_eq!(service.by_ref(), 1);
    assert_eq!(service.default_body(), 1);
    assert_eq!(Box::new(Service::new()).boxed(), 0);
    assert_eq!(service.by_value(), 1);
    assert_eq!(Wrapper(3).get(), 3);
}
