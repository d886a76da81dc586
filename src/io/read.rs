//! Reading one session: all of it, its newest messages, a context window,
//! a count, what came after a time, a page.

use time::OffsetDateTime;

use crate::error::Result;
use crate::message::{Message, MessageType, TrimOptions, trim_messages};
use crate::retry::Call;
use crate::rows;
use crate::sql::{self, Request, read};
use crate::stored::{Page, PageCursor, StoredMessage};
use crate::table::Session;

use super::mode::face;
use super::engine::Shared;

#[face(AFIT)]
impl Shared {
    /// Runs `request` on a session's table with the session's retry policy.
    async fn in_session(
        &self,
        session: &Session,
        request: &Request<'_>,
    ) -> Result<Vec<tokio_postgres::Row>> {
        let call = Call::new(session.policy);
        self.run(&session.table, call, request).await
    }

    pub(crate) async fn messages(&self, session: &Session) -> Result<Vec<Message>> {
        rows::decode_messages(&self.in_session(session, &read::messages(session)).await?)
    }

    pub(crate) async fn entries(&self, session: &Session) -> Result<Vec<StoredMessage>> {
        let rows = self.in_session(session, &read::entries(session)).await?;
        rows::decode_entries(&rows, Some(&session.id))
    }

    pub(crate) async fn last_messages(&self, session: &Session, n: usize) -> Result<Vec<Message>> {
        let n = sql::limit(n);
        rows::decode_messages(&self.in_session(session, &read::last(session, &n)).await?)
    }

    /// The context window of `options`, read from the newest rows back in
    /// growing pages until a page holds more than the window: the cost
    /// follows the window, not the session.
    pub(crate) async fn trim<C: Fn(&[Message]) -> usize + Sync>(
        &self,
        session: &Session,
        options: &TrimOptions,
        counter: C,
    ) -> Result<Vec<Message>> {
        let call = Call::new(session.policy);
        let first = if options.include_system {
            let one = sql::limit(1);
            let rows = self
                .run(
                    &session.table,
                    call,
                    &read::page(session, None, &one, false),
                )
                .await?;
            rows::decode_entries(&rows, Some(&session.id))?.pop()
        } else {
            None
        };
        let mut size = 32;
        loop {
            let n = sql::limit(size);
            let rows = self
                .run(&session.table, call, &read::last(session, &n))
                .await?;
            let window = rows::decode_entries(&rows, Some(&session.id))?;
            let seen = window.len();
            let starts_at_first = match (&first, window.first()) {
                (Some(first), Some(oldest)) => first.id == oldest.id,
                _ => false,
            };
            let whole = seen < size || starts_at_first;
            let mut candidate: Vec<Message> = window.into_iter().map(|e| e.message).collect();
            // A leading system message joins the page, as the session's
            // head; any other first row is just an old message.
            let system = first
                .as_ref()
                .filter(|f| f.message.message_type().base() == MessageType::System);
            if let Some(first) = system.filter(|_| !whole) {
                candidate.insert(0, first.message.clone());
            }
            let with_first = candidate.len() - seen;
            let trimmed = trim_messages(&candidate, options, &counter);
            // Kept messages are the newest ones, together: once the oldest
            // of the page is left out, no older row would be kept either.
            let system_kept = usize::from(
                with_first > 0
                    && trimmed
                        .first()
                        .is_some_and(|m| Some(m) == candidate.first()),
            );
            if whole || trimmed.len() - system_kept < seen {
                return Ok(trimmed);
            }
            size = size.saturating_mul(4);
        }
    }

    pub(crate) async fn message_count(&self, session: &Session) -> Result<u64> {
        rows::decode_count(&self.in_session(session, &read::count(session)).await?)
    }

    pub(crate) async fn messages_since(
        &self,
        session: &Session,
        since: OffsetDateTime,
    ) -> Result<Vec<Message>> {
        rows::decode_messages(
            &self
                .in_session(session, &read::since(session, &since))
                .await?,
        )
    }

    /// A page of `size` rows from `cursor` on, oldest first, or newest
    /// first when `back`.
    pub(crate) async fn messages_page(
        &self,
        session: &Session,
        cursor: Option<&PageCursor>,
        size: usize,
        back: bool,
    ) -> Result<Page> {
        let limit = read::page_limit(size)?;
        let request = read::page(session, cursor, &limit, back);
        let rows = self.in_session(session, &request).await?;
        rows::decode_page(&rows, &session.id, size)
    }
}
