//! Who may do what: roles, permissions and the permission matrix, the signed-in user, users, API
//! tokens and the audit trail.
//!
//! The matrix ([`Role::allows`]) lives here, in the wire crate, so the server's checks and the
//! console's choice of what to show read the same table. The server checks it on every request
//! (`server/src/auth/policy.rs` maps each route to one [`Permission`]); the console only hides what a
//! role may not do.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a person does here. Every user has exactly one.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Watches workflows and steers single runs: pause, resume, retry, skip, cancel, bulk actions,
    /// service breakers and faults.
    Support,
    /// Reads everything and owns the SLA targets; reads the audit trail.
    Manager,
    /// Works the intervention inbox (claim, assign, resolve) and steers runs like support.
    Reviewer,
    /// Everything, including users, API tokens, definitions and schedules.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Support, Role::Manager, Role::Reviewer, Role::Admin];

    /// The permission matrix: the one place that says what a role may do.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match permission {
            View => true,
            OperateInstances | OperateServices => matches!(self, Role::Support | Role::Reviewer | Role::Admin),
            WorkInterventions => matches!(self, Role::Reviewer | Role::Admin),
            ManageSla => matches!(self, Role::Manager | Role::Admin),
            ReadAudit => matches!(self, Role::Manager | Role::Reviewer | Role::Admin),
            ManageDefinitions | ManageSchedules | ManageUsers => self == Role::Admin,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Support => "support",
            Role::Manager => "manager",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Support => "Support",
            Role::Manager => "Manager",
            Role::Reviewer => "Reviewer",
            Role::Admin => "Admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

/// One kind of thing a request may do. Each API route and server function needs exactly one.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read the console and the API: instances, definitions, monitoring, SLA report, services,
    /// schedules, the inbox, the live feed.
    View,
    /// Start instances; pause, resume, retry, skip and cancel them, one at a time or in bulk.
    OperateInstances,
    /// Trip and reset circuit breakers; set simulated service faults.
    OperateServices,
    /// Claim, assign, unassign and resolve interventions.
    WorkInterventions,
    /// Add, change and remove SLA targets.
    ManageSla,
    /// Register workflow definitions.
    ManageDefinitions,
    /// Change and run schedules.
    ManageSchedules,
    /// Create, disable and change users; create and revoke API tokens.
    ManageUsers,
    /// Read the audit trail.
    ReadAudit,
}

impl Permission {
    pub const ALL: [Permission; 9] = [
        Permission::View,
        Permission::OperateInstances,
        Permission::OperateServices,
        Permission::WorkInterventions,
        Permission::ManageSla,
        Permission::ManageDefinitions,
        Permission::ManageSchedules,
        Permission::ManageUsers,
        Permission::ReadAudit,
    ];

    /// What it allows, in words, for the users page's matrix.
    pub fn label(self) -> &'static str {
        match self {
            Permission::View => "Read everything",
            Permission::OperateInstances => "Start and steer runs",
            Permission::OperateServices => "Breakers and faults",
            Permission::WorkInterventions => "Work the inbox",
            Permission::ManageSla => "Change SLA targets",
            Permission::ManageDefinitions => "Register definitions",
            Permission::ManageSchedules => "Change schedules",
            Permission::ManageUsers => "Users and tokens",
            Permission::ReadAudit => "Read the audit trail",
        }
    }
}

/// `GET /api/auth/me`: who is signed in, and what they may do.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// `session` (signed in with a password) or `token` (an API token, named in `username`).
    pub via: String,
}

impl CurrentUser {
    pub fn can(&self, permission: Permission) -> bool {
        self.role.allows(permission)
    }
}

/// The longest username: 1–64 characters of lowercase letters, digits, `.`, `_`, `-`.
pub const USERNAME_MAX_CHARS: usize = 64;
/// The longest display name (characters).
pub const DISPLAY_NAME_MAX_CHARS: usize = 100;
/// The longest API token name (characters).
pub const TOKEN_NAME_MAX_CHARS: usize = 64;
/// The longest `next` kept after signing in (bytes); a longer one goes to `/`.
pub const NEXT_PATH_MAX_BYTES: usize = 2048;

/// Where to go after signing in: `next` when it is a normalized path on this site, `/` otherwise.
///
/// The one rule for the server's redirect (`POST /api/auth/sign-in` from the form) and the sign-in
/// page's links, so neither can send anyone to another site. See [`is_local_path`].
///
/// ```
/// use app::wire::local_path;
/// assert_eq!(local_path(Some("/instances?status=failed")), "/instances?status=failed");
/// assert_eq!(local_path(Some("/\t/evil.example")), "/");
/// assert_eq!(local_path(Some("javascript:alert(1)")), "/");
/// assert_eq!(local_path(None), "/");
/// ```
pub fn local_path(next: Option<&str>) -> String {
    next.filter(|candidate| is_local_path(candidate)).unwrap_or("/").to_string()
}

/// Whether `candidate` is a normalized path on this site: it starts with one `/`; it holds only the
/// characters a URL may carry unencoded (no spaces, tabs, newlines, backslashes or other controls,
/// which browsers drop or turn into `/` — `/\t/evil.example` would become `//evil.example`, another
/// host); its path (before `?` or `#`) has no empty, `.` or `..` segment; and it is at most
/// [`NEXT_PATH_MAX_BYTES`] long. Schemes (`javascript:`, `https:`) and `//host` fail the first test.
pub fn is_local_path(candidate: &str) -> bool {
    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?#%".contains(&byte);
    if candidate.len() > NEXT_PATH_MAX_BYTES || !candidate.starts_with('/') || !candidate.bytes().all(allowed) {
        return false;
    }
    let path = candidate.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    segments.iter().enumerate().all(|(index, segment)| {
        let dots = segment.to_ascii_lowercase().replace("%2e", ".");
        // An empty last segment is a trailing slash (`/` itself, `/instances/`); elsewhere it makes `//`.
        (!segment.is_empty() || index == last) && dots != "." && dots != ".."
    })
}

/// `POST /api/auth/sign-in` (JSON or an HTML form).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub username: String,
    pub password: String,
    /// Where a form sign-in goes next (a path on this site); ignored for JSON.
    #[serde(default)]
    pub next: Option<String>,
}

/// A user as the users page lists them (never the password hash).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: String,
    /// The last successful sign-in, if any.
    pub last_sign_in: Option<String>,
    /// Sessions not ended or expired.
    pub active_sessions: u64,
}

/// `POST /api/users`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    #[serde(default)]
    pub display_name: Option<String>,
    pub role: Role,
    pub password: String,
}

/// `POST /api/users/{username}`: change what is given. Disabling or changing the role or password
/// ends the user's sessions.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub disabled: Option<bool>,
    /// A new password (the reset).
    #[serde(default)]
    pub password: Option<String>,
}

/// An API token as listed (never the secret).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSummary {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_by: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked: bool,
    /// The person who created it (its owner) is disabled: the token is refused until they are enabled
    /// again (a revoked token stays revoked).
    #[serde(default)]
    pub suspended: bool,
}

/// `POST /api/tokens`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    pub role: Role,
}

/// The answer to `POST /api/tokens`: the secret, shown this once.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: TokenSummary,
    /// Send as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// One entry of the audit trail.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    pub actor: String,
    /// `instance.cancel`, `intervention.claim`, `sla_target.update`, `user.create`, `session.sign_in`, …
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub instance_id: Option<String>,
    pub reason: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// `ok`, or why it was refused (a failed sign-in).
    pub outcome: String,
}

/// `GET /api/audit`: newest first, keyset pages.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page.
    pub next_before: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14, item 9: only normalized paths on this site are followed after signing in.
    #[test]
    fn only_local_paths_are_followed() {
        for good in ["/", "/instances", "/instances/", "/instances/01a2?status=failed&workflow=a%2Fb", "/users#tokens"]
        {
            assert_eq!(local_path(Some(good)), good, "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "\t//evil.example",
            "/..//evil.example",
            "/%2e%2e//evil.example",
            "/a//b",
            "/./x",
            "/instances/<script>",
            "",
            "instances",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(local_path(Some(&format!("/{}", "a".repeat(NEXT_PATH_MAX_BYTES)))), "/");
    }
}
