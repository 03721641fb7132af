//! A small backend-neutral SQL layer for the simulated services: each query is written once and runs
//! on SQLite and PostgreSQL alike.
//!
//! [`SimDb`] wraps a [`Database`] pool and opens transactions; [`SimTx`] is one open transaction on
//! either backend. Queries are SQL text with `$1` placeholders (both drivers accept them) and a slice of
//! [`Bind`] values; rows come back as [`Row`]s of [`Cell`]s, read with [`Row::int`], [`Row::text`] and
//! friends. The conventions every marketplace table follows so the same text works on both:
//!
//! - integers (money in minor units, counts, epoch milliseconds) are `BIGINT`;
//! - JSON is `TEXT`;
//! - aggregates are cast back to `BIGINT` (`CAST(SUM(x) AS BIGINT)`), because PostgreSQL's `SUM` of a
//!   `BIGINT` is `NUMERIC`.
//!
//! ```no_run
//! # async fn example(db: switchboard::db::Database) -> Result<(), switchboard::marketplace::sql::Error> {
//! use switchboard::marketplace::sql::{Bind, SimDb};
//! let db = SimDb::new(db);
//! let mut tx = db.transaction().await?;
//! let changed = tx.execute("UPDATE sim_balances SET available = available - $1 WHERE account_id = $2 AND available >= $1",
//!     &[Bind::Int(500), Bind::text("seller-1")]).await?;
//! if changed == 1 { tx.commit().await?; }
//! # Ok(()) }
//! ```

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Postgres, Row as _, Sqlite, Transaction};

use crate::db::Database;

/// Errors of the SQL layer: the database failed, or a column did not hold what the caller expected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("column {index} is {found}, expected {expected}")]
    Decode { index: usize, expected: &'static str, found: &'static str },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A value bound to a `$n` placeholder.
///
/// NULLs carry a type because PostgreSQL types a parameter from the value sent: a text NULL bound to a
/// `BIGINT` column is an error there.
#[derive(Clone, Debug, PartialEq)]
pub enum Bind {
    Int(i64),
    Text(String),
    NullInt,
    NullText,
}

impl Bind {
    /// Shorthand for `Bind::Text(value.into())`.
    pub fn text(value: impl Into<String>) -> Self {
        Bind::Text(value.into())
    }

    /// A text or a typed NULL.
    pub fn opt_text(value: Option<impl Into<String>>) -> Self {
        value.map_or(Bind::NullText, |v| Bind::Text(v.into()))
    }

    /// An integer or a typed NULL.
    pub fn opt_int(value: Option<i64>) -> Self {
        value.map_or(Bind::NullInt, Bind::Int)
    }
}

/// One column value of a [`Row`].
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Int(i64),
    Text(String),
    Null,
}

impl Cell {
    fn kind(&self) -> &'static str {
        match self {
            Cell::Int(_) => "an integer",
            Cell::Text(_) => "text",
            Cell::Null => "NULL",
        }
    }
}

/// A row read back, its columns in `SELECT` order.
#[derive(Clone, Debug, PartialEq)]
pub struct Row(pub Vec<Cell>);

impl Row {
    fn cell(&self, index: usize) -> &Cell {
        self.0.get(index).unwrap_or(&Cell::Null)
    }

    /// Column `index` as an integer.
    pub fn int(&self, index: usize) -> Result<i64> {
        match self.cell(index) {
            Cell::Int(value) => Ok(*value),
            other => Err(Error::Decode { index, expected: "an integer", found: other.kind() }),
        }
    }

    /// Column `index` as text.
    pub fn text(&self, index: usize) -> Result<String> {
        match self.cell(index) {
            Cell::Text(value) => Ok(value.clone()),
            other => Err(Error::Decode { index, expected: "text", found: other.kind() }),
        }
    }

    /// Column `index` as an integer or NULL.
    pub fn opt_int(&self, index: usize) -> Result<Option<i64>> {
        match self.cell(index) {
            Cell::Null => Ok(None),
            _ => self.int(index).map(Some),
        }
    }

    /// Column `index` as text or NULL.
    pub fn opt_text(&self, index: usize) -> Result<Option<String>> {
        match self.cell(index) {
            Cell::Null => Ok(None),
            _ => self.text(index).map(Some),
        }
    }
}

/// The simulated services' view of the database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SimDb {
    database: Database,
}

impl SimDb {
    pub fn new(database: Database) -> Self {
        Self { database }
    }

    /// The pool underneath.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Opens a transaction. On SQLite it starts with `BEGIN IMMEDIATE`: the write lock is taken up
    /// front, because a deferred transaction that reads and then writes fails at once with `SQLITE_BUSY`
    /// when another writer got there first (the busy timeout does not cover that upgrade).
    pub async fn transaction(&self) -> Result<SimTx> {
        Ok(match &self.database {
            Database::Sqlite(pool) => SimTx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Database::Postgres(pool) => SimTx::Postgres(pool.begin().await?),
        })
    }

    /// Runs one read-only query outside any explicit transaction.
    pub async fn fetch_all(&self, sql: &'static str, binds: &[Bind]) -> Result<Vec<Row>> {
        let mut tx = self.transaction().await?;
        let rows = tx.fetch_all(sql, binds).await?;
        tx.commit().await?;
        Ok(rows)
    }
}

/// An open transaction on either backend. Dropping it without [`SimTx::commit`] rolls it back.
pub enum SimTx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Binds the values in order to a query of either backend.
macro_rules! bound {
    ($sql:expr, $binds:expr) => {{
        let mut query = sqlx::query($sql);
        for bind in $binds {
            query = match bind {
                Bind::Int(value) => query.bind(*value),
                Bind::Text(value) => query.bind(value.clone()),
                Bind::NullInt => query.bind(None::<i64>),
                Bind::NullText => query.bind(None::<String>),
            };
        }
        query
    }};
}

impl SimTx {
    /// Runs a statement; returns the number of rows it changed.
    pub async fn execute(&mut self, sql: &'static str, binds: &[Bind]) -> Result<u64> {
        Ok(match self {
            SimTx::Sqlite(tx) => bound!(sql, binds).execute(&mut **tx).await?.rows_affected(),
            SimTx::Postgres(tx) => bound!(sql, binds).execute(&mut **tx).await?.rows_affected(),
        })
    }

    /// Runs a query; returns its first row, if any.
    pub async fn fetch_optional(&mut self, sql: &'static str, binds: &[Bind]) -> Result<Option<Row>> {
        Ok(self.fetch_all(sql, binds).await?.into_iter().next())
    }

    /// Runs a query; returns its first row or a decode error naming the missing row.
    pub async fn fetch_one(&mut self, sql: &'static str, binds: &[Bind]) -> Result<Row> {
        self.fetch_optional(sql, binds).await?.ok_or(Error::Database(sqlx::Error::RowNotFound))
    }

    /// Runs a query; returns every row.
    pub async fn fetch_all(&mut self, sql: &'static str, binds: &[Bind]) -> Result<Vec<Row>> {
        match self {
            SimTx::Sqlite(tx) => bound!(sql, binds).fetch_all(&mut **tx).await?.iter().map(sqlite_row).collect(),
            SimTx::Postgres(tx) => bound!(sql, binds).fetch_all(&mut **tx).await?.iter().map(pg_row).collect(),
        }
    }

    /// Makes every change durable.
    pub async fn commit(self) -> Result<()> {
        match self {
            SimTx::Sqlite(tx) => tx.commit().await?,
            SimTx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// Undoes every change (dropping the transaction does the same, without waiting).
    pub async fn rollback(self) -> Result<()> {
        match self {
            SimTx::Sqlite(tx) => tx.rollback().await?,
            SimTx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// SQLite values carry their own type per row (an expression column has no declared type), so each
/// cell is tried as an integer, then as text; NULL is whatever is neither.
fn sqlite_row(row: &SqliteRow) -> Result<Row> {
    let mut cells = Vec::with_capacity(row.columns().len());
    for index in 0..row.columns().len() {
        let cell = if let Ok(Some(value)) = row.try_get::<Option<i64>, _>(index) {
            Cell::Int(value)
        } else if let Ok(Some(value)) = row.try_get::<Option<String>, _>(index) {
            Cell::Text(value)
        } else {
            Cell::Null
        };
        cells.push(cell);
    }
    Ok(Row(cells))
}

/// PostgreSQL columns have one type each; the marketplace schema uses BIGINT and TEXT only (plus
/// COUNT, which is BIGINT).
fn pg_row(row: &PgRow) -> Result<Row> {
    let mut cells = Vec::with_capacity(row.columns().len());
    for index in 0..row.columns().len() {
        let cell = match row.try_get::<Option<i64>, _>(index) {
            Ok(Some(value)) => Cell::Int(value),
            Ok(None) => Cell::Null,
            Err(_) => match row.try_get::<Option<String>, _>(index)? {
                Some(value) => Cell::Text(value),
                None => Cell::Null,
            },
        };
        cells.push(cell);
    }
    Ok(Row(cells))
}
