//! The searchable text of a contact, and the patterns a query becomes.
//!
//! A contact's `search_text` is its name words and email, lower-cased, each word
//! preceded by two word marks (U+001F), followed by one token per filter value:
//!
//! ```text
//! ␟␟ada␟␟lovelace␟␟ada@example.com<D><h><h><h><R><h><h><h>
//! ```
//!
//! SQLite indexes this text with an FTS5 trigram index, so every query is a
//! substring match on it that the index serves, however short:
//!
//! - three characters or more match anywhere (`"love"`, `"example.c"`), and the
//!   spaces between words of the query match word boundaries (`"ada lo"`);
//! - two characters match the start of a word (`␟ad` is one trigram);
//! - one character matches the start of a word (`␟␟a` is one trigram);
//! - a department, role or location filter is a four-character token: a kind mark
//!   and three characters of a hash of the value, in Unicode's private use area;
//! - SQLite's index also holds [`DEACTIVATED`] after the text of a deactivated
//!   contact (its triggers add it: the column holds the text alone).
//!
//! Marks and tokens use characters removed from names and queries, so no user
//! text can match them by accident. PostgreSQL matches the same patterns with
//! `LIKE`, served by its trigram index, and compares filters on their columns.

use crate::backend::domain::ValidContact;
use sha2::{Digest, Sha256};

/// Precedes every word; doubled, so that a one-character prefix is a trigram.
const WORD: char = '\u{1f}';
const WORD_MARK: &str = "\u{1f}\u{1f}";
/// Start of the private use area, where filter tokens live.
const PRIVATE: u32 = 0xE000;
/// Hash characters per token: 4096³ values, so distinct values of one kind in
/// one organisation practically never share a token.
const HASH_ALPHABET: u32 = 4096;

/// The token SQLite's text index holds for a deactivated contact. Migration
/// m0009's triggers write it (as `char(61443, ...)`): never change it.
pub const DEACTIVATED: &str = "\u{F003}\u{F003}\u{F003}\u{F003}";

/// Which filter a token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facet {
    Department,
    Role,
    Location,
}

impl Facet {
    fn mark(self) -> char {
        let offset = match self {
            Facet::Department => 0,
            Facet::Role => 1,
            Facet::Location => 2,
        };
        char::from_u32(PRIVATE + HASH_ALPHABET + offset).expect("private use character")
    }
}

/// The token that stands for `value` of `facet` in the search text.
pub fn facet_token(facet: Facet, value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let mut token = String::with_capacity(16);
    token.push(facet.mark());
    for pair in digest.chunks(2).take(3) {
        let n = u32::from(u16::from_le_bytes([pair[0], pair[1]])) % HASH_ALPHABET;
        token.push(char::from_u32(PRIVATE + n).expect("private use character"));
    }
    token
}

/// Whether a character may appear in the words of the search text.
fn is_plain(c: char) -> bool {
    !(c.is_control() || ('\u{E000}'..='\u{F8FF}').contains(&c))
}

/// Lower-cased words of `text`, without marks, control or private characters.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| c.is_whitespace() || !is_plain(c))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The search text of a contact, from its stored (already validated) fields.
pub fn document(
    first_name: &str,
    last_name: &str,
    email: Option<&str>,
    department: Option<&str>,
    role: Option<&str>,
    location: Option<&str>,
) -> String {
    let mut out = String::with_capacity(96);
    for word in words(first_name)
        .chain(words(last_name))
        .chain(email.into_iter().flat_map(words))
    {
        out.push_str(WORD_MARK);
        out.push_str(&word);
    }
    for (facet, value) in [
        (Facet::Department, department),
        (Facet::Role, role),
        (Facet::Location, location),
    ] {
        if let Some(v) = value {
            out.push_str(&facet_token(facet, v));
        }
    }
    out
}

/// The search text of a validated contact.
pub fn of(c: &ValidContact) -> String {
    of_lower(c, c.email.as_ref().map(|e| e.lower()).as_deref())
}

/// [`of`], given the contact's email lower-cased.
pub fn of_lower(c: &ValidContact, email_lower: Option<&str>) -> String {
    document(
        &c.first_name,
        &c.last_name,
        email_lower,
        c.department.as_deref(),
        c.role.as_deref(),
        c.location.as_deref(),
    )
}

/// What a typed query must find in the search text: `None` when it has no words.
pub fn pattern(query: &str) -> Option<String> {
    let words: Vec<String> = words(query).collect();
    let joined = words.join(WORD_MARK);
    match joined.chars().count() {
        0 => None,
        1 => Some(format!("{WORD_MARK}{joined}")),
        2 => Some(format!("{WORD}{joined}")),
        _ => Some(joined),
    }
}

/// The word start that a one- or two-character query must match (PostgreSQL
/// counts and pages these through the table of word starts); `None` for a
/// longer query or none.
pub fn word_start(query: &str) -> Option<String> {
    let mut words = words(query);
    let word = words.next()?;
    (words.next().is_none() && word.chars().count() <= 2).then_some(word)
}

/// Whether every character of `pattern` is a word character of PostgreSQL's
/// `contact_words` (migration m0023 splits a search text on every other):
/// a to z, and any character from U+0080 on outside the private use area.
/// Such a pattern is inside one word wherever it matches.
pub fn is_within_word(pattern: &str) -> bool {
    pattern.chars().all(|c| {
        c.is_ascii_lowercase() || (c >= '\u{80}' && !('\u{E000}'..='\u{F8FF}').contains(&c))
    })
}

/// An FTS5 phrase that matches `text` as a substring (trigram tokenizer).
pub fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(doc: &str, query: &str) -> bool {
        doc.contains(&pattern(query).unwrap())
    }

    #[test]
    fn patterns_within_a_word_have_only_word_characters() {
        for inside in ["mar", "tomás", "ström", "张伟明", "x😀y"] {
            assert!(is_within_word(&pattern(inside).unwrap()), "{inside}");
        }
        // Word marks, digits, punctuation: the pattern may span words.
        for across in ["ada lo", "smith2", "o'b", "example.com", "a-b", "j_s", "ab"] {
            assert!(!is_within_word(&pattern(across).unwrap()), "{across}");
        }
    }

    #[test]
    fn queries_match_word_starts_when_short_and_anywhere_when_long() {
        let doc = document(
            "Ada",
            "Lovelace",
            Some("ada.l@example.com"),
            Some("Engineering"),
            None,
            Some("London"),
        );
        assert!(contains(&doc, "a"));
        assert!(contains(&doc, "L"));
        assert!(
            !contains(&doc, "v"),
            "one character only matches a word start"
        );
        assert!(contains(&doc, "lo"));
        assert!(
            !contains(&doc, "ov"),
            "two characters only match a word start"
        );
        assert!(contains(&doc, "ove"));
        assert!(contains(&doc, "ADA  LOVE"));
        assert!(contains(&doc, "a lovelace"));
        assert!(contains(&doc, "example.c"));
        assert!(!contains(&doc, "ada example"));
        assert!(doc.contains(&facet_token(Facet::Department, "Engineering")));
        assert!(doc.contains(&facet_token(Facet::Location, "London")));
        assert!(!doc.contains(&facet_token(Facet::Role, "Engineering")));
        assert!(!doc.contains(&facet_token(Facet::Department, "engineering")));
    }

    #[test]
    fn short_queries_are_word_starts() {
        assert_eq!(word_start(" A ").as_deref(), Some("a"));
        assert_eq!(word_start("Ős").as_deref(), Some("ős"));
        assert_eq!(word_start("ada"), None);
        assert_eq!(word_start("a b"), None);
        assert_eq!(word_start("\u{1f}\u{e001}"), None);
        // Exactly the queries whose pattern is a marked word start.
        for q in ["a", "ab", "abc", "a b", ""] {
            let marked = pattern(q).is_some_and(|p| p.starts_with(WORD));
            assert_eq!(word_start(q).is_some(), marked, "{q:?}");
        }
    }

    #[test]
    fn user_text_never_forms_marks_or_tokens() {
        assert_eq!(pattern("  \u{1f}\u{e001} "), None);
        // A control character separates words like a space does.
        assert_eq!(pattern("a\u{1f}b").as_deref(), Some("a\u{1f}\u{1f}b"));
        let doc = document("Eve\u{1f}\u{1f}", "\u{e000}Ng", None, None, None, None);
        assert_eq!(doc, "\u{1f}\u{1f}eve\u{1f}\u{1f}ng");
    }

    #[test]
    fn tokens_are_four_private_characters_and_stable() {
        let t = facet_token(Facet::Role, "Nurse");
        assert_eq!(t.chars().count(), 4);
        assert!(t.chars().all(|c| ('\u{E000}'..='\u{F8FF}').contains(&c)));
        assert_eq!(t, facet_token(Facet::Role, "Nurse"));
        assert_ne!(t, facet_token(Facet::Role, "Nurses"));
    }

    #[test]
    fn the_status_token_is_no_filter_token() {
        assert_eq!(DEACTIVATED.chars().next(), char::from_u32(61443));
        for facet in [Facet::Department, Facet::Role, Facet::Location] {
            assert!(!DEACTIVATED.contains(facet.mark()));
        }
        assert!(DEACTIVATED.chars().all(|c| !is_plain(c)));
    }

    #[test]
    fn phrases_escape_quotes() {
        assert_eq!(fts_phrase("o\"brien"), "\"o\"\"brien\"");
    }
}
