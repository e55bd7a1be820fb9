//! Tags: short labels a team puts on any record (`vip`, `q4-push`,
//! `conference-2026`) to group, filter and act on records in bulk.
//!
//! A tag is compared as it is stored: trimmed, inner runs of white space made
//! one space, lower-cased, so `VIP`, ` vip ` and `Vip` are one tag. Commas and
//! semicolons are refused because a spreadsheet cell lists several tags with
//! them.

use std::collections::BTreeSet;

/// The longest tag, in characters.
pub const TAG_MAX: usize = 50;
/// The most tags one record carries.
pub const TAGS_MAX: usize = 30;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("must not be blank")]
    Blank,
    #[error("must be at most {TAG_MAX} characters")]
    TooLong,
    #[error("must not contain commas, semicolons or control characters")]
    Forbidden,
}

impl Tag {
    pub fn parse(raw: &str) -> Result<Self, TagError> {
        let tag = raw.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        if tag.is_empty() {
            Err(TagError::Blank)
        } else if tag.chars().count() > TAG_MAX {
            Err(TagError::TooLong)
        } else if tag.chars().any(|c| c.is_control() || c == ',' || c == ';') {
            Err(TagError::Forbidden)
        } else {
            Ok(Self(tag))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The tags of one record: a set, kept in alphabetical order, so that the
/// same tags always read (and compare) the same.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tags(BTreeSet<Tag>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagsError {
    #[error("tag {position}: {error}")]
    Tag { position: usize, error: TagError },
    #[error("must hold at most {TAGS_MAX} tags")]
    TooMany,
}

impl Tags {
    /// Tags from a list; repeats (after normalising) count once.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, TagsError> {
        let mut tags = BTreeSet::new();
        for (i, tag) in raw.iter().enumerate() {
            let tag = Tag::parse(tag.as_ref()).map_err(|error| TagsError::Tag { position: i + 1, error })?;
            tags.insert(tag);
        }
        Self::bounded(tags)
    }

    /// Tags from one spreadsheet cell: separated by commas or semicolons;
    /// empty pieces are ignored.
    pub fn parse_cell(cell: &str) -> Result<Self, TagsError> {
        let pieces: Vec<&str> = cell.split([',', ';']).filter(|p| !p.trim().is_empty()).collect();
        Self::parse(&pieces)
    }

    /// The tags with `tag` added; `TooMany` when that makes too many.
    pub fn with(&self, tag: &Tag) -> Result<Self, TagsError> {
        let mut tags = self.0.clone();
        tags.insert(tag.clone());
        Self::bounded(tags)
    }

    /// The tags without `tag`.
    pub fn without(&self, tag: &Tag) -> Self {
        let mut tags = self.0.clone();
        tags.remove(tag);
        Self(tags)
    }

    /// The union of both, as a merge of two records keeps it.
    pub fn union(&self, other: &Tags) -> Result<Self, TagsError> {
        Self::bounded(self.0.union(&other.0).cloned().collect())
    }

    fn bounded(tags: BTreeSet<Tag>) -> Result<Self, TagsError> {
        if tags.len() > TAGS_MAX {
            Err(TagsError::TooMany)
        } else {
            Ok(Self(tags))
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Tag> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tags as strings, in order.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|t| t.0.clone()).collect()
    }

    /// Tags read back from storage, where only parsed tags are written; one
    /// that does not parse any more is dropped rather than failing the read.
    pub fn from_stored<S: AsRef<str>>(stored: &[S]) -> Self {
        Self(stored.iter().filter_map(|t| Tag::parse(t.as_ref()).ok()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_lower_cased_and_single_spaced() {
        assert_eq!(Tag::parse("  Big   Fish ").unwrap().as_str(), "big fish");
        assert_eq!(Tag::parse(" \t"), Err(TagError::Blank));
        assert_eq!(Tag::parse(&"x".repeat(TAG_MAX + 1)), Err(TagError::TooLong));
        assert_eq!(Tag::parse("a,b"), Err(TagError::Forbidden));
        assert_eq!(Tag::parse("a\u{0}b"), Err(TagError::Forbidden));
    }

    #[test]
    fn a_set_of_tags_is_sorted_without_repeats_and_bounded() {
        let tags = Tags::parse(&["VIP", "q4", "vip"]).unwrap();
        assert_eq!(tags.to_strings(), ["q4", "vip"]);
        let many: Vec<String> = (0..=TAGS_MAX).map(|i| format!("t{i}")).collect();
        assert_eq!(Tags::parse(&many), Err(TagsError::TooMany));
        assert_eq!(
            Tags::parse(&["ok", " "]),
            Err(TagsError::Tag {
                position: 2,
                error: TagError::Blank
            })
        );
    }

    #[test]
    fn a_cell_splits_on_commas_and_semicolons() {
        assert_eq!(
            Tags::parse_cell("vip; q4,,Trade Show").unwrap().to_strings(),
            ["q4", "trade show", "vip"]
        );
        assert!(Tags::parse_cell("  ").unwrap().is_empty());
    }

    #[test]
    fn adding_removing_and_merging_keep_the_set() {
        let tags = Tags::parse(&["a"]).unwrap();
        let b = Tag::parse("b").unwrap();
        assert_eq!(tags.with(&b).unwrap().to_strings(), ["a", "b"]);
        assert_eq!(tags.with(&b).unwrap().without(&b), tags);
        let full = Tags::parse(&(0..TAGS_MAX).map(|i| format!("t{i}")).collect::<Vec<_>>()).unwrap();
        assert_eq!(full.with(&b), Err(TagsError::TooMany));
        assert_eq!(full.union(&tags), Err(TagsError::TooMany));
        assert_eq!(
            tags.union(&Tags::parse(&["b", "a"]).unwrap()).unwrap().to_strings(),
            ["a", "b"]
        );
    }
}
