//! One-line bodies, the shape `unused_braces` looks at: the attribute must not make the
//! compiler warn about braces the user wrote correctly.

#![deny(warnings, unused_braces)]

use std::fmt::Display;

use token_runtime_id::{RuntimeId, get_runtime_id, runtime_id};

fn g() -> u32 { 7 }

#[runtime_id]
fn single_call() -> u32 { g() }

#[runtime_id]
fn single_literal() -> u32 { 7 }

#[runtime_id]
fn single_path(x: u32) -> u32 { x }

#[runtime_id]
fn statements_then_tail() -> u32 { let x = g(); x + 1 }

#[runtime_id]
fn statement_only(out: &mut u32) { *out = g(); }

#[runtime_id]
fn impl_trait() -> impl Display { g() }

#[runtime_id]
fn a_reference(items: &[u32]) -> &u32 { &items[0] }

#[runtime_id]
fn the_current_id() -> RuntimeId { get_runtime_id().unwrap() }

#[runtime_id(length = 4)]
fn with_arguments() -> u32 { g() }

struct Service(u32);

impl Service {
    #[runtime_id]
    fn by_ref(&self) -> &u32 { &self.0 }
}

#[runtime_id]
async fn async_single_call() -> u32 { g() }

#[runtime_id]
async fn async_reference(items: &[u32]) -> &u32 { &items[0] }

#[runtime_id]
async fn async_statements() -> u32 { let x = g(); x }

fn main() {
    assert_eq!(single_call(), 7);
    assert_eq!(single_literal(), 7);
    assert_eq!(single_path(3), 3);
    assert_eq!(statements_then_tail(), 8);
    let mut out = 0;
    statement_only(&mut out);
    assert_eq!(out, 7);
    assert_eq!(impl_trait().to_string(), "7");
    assert_eq!(*a_reference(&[5, 6]), 5);
    assert_eq!(the_current_id().depth(), 1);
    assert_eq!(with_arguments(), 7);
    assert_eq!(*Service(9).by_ref(), 9);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        assert_eq!(async_single_call().await, 7);
        assert_eq!(*async_reference(&[1]).await, 1);
        assert_eq!(async_statements().await, 7);
    });
}
