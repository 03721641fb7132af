//! The first admin: on a database without users, an `admin` account is created with the password from
//! `SWITCHBOARD_ADMIN_PASSWORD`, or a random one printed once to standard error.

use app::wire::Role;

use super::{now_ms, password};
use crate::store::access::UserRow;
use crate::store::{AuditRow, Store};

/// What happened at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FirstAdmin {
    /// There were users already; nothing changed.
    Existing,
    /// Created with the given password.
    FromEnvironment,
    /// Created with this random password (printed once by the caller).
    Generated(String),
}

/// Creates `admin` when the database has no users. With several processes starting at once on one
/// PostgreSQL database, one insert wins and the others see a conflict, which counts as existing.
pub async fn ensure_admin(store: &Store, given: Option<&str>) -> anyhow::Result<FirstAdmin> {
    if store.count_users().await? > 0 {
        return Ok(FirstAdmin::Existing);
    }
    let (secret, outcome) = match given.filter(|p| !p.is_empty()) {
        Some(given) => {
            if let Some(problem) = password::problem(given) {
                anyhow::bail!("SWITCHBOARD_ADMIN_PASSWORD {problem}");
            }
            (given.to_string(), FirstAdmin::FromEnvironment)
        }
        None => {
            let generated = super::secret::random_password();
            (generated.clone(), FirstAdmin::Generated(generated))
        }
    };
    let now = now_ms();
    let hash = tokio::task::spawn_blocking(move || password::hash(&secret)).await?;
    let user = UserRow {
        id: crate::runtime::clock::new_id(),
        username: "admin".into(),
        display_name: "Administrator".into(),
        role: Role::Admin.as_str().into(),
        password_hash: hash,
        created_at: now,
        password_changed_at: now,
        disabled_at: None,
    };
    let entry = AuditRow::ok("switchboard", "user.create", "user", "admin", now)
        .reason("first start: the database had no users")
        .after(&serde_json::json!({ "role": "admin", "display_name": "Administrator", "disabled": false }));
    match store.create_user(&user, &entry).await {
        Ok(()) => Ok(outcome),
        Err(crate::store::Error::Conflict(_)) => Ok(FirstAdmin::Existing),
        Err(error) => Err(error.into()),
    }
}
