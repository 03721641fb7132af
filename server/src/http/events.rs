//! `GET /api/events`: the event bus as a server-sent-events stream.
//!
//! Each message is one [`app::wire::LiveEvent`] as JSON in the `data:` line. A new subscriber gets a
//! heartbeat at once, so the console turns live without waiting for the next tick. Keep-alive comments
//! hold idle proxies open; the stream ends when the server shuts down, and when the caller's access
//! ends — session signed out, expired or ended by an admin, user disabled, token revoked or suspended.
//! The stream checks its caller at once on every `auth::AccessChanges` signal of this process (raised
//! by those changes) and every `AuthConfig::recheck_streams_every` (15 s, for changes made on other
//! nodes): a disabled user's tab stops receiving immediately.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use futures::stream::{self, Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

use app::wire::LiveEvent;

use crate::auth::Principal;
use crate::state::AppState;

pub async fn stream(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let bus = state.events;
    let every = state.access.config.recheck_streams_every;
    let signed_out = crate::auth::until_signed_out(state.access.clone(), principal, every);
    // Subscribe before taking the first heartbeat so nothing published in between is missed.
    let receiver = bus.subscribe();
    let first = LiveEvent::Heartbeat(bus.current_heartbeat());
    let live = BroadcastStream::new(receiver).filter_map(|received| async move {
        // A lagging subscriber skips what it missed; the stream itself goes on.
        received.ok()
    });
    let events = stream::once(async move { first })
        .chain(live)
        .filter_map(|event| async move { to_sse(&event) })
        .map(Ok)
        .take_until(async move {
            tokio::select! {
                () = bus.stopping() => {}
                () = signed_out => {}
            }
        });
    Sse::new(events).keep_alive(KeepAlive::default())
}

fn to_sse(event: &LiveEvent) -> Option<Event> {
    match Event::default().json_data(event) {
        Ok(message) => Some(message),
        Err(error) => {
            tracing::error!(%error, "cannot encode a live event");
            None
        }
    }
}
