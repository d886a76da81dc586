//! Names the crate puts into SQL or uses as keys: table and schema names,
//! index names, session ids and session-id prefixes.

use crate::error::{Error, Result};

/// PostgreSQL's identifier limit (NAMEDATALEN - 1); longer names would be
/// silently cut there and rejected or kept whole elsewhere.
const MAX_IDENT_BYTES: usize = 63;

/// A checked table or schema name, always sent double-quoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ident(String);

impl Ident {
    pub(crate) fn new(what: &'static str, value: &str) -> Result<Ident> {
        let reason = if value.is_empty() {
            Some("it is empty")
        } else if value.len() > MAX_IDENT_BYTES {
            Some("it is longer than 63 bytes")
        } else if value.starts_with(|c: char| c.is_ascii_digit()) {
            Some("it starts with a digit")
        } else if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            Some("only ASCII letters, digits and underscores are allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidIdentifier {
                what,
                value: value.into(),
                reason,
            }),
            None => Ok(Ident(value.into())),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Quoted, so that reserved words work and case is kept: `"Chat"` and
    /// `chat` are two tables, as in any SQL client that quotes.
    pub(crate) fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }

    /// The name the Python library gives the `(session_id, created_at)`
    /// index of this table, `<table>_session_idx`. PostgreSQL cuts names
    /// longer than 63 bytes (for both libraries alike): two tables whose
    /// names share their first 51 bytes then share an index name, and the
    /// second gets no index.
    pub(crate) fn python_index_name(&self) -> Ident {
        Ident(format!("{}_session_idx", self.0))
    }

    /// The name of the optional index on `created_at`, `<table>_activity_idx`.
    pub(crate) fn activity_index_name(&self) -> Ident {
        Ident(format!("{}_activity_idx", self.0))
    }

    /// The name this crate's development builds gave that index:
    /// `<table>_session_created_idx`, or for long table names a cut name
    /// with a hash of the whole one.
    pub(crate) fn older_index_name(&self) -> Ident {
        const SUFFIX: &str = "_session_created_idx";
        let table = &self.0;
        if table.len() + SUFFIX.len() <= MAX_IDENT_BYTES {
            return Ident(format!("{table}{SUFFIX}"));
        }
        let tail = format!("_{:08x}{SUFFIX}", stable_hash(table) as u32);
        Ident(format!("{}{tail}", &table[..MAX_IDENT_BYTES - tail.len()]))
    }
}

/// FNV-1a of `text`: the same in every process and Rust version, unlike
/// `DefaultHasher`, for names that several programs must agree on.
pub(crate) fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The longest session id, in bytes. PostgreSQL refuses an index entry over
/// about 2.7 KB (a third of a page) with `54000`; CockroachDB has no such
/// limit, but a long key slows every read of the session.
pub(crate) const MAX_SESSION_ID_BYTES: usize = 2048;

/// Checks a session id: any non-empty text without U+0000 (which neither
/// server stores in TEXT) of at most `MAX_SESSION_ID_BYTES`.
pub(crate) fn check_session_id(session_id: &str) -> Result<()> {
    let reason = if session_id.is_empty() {
        "it is empty"
    } else if session_id.contains('\0') {
        "it contains U+0000"
    } else if session_id.len() > MAX_SESSION_ID_BYTES {
        "it is longer than 2048 bytes (the index of the table keeps it whole)"
    } else {
        return Ok(());
    };
    let value = match session_id.char_indices().nth(200) {
        Some((at, _)) => format!("{}...", &session_id[..at]),
        None => session_id.into(),
    };
    Err(Error::InvalidIdentifier {
        what: "session id",
        value,
        reason,
    })
}

/// The session ids starting with `prefix`, as a range `[low, high)` of
/// code points (`high` is `None` when nothing is above the range).
pub(crate) fn prefix_range(prefix: &str) -> (String, Option<String>) {
    let mut high: Vec<char> = prefix.chars().collect();
    while let Some(last) = high.pop() {
        // The next code point, skipping the surrogate gap.
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            high.push(next);
            return (prefix.to_owned(), Some(high.into_iter().collect()));
        }
    }
    (prefix.to_owned(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for good in ["message_store", "_x", "Chat2", "a".repeat(63).as_str()] {
            assert!(Ident::new("table name", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "my-table",
            "a b",
            "x;drop table y",
            "t\"",
            "é",
            "a".repeat(64).as_str(),
        ] {
            let err = Ident::new("table name", bad).unwrap_err();
            assert!(matches!(err, Error::InvalidIdentifier { .. }), "{bad}");
        }
    }

    #[test]
    fn prefix_ranges_hold_exactly_the_ids_with_the_prefix() {
        assert_eq!(
            prefix_range("user-1:"),
            ("user-1:".into(), Some("user-1;".into()))
        );
        assert_eq!(prefix_range(""), (String::new(), None));
        assert_eq!(
            prefix_range("a\u{10FFFF}"),
            ("a\u{10FFFF}".into(), Some("b".into()))
        );
        assert_eq!(
            prefix_range("\u{D7FF}"),
            ("\u{D7FF}".into(), Some("\u{E000}".into()))
        );
        let (low, high) = prefix_range("user-1:");
        let high = high.unwrap();
        for id in ["user-1:", "user-1:a", "user-1:\u{10FFFF}x"] {
            assert!(id >= low.as_str() && id < high.as_str(), "{id}");
        }
        for id in ["user-1", "user-10:a", "user-2:"] {
            assert!(!(id >= low.as_str() && id < high.as_str()), "{id}");
        }
    }

    #[test]
    fn the_index_has_the_python_library_name() {
        let table = Ident::new("table name", "message_store").unwrap();
        assert_eq!(table.python_index_name().0, "message_store_session_idx");
    }

    #[test]
    fn older_index_names_fit_and_stay_distinct() {
        let index = |t: &str| Ident::new("table name", t).unwrap().older_index_name().0;
        assert_eq!(index("message_store"), "message_store_session_created_idx");
        let a = index(&format!("{}a", "x".repeat(62)));
        let b = index(&format!("{}b", "x".repeat(62)));
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
    }
}
