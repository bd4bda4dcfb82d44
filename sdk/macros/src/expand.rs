//! Expansion of `#[task]`.

use crate::options::{Options, Provides};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, ExprLit, FnArg, Ident, Item, ItemFn, ItemMod, Lit, LitStr, Meta, Pat,
    PatIdent, ReturnType, Signature, Type, Visibility, parse_quote,
};

/// Expands `#[task(attr)] item`. Errors become `compile_error!`s next to the
/// unchanged item, so that they are not buried under errors about the item
/// having vanished.
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    match try_task(attr, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => {
            let mut out = item;
            out.extend(error.to_compile_error());
            out
        }
    }
}

fn try_task(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = Options::parse(attr)?;
    match syn::parse2::<Item>(item)? {
        Item::Fn(function) => expand_fn(options, function),
        Item::Mod(module) => expand_mod(options, module),
        _ => Err(syn::Error::new(
            Span::call_site(),
            "`#[task]` goes on a function or on an inline module holding `fn execute`",
        )),
    }
}

/// A parameter of `execute` or `revert`.
struct Param {
    /// The parameter's name, which is the argument's name.
    name: String,
    ty: Type,
    /// Whether the type is written `Option<..>`.
    optional: bool,
}

/// `#[task] fn name(...)`: the function is execute; there is no revert.
fn expand_fn(options: Options, function: ItemFn) -> syn::Result<TokenStream> {
    let ident = &function.sig.ident;
    let task = Task {
        name: task_name(&options, ident),
        description: doc_comment(&function.attrs),
        execute: Entry::new(quote!(#ident), &function.sig)?,
        revert: None,
    };
    let guest = task.guest(&options)?;
    Ok(quote! {
        #function
        #guest
    })
}

/// `#[task] mod name { fn execute(...) fn revert(...) }`.
fn expand_mod(options: Options, mut module: ItemMod) -> syn::Result<TokenStream> {
    let mod_ident = module.ident.clone();
    let Some((_, items)) = &mut module.content else {
        return Err(syn::Error::new(
            mod_ident.span(),
            "`#[task]` needs an inline module: `mod name { ... }`",
        ));
    };
    let mut execute = None;
    let mut revert = None;
    for item in items.iter_mut() {
        let Item::Fn(function) = item else { continue };
        let slot = if function.sig.ident == "execute" {
            &mut execute
        } else if function.sig.ident == "revert" {
            &mut revert
        } else {
            continue;
        };
        // The generated impl lives next to the module and calls into it.
        if matches!(function.vis, Visibility::Inherited) {
            function.vis = parse_quote!(pub(super));
        }
        let fn_ident = &function.sig.ident;
        *slot = Some(Entry::new(quote!(#mod_ident::#fn_ident), &function.sig)?);
    }
    let Some(execute) = execute else {
        return Err(syn::Error::new(
            mod_ident.span(),
            format!("task module `{mod_ident}` has no `fn execute(...)`; define it in the module"),
        ));
    };
    let task = Task {
        name: task_name(&options, &mod_ident),
        description: doc_comment(&module.attrs),
        execute,
        revert,
    };
    let guest = task.guest(&options)?;
    Ok(quote! {
        #module
        #guest
    })
}

/// A function the generated code calls: execute or revert.
struct Entry {
    /// Path of the function from where the generated code sits.
    path: TokenStream,
    params: Vec<Param>,
    output: ReturnType,
}

impl Entry {
    fn new(path: TokenStream, sig: &Signature) -> syn::Result<Self> {
        let unsupported = if sig.asyncness.is_some() {
            Some((sig.asyncness.span(), "`async`"))
        } else if sig.unsafety.is_some() {
            Some((sig.unsafety.span(), "`unsafe`"))
        } else if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            Some((sig.generics.span(), "generic"))
        } else if sig.variadic.is_some() {
            Some((sig.variadic.span(), "variadic"))
        } else {
            None
        };
        if let Some((span, what)) = unsupported {
            return Err(syn::Error::new(
                span,
                format!("a task function cannot be {what}"),
            ));
        }
        let params = sig.inputs.iter().map(param).collect::<syn::Result<_>>()?;
        Ok(Self {
            path,
            params,
            output: sig.output.clone(),
        })
    }

    /// `path(arg, ...)` with each argument from `special` or else decoded
    /// from the call's arguments by name.
    fn call(
        &self,
        special: impl Fn(&Param) -> syn::Result<Option<TokenStream>>,
    ) -> syn::Result<TokenStream> {
        let args_ident = Ident::new("__args", Span::call_site());
        let mut args = Vec::with_capacity(self.params.len());
        for param in &self.params {
            let arg = match special(param)? {
                Some(arg) => arg,
                None => {
                    let name = &param.name;
                    let method = if param.optional {
                        quote!(optional)
                    } else {
                        quote!(required)
                    };
                    quote_spanned!(param.ty.span()=> #args_ident.#method(#name)?)
                }
            };
            args.push(arg);
        }
        let path = &self.path;
        Ok(quote!(#path(#(#args),*)))
    }

    /// Whether the return type is written `...Result<..>`.
    fn returns_result(&self) -> bool {
        match &self.output {
            ReturnType::Type(_, ty) => last_segment_is(ty, "Result"),
            ReturnType::Default => false,
        }
    }

    fn output_span(&self) -> Span {
        match &self.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => Span::call_site(),
        }
    }
}

fn param(arg: &FnArg) -> syn::Result<Param> {
    let typed = match arg {
        FnArg::Receiver(receiver) => {
            return Err(syn::Error::new_spanned(
                receiver,
                "a task function takes no `self`",
            ));
        }
        FnArg::Typed(typed) => typed,
    };
    let Pat::Ident(PatIdent {
        ident,
        by_ref: None,
        subpat: None,
        ..
    }) = &*typed.pat
    else {
        return Err(syn::Error::new_spanned(
            &typed.pat,
            "task parameters must be plain names: each name is an argument name",
        ));
    };
    Ok(Param {
        name: ident.unraw().to_string(),
        ty: (*typed.ty).clone(),
        optional: last_segment_is(&typed.ty, "Option"),
    })
}

/// Whether `ty` is a path whose last segment is `name<...>`.
fn last_segment_is(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Group(group) => last_segment_is(&group.elem, name),
        Type::Paren(paren) => last_segment_is(&paren.elem, name),
        Type::Path(path) if path.qself.is_none() => path.path.segments.last().is_some_and(|last| {
            last.ident == name && matches!(last.arguments, syn::PathArguments::AngleBracketed(_))
        }),
        _ => false,
    }
}

/// The item's name with `_` replaced by `-`, unless `name = "..."` is given.
fn task_name(options: &Options, ident: &Ident) -> LitStr {
    options
        .name
        .clone()
        .unwrap_or_else(|| LitStr::new(&ident.unraw().to_string().replace('_', "-"), ident.span()))
}

/// The item's doc comment: its `#[doc = "..."]` lines, each without the one
/// space `///` leaves, joined and trimmed.
fn doc_comment(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("doc")) {
        if let Meta::NameValue(pair) = &attr.meta
            && let Expr::Lit(ExprLit {
                lit: Lit::Str(text),
                ..
            }) = &pair.value
        {
            let text = text.value();
            lines.extend(text.split('\n').map(|line| {
                let line = line.strip_prefix(' ').unwrap_or(line);
                line.trim_end().to_owned()
            }));
        }
    }
    lines.join("\n").trim().to_owned()
}

/// Everything the generated `Guest` impl needs.
struct Task {
    name: LitStr,
    description: String,
    execute: Entry,
    revert: Option<Entry>,
}

impl Task {
    /// The unit struct implementing the bindings' `Guest` trait, and the
    /// `export!` that makes it the component's export.
    fn guest(&self, options: &Options) -> syn::Result<TokenStream> {
        let describe = self.describe(options);
        let execute = self.execute()?;
        let revert = self.revert()?;
        Ok(quote! {
            /// The component's export; one `#[task]` per crate.
            #[doc(hidden)]
            #[allow(dead_code)]
            struct __TaskboxTask;

            impl ::taskbox_sdk::__private::bindings::Guest for __TaskboxTask {
                #describe
                #execute
                #revert
            }

            #[cfg(target_arch = "wasm32")]
            ::taskbox_sdk::__private::bindings::export!(
                __TaskboxTask with_types_in ::taskbox_sdk::__private::bindings
            );
        })
    }

    fn describe(&self, options: &Options) -> TokenStream {
        let name = &self.name;
        let version = match &options.version {
            Some(version) => quote!(#version),
            None => quote!(::core::env!("CARGO_PKG_VERSION")),
        };
        let description = &self.description;
        let (optional, requires): (Vec<&Param>, Vec<&Param>) =
            self.execute.params.iter().partition(|param| param.optional);
        let requires = requires.iter().map(|param| &param.name);
        let optional = optional.iter().map(|param| &param.name);
        let provides = match &options.provides {
            Provides::None => quote!(::taskbox_sdk::__private::Provides::None),
            Provides::Single(name) => quote!(::taskbox_sdk::__private::provides_single(#name)),
            Provides::Positional(names) => {
                quote!(::taskbox_sdk::__private::provides_positional(&[#(#names),*]))
            }
        };
        quote! {
            fn describe() -> ::taskbox_sdk::__private::bindings::TaskInfo {
                ::taskbox_sdk::__private::task_info(
                    #name,
                    #version,
                    #description,
                    &[#(#requires),*],
                    &[#(#optional),*],
                    #provides,
                )
            }
        }
    }

    fn execute(&self) -> syn::Result<TokenStream> {
        let execute = &self.execute;
        let call = execute.call(|_| Ok(None))?;
        let body = if execute.returns_result() {
            quote_spanned!(execute.output_span()=> ::taskbox_sdk::__private::into_failure(#call))
        } else {
            quote!(::core::result::Result::Ok(#call))
        };
        Ok(quote! {
            fn execute(
                args: ::std::string::String,
            ) -> ::core::result::Result<
                ::std::string::String,
                ::taskbox_sdk::__private::bindings::Failure,
            > {
                ::taskbox_sdk::__private::execute(&args, |__args| #body)
            }
        })
    }

    fn revert(&self) -> syn::Result<TokenStream> {
        let signature = quote! {
            fn revert(
                args: ::std::string::String,
                result: ::core::option::Option<::std::string::String>,
                flow_failures: ::std::vec::Vec<::taskbox_sdk::__private::bindings::AtomFailure>,
            ) -> ::core::result::Result<(), ::taskbox_sdk::__private::bindings::Failure>
        };
        let Some(revert) = &self.revert else {
            return Ok(quote! {
                #signature {
                    let _ = (args, result, flow_failures);
                    ::core::result::Result::Ok(())
                }
            });
        };
        let call = revert.call(|param| self.revert_special(param))?;
        let body = if revert.returns_result() {
            quote_spanned!(revert.output_span()=> ::taskbox_sdk::__private::into_failure(#call))
        } else {
            let unit = quote_spanned!(revert.output_span()=> let () = #call;);
            quote!({
                #unit
                ::core::result::Result::Ok(())
            })
        };
        Ok(quote! {
            #signature {
                ::taskbox_sdk::__private::revert(
                    &args,
                    result,
                    flow_failures,
                    |__args, __result, __flow_failures| #body,
                )
            }
        })
    }

    /// The value of revert's `result` and `flow_failures` parameters; `None`
    /// for an argument, which must be one of execute's.
    fn revert_special(&self, param: &Param) -> syn::Result<Option<TokenStream>> {
        let span = param.ty.span();
        // Call-site hygiene, like the closure parameters they name.
        let result = Ident::new("__result", Span::call_site());
        let flow_failures = Ident::new("__flow_failures", Span::call_site());
        match param.name.as_str() {
            "result" if !param.optional => Err(syn::Error::new(
                span,
                "revert's `result` is an `Option<T>` of execute's result type: \
                 `None` when execute failed or never returned",
            )),
            "result" => Ok(Some(quote_spanned!(span=>
                ::taskbox_sdk::__private::previous_result(#result)?
            ))),
            "flow_failures" => Ok(Some(quote_spanned!(span=> #flow_failures))),
            name if self.execute.params.iter().all(|param| param.name != name) => {
                Err(syn::Error::new(
                    span,
                    format!(
                        "revert parameter `{name}` is not a parameter of execute; revert takes \
                         execute's arguments, `result` and `flow_failures`"
                    ),
                ))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<String> {
        try_task(attr, item).map(|tokens| tokens.to_string())
    }

    /// Asserts that the expansion `out` holds every one of `parts`.
    fn assert_contains(out: &str, parts: &[&str]) {
        for part in parts {
            assert!(out.contains(part), "no {part:?} in {out}");
        }
    }

    fn error(attr: TokenStream, item: TokenStream) -> String {
        match try_task(attr, item) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn function_form_describes_the_task() {
        let out = expand(
            quote!(provides = "sum"),
            quote! {
                /// Adds two numbers.
                ///
                /// Carefully.
                fn add_numbers(x: i64, y: Option<i64>) -> Result<i64, Failure> { Ok(x) }
            },
        )
        .expect("valid");
        assert_contains(
            &out,
            &[
                "\"add-numbers\"",
                "\"Adds two numbers.\\n\\nCarefully.\"",
                "& [\"x\"] , & [\"y\"]",
                "provides_single (\"sum\")",
                "CARGO_PKG_VERSION",
                "into_failure (add_numbers (",
            ],
        );
    }

    #[test]
    fn options_override_name_and_version() {
        let out = expand(
            quote!(name = "custom", version = "9.9.9", provides = ["a", "b"]),
            quote! { fn add(x: i64) -> i64 { x } },
        )
        .expect("valid");
        assert_contains(
            &out,
            &[
                "\"custom\"",
                "\"9.9.9\"",
                "provides_positional (& [\"a\" , \"b\"])",
                ":: Ok (add (",
            ],
        );
        assert!(!out.contains("CARGO_PKG_VERSION"), "{out}");
    }

    #[test]
    fn module_form_finds_execute_and_revert() {
        let out = expand(
            quote!(),
            quote! {
                mod reserve_stock {
                    fn execute(sku: String) -> u32 { 1 }
                    pub fn revert(sku: String, result: Option<u32>, flow_failures: Vec<AtomFailure>) {}
                }
            },
        )
        .expect("valid");
        assert_contains(
            &out,
            &[
                "pub (super) fn execute",
                "reserve_stock :: execute (",
                "reserve_stock :: revert (",
                "previous_result (__result)",
                "Provides :: None",
            ],
        );
    }

    #[test]
    fn misuse_is_a_compile_error() {
        let cases = [
            (quote! { mod empty { fn revert() {} } }, "no `fn execute"),
            (quote! { mod elsewhere; }, "inline module"),
            (quote! { struct S; }, "goes on a function"),
            (quote! { fn f<T>(x: T) {} }, "generic"),
            (quote! { async fn f() {} }, "async"),
            (quote! { fn f((a, b): (i64, i64)) {} }, "plain names"),
            (
                quote! { mod m { fn execute() {} fn revert(result: u32) {} } },
                "`Option<T>`",
            ),
            (
                quote! { mod m { fn execute(a: u8) {} fn revert(b: u8) {} } },
                "`b` is not a parameter of execute",
            ),
        ];
        for (item, expected) in cases {
            let message = error(quote!(), item.clone());
            assert!(message.contains(expected), "{item}: {message}");
        }
    }

    #[test]
    fn errors_keep_the_item() {
        let out = task(quote!(provides = 1), quote! { fn add() {} }).to_string();
        assert_contains(&out, &["fn add", "compile_error"]);
    }

    #[test]
    fn raw_identifiers_lose_their_prefix() {
        let out = expand(quote!(), quote! { fn r#type(r#match: u8) {} }).expect("valid");
        assert_contains(&out, &["\"type\"", "& [\"match\"]"]);
    }
}
