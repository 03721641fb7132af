//! The HTTP API of a running `switchboard` process ([`super::process::Server`]), as a client sees it:
//! an admin API token, the call-processing saga registered, calls started under their own
//! idempotency keys, histories read back.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};

use app::wire::{HistoryEntry, InstanceDetail};

/// A start's outcome: the status and instance id, or why there was no answer.
pub type Started = Result<(StatusCode, String), String>;

/// Signs in as `admin` with `password`, creates an admin API token named `token_name`, and answers a
/// client that sends it on every request.
pub async fn token_client(client: &reqwest::Client, base: &str, password: &str, token_name: &str) -> reqwest::Client {
    let signed_in = client
        .post(format!("{base}/api/auth/sign-in"))
        .header("origin", base)
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .expect("sign-in answers");
    assert_eq!(signed_in.status(), StatusCode::OK, "sign-in");
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let token: Value = client
        .post(format!("{base}/api/tokens"))
        .header("origin", base)
        .header("cookie", cookie)
        .json(&json!({"name": token_name, "role": "admin"}))
        .send()
        .await
        .expect("token answer")
        .json()
        .await
        .expect("token JSON");
    let secret = token["secret"].as_str().expect("a token secret");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {secret}").parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

/// Registers the call-processing saga ([`super::call_saga`]).
pub async fn register_definition(client: &reqwest::Client, base: &str) {
    let response = client
        .post(format!("{base}/api/definitions"))
        .json(&super::call_saga())
        .send()
        .await
        .expect("POST /api/definitions");
    let status = response.status();
    assert!(status.is_success(), "register: {status} {}", response.text().await.unwrap_or_default());
}

/// Starts call `number` under its own idempotency key, `{key_prefix}-{number}`: re-sending it returns
/// the same instance.
pub async fn start_call(client: &reqwest::Client, base: &str, key_prefix: &str, number: i64) -> Started {
    let response = client
        .post(format!("{base}/api/instances"))
        .header("Idempotency-Key", format!("{key_prefix}-{number}"))
        .json(&json!({
            "workflow": "call-processing",
            "input": {"call_id": format!("call-{number}"), "number": number},
        }))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{status}: {}", response.text().await.unwrap_or_default()));
    }
    let detail: InstanceDetail = response.json().await.map_err(|error| error.to_string())?;
    Ok((status, detail.summary.id))
}

/// Sorts the starts' outcomes: the answered ones into `ids` (call number → instance id), the numbers
/// of the others into `unanswered`.
pub fn sort_starts(starts: Vec<(i64, Started)>, ids: &mut BTreeMap<i64, String>, unanswered: &mut Vec<i64>) {
    for (number, outcome) in starts {
        match outcome {
            Ok((_, id)) => {
                ids.insert(number, id);
            }
            Err(_) => unanswered.push(number),
        }
    }
}

/// An instance's journal, as `GET /api/instances/{id}/history` shows it.
pub async fn history(client: &reqwest::Client, base: &str, id: &str) -> Result<Vec<HistoryEntry>, String> {
    let response = client
        .get(format!("{base}/api/instances/{id}/history"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|error| error.to_string())?;
    if response.status() != StatusCode::OK {
        return Err(format!("history of {id}: {}", response.status()));
    }
    response.json().await.map_err(|error| error.to_string())
}

/// [`history`], pretty-printed for a failure message (or why it could not be read).
pub async fn history_text(client: &reqwest::Client, base: &str, id: &str) -> String {
    match history(client, base, id).await {
        Ok(entries) => format!("{entries:#?}"),
        Err(error) => format!("(no history: {error})"),
    }
}

/// Panics when the effects had `problems` ([`super::recorder::Ledger::problems`]), with the history of
/// the first instance of `ids` they name.
pub async fn assert_no_effect_problems(
    client: &reqwest::Client,
    base: &str,
    problems: &[String],
    ids: &BTreeMap<i64, String>,
) {
    if problems.is_empty() {
        return;
    }
    let culprit = problems.iter().find_map(|p| ids.values().find(|id| p.contains(id.as_str())).cloned());
    let culprit_history = match &culprit {
        Some(id) => history_text(client, base, id).await,
        None => String::from("(none)"),
    };
    panic!(
        "{} problems with the effects:\n{}\nhistory of {culprit:?}:\n{culprit_history}",
        problems.len(),
        problems.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}
