//! API tokens for machine clients: create one with a role (its secret shown once, to copy), list them,
//! revoke one (two steps). A token belongs to the person who created it: while they are disabled it is
//! listed as "suspended — creator disabled" (and refused), and enabling them restores it.

use leptos::prelude::*;

use crate::client::{self, ApiFailure};
use crate::components::access::RolePill;
use crate::components::status::ErrorNote;
use crate::format;
use crate::wire::{CreateToken, CreatedToken, Role, TokenSummary, TOKEN_NAME_MAX_CHARS};

/// API tokens: the list, a form to create one (its secret shown once), and revoking.
#[component]
pub(super) fn TokensPanel() -> impl IntoView {
    let version = RwSignal::new(0u64);
    let tokens = Resource::new(move || version.get(), |_| client::get::<Vec<TokenSummary>>("/api/tokens"));
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Support);
    let created = RwSignal::new(None::<CreatedToken>);
    let problem = RwSignal::new(None::<String>);
    let create = Action::new(move |body: &CreateToken| {
        let body = body.clone();
        async move { client::post::<_, CreatedToken>("/api/tokens", &body).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(token)) => {
            problem.set(None);
            name.set(String::new());
            created.set(Some(token));
            version.update(|v| *v += 1);
        }
        Some(Err(failure)) => {
            let text = failure.fields.first().map_or_else(|| failure.to_string(), |(f, m)| format!("{f}: {m}"));
            problem.set(Some(format!("Not created: {text}")));
        }
        None => {}
    });
    let revoke = Action::new(move |id: &String| {
        let id = id.clone();
        async move {
            let path = format!("/api/tokens/{}/revoke", client::encode_query_value(&id));
            client::post::<_, TokenSummary>(path, &serde_json::json!({})).await
        }
    });
    let confirming = RwSignal::new(None::<String>);
    Effect::new(move |_| match revoke.value().get() {
        Some(Ok(_)) => {
            problem.set(None);
            confirming.set(None);
            version.update(|v| *v += 1);
        }
        Some(Err(failure)) => problem.set(Some(format!("Not revoked: {failure}"))),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        created.set(None);
        create.dispatch(CreateToken { name: name.get_untracked().trim().to_string(), role: role.get_untracked() });
    };

    view! {
        <section class="panel" data-testid="tokens-panel">
            <div class="panel-head spaced">
                <h2>"API tokens"</h2>
                <p class="muted small">"For scripts and other systems: send " <code>"Authorization: Bearer <token>"</code>"."</p>
            </div>
            <form class="token-form" on:submit=submit data-testid="token-form">
                <div class="form-field grow">
                    <label for="token-name">"Name"</label>
                    <input id="token-name" type="text" autocomplete="off" placeholder="e.g. billing-reconciler"
                        data-testid="token-name" maxlength=TOKEN_NAME_MAX_CHARS
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                </div>
                <div class="form-field">
                    <label for="token-role">"Acts with the role"</label>
                    <select id="token-role" data-testid="token-role"
                        on:change=move |ev| { if let Some(r) = Role::parse(&event_target_value(&ev)) { role.set(r); } }>
                        {Role::ALL.into_iter().map(|r| view! {
                            <option value=r.as_str() selected=move || role.get() == r>{r.as_str()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <button class="button" type="submit" data-testid="token-create"
                    disabled=move || name.get().trim().is_empty() || create.pending().get()>
                    "Create token"
                </button>
            </form>
            {move || problem.get().map(|m| view! { <p class="callout bad" role="alert">{m}</p> })}
            {move || created.get().map(|token| view! { <SecretBox token on_done=Callback::new(move |_| created.set(None)) /> })}
            <Transition fallback=|| view! { <p class="muted">"Loading tokens…"</p> }>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Err(error) => view! { <ErrorNote what="Cannot list the API tokens" error /> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted small empty-line">"No API tokens yet. Create one for each script or system, so each can be revoked on its own."</p>
                        }.into_any(),
                        Ok(list) => view! { <TokenTable list confirming revoke /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// A new token's secret, shown this once, with a copy button.
#[component]
fn SecretBox(token: CreatedToken, on_done: Callback<()>) -> impl IntoView {
    let copied = RwSignal::new(None::<bool>);
    let secret = token.secret.clone();
    let copy = move |_| {
        let ok = copy_to_clipboard(&secret);
        copied.set(Some(ok));
    };
    view! {
        <div class="callout warn secret-box" role="status" data-testid="token-secret-box">
            <p>
                <strong>{format!("Copy the token “{}” now.", token.token.name)}</strong>
                " It is shown only this once: Switchboard keeps only a fingerprint of it. If it is lost, revoke it and create another."
            </p>
            <div class="secret-row">
                <code class="secret" data-testid="token-secret">{token.secret.clone()}</code>
                <button class="button" type="button" on:click=copy data-testid="token-copy">"Copy"</button>
                <button class="button secondary" type="button" on:click=move |_| on_done.run(())>"Done"</button>
            </div>
            {move || copied.get().map(|ok| if ok {
                view! { <p class="small">"Copied to the clipboard."</p> }.into_any()
            } else {
                view! { <p class="small">"The browser did not allow copying: select the token and press Ctrl+C."</p> }.into_any()
            })}
        </div>
    }
}

/// Puts `text` on the clipboard (`navigator.clipboard.writeText`); false when the browser has no
/// clipboard for this page.
fn copy_to_clipboard(text: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::{JsCast, JsValue};
        use leptos::web_sys::js_sys::{Function, Reflect};
        let Some(window) = leptos::web_sys::window() else { return false };
        let clipboard = Reflect::get(&window, &JsValue::from_str("navigator"))
            .and_then(|navigator| Reflect::get(&navigator, &JsValue::from_str("clipboard")));
        let Ok(clipboard) = clipboard.map_err(|_| ()).and_then(|c| if c.is_undefined() { Err(()) } else { Ok(c) })
        else {
            return false;
        };
        match Reflect::get(&clipboard, &JsValue::from_str("writeText")).map(|f| f.dyn_into::<Function>()) {
            Ok(Ok(write)) => write.call1(&clipboard, &JsValue::from_str(text)).is_ok(),
            _ => false,
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = text;
        false
    }
}

#[component]
fn TokenTable(
    list: Vec<TokenSummary>,
    confirming: RwSignal<Option<String>>,
    revoke: Action<String, Result<TokenSummary, ApiFailure>>,
) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="table tokens-table" data-testid="tokens-table">
                <thead>
                    <tr>
                        <th>"Name"</th>
                        <th>"Role"</th>
                        <th>"Created by"</th>
                        <th>"Created (UTC)"</th>
                        <th>"Last used (UTC)"</th>
                        <th>"Status"</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>
                    {list.into_iter().map(|token| {
                        let id = token.id.clone();
                        let (ask_id, confirm_id, is_id) = (id.clone(), id.clone(), id.clone());
                        let asking = move || confirming.with(|c| c.as_deref() == Some(is_id.as_str()));
                        let inactive = token.revoked || token.suspended;
                        view! {
                            <tr data-testid="token-row" data-token=token.name.clone() class:disabled-row=inactive>
                                <td><strong>{token.name.clone()}</strong></td>
                                <td><RolePill role=token.role /></td>
                                <td class="mono small">{token.created_by.clone()}</td>
                                <td class="nowrap small">{format::short_time(&token.created_at)}</td>
                                <td class="nowrap small">
                                    {token.last_used_at.as_deref().map(format::short_time).unwrap_or_else(|| "never".into())}
                                </td>
                                <td>
                                    {if token.revoked {
                                        view! { <span class="pill neutral">"revoked"</span> }.into_any()
                                    } else if token.suspended {
                                        view! {
                                            <span class="pill warn" data-testid="token-suspended"
                                                title="Refused while the person who created it is disabled; enabling them restores it">
                                                "suspended — creator disabled"
                                            </span>
                                        }.into_any()
                                    } else {
                                        view! { <span class="pill ok">"active"</span> }.into_any()
                                    }}
                                </td>
                                <td class="nowrap">
                                    {(!token.revoked).then(|| view! {
                                        <Show when=asking.clone() fallback=move || {
                                            let ask_id = ask_id.clone();
                                            view! {
                                                <button class="button secondary" type="button" data-testid="token-revoke"
                                                    on:click=move |_| confirming.set(Some(ask_id.clone()))>
                                                    "Revoke"
                                                </button>
                                            }
                                        }>
                                            {
                                                let confirm_id = confirm_id.clone();
                                                view! {
                                                    <span class="confirm-inline">
                                                        <button class="button danger" type="button" data-testid="token-revoke-confirm"
                                                            disabled=move || revoke.pending().get()
                                                            on:click=move |_| { revoke.dispatch(confirm_id.clone()); }>
                                                            "Revoke now"
                                                        </button>
                                                        <button class="button secondary" type="button" on:click=move |_| confirming.set(None)>
                                                            "Keep"
                                                        </button>
                                                    </span>
                                                }
                                            }
                                        </Show>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
