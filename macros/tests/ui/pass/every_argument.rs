#![deny(warnings)]

use token_runtime_id::{get_runtime_id, runtime_id};

#[runtime_id(
    length = 4,
    prefix = "API",
    prefix_process_id = true,
    characters = "0123456789abcdef",
    max_depth = 5,
    sep = ".",
    on_max_depth = "reuse",
)]
fn process_request() -> String {
    get_runtime_id().unwrap().to_string()
}

#[runtime_id()]
fn empty_parentheses() {}

#[runtime_id(on_max_depth = "error", length = 64, max_depth = 64)]
fn limits() {}

// Each is valid once the separator is not `:`.
#[runtime_id(characters = "ab:", prefix = "v1:api", sep = "->")]
fn other_separator() {}

#[runtime_id(characters = "αβγδ", prefix = r"raw", length = 0x10)]
fn unicode_pool() {}

fn main() {
    let id = process_request();
    assert!(id.starts_with(&format!("{}.API.", std::process::id())));
    empty_parentheses();
    limits();
    other_separator();
    unicode_pool();
}
