//! The store: everything the runtime keeps in the database, behind one narrow interface, on SQLite and
//! PostgreSQL alike.
//!
//! [`Store`] wraps a [`Database`] pool. Each query is written once, in SQL that both backends accept
//! (`$1` placeholders, `ON CONFLICT`, BIGINT epoch milliseconds, JSON as TEXT), and the [`on_pool!`]
//! macro expands it once per backend so each copy is type-checked against its own driver. The one
//! conformance suite in `server/tests/integration/store.rs` runs every operation on both.
//!
//! - [`definitions`]: registered workflow definitions and their versions.
//! - [`write`]: [`TransitionWrite`], everything one engine transition changes, and [`Store::commit`],
//!   which writes many of them in one transaction (group commit).
//! - [`read`]: instances, filters and pages, the journal, steps, timers, interventions.
//! - [`rollups`]: monitoring's rollup rows, read by range and written inside a commit.
//! - [`sla`]: SLA targets and breaches, and the in-flight counts monitoring reads.
//! - [`access`]: users, sessions and API tokens.
//! - [`audit`]: the audit trail, written only inside the transaction of the change it records.
//! - [`rows`]: the row types, separate from the engine's and the wire's types.

pub mod access;
pub mod audit;
pub mod definitions;
pub mod read;
pub mod rollups;
pub mod rows;
pub mod sla;
pub mod write;

use crate::db::Database;

pub use audit::AuditRow;
pub use read::InstanceFilter;
pub use rollups::RollupRange;
pub use rows::*;
pub use write::TransitionWrite;

/// Errors of the store, mapped from sqlx once, here.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A uniqueness rule was violated (e.g. a definition version registered twice at once).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value could not be read back (e.g. JSON that no longer parses).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict(db.message().to_string()),
            _ => Error::Database(error),
        }
    }
}

impl Error {
    /// Whether trying the same thing again soon may work: the connection broke or timed out, or the
    /// database gave up on a lock (PostgreSQL serialization failure or deadlock, SQLite busy).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Database(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_)) => true,
            Error::Database(sqlx::Error::Database(db)) => matches!(
                db.code().as_deref(),
                Some("40001" | "40P01" | "55P03" | "57P01" | "08000" | "08003" | "08006" | "5" | "6" | "261" | "517")
            ),
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs the same code against whichever pool the database holds; `$pool` names the pool inside.
/// Each arm is compiled separately, so one query text serves both drivers with full type checking.
macro_rules! on_pool {
    ($database:expr, $pool:ident => $body:expr) => {
        match $database {
            $crate::db::Database::Sqlite($pool) => $body,
            $crate::db::Database::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// A transaction that will write, opened so that it can: on SQLite `BEGIN IMMEDIATE` takes the write
/// lock up front (a deferred transaction that reads first is refused with "database is locked" when it
/// later tries to write while another connection writes); PostgreSQL needs nothing special.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for sqlx::SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for sqlx::PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send {
        self.begin()
    }
}

/// The runtime's persistent state. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    database: Database,
}

impl Store {
    pub fn new(database: Database) -> Self {
        Self { database }
    }

    pub fn database(&self) -> &Database {
        &self.database
    }

    /// SQLite allows 32,766 bound values per statement and PostgreSQL 65,535; batches are cut in chunks
    /// of at most this many values.
    pub(crate) const MAX_BIND_VALUES: usize = 30_000;
}
