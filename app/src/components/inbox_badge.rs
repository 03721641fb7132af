//! The navigation's inbox count: how many interventions are open, beside "Interventions" in the rail.
//!
//! It reads `/api/interventions/counts` once while the server renders (so it is there without
//! JavaScript) and again in the browser after inbox changes arrive on the live feed, at most once per
//! heartbeat ([`inbox_refresh_tick`]). Nothing shows while the count is zero or cannot be read (for
//! example before signing in).
//!
//! ```text
//! <span>{item.label}</span>{(item.href == "/interventions").then(|| view! { <InboxBadge /> })}
//! ```

use leptos::prelude::*;

use crate::client;
use crate::live::{inbox_refresh_tick, use_live_feed};
use crate::wire::InboxCounts;

/// The open-item count as a small pill; red when some are overdue.
#[component]
pub fn InboxBadge() -> impl IntoView {
    let feed = use_live_feed();
    let tick = inbox_refresh_tick(feed, |_| true);
    let counts = Resource::new(move || tick.get(), |_| client::get::<InboxCounts>("/api/interventions/counts"));
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                counts.await.ok().filter(|c| c.all > 0).map(|c| {
                    let title = format!(
                        "{} open interventions in all ({} unassigned, {} assigned to you, {} overdue)",
                        c.all, c.unassigned, c.mine, c.overdue
                    );
                    let class = if c.overdue > 0 { "nav-count overdue" } else { "nav-count" };
                    view! {
                        <span class=class data-testid="nav-inbox-count" title=title.clone() aria-label=title>
                            {if c.all > 999 { "999+".to_string() } else { c.all.to_string() }}
                        </span>
                    }
                })
            })}
        </Transition>
    }
}
