//! Registered workflow definitions. Versions are immutable once written: a changed definition is a new
//! row with the next version number.

use super::audit::{insert_audit, AuditRow};
use super::{on_pool, DefinitionRow, Result, Store};

/// The columns of [`DefinitionRow`], in a macro so queries can be built with `concat!` at compile time.
macro_rules! columns {
    () => {
        "name, version, description, body, content_hash, created_at, created_by"
    };
}

impl Store {
    /// Writes a new definition version, and its audit entry (`definition.register` by `created_by`) in
    /// the same transaction.
    ///
    /// # Errors
    /// [`super::Error::Conflict`] when that name and version exist already (two registrations racing).
    pub async fn insert_definition(&self, row: &DefinitionRow) -> Result<()> {
        let audit = AuditRow::ok(&row.created_by, "definition.register", "definition", &row.name, row.created_at).after(
            &serde_json::json!({ "version": row.version, "description": row.description, "content_hash": row.content_hash }),
        );
        on_pool!(self.database(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO definitions (name, version, description, body, content_hash, created_at, created_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&row.name)
            .bind(row.version)
            .bind(&row.description)
            .bind(&row.body)
            .bind(&row.content_hash)
            .bind(row.created_at)
            .bind(&row.created_by)
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, [&audit]);
            tx.commit().await?;
        });
        Ok(())
    }

    /// One version of a definition.
    pub async fn definition(&self, name: &str, version: i64) -> Result<Option<DefinitionRow>> {
        let query = concat!("SELECT ", columns!(), " FROM definitions WHERE name = $1 AND version = $2");
        Ok(on_pool!(self.database(), pool => {
            sqlx::query_as(query).bind(name).bind(version).fetch_optional(pool).await?
        }))
    }

    /// The newest version of a definition.
    pub async fn latest_definition(&self, name: &str) -> Result<Option<DefinitionRow>> {
        let query = concat!("SELECT ", columns!(), " FROM definitions WHERE name = $1 ORDER BY version DESC LIMIT 1");
        Ok(on_pool!(self.database(), pool => {
            sqlx::query_as(query).bind(name).fetch_optional(pool).await?
        }))
    }

    /// How many versions are registered (other nodes compare it with what they hold).
    pub async fn definition_count(&self) -> Result<i64> {
        let query = "SELECT CAST(COUNT(*) AS BIGINT) FROM definitions";
        Ok(on_pool!(self.database(), pool => sqlx::query_scalar(query).fetch_one(pool).await?))
    }

    /// Every version of every definition, by name then version.
    pub async fn definitions(&self) -> Result<Vec<DefinitionRow>> {
        let query = concat!("SELECT ", columns!(), " FROM definitions ORDER BY name, version");
        Ok(on_pool!(self.database(), pool => {
            sqlx::query_as(query).fetch_all(pool).await?
        }))
    }
}
