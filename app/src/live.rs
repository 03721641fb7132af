//! The live feed: one server-sent-events connection per browser tab, shared by every page.
//!
//! [`provide_live_feed`] puts a [`LiveFeed`] into context. On the server it stays in
//! [`Connection::Connecting`] (nothing streams during server rendering); in the browser, once hydrated,
//! it opens an `EventSource` on `/api/events` and turns each [`LiveEvent`] into signal updates. The
//! browser reconnects by itself after a drop; the feed shows that as [`Connection::Reconnecting`].
//!
//! Pages read the signals with `use_context::<LiveFeed>()`; they never open connections of their own.
//! Changes come in numbered logs ([`ChangeLog`]): [`on_instance_change`] and [`on_intervention_change`]
//! hand a page every change; [`inbox_refresh_tick`] turns inbox changes into at most one refetch per
//! heartbeat (a bulk resolve sends hundreds at once).

use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::wire::LiveEvent;
use crate::wire::{Heartbeat, InstanceChange, InterventionChange, SlaChange};

/// The state of the tab's connection to `/api/events`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Not connected yet: server rendering, or the browser still loading the bundle.
    Connecting,
    /// Events are flowing.
    Live,
    /// The stream dropped; the browser is retrying.
    Reconnecting,
}

impl Connection {
    /// Short words for the status pill.
    pub fn label(self) -> &'static str {
        match self {
            Connection::Connecting => "Connecting…",
            Connection::Live => "Live",
            Connection::Reconnecting => "Reconnecting…",
        }
    }

    /// The CSS modifier for the status pill.
    pub fn css_class(self) -> &'static str {
        match self {
            Connection::Connecting => "live-pill connecting",
            Connection::Live => "live-pill live",
            Connection::Reconnecting => "live-pill reconnecting",
        }
    }
}

/// Signals fed by the tab's event stream.
#[derive(Clone, Copy)]
pub struct LiveFeed {
    /// Whether events are flowing.
    pub connection: RwSignal<Connection>,
    /// The latest heartbeat from the server, if any arrived yet.
    pub heartbeat: RwSignal<Option<Heartbeat>>,
    /// The recent instance changes, numbered: several can arrive between two renders, and a page that
    /// follows many instances must see each one ([`InstanceLog::since`]), not only the latest.
    pub instances: RwSignal<InstanceLog>,
    /// The latest SLA breach or recovery; the overview and the SLA page react to it.
    pub sla: RwSignal<Option<SlaChange>>,
    /// The recent inbox changes (opened, claimed, assigned, unassigned, resolved), numbered like
    /// `instances`; the inbox and the navigation's count follow them.
    pub interventions: RwSignal<ChangeLog<InterventionChange>>,
}

/// The recent instance changes.
pub type InstanceLog = ChangeLog<InstanceChange>;

/// The last [`ChangeLog::KEEP`] changes of one kind, each with a number that increases by one.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeLog<T> {
    /// The number the next change gets; the latest has `next - 1`.
    next: u64,
    recent: std::collections::VecDeque<(u64, T)>,
}

impl<T> Default for ChangeLog<T> {
    fn default() -> Self {
        ChangeLog { next: 0, recent: std::collections::VecDeque::new() }
    }
}

impl<T> ChangeLog<T> {
    /// How many changes are kept: more than a busy second brings.
    pub const KEEP: usize = 4096;

    /// Records a change.
    pub fn push(&mut self, change: T) {
        if self.recent.len() == Self::KEEP {
            self.recent.pop_front();
        }
        self.recent.push_back((self.next, change));
        self.next += 1;
    }

    /// The number of the next change: pass it to [`ChangeLog::since`] later to get what came after.
    pub fn cursor(&self) -> u64 {
        self.next
    }

    /// The changes numbered `cursor` and later (those still kept), oldest first.
    pub fn since(&self, cursor: u64) -> impl Iterator<Item = &T> {
        // Numbers are consecutive, so the first wanted one is found by subtraction, not by a scan.
        let oldest = self.recent.front().map_or(self.next, |(n, _)| *n);
        let skip = usize::try_from(cursor.saturating_sub(oldest)).unwrap_or(usize::MAX);
        self.recent.iter().skip(skip).map(|(_, change)| change)
    }
}

/// Creates the tab's [`LiveFeed`], provides it as context, and (in the browser) connects it.
pub fn provide_live_feed() -> LiveFeed {
    let feed = LiveFeed {
        connection: RwSignal::new(Connection::Connecting),
        heartbeat: RwSignal::new(None),
        instances: RwSignal::new(InstanceLog::default()),
        sla: RwSignal::new(None),
        interventions: RwSignal::new(ChangeLog::default()),
    };
    provide_context(feed);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| browser::connect(feed));
    feed
}

/// The feed provided by [`provide_live_feed`]; panics only if a page is rendered outside [`crate::App`].
pub fn use_live_feed() -> LiveFeed {
    expect_context::<LiveFeed>()
}

#[cfg(feature = "hydrate")]
impl LiveFeed {
    fn receive(&self, event: LiveEvent) {
        self.connection.set(Connection::Live);
        match event {
            LiveEvent::Heartbeat(beat) => self.heartbeat.set(Some(beat)),
            LiveEvent::Instance(change) => self.instances.update(|log| log.push(change)),
            LiveEvent::Sla(change) => self.sla.set(Some(change)),
            LiveEvent::Intervention(change) => self.interventions.update(|log| log.push(change)),
        }
    }
}

/// Calls `each` for every instance change that arrives from now on, however many arrive at once.
pub fn on_instance_change(feed: LiveFeed, each: impl FnMut(&InstanceChange) + 'static) {
    follow(feed.instances, each);
}

/// Calls `each` for every inbox change that arrives from now on, however many arrive at once.
pub fn on_intervention_change(feed: LiveFeed, each: impl FnMut(&InterventionChange) + 'static) {
    follow(feed.interventions, each);
}

fn follow<T: Send + Sync + 'static>(log: RwSignal<ChangeLog<T>>, mut each: impl FnMut(&T) + 'static) {
    let mut seen = log.with_untracked(ChangeLog::cursor);
    Effect::new(move |_| {
        log.with(|log| {
            for change in log.since(seen) {
                each(change);
            }
            seen = log.cursor();
        });
    });
}

/// A counter that goes up on the first heartbeat after inbox changes arrived (those `relevant` says
/// matter), so a page or the navigation's count refetches at most once a second however many changes
/// come. Stays 0 while server rendering.
pub fn inbox_refresh_tick(feed: LiveFeed, relevant: impl Fn(&InterventionChange) -> bool + 'static) -> Signal<u64> {
    let tick = RwSignal::new(0u64);
    let dirty = StoredValue::new(false);
    on_intervention_change(feed, move |change| {
        if relevant(change) {
            dirty.set_value(true);
        }
    });
    Effect::new(move |_| {
        feed.heartbeat.track();
        if dirty.get_value() {
            dirty.set_value(false);
            tick.update(|n| *n += 1);
        }
    });
    tick.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: &str) -> InstanceChange {
        InstanceChange {
            id: id.into(),
            workflow: "w".into(),
            version: 1,
            status: crate::wire::InstanceStatus::Running,
            current_state: None,
            paused: false,
            error: None,
            updated_at_ms: 0,
        }
    }

    #[test]
    fn the_log_hands_out_every_change_after_a_cursor() {
        let mut log = InstanceLog::default();
        log.push(change("a"));
        let cursor = log.cursor();
        log.push(change("b"));
        log.push(change("c"));
        let ids: Vec<&str> = log.since(cursor).map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(log.since(log.cursor()).count(), 0);
    }

    #[test]
    fn the_log_keeps_a_bounded_tail() {
        let mut log = InstanceLog::default();
        for i in 0..InstanceLog::KEEP + 10 {
            log.push(change(&i.to_string()));
        }
        assert_eq!(log.since(0).count(), InstanceLog::KEEP);
        assert_eq!(log.since(0).next().unwrap().id, "10");
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::*;
    use wasm_bindgen::{closure::Closure, JsCast};
    use web_sys::{EventSource, MessageEvent};

    use super::{Connection, LiveFeed};
    use crate::wire::LiveEvent;

    /// The stream every tab subscribes to.
    const EVENTS_URL: &str = "/api/events";

    /// Opens the `EventSource` and wires its callbacks to the feed's signals. The callbacks live as long
    /// as the tab (the feed is app-wide), so they are handed to JavaScript with `forget`.
    pub(super) fn connect(feed: LiveFeed) {
        let source = match EventSource::new(EVENTS_URL) {
            Ok(source) => source,
            Err(error) => {
                leptos::logging::error!("cannot open {EVENTS_URL}: {error:?}");
                feed.connection.set(Connection::Reconnecting);
                return;
            }
        };

        let on_open = Closure::<dyn FnMut()>::new(move || feed.connection.set(Connection::Live));
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        on_open.forget();

        let on_error = Closure::<dyn FnMut()>::new(move || {
            feed.connection.set(Connection::Reconnecting);
            // The stream also ends when the session does; asking who is signed in then takes the tab
            // to the sign-in page (the client does that on any 401).
            leptos::task::spawn_local(async {
                let _ = crate::client::get::<crate::wire::CurrentUser>("/api/auth/me").await;
            });
        });
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();

        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
            let Some(text) = message.data().as_string() else {
                return;
            };
            // Unknown event types come from a newer server; skipping them keeps old tabs working.
            if let Ok(event) = serde_json::from_str::<LiveEvent>(&text) {
                feed.receive(event);
            }
        });
        source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
    }
}
