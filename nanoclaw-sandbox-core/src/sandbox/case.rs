//! The one rule for proxy variables set in both cases.
//!
//! `http_proxy` and `HTTP_PROXY` are both in use; tools disagree on which
//! wins. curl, wget and Python's urllib take the lowercase one (curl ignores
//! uppercase `HTTP_PROXY` entirely, against "httpoxy"); Go takes the
//! uppercase one. We take the **lowercase** one, like the majority, and say so
//! whenever the two differ. Detection and the patcher both use this rule.
//! The spellings themselves are [`ProxyVar`]'s.

use crate::proxy::ProxyVar;

/// `NO_PROXY`, under the name `sandbox::build` uses for it.
pub(crate) const NO_PROXY: ProxyVar = ProxyVar::NO_PROXY;

/// What a pair's two spellings amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Picked {
    /// The value used and the spelling it came from.
    pub value: String,
    pub from: &'static str,
    /// Set when both spellings were set to different values: the ignored one.
    pub ignored: Option<Ignored>,
}

/// The spelling that lost, with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ignored {
    pub name: &'static str,
    pub value: String,
}

impl ProxyVar {
    /// Applies the rule. An empty value counts as unset, as in curl.
    pub(crate) fn pick(&self, get: impl Fn(&str) -> Option<String>) -> Option<Picked> {
        let read = |name| get(name).filter(|v| !v.is_empty());
        match (read(self.lower), read(self.upper)) {
            (None, None) => None,
            (Some(value), None) => Some(Picked {
                value,
                from: self.lower,
                ignored: None,
            }),
            (None, Some(value)) => Some(Picked {
                value,
                from: self.upper,
                ignored: None,
            }),
            (Some(lower), Some(upper)) => Some(Picked {
                ignored: (lower != upper).then_some(Ignored {
                    name: self.upper,
                    value: upper,
                }),
                value: lower,
                from: self.lower,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn lowercase_wins_and_the_loser_is_named() {
        let picked = ProxyVar::HTTPS_PROXY
            .pick(env(&[
                ("https_proxy", "http://a:1"),
                ("HTTPS_PROXY", "http://b:2"),
            ]))
            .unwrap();
        assert_eq!(picked.value, "http://a:1");
        assert_eq!(picked.from, "https_proxy");
        assert_eq!(
            picked.ignored,
            Some(Ignored {
                name: "HTTPS_PROXY",
                value: "http://b:2".into()
            })
        );
    }

    #[test]
    fn one_spelling_or_equal_values_are_not_a_conflict() {
        let upper_only = ProxyVar::HTTP_PROXY
            .pick(env(&[("HTTP_PROXY", "http://b:2")]))
            .unwrap();
        assert_eq!((upper_only.from, upper_only.ignored), ("HTTP_PROXY", None));
        let same = ProxyVar::NO_PROXY
            .pick(env(&[("no_proxy", "x"), ("NO_PROXY", "x")]))
            .unwrap();
        assert_eq!(same.ignored, None);
    }

    #[test]
    fn empty_counts_as_unset() {
        assert_eq!(
            ProxyVar::ALL_PROXY.pick(env(&[("all_proxy", ""), ("ALL_PROXY", "")])),
            None
        );
        let picked = ProxyVar::ALL_PROXY
            .pick(env(&[("all_proxy", ""), ("ALL_PROXY", "http://c:3")]))
            .unwrap();
        assert_eq!(picked.from, "ALL_PROXY");
    }
}
