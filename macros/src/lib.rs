//! The `#[runtime_id]` attribute of [`token-runtime-id`]: each call of the `fn` or
//! `async fn` it decorates runs in a new child runtime ID.
//!
//! Use it through the main crate, which re-exports it as `token_runtime_id::runtime_id`
//! (default feature `macros`) and documents it there, with examples. The arguments are
//! checked while the program compiles, by the same rules (`token-runtime-id-rules`) that
//! `RuntimeIdConfig::builder().build()` applies at run time.
//!
//! [`token-runtime-id`]: https://docs.rs/token-runtime-id

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod attr;
mod expand;

use proc_macro::TokenStream;

/// The attribute is defined in `token-runtime-id-macros` and re-exported as
/// `token_runtime_id::runtime_id`, where it is documented with examples.
#[proc_macro_attribute]
pub fn runtime_id(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::runtime_id(args.into(), item.into()).into()
}
