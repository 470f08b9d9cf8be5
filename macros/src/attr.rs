//! Parses and checks the attribute's arguments: `#[runtime_id(length = 4, sep = ".")]`.
//!
//! Every argument is `name = literal`. The values go through the rules of
//! `token-runtime-id-rules`, the ones `RuntimeIdConfig::builder().build()` applies at run
//! time, combined as the builder combines them (missing values take the crate's
//! defaults). Each mistake is reported on the argument that makes it, all of them at
//! once, with a message that says what is allowed.

use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, Meta, MetaNameValue, Token, UnOp};
use token_runtime_id_rules::{self as rules, Violation};

/// The arguments as written, every one valid and consistent with the others. `None` is an
/// argument that was not given.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Args {
    pub(crate) length: Option<usize>,
    pub(crate) prefix: Option<String>,
    pub(crate) prefix_process_id: Option<bool>,
    pub(crate) characters: Option<String>,
    pub(crate) max_depth: Option<usize>,
    pub(crate) sep: Option<String>,
    /// `on_max_depth`: `true` for `"reuse"`.
    pub(crate) reuse: Option<bool>,
}

impl Args {
    /// No arguments: the call uses the process-wide default config.
    pub(crate) fn is_empty(&self) -> bool {
        *self == Args::default()
    }
}

/// The arguments, in the order the docs list them, with the form each one expects.
const ARGUMENTS: &[(&str, &str)] = &[
    ("length", "an integer literal, like `length = 4`"),
    ("prefix", "a string literal, like `prefix = \"API\"`"),
    ("prefix_process_id", "`true` or `false`"),
    (
        "characters",
        "a string literal, like `characters = \"0123456789abcdef\"`",
    ),
    ("max_depth", "an integer literal, like `max_depth = 5`"),
    ("sep", "a string literal, like `sep = \".\"`"),
    ("on_max_depth", "a string literal: \"error\" or \"reuse\""),
];

fn expected_form(name: &str) -> &'static str {
    ARGUMENTS
        .iter()
        .find(|(known, _)| *known == name)
        .map_or("", |(_, form)| form)
}

/// A value as written, with the tokens of its `name = value` for error spans.
struct Given<T> {
    value: T,
    tokens: TokenStream,
}

impl<T> Given<T> {
    fn error(&self, message: impl Display) -> syn::Error {
        syn::Error::new_spanned(&self.tokens, message)
    }
}

/// The arguments as parsed, before the rules.
#[derive(Default)]
struct Parsed {
    length: Option<Given<usize>>,
    prefix: Option<Given<String>>,
    prefix_process_id: Option<Given<bool>>,
    characters: Option<Given<String>>,
    max_depth: Option<Given<usize>>,
    sep: Option<Given<String>>,
    on_max_depth: Option<Given<String>>,
    /// Every name met, valid value or not, to tell duplicates and values that could not be
    /// read from missing ones.
    seen: Vec<String>,
}

/// Errors gathered across the arguments, reported together.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }
}

/// Parses the attribute's arguments and checks them against the rules.
pub(crate) fn parse(args: TokenStream) -> syn::Result<Args> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated
        .parse2(args)
        .map_err(|error| {
            syn::Error::new(
                error.span(),
                format!(
                    "{error}: #[runtime_id] takes `name = value` arguments, like \
                     `#[runtime_id(length = 4, sep = \".\")]`"
                ),
            )
        })?;
    let mut parsed = Parsed::default();
    let mut errors = Errors::default();
    for meta in metas {
        if let Err(error) = parsed.take(meta) {
            errors.push(error);
        }
    }
    let args = parsed.check(&mut errors);
    errors.finish(args)
}

impl Parsed {
    fn take(&mut self, meta: Meta) -> syn::Result<()> {
        let name = match meta.path().get_ident() {
            Some(ident) => ident.to_string(),
            None => return Err(unknown_argument(&meta, &path_text(meta.path()))),
        };
        if expected_form(&name).is_empty() {
            return Err(unknown_argument(&meta, &name));
        }
        if self.seen.contains(&name) {
            return Err(syn::Error::new_spanned(
                &meta,
                format!("duplicate argument `{name}`: give each argument once"),
            ));
        }
        self.seen.push(name.clone());
        let Meta::NameValue(pair) = meta else {
            return Err(syn::Error::new_spanned(
                &meta,
                format!("`{name}` expects {}", expected_form(&name)),
            ));
        };
        match name.as_str() {
            "length" => self.length = Some(integer(&name, &pair)?),
            "max_depth" => self.max_depth = Some(integer(&name, &pair)?),
            "prefix" => self.prefix = Some(string(&name, &pair)?),
            "characters" => self.characters = Some(string(&name, &pair)?),
            "sep" => self.sep = Some(string(&name, &pair)?),
            "on_max_depth" => self.on_max_depth = Some(string(&name, &pair)?),
            "prefix_process_id" => self.prefix_process_id = Some(boolean(&name, &pair)?),
            _ => unreachable!("every known argument has an arm"),
        }
        Ok(())
    }

    /// Applies the rules in the builder's order, each violation on its argument.
    fn check(self, errors: &mut Errors) -> Args {
        if let Some(length) = &self.length {
            report(errors, length, rules::check_length(length.value));
        }
        if let Some(max_depth) = &self.max_depth {
            report(errors, max_depth, rules::check_max_depth(max_depth.value));
        }

        // The separator the pool and the prefix are checked against: the one given if it
        // is valid, the default if none is given, and none at all (no conflict can be
        // found) when the one given is invalid or could not be read.
        let sep = match &self.sep {
            Some(sep) => match rules::check_sep(&sep.value) {
                Ok(()) => Some(sep.value.as_str()),
                Err(violation) => {
                    errors.push(sep.error(violation));
                    None
                }
            },
            None if self.seen.iter().any(|name| name == "sep") => None,
            None => Some(rules::DEFAULT_SEP),
        };

        // Only a separator that was written can hold a digit: the default holds none.
        if let (Some(given), Some(sep)) = (&self.sep, sep) {
            let process_id = self.prefix_process_id.as_ref().is_some_and(|on| on.value);
            report(errors, given, rules::check_process_id_sep(sep, process_id));
        }

        match (&self.characters, &self.sep, sep) {
            (Some(characters), _, sep) => report(
                errors,
                characters,
                rules::check_characters(&characters.value, sep.unwrap_or("")),
            ),
            // A separator that shares a character with the default pool: only `sep` was
            // written, so it is the one to point at.
            (None, Some(given), Some(sep)) if !self.seen.iter().any(|n| n == "characters") => {
                if let Err(violation) = rules::check_characters(rules::DEFAULT_CHARACTERS, sep) {
                    errors.push(given.error(format_args!(
                        "the default `characters` \"{}\" {}: choose another `sep`, or give \
                         `characters`",
                        rules::DEFAULT_CHARACTERS,
                        violation.problem
                    )));
                }
            }
            _ => {}
        }

        if let Some(prefix) = &self.prefix {
            report(
                errors,
                prefix,
                rules::check_prefix(&prefix.value, sep.unwrap_or("")),
            );
        }

        let reuse = self.on_max_depth.as_ref().and_then(|word| {
            match rules::parse_on_max_depth(&word.value) {
                Ok(reuse) => Some(reuse),
                Err(violation) => {
                    errors.push(word.error(format_args!("{violation}, got {:?}", word.value)));
                    None
                }
            }
        });

        Args {
            length: self.length.map(|given| given.value),
            prefix: self.prefix.map(|given| given.value),
            prefix_process_id: self.prefix_process_id.map(|given| given.value),
            characters: self.characters.map(|given| given.value),
            max_depth: self.max_depth.map(|given| given.value),
            sep: self.sep.map(|given| given.value),
            reuse,
        }
    }
}

fn report<T>(errors: &mut Errors, given: &Given<T>, checked: Result<(), Violation>) {
    if let Err(violation) = checked {
        errors.push(given.error(violation));
    }
}

fn unknown_argument(meta: &Meta, name: &dyn Display) -> syn::Error {
    let known: Vec<String> = ARGUMENTS
        .iter()
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    syn::Error::new_spanned(
        meta,
        format!(
            "unknown argument `{name}`: expected one of {}",
            known.join(", ")
        ),
    )
}

fn path_text(path: &syn::Path) -> String {
    let segments: Vec<String> = path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    let lead = if path.leading_colon.is_some() {
        "::"
    } else {
        ""
    };
    format!("{lead}{}", segments.join("::"))
}

fn wrong_literal(name: &str, pair: &MetaNameValue) -> syn::Error {
    syn::Error::new_spanned(pair, format!("`{name}` expects {}", expected_form(name)))
}

/// The literal of `name = <literal>`, with no attributes on it.
fn literal<'a>(name: &str, pair: &'a MetaNameValue) -> syn::Result<&'a Lit> {
    match &pair.value {
        Expr::Lit(expr) if expr.attrs.is_empty() => Ok(&expr.lit),
        _ => Err(wrong_literal(name, pair)),
    }
}

fn integer(name: &str, pair: &MetaNameValue) -> syn::Result<Given<usize>> {
    // `-1` is an integer, just not one the rules allow: say so rather than call it the
    // wrong kind of literal.
    let (negative, lit) = match &pair.value {
        Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) && unary.attrs.is_empty() => {
            match &*unary.expr {
                Expr::Lit(expr) if expr.attrs.is_empty() => (true, &expr.lit),
                _ => return Err(wrong_literal(name, pair)),
            }
        }
        _ => (false, literal(name, pair)?),
    };
    let Lit::Int(int) = lit else {
        return Err(wrong_literal(name, pair));
    };
    let value = match int.base10_parse::<usize>() {
        Ok(value) if !negative || value == 0 => value,
        _ => {
            let (min, max) = if name == "length" {
                (rules::MIN_LENGTH, rules::MAX_LENGTH)
            } else {
                (rules::MIN_MAX_DEPTH, rules::MAX_MAX_DEPTH)
            };
            let sign = if negative { "-" } else { "" };
            return Err(syn::Error::new_spanned(
                pair,
                format!(
                    "`{name}` must be between {min} and {max}, got {sign}{}",
                    int.base10_digits()
                ),
            ));
        }
    };
    Ok(Given {
        value,
        tokens: pair.to_token_stream(),
    })
}

fn string(name: &str, pair: &MetaNameValue) -> syn::Result<Given<String>> {
    match literal(name, pair)? {
        Lit::Str(text) if text.suffix().is_empty() => Ok(Given {
            value: text.value(),
            tokens: pair.to_token_stream(),
        }),
        _ => Err(wrong_literal(name, pair)),
    }
}

fn boolean(name: &str, pair: &MetaNameValue) -> syn::Result<Given<bool>> {
    match literal(name, pair)? {
        Lit::Bool(on) => Ok(Given {
            value: on.value,
            tokens: pair.to_token_stream(),
        }),
        _ => Err(wrong_literal(name, pair)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn messages(args: TokenStream) -> Vec<String> {
        match parse(args) {
            Ok(args) => panic!("expected errors, got {args:?}"),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn no_arguments_is_the_default_config() {
        assert!(parse(quote!()).unwrap().is_empty());
    }

    #[test]
    fn every_argument_is_read() {
        let args = parse(quote!(
            length = 4,
            prefix = "API",
            prefix_process_id = true,
            characters = "abc:",
            max_depth = 5,
            sep = ".",
            on_max_depth = "reuse",
        ))
        .unwrap();
        assert_eq!(
            args,
            Args {
                length: Some(4),
                prefix: Some("API".into()),
                prefix_process_id: Some(true),
                characters: Some("abc:".into()),
                max_depth: Some(5),
                sep: Some(".".into()),
                reuse: Some(true),
            }
        );
        assert_eq!(
            parse(quote!(on_max_depth = "error")).unwrap().reuse,
            Some(false)
        );
    }

    #[test]
    fn values_get_the_rules_messages() {
        assert_eq!(
            messages(quote!(length = 0)),
            ["`length` must be between 1 and 64, got 0"]
        );
        assert_eq!(
            messages(quote!(max_depth = -2)),
            ["`max_depth` must be between 1 and 64, got -2"]
        );
        assert_eq!(
            messages(quote!(length = 100000000000000000000000)),
            ["`length` must be between 1 and 64, got 100000000000000000000000"]
        );
        assert_eq!(
            messages(quote!(on_max_depth = "Reuse")),
            ["`on_max_depth` must be one of \"error\", \"reuse\", got \"Reuse\""]
        );
    }

    #[test]
    fn every_mistake_is_reported_at_once() {
        let found = messages(quote!(length = 0, sep = "", lenght = 4, length = 5));
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].starts_with("unknown argument `lenght`"));
        assert!(found[1].starts_with("duplicate argument `length`"));
        assert!(found[2].starts_with("`length` must be between"));
        assert_eq!(found[3], "`sep` must not be empty");
    }

    #[test]
    fn pool_and_prefix_are_checked_against_the_separator() {
        assert!(parse(quote!(characters = "ab:", sep = ".")).is_ok());
        assert_eq!(
            messages(quote!(characters = "ab:")),
            ["`characters` must not share a character with the separator, ':' is in both"]
        );
        assert_eq!(
            messages(quote!(prefix = "a.b", sep = ".")),
            ["`prefix` must not share a character with the separator, '.' is in both"]
        );
        assert_eq!(
            messages(quote!(prefix = "x:", sep = "::")),
            ["`prefix` must not share a character with the separator, ':' is in both"]
        );
        assert!(parse(quote!(characters = "abc", sep = "1")).is_ok());
        let found = messages(quote!(
            prefix_process_id = true,
            characters = "abc",
            sep = "1"
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "`sep` must not contain a digit when `prefix_process_id` is on, '1' is one"
            ),
            "{found:?}"
        );
        let found = messages(quote!(sep = "a"));
        assert!(
            found[0].starts_with(
                "the default `characters` \"0123456789abcdefghijklmnopqrstuvwxyz\" must not \
                 share a character with the separator, 'a' is in both"
            ),
            "{found:?}"
        );
        // An unreadable separator is not compared with anything.
        let found = messages(quote!(characters = "ab:", sep = 1));
        assert_eq!(
            found,
            ["`sep` expects a string literal, like `sep = \".\"`"]
        );
    }

    #[test]
    fn wrong_forms_say_what_is_expected() {
        assert_eq!(
            messages(quote!(length = "4")),
            ["`length` expects an integer literal, like `length = 4`"]
        );
        assert_eq!(
            messages(quote!(prefix_process_id = 1)),
            ["`prefix_process_id` expects `true` or `false`"]
        );
        assert_eq!(
            messages(quote!(length = LENGTH)),
            ["`length` expects an integer literal, like `length = 4`"]
        );
        assert_eq!(
            messages(quote!(on_max_depth)),
            ["`on_max_depth` expects a string literal: \"error\" or \"reuse\""]
        );
        assert!(messages(quote!(a::b = 1))[0].starts_with("unknown argument `a::b`"));
        assert_eq!(
            messages(quote!(4)),
            [
                "expected identifier: #[runtime_id] takes `name = value` arguments, like \
              `#[runtime_id(length = 4, sep = \".\")]`"
            ]
        );
    }
}
