//! Procedural macros of the taskbox Rust SDK.
//!
//! Use them through `taskbox-sdk`, which re-exports them
//! (`taskbox_sdk::task`, `taskbox_sdk::retry`) and documents them. The
//! generated code refers to the SDK only through `::taskbox_sdk::__private`,
//! so a task or retry crate depends on `taskbox-sdk` alone.

mod expand;
mod options;

use proc_macro::TokenStream;

/// Turns a function or an inline module into the task a component exports.
///
/// See `taskbox_sdk::task` for the documentation.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::task(attr.into(), item.into()).into()
}

/// Turns an inline module into the retry controller a component exports.
///
/// See `taskbox_sdk::retry` for the documentation.
#[proc_macro_attribute]
pub fn retry(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::retry(attr.into(), item.into()).into()
}
