//! The marketplace's seven workflows, shipped as JSON definitions (`workflows/*.json`, embedded at
//! build time) and registered when `switchboard serve` starts.
//!
//! Each definition uses the simulated services' real actions and fields (see the service modules):
//!
//! | workflow | steps (states) |
//! | --- | --- |
//! | `buyer-onboarding` | registration → identity-verification → credit-check → account-creation → credit-setup → campaign-creation → bid-configuration → campaign-activation → account-activation → notify-buyer → activated; validation-error, verification-failed, credit-denied |
//! | `seller-onboarding` | application → business-verification → bank-and-tax-setup → compliance-screening → compliance-review (human) → record-approval → contract-generation → contract-signing → system-integration → test-calls → go-live → notify-seller → live; application-rejected, verification-rejected, record-rejection → compliance-rejected |
//! | `call-lifecycle` | validate-call → find-buyer → route-call → connect-call → start-meter → during-call (parallel: monitor-quality ‖ track-duration → stop-meter) → calculate-charge → charge-due → record-charge → queued-for-settlement; call-rejected, end-unrouted-call → no-buyer, no-charge |
//! | `daily-settlement` | aggregate-transactions → validate-charges → charges-valid → disputes-found → (dispute-resolution (human) → recheck-disputes → disputes-resolved) → apply-adjustments → calculate-fees → generate-invoices → process-payouts → record-settlement → notify-parties → settled; invalid-charges, settlement-held |
//! | `dispute-resolution` | dispute-submitted → automatic-review → review-route → (manual-review (human) → investigation → resolution) → approve-dispute → credit-issued / deny-dispute → notify-parties (parallel) → audit-trail → resolved |
//! | `quality-monitoring` | evaluate-silence → silence-rule → silence-alert → evaluate-conversion → conversion-rule → conversion-review (human) → evaluate-complaints → complaint-rule → suspend-seller → notify-suspension → suspended / monitored |
//! | `payout-processing` | validate-balance → reserve-funds → initiate-transfer → update-ledger → notify-seller → paid; insufficient-balance |
//!
//! The files carry no `version`: the server numbers versions. [`load`] registers every definition;
//! an unchanged one keeps its version, a changed one becomes the next version, and running instances
//! stay on the version they started with (see [`Runtime::register_definition`]).
//!
//! ```no_run
//! # async fn example(runtime: switchboard::runtime::Runtime) -> Result<(), switchboard::marketplace::workflows::LoadError> {
//! let registered = switchboard::marketplace::workflows::load(&runtime).await?;
//! assert_eq!(registered.len(), 7);
//! # Ok(()) }
//! ```

use serde_json::Value;

use crate::runtime::definitions::Registered;
use crate::runtime::{self, Runtime};

/// The actor recorded as the author of definitions registered at start.
pub const ACTOR: &str = "system";

/// The embedded definitions, by workflow name.
const FILES: [(&str, &str); 7] = [
    ("buyer-onboarding", include_str!("workflows/buyer-onboarding.json")),
    ("seller-onboarding", include_str!("workflows/seller-onboarding.json")),
    ("call-lifecycle", include_str!("workflows/call-lifecycle.json")),
    ("daily-settlement", include_str!("workflows/daily-settlement.json")),
    ("dispute-resolution", include_str!("workflows/dispute-resolution.json")),
    ("quality-monitoring", include_str!("workflows/quality-monitoring.json")),
    ("payout-processing", include_str!("workflows/payout-processing.json")),
];

/// A definition that could not be registered, with the workflow's name.
#[derive(Debug, thiserror::Error)]
#[error("cannot register workflow `{name}`: {}", describe(.source))]
pub struct LoadError {
    pub name: &'static str,
    #[source]
    pub source: runtime::Error,
}

/// The runtime's error, with every validation problem spelled out (its `Display` only counts them).
fn describe(error: &runtime::Error) -> String {
    match error {
        runtime::Error::InvalidDefinition(problems) => {
            let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
            format!("{error}: {}", listed.join("; "))
        }
        other => other.to_string(),
    }
}

/// Every workflow's name and definition body (JSON, without `version`).
///
/// # Panics
/// If an embedded file is not JSON — a build mistake, caught by this module's tests.
pub fn definitions() -> Vec<(&'static str, Value)> {
    FILES
        .iter()
        .map(|(name, text)| {
            let body = serde_json::from_str(text).unwrap_or_else(|error| panic!("workflows/{name}.json: {error}"));
            (*name, body)
        })
        .collect()
}

/// Registers every workflow with `runtime`, in the order of [`definitions`].
///
/// # Errors
/// The first definition the runtime refuses (for instance because a service it names is not
/// registered), with every problem listed.
pub async fn load(runtime: &Runtime) -> Result<Vec<Registered>, LoadError> {
    let mut registered = Vec::with_capacity(FILES.len());
    for (name, body) in definitions() {
        let outcome = runtime.register_definition(body, ACTOR).await.map_err(|source| LoadError { name, source })?;
        registered.push(outcome);
    }
    Ok(registered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_a_definition_named_like_its_file() {
        for (name, mut body) in definitions() {
            assert!(body.get("version").is_none(), "{name}: the server numbers versions");
            body["version"] = Value::from(1);
            let definition: engine::Definition = serde_json::from_value(body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(definition.name, name);
            assert!(!definition.description.is_empty(), "{name} has a description");
            assert!(definition.input_schema.is_some(), "{name} has an input schema");
            assert!(!definition.business_keys.is_empty(), "{name} has business keys");
            assert!(!definition.sla.is_empty(), "{name} has SLA targets");
            assert!(definition.timeouts.workflow_ms.is_some(), "{name} has a deadline");
        }
    }
}
