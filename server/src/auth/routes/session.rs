//! Sign-in (JSON or an HTML form; throttled per username and client address, password checks through
//! the hash gate), sign-out, who am I.

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;

use app::wire::{local_path, CurrentUser, Role, SignIn, USERNAME_MAX_CHARS};

use super::{encode, is_form};
use crate::auth::guard::{over_tls, see_other, session_set_cookie};
use crate::auth::throttle::{client_address, in_words, throttle_key};
use crate::auth::{millis, now_ms, password, secret, Principal, Via};
use crate::error::ApiError;
use crate::http::json::Body;
use crate::http::time::rfc3339;
use crate::state::AppState;
use crate::store::AuditRow;
use crate::store::access::SessionRow;

/// How long a caller turned away by a full hash gate is asked to wait.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// `POST /api/auth/sign-in`.
pub(super) async fn sign_in(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let form = is_form(request.headers());
    let headers = request.headers().clone();
    let uri = request.uri().clone();
    let access = &state.access;
    let client = client_address(&headers, request.extensions(), access.config.trust_forwarded_for);
    let body: SignIn = if form {
        axum::extract::Form::<SignIn>::from_request(request, &state)
            .await
            .map_err(|rejection| ApiError::Invalid {
                // 413 for a body past the limit, 400 or 422 for one that cannot be read.
                status: rejection.status(),
                message: format!("cannot read the sign-in form: {}", rejection.body_text()),
                fields: Vec::new(),
            })?
            .0
    } else {
        Body::<SignIn>::from_request(request, &state).await?.0
    };
    let next = local_path(body.next.as_deref());
    let fail = |status: ApiError, message: &str, username: &str| -> Response {
        if form {
            see_other(&format!(
                "/sign-in?error={}&username={}&next={}",
                encode(message),
                encode(username),
                encode(&next)
            ))
        } else {
            status.into_response()
        }
    };

    let username = body.username.trim().to_string();
    if username.is_empty() || body.password.is_empty() {
        let message = "enter your username and password";
        return Ok(fail(ApiError::unprocessable(message, Vec::new()), message, &username));
    }
    // Nobody has a longer one; refused before anything is looked up or written (nor echoed back).
    if username.chars().count() > USERNAME_MAX_CHARS {
        let problem = format!("must be at most {USERNAME_MAX_CHARS} characters");
        let message = format!("username: {problem}");
        return Ok(fail(ApiError::invalid_fields(vec![crate::error::field("username", problem)]), &message, ""));
    }
    let now = now_ms();
    let rules = &access.config.throttle;
    let client_key = throttle_key(client);
    let failures =
        access.store.sign_in_failures(&username, &client_key, now - millis(rules.window)).await.map_err(ApiError::from)?;
    if let Some(wait) = rules.wait(failures, now) {
        let message = format!("too many failed sign-ins for {username} from here; try again in {}", in_words(wait));
        let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let error = ApiError::TooManyRequests { message: message.clone(), retry_after_secs };
        return Ok(fail(error, &message, &username));
    }

    let user = access.store.user_by_name(&username).await.map_err(ApiError::from)?;
    let password_given = body.password.clone();
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    // argon2 is deliberately slow: off the async threads, through the gate that bounds how many run.
    // Unknown users are checked against a decoy, so a wrong username takes as long as a wrong password.
    let checked = access
        .hashing
        .run(move || password::verify(&password_given, stored.as_deref().unwrap_or_else(|| password::decoy())))
        .await;
    let Ok(matches) = checked else {
        let message = "the server is busy checking other sign-ins; try again in a moment";
        let error = ApiError::Busy { message: message.into(), retry_after_secs: BUSY_RETRY_AFTER_SECS };
        return Ok(fail(error, message, &username));
    };
    let refusal = match &user {
        None => Some("unknown username"),
        Some(_) if !matches => Some("wrong password"),
        Some(u) if u.disabled_at.is_some() => Some("account disabled"),
        Some(_) => None,
    };
    let remote = client.map(|address| address.to_string());
    if let Some(refusal) = refusal {
        // Counted from when the check ended, not when the request came in (a check takes a while).
        let now = now_ms();
        let entry = AuditRow::ok(&username, "session.sign_in", "session", &username, now)
            .outcome(refusal)
            .after(&json!({ "remote": remote }));
        let forget_before = now - millis(rules.window);
        access.store.record_failed_sign_in(&username, &client_key, forget_before, &entry).await.map_err(ApiError::from)?;
        let message = if refusal == "account disabled" {
            "this account is disabled; ask an admin"
        } else {
            "wrong username or password"
        };
        return Ok(fail(ApiError::Unauthorized(message.into()), message, &username));
    }
    let user = user.expect("refused above when absent");
    let role = Role::parse(&user.role).ok_or_else(|| ApiError::Internal(anyhow::anyhow!("role {}", user.role)))?;

    let token = secret::random_token();
    let absolute = millis(access.config.absolute);
    let session = SessionRow {
        id_hash: secret::hash(&token),
        user_id: user.id.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + absolute,
        ended_at: None,
        remote: remote.clone(),
    };
    let entry = AuditRow::ok(&user.username, "session.sign_in", "session", &user.username, now)
        .after(&json!({ "role": user.role, "expires_at": rfc3339(now + absolute), "remote": remote }));
    access.store.create_session(&session, &entry).await.map_err(ApiError::from)?;

    let cookie =
        session_set_cookie(Some(&token), absolute / 1000, over_tls(&headers, &uri, access.config.secure_cookies));
    let mut response = if form {
        see_other(&next)
    } else {
        let principal = Principal {
            name: user.username.clone(),
            display_name: user.display_name.clone(),
            role,
            via: Via::Session { id_hash: session.id_hash.clone() },
        };
        Json(principal.current_user()).into_response()
    };
    response.headers_mut().append(header::SET_COOKIE, cookie.parse().expect("cookie text is ASCII"));
    Ok(response)
}

/// `POST /api/auth/sign-out`: ends the session on the server and clears the cookie.
pub(super) async fn sign_out(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let Via::Session { id_hash } = &principal.via else {
        return Err(ApiError::Conflict("an API token has no session to end; an admin revokes tokens".into()));
    };
    let now = now_ms();
    let entry = AuditRow::ok(&principal.name, "session.sign_out", "session", &principal.name, now);
    state.access.store.end_session(id_hash, now, &entry).await.map_err(ApiError::from)?;
    state.access.changes.announce(); // this session's open streams end now
    let cookie = session_set_cookie(None, 0, over_tls(&headers, &uri, state.access.config.secure_cookies));
    let mut response =
        if is_form(&headers) { see_other("/sign-in?signed_out=1") } else { StatusCode::NO_CONTENT.into_response() };
    response.headers_mut().append(header::SET_COOKIE, cookie.parse().expect("cookie text is ASCII"));
    Ok(response)
}

/// `GET /api/auth/me`.
pub(super) async fn me(Extension(principal): Extension<Principal>) -> Json<CurrentUser> {
    Json(principal.current_user())
}
