//! Console pages rendered on the server: a test binary of its own, with one test on one runtime.
//!
//! Leptos's server rendering has stalled (about one run in ten) when pages of several applications
//! were rendered from several test runtimes of one process — a situation only tests create (the server
//! has one application and one runtime). So everything that renders pages runs here, one check after
//! the other on a single runtime, apart from the `integration` binary.

#[path = "../integration/support/mod.rs"]
#[macro_use]
mod support;

mod console;
mod security_headers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_render_with_their_links_and_headers() {
    console::console_pages_are_rendered_on_the_server().await;
    security_headers::pages_link_only_here_and_carry_the_security_headers().await;
}
