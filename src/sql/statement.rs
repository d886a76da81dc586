//! What a statement is: its text and kind (checked when the constant is
//! built), its bind parameters, a request to a connection, and the two
//! forms of a statement over a range of session ids.

use tokio_postgres::types::ToSql;

use crate::report::ServerKind;
use crate::table::IdOrder;

/// A statement over a range of session ids in two forms, as
/// `IdOrder` picks: comparing the column as it is, which the session index
/// serves, where its collation is byte order; and comparing it
/// `COLLATE "C"`, exact under any collation (served by an index with that
/// collation, if the table has one). Each form in two texts, without and
/// with an upper bound, so that a cached generic plan bounds its index scan
/// on both ends (`$2 IS NULL OR ...` would scan to the end).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ByPrefix {
    pub(crate) bytes: [Sql; 2],
    pub(crate) collated: [Sql; 2],
}

impl ByPrefix {
    /// The text for `order`, bounded above when `high` is.
    pub(crate) fn pick(&self, order: IdOrder, high: &Option<String>) -> Sql {
        let texts = match order {
            IdOrder::Bytes => &self.bytes,
            IdOrder::Collated => &self.collated,
        };
        texts[usize::from(high.is_some())]
    }
}

/// One bind parameter.
pub(crate) type Param<'a> = &'a (dyn ToSql + Sync);

/// What a statement does, declared where it is defined: the engine retries
/// a read whose reply was lost, and reports a write's as ambiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Reads rows and changes none.
    Read,
    /// Changes rows: a try whose reply was lost may have been applied.
    Write,
    /// Changes the schema.
    Ddl,
}

/// A statement's text (naming its table `{t}`) and its kind; optionally
/// another text for PostgreSQL only, with the same parameters (what only
/// PostgreSQL has, such as `pg_notify`), which the connection picks by the
/// server it talks to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sql {
    pub(crate) kind: Kind,
    pub(crate) text: &'static str,
    postgresql: Option<&'static str>,
}

impl Sql {
    /// A statement that changes no row. Checked when the constant is
    /// evaluated: a text with a data-changing verb fails the build.
    pub(crate) const fn read(text: &'static str) -> Sql {
        assert!(
            !changes_rows(text),
            "a statement declared read changes rows"
        );
        Sql {
            kind: Kind::Read,
            text,
            postgresql: None,
        }
    }

    /// A statement that changes rows (and may read them too).
    pub(crate) const fn write(text: &'static str) -> Sql {
        assert!(
            changes_rows(text),
            "a statement declared write has no data-changing verb"
        );
        Sql {
            kind: Kind::Write,
            text,
            postgresql: None,
        }
    }

    /// The same statement with `text` on PostgreSQL, of the same kind
    /// (checked as `read` and `write` check theirs).
    pub(crate) const fn on_postgresql(self, text: &'static str) -> Sql {
        assert!(
            changes_rows(text) == matches!(self.kind, Kind::Write),
            "a statement's PostgreSQL text is not of its kind"
        );
        Sql {
            postgresql: Some(text),
            ..self
        }
    }

    /// The text to send to `server`.
    pub(crate) fn text_for(&self, server: ServerKind) -> &'static str {
        match (server, self.postgresql) {
            (ServerKind::PostgreSQL, Some(text)) => text,
            _ => self.text,
        }
    }
}

/// Whether `text` holds INSERT, UPDATE, DELETE or UPSERT as a word, in any
/// case: at the start, after `WITH ... AS (`, anywhere. A build-time check
/// of the declared kind, never the kind itself.
const fn changes_rows(text: &str) -> bool {
    const VERBS: [&[u8]; 4] = [b"INSERT", b"UPDATE", b"DELETE", b"UPSERT"];
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let starts_word = at == 0 || !is_word_byte(bytes[at - 1]);
        let mut v = 0;
        while starts_word && v < VERBS.len() {
            let verb = VERBS[v];
            let end = at + verb.len();
            if end <= bytes.len() && (end == bytes.len() || !is_word_byte(bytes[end])) {
                let mut i = 0;
                while i < verb.len() && bytes[at + i].to_ascii_uppercase() == verb[i] {
                    i += 1;
                }
                if i == verb.len() {
                    return true;
                }
            }
            v += 1;
        }
        at += 1;
    }
    false
}

const fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// What a connection is asked to run.
pub(crate) enum Request<'a> {
    /// A statement with bind parameters, prepared once per connection and
    /// table.
    Statement(Sql, Vec<Param<'a>>),
    /// Statements without parameters (schema changes, the ping), sent
    /// together as one simple query.
    Batch(String),
    /// Create the table and its index if missing (several statements, see
    /// `ddl`).
    CreateTable,
    /// How the table's `session_id` compares: no statement on CockroachDB
    /// (always byte order), `ddl::ID_ORDER` on PostgreSQL.
    IdOrder,
    /// Nothing but which server the engine talks to: `ddl::VERSION` on the
    /// engine's first request, nothing after.
    Server,
}

impl Request<'_> {
    /// What it does: batches are schema changes (and the ping).
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Request::Statement(sql, _) => sql.kind,
            Request::IdOrder | Request::Server => Kind::Read,
            Request::Batch(_) | Request::CreateTable => Kind::Ddl,
        }
    }

    /// The SQL verb, for traces.
    pub(crate) fn verb(&self) -> &'static str {
        match self {
            Request::Statement(sql, _) => sql.text.split_whitespace().next().unwrap_or("SQL"),
            Request::IdOrder | Request::Server => "SELECT",
            Request::Batch(_) | Request::CreateTable => "DDL",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_changing_verb_is_found_wherever_it_stands() {
        for text in [
            "INSERT INTO t VALUES (1)",
            "delete from t",
            "WITH gone AS (DELETE FROM t RETURNING id) SELECT count(*) FROM gone",
            "UPDATE t SET a = 1",
            "UPSERT INTO t VALUES (1)",
            "SELECT 1; update t set a = 2",
        ] {
            assert!(changes_rows(text), "{text}");
        }
        for text in [
            "SELECT id FROM t",
            "SELECT inserted_at, deleted, updates FROM t",
            "SELECT x_delete FROM t",
            "",
        ] {
            assert!(!changes_rows(text), "{text}");
        }
    }
}
