//! Database bootstrap and migrations, against SQLite and PostgreSQL, each in a throwaway database.

use sqlx::Row;
use crate::support::{TempPostgres, TempSqlite};
use switchboard::db::{self, Backend, Database, DatabaseUrl};

/// Every migration shipped in `migrations/<backend>/`, by version.
fn shipped_migrations(backend: &str) -> Vec<i64> {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations").join(backend);
    let mut versions: Vec<i64> = std::fs::read_dir(folder)
        .expect("migrations folder")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.split('_').next()?.parse().ok()
        })
        .collect();
    versions.sort();
    versions
}

#[tokio::test]
async fn sqlite_is_created_with_its_folder_in_wal_mode_with_full_sync_and_foreign_keys() {
    let temp = TempSqlite::new();
    assert!(!temp.file().exists());
    let database = db::open(&temp.url).await.expect("open sqlite");
    assert!(temp.file().exists(), "the database file and its folder are created");
    assert_eq!(database.backend(), Backend::Sqlite);

    let Database::Sqlite(pool) = &database else { panic!("expected sqlite") };
    let mut connection = pool.acquire().await.unwrap();
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *connection).await.unwrap();
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *connection).await.unwrap();
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut *connection).await.unwrap();
    assert_eq!(journal, "wal");
    assert_eq!(synchronous, 2, "2 is FULL");
    assert_eq!(foreign_keys, 1);
    drop(connection);

    assert_eq!(database.applied_migrations().await.unwrap(), shipped_migrations("sqlite"));
    assert!(database.is_reachable().await);
    database.close().await;
}

#[tokio::test]
async fn sqlite_migrations_are_idempotent_and_keep_data() {
    let temp = TempSqlite::new();
    let first = db::open(&temp.url).await.unwrap();
    let Database::Sqlite(pool) = &first else { panic!("expected sqlite") };
    sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ('k', '1', 'now')").execute(pool).await.unwrap();
    first.close().await;

    let second = db::open(&temp.url).await.expect("reopen and migrate again");
    let Database::Sqlite(pool) = &second else { panic!("expected sqlite") };
    let value: String =
        sqlx::query("SELECT value FROM settings WHERE key = 'k'").fetch_one(pool).await.unwrap().get("value");
    assert_eq!(value, "1");
    assert_eq!(second.applied_migrations().await.unwrap(), shipped_migrations("sqlite"));
}

#[tokio::test]
async fn postgres_bootstraps_and_migrates_a_fresh_database() {
    let Some(temp) = TempPostgres::create().await else {
        return;
    };
    let database = db::open(&temp.url).await.expect("open postgres");
    assert_eq!(database.backend(), Backend::Postgres);
    assert_eq!(database.applied_migrations().await.unwrap(), shipped_migrations("postgres"));
    assert!(database.is_reachable().await);

    let Database::Postgres(pool) = &database else { panic!("expected postgres") };
    sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ('k', '1'::jsonb, now())")
        .execute(pool)
        .await
        .unwrap();
    database.close().await;

    let again = db::open(&temp.url).await.expect("migrating twice is a no-op");
    let Database::Postgres(pool) = &again else { panic!("expected postgres") };
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM settings").fetch_one(pool).await.unwrap();
    assert_eq!(count, 1);
    again.close().await;
}

#[tokio::test]
async fn an_unreachable_postgres_is_named_without_its_password() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let url: DatabaseUrl = "postgres://switchboard:s3cret@127.0.0.1:1/orders".parse().unwrap();
    let error = db::open(&url).await.expect_err("nothing listens on port 1").to_string();
    assert!(error.contains("cannot connect to database postgres://switchboard@127.0.0.1:1/orders"), "{error}");
    assert!(!error.contains("s3cret"), "{error}");
}

#[tokio::test]
async fn a_sqlite_file_in_an_unwritable_place_is_a_clear_error() {
    let temp = tempfile::tempdir().unwrap();
    let blocker = temp.path().join("not-a-folder");
    std::fs::write(&blocker, b"a file where a folder should be").unwrap();
    let url: DatabaseUrl = format!("sqlite:{}/db.sqlite", blocker.display()).parse().unwrap();
    let error = db::open(&url).await.expect_err("cannot create a folder inside a file").to_string();
    assert!(error.contains("cannot"), "{error}");
    assert!(error.contains(&blocker.display().to_string()), "{error}");
}
