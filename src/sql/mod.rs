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

use crate::table::Table;

pub(crate) use statement::{ByPrefix, Kind, Param, Request, Sql};

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
pub(crate) mod statement;
pub(crate) mod transfer;
pub(crate) mod watch;
pub(crate) mod wire;
pub(crate) mod write;

/// `text` for `table`: its name for `{t}`, for `{live}` the condition
/// that a row has not expired under the table's `ttl`, and for `{channel}`
/// its notification channel (letters, digits and `_`: safe in a literal).
pub(crate) fn render(text: &str, table: &Table) -> String {
    text.replace("{t}", table.qualified())
        .replace("{live}", &ddl::live(table))
        .replace("{channel}", table.channel())
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
