//! The SLA target form: change a target's threshold, window, intervention flag and description, or add
//! a target (`POST /api/sla/targets/{id}` / `POST /api/sla/targets`, docs/api.md).
//!
//! People type thresholds in the units they think in — seconds, minutes, percent — and windows in
//! minutes, hours or days; [`threshold_to_api`] and [`window_to_api`] turn them into the API's
//! milliseconds and fractions, and [`threshold_for_form`] / [`window_for_form`] go back. The server
//! validates; its message for each field is shown under that field, anything else above the buttons.

use leptos::prelude::*;

use super::standing::Metric;
use crate::client::{self, ApiFailure};
use crate::wire::{SlaTarget, SlaTargetInput};

/// Units a duration threshold can be typed in: (label, milliseconds).
pub const DURATION_UNITS: [(&str, f64); 5] =
    [("ms", 1.0), ("s", 1000.0), ("min", 60_000.0), ("h", 3_600_000.0), ("d", 86_400_000.0)];

/// Units a window can be typed in: (label, milliseconds).
pub const WINDOW_UNITS: [(&str, f64); 3] = [("min", 60_000.0), ("h", 3_600_000.0), ("d", 86_400_000.0)];

/// The fields of the API's target body, in the order the form shows them.
const FIELDS: [&str; 6] = ["workflow", "metric", "threshold", "window_ms", "open_intervention", "description"];

/// A typed number: `1.5`, `1,5`, ` 2 `.
fn parse_number(text: &str) -> Option<f64> {
    text.trim().replace(',', ".").parse::<f64>().ok().filter(|v| v.is_finite())
}

fn unit_ms(units: &[(&str, f64)], unit: &str) -> f64 {
    units.iter().find(|(u, _)| *u == unit).map_or(1.0, |(_, ms)| *ms)
}

/// The threshold as the API wants it: milliseconds for durations, a fraction for rates (typed as %).
///
/// # Errors
/// A message for the threshold field when the text is not a number or a percentage is over 100.
pub fn threshold_to_api(metric: Metric, text: &str, unit: &str) -> Result<f64, String> {
    let value = parse_number(text).ok_or_else(|| "enter a number".to_string())?;
    if metric.is_duration() {
        Ok(value * unit_ms(&DURATION_UNITS, unit))
    } else if value > 100.0 {
        Err("a rate is a percentage from 0 to 100".into())
    } else {
        Ok(value / 100.0)
    }
}

/// The window in milliseconds (whole minutes are the server's rule; it says so if they are not).
///
/// # Errors
/// A message for the window field when the text is not a number.
pub fn window_to_api(text: &str, unit: &str) -> Result<i64, String> {
    let value = parse_number(text).ok_or_else(|| "enter a number".to_string())?;
    Ok((value * unit_ms(&WINDOW_UNITS, unit)).round() as i64)
}

/// A number without trailing zeros: `2`, `1.5`, `0.125`.
fn plain(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A stored threshold as the form shows it: (number, unit); rates in percent.
pub fn threshold_for_form(metric: Metric, threshold: f64) -> (String, &'static str) {
    if !metric.is_duration() {
        return (plain(threshold * 100.0), "%");
    }
    let (unit, ms) = DURATION_UNITS.iter().rev().find(|(_, ms)| threshold >= *ms).copied().unwrap_or(DURATION_UNITS[0]);
    (plain(threshold / ms), unit)
}

/// A stored window as the form shows it: the largest unit that divides it.
pub fn window_for_form(window_ms: i64) -> (String, &'static str) {
    let (unit, ms) =
        WINDOW_UNITS.iter().rev().find(|(_, ms)| window_ms as f64 % ms == 0.0).copied().unwrap_or(WINDOW_UNITS[0]);
    (plain(window_ms as f64 / ms), unit)
}

/// Whether a description is the one the server writes by itself ("p95 duration at most 2.0 s over
/// 1 h"): such a description is left out of an edit so the server writes it anew for the new values.
pub fn is_generated_description(metric: &str, description: &str) -> bool {
    let name = metric.trim_end_matches("_ms").replace('_', " ").replace("avg ", "average ");
    let direction = Metric::of(metric).direction();
    description.starts_with(&format!("{name} {direction} ")) && description.contains(" over ")
}

/// The form for one target (`target` set) or a new one.
#[component]
pub fn TargetForm(
    /// The target to change; `None` adds one.
    target: Option<SlaTarget>,
    /// Registered workflow types, for a new target.
    #[prop(optional)]
    workflows: Vec<String>,
    /// Called with the target as saved.
    on_saved: Callback<SlaTarget>,
    /// Called when the person gives up editing; a new-target form has no cancel.
    #[prop(optional)]
    on_cancel: Option<Callback<()>>,
) -> impl IntoView {
    let editing = target.clone();
    let prefix = target.as_ref().map_or_else(|| "new-target".to_string(), |t| format!("target-{}", t.id));
    let first_workflow = workflows.first().cloned().unwrap_or_default();
    let workflow = RwSignal::new(target.as_ref().map_or(first_workflow, |t| t.workflow.clone()));
    let metric = RwSignal::new(target.as_ref().map_or_else(|| "p95_duration_ms".to_string(), |t| t.metric.clone()));
    let (threshold_text, threshold_unit) = match &target {
        Some(t) => threshold_for_form(Metric::of(&t.metric), t.threshold),
        None => (String::new(), "s"),
    };
    let threshold = RwSignal::new(threshold_text);
    let unit = RwSignal::new(threshold_unit.to_string());
    let (window_text, window_unit) = target.as_ref().map_or((String::from("1"), "h"), |t| window_for_form(t.window_ms));
    let window = RwSignal::new(window_text);
    let window_unit = RwSignal::new(window_unit.to_string());
    let open_intervention = RwSignal::new(target.as_ref().is_some_and(|t| t.open_intervention));
    let generated = target.as_ref().is_none_or(|t| is_generated_description(&t.metric, &t.description));
    let description = RwSignal::new(if generated {
        String::new()
    } else {
        target.as_ref().map(|t| t.description.clone()).unwrap_or_default()
    });
    let placeholder = match &target {
        Some(t) if generated => format!("automatic, now “{}”", t.description),
        _ => "automatic, e.g. “p95 duration at most 2.0 s over 1 h”".to_string(),
    };

    // Problems per field (the server's, or ours when the text is not a number) and for the whole form.
    let field_errors = RwSignal::new(Vec::<(String, String)>::new());
    let form_error = RwSignal::new(None::<String>);
    let error_of = move |field: &'static str| {
        move || field_errors.with(|all| all.iter().find(|(f, _)| f == field).map(|(_, m)| m.clone()))
    };

    let save = Action::new(move |(id, body): &(Option<String>, SlaTargetInput)| {
        let (id, body) = (id.clone(), body.clone());
        async move {
            match id {
                Some(id) => {
                    client::post::<_, SlaTarget>(format!("/api/sla/targets/{}", client::encode_query_value(&id)), &body)
                        .await
                }
                None => client::post::<_, SlaTarget>("/api/sla/targets", &body).await,
            }
        }
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(saved)) => {
            field_errors.set(Vec::new());
            form_error.set(None);
            on_saved.run(saved);
        }
        Some(Err(failure)) => show_failure(failure, field_errors, form_error),
        None => {}
    });

    let editing_id = editing.as_ref().map(|t| t.id.clone());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let metric_name = metric.get_untracked();
        let chosen = Metric::of(&metric_name);
        let mut problems = Vec::new();
        let threshold_value = threshold_to_api(chosen, &threshold.get_untracked(), &unit.get_untracked())
            .map_err(|m| problems.push(("threshold".to_string(), m)));
        let window_value = window_to_api(&window.get_untracked(), &window_unit.get_untracked())
            .map_err(|m| problems.push(("window_ms".to_string(), m)));
        form_error.set(None);
        field_errors.set(problems);
        let (Ok(threshold_value), Ok(window_ms)) = (threshold_value, window_value) else {
            return;
        };
        let body = SlaTargetInput {
            workflow: workflow.get_untracked(),
            metric: metric_name,
            threshold: threshold_value,
            window_ms,
            open_intervention: open_intervention.get_untracked(),
            description: description.get_untracked().trim().to_string(),
        };
        save.dispatch((editing_id.clone(), body));
    };

    let id = move |field: &str| format!("{prefix}-{field}");
    let ready = crate::components::status::hydrated_flag();
    // Opening a target's form puts the cursor on its threshold, the value people come to change.
    let threshold_input = NodeRef::<leptos::html::Input>::new();
    if editing.is_some() {
        focus_when_shown(threshold_input);
    }
    let heading = match &editing {
        Some(t) => format!("Change this target of {}", t.workflow),
        None => "New target".to_string(),
    };
    view! {
        <form class="target-form" novalidate on:submit=submit data-testid="target-form" aria-label=heading
            data-ready=move || ready.get().to_string()>
            <div class="target-grid">
                {match &editing {
                    Some(t) => view! {
                        <div class="form-field">
                            <span class="field-label">"Measures"</span>
                            <span class="field-static">{Metric::of(&t.metric).words()}</span>
                        </div>
                    }.into_any(),
                    None => view! {
                        <div class="form-field">
                            <label for=id("workflow")>"Workflow"</label>
                            <select id=id("workflow") name="workflow" on:change=move |ev| workflow.set(event_target_value(&ev))
                                aria-invalid=move || error_of("workflow")().is_some().to_string()>
                                {workflows.iter().map(|w| {
                                    let (value, label, chosen) = (w.clone(), w.clone(), w.clone());
                                    view! { <option value=value selected=move || workflow.get() == chosen>{label}</option> }
                                }).collect_view()}
                            </select>
                            <FieldError message=Signal::derive(error_of("workflow")) />
                        </div>
                        <div class="form-field">
                            <label for=id("metric")>"Measures"</label>
                            <select id=id("metric") name="metric"
                                on:change=move |ev| {
                                    let chosen = event_target_value(&ev);
                                    // Switching between a duration and a rate changes what the number means.
                                    if Metric::of(&chosen).is_duration() != Metric::of(&metric.get_untracked()).is_duration() {
                                        threshold.set(String::new());
                                        unit.set(if Metric::of(&chosen).is_duration() { "s".into() } else { "%".into() });
                                    }
                                    metric.set(chosen);
                                }
                                aria-invalid=move || error_of("metric")().is_some().to_string()>
                                {Metric::ALL.iter().map(|(name, words)| view! {
                                    <option value=*name selected=move || metric.get() == *name>{*words}</option>
                                }).collect_view()}
                            </select>
                            <FieldError message=Signal::derive(error_of("metric")) />
                        </div>
                    }.into_any(),
                }}
                <div class="form-field">
                    <label for=id("threshold")>
                        {move || format!("Threshold ({})", Metric::of(&metric.get()).direction())}
                    </label>
                    <div class="unit-input">
                        <input id=id("threshold") name="threshold" type="text" inputmode="decimal" autocomplete="off"
                            data-testid="threshold-input"
                            node_ref=threshold_input
                            prop:value=move || threshold.get()
                            on:input=move |ev| threshold.set(event_target_value(&ev))
                            aria-invalid=move || error_of("threshold")().is_some().to_string() />
                        {move || if Metric::of(&metric.get()).is_duration() {
                            view! {
                                <select aria-label="Unit of the threshold" name="threshold-unit"
                                    on:change=move |ev| unit.set(event_target_value(&ev))>
                                    {DURATION_UNITS.iter().map(|(u, _)| view! {
                                        <option value=*u selected=move || unit.get() == *u>{*u}</option>
                                    }).collect_view()}
                                </select>
                            }.into_any()
                        } else {
                            view! { <span class="unit-suffix">"%"</span> }.into_any()
                        }}
                    </div>
                    <FieldError message=Signal::derive(error_of("threshold")) />
                </div>
                <div class="form-field">
                    <label for=id("window")>"Judged over the last"</label>
                    <div class="unit-input">
                        <input id=id("window") name="window" type="text" inputmode="decimal" autocomplete="off"
                            data-testid="window-input"
                            prop:value=move || window.get()
                            on:input=move |ev| window.set(event_target_value(&ev))
                            aria-invalid=move || error_of("window_ms")().is_some().to_string() />
                        <select aria-label="Unit of the window" name="window-unit"
                            on:change=move |ev| window_unit.set(event_target_value(&ev))>
                            {WINDOW_UNITS.iter().map(|(u, _)| view! {
                                <option value=*u selected=move || window_unit.get() == *u>{*u}</option>
                            }).collect_view()}
                        </select>
                    </div>
                    <FieldError message=Signal::derive(error_of("window_ms")) />
                </div>
                <div class="form-field wide">
                    <label for=id("description")>"Description " <span class="muted">"(optional)"</span></label>
                    <input id=id("description") name="description" type="text" placeholder=placeholder
                        prop:value=move || description.get()
                        on:input=move |ev| description.set(event_target_value(&ev))
                        aria-invalid=move || error_of("description")().is_some().to_string() />
                    <FieldError message=Signal::derive(error_of("description")) />
                </div>
                <label class="form-check wide">
                    <input type="checkbox" name="open_intervention"
                        prop:checked=move || open_intervention.get()
                        on:change=move |ev| open_intervention.set(event_target_checked(&ev)) />
                    "When breached, also open an intervention for a manager to acknowledge"
                </label>
            </div>
            {move || form_error.get().map(|message| view! {
                <p class="callout bad" role="alert" data-testid="form-error">{message}</p>
            })}
            <div class="button-row">
                <button class="button" type="submit" disabled=move || save.pending().get()>
                    {move || match (save.pending().get(), editing.is_some()) {
                        (true, _) => "Saving…",
                        (false, true) => "Save target",
                        (false, false) => "Add target",
                    }}
                </button>
                {on_cancel.map(|cancel| view! {
                    <button class="button secondary" type="button" on:click=move |_| cancel.run(())>"Cancel"</button>
                })}
            </div>
        </form>
    }
}

/// Puts an API failure where it belongs: each named field's message under that field, the rest above
/// the buttons.
fn show_failure(
    failure: ApiFailure,
    field_errors: RwSignal<Vec<(String, String)>>,
    form_error: RwSignal<Option<String>>,
) {
    let (mine, other): (Vec<_>, Vec<_>) =
        failure.fields.iter().cloned().partition(|(f, _)| FIELDS.contains(&f.as_str()));
    let general = if mine.is_empty() || !other.is_empty() {
        let mut text = failure.message.clone();
        for (field, message) in &other {
            text.push_str(&format!(" · {field}: {message}"));
        }
        Some(format!("Not saved: {text}"))
    } else {
        Some("Not saved: please correct the fields marked above.".to_string())
    };
    field_errors.set(mine);
    form_error.set(general);
}

/// Moves the keyboard focus to the element once it is in the page (in the browser; nothing on the server).
pub fn focus_when_shown<E>(node: NodeRef<E>)
where
    E: leptos::html::ElementType,
    E::Output: Clone + AsRef<leptos::web_sys::HtmlElement> + 'static,
    NodeRef<E>: Get<Value = Option<E::Output>>,
{
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(element) = node.get() {
            let _ = element.as_ref().focus();
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = node;
    });
}

/// A field's problem, announced to screen readers as it appears.
#[component]
fn FieldError(#[prop(into)] message: Signal<Option<String>>) -> impl IntoView {
    view! {
        {move || message.get().map(|m| view! { <p class="field-error" role="alert" data-testid="field-error">{m}</p> })}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_go_to_the_api_in_its_units() {
        let p95 = Metric::of("p95_duration_ms");
        assert_eq!(threshold_to_api(p95, "2", "s"), Ok(2000.0));
        assert_eq!(threshold_to_api(p95, "1,5", "min"), Ok(90_000.0));
        assert_eq!(threshold_to_api(p95, "fast", "s"), Err("enter a number".into()));
        let rate = Metric::of("completion_rate");
        assert_eq!(threshold_to_api(rate, "95", "%"), Ok(0.95));
        assert!(threshold_to_api(rate, "120", "%").is_err());
        // A negative number goes to the server, whose message names the rule.
        assert_eq!(threshold_to_api(rate, "-5", "%"), Ok(-0.05));
        assert_eq!(window_to_api("1.5", "h"), Ok(5_400_000));
        assert_eq!(window_to_api("24", "h"), Ok(86_400_000));
    }

    #[test]
    fn stored_values_come_back_in_readable_units() {
        assert_eq!(threshold_for_form(Metric::of("p95_duration_ms"), 2000.0), ("2".into(), "s"));
        assert_eq!(threshold_for_form(Metric::of("p95_duration_ms"), 259_200_000.0), ("3".into(), "d"));
        assert_eq!(threshold_for_form(Metric::of("p95_duration_ms"), 1500.0), ("1.5".into(), "s"));
        assert_eq!(threshold_for_form(Metric::of("p95_duration_ms"), 250.0), ("250".into(), "ms"));
        assert_eq!(threshold_for_form(Metric::of("completion_rate"), 0.95), ("95".into(), "%"));
        assert_eq!(window_for_form(3_600_000), ("1".into(), "h"));
        assert_eq!(window_for_form(604_800_000), ("7".into(), "d"));
        assert_eq!(window_for_form(5_400_000), ("90".into(), "min"));
    }

    #[test]
    fn generated_descriptions_are_recognised() {
        assert!(is_generated_description("p95_duration_ms", "p95 duration at most 2.0 s over 1 h"));
        assert!(is_generated_description("avg_duration_ms", "average duration at most 1,840 ms over 1 h"));
        assert!(is_generated_description("completion_rate", "completion rate at least 95.0% over 24 h"));
        assert!(!is_generated_description("error_rate", "Payout errors stay rare"));
    }
}
