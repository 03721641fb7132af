//! Sign-in (`/sign-in`): the one page shown without the console around it, and the only page the server
//! serves without a session (every other page sends a signed-out browser here, with `next` set to where
//! it was going).
//!
//! The form is a plain HTML form that posts to `POST /api/auth/sign-in`, so it works without JavaScript
//! and, hydrated, still posts normally (no client-side handler): the server answers with a redirect to
//! `next` and the session cookie, or back here with `error`, `username` and `next` in the query. Signing
//! out lands here with `signed_out=1`. `next` is shown and sent only when it is a normalized path on this
//! site (`wire::local_path`, the rule the server applies too).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::auth;
use crate::wire::{local_path, USERNAME_MAX_CHARS};

/// The sign-in page.
#[component]
pub fn SignInPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &'static str| {
        Memo::new(move |_| query.with(|q| q.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())))
    };
    let error = param("error");
    let username = param("username");
    // Only a path on this site, by the same rule the server redirects by (`wire::local_path`): a link
    // to `javascript:…` or `//elsewhere` must never be offered here.
    let next = Memo::new(move |_| query.with(|q| local_path(q.get("next").as_deref().map(str::trim))));
    let signed_out = Memo::new(move |_| query.with(|q| q.get("signed_out").is_some_and(|v| v == "1")));
    // With a username given back (a failed attempt), the password is what needs typing.
    let username_known = username.get_untracked().is_some();
    let user = auth::current_user();

    view! {
        <Title text="Sign in" />
        <main class="sign-in-page" id="main">
            <section class="sign-in-card" aria-labelledby="sign-in-heading">
                <div class="sign-in-brand">
                    <svg class="sign-in-mark" viewBox="0 0 24 24" aria-hidden="true">
                        <circle cx="5" cy="6" r="2.2" />
                        <circle cx="5" cy="18" r="2.2" />
                        <circle cx="19" cy="12" r="2.2" />
                        <path d="M7 6c6 0 6 6 10 6M7 18c6 0 6-6 10-6" />
                    </svg>
                    <div>
                        <p class="sign-in-product">"Switchboard"</p>
                        <p class="sign-in-tagline">"Pay-per-call marketplace · operations console"</p>
                    </div>
                </div>
                <h1 id="sign-in-heading">"Sign in"</h1>
                {move || signed_out.get().then(|| view! {
                    <p class="callout ok" role="status" data-testid="signed-out">"You are signed out."</p>
                })}
                {move || error.get().map(|message| view! {
                    <p class="callout bad" role="alert" data-testid="sign-in-error">{sentence(&message)}</p>
                })}
                <Suspense fallback=|| ()>
                    {move || user.get().map(|user| {
                        let target = next.get();
                        view! {
                            <p class="callout" data-testid="already-signed-in">
                                {format!("You are already signed in as {} ({}). ", user.display_name, user.role.as_str())}
                                <a href=target rel="external">"Continue to the console"</a>
                                " — or sign in below as someone else."
                            </p>
                        }
                    })}
                </Suspense>
                <form class="sign-in-form" method="post" action="/api/auth/sign-in" data-testid="sign-in-form">
                    <div class="form-field">
                        <label for="sign-in-username">"Username"</label>
                        <input
                            id="sign-in-username"
                            name="username"
                            type="text"
                            autocomplete="username"
                            autocapitalize="none"
                            spellcheck="false"
                            maxlength=USERNAME_MAX_CHARS
                            required
                            autofocus=!username_known
                            value=move || username.get().unwrap_or_default()
                            data-testid="sign-in-username"
                        />
                    </div>
                    <div class="form-field">
                        <label for="sign-in-password">"Password"</label>
                        <input
                            id="sign-in-password"
                            name="password"
                            type="password"
                            autocomplete="current-password"
                            required
                            autofocus=username_known
                            data-testid="sign-in-password"
                        />
                    </div>
                    <input type="hidden" name="next" value=move || next.get() />
                    <button class="button sign-in-submit" type="submit" data-testid="sign-in-submit">"Sign in"</button>
                </form>
                <p class="sign-in-help">
                    "No account, or forgot your password? Ask an admin of this console: admins create users and reset passwords on the Users page."
                </p>
            </section>
        </main>
    }
}

/// The server's message as a sentence: `wrong username or password` → `Wrong username or password.`
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let Some(first) = chars.next() else { return String::new() };
    let mut text = first.to_uppercase().collect::<String>() + chars.as_str();
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_sentences() {
        assert_eq!(sentence("wrong username or password"), "Wrong username or password.");
        assert_eq!(sentence("this account is disabled; ask an admin"), "This account is disabled; ask an admin.");
        assert_eq!(sentence(""), "");
    }
}
