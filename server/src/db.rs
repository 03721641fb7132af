//! The database: one pool for SQLite or PostgreSQL, chosen by the URL's scheme, and the embedded
//! migrations (one folder per backend under `migrations/`).
//!
//! [`DatabaseUrl`] parses and validates a URL and prints it without its password (in `Display` and
//! `Debug` alike), so every error and log line can name the database safely. [`Database::connect`]
//! opens the pool — SQLite in WAL mode with `synchronous=FULL` and foreign keys on, creating the file and
//! its folder — and [`Database::migrate`] applies the migrations compiled into the binary.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use app::wire::Backend;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// Whether a pooled connection may serve the next caller: not while it still counts an open transaction.
///
/// A COMMIT that fails on a full disk or an I/O error makes SQLite roll the transaction back by itself;
/// the driver's own ROLLBACK then fails ("no transaction is active") and its count of open transactions
/// stays at one, so every later `BEGIN` on that connection would fail ("non-zero transaction depth")
/// long after the disk has room again. Such a connection is closed instead, and the pool opens a new
/// one.
fn is_reusable<C: sqlx::Connection>(connection: &mut C) -> bool {
    let reusable = !connection.is_in_transaction();
    if !reusable {
        tracing::warn!("closing a database connection left inside a failed transaction");
    }
    reusable
}

/// How long to wait for a connection before calling the database unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors opening or migrating the database. Each message names the database (without password) and
/// includes its cause, so one line says everything (the cause is not chained a second time).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unsupported database URL scheme `{scheme}` in `{url}`: use `sqlite:PATH` or `postgres://…`")]
    UnsupportedScheme { scheme: String, url: String },
    #[error("invalid database URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot create the folder {} for database {url}: {cause}", path.display())]
    CreateFolder { path: PathBuf, url: DatabaseUrl, cause: std::io::Error },
    #[error("cannot connect to database {url}: {cause}")]
    Connect { url: DatabaseUrl, cause: sqlx::Error },
    #[error("cannot apply migrations to database {url}: {cause}")]
    Migrate { url: DatabaseUrl, cause: sqlx::migrate::MigrateError },
    /// Another process uses this SQLite file.
    #[error(transparent)]
    Locked(#[from] crate::cluster::lock::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A validated database URL. Shown without its password everywhere.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    /// The URL as given, password included: only ever handed to the driver.
    secret: String,
    /// The URL as shown to people and logs.
    shown: String,
    backend: Backend,
}

impl DatabaseUrl {
    /// Which backend the scheme selects.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with its password, for the driver only.
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    /// For SQLite: the database file, unless the database lives in memory.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let rest = self.secret.trim_start_matches("sqlite:").trim_start_matches("//");
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }
}

impl FromStr for DatabaseUrl {
    type Err = Error;

    fn from_str(raw: &str) -> Result<Self> {
        let raw = raw.trim();
        let scheme = raw.split_once(':').map(|(scheme, _)| scheme).unwrap_or_default();
        match scheme {
            "sqlite" => {
                if raw.trim_start_matches("sqlite:").trim_start_matches("//").is_empty() {
                    return Err(Error::InvalidUrl {
                        url: raw.into(),
                        reason: "no file path after `sqlite:` (e.g. `sqlite:data/switchboard.db`)".into(),
                    });
                }
                Ok(Self { secret: raw.into(), shown: raw.into(), backend: Backend::Sqlite })
            }
            "postgres" | "postgresql" => {
                let mut url = url::Url::parse(raw)
                    .map_err(|error| Error::InvalidUrl { url: redact_unparsed(raw), reason: error.to_string() })?;
                if url.host_str().unwrap_or_default().is_empty() {
                    return Err(Error::InvalidUrl {
                        url: redact_unparsed(raw),
                        reason: "no host (e.g. `postgres://postgres@127.0.0.1:5432/switchboard`)".into(),
                    });
                }
                // Cannot fail: the URL has a host, so it can carry credentials.
                let _ = url.set_password(None);
                Ok(Self { secret: raw.into(), shown: url.to_string(), backend: Backend::Postgres })
            }
            _ => Err(Error::UnsupportedScheme {
                scheme: if scheme.is_empty() { "(none)".into() } else { scheme.into() },
                url: redact_unparsed(raw),
            }),
        }
    }
}

/// Best effort for a URL that did not parse: drop whatever stands between `://user:` and `@`.
fn redact_unparsed(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_string();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => raw.to_string(),
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.shown)
    }
}

/// An open connection pool to one of the two backends.
#[derive(Clone, Debug)]
pub enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Database {
    /// Opens a pool, creating a SQLite file (and its folder) if missing. Fails if the database cannot be
    /// reached: the first connection is made here, not on first use.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self> {
        match url.backend() {
            Backend::Sqlite => {
                if let Some(folder) = url.sqlite_file().as_deref().and_then(Path::parent) {
                    if !folder.as_os_str().is_empty() {
                        std::fs::create_dir_all(folder).map_err(|cause| Error::CreateFolder {
                            path: folder.to_path_buf(),
                            url: url.clone(),
                            cause,
                        })?;
                    }
                }
                if let Some(file) = url.sqlite_file() {
                    crate::cluster::lock::lock_sqlite_file(&file)?;
                }
                let options = SqliteConnectOptions::from_str(url.expose_secret())
                    .map_err(|cause| Error::Connect { url: url.clone(), cause })?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5))
                    // 16 MiB of page cache per connection instead of 2: the hot pages of the instance
                    // indexes stay in memory rather than being read back through the kernel.
                    .pragma("cache_size", "-16384")
                    // Checkpoints move off the committing connection to `checkpoint_in_background`,
                    // so a commit never stalls while the WAL is copied into the database.
                    .pragma("wal_autocheckpoint", "0");
                // An in-memory database exists per connection: keep exactly one.
                let max = if url.sqlite_file().is_some() { 8 } else { 1 };
                probe::<sqlx::SqliteConnection>(url, &options).await?;
                let pool = SqlitePoolOptions::new()
                    .before_acquire(|connection, _| Box::pin(async move { Ok(is_reusable(connection)) }))
                    .max_connections(max)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(|cause| Error::Connect { url: url.clone(), cause })?;
                if url.sqlite_file().is_some() {
                    tokio::spawn(checkpoint_in_background(pool.clone()));
                }
                Ok(Database::Sqlite(pool))
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(url.expose_secret())
                    .map_err(|cause| Error::Connect { url: url.clone(), cause })?
                    // A node stopped (SIGSTOP) or cut off in the middle of a group commit holds the row
                    // locks of its batch; PostgreSQL ends such a transaction after this long, so the
                    // other nodes can take those instances over. Our transactions never sit idle that
                    // long otherwise (a commit that is cut off this way fails and is tried again).
                    .options([("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION_MS)]);
                probe::<sqlx::PgConnection>(url, &options).await?;
                let pool = PgPoolOptions::new()
                    .before_acquire(|connection, _| Box::pin(async move { Ok(is_reusable(connection)) }))
                    .max_connections(16)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(|cause| Error::Connect { url: url.clone(), cause })?;
                Ok(Database::Postgres(pool))
            }
        }
    }

    /// Applies the migrations embedded in the binary that the database has not seen yet.
    pub async fn migrate(&self, url: &DatabaseUrl) -> Result<()> {
        let outcome = match self {
            Database::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
            Database::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        };
        outcome.map_err(|cause| Error::Migrate { url: url.clone(), cause })
    }

    /// Which backend this pool talks to.
    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite(_) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }

    /// Whether a trivial query answers within a second.
    pub async fn is_reachable(&self) -> bool {
        let query = async {
            match self {
                Database::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
                Database::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            }
        };
        matches!(tokio::time::timeout(Duration::from_secs(1), query).await, Ok(Ok(())))
    }

    /// Versions of the migrations applied so far, in order.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, sqlx::Error> {
        const QUERY: &str = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        match self {
            Database::Sqlite(pool) => sqlx::query_scalar(QUERY).fetch_all(pool).await,
            Database::Postgres(pool) => sqlx::query_scalar(QUERY).fetch_all(pool).await,
        }
    }

    /// Closes every connection; waits for connections in use to be returned.
    pub async fn close(&self) {
        match self {
            Database::Sqlite(pool) => pool.close().await,
            Database::Postgres(pool) => pool.close().await,
        }
    }
}

/// PostgreSQL's `idle_in_transaction_session_timeout` for every connection, ms (see `Database::connect`).
const IDLE_IN_TRANSACTION_MS: &str = "2500";

/// How often the write-ahead log is copied into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// Copies committed WAL frames into the database file, on a pool connection of its own, until the pool
/// closes. PASSIVE never blocks writers or readers; what readers still need is copied next time. When
/// the last connection closes, SQLite checkpoints the rest itself.
async fn checkpoint_in_background(pool: SqlitePool) {
    let mut ticker = tokio::time::interval(CHECKPOINT_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            if !pool.is_closed() {
                tracing::warn!(%error, "WAL checkpoint failed");
            }
        }
    }
}

/// Makes one connection outside the pool. A pool only reports "timed out" when it cannot connect; a
/// single connection reports why (refused, unknown host, authentication failed, no such file).
async fn probe<C: sqlx::Connection>(url: &DatabaseUrl, options: &C::Options) -> Result<()> {
    let attempt = tokio::time::timeout(CONNECT_TIMEOUT, C::connect_with(options)).await;
    let connection = match attempt {
        Ok(result) => result.map_err(|cause| Error::Connect { url: url.clone(), cause })?,
        Err(_) => return Err(Error::Connect { url: url.clone(), cause: sqlx::Error::PoolTimedOut }),
    };
    // Closing is a courtesy to the server; the connection was only a probe.
    let _ = connection.close().await;
    Ok(())
}

/// Opens the database and applies the migrations: the whole start-up sequence of every command.
pub async fn open(url: &DatabaseUrl) -> Result<Database> {
    let database = Database::connect(url).await?;
    database.migrate(url).await?;
    Ok(database)
}

/// `switchboard migrate`: apply the migrations and report what is applied.
pub async fn migrate_command(url: &DatabaseUrl) -> anyhow::Result<()> {
    let database = open(url).await?;
    let applied = database.applied_migrations().await?;
    println!("database {url}: {} migrations applied, latest {:?}", applied.len(), applied.last());
    database.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_selects_the_backend() {
        let sqlite: DatabaseUrl = "sqlite:data/x.db".parse().unwrap();
        assert_eq!(sqlite.backend(), Backend::Sqlite);
        assert_eq!(sqlite.sqlite_file(), Some(PathBuf::from("data/x.db")));
        let pg: DatabaseUrl = "postgresql://u@localhost/db".parse().unwrap();
        assert_eq!(pg.backend(), Backend::Postgres);
        assert_eq!(pg.sqlite_file(), None);
    }

    #[test]
    fn passwords_never_show() {
        let url: DatabaseUrl = "postgres://admin:hunter2@db.internal:5432/sb".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://admin@db.internal:5432/sb");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(url.expose_secret().contains("hunter2"));
        let bad = "mysql://root:hunter2@h/db".parse::<DatabaseUrl>().unwrap_err();
        assert!(!bad.to_string().contains("hunter2"), "{bad}");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let no_path = "sqlite:".parse::<DatabaseUrl>().unwrap_err().to_string();
        assert!(no_path.contains("no file path"), "{no_path}");
        let no_scheme = "data/x.db".parse::<DatabaseUrl>().unwrap_err().to_string();
        assert!(no_scheme.contains("unsupported database URL scheme `(none)`"), "{no_scheme}");
        let no_host = "postgres:///db".parse::<DatabaseUrl>().unwrap_err().to_string();
        assert!(no_host.contains("no host"), "{no_host}");
    }

    #[test]
    fn in_memory_sqlite_has_no_file() {
        let url: DatabaseUrl = "sqlite::memory:".parse().unwrap();
        assert_eq!(url.sqlite_file(), None);
        let with_options: DatabaseUrl = "sqlite://data/a.db?mode=rwc".parse().unwrap();
        assert_eq!(with_options.sqlite_file(), Some(PathBuf::from("data/a.db")));
    }
}
