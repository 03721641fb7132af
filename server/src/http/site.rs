//! The browser bundle's static files under `/pkg`.
//!
//! The bundle's names carry no content hash (`switchboard.js`, `.wasm`, `.css`), so browsers must not
//! keep them blindly: `Cache-Control: no-cache` makes them revalidate on each load, which costs a 304
//! (ServeDir answers `If-Modified-Since`) and never serves a stale bundle after an upgrade.

use std::path::Path;

use axum::http::{header, HeaderValue};
use tower::Layer;
use tower_http::services::ServeDir;
use tower_http::set_header::{SetResponseHeader, SetResponseHeaderLayer};

use leptos::prelude::LeptosOptions;

pub fn bundle_files(options: &LeptosOptions) -> SetResponseHeader<ServeDir, HeaderValue> {
    let folder = Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))
        .layer(ServeDir::new(folder))
}
