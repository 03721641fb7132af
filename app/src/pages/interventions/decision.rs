//! The decision form of the open item: claim it, assign it to someone or unassign it, and resolve it
//! with one of its choices and a reason (`POST /api/interventions/{id}/claim|assign|resolve`).
//!
//! A retry may carry a corrected input for the failed step (prefilled with the input it was called
//! with; sent only when changed), a skip the output the step is taken to have produced, and a human
//! task's decision optional data for the run's context. The server's field errors are shown under their
//! fields. A `409` means someone else claimed or resolved the item first: the form says so and the item
//! is read again, so what is on screen is what is true now.
//!
//! People without `WorkInterventions` see no controls at all, only how the item was resolved.

use leptos::prelude::*;
use serde_json::Value;

use super::detail::ItemView;
use super::{words, Viewer};
use crate::client::{self, encode_query_value, ApiFailure};
use crate::format;
use crate::wire::{AssignIntervention, InterventionKind, ResolveIntervention};

/// What the form asks the server to do.
#[derive(Clone, Debug, PartialEq)]
enum Act {
    Claim,
    /// `None` unassigns.
    Assign(Option<String>),
    Resolve(ResolveIntervention),
}

impl Act {
    fn done_words(&self) -> String {
        match self {
            Act::Claim => "You claimed this item.".into(),
            Act::Assign(Some(who)) => format!("Assigned to {who}."),
            Act::Assign(None) => "Unassigned: the item is back in Unassigned.".into(),
            Act::Resolve(r) => format!(
                "Resolved: {}. The run continues from here; the diagram follows it live.",
                words::choice_label(&r.choice)
            ),
        }
    }
}

/// Problems of the last request, by field; the rest in `form`.
#[derive(Clone, Debug, Default, PartialEq)]
struct Problems {
    fields: Vec<(String, String)>,
    form: Option<String>,
}

impl Problems {
    /// The messages for `field` and its parts (`input.amount`, `input[0]`).
    fn of(&self, field: &str) -> Option<String> {
        let messages: Vec<String> = self
            .fields
            .iter()
            .filter(|(f, _)| {
                f == field || f.strip_prefix(field).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            })
            .map(|(f, m)| if f == field { m.clone() } else { format!("{f}: {m}") })
            .collect();
        (!messages.is_empty()).then(|| messages.join("; "))
    }

    /// Field problems no field of the form shows.
    fn unplaced(&self, shown: &[&str]) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(f, _)| {
                !shown.iter().any(|s| f == s || f.starts_with(&format!("{s}.")) || f.starts_with(&format!("{s}[")))
            })
            .map(|(f, m)| format!("{f}: {m}"))
            .collect()
    }
}

/// Fields the form shows errors under.
const FORM_FIELDS: [&str; 6] = ["choice", "reason", "input", "output", "data", "assignee"];

/// A JSON text area's value: `Ok(None)` when empty.
fn parse_json(field: &str, text: &str) -> Result<Option<Value>, (String, String)> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text).map(Some).map_err(|error| (field.to_string(), format!("not valid JSON: {error}")))
}

/// What the resolve form holds when it is sent.
struct Draft<'a> {
    choice: &'a str,
    reason: &'a str,
    /// The retry input's text, and the input the step was called with.
    input: &'a str,
    step_input: Option<&'a Value>,
    output: &'a str,
    data: &'a str,
    /// A human task: data may go with the decision.
    human: bool,
    /// Exhausted retries: a retry may carry an input, a skip an output.
    step_data: bool,
}

impl Draft<'_> {
    /// The body of the resolve; field problems when a JSON text does not parse or the reason is blank.
    fn body(&self) -> Result<ResolveIntervention, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut json = |field: &str, text: &str, wanted: bool| {
            if !wanted {
                return None;
            }
            parse_json(field, text).unwrap_or_else(|problem| {
                problems.push(problem);
                None
            })
        };
        // A retry sends an input only when it was changed: unchanged, the step is called as it was.
        let input = json("input", self.input, self.step_data && self.choice == "retry")
            .filter(|value| Some(value) != self.step_input);
        let output = json("output", self.output, self.step_data && self.choice == "skip");
        let data = json("data", self.data, self.human);
        if self.reason.trim().is_empty() {
            problems.push(("reason".into(), "say why: the reason is kept in the item's and the run's history".into()));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(ResolveIntervention {
            choice: self.choice.to_string(),
            reason: self.reason.trim().to_string(),
            input,
            output,
            data,
        })
    }
}

/// Claim, assign, resolve — or, for a resolved item, how it was resolved.
#[component]
pub fn DecisionPanel(
    view: Memo<ItemView>,
    viewer: Viewer,
    reload: RwSignal<u64>,
    list_reload: RwSignal<u64>,
) -> impl IntoView {
    let first = view.get_untracked();
    let id = first.detail.item.id.clone();
    let human = first.detail.item.kind == InterventionKind::HumanTask;
    // A failed compensation is retried with its own input and skipped without an output.
    let step_data = first.detail.item.kind == InterventionKind::RetriesExhausted;
    let step_input = StoredValue::new(first.detail.step_input.clone());
    let open = Memo::new(move |_| view.with(|v| v.detail.item.status == "open"));
    let assignee = Memo::new(move |_| view.with(|v| v.detail.item.assignee.clone()));
    let choices = Memo::new(move |_| view.with(|v| v.detail.item.choices.clone()));

    let choice = RwSignal::new(None::<String>);
    let reason = RwSignal::new(String::new());
    let input = RwSignal::new(step_input.with_value(|s| s.as_ref().map(format::json).unwrap_or_default()));
    let output = RwSignal::new(String::new());
    let data = RwSignal::new(String::new());
    let assign_to = RwSignal::new(String::new());
    let problems = RwSignal::new(Problems::default());
    let conflict = RwSignal::new(None::<String>);
    let done = RwSignal::new(None::<String>);

    let act = Action::new(move |act: &Act| {
        let (act, id) = (act.clone(), encode_query_value(&id));
        async move {
            let result = match &act {
                Act::Claim => {
                    client::post::<_, Value>(format!("/api/interventions/{id}/claim"), &serde_json::json!({})).await
                }
                Act::Assign(who) => {
                    let body = AssignIntervention { assignee: who.clone(), reason: None };
                    client::post::<_, Value>(format!("/api/interventions/{id}/assign"), &body).await
                }
                Act::Resolve(body) => client::post::<_, Value>(format!("/api/interventions/{id}/resolve"), body).await,
            };
            (act, result)
        }
    });
    Effect::new(move |_| {
        let Some((act, result)) = act.value().get() else {
            return;
        };
        match result {
            Ok(_) => {
                problems.set(Problems::default());
                conflict.set(None);
                done.set(Some(act.done_words()));
                match act {
                    Act::Resolve(_) => {
                        choice.set(None);
                        reason.set(String::new());
                    }
                    Act::Assign(_) => assign_to.set(String::new()),
                    Act::Claim => {}
                }
            }
            Err(failure) => show_failure(failure, problems, conflict, done),
        }
        reload.update(|n| *n += 1);
        list_reload.update(|n| *n += 1);
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        done.set(None);
        let Some(chosen) = choice.get_untracked() else {
            problems.set(Problems { fields: vec![("choice".into(), "choose a decision first".into())], form: None });
            return;
        };
        let (reason, input, output, data) =
            (reason.get_untracked(), input.get_untracked(), output.get_untracked(), data.get_untracked());
        let body = step_input.with_value(|before| {
            Draft {
                choice: &chosen,
                reason: &reason,
                input: &input,
                step_input: before.as_ref(),
                output: &output,
                data: &data,
                human,
                step_data,
            }
            .body()
        });
        match body {
            Ok(body) => {
                problems.set(Problems::default());
                act.dispatch(Act::Resolve(body));
            }
            Err(fields) => problems.set(Problems { fields, form: None }),
        }
    };
    let error_of = move |field: &'static str| {
        move || {
            problems.with(|p| p.of(field)).map(|message| view! { <p class="field-error" role="alert">{message}</p> })
        }
    };
    let pending = act.pending();
    let can_work = viewer.can_work;
    let me_name = StoredValue::new(viewer.username);
    let is_mine = Memo::new(move |_| assignee.with(|a| a.is_some() && me_name.with_value(|me| a == me)));
    let held_by_other = Memo::new(move |_| assignee.with(Option::is_some) && !is_mine.get());

    view! {
        <section class="decision" data-testid="decision-panel" aria-label="Decision">
            <h3>"Decision"</h3>
            {move || conflict.get().map(|message| view! {
                <p class="callout warn" role="alert" data-testid="inbox-conflict">
                    <strong>"Someone got there first: "</strong>{message}". The item has been read again: this is how it stands now."
                </p>
            })}
            {move || done.get().map(|message| view! { <p class="callout ok" role="status" data-testid="decision-done">{message}</p> })}
            {move || (!open.get()).then(|| view! { <Resolution view /> })}
            {(!can_work).then(|| view! {
                <p class="muted small" data-testid="read-only-note">
                    "You can read the inbox. Claiming, assigning and resolving items needs the reviewer or admin role."
                </p>
            })}
            <Show when=move || can_work && open.get()>
                <div class="assignment">
                    <p class="assignment-now">
                        {move || match assignee.get() {
                            Some(who) if is_mine.get() => format!("Assigned to you ({who})."),
                            Some(who) => format!("Assigned to {who}."),
                            None => "Nobody has claimed this item yet.".to_string(),
                        }}
                    </p>
                    <div class="button-row">
                        <Show when=move || assignee.with(Option::is_none)>
                            <button class="button" type="button" data-testid="item-claim"
                                disabled=move || pending.get()
                                on:click=move |_| { done.set(None); act.dispatch(Act::Claim); }>
                                "Claim"
                            </button>
                        </Show>
                        <Show when=move || held_by_other.get() && me_name.with_value(Option::is_some)>
                            <button class="button secondary" type="button" data-testid="item-take-over"
                                title="Assign it to yourself; its holder sees the change"
                                disabled=move || pending.get()
                                on:click=move |_| { done.set(None); act.dispatch(Act::Assign(me_name.get_value())); }>
                                "Take over"
                            </button>
                        </Show>
                        <Show when=move || assignee.with(Option::is_some)>
                            <button class="button secondary" type="button" data-testid="item-unassign"
                                disabled=move || pending.get()
                                on:click=move |_| { done.set(None); act.dispatch(Act::Assign(None)); }>
                                "Unassign"
                            </button>
                        </Show>
                    </div>
                    <form class="assign-form" on:submit=move |ev| {
                        ev.prevent_default();
                        done.set(None);
                        let who = assign_to.get_untracked().trim().to_string();
                        if !who.is_empty() {
                            act.dispatch(Act::Assign(Some(who)));
                        }
                    }>
                        <label for="assign-to">"Assign to"</label>
                        <input id="assign-to" name="assignee" type="text" placeholder="username, e.g. rita"
                            autocomplete="off" data-testid="assign-username"
                            prop:value=move || assign_to.get() on:input=move |ev| assign_to.set(event_target_value(&ev)) />
                        <button class="button secondary" type="submit" data-testid="item-assign"
                            disabled=move || assign_to.with(|a| a.trim().is_empty()) || pending.get()>"Assign"</button>
                    </form>
                    {error_of("assignee")}
                </div>
                {move || held_by_other.get().then(|| view! {
                    <p class="callout warn small" data-testid="held-note">
                        {format!("{} holds this item: only they can resolve it. Take it over or reassign it first.", assignee.get().unwrap_or_default())}
                    </p>
                })}
                <form class="resolve-form" data-testid="item-resolve" novalidate on:submit=submit>
                    <fieldset class="choices">
                        <legend>"Resolve with"</legend>
                        <div class="button-row">
                            {move || choices.get().into_iter().map(|c| {
                                let name = c.clone();
                                let pressed = {
                                    let c = c.clone();
                                    move || choice.with(|chosen| chosen.as_deref() == Some(c.as_str()))
                                };
                                let class = if words::is_destructive(&c) { "button choice destructive" } else { "button choice" };
                                view! {
                                    <button type="button" class=class data-testid=format!("choice-{c}") data-choice=c.clone()
                                        aria-pressed=move || pressed().to_string()
                                        on:click=move |_| { choice.set(Some(name.clone())); done.set(None); }>
                                        {words::choice_label(&c)}
                                    </button>
                                }
                            }).collect_view()}
                        </div>
                        {error_of("choice")}
                    </fieldset>
                    <Show when=move || step_data && choice.with(|c| c.as_deref() == Some("retry"))>
                        <label class="json-field">
                            <span>"Input for the retried step (JSON) — correct it, or leave it to call the step as before"</span>
                            <textarea name="input" rows="8" spellcheck="false" data-testid="resolve-input"
                                prop:value=move || input.get() on:input=move |ev| input.set(event_target_value(&ev))></textarea>
                        </label>
                        {error_of("input")}
                    </Show>
                    <Show when=move || step_data && choice.with(|c| c.as_deref() == Some("skip"))>
                        <label class="json-field">
                            <span>"Output the skipped step is taken to have produced (JSON, optional) — later states read it"</span>
                            <textarea name="output" rows="5" spellcheck="false" placeholder="{\"approved\": true}" data-testid="resolve-output"
                                prop:value=move || output.get() on:input=move |ev| output.set(event_target_value(&ev))></textarea>
                        </label>
                        {error_of("output")}
                    </Show>
                    {human.then(|| view! {
                        <details class="optional-data" open=move || !data.with(String::is_empty) || problems.with(|p| p.of("data").is_some())>
                            <summary>"Add data to the decision (JSON, optional)"</summary>
                            <label class="json-field">
                                <span>"Stored in the run's context with the decision"</span>
                                <textarea name="data" rows="3" spellcheck="false" placeholder="{\"refund_minor\": 2500}" data-testid="resolve-data"
                                    prop:value=move || data.get() on:input=move |ev| data.set(event_target_value(&ev))></textarea>
                            </label>
                        </details>
                        {error_of("data")}
                    })}
                    <label class="reason-field">
                        <span>"Reason (required; kept in the item's and the run's history)"</span>
                        <textarea name="reason" rows="3" data-testid="resolve-reason" required
                            placeholder="e.g. call recording shows the buyer hung up within 10 s; refund approved"
                            prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev))></textarea>
                    </label>
                    {error_of("reason")}
                    {move || {
                        let (form, unplaced) = problems.with(|p| (p.form.clone(), p.unplaced(&FORM_FIELDS)));
                        form.into_iter().chain(unplaced).map(|m| view! { <p class="callout bad" role="alert">{m}</p> }).collect_view()
                    }}
                    <button class=move || if choice.with(|c| c.as_deref().is_some_and(words::is_destructive)) { "button danger" } else { "button" }
                        type="submit" data-testid="resolve-submit"
                        disabled=move || choice.with(Option::is_none) || reason.with(|r| r.trim().is_empty()) || pending.get() || held_by_other.get()>
                        {move || match choice.get() {
                            Some(c) => format!("Resolve: {}", words::choice_label(&c)),
                            None => "Choose a decision".to_string(),
                        }}
                    </button>
                </form>
            </Show>
        </section>
    }
}

/// How a failed request shows: a conflict above the form (the item is read again by the caller), field
/// problems under their fields, anything else above the button.
fn show_failure(
    failure: ApiFailure,
    problems: RwSignal<Problems>,
    conflict: RwSignal<Option<String>>,
    done: RwSignal<Option<String>>,
) {
    done.set(None);
    if failure.status == 409 {
        problems.set(Problems::default());
        conflict.set(Some(failure.message));
        return;
    }
    conflict.set(None);
    let form = (failure.fields.is_empty()
        || !failure.fields.iter().any(|(f, _)| FORM_FIELDS.iter().any(|s| f.starts_with(s))))
    .then(|| failure.message.clone());
    problems.set(Problems { fields: failure.fields, form });
}

/// A resolved item: who chose what, when and why.
#[component]
fn Resolution(view: Memo<ItemView>) -> impl IntoView {
    move || {
        view.with(|v| {
            let item = &v.detail.item;
            let resolution = item.resolution.clone().unwrap_or(Value::Null);
            let text = |key: &str| resolution.get(key).and_then(Value::as_str).map(str::to_string);
            let choice = text("choice")
                .or_else(|| text("decision"))
                .map(|c| words::choice_label(&c))
                .unwrap_or_else(|| "Resolved".into());
            let by = item.resolved_by.clone().unwrap_or_else(|| "someone".into());
            let at = item.resolved_at.as_deref().map(format::time).unwrap_or_default();
            view! {
                <div class="resolution" data-testid="item-resolution">
                    <p><strong>{choice}</strong>{format!(" by {by}")}<span class="muted">{format!(" · {at}")}</span></p>
                    {text("reason").map(|r| view! { <p class="timeline-reason">"“"{r}"”"</p> })}
                </div>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn draft<'a>(choice: &'a str, reason: &'a str, text: &'a str, before: Option<&'a Value>) -> Draft<'a> {
        Draft { choice, reason, input: text, step_input: before, output: text, data: "", human: false, step_data: true }
    }

    #[test]
    fn a_retry_sends_its_input_only_when_changed() {
        let before = json!({"amount": 100});
        let same = draft("retry", "ok", "{\"amount\": 100}", Some(&before)).body().unwrap();
        assert_eq!(same.input, None);
        let fixed = draft("retry", "ok", "{\"amount\": 90}", Some(&before)).body().unwrap();
        assert_eq!(fixed.input, Some(json!({"amount": 90})));
        assert_eq!(fixed.output, None);
        let compensation = Draft { step_data: false, ..draft("retry", "ok", "{\"amount\": 90}", Some(&before)) };
        assert_eq!(compensation.body().unwrap().input, None);
    }

    #[test]
    fn bad_json_and_a_blank_reason_are_named_by_field() {
        let problems = draft("skip", " ", "{nope", None).body().unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["output", "reason"]);
        let human =
            Draft { human: true, data: "{\"x\":1}", step_data: false, ..draft("approve", " fine ", "{bad", None) };
        let body = human.body().unwrap();
        assert_eq!((body.reason.as_str(), body.input, body.data), ("fine", None, Some(json!({"x": 1}))));
    }

    #[test]
    fn server_field_errors_go_under_their_fields() {
        let p = Problems {
            fields: vec![("input.amount".into(), "must be positive".into()), ("mood".into(), "unknown".into())],
            form: None,
        };
        assert_eq!(p.of("input").unwrap(), "input.amount: must be positive");
        assert_eq!(p.of("reason"), None);
        assert_eq!(p.unplaced(&FORM_FIELDS), ["mood: unknown"]);
    }
}
