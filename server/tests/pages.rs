//! Console pages rendered on the server, through the router without a socket.
//!
//! One test, in its own test binary, on one runtime: Leptos's server rendering has stalled (about one
//! run in ten) when pages of several applications were rendered from several test runtimes of one
//! process — a situation only tests create (the server has one application and one runtime).

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use support::{serve_args, TempSqlite};
use switchboard::http::router;
use switchboard::serve::build_state;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_are_rendered_on_the_server() {
    let temp = TempSqlite::new();
    let state = build_state(&serve_args(&temp.url, temp.folder.path().join("site"))).await.expect("state");
    let app = router(state.clone());
    let page = |uri: &'static str| {
        let app = app.clone();
        async move {
            let response = app.oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8(bytes.to_vec()).unwrap())
        }
    };

    // Navigation and footer, readable without JavaScript.
    let (status, html) = page("/").await;
    assert_eq!(status, StatusCode::OK);
    for expected in ["Overview", "Instances", "Definitions", "SLA", "Bottlenecks", "Interventions", "Services"] {
        assert!(html.contains(&format!("<span>{expected}<!")), "navigation entry {expected} missing");
    }
    assert!(html.contains("/pkg/switchboard.js"), "the page loads the hydration bundle");
    assert!(html.contains("SQLite"), "the footer names the backend");
    assert!(html.contains(env!("CARGO_PKG_VERSION")), "the footer names the version");
    assert!(html.contains("No workflow activity yet"), "an empty database shows the empty state");

    let (status, html) = page("/instances").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No workflow instances yet"));

    // Unknown pages are a 404 page.
    let (status, html) = page("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Page not found"));

    // The overview counts instances by status.
    let noop = serde_json::json!({"name": "noop", "start_at": "done", "states": {"done": {"type": "succeed"}}});
    state.runtime.register_definition(noop, "test").await.unwrap();
    for _ in 0..3 {
        let request = switchboard::runtime::StartRequest { workflow: "noop".into(), ..Default::default() };
        let started = state.runtime.start_instance(request).await.unwrap();
        assert_eq!(started.instance.status, "completed");
    }
    let (_, html) = page("/").await;
    assert!(html.contains(r#"data-testid="instance-counts""#), "tiles replace the empty state");
    assert!(html.contains(r#"data-status="completed" class="tile ok"><p class="tile-value">3<"#), "three completed");
    assert!(html.contains("3 instances in all"));
    state.events.shut_down();
}
