//! Parsing of `#[task(name = "...", version = "...", provides = ...)]` and
//! the same options of `#[retry(...)]`.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Expr, ExprLit, Lit, LitStr};

/// How the task's result is published, as written in `provides = ...`.
pub enum Provides {
    /// No `provides`.
    None,
    /// `provides = "name"`.
    Single(LitStr),
    /// `provides = ["a", "b"]`.
    Positional(Vec<LitStr>),
}

/// The options of a `#[task(...)]` or `#[retry(...)]` attribute.
pub struct Options {
    pub name: Option<LitStr>,
    pub version: Option<LitStr>,
    pub provides: Provides,
}

impl Options {
    /// Parses the tokens inside `#[task(...)]`, or inside the attribute
    /// named `attribute`.
    pub fn parse(attr: TokenStream, attribute: &str) -> syn::Result<Self> {
        let mut options = Options {
            name: None,
            version: None,
            provides: Provides::None,
        };
        let mut seen_provides = false;
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                set_once(&meta, &mut options.name, non_empty(meta.value()?.parse()?)?)
            } else if meta.path.is_ident("version") {
                set_once(
                    &meta,
                    &mut options.version,
                    non_empty(meta.value()?.parse()?)?,
                )
            } else if meta.path.is_ident("provides") {
                if seen_provides {
                    return Err(meta.error("`provides` is given more than once"));
                }
                seen_provides = true;
                options.provides = parse_provides(meta.value()?.parse()?)?;
                Ok(())
            } else {
                Err(meta.error(format!(
                    "unknown `{attribute}` option; expected `name`, `version` or `provides`"
                )))
            }
        });
        parser.parse2(attr)?;
        Ok(options)
    }
}

fn set_once(meta: &ParseNestedMeta, slot: &mut Option<LitStr>, value: LitStr) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error("option is given more than once"));
    }
    *slot = Some(value);
    Ok(())
}

fn non_empty(lit: LitStr) -> syn::Result<LitStr> {
    if lit.value().trim().is_empty() {
        Err(syn::Error::new(lit.span(), "must not be empty"))
    } else {
        Ok(lit)
    }
}

fn parse_provides(expr: Expr) -> syn::Result<Provides> {
    const EXPECTED: &str = "expected `provides = \"name\"` or `provides = [\"first\", \"second\"]`";
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(name),
            ..
        }) => Ok(Provides::Single(non_empty(name)?)),
        Expr::Array(array) => {
            if array.elems.is_empty() {
                return Err(syn::Error::new_spanned(
                    array,
                    "`provides = []` provides nothing; leave `provides` out instead",
                ));
            }
            let mut names: Vec<LitStr> = Vec::new();
            for elem in array.elems {
                let Expr::Lit(ExprLit {
                    lit: Lit::Str(name),
                    ..
                }) = elem
                else {
                    return Err(syn::Error::new_spanned(elem, EXPECTED));
                };
                let name = non_empty(name)?;
                if names.iter().any(|seen| seen.value() == name.value()) {
                    return Err(syn::Error::new(name.span(), "name is provided twice"));
                }
                names.push(name);
            }
            Ok(Provides::Positional(names))
        }
        other => Err(syn::Error::new_spanned(other, EXPECTED)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn error(attr: TokenStream) -> String {
        match Options::parse(attr, "task") {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_every_option() {
        let options = Options::parse(
            quote!(name = "n", version = "1.2.3", provides = ["a", "b"]),
            "task",
        )
        .expect("valid");
        assert_eq!(options.name.map(|l| l.value()).as_deref(), Some("n"));
        assert_eq!(options.version.map(|l| l.value()).as_deref(), Some("1.2.3"));
        let Provides::Positional(names) = options.provides else {
            panic!("positional expected");
        };
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn empty_attribute_means_defaults() {
        let options = Options::parse(quote!(), "retry").expect("valid");
        assert!(options.name.is_none() && options.version.is_none());
        assert!(matches!(options.provides, Provides::None));
    }

    #[test]
    fn rejects_bad_options() {
        assert!(error(quote!(provides = 3)).contains("expected `provides"));
        assert!(error(quote!(provides = [])).contains("provides nothing"));
        assert!(error(quote!(provides = ["a", "a"])).contains("twice"));
        assert!(error(quote!(provides = ["a", 1])).contains("expected `provides"));
        assert!(error(quote!(provides = "a", provides = "b")).contains("more than once"));
        assert!(error(quote!(name = "a", name = "b")).contains("more than once"));
        assert!(error(quote!(name = "")).contains("empty"));
        assert!(error(quote!(colour = "red")).contains("unknown `task` option"));
        let Err(retry) = Options::parse(quote!(colour = "red"), "retry") else {
            panic!("expected an error");
        };
        assert!(
            retry.to_string().contains("unknown `retry` option"),
            "{retry}"
        );
    }
}
