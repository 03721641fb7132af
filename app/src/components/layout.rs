//! The console layout: the navigation rail, the top bar with the live status and the signed-in user,
//! the footer. Every page but `/sign-in` is drawn inside it.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::get_system_info;
use crate::auth;
use crate::components::access::RolePill;
use crate::live::{provide_live_feed, use_live_feed};
use crate::wire::Permission;

/// One entry of the navigation rail.
struct NavItem {
    href: &'static str,
    label: &'static str,
    /// SVG path data of the item's 24×24 stroke icon.
    icon: &'static str,
}

/// The navigation, grouped by what people do: operate the marketplace, analyse it, configure it.
const NAV_GROUPS: &[(&str, &[NavItem])] = &[
    (
        "Operate",
        &[
            NavItem { href: "/", label: "Overview", icon: "M3 13h8V3H3zM13 21h8V11h-8zM3 21h8v-6H3zM13 3v6h8V3z" },
            NavItem { href: "/instances", label: "Instances", icon: "M4 6h16M4 12h16M4 18h10" },
            NavItem { href: "/interventions", label: "Interventions", icon: "M4 4h16v12H8l-4 4zM12 7v4M12 13.5v.5" },
        ],
    ),
    (
        "Analyse",
        &[
            NavItem { href: "/sla", label: "SLA", icon: "M12 3a9 9 0 1 0 9 9M12 12l6-6M12 7v5" },
            NavItem { href: "/bottlenecks", label: "Bottlenecks", icon: "M3 4h18l-7 8v6l-4 2v-8z" },
        ],
    ),
    (
        "Configure",
        &[
            NavItem {
                href: "/definitions",
                label: "Definitions",
                icon: "M6 3h4v4H6zM14 17h4v4h-4zM6 17h4v4H6zM8 7v10M8 12h8v5",
            },
            NavItem { href: "/services", label: "Services", icon: "M4 5h16v5H4zM4 14h16v5H4zM7 7.5h.01M7 16.5h.01" },
        ],
    ),
];

/// Entries of the Configure group that only some roles may use, each with the permission it needs: the
/// rail shows them to roles that have it (the pages and the API refuse the others anyway).
const GATED_NAV: &[(NavItem, Permission)] = &[
    (
        NavItem {
            href: "/users",
            label: "Users",
            icon: "M16 20v-1.5a4 4 0 0 0-4-4H7a4 4 0 0 0-4 4V20M9.5 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7zM21 20v-1.5a4 4 0 0 0-3-3.9M15.5 4.1a3.5 3.5 0 0 1 0 6.8",
        },
        Permission::ManageUsers,
    ),
    (
        NavItem { href: "/audit", label: "Audit", icon: "M9 3h6v3H9zM8 4.5H5V21h14V4.5h-3M8.5 11h7M8.5 15h7M8.5 19h4" },
        Permission::ReadAudit,
    ),
];

/// Wraps every page: navigation on the left, a top bar, the page, and the footer. Provides the live feed
/// to everything inside (one `EventSource` per tab: the layout stays mounted while pages change).
#[component]
pub fn ConsoleLayout(children: Children) -> impl IntoView {
    provide_live_feed();
    view! {
        <div class="console">
            <nav class="rail" aria-label="Main">
                <A href="/" attr:class="brand">
                    <svg class="brand-mark" viewBox="0 0 24 24" aria-hidden="true">
                        <circle cx="5" cy="6" r="2.2" />
                        <circle cx="5" cy="18" r="2.2" />
                        <circle cx="19" cy="12" r="2.2" />
                        <path d="M7 6c6 0 6 6 10 6M7 18c6 0 6-6 10-6" />
                    </svg>
                    <span>"Switchboard"</span>
                </A>
                {NAV_GROUPS
                    .iter()
                    .map(|(group, items)| {
                        view! {
                            <div class="rail-group">
                                <p class="rail-heading">{*group}</p>
                                <ul>
                                    {items
                                        .iter()
                                        .map(|item| {
                                            view! {
                                                <li>
                                                    <A href=item.href exact=item.href == "/" attr:class="rail-link">
                                                        <svg class="rail-icon" viewBox="0 0 24 24" aria-hidden="true">
                                                            <path d=item.icon />
                                                        </svg>
                                                        <span>{item.label}</span>{(item.href == "/interventions").then(crate::components::inbox_badge::InboxBadge)}
                                                    </A>
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                    {(*group == "Configure").then(|| view! { <GatedNavItems /> })}
                                </ul>
                            </div>
                        }
                    })
                    .collect_view()}
            </nav>
            <div class="workspace">
                <TopBar />
                <main class="page" id="main">
                    {children()}
                </main>
                <Footer />
            </div>
        </div>
    }
}

/// The rail entries of [`GATED_NAV`] the signed-in user's role may use.
#[component]
fn GatedNavItems() -> impl IntoView {
    let user = auth::current_user();
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let user = user.get()?;
                let items = GATED_NAV.iter().filter(|(_, permission)| user.can(*permission)).map(|(item, _)| {
                    view! {
                        <li>
                            <A href=item.href attr:class="rail-link">
                                <svg class="rail-icon" viewBox="0 0 24 24" aria-hidden="true">
                                    <path d=item.icon />
                                </svg>
                                <span>{item.label}</span>
                            </A>
                        </li>
                    }
                });
                Some(items.collect_view())
            }}
        </Suspense>
    }
}

/// The bar above every page: the marketplace name, whether live updates are flowing, and who is signed in.
#[component]
fn TopBar() -> impl IntoView {
    let feed = use_live_feed();
    view! {
        <header class="topbar">
            <p class="topbar-context">"Pay-per-call marketplace · operations console"</p>
            <div class="topbar-end">
                <p
                    class=move || feed.connection.get().css_class()
                    data-testid="connection-status"
                    title="Live updates from the server"
                >
                    <span class="dot" aria-hidden="true"></span>
                    {move || feed.connection.get().label()}
                </p>
                <SignedInUser />
            </div>
        </header>
    }
}

/// The signed-in user (name and role) and the sign-out button: a plain form POST, so it works without
/// JavaScript; the server ends the session and sends the browser to `/sign-in?signed_out=1`.
#[component]
fn SignedInUser() -> impl IntoView {
    let user = auth::current_user();
    view! {
        <Suspense fallback=|| ()>
            {move || user.get().map(|user| {
                let session = user.via == "session";
                let title = if session {
                    format!("Signed in as {}", user.username)
                } else {
                    format!("Using the API token {}", user.display_name)
                };
                view! {
                    <div class="topbar-user" title=title>
                        <svg class="topbar-user-icon" viewBox="0 0 24 24" aria-hidden="true">
                            <circle cx="12" cy="8" r="4" />
                            <path d="M4 21v-1a6 6 0 0 1 6-6h4a6 6 0 0 1 6 6v1" />
                        </svg>
                        <span class="topbar-user-name" data-testid="current-user" data-username=user.username.clone()>
                            {user.display_name.clone()}
                        </span>
                        <RolePill role=user.role testid="current-role" />
                    </div>
                    {session.then(|| view! {
                        <form class="sign-out-form" method="post" action="/api/auth/sign-out">
                            <button class="button secondary small-button" type="submit" data-testid="sign-out">
                                "Sign out"
                            </button>
                        </form>
                    })}
                }
            })}
        </Suspense>
    }
}

/// The footer: which server version and which database this console is looking at.
#[component]
fn Footer() -> impl IntoView {
    let info = Resource::new(|| (), |_| get_system_info());
    view! {
        <footer class="footer" data-testid="footer">
            <Suspense fallback=|| view! { <span>"Switchboard"</span> }>
                {move || Suspend::new(async move {
                    match info.await {
                        Ok(info) => {
                            view! {
                                <span>"Switchboard " <strong>{format!("v{}", info.version)}</strong></span>
                                <span class="sep" aria-hidden="true">"·"</span>
                                <span>
                                    "Database: " <strong data-testid="footer-backend">{info.backend.label()}</strong>
                                </span>
                                <span class="sep" aria-hidden="true">"·"</span>
                                <span class="muted">{info.database}</span>
                            }
                                .into_any()
                        }
                        Err(_) => {
                            view! { <span class="muted">"Server information unavailable"</span> }.into_any()
                        }
                    }
                })}
            </Suspense>
        </footer>
    }
}
