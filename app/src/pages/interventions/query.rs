//! What the inbox shows, as its URL holds it:
//! `/interventions?view=unassigned&kind=human_task&workflow=dispute-resolution&priority=high&item=ID`.
//!
//! The view and the filters choose the list ([`InboxQuery::api_path`]); `item` opens one item beside it.
//! Links to another view or item are this query with one field changed ([`InboxQuery::url`]), so the
//! browser's history and a shared link carry the whole screen, with or without JavaScript.
//!
//! ```text
//! let q = InboxQuery::from_query(|k| query.with(|m| m.get(k)));
//! q.with_item("42").url()   // "/interventions?view=mine&item=42"
//! ```

use crate::client::query_string;

/// The views, as the URL and the API name them, with their tab labels.
pub const VIEWS: [(&str, &str); 5] = [
    ("mine", "Mine"),
    ("unassigned", "Unassigned"),
    ("all", "All open"),
    ("overdue", "Overdue"),
    ("resolved", "Resolved"),
];

/// The view shown when the URL names none: everything open, so nobody starts on an empty tab.
pub const DEFAULT_VIEW: &str = "all";

/// The inbox's view, filters and open item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InboxQuery {
    /// One of [`VIEWS`]; empty: [`DEFAULT_VIEW`].
    pub view: String,
    pub kind: String,
    pub workflow: String,
    pub priority: String,
    /// The open item's id.
    pub item: String,
}

/// The part of the query that chooses the list (not the open item): the list reloads only when it
/// changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListKey {
    pub view: String,
    pub kind: String,
    pub workflow: String,
    pub priority: String,
}

impl InboxQuery {
    /// Reads the query from the URL's parameters.
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> InboxQuery {
        let field = |name: &str| get(name).map(|v| v.trim().to_string()).unwrap_or_default();
        InboxQuery {
            view: field("view"),
            kind: field("kind"),
            workflow: field("workflow"),
            priority: field("priority"),
            item: field("item"),
        }
    }

    /// The view shown: the one asked for when the page knows it, else the default.
    pub fn view(&self) -> &str {
        VIEWS.iter().find(|(v, _)| *v == self.view).map_or(DEFAULT_VIEW, |(v, _)| v)
    }

    /// What chooses the list.
    pub fn list_key(&self) -> ListKey {
        ListKey {
            view: self.view().to_string(),
            kind: self.kind.clone(),
            workflow: self.workflow.clone(),
            priority: self.priority.clone(),
        }
    }

    /// Whether a kind, workflow or priority filter is set.
    pub fn is_filtered(&self) -> bool {
        !(self.kind.is_empty() && self.workflow.is_empty() && self.priority.is_empty())
    }

    /// The page's URL for this query; empty fields are left out.
    pub fn url(&self) -> String {
        let view = self.view();
        let view = if self.view.is_empty() && view == DEFAULT_VIEW { "" } else { view };
        format!(
            "/interventions{}",
            query_string([
                ("view", view),
                ("kind", self.kind.as_str()),
                ("workflow", self.workflow.as_str()),
                ("priority", self.priority.as_str()),
                ("item", self.item.as_str()),
            ])
        )
    }

    /// This query with another view (the open item closes: it may not be in that list).
    pub fn with_view(&self, view: &str) -> InboxQuery {
        InboxQuery { view: view.to_string(), item: String::new(), ..self.clone() }
    }

    /// This query with `id` open.
    pub fn with_item(&self, id: &str) -> InboxQuery {
        InboxQuery { item: id.to_string(), ..self.clone() }
    }

    /// This query without filters (the view and the open item stay).
    pub fn without_filters(&self) -> InboxQuery {
        InboxQuery { view: self.view.clone(), item: self.item.clone(), ..InboxQuery::default() }
    }
}

impl ListKey {
    /// The API path listing this view: `/api/interventions?view=mine&kind=human_task`.
    pub fn api_path(&self) -> String {
        format!(
            "/api/interventions{}",
            query_string([
                ("view", self.view.as_str()),
                ("kind", self.kind.as_str()),
                ("workflow", self.workflow.as_str()),
                ("priority", self.priority.as_str()),
            ])
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn query(pairs: &[(&str, &str)]) -> InboxQuery {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        InboxQuery::from_query(|k| map.get(k).cloned())
    }

    #[test]
    fn the_url_carries_view_filters_and_item() {
        let q = query(&[("view", "mine"), ("kind", "human_task"), ("workflow", "dispute-resolution"), ("item", "7")]);
        assert_eq!(q.url(), "/interventions?view=mine&kind=human_task&workflow=dispute-resolution&item=7");
        assert_eq!(q.list_key().api_path(), "/api/interventions?view=mine&kind=human_task&workflow=dispute-resolution");
        assert_eq!(
            q.with_view("overdue").url(),
            "/interventions?view=overdue&kind=human_task&workflow=dispute-resolution"
        );
        assert_eq!(q.without_filters().url(), "/interventions?view=mine&item=7");
    }

    #[test]
    fn an_unknown_or_missing_view_shows_the_default() {
        assert_eq!(query(&[]).view(), DEFAULT_VIEW);
        assert_eq!(query(&[("view", "bogus")]).view(), DEFAULT_VIEW);
        assert_eq!(query(&[]).list_key().api_path(), "/api/interventions?view=all");
        assert_eq!(query(&[]).with_item("a b").url(), "/interventions?item=a%20b");
        assert!(!query(&[("view", "mine")]).is_filtered());
        assert!(query(&[("priority", "high")]).is_filtered());
    }

    #[test]
    fn opening_an_item_does_not_change_the_list() {
        let q = query(&[("view", "unassigned"), ("priority", "urgent")]);
        assert_eq!(q.with_item("9").list_key(), q.list_key());
    }
}
