//! Every SQL statement of the crate, one file per family of operations,
//! each statement's text next to the function that binds its parameters.
//! Nothing here does I/O.
//!
//! Texts name their table `{t}`; a connection renders a text for a table
//! and prepares it once (see `Request`). The SQL runs on CockroachDB v23.2+
//! and PostgreSQL 13+: `gen_random_uuid()`, JSONB, TIMESTAMPTZ,
//! `ON CONFLICT`, `unnest(...) WITH ORDINALITY`; no sequences, no advisory
//! locks.
//!
//! Reads of a session order by `created_at, id`: `id` breaks ties of
//! `created_at` (rows another client wrote in one microsecond) the same way
//! on every read, and every such read walks the `(session_id, created_at)`
//! index.

use tokio_postgres::types::ToSql;

use crate::table::{IdOrder, Table};

/// A statement over the session ids with a prefix, `[$1, $2)` (or
/// `[$1, ...)` when `$2` is NULL), in the forms `ByPrefix` holds. `$text`
/// is a macro that writes the statement from the column expression to
/// compare (`$c`) and the upper bound (`$hi`).
macro_rules! by_prefix {
    ($text:ident) => {
        $crate::sql::ByPrefix {
            bytes: [
                $crate::sql::Sql::read($text!("session_id", "$2::TEXT IS NULL")),
                $crate::sql::Sql::read($text!("session_id", "session_id < $2::TEXT")),
            ],
            collated: [
                $crate::sql::Sql::read($text!("session_id COLLATE \"C\"", "$2::TEXT IS NULL")),
                $crate::sql::Sql::read($text!(
                    "session_id COLLATE \"C\"",
                    "session_id COLLATE \"C\" < $2::TEXT"
                )),
            ],
        }
    };
}

pub(crate) mod ddl;
pub(crate) mod delete;
pub(crate) mod doctor;
pub(crate) mod read;
pub(crate) mod retention;
pub(crate) mod sessions;
pub(crate) mod transfer;
pub(crate) mod wire;
pub(crate) mod write;

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

/// A statement's text (naming its table `{t}`) and its kind.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sql {
    pub(crate) kind: Kind,
    pub(crate) text: &'static str,
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
}

impl Request<'_> {
    /// What it does: batches are schema changes (and the ping).
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Request::Statement(sql, _) => sql.kind,
            Request::IdOrder => Kind::Read,
            Request::Batch(_) | Request::CreateTable => Kind::Ddl,
        }
    }

    /// The SQL verb, for traces.
    pub(crate) fn verb(&self) -> &'static str {
        match self {
            Request::Statement(sql, _) => sql.text.split_whitespace().next().unwrap_or("SQL"),
            Request::IdOrder => "SELECT",
            Request::Batch(_) | Request::CreateTable => "DDL",
        }
    }
}

/// `text` for `table`: its name for `{t}`, and for `{live}` the condition
/// that a row has not expired under the table's `ttl`.
pub(crate) fn render(text: &str, table: &Table) -> String {
    text.replace("{t}", table.qualified())
        .replace("{live}", &ddl::live(table))
}

/// A count or size as a SQL `LIMIT`.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod plans;

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

    #[test]
    fn requests_carry_the_kind_of_their_statement() {
        let table = crate::table::Table::new(
            &"postgresql://root@localhost/db"
                .parse::<crate::config::ConnectionConfig>()
                .unwrap()
                .identity(),
            &crate::options::HistoryOptions::default(),
        )
        .unwrap();
        let session = crate::table::Session::new(
            "s".into(),
            table,
            &crate::options::HistoryOptions::default(),
            &crate::options::EngineOptions::default(),
        )
        .unwrap();
        let batch = write::InsertBatch::new(&session, &[crate::Message::human("hi")]).unwrap();
        let ids = vec![uuid::Uuid::nil()];
        let (n, at) = (1, time::OffsetDateTime::UNIX_EPOCH);
        for request in [
            write::insert(&session, &batch),
            write::insert_returning(&session, &batch),
            delete::clear(&session, &at),
            delete::delete_ids(&session, &ids),
        ] {
            assert_eq!(request.kind(), Kind::Write, "{}", request.verb());
        }
        for request in [
            read::messages(&session),
            read::last(&session, &n),
            read::count(&session),
            delete::newest_ids(&session, &n),
            delete::newest(&session),
        ] {
            assert_eq!(request.kind(), Kind::Read, "{}", request.verb());
        }
        assert_eq!(ddl::drop(&session.table).kind(), Kind::Ddl);
        assert_eq!(Request::CreateTable.kind(), Kind::Ddl);
    }
}
