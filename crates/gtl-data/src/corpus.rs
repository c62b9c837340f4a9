//! Documents of a text corpus and domains selected by primary-category prefix.

use serde::{Deserialize, Serialize};

use crate::DataError;

/// One document of a text corpus: an arXiv abstract or a paragraph of a plain text file.
///
/// Readers normalise the whitespace of `title` and `text` (see [`normalize_whitespace`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Stable identifier (the arXiv id); splits hash it.
    pub id: String,
    /// Primary category, e.g. `cs.CV`; the first entry of `categories`.
    pub primary: String,
    /// Every category, primary first.
    pub categories: Vec<String>,
    /// Title; empty when the source has none.
    pub title: String,
    /// The text to model (the abstract).
    pub text: String,
}

/// A domain: the documents whose primary category matches one of a list of prefixes.
///
/// A prefix matches a category equal to it or starting with it followed by `.`: `math`
/// matches `math` and `math.RT` but not `math-ph`; `astro-ph` matches `astro-ph.GA`;
/// `cs.CV` matches only `cs.CV`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    prefixes: Vec<String>,
}

impl Domain {
    /// A domain from its prefixes; at least one, none empty.
    pub fn new<S: Into<String>>(prefixes: impl IntoIterator<Item = S>) -> Result<Self, DataError> {
        let prefixes: Vec<String> = prefixes.into_iter().map(Into::into).collect();
        if prefixes.is_empty() {
            return Err(DataError::parameter(
                "domain prefixes",
                "[]",
                "at least one prefix",
            ));
        }
        if let Some(bad) = prefixes
            .iter()
            .find(|p| p.trim().is_empty() || p.trim() != *p)
        {
            return Err(DataError::parameter(
                "domain prefix",
                format!("{bad:?}"),
                "non-empty without surrounding whitespace",
            ));
        }
        Ok(Self { prefixes })
    }

    /// The prefixes, in the order given.
    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }

    /// Whether `category` matches one of the prefixes.
    pub fn matches(&self, category: &str) -> bool {
        self.prefixes
            .iter()
            .any(|prefix| category_has_prefix(category, prefix))
    }

    /// Whether the document's primary category is in the domain.
    pub fn accepts(&self, document: &Document) -> bool {
        self.matches(&document.primary)
    }
}

impl std::fmt::Display for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}]", self.prefixes.join(", "))
    }
}

/// Whether `category` equals `prefix` or continues it with a `.` subcategory.
pub fn category_has_prefix(category: &str, prefix: &str) -> bool {
    match category.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('.'),
        None => false,
    }
}

/// Collapses every run of Unicode whitespace (spaces, tabs, newlines) to one space and trims
/// both ends: the form every reader stores and the tokenizer round trip is checked against.
pub fn normalize_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matches_subcategories_but_not_hyphenated_archives() {
        assert!(category_has_prefix("math", "math"));
        assert!(category_has_prefix("math.RT", "math"));
        assert!(!category_has_prefix("math-ph", "math"));
        assert!(!category_has_prefix("mathematics", "math"));
        assert!(category_has_prefix("astro-ph.GA", "astro-ph"));
        assert!(!category_has_prefix("astro-ph.GA", "astro"));
        assert!(category_has_prefix("cs.CV", "cs.CV"));
        assert!(!category_has_prefix("cs.CL", "cs.CV"));
    }

    #[test]
    fn domain_accepts_by_primary_category_only() {
        let domain = Domain::new(["cs", "math"]).unwrap();
        let mut doc = Document {
            id: "1".into(),
            primary: "physics.optics".into(),
            categories: vec!["physics.optics".into(), "cs.CV".into()],
            title: String::new(),
            text: "x".into(),
        };
        assert!(
            !domain.accepts(&doc),
            "a cross-listed cs category must not count"
        );
        doc.primary = "math.RT".into();
        assert!(domain.accepts(&doc));
        assert_eq!(domain.to_string(), "[cs, math]");
    }

    #[test]
    fn domain_rejects_empty_prefixes() {
        assert!(Domain::new(Vec::<String>::new()).is_err());
        let err = Domain::new(["cs", " "]).unwrap_err().to_string();
        assert!(err.contains("\" \""), "{err}");
    }

    #[test]
    fn whitespace_is_collapsed_and_trimmed() {
        assert_eq!(
            normalize_whitespace("  We  study\n\tthe\u{a0}flow.\n"),
            "We study the flow."
        );
        assert_eq!(normalize_whitespace(" \n "), "");
    }
}
