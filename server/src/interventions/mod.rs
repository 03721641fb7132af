//! The intervention inbox: work for people — human tasks, exhausted retries, failed compensations and
//! SLA breaches — ranked, claimed, assigned and resolved (`/api/interventions`, documented in
//! `docs/api.md`).
//!
//! The rows are opened elsewhere: by the engine (`Effect::OpenIntervention`, written with the
//! transition that asked for it) and by the SLA monitor (`sla_breach`). This module reads them and
//! acts on them:
//!
//! - [`priority`]: the pure score behind the inbox's order — due time, age, money at stake, kind — with
//!   its reasons in words, and [`priority::SCHEME`], the scheme in words (shared with the console).
//! - [`store`]: the SQL — items with their run's state, per-view counts, and the claim / assign /
//!   acknowledge UPDATEs, each conditional and written with its audit entry in one transaction (so of
//!   fifty simultaneous claims exactly one wins).
//! - [`inbox`]: [`inbox::Inbox`] (in `AppState`), the operations — claim, assign, resolve, and an
//!   item's detail and history. A resolution of an engine intervention is an event sent to its run
//!   (`HumanDecided` for a human task, `InterventionResolved` for a failure); the runtime closes the row
//!   and writes the audit entry in the transaction of the resulting transition, and the engine refuses
//!   an answer to an intervention that is no longer open — so a second resolve has no second effect.
//!   An SLA breach has no run: acknowledging it closes the row here.
//! - [`http`]: the routes — thin handlers that check the request and call the inbox.
//!
//! ```text
//! GET  /api/interventions?view=mine      → the caller's open items, most urgent first, and the counts
//! POST /api/interventions/{id}/claim     → 200 (yours now, or already) | 409 "already claimed by alice at …"
//! POST /api/interventions/{id}/resolve   {"choice": "approve", "reason": "documents check out"}
//!                                        → the item resolved; the run moves on
//! ```

pub mod http;
pub mod inbox;
pub mod priority;
pub mod store;

pub use http::router;
