//! Expansion of `#[task]` and `#[retry]`.
//!
//! Both attributes turn their item into a unit struct implementing the
//! `Guest` trait of their world's bindings: a task's `describe`, `execute`
//! and `revert`, or a retry controller's `describe`, `execute`, `revert` and
//! `on_failure`. They share everything but the list of functions, the
//! parameters with a special meaning (revert's `result` and `flow_failures`,
//! a retry function's `history`) and the runtime function each export calls.

use crate::options::{Options, Provides};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, ExprLit, FnArg, Ident, Item, ItemFn, ItemMod, Lit, LitStr, Meta, Pat,
    PatIdent, ReturnType, Signature, Type, Visibility, parse_quote,
};

/// Which attribute is being expanded: what kind of component it makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `#[task]`: the `taskbox:plugin/task` world.
    Task,
    /// `#[retry]`: the `taskbox:plugin/retry` world.
    Retry,
}

impl Kind {
    /// The attribute's name.
    fn attribute(self) -> &'static str {
        match self {
            Kind::Task => "task",
            Kind::Retry => "retry",
        }
    }

    /// The bindings of the component's world.
    fn bindings(self) -> TokenStream {
        match self {
            Kind::Task => quote!(::taskbox_sdk::__private::bindings),
            Kind::Retry => quote!(::taskbox_sdk::__private::retry_bindings),
        }
    }

    /// The functions of a component of this kind: the `Guest` methods
    /// besides `describe`.
    fn functions(self) -> &'static [Function] {
        match self {
            Kind::Task => &[Function::Execute, Function::Revert],
            Kind::Retry => &[Function::Execute, Function::OnFailure, Function::Revert],
        }
    }
}

/// A function of a task or retry module, and the export that calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Execute,
    Revert,
    OnFailure,
}

impl Function {
    /// The Rust name of the function and of the `Guest` method.
    fn name(self) -> &'static str {
        match self {
            Function::Execute => "execute",
            Function::Revert => "revert",
            Function::OnFailure => "on_failure",
        }
    }
}

/// Expands `#[task(attr)] item`.
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Task, attr, item)
}

/// Expands `#[retry(attr)] item`.
pub fn retry(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Retry, attr, item)
}

/// Expands the attribute of `kind`. Errors become `compile_error!`s next to
/// the unchanged item, so that they are not buried under errors about the
/// item having vanished.
fn expand(kind: Kind, attr: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(kind, attr, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => {
            let mut out = item;
            out.extend(error.to_compile_error());
            out
        }
    }
}

fn try_expand(kind: Kind, attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = Options::parse(attr, kind.attribute())?;
    match (syn::parse2::<Item>(item)?, kind) {
        (Item::Fn(function), Kind::Task) => expand_fn(options, function),
        (Item::Mod(module), _) => expand_mod(kind, options, module),
        (_, Kind::Task) => Err(syn::Error::new(
            Span::call_site(),
            "`#[task]` goes on a function or on an inline module holding `fn execute`",
        )),
        (_, Kind::Retry) => Err(syn::Error::new(
            Span::call_site(),
            "`#[retry]` goes on an inline module holding `fn execute` and `fn on_failure`",
        )),
    }
}

/// A parameter of a task or retry function.
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
    let component = Component {
        kind: Kind::Task,
        name: component_name(&options, ident),
        description: doc_comment(&function.attrs),
        execute: Entry::new(Kind::Task, quote!(#ident), &function.sig)?,
        revert: None,
        on_failure: None,
    };
    let guest = component.guest(&options)?;
    Ok(quote! {
        #function
        #guest
    })
}

/// `#[task] mod name { fn execute(...) fn revert(...) }`, or
/// `#[retry] mod name { fn execute(...) fn on_failure(...) fn revert(...) }`.
fn expand_mod(kind: Kind, options: Options, mut module: ItemMod) -> syn::Result<TokenStream> {
    let mod_ident = module.ident.clone();
    let attribute = kind.attribute();
    let Some((_, items)) = &mut module.content else {
        return Err(syn::Error::new(
            mod_ident.span(),
            format!("`#[{attribute}]` needs an inline module: `mod name {{ ... }}`"),
        ));
    };
    let (mut execute, mut revert, mut on_failure) = (None, None, None);
    for item in items.iter_mut() {
        let Item::Fn(function) = item else { continue };
        let slot = match function.sig.ident.to_string().as_str() {
            "execute" => &mut execute,
            "revert" => &mut revert,
            "on_failure" if kind == Kind::Retry => &mut on_failure,
            _ => continue,
        };
        // The generated impl lives next to the module and calls into it.
        if matches!(function.vis, Visibility::Inherited) {
            function.vis = parse_quote!(pub(super));
        }
        let fn_ident = &function.sig.ident;
        *slot = Some(Entry::new(
            kind,
            quote!(#mod_ident::#fn_ident),
            &function.sig,
        )?);
    }
    let missing = |name: &str| {
        syn::Error::new(
            mod_ident.span(),
            format!(
                "{attribute} module `{mod_ident}` has no `fn {name}(...)`; define it in the module"
            ),
        )
    };
    let Some(execute) = execute else {
        return Err(missing("execute"));
    };
    if kind == Kind::Retry && on_failure.is_none() {
        return Err(missing("on_failure"));
    }
    let component = Component {
        kind,
        name: component_name(&options, &mod_ident),
        description: doc_comment(&module.attrs),
        execute,
        revert,
        on_failure,
    };
    let guest = component.guest(&options)?;
    Ok(quote! {
        #module
        #guest
    })
}

/// A function the generated code calls: execute, revert or on_failure.
struct Entry {
    /// Path of the function from where the generated code sits.
    path: TokenStream,
    params: Vec<Param>,
    output: ReturnType,
}

impl Entry {
    fn new(kind: Kind, path: TokenStream, sig: &Signature) -> syn::Result<Self> {
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
                format!("a {} function cannot be {what}", kind.attribute()),
            ));
        }
        let params = sig
            .inputs
            .iter()
            .map(|arg| param(kind, arg))
            .collect::<syn::Result<_>>()?;
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
        let args_ident = closure_ident("args");
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

fn param(kind: Kind, arg: &FnArg) -> syn::Result<Param> {
    let typed = match arg {
        FnArg::Receiver(receiver) => {
            return Err(syn::Error::new_spanned(
                receiver,
                format!("a {} function takes no `self`", kind.attribute()),
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
            format!(
                "{} parameters must be plain names: each name is an argument name",
                kind.attribute()
            ),
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
fn component_name(options: &Options, ident: &Ident) -> LitStr {
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

/// `__name`: a parameter of the closures the generated code hands to the
/// runtime. Call-site hygiene, so that the argument expressions built
/// elsewhere can name them.
fn closure_ident(name: &str) -> Ident {
    Ident::new(&format!("__{name}"), Span::call_site())
}

/// How an export crosses into the runtime: its wire parameters, what it
/// passes to the runtime function, and the parameters of the closure the
/// runtime calls back with decoded values.
struct Wire {
    params: TokenStream,
    args: TokenStream,
    closure: TokenStream,
}

/// Everything the generated `Guest` impl needs.
struct Component {
    kind: Kind,
    name: LitStr,
    description: String,
    execute: Entry,
    revert: Option<Entry>,
    /// A retry's on_failure; `None` for a task.
    on_failure: Option<Entry>,
}

impl Component {
    /// The unit struct implementing the bindings' `Guest` trait, and the
    /// `export!` that makes it the component's export.
    fn guest(&self, options: &Options) -> syn::Result<TokenStream> {
        let bindings = self.kind.bindings();
        // One name for both kinds, so that a `#[task]` and a `#[retry]`
        // side by side clash at once rather than at link time.
        let ident = Ident::new("__TaskboxComponent", Span::call_site());
        let describe = self.describe(options);
        let mut exports = Vec::new();
        let mut methods = vec![Ident::new("describe", Span::call_site())];
        for &function in self.kind.functions() {
            exports.push(self.export(function)?);
            methods.push(Ident::new(function.name(), Span::call_site()));
        }
        Ok(quote! {
            /// The component's export; one `#[task]` or `#[retry]` per crate.
            #[doc(hidden)]
            #[allow(dead_code)]
            struct #ident;

            impl #bindings::Guest for #ident {
                #describe
                #(#exports)*
            }

            #[cfg(target_arch = "wasm32")]
            #bindings::export!(#ident with_types_in #bindings);

            // Outside a component nothing exports the struct; naming its
            // methods keeps the functions they call from being dead code
            // in a native build.
            const _: () = {
                #(let _ = <#ident as #bindings::Guest>::#methods;)*
            };
        })
    }

    fn describe(&self, options: &Options) -> TokenStream {
        let bindings = self.kind.bindings();
        let name = &self.name;
        let version = match &options.version {
            Some(version) => quote!(#version),
            None => quote!(::core::env!("CARGO_PKG_VERSION")),
        };
        let description = &self.description;
        let (optional, requires): (Vec<&Param>, Vec<&Param>) =
            self.arguments().partition(|param| param.optional);
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
            fn describe() -> #bindings::TaskInfo {
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

    /// Execute's parameters that are arguments: all of them but a retry's
    /// `history`.
    fn arguments(&self) -> impl Iterator<Item = &Param> {
        self.execute
            .params
            .iter()
            .filter(|param| !(self.kind == Kind::Retry && param.name == "history"))
    }

    /// The wire side of `function`'s export.
    fn wire(&self, function: Function) -> Wire {
        let [args, result, flow_failures, history] =
            ["args", "result", "flow_failures", "history"].map(closure_ident);
        let bindings = self.kind.bindings();
        let string = quote!(::std::string::String);
        match (self.kind, function) {
            (Kind::Task, Function::Execute) => Wire {
                params: quote!(args: #string),
                args: quote!(&args),
                closure: quote!(#args),
            },
            (Kind::Task, _) => Wire {
                params: quote! {
                    args: #string,
                    result: ::core::option::Option<#string>,
                    flow_failures: ::std::vec::Vec<#bindings::AtomFailure>,
                },
                args: quote!(&args, result, flow_failures),
                closure: quote!(#args, #result, #flow_failures),
            },
            (Kind::Retry, _) => Wire {
                params: quote!(history: #bindings::History, args: #string),
                args: quote!(history, &args),
                closure: quote!(#history, #args),
            },
        }
    }

    /// The `Guest` method that calls `function`.
    fn export(&self, function: Function) -> syn::Result<TokenStream> {
        let bindings = self.kind.bindings();
        let Wire {
            params,
            args,
            closure,
        } = self.wire(function);
        let (entry, output) = match function {
            Function::Execute => (
                Some(&self.execute),
                quote!(::core::result::Result<::std::string::String, #bindings::Failure>),
            ),
            Function::Revert => (
                self.revert.as_ref(),
                quote!(::core::result::Result<(), #bindings::Failure>),
            ),
            Function::OnFailure => (self.on_failure.as_ref(), quote!(#bindings::Decision)),
        };
        let method = Ident::new(function.name(), Span::call_site());
        let Some(entry) = entry else {
            // Only revert is optional: reverting does nothing.
            return Ok(quote! {
                fn #method(#params) -> #output {
                    let _ = (#args);
                    ::core::result::Result::Ok(())
                }
            });
        };
        let call = entry.call(|param| self.special(function, param))?;
        let span = entry.output_span();
        let body = match function {
            Function::Execute if entry.returns_result() => {
                quote_spanned!(span=> ::taskbox_sdk::__private::into_failure(#call))
            }
            Function::Execute => quote!(::core::result::Result::Ok(#call)),
            Function::OnFailure => quote_spanned!(span=> ::core::result::Result::Ok(#call)),
            Function::Revert if entry.returns_result() => {
                quote_spanned!(span=> ::taskbox_sdk::__private::into_failure(#call))
            }
            Function::Revert => {
                let unit = quote_spanned!(span=> let () = #call;);
                quote!({
                    #unit
                    ::core::result::Result::Ok(())
                })
            }
        };
        let runtime = match (self.kind, function) {
            (Kind::Task, Function::Execute) => quote!(execute),
            (Kind::Task, _) => quote!(revert),
            (Kind::Retry, Function::Execute) => quote!(retry_execute),
            (Kind::Retry, Function::Revert) => quote!(retry_call),
            (Kind::Retry, Function::OnFailure) => quote!(retry_on_failure),
        };
        Ok(quote! {
            fn #method(#params) -> #output {
                ::taskbox_sdk::__private::#runtime(#args, |#closure| #body)
            }
        })
    }

    /// The value of a parameter of `function` that is not decoded from the
    /// arguments: a retry function's `history`, revert's `result` and
    /// `flow_failures`. `None` for an argument, which must be one of
    /// execute's.
    fn special(&self, function: Function, param: &Param) -> syn::Result<Option<TokenStream>> {
        let span = param.ty.span();
        match (self.kind, function, param.name.as_str()) {
            (Kind::Retry, _, "history") => {
                // Located at the parameter, so that a type mismatch points
                // there.
                let mut history = closure_ident("history");
                history.set_span(history.span().located_at(span));
                Ok(Some(if matches!(param.ty, Type::Reference(_)) {
                    quote_spanned!(span=> &#history)
                } else {
                    quote_spanned!(span=> #history)
                }))
            }
            (_, Function::Execute, _) => Ok(None),
            (Kind::Task, Function::Revert, "result") if !param.optional => Err(syn::Error::new(
                span,
                "revert's `result` is an `Option<T>` of execute's result type: \
                 `None` when execute failed or never returned",
            )),
            (Kind::Task, Function::Revert, "result") => {
                let result = closure_ident("result");
                Ok(Some(quote_spanned!(span=>
                    ::taskbox_sdk::__private::previous_result(#result)?
                )))
            }
            (Kind::Task, Function::Revert, "flow_failures") => {
                let flow_failures = closure_ident("flow_failures");
                Ok(Some(quote_spanned!(span=> #flow_failures)))
            }
            (_, _, name) if self.arguments().all(|param| param.name != name) => {
                let function = function.name();
                let others = match self.kind {
                    Kind::Task => "`result` and `flow_failures`",
                    Kind::Retry => "`history`",
                };
                Err(syn::Error::new(
                    span,
                    format!(
                        "{function} parameter `{name}` is not a parameter of execute; \
                         {function} takes execute's arguments and {others}"
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
        expand_kind(Kind::Task, attr, item)
    }

    fn expand_kind(kind: Kind, attr: TokenStream, item: TokenStream) -> syn::Result<String> {
        try_expand(kind, attr, item).map(|tokens| tokens.to_string())
    }

    /// Asserts that the expansion `out` holds every one of `parts`.
    fn assert_contains(out: &str, parts: &[&str]) {
        for part in parts {
            assert!(out.contains(part), "no {part:?} in {out}");
        }
    }

    fn error(attr: TokenStream, item: TokenStream) -> String {
        error_kind(Kind::Task, attr, item)
    }

    fn error_kind(kind: Kind, attr: TokenStream, item: TokenStream) -> String {
        match try_expand(kind, attr, item) {
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

    #[test]
    fn retry_module_finds_all_three_functions() {
        let out = expand_kind(
            Kind::Retry,
            quote!(provides = "attempt"),
            quote! {
                /// Retries a little.
                mod patient {
                    fn execute(history: &History, budget: Option<u32>, mode: String) -> u32 { 1 }
                    pub fn on_failure(budget: Option<u32>, history: &History) -> Decision {
                        Decision::Retry
                    }
                    fn revert(history: History, mode: String) -> Result<(), Failure> { Ok(()) }
                }
            },
        )
        .expect("valid");
        assert_contains(
            &out,
            &[
                "\"patient\"",
                "\"Retries a little.\"",
                "& [\"mode\"] , & [\"budget\"]",
                "provides_single (\"attempt\")",
                "impl :: taskbox_sdk :: __private :: retry_bindings :: Guest for __TaskboxComponent",
                "retry_execute (history , & args , | __history , __args |",
                "patient :: execute (& __history , __args . optional (\"budget\") ?",
                "retry_on_failure (history , & args",
                "Ok (patient :: on_failure (__args . optional (\"budget\") ? , & __history))",
                "into_failure (patient :: revert (__history , __args . required (\"mode\") ?",
                "retry_bindings :: export ! (__TaskboxComponent with_types_in",
            ],
        );
    }

    #[test]
    fn retry_without_revert_reverts_doing_nothing() {
        let out = expand_kind(
            Kind::Retry,
            quote!(),
            quote! {
                mod once {
                    fn execute() {}
                    fn on_failure() -> Decision { Decision::Revert }
                }
            },
        )
        .expect("valid");
        assert_contains(&out, &["let _ = (history , & args)", "& [] , & []"]);
    }

    #[test]
    fn history_is_an_argument_of_tasks() {
        let out = expand(quote!(), quote! { fn f(history: u32) {} }).expect("valid");
        assert_contains(&out, &["& [\"history\"] , & []"]);
    }

    #[test]
    fn retry_misuse_is_a_compile_error() {
        let cases = [
            (
                quote! { fn retry(history: &History) -> u32 { 1 } },
                "inline module holding `fn execute` and `fn on_failure`",
            ),
            (
                quote! { mod m { fn on_failure() -> Decision { Decision::Retry } } },
                "retry module `m` has no `fn execute",
            ),
            (
                quote! { mod m { fn execute() {} } },
                "retry module `m` has no `fn on_failure",
            ),
            (
                quote! { mod m { fn execute() {} fn on_failure(budget: u32) -> Decision {} } },
                "on_failure parameter `budget` is not a parameter of execute",
            ),
            (
                quote! { mod m { fn execute() {} fn on_failure() {} fn revert(result: Option<u8>) {} } },
                "revert parameter `result` is not a parameter of execute; revert takes \
                 execute's arguments and `history`",
            ),
            (
                quote! { mod m { async fn execute() {} fn on_failure() {} } },
                "a retry function cannot be `async`",
            ),
        ];
        for (item, expected) in cases {
            let message = error_kind(Kind::Retry, quote!(), item.clone());
            assert!(message.contains(expected), "{item}: {message}");
        }
        let out = retry(quote!(colour = "red"), quote! { mod m {} }).to_string();
        assert_contains(&out, &["mod m", "compile_error", "unknown `retry` option"]);
    }
}
