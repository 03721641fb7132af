//! The HTTP service adapter against a real local HTTP server: what it sends, and how it classifies
//! every kind of answer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use engine::ErrorKind;
use switchboard::services::{HttpService, Service, ServiceRequest};

/// One request as the server saw it: action, idempotency key header, body.
type Request = (String, Option<String>, Value);

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Request>>>, Arc<Mutex<Vec<HeaderMap>>>);

async fn handler(
    State(seen): State<Seen>,
    Path(action): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, String) {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    seen.0.lock().unwrap().push((action.clone(), key, body));
    seen.1.lock().unwrap().push(headers.clone());
    match action.as_str() {
        "ok" => (StatusCode::OK, r#"{"reservation":"r-1"}"#.into()),
        "empty" => (StatusCode::NO_CONTENT, String::new()),
        "garbled" => (StatusCode::OK, "not json".into()),
        "busy" => (StatusCode::SERVICE_UNAVAILABLE, "try later".into()),
        "throttled" => (StatusCode::TOO_MANY_REQUESTS, "slow down".into()),
        "timeout" => (StatusCode::REQUEST_TIMEOUT, "gave up".into()),
        "crashed" => (StatusCode::INTERNAL_SERVER_ERROR, "boom".into()),
        "bad" => (StatusCode::BAD_REQUEST, "amount must be positive".into()),
        "gone" => (StatusCode::NOT_FOUND, "no such buyer".into()),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            (StatusCode::OK, "{}".into())
        }
        _ => (StatusCode::NOT_FOUND, "unknown action".into()),
    }
}

async fn serve() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new().route("/svc/{action}", post(handler)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/svc", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

fn request(action: &str, timeout: Duration) -> ServiceRequest {
    ServiceRequest {
        action: action.into(),
        input: json!({"amount": 12}),
        idempotency_key: format!("inst-1:{action}:1"),
        timeout,
        origin: Default::default(),
    }
}

/// Every action the test server answers.
fn actions() -> Vec<String> {
    ["ok", "empty", "busy", "throttled", "timeout", "crashed", "bad", "gone", "garbled", "slow"]
        .map(String::from)
        .to_vec()
}

#[tokio::test]
async fn success_posts_json_with_the_idempotency_key() {
    let (base, seen) = serve().await;
    let service = HttpService::new(format!("{base}/"), actions());
    let output = service.call(request("ok", Duration::from_secs(5))).await.unwrap();
    assert_eq!(output, json!({"reservation": "r-1"}));
    let calls = seen.0.lock().unwrap().clone();
    assert_eq!(calls, [("ok".to_string(), Some("inst-1:ok:1".to_string()), json!({"amount": 12}))]);
    assert_eq!(service.call(request("empty", Duration::from_secs(5))).await.unwrap(), Value::Null);
}

#[tokio::test]
async fn the_caller_is_named_in_headers() {
    let (base, seen) = serve().await;
    let service = HttpService::new(base, actions());
    let mut call = request("ok", Duration::from_secs(5));
    call.origin = switchboard::services::CallOrigin {
        instance_id: "inst-1".into(),
        state: "reserve".into(),
        attempt: 2,
        compensation: true,
    };
    service.call(call).await.unwrap();
    let headers = seen.1.lock().unwrap()[0].clone();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(header("switchboard-instance-id"), "inst-1");
    assert_eq!(header("switchboard-state"), "reserve");
    assert_eq!(header("switchboard-attempt"), "2");
    assert_eq!(header("switchboard-step-kind"), "compensation");
    assert_eq!(header("content-type"), "application/json");
}

#[tokio::test]
async fn answers_are_classified_for_the_engine() {
    let (base, _) = serve().await;
    let service = HttpService::new(base, actions());
    for (action, kind) in [
        ("busy", ErrorKind::Retryable),
        ("throttled", ErrorKind::Retryable),
        ("timeout", ErrorKind::Retryable),
        ("crashed", ErrorKind::Retryable),
        ("bad", ErrorKind::Permanent),
        ("gone", ErrorKind::Permanent),
        ("garbled", ErrorKind::Permanent),
    ] {
        let error = service.call(request(action, Duration::from_secs(5))).await.unwrap_err();
        assert_eq!(error.kind, kind, "{action}: {}", error.message);
        assert!(error.message.contains(&format!("/svc/{action}")), "the message names the call: {}", error.message);
    }
    let bad = service.call(request("bad", Duration::from_secs(5))).await.unwrap_err();
    assert!(bad.message.contains("amount must be positive"), "the service's words are kept: {}", bad.message);
}

#[tokio::test]
async fn no_answer_in_time_is_a_timeout_and_no_server_is_retryable() {
    let (base, _) = serve().await;
    let service = HttpService::new(base, actions());
    let error = service.call(request("slow", Duration::from_millis(200))).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout, "{}", error.message);

    // Nothing listens on port 1.
    let nowhere = HttpService::new("http://127.0.0.1:1/svc", actions());
    let error = nowhere.call(request("ok", Duration::from_secs(2))).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Retryable, "{}", error.message);
}

#[tokio::test]
async fn only_declared_actions_are_posted_and_never_a_path() {
    let (base, seen) = serve().await;
    let service = HttpService::new(base, actions());
    for action in ["../admin?x=1", "", "undeclared", "ok/../admin"] {
        let error = service.call(request(action, Duration::from_secs(5))).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::Permanent, "{action}: {}", error.message);
        assert!(error.message.contains("is not an action of this service"), "{action}: {}", error.message);
    }
    assert!(seen.0.lock().unwrap().is_empty(), "nothing reached the service");
}
