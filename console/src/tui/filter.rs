//! The tail's `/` filter: a case-insensitive substring, searched in the key, the value,
//! the headers, or all three.
//!
//! `text` searches everywhere; `key:text` (`k:`), `value:text` (`v:`) and
//! `header:text` (`h:`, a header's name or value) search one field.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Any,
    Key,
    Value,
    Header,
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Scope::Any => "key, value or header",
            Scope::Key => "key",
            Scope::Value => "value",
            Scope::Header => "header",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// What was typed, for showing it back.
    pub text: String,
    pub scope: Scope,
    /// The needle, lowercased.
    needle: String,
}

/// The text of one record the filter looks at.
pub struct Fields<'a> {
    pub key: Option<&'a str>,
    pub value: &'a str,
    pub headers: &'a [(String, String)],
}

impl Filter {
    /// `None` for an empty filter (everything matches).
    pub fn parse(text: &str) -> Option<Filter> {
        let (scope, needle) = match text.split_once(':') {
            Some(("k" | "key", rest)) => (Scope::Key, rest),
            Some(("v" | "value", rest)) => (Scope::Value, rest),
            Some(("h" | "header" | "headers", rest)) => (Scope::Header, rest),
            _ => (Scope::Any, text),
        };
        if needle.is_empty() {
            return None;
        }
        Some(Filter {
            text: text.to_string(),
            scope,
            needle: needle.to_lowercase(),
        })
    }

    pub fn matches(&self, fields: &Fields<'_>) -> bool {
        let key = || fields.key.is_some_and(|k| self.found_in(k));
        let value = || self.found_in(fields.value);
        let header = || {
            fields
                .headers
                .iter()
                .any(|(k, v)| self.found_in(k) || self.found_in(v))
        };
        match self.scope {
            Scope::Any => key() || value() || header(),
            Scope::Key => key(),
            Scope::Value => value(),
            Scope::Header => header(),
        }
    }

    /// Does this filter search `field`? (Only searched fields are highlighted.)
    pub fn searches(&self, field: Scope) -> bool {
        self.scope == Scope::Any || self.scope == field
    }

    fn found_in(&self, haystack: &str) -> bool {
        !self.ranges(haystack).is_empty()
    }

    /// Byte ranges of the matches in `haystack`, not overlapping, in order.
    pub fn ranges(&self, haystack: &str) -> Vec<(usize, usize)> {
        find_ranges(haystack, &self.needle)
    }
}

/// Case-insensitive (per character) occurrences of a lowercase `needle`, as byte ranges of
/// `haystack`.
fn find_ranges(haystack: &str, needle: &str) -> Vec<(usize, usize)> {
    let needle: Vec<char> = needle.chars().collect();
    if needle.is_empty() {
        return Vec::new();
    }
    let chars: Vec<(usize, char)> = haystack.char_indices().collect();
    let mut ranges = Vec::new();
    let mut i = 0;
    while i + needle.len() <= chars.len() {
        let hit = chars[i..i + needle.len()]
            .iter()
            .zip(&needle)
            .all(|((_, c), n)| c.to_lowercase().eq(n.to_lowercase()));
        if hit {
            let start = chars[i].0;
            let end = chars
                .get(i + needle.len())
                .map_or(haystack.len(), |(at, _)| *at);
            ranges.push((start, end));
            i += needle.len();
        } else {
            i += 1;
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(
        key: Option<&'a str>,
        value: &'a str,
        headers: &'a [(String, String)],
    ) -> Fields<'a> {
        Fields {
            key,
            value,
            headers,
        }
    }

    #[test]
    fn empty_filters_are_none() {
        assert_eq!(Filter::parse(""), None);
        assert_eq!(Filter::parse("k:"), None);
    }

    #[test]
    fn scopes() {
        let headers = vec![("trace".to_string(), "abc-123".to_string())];
        let record = fields(Some("user-7"), "{\"event\":\"login\"}", &headers);
        for (filter, expect) in [
            ("login", true),
            ("LOGIN", true),
            ("user-7", true),
            ("abc", true),
            ("trace", true),
            ("k:user", true),
            ("key:login", false),
            ("v:login", true),
            ("value:user", false),
            ("h:abc", true),
            ("header:login", false),
            ("nothing", false),
            // An unknown prefix is just text.
            ("x:login", false),
        ] {
            let parsed = Filter::parse(filter).unwrap();
            assert_eq!(parsed.matches(&record), expect, "{filter}");
        }
        let keyless = fields(None, "plain", &[]);
        assert!(!Filter::parse("k:plain").unwrap().matches(&keyless));
    }

    #[test]
    fn ranges_for_highlighting() {
        let filter = Filter::parse("ab").unwrap();
        assert_eq!(filter.ranges("xxABxab"), vec![(2, 4), (5, 7)]);
        assert_eq!(filter.ranges("aaa"), vec![]);
        // Non-ASCII text: byte ranges stay on character boundaries.
        let filter = Filter::parse("é").unwrap();
        assert_eq!(filter.ranges("caféÉ"), vec![(3, 5), (5, 7)]);
        assert!(filter.searches(Scope::Key));
        assert!(!Filter::parse("k:x").unwrap().searches(Scope::Value));
    }
}
