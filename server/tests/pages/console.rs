//! Console pages rendered on the server, through the router without a socket.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::support::{serve_args, TempSqlite};
use switchboard::serve::build_state;

pub async fn console_pages_are_rendered_on_the_server() {
    let temp = TempSqlite::new();
    let state = build_state(&serve_args(&temp.url, temp.folder.path().join("site"))).await.expect("state");
    let app = crate::support::admin_router(&state);
    let page = |uri: &str| {
        let (app, uri) = (app.clone(), uri.to_string());
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
    assert!(html.contains("No workflow has run yet"), "an empty database says why the counters are zero");

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
    let mut ids = Vec::new();
    for _ in 0..3 {
        let request = switchboard::runtime::StartRequest { workflow: "noop".into(), ..Default::default() };
        let started = state.runtime.start_instance(request).await.unwrap();
        assert_eq!(started.instance.status, "completed");
        ids.push(started.instance.id.to_string());
    }
    let (_, html) = page("/").await;
    assert!(html.contains(r#"data-testid="instance-counts""#), "the counter tiles");
    let tile = html.find(r#"data-status="completed""#).expect("a tile for completed instances");
    assert!(html[tile..].find(r#"<p class="tile-value">3<"#).is_some_and(|at| at < 200), "three completed");
    assert!(html.contains("3 instances in all"));

    // The list shows them, filtered by the URL; the detail page draws the run's diagram on the server.
    let (status, html) = page("/instances?workflow=noop&status=completed").await;
    assert_eq!(status, StatusCode::OK);
    for id in &ids {
        assert!(html.contains(&format!(r#"data-id="{id}""#)), "instance {id} listed");
    }
    let (_, html) = page("/instances?status=failed").await;
    assert!(html.contains("No instance matches this filter"));
    let (status, html) = page(&format!("/instances/{}", ids[0])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"data-state="done""#), "the diagram is drawn on the server");
    assert!(html.contains(r#"class="node kind-succeed succeeded"#), "the end state is marked reached");
    assert!(html.contains(r#"data-status="completed""#), "the status pill");
    assert!(html.contains("This instance has finished"), "no actions on a finished run");
    let (_, html) = page("/instances/no-such-id").await;
    assert!(html.contains("No such instance"));

    // Services: a card per registered service, with its breaker.
    let (status, html) = page("/services").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"data-service="telephony""#), "the telephony card");
    assert!(html.contains("breaker closed"));
    state.events.shut_down();
}
