//! Generates the decorated function: the signature, attributes, docs and visibility as
//! written, and a body that runs in a new child runtime ID.
//!
//! For a `fn`, the body enters the child before any of the original statements run, so
//! the original locals are dropped inside it:
//!
//! ```text
//! fn name(..) -> R {
//!     let guard = enter_child(config, "name");
//!     original statements
//! }
//! ```
//!
//! The statements are spliced in, not wrapped in the original braces: a one-line body such
//! as `{ g() }` nested as a block would read to the compiler as a block made of one
//! expression and draw a false `unused_braces` warning on the user's code. The guard is
//! declared first, so it is dropped last, after every local of the body.
//!
//! `config` is `None` (the process-wide default, read at each call) without arguments, or
//! `Some({ static CONFIG: LazyLock<RuntimeIdConfig> = ..; &*CONFIG })` with them; the
//! static lives in that block, so no name of the macro's shares a scope with the body's
//! items.
//!
//! For an `async fn`, the child is made when the body starts, at the first poll, under the ID
//! current then; the original body becomes an `async move` block that runs in it on every
//! poll, on whichever thread (tracing's `#[instrument]` pattern):
//!
//! ```text
//! async fn name(..) -> R {
//!     let id = child_id(config, "name");
//!     RuntimeIdFutureExt::with_runtime_id(async move { original body }, id).await
//! }
//! ```

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::{AttrStyle, Ident, Item, ItemFn};

use crate::attr::{self, Args};

/// The attribute: checked arguments and a function, or the errors followed by the item as
/// written (so one mistake does not cascade into "cannot find function" errors).
pub(crate) fn runtime_id(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = attr::parse(args);
    let function = function(item.clone());
    match (args, function) {
        (Ok(args), Ok(function)) => expand(&args, function),
        (args, function) => {
            let mut errors: Option<syn::Error> = None;
            for error in [args.err(), function.err()].into_iter().flatten() {
                match &mut errors {
                    Some(first) => first.combine(error),
                    None => errors = Some(error),
                }
            }
            let errors = errors.map(|error| error.to_compile_error());
            quote!(#errors #item)
        }
    }
}

/// The item, if it is a function the attribute can decorate.
fn function(item: TokenStream) -> syn::Result<ItemFn> {
    let item: Item = syn::parse2(item)?;
    let (what, tokens) = match item {
        Item::Fn(function) => {
            if let Some(constness) = &function.sig.constness {
                return Err(syn::Error::new_spanned(
                    constness,
                    "#[runtime_id] cannot go on a `const fn`: making and entering a runtime \
                     ID cannot happen in a const context",
                ));
            }
            return Ok(function);
        }
        Item::Verbatim(tokens) => match syn::parse2::<syn::TraitItemFn>(tokens.clone()) {
            Ok(declaration) if declaration.default.is_none() => {
                return Err(syn::Error::new_spanned(
                    &declaration.sig,
                    "#[runtime_id] needs a function body: put it on the methods that \
                     implement this declaration, or on a default body",
                ));
            }
            _ => ("this item", tokens),
        },
        Item::Const(item) => ("a `const`", pair(&item.const_token, &item.ident)),
        Item::Enum(item) => ("an `enum`", pair(&item.enum_token, &item.ident)),
        Item::ExternCrate(item) => ("an `extern crate`", item.into_token_stream()),
        Item::ForeignMod(item) => ("an `extern` block", item.abi.into_token_stream()),
        Item::Impl(item) => (
            "an `impl` block; put it on the methods inside",
            item.impl_token.into_token_stream(),
        ),
        Item::Macro(item) => ("a macro invocation", item.mac.path.into_token_stream()),
        Item::Mod(item) => ("a module", pair(&item.mod_token, &item.ident)),
        Item::Static(item) => ("a `static`", pair(&item.static_token, &item.ident)),
        Item::Struct(item) => ("a `struct`", pair(&item.struct_token, &item.ident)),
        Item::Trait(item) => (
            "a trait; put it on the methods that have a body",
            pair(&item.trait_token, &item.ident),
        ),
        Item::TraitAlias(item) => ("a trait alias", pair(&item.trait_token, &item.ident)),
        Item::Type(item) => ("a type alias", pair(&item.type_token, &item.ident)),
        Item::Union(item) => ("a `union`", pair(&item.union_token, &item.ident)),
        Item::Use(item) => ("a `use` declaration", item.into_token_stream()),
        other => ("this item", other.into_token_stream()),
    };
    Err(syn::Error::new_spanned(
        tokens,
        format!("#[runtime_id] goes on a `fn` or `async fn`, not on {what}"),
    ))
}

/// The tokens of `a b`, to point an error at a keyword and a name.
fn pair(a: &impl ToTokens, b: &impl ToTokens) -> TokenStream {
    let mut tokens = a.to_token_stream();
    b.to_tokens(&mut tokens);
    tokens
}

fn expand(args: &Args, function: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
        ..
    } = function;
    let (outer, inner): (Vec<_>, Vec<_>) = attrs
        .into_iter()
        .partition(|attr| matches!(attr.style, AttrStyle::Outer));
    let name = sig.ident.unraw().to_string();
    let private = quote!(::token_runtime_id::__private);

    let config = if args.is_empty() {
        quote!(::core::option::Option::None)
    } else {
        let config_static = Ident::new("__TOKEN_RUNTIME_ID_CONFIG", Span::call_site());
        let build = build_config(args, &name);
        quote!(::core::option::Option::Some({
            static #config_static: #private::LazyLock<#private::RuntimeIdConfig> =
                #private::LazyLock::new(|| #build);
            &*#config_static
        }))
    };

    let body = if sig.asyncness.is_some() {
        // Hygienic: the original body can neither see nor shadow it.
        let id = Ident::new("__token_runtime_id_child", Span::mixed_site());
        quote! {
            let #id = #private::child_id(#config, #name);
            #private::RuntimeIdFutureExt::with_runtime_id(async move #block, #id).await
        }
    } else {
        // Hygienic: the original body can neither see nor shadow it.
        let guard = Ident::new("__token_runtime_id_guard", Span::mixed_site());
        let statements = &block.stmts;
        quote! {
            let #guard = #private::enter_child(#config, #name);
            #(#statements)*
        }
    };

    quote! {
        #(#outer)*
        #vis #sig {
            #(#inner)*
            #body
        }
    }
}

/// `RuntimeIdConfig::builder()` with the arguments given, then `build()`, which cannot
/// fail: the same rules passed at compile time.
fn build_config(args: &Args, name: &str) -> TokenStream {
    let private = quote!(::token_runtime_id::__private);
    let mut setters = TokenStream::new();
    if let Some(length) = args.length {
        setters.extend(quote!(.length(#length)));
    }
    if let Some(prefix) = &args.prefix {
        setters.extend(quote!(.prefix(#prefix)));
    }
    if let Some(on) = args.prefix_process_id {
        setters.extend(quote!(.prefix_process_id(#on)));
    }
    if let Some(characters) = &args.characters {
        setters.extend(quote!(.characters(#characters)));
    }
    if let Some(max_depth) = args.max_depth {
        setters.extend(quote!(.max_depth(#max_depth)));
    }
    if let Some(sep) = &args.sep {
        setters.extend(quote!(.sep(#sep)));
    }
    if let Some(reuse) = args.reuse {
        let policy = if reuse { quote!(Reuse) } else { quote!(Error) };
        setters.extend(quote!(.on_max_depth(#private::MaxDepthPolicy::#policy)));
    }
    let unreachable =
        format!("#[runtime_id] on `{name}`: the arguments were checked at compile time, yet {{}}");
    quote! {
        #private::RuntimeIdConfig::builder()
            #setters
            .build()
            .unwrap_or_else(|err| ::core::unreachable!(#unreachable, err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(args: TokenStream, item: TokenStream) -> String {
        runtime_id(args, item).to_string()
    }

    #[test]
    fn a_fn_keeps_its_signature_and_enters_a_child_first() {
        let out = expanded(
            quote!(),
            quote! {
                /// Docs.
                #[inline]
                pub(crate) fn process<T: Clone>(&self, t: impl Into<T>) -> Result<T, E> {
                    #![allow(unused)]
                    let x = t.into();
                    Ok(x)
                }
            },
        );
        let expected = quote! {
            #[doc = r" Docs."]
            #[inline]
            pub(crate) fn process<T: Clone>(&self, t: impl Into<T>) -> Result<T, E> {
                #![allow(unused)]
                let __token_runtime_id_guard = ::token_runtime_id::__private::enter_child(
                    ::core::option::Option::None,
                    "process"
                );
                let x = t.into();
                Ok(x)
            }
        };
        assert_eq!(out, expected.to_string());
    }

    #[test]
    fn arguments_build_one_static_config() {
        let out = expanded(
            quote!(length = 4, sep = ".", on_max_depth = "reuse"),
            quote!(
                fn r#walk() {}
            ),
        );
        assert!(out.contains("static __TOKEN_RUNTIME_ID_CONFIG"), "{out}");
        assert!(
            out.contains(". length (4usize) . sep (\".\") . on_max_depth"),
            "{out}"
        );
        assert!(out.contains("MaxDepthPolicy :: Reuse"), "{out}");
        assert!(
            out.contains("& * __TOKEN_RUNTIME_ID_CONFIG }) , \"walk\""),
            "{out}"
        );
    }

    #[test]
    fn an_async_fn_wraps_its_body() {
        let out = expanded(
            quote!(),
            quote!(
                async fn fetch(&self) -> u8 {
                    1
                }
            ),
        );
        let expected = quote! {
            async fn fetch(&self) -> u8 {
                let __token_runtime_id_child = ::token_runtime_id::__private::child_id(
                    ::core::option::Option::None,
                    "fetch"
                );
                ::token_runtime_id::__private::RuntimeIdFutureExt::with_runtime_id(
                    async move { 1 },
                    __token_runtime_id_child
                ).await
            }
        };
        assert_eq!(out, expected.to_string());
    }

    #[test]
    fn errors_come_with_the_item_as_written() {
        let out = expanded(
            quote!(length = 0),
            quote!(
                fn f() {}
            ),
        );
        assert!(out.starts_with(":: core :: compile_error !"), "{out}");
        assert!(out.ends_with("fn f () { }"), "{out}");
        let out = expanded(
            quote!(),
            quote!(
                struct S;
            ),
        );
        assert!(out.contains("not on a `struct`"), "{out}");
        let out = expanded(
            quote!(),
            quote!(
                fn f(&self);
            ),
        );
        assert!(out.contains("needs a function body"), "{out}");
        let out = expanded(
            quote!(),
            quote!(
                const fn f() {}
            ),
        );
        assert!(out.contains("cannot go on a `const fn`"), "{out}");
    }
}
