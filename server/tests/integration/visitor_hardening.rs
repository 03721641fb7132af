//! Issue 14, items 9–14 ("Hardening: hostile input, hostile visitors"), through the real router and
//! guard, as a visitor's browser or script would meet them:
//!
//! - 9: after sign-in, only a normalized path on this site is followed (the form's redirect and the
//!   sign-in page's link);
//! - 10: failed sign-ins slow down a (username, client address) pair with growing delays, and nobody
//!   else; `X-Forwarded-For` counts only when trusted;
//! - 11: sign-in bodies are a few kB, other bodies at most 1 MiB, identifiers their documented length;
//! - 12: password checks pass a bounded gate: past it, 503 with `Retry-After`;
//! - 13: security headers on pages and the API, the CSP nonce on every inline script;
//! - 14: a disabled user's API tokens are suspended (and restored when they are enabled again), and
//!   their open event streams end at once.
//!
//! Requests name the host `switchboard.test`; POSTs carry the origin `http://switchboard.test`. The
//! client's address is set the way `switchboard serve` sets it, as axum's `ConnectInfo`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use futures::stream::{FuturesUnordered, StreamExt};
use http_body_util::BodyExt;
use serde_json::{json, Value};

use app::wire::Role;
use crate::support::reply::Reply;
use crate::support::site::{Sent, Site, ELSEWHERE, HERE, PASSWORD};
use switchboard::auth::password::HashGate;
use switchboard::db::{Database, DatabaseUrl};
use switchboard::services::Registry;

/// Moves every failed sign-in of the throttle `by_ms` into the past (instead of waiting).
async fn age_failures(database: &Database, by_ms: i64) {
    let sql = "UPDATE sign_in_failures SET at = at - $1";
    match database {
        Database::Sqlite(pool) => sqlx::query(sql).bind(by_ms).execute(pool).await.map(|_| ()).unwrap(),
        Database::Postgres(pool) => sqlx::query(sql).bind(by_ms).execute(pool).await.map(|_| ()).unwrap(),
    }
}

/// An open event stream, once its first event (a heartbeat) has arrived: it is live.
async fn live_stream(response: Response<Body>) -> Body {
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let first = tokio::time::timeout(Duration::from_secs(10), body.frame()).await.expect("a first event in time");
    let first = first.expect("the stream is open").expect("a frame").into_data().expect("data");
    assert!(String::from_utf8_lossy(&first).contains("heartbeat"), "the first event is a heartbeat");
    body
}

/// Whether an event stream ends within `within`.
async fn stream_ends(body: Body, within: Duration) -> bool {
    tokio::time::timeout(within, body.collect()).await.is_ok()
}

// ---------------------------------------------------------------------------------------------------
// Item 9: open redirect after sign-in.

/// Issue 14, item 9: the form's `next` is followed only when it is a normalized path on this site —
/// `/\t/evil.example` (which a browser makes `//evil.example`, another host), `javascript:`, `//host`
/// and `/\host` all go to `/`, after success and after failure alike.
async fn sign_in_redirects_stay_on_this_site(url: DatabaseUrl) {
    let site = Site::on(&url).await;
    let hostile = [
        "/\t/evil.example",
        "/\n/evil.example",
        "javascript:alert(1)",
        "//evil.example",
        "/\\evil.example",
        "/..//evil.example",
    ];
    for (n, hostile) in hostile.into_iter().enumerate() {
        let (status, location) =
            site.form_sign_in(&[("username", "admin"), ("password", PASSWORD), ("next", hostile)]).await;
        assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/"), "next={hostile:?}");
        let nobody = format!("nobody-{n}"); // one each: a sixth failure of one name would be throttled
        let (status, location) =
            site.form_sign_in(&[("username", &nobody), ("password", "wrong password!"), ("next", hostile)]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(location.starts_with("/sign-in?") && location.ends_with("&next=%2F"), "next={hostile:?}: {location}");
    }
    let (status, location) =
        site.form_sign_in(&[("username", "admin"), ("password", PASSWORD), ("next", "/instances?status=failed")]).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/instances?status=failed"));
}
on_both!(sign_in_redirects_stay_on_this_site);

// ---------------------------------------------------------------------------------------------------
// Item 10: the sign-in throttle.

/// Issue 14, item 10: someone guessing `admin`'s password from one address slows down that address only,
/// with delays that grow; `admin` signs in from elsewhere meanwhile. A forged `X-Forwarded-For` changes
/// nothing unless the server trusts it (behind its own proxy); then it is the client's address.
async fn failed_sign_ins_slow_down_one_address_only(url: DatabaseUrl) {
    let site = Site::on(&url).await;
    let here = Sent::from(HERE);
    for attempt in 1..=5 {
        let (reply, _) = site.sign_in("admin", "not the password", &here).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "free failure {attempt}");
    }
    // The sixth try from here, even with the right password, has to wait.
    let (reply, first_wait) = site.sign_in("admin", PASSWORD, &here).await;
    reply.error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", &["try again in"], &[]);
    let first_wait = first_wait.expect("Retry-After");
    assert!((1..=2).contains(&first_wait), "{first_wait}");
    // …so does one that claims to be someone else: the peer's address counts, not the header.
    let forged = Sent::from(HERE).with("x-forwarded-for", "192.0.2.44");
    assert_eq!(site.sign_in("admin", PASSWORD, &forged).await.0.status, StatusCode::TOO_MANY_REQUESTS);

    // Admin, elsewhere, is not locked out by those guesses — nor is a request of unknown origin.
    assert_eq!(site.sign_in("admin", PASSWORD, &Sent::from(ELSEWHERE)).await.0.status, StatusCode::OK);
    assert_eq!(site.sign_in("admin", PASSWORD, &Sent::default()).await.0.status, StatusCode::OK);

    // Once the wait is over, one more failure makes the next wait longer.
    age_failures(site.database(), 3_000).await;
    assert_eq!(site.sign_in("admin", "not the password", &here).await.0.status, StatusCode::UNAUTHORIZED);
    let (reply, second_wait) = site.sign_in("admin", PASSWORD, &here).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    let second_wait = second_wait.expect("Retry-After");
    assert!(second_wait > first_wait && second_wait <= 4, "{first_wait} then {second_wait}");
    // Past the window, failures are forgotten.
    age_failures(site.database(), 16 * 60_000).await;
    assert_eq!(site.sign_in("admin", PASSWORD, &here).await.0.status, StatusCode::OK);

    // Behind a trusted proxy, the last X-Forwarded-For entry is the client.
    let proxied = site.reconfigured(|config| config.trust_forwarded_for = true);
    let through_proxy =
        |client: &str| Sent::from([10, 0, 0, 2]).with("x-forwarded-for", &format!("192.0.2.1, {client}"));
    for _ in 0..5 {
        let (reply, _) = proxied.sign_in("admin", "not the password", &through_proxy("192.0.2.50")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        proxied.sign_in("admin", PASSWORD, &through_proxy("192.0.2.50")).await.0.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(proxied.sign_in("admin", PASSWORD, &through_proxy("192.0.2.51")).await.0.status, StatusCode::OK);

    // Every failure is in the audit trail, with the address it came from.
    let admin = Sent::cookie(&site.session("admin").await);
    let entries = site.sign_in_entries(&admin).await;
    let failed: Vec<&Value> = entries.iter().filter(|e| e["outcome"] == "wrong password").collect();
    assert_eq!(failed.len(), 11, "{entries:#?}");
    assert!(failed.iter().any(|e| e["after"]["remote"] == "203.0.113.9"), "{failed:#?}");
    assert!(failed.iter().any(|e| e["after"]["remote"] == "192.0.2.50"), "{failed:#?}");
}
on_both!(failed_sign_ins_slow_down_one_address_only);

// ---------------------------------------------------------------------------------------------------
// Item 11: bodies and identifiers.

/// Issue 14, item 11: a sign-in body past 4 KiB is refused (413) before anything is stored, and so is a
/// username longer than any user's (422 naming it); the user and token routes take at most 1 MiB, and
/// usernames, display names and token names their documented lengths.
async fn nobody_grows_the_database_through_sign_in_or_access_routes(url: DatabaseUrl) {
    let site = Site::on(&url).await;
    let admin = Sent::cookie(&site.session("admin").await);
    let entries_before = site.sign_in_entries(&admin).await.len();

    let huge = "u".repeat(1_900_000);
    let (reply, _) = site.sign_in(&huge, "whatever password", &Sent::from(HERE)).await;
    reply.error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", &["length limit"], &[]);
    let (status, _) = site.form_sign_in(&[("username", huge.as_str()), ("password", "whatever password")]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let long = "u".repeat(65);
    let (reply, _) = site.sign_in(&long, "whatever password", &Sent::from(HERE)).await;
    reply.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", &["64 characters"], &["username"]);
    assert_eq!(site.sign_in_entries(&admin).await.len(), entries_before, "nothing was written");
    // The longest possible username is still an ordinary failed sign-in.
    let (reply, _) = site.sign_in(&"u".repeat(64), "whatever password", &Sent::from(HERE)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);

    let big =
        json!({"username": "sam", "role": "support", "password": PASSWORD, "display_name": "d".repeat(1_500_000)});
    site.post("/api/users", &admin, big).await.error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", &[], &[]);
    let big_token = json!({"name": "n".repeat(1_500_000), "role": "support"});
    site.post("/api/tokens", &admin, big_token).await.error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", &[], &[]);
    let user = |username: String, display_name: String| json!({"username": username, "role": "support", "password": PASSWORD, "display_name": display_name});
    site.post("/api/users", &admin, user("u".repeat(65), "Sam".into())).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["64"],
        &["username"],
    );
    site.post("/api/users", &admin, user("sam".into(), "d".repeat(101))).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["100"],
        &["display_name"],
    );
    site.post("/api/tokens", &admin, json!({"name": "n".repeat(65), "role": "support"})).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        &["64"],
        &["name"],
    );
    let fits = site.post("/api/users", &admin, user("u".repeat(64), "d".repeat(100))).await;
    assert_eq!(fits.status, StatusCode::CREATED, "{}", fits.text);
}
on_both!(nobody_grows_the_database_through_sign_in_or_access_routes);

// ---------------------------------------------------------------------------------------------------
// Item 12: bounded password hashing.

/// Issue 14, item 12: password checks go through a gate of a fixed size with a short queue; sign-ins
/// past it are answered at once with 503, `Retry-After` and the error shape — never more hashes at once
/// than the gate allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_checks_are_bounded() {
    let temp = crate::support::TempSqlite::new();
    let mut state = crate::support::state_with(&temp.url, Registry::new()).await;
    let gate = HashGate::new(1, 1);
    state.access.hashing = gate.clone();
    let site = Site::with_state(state);

    // Hold the gate's only slot, as a long hash would.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let holder = tokio::spawn({
        let gate = gate.clone();
        async move { gate.run(move || held.recv().unwrap()).await }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while gate.running() < 1 {
        assert!(std::time::Instant::now() < deadline, "the holder never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Eight sign-ins with made-up usernames at once: one waits in the queue, seven are turned away.
    let site = Arc::new(site);
    let mut attempts: FuturesUnordered<_> = (0..8u8)
        .map(|n| {
            let site = site.clone();
            async move { site.sign_in(&format!("nobody-{n}"), "whatever password", &Sent::from([192, 0, 2, n])).await }
        })
        .collect();
    for _ in 0..7 {
        let (reply, retry_after) = attempts.next().await.unwrap();
        reply.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &["busy"], &[]);
        assert_eq!(retry_after, Some(1));
    }
    release.send(()).unwrap();
    assert_eq!(holder.await.unwrap(), Ok(()));
    let (queued, _) = attempts.next().await.unwrap();
    assert_eq!(queued.status, StatusCode::UNAUTHORIZED, "the queued one was checked: {}", queued.text);
    assert_eq!(gate.peak(), 1, "never more than one hash at once");
}

// ---------------------------------------------------------------------------------------------------
// Item 14: disabling a user.

/// Issue 14, item 14: the API tokens a person created (directly, or with one of their tokens) are
/// suspended while they are disabled and work again when they are enabled — except those revoked; the
/// token list says so. Their open event streams, by session or by token, end at once (the periodic
/// check is 15 s).
async fn disabling_a_user_suspends_their_tokens_and_ends_their_streams(url: DatabaseUrl) {
    let site = Site::on(&url).await;
    assert_eq!(site.state.access.config.recheck_streams_every, Duration::from_secs(15));
    let admin = Sent::cookie(&site.session("admin").await);
    site.user(&admin, "carol", Role::Admin).await;
    let carol = Sent::cookie(&site.session("carol").await);
    let token = |name: &str, role: &str, by: Sent| {
        let site = &site;
        let name = name.to_string();
        let role = role.to_string();
        async move {
            let created = site.post("/api/tokens", &by, json!({"name": name, "role": role})).await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
            (
                created.body["token"]["id"].as_str().unwrap().to_string(),
                created.body["secret"].as_str().unwrap().to_string(),
            )
        }
    };
    let (_, bot) = token("carol-bot", "admin", carol.clone()).await;
    let (_, nested) = token("carol-nested", "support", Sent::token(&bot)).await;
    let (old_id, old) = token("carol-old", "support", carol.clone()).await;
    let (_, admins) = token("admin-bot", "support", admin.clone()).await;
    assert_eq!(site.post(&format!("/api/tokens/{old_id}/revoke"), &admin, json!({})).await.status, StatusCode::OK);
    for secret in [&bot, &nested] {
        assert_eq!(site.get("/api/auth/me", &Sent::token(secret)).await.status, StatusCode::OK);
    }

    let open = |sent: Sent| {
        let site = &site;
        async move { live_stream(site.raw(Site::request("GET", "/api/events", &sent, None, Body::empty())).await).await }
    };
    let by_session = open(carol.clone()).await;
    let by_token = open(Sent::token(&nested)).await;
    let admins_stream = open(Sent::token(&admins)).await;

    let disabled = site.post("/api/users/carol", &admin, json!({"disabled": true})).await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
    let within = Duration::from_secs(5);
    assert!(stream_ends(by_session, within).await, "carol's session stream ends at once");
    assert!(stream_ends(by_token, within).await, "the stream of carol's token ends at once");
    assert!(!stream_ends(admins_stream, Duration::from_millis(300)).await, "others stream on");

    for secret in [&bot, &nested] {
        site.get("/api/auth/me", &Sent::token(secret)).await.error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            &["suspended", "disabled"],
            &[],
        );
    }
    assert_eq!(site.get("/api/auth/me", &Sent::token(&admins)).await.status, StatusCode::OK);
    let listed = site.get("/api/tokens", &admin).await;
    let state_of = |listed: &Reply, name: &str| {
        let token = listed.body.as_array().unwrap().iter().find(|t| t["name"] == name).cloned().unwrap();
        (token["revoked"].as_bool().unwrap(), token["suspended"].as_bool().unwrap())
    };
    assert_eq!(state_of(&listed, "carol-bot"), (false, true));
    assert_eq!(state_of(&listed, "carol-nested"), (false, true));
    assert_eq!(state_of(&listed, "carol-old"), (true, false), "revoked is what it is");
    assert_eq!(state_of(&listed, "admin-bot"), (false, false));

    let enabled = site.post("/api/users/carol", &admin, json!({"disabled": false})).await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.text);
    for secret in [&bot, &nested] {
        assert_eq!(site.get("/api/auth/me", &Sent::token(secret)).await.status, StatusCode::OK, "restored");
    }
    site.get("/api/auth/me", &Sent::token(&old)).await.error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        &["revoked"],
        &[],
    );
    let listed = site.get("/api/tokens", &admin).await;
    assert_eq!(state_of(&listed, "carol-bot"), (false, false));
    assert_eq!(state_of(&listed, "carol-old"), (true, false));
}
on_both!(disabling_a_user_suspends_their_tokens_and_ends_their_streams);

/// Issue 14, item 14: signing out or revoking a token ends its open streams at once too.
async fn signing_out_and_revoking_end_streams_at_once(url: DatabaseUrl) {
    let site = Site::on(&url).await;
    let admin = Sent::cookie(&site.session("admin").await);
    let leaving = Sent::cookie(&site.session("admin").await);
    let created = site.post("/api/tokens", &admin, json!({"name": "watcher", "role": "support"})).await;
    let (id, secret) = (created.body["token"]["id"].as_str().unwrap(), created.body["secret"].as_str().unwrap());
    let by_session =
        live_stream(site.raw(Site::request("GET", "/api/events", &leaving, None, Body::empty())).await).await;
    let by_token =
        live_stream(site.raw(Site::request("GET", "/api/events", &Sent::token(secret), None, Body::empty())).await)
            .await;
    assert_eq!(site.post("/api/auth/sign-out", &leaving, json!({})).await.status, StatusCode::NO_CONTENT);
    assert!(stream_ends(by_session, Duration::from_secs(5)).await, "ends on sign-out");
    assert_eq!(site.post(&format!("/api/tokens/{id}/revoke"), &admin, json!({})).await.status, StatusCode::OK);
    assert!(stream_ends(by_token, Duration::from_secs(5)).await, "ends on revocation");
}
on_both!(signing_out_and_revoking_end_streams_at_once);
