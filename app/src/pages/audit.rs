//! Audit (`/audit`): who did what, when, to what, and why — every sign-in (refused ones highlighted),
//! user and token change, operator action on an instance, intervention, SLA target, definition, schedule
//! and service control, newest first.
//!
//! The filter lives in the URL (`/audit?action=instance.&actor=maria`) and the form is a plain GET form,
//! so a link shares the exact view and it works without JavaScript. Pages follow the API's keyset cursor
//! (`before`, `GET /api/audit`): "Older entries" never repeats or skips an entry while new ones arrive.
//! Reading needs a role with `ReadAudit` (manager, reviewer, admin); anyone else gets a note.

use std::sync::Arc;

use leptos::prelude::*;
use leptos::web_sys::FormData;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;
use serde_json::Value;

use crate::auth;
use crate::client::{self, query_string};
use crate::components::access::{roles_that_may, IfAllowed};
use crate::components::{
    empty_state::EmptyState,
    page_header::PageHeader,
    status::{hydrated_flag, ErrorNote},
};
use crate::format;
use crate::wire::{AuditEntry, AuditPage, Permission};

/// The filter's fields as the page's URL names them.
const FIELDS: [&str; 6] = ["actor", "action", "target", "instance", "from", "until"];

/// Entries per page.
const PAGE_SIZE: &str = "50";

/// The classes of actions the filter offers: (prefix as the API takes it, words).
pub const ACTION_CLASSES: [(&str, &str); 10] = [
    ("session.", "Sign-ins and sign-outs"),
    ("user.", "Users: added, changed, disabled"),
    ("token.", "API tokens"),
    ("instance.", "Instances: pause, retry, skip, cancel…"),
    ("intervention.", "Interventions"),
    ("sla_target.", "SLA targets"),
    ("definition.", "Definitions"),
    ("schedule.", "Schedules"),
    ("service.", "Services: breakers and faults"),
    ("session.sign_in", "Sign-in attempts only"),
];

/// The filter as the page's URL holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct AuditFilter {
    values: Vec<(&'static str, String)>,
}

impl AuditFilter {
    fn get(&self, field: &str) -> String {
        self.values.iter().find(|(f, _)| *f == field).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    fn is_empty(&self) -> bool {
        self.values.iter().all(|(_, v)| v.trim().is_empty())
    }

    /// A time from the form (`2026-11-25T22:15`, UTC) as the API wants it (RFC 3339).
    fn api_time(&self, field: &str) -> String {
        let value = self.get(field).trim().to_string();
        if value.len() == 16 {
            format!("{value}:00Z")
        } else {
            value
        }
    }

    /// The API query for the page before `before` ("" = the newest).
    fn api_query(&self, before: &str) -> String {
        let (from, until) = (self.api_time("from"), self.api_time("until"));
        let (actor, action, target, instance) =
            (self.get("actor"), self.get("action"), self.get("target"), self.get("instance"));
        query_string([
            ("actor", actor.as_str()),
            ("action", action.as_str()),
            ("target_id", target.as_str()),
            ("instance", instance.as_str()),
            ("from", from.as_str()),
            ("until", until.as_str()),
            ("before", before),
            ("limit", PAGE_SIZE),
        ])
    }

    /// This page's own URL for the filter, at `before`.
    fn page_url(&self, before: &str) -> String {
        let mut pairs: Vec<(&str, &str)> = self.values.iter().map(|(f, v)| (*f, v.as_str())).collect();
        pairs.push(("before", before));
        format!("/audit{}", query_string(pairs))
    }
}

/// The audit page.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|q| AuditFilter { values: FIELDS.iter().filter_map(|f| Some((*f, q.get(f)?))).collect() })
    });
    let before = Memo::new(move |_| query.with(|q| q.get("before").unwrap_or_default()));
    let page = Resource::new(
        move || (filter.get(), before.get()),
        |(filter, before)| async move { client::get::<AuditPage>(format!("/api/audit{}", filter.api_query(&before))).await },
    );

    view! {
        <PageHeader
            title="Audit trail"
            subtitle="Who did what, when, to what and why: sign-ins, user and token changes, and every operator action."
        />
        // Only roles that may read the trail get the filter (the others get the note below).
        <Suspense fallback=|| ()>
            <IfAllowed permission=Permission::ReadAudit quiet=true>
                <section class="panel">
                    <FilterForm filter />
                    <p class="muted small append-only" data-testid="audit-append-only">
                        <svg class="role-hint-icon" viewBox="0 0 24 24" aria-hidden="true">
                            <rect x="5" y="11" width="14" height="9" rx="2" />
                            <path d="M8 11V8a4 4 0 0 1 8 0v3" />
                        </svg>
                        "The trail is append-only: the database refuses to change or remove an entry, for admins too."
                    </p>
                </section>
            </IfAllowed>
        </Suspense>
        <section class="panel">
            <Transition fallback=|| view! { <p class="muted">"Reading the audit trail…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(error) if error.status == 403 => {
                            let role = auth::current_user().get_untracked().map(|user| user.role.as_str());
                            view! {
                                <div class="empty-state" role="status" data-testid="audit-forbidden">
                                    <p class="empty-heading">"Your role cannot read the audit trail"</p>
                                    <p class="empty-detail">
                                        {format!("Reading it needs the {} role", roles_that_may(Permission::ReadAudit))}
                                        {role.map(|role| format!("; you are signed in as {role}"))}
                                        ". Ask a manager or an admin if you need to know who did something."
                                    </p>
                                </div>
                            }.into_any()
                        }
                        Err(error) => view! { <ErrorNote what="Cannot read the audit trail" error /> }.into_any(),
                        Ok(page) if page.entries.is_empty() => {
                            let filtered = !filter.get_untracked().is_empty() || !before.get_untracked().is_empty();
                            if filtered {
                                view! {
                                    <EmptyState
                                        heading="No entry matches this filter"
                                        detail="Loosen the filter: the actor is a username (or token:<name>), the target an exact id."
                                    />
                                }.into_any()
                            } else {
                                view! {
                                    <EmptyState
                                        heading="Nothing recorded yet"
                                        detail="Sign-ins, user and token changes and every operator action appear here as they happen."
                                    />
                                }.into_any()
                            }
                        }
                        Ok(page) => view! { <AuditTable page filter before /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The filter form: a GET form on the page's own URL, so the filter is the link.
#[component]
fn FilterForm(filter: Memo<AuditFilter>) -> impl IntoView {
    let value = move |field: &'static str| move || filter.with(|f| f.get(field));
    let action = filter.with_untracked(|f| f.get("action"));
    // An action from a link that is not one of the classes (`user.create`) is offered as it is.
    let custom = (!action.is_empty() && !ACTION_CLASSES.iter().any(|(prefix, _)| *prefix == action)).then_some(action);
    // Hydrated, the form navigates itself: empty fields (and the unnamed button) stay out of the URL.
    let drop_empty: Arc<dyn Fn(&FormData)> = Arc::new(|data: &FormData| {
        for name in FIELDS.into_iter().chain([""]) {
            if data.get(name).as_string().is_some_and(|value| value.trim().is_empty()) {
                data.delete(name);
            }
        }
    });
    view! {
        <Form method="GET" action="/audit" on_form_data=drop_empty attr:class="filters" attr:data-testid="audit-filters">
            <label>
                <span>"Who"</span>
                <input type="search" name="actor" placeholder="username or token:name" data-testid="audit-filter-actor"
                    value=value("actor") prop:value=value("actor") />
            </label>
            <label>
                <span>"What"</span>
                <select name="action" data-testid="audit-filter-action">
                    <option value="">"Any action"</option>
                    {ACTION_CLASSES.into_iter().map(|(prefix, words)| view! {
                        <option value=prefix selected=move || filter.with(|f| f.get("action") == prefix)>{words}</option>
                    }).collect_view()}
                    {custom.map(|action| view! { <option value=action.clone() selected=true>{action.clone()}</option> })}
                </select>
            </label>
            <label>
                <span>"Target id"</span>
                <input type="search" name="target" placeholder="username, target or token id" data-testid="audit-filter-target"
                    value=value("target") prop:value=value("target") />
            </label>
            <label>
                <span>"Instance id"</span>
                <input type="search" name="instance" placeholder="instance id" data-testid="audit-filter-instance"
                    value=value("instance") prop:value=value("instance") />
            </label>
            <label>
                <span>"From (UTC)"</span>
                <input type="datetime-local" name="from" data-testid="audit-filter-from"
                    value=value("from") prop:value=value("from") />
            </label>
            <label>
                <span>"Until (UTC)"</span>
                <input type="datetime-local" name="until" data-testid="audit-filter-until"
                    value=value("until") prop:value=value("until") />
            </label>
            <div class="filter-buttons">
                <button class="button" type="submit" data-testid="audit-filter-submit">"Show"</button>
                <A href="/audit" attr:class="button secondary" attr:data-testid="audit-filter-clear">"Clear"</A>
            </div>
        </Form>
    }
}

/// One page of entries, newest first, with the link to the older ones.
#[component]
fn AuditTable(page: AuditPage, filter: Memo<AuditFilter>, before: Memo<String>) -> impl IntoView {
    let ready = hydrated_flag();
    let next = page.next_before.clone();
    let count = page.entries.len();
    view! {
        <div class="table-scroll">
            <table class="table audit-table" data-testid="audit-table" data-ready=move || ready.get().to_string()>
                <thead>
                    <tr>
                        <th>"Time (UTC)"</th>
                        <th>"Who"</th>
                        <th>"Did"</th>
                        <th>"To"</th>
                        <th>"Why"</th>
                        <th>"Change"</th>
                        <th>"Outcome"</th>
                    </tr>
                </thead>
                <tbody>
                    {page.entries.into_iter().map(|entry| view! { <AuditRow entry /> }).collect_view()}
                </tbody>
            </table>
        </div>
        <nav class="pager" aria-label="Pages">
            <p class="muted small pager-note">
                {move || if before.get().is_empty() {
                    format!("The newest {count} entries")
                } else {
                    format!("{count} older entries")
                }}
            </p>
            {move || (!before.get().is_empty()).then(|| view! {
                <A href=filter.get().page_url("") attr:class="button secondary" attr:data-testid="audit-newest">"« Newest"</A>
            })}
            {next.map(|next| view! {
                <A href=move || filter.get().page_url(&next) attr:class="button secondary" attr:data-testid="audit-older">
                    "Older entries »"
                </A>
            })}
        </nav>
    }
}

#[component]
fn AuditRow(entry: AuditEntry) -> impl IntoView {
    let failed = entry.outcome != "ok";
    let changes = describe_change(entry.before.as_ref(), entry.after.as_ref());
    let actor_href = format!("/audit{}", query_string([("actor", entry.actor.as_str())]));
    let target = target_view(&entry);
    view! {
        <tr data-testid="audit-row" data-action=entry.action.clone() data-outcome=entry.outcome.clone()
            class:failed-row=failed>
            <td class="nowrap small" title=entry.at.clone()>{format::short_time(&entry.at)}</td>
            <td class="nowrap"><A href=actor_href attr:title="Only this actor's entries">{actor_words(&entry.actor)}</A></td>
            <td>
                <span class="audit-action">{action_words(&entry.action, failed)}</span>
                <br />
                <span class="action-code">{entry.action.clone()}</span>
            </td>
            <td>{target}</td>
            <td class="audit-reason">
                {entry.reason.clone().map(|reason| view! { <span>"“" {reason} "”"</span> })}
            </td>
            <td class="audit-change">
                {if changes.is_empty() {
                    view! { <span class="muted">"—"</span> }.into_any()
                } else {
                    view! {
                        <ul class="change-list">
                            {changes.into_iter().map(|line| view! { <li class="mono">{line}</li> }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </td>
            <td>
                {if failed {
                    view! { <span class="pill bad" data-testid="audit-outcome">{entry.outcome.clone()}</span> }.into_any()
                } else {
                    view! { <span class="pill ok" data-testid="audit-outcome">"ok"</span> }.into_any()
                }}
            </td>
        </tr>
    }
}

/// The target cell: an instance links to its page; anything else to its own history here.
fn target_view(entry: &AuditEntry) -> AnyView {
    let instance =
        entry.instance_id.clone().or_else(|| (entry.target_kind == "instance").then(|| entry.target_id.clone()));
    let kind = entry.target_kind.replace('_', " ");
    let other = (entry.target_kind != "instance").then(|| {
        let href = format!("/audit{}", query_string([("target", entry.target_id.as_str())]));
        let title = format!("Every entry about {} {}", kind, entry.target_id);
        let shown = format::short_id(&entry.target_id);
        view! {
            <span class="target-line">
                <span class="muted small">{format!("{kind} ")}</span>
                <A href=href attr:class="mono small" attr:title=title>{shown}</A>
            </span>
        }
    });
    let instance = instance.map(|id| {
        let (href, shown) = (format!("/instances/{id}"), format::short_id(&id));
        view! {
            <span class="target-line">
                <span class="muted small">"instance "</span>
                <A href=href attr:class="mono small" attr:title=id.clone() attr:data-testid="audit-instance-link">
                    {shown}
                </A>
            </span>
        }
    });
    view! { {other}{instance} }.into_any()
}


/// `token:nightly` reads as `token nightly`; people by their username.
fn actor_words(actor: &str) -> String {
    match actor.strip_prefix("token:") {
        Some(name) => format!("token {name}"),
        None => actor.to_string(),
    }
}

/// What the action did, in words; `failed` for entries whose outcome is not `ok`.
pub fn action_words(action: &str, failed: bool) -> String {
    let words = match action {
        "session.sign_in" if failed => "sign-in refused",
        "session.sign_in" => "signed in",
        "session.sign_out" => "signed out",
        "user.create" => "added a user",
        "user.update" => "changed a user",
        "user.disable" => "disabled a user",
        "user.enable" => "enabled a user",
        "user.reset_password" => "reset a password",
        "token.create" => "created an API token",
        "token.revoke" => "revoked an API token",
        "instance.start" => "started an instance",
        "instance.cancel" => "cancelled an instance",
        "instance.pause" => "paused an instance",
        "instance.resume" => "resumed an instance",
        "instance.retry" => "retried a failed step",
        "instance.skip" => "skipped a failed step",
        "intervention.claim" => "claimed an intervention",
        "intervention.assign" => "assigned an intervention",
        "intervention.unassign" => "unassigned an intervention",
        "intervention.resolve" => "resolved an intervention",
        "sla_target.create" => "added an SLA target",
        "sla_target.update" => "changed an SLA target",
        "sla_target.delete" => "removed an SLA target",
        "definition.register" => "registered a definition",
        "schedule.update" => "changed a schedule",
        "schedule.enable" => "enabled a schedule",
        "schedule.disable" => "disabled a schedule",
        "schedule.run" => "ran a schedule now",
        "service.breaker_trip" => "tripped a breaker",
        "service.breaker_reset" => "reset a breaker",
        "service.faults" => "set simulated faults",
        other => return other.replace(['.', '_'], " "),
    };
    if failed && action != "session.sign_in" {
        format!("{words} (refused)")
    } else {
        words.to_string()
    }
}

/// A value for one line of the change column: compact JSON, strings without quotes, long ones cut.
fn compact(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(59).collect::<String>())
    } else {
        text
    }
}

/// Before → after as lines: each changed key `role: support → manager`; a key only after `+ key: value`,
/// only before `− key: value`. Values that are not objects compare whole.
pub fn describe_change(before: Option<&Value>, after: Option<&Value>) -> Vec<String> {
    match (before, after) {
        (None | Some(Value::Null), None | Some(Value::Null)) => Vec::new(),
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut lines = Vec::new();
            for (key, old) in b {
                match a.get(key) {
                    Some(new) if new != old => lines.push(format!("{key}: {} → {}", compact(old), compact(new))),
                    Some(_) => {}
                    None => lines.push(format!("− {key}: {}", compact(old))),
                }
            }
            for (key, new) in a.iter().filter(|(key, _)| !b.contains_key(*key)) {
                lines.push(format!("+ {key}: {}", compact(new)));
            }
            lines
        }
        (None | Some(Value::Null), Some(Value::Object(a))) => a
            .iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(key, value)| format!("{key}: {}", compact(value)))
            .collect(),
        (Some(Value::Object(b)), None | Some(Value::Null)) => {
            b.iter().map(|(key, value)| format!("− {key}: {}", compact(value))).collect()
        }
        (Some(b), Some(a)) if a == b => Vec::new(),
        (Some(b), Some(a)) => vec![format!("{} → {}", compact(b), compact(a))],
        (None, Some(a)) => vec![compact(a)],
        (Some(b), None) => vec![format!("− {}", compact(b))],
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn changes_show_only_what_changed() {
        let before = json!({"display_name": "Maria", "role": "support", "disabled": false});
        let after = json!({"display_name": "Maria", "role": "manager", "disabled": false, "sessions": "ended"});
        assert_eq!(
            describe_change(Some(&before), Some(&after)),
            vec!["role: support → manager".to_string(), "+ sessions: ended".to_string()]
        );
        assert_eq!(
            describe_change(None, Some(&json!({"name": "ci", "role": "support"}))),
            vec!["name: ci", "role: support"]
        );
        assert_eq!(
            describe_change(Some(&json!({"revoked": false})), Some(&json!({"revoked": true}))),
            vec!["revoked: false → true"]
        );
        assert!(describe_change(None, None).is_empty());
        assert_eq!(describe_change(Some(&json!(1)), Some(&json!(2))), vec!["1 → 2"]);
    }

    #[test]
    fn actions_read_in_words() {
        assert_eq!(action_words("session.sign_in", false), "signed in");
        assert_eq!(action_words("session.sign_in", true), "sign-in refused");
        assert_eq!(action_words("instance.cancel", false), "cancelled an instance");
        assert_eq!(action_words("widget.frobnicate", false), "widget frobnicate");
    }

    #[test]
    fn the_filter_becomes_the_api_query_and_the_page_url() {
        let filter = AuditFilter {
            values: vec![
                ("actor", "maria".into()),
                ("action", "instance.".into()),
                ("from", "2026-11-26T07:30".into()),
            ],
        };
        assert_eq!(
            filter.api_query("a1"),
            "?actor=maria&action=instance.&from=2026-11-26T07%3A30%3A00Z&before=a1&limit=50"
        );
        assert_eq!(filter.page_url(""), "/audit?actor=maria&action=instance.&from=2026-11-26T07%3A30");
    }
}
