//! Issue 14, items 9 and 13 on rendered pages: where the sign-in page sends a visitor, and the security
//! headers and CSP nonce of pages and the API.

use axum::body::Body;
use axum::http::header;
use http_body_util::BodyExt;

use crate::support::site::{Sent, Site};

/// Issue 14, items 9 and 13: the sign-in page offers no link off this site, and pages and the API carry
/// the security headers — a CSP whose nonce every inline script carries (a new one per response),
/// `frame-ancestors 'none'`, `X-Frame-Options: DENY`, `nosniff`, a referrer policy, and HSTS over TLS
/// only.
pub async fn pages_link_only_here_and_carry_the_security_headers() {
    let temp = crate::support::TempSqlite::new();
    let site = Site::on(&temp.url).await;
    let admin = Sent::cookie(&site.session("admin").await);
    let page = |uri: &'static str, sent: Sent| {
        let router = site.router.clone();
        async move {
            let response = tower::ServiceExt::oneshot(router, Site::request("GET", uri, &sent, None, Body::empty()))
                .await
                .unwrap();
            let headers = response.headers().clone();
            let html = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
            (headers, html)
        }
    };

    // Item 9: a signed-in visitor sent to /sign-in?next=javascript:… is offered "/".
    let (_, html) = page("/sign-in?next=javascript:alert(1)", admin.clone()).await;
    assert!(html.contains(r#"data-testid="already-signed-in""#), "the signed-in note is there");
    assert!(!html.contains("javascript:"), "no javascript: link or field on the page");
    assert!(html.contains(r#"href="/" rel="external""#), "Continue goes to /");
    assert!(html.contains(r#"name="next" value="/""#), "the form sends /");
    let (_, html) = page("/sign-in?next=%2F%09%2Fevil.example", admin.clone()).await;
    assert!(!html.contains("evil.example"), "nothing of the hostile next is kept");
    let (_, html) = page("/sign-in?next=%2Finstances%3Fstatus%3Dfailed", admin.clone()).await;
    assert!(html.contains(r#"href="/instances?status=failed""#), "a path on this site is kept");

    // Item 13: the page's policy and its nonce.
    let mut nonces = Vec::new();
    for (uri, sent) in [("/", admin.clone()), ("/sign-in", Sent::default()), ("/", admin.clone())] {
        let (headers, html) = page(uri, sent).await;
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("{uri}: no nonce in {policy}"))
            .to_string();
        assert!(policy.contains("'wasm-unsafe-eval'") && policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(policy.contains("object-src 'none'") && policy.contains("base-uri 'none'"), "{policy}");
        let scripts: Vec<&str> = html.split("<script").skip(1).collect();
        assert!(!scripts.is_empty(), "{uri}: the hydration script is inline");
        for script in scripts {
            let tag = &script[..script.find('>').unwrap()];
            assert!(
                tag.contains(&format!(r#"nonce="{nonce}""#)),
                "{uri}: a script without this response's nonce: <script{tag}>"
            );
        }
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::REFERRER_POLICY], "same-origin");
        assert!(!headers.contains_key(header::STRICT_TRANSPORT_SECURITY), "no HSTS over plain HTTP");
        nonces.push(nonce);
    }
    assert!(nonces[0] != nonces[1] && nonces[0] != nonces[2], "a fresh nonce per response: {nonces:?}");

    // The API and redirects get a policy that allows nothing; HSTS only over TLS.
    let (headers, _) = page("/api/health", Sent::default()).await;
    assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().starts_with("default-src 'none'"));
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let (headers, _) = page("/instances", Sent::default()).await;
    assert!(headers.contains_key(header::LOCATION) && headers.contains_key(header::CONTENT_SECURITY_POLICY));
    let (headers, _) = page("/api/health", Sent::default().with("x-forwarded-proto", "https")).await;
    assert_eq!(headers[header::STRICT_TRANSPORT_SECURITY], "max-age=31536000");
}
