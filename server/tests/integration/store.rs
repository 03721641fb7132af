//! The store conformance suite: every [`Store`] operation, run once on SQLite and once on PostgreSQL
//! (`on_both!`, each run in its own throwaway database), asserting the same behaviour on both.
//!
//! Rows are built by the helpers at the top with every column set to a distinctive value, so a column
//! that one backend drops, swaps or truncates shows up as a field mismatch. `list_instances` and
//! `count_instances` are checked against a model: the same filter applied in Rust to the rows written.

use std::collections::HashSet;

use switchboard::db::{self, Database, DatabaseUrl};
use switchboard::store::{
    self, DefinitionRow, InstanceFilter, InstanceRow, InstanceSummaryRow, InterventionRow, JournalRow, StepRow, Store,
    TimerRow, TransitionWrite,
};

/// A fixed clock: every time in this file is an offset from it (epoch milliseconds).
const T0: i64 = 1_700_000_000_000;

// ----------------------------------------------------------------------------------------------------
// Helpers
// ----------------------------------------------------------------------------------------------------

async fn open(url: DatabaseUrl) -> Store {
    Store::new(db::open(&url).await.expect("open the test database"))
}

/// The `n`-th instance id: UUIDv7-shaped (lowercase, hyphenated) and increasing with `n` as text too.
fn id(n: u64) -> String {
    uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(n)).to_string()
}

/// A new instance with the usual columns set; optional columns that a fresh instance lacks are `None`.
fn instance(n: u64, workflow: &str, status: &str, created_at: i64) -> InstanceRow {
    let id = id(n);
    InstanceRow {
        state: format!(r#"{{"id":"{id}","note":"ünïcødé ✓ 'single' \"double\" \\ back"}}"#),
        id,
        workflow: workflow.to_string(),
        version: 1,
        status: status.to_string(),
        current_state: Some("reserve_funds".to_string()),
        paused: 0,
        error: None,
        start_key: Some(format!("{workflow}:start-{n}")),
        journal_seq: 1,
        created_at,
        updated_at: created_at + 5,
        finished_at: None,
        lease_owner: None,
        lease_expires_at: None,
        lease_epoch: 0,
    }
}

fn journal(instance_id: &str, seq: i64, at: i64) -> JournalRow {
    JournalRow {
        instance_id: instance_id.to_string(),
        seq,
        at,
        event: format!(r#"{{"type":"StepSucceeded","seq":{seq}}}"#),
        actor: Some("ops@example.com".to_string()),
        reason: Some(format!("reason {seq}")),
        entries: format!(r#"[{{"kind":"entered","seq":{seq}}}]"#),
    }
}

fn step(instance_id: &str, step_id: &str, attempt: i64, kind: &str, finished_at: i64) -> StepRow {
    StepRow {
        instance_id: instance_id.to_string(),
        step_id: step_id.to_string(),
        attempt,
        kind: kind.to_string(),
        workflow: "payout".to_string(),
        state: "reserve_funds".to_string(),
        service: "ledger".to_string(),
        action: "reserve".to_string(),
        idempotency_key: format!("{instance_id}/{step_id}/{attempt}/{kind}"),
        scheduled_at: finished_at - 30,
        started_at: finished_at - 20,
        finished_at,
        duration_ms: 20,
        outcome: "retryable".to_string(),
        error: Some("connection reset".to_string()),
    }
}

fn timer(id: &str, instance_id: &str, fire_at: i64) -> TimerRow {
    TimerRow { id: id.to_string(), instance_id: instance_id.to_string(), fire_at, purpose: format!("wait for {id}") }
}

fn intervention(id: &str, instance_id: &str, opened_at: i64) -> InterventionRow {
    InterventionRow {
        id: id.to_string(),
        instance_id: instance_id.to_string(),
        workflow: "payout".to_string(),
        kind: "human_task".to_string(),
        state: "approve".to_string(),
        decisions: r#"["approve","reject"]"#.to_string(),
        assignee_group: Some("finance".to_string()),
        priority: "high".to_string(),
        due_at: Some(opened_at + 3_600_000),
        reason: "amount above the limit".to_string(),
        status: "open".to_string(),
        opened_at,
        closed_at: None,
    }
}

/// The transition that creates `row`: the instance and its first journal row.
fn create(row: &InstanceRow) -> TransitionWrite {
    TransitionWrite {
        instance: Some(row.clone()),
        journal: Some(journal(&row.id, 1, row.created_at)),
        ..TransitionWrite::default()
    }
}

fn summary(row: &InstanceRow) -> InstanceSummaryRow {
    InstanceSummaryRow {
        id: row.id.clone(),
        workflow: row.workflow.clone(),
        version: row.version,
        status: row.status.clone(),
        current_state: row.current_state.clone(),
        paused: row.paused,
        error: row.error.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
        finished_at: row.finished_at,
    }
}

/// Runs raw SQL on whichever pool the store holds.
async fn execute_raw(store: &Store, sql: &'static str) -> Result<u64, sqlx::Error> {
    match store.database() {
        Database::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|done| done.rows_affected()),
        Database::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|done| done.rows_affected()),
    }
}

async fn scalar(store: &Store, sql: &'static str) -> i64 {
    match store.database() {
        Database::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    }
    .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

/// Row counts of every engine table: instances, instance_keys, journal, steps, timers, interventions,
/// and open interventions.
async fn table_counts(store: &Store) -> [i64; 7] {
    [
        scalar(store, "SELECT count(*) FROM instances").await,
        scalar(store, "SELECT count(*) FROM instance_keys").await,
        scalar(store, "SELECT count(*) FROM journal").await,
        scalar(store, "SELECT count(*) FROM steps").await,
        scalar(store, "SELECT count(*) FROM timers").await,
        scalar(store, "SELECT count(*) FROM interventions").await,
        scalar(store, "SELECT count(*) FROM interventions WHERE status = 'open'").await,
    ]
}

/// Every page of `filter` with `page` rows each, following `before`; panics on a page longer than asked.
async fn all_pages(store: &Store, filter: &InstanceFilter, page: i64) -> Vec<InstanceSummaryRow> {
    let mut rows: Vec<InstanceSummaryRow> = Vec::new();
    loop {
        let before = rows.last().map(|row| row.id.clone());
        let next = store.list_instances(filter, before.as_deref(), page).await.expect("list a page");
        assert!(next.len() as i64 <= page, "a page holds at most its limit");
        let last = (next.len() as i64) < page;
        rows.extend(next);
        if last {
            return rows;
        }
    }
}

// ----------------------------------------------------------------------------------------------------
// Definitions
// ----------------------------------------------------------------------------------------------------

fn definition(name: &str, version: i64) -> DefinitionRow {
    DefinitionRow {
        name: name.to_string(),
        version,
        description: format!("{name} v{version} — ünïcødé"),
        body: format!(r#"{{"name":"{name}","version":{version},"states":["a","b"]}}"#),
        content_hash: format!("sha256:{name}:{version}"),
        created_at: T0 + version,
        created_by: "admin@example.com".to_string(),
    }
}

on_both!(definitions_are_read_by_version_latest_and_in_name_version_order);
async fn definitions_are_read_by_version_latest_and_in_name_version_order(url: DatabaseUrl) {
    let store = open(url).await;
    assert_eq!(store.definitions().await.unwrap(), Vec::new());
    assert_eq!(store.latest_definition("payout").await.unwrap(), None);

    // Inserted out of order, so the read order is the query's, not the insertion's; version 10 sorts
    // after 9 numerically, not as text.
    let rows = [definition("refund", 2), definition("payout", 10), definition("payout", 1), definition("refund", 1)];
    let rows = [rows.as_slice(), &[definition("payout", 9), definition("call_billing", 1)]].concat();
    for row in &rows {
        store.insert_definition(row).await.expect("insert definition");
    }

    assert_eq!(store.definition("payout", 9).await.unwrap(), Some(definition("payout", 9)));
    assert_eq!(store.definition("payout", 10).await.unwrap(), Some(definition("payout", 10)));
    assert_eq!(store.definition("payout", 2).await.unwrap(), None);
    assert_eq!(store.definition("nothing", 1).await.unwrap(), None);

    assert_eq!(store.latest_definition("payout").await.unwrap(), Some(definition("payout", 10)));
    assert_eq!(store.latest_definition("refund").await.unwrap(), Some(definition("refund", 2)));
    assert_eq!(store.latest_definition("call_billing").await.unwrap(), Some(definition("call_billing", 1)));
    assert_eq!(store.latest_definition("nothing").await.unwrap(), None);

    let listed: Vec<(String, i64)> =
        store.definitions().await.unwrap().into_iter().map(|row| (row.name, row.version)).collect();
    let expected: Vec<(String, i64)> =
        [("call_billing", 1), ("payout", 1), ("payout", 9), ("payout", 10), ("refund", 1), ("refund", 2)]
            .into_iter()
            .map(|(name, version)| (name.to_string(), version))
            .collect();
    assert_eq!(listed, expected);
    // Field for field, too.
    assert_eq!(store.definitions().await.unwrap()[3], definition("payout", 10));
}

on_both!(a_definition_version_registered_twice_is_a_conflict);
async fn a_definition_version_registered_twice_is_a_conflict(url: DatabaseUrl) {
    let store = open(url).await;
    store.insert_definition(&definition("payout", 1)).await.unwrap();

    let mut changed = definition("payout", 1);
    changed.body = "{}".to_string();
    changed.description = "another body under the same version".to_string();
    let outcome = store.insert_definition(&changed).await;
    assert!(matches!(outcome, Err(store::Error::Conflict(_))), "expected a conflict, got {outcome:?}");

    // The first registration stands, and the next version is still free.
    assert_eq!(store.definition("payout", 1).await.unwrap(), Some(definition("payout", 1)));
    store.insert_definition(&definition("payout", 2)).await.expect("the next version");
    assert_eq!(store.definitions().await.unwrap().len(), 2);
}

// ----------------------------------------------------------------------------------------------------
// Commit
// ----------------------------------------------------------------------------------------------------

on_both!(a_batch_of_new_instances_reads_back_field_for_field);
async fn a_batch_of_new_instances_reads_back_field_for_field(url: DatabaseUrl) {
    let store = open(url).await;

    // Every optional column set.
    let full = InstanceRow {
        current_state: Some("reserve_funds,notify_seller".to_string()),
        paused: 1,
        error: Some("ledger said: insufficient funds (code 51)".to_string()),
        journal_seq: 7,
        finished_at: Some(T0 + 900),
        lease_owner: Some("worker-a".to_string()),
        lease_expires_at: Some(T0 + 60_000),
        lease_epoch: 3,
        version: 4,
        ..instance(1, "payout", "needs_intervention", T0)
    };
    // Every optional column empty.
    let bare = InstanceRow { current_state: None, start_key: None, ..instance(2, "refund", "created", T0 + 1) };
    let third = instance(3, "call_billing", "running", T0 + 2);

    let steps_full = vec![
        step(&full.id, "charge", 1, "task", T0 + 30),
        StepRow { outcome: "succeeded".to_string(), error: None, ..step(&full.id, "charge", 2, "task", T0 + 20) },
        StepRow { outcome: "permanent".to_string(), ..step(&full.id, "charge", 1, "compensation", T0 + 40) },
    ];
    let interventions_full = vec![
        intervention("iv-full-2", &full.id, T0 + 10),
        InterventionRow {
            assignee_group: None,
            due_at: None,
            kind: "exhausted_retries".to_string(),
            ..intervention("iv-full-1", &full.id, T0 + 10)
        },
        intervention("iv-full-0", &full.id, T0 + 11),
    ];
    let journal_bare = JournalRow { actor: None, reason: None, ..journal(&bare.id, 1, T0 + 1) };
    let batch = vec![
        TransitionWrite {
            instance: Some(full.clone()),
            keys: vec![
                ("seller".to_string(), "seller-9".to_string()),
                ("buyer".to_string(), "buyer-1".to_string()),
                ("call".to_string(), "call-7".to_string()),
            ],
            journal: Some(journal(&full.id, 1, T0)),
            steps: steps_full.clone(),
            timers_started: vec![timer("t-full-late", &full.id, T0 + 100), timer("t-full-early", &full.id, T0 + 50)],
            timers_ended: Vec::new(),
            interventions_opened: interventions_full.clone(),
            interventions_closed: Vec::new(),
            audit: Vec::new(),
            facts: Vec::new(),
            lease: None,
        },
        TransitionWrite { instance: Some(bare.clone()), journal: Some(journal_bare.clone()), ..Default::default() },
        TransitionWrite {
            keys: vec![("payout".to_string(), "payout-5".to_string())],
            timers_started: vec![timer("t-third", &third.id, T0 + 75)],
            ..create(&third)
        },
    ];
    store.commit(&batch).await.expect("commit");

    assert_eq!(store.instance(&full.id).await.unwrap(), Some(full.clone()));
    assert_eq!(store.instance(&bare.id).await.unwrap(), Some(bare.clone()));
    assert_eq!(store.instance(&third.id).await.unwrap(), Some(third.clone()));
    assert_eq!(store.instance(&id(99)).await.unwrap(), None);

    assert_eq!(store.journal(&full.id).await.unwrap(), vec![journal(&full.id, 1, T0)]);
    assert_eq!(store.journal(&bare.id).await.unwrap(), vec![journal_bare]);
    assert_eq!(store.journal(&id(99)).await.unwrap(), Vec::new());

    // In the order they finished.
    assert_eq!(
        store.steps(&full.id).await.unwrap(),
        vec![steps_full[1].clone(), steps_full[0].clone(), steps_full[2].clone()]
    );
    assert_eq!(store.steps(&bare.id).await.unwrap(), Vec::new());

    // By name.
    assert_eq!(
        store.business_keys(&full.id).await.unwrap(),
        vec![
            ("buyer".to_string(), "buyer-1".to_string()),
            ("call".to_string(), "call-7".to_string()),
            ("seller".to_string(), "seller-9".to_string()),
        ]
    );
    assert_eq!(store.business_keys(&third.id).await.unwrap(), vec![("payout".to_string(), "payout-5".to_string())]);
    assert_eq!(store.business_keys(&bare.id).await.unwrap(), Vec::new());

    // By opening time, then id.
    assert_eq!(
        store.interventions_of(&full.id).await.unwrap(),
        vec![interventions_full[1].clone(), interventions_full[0].clone(), interventions_full[2].clone()]
    );
    assert_eq!(store.interventions_of(&third.id).await.unwrap(), Vec::new());

    assert_eq!(
        store.timers_due(T0 + 1_000, 10).await.unwrap(),
        vec![
            timer("t-full-early", &full.id, T0 + 50),
            timer("t-third", &third.id, T0 + 75),
            timer("t-full-late", &full.id, T0 + 100),
        ]
    );
    assert_eq!(table_counts(&store).await, [3, 4, 3, 3, 3, 3, 3]);
}

on_both!(an_instance_twice_in_one_batch_keeps_its_last_row_and_every_journal_row);
async fn an_instance_twice_in_one_batch_keeps_its_last_row_and_every_journal_row(url: DatabaseUrl) {
    let store = open(url).await;
    let first = instance(1, "payout", "created", T0);
    let second = InstanceRow {
        status: "running".to_string(),
        state: r#"{"step":2}"#.to_string(),
        journal_seq: 2,
        updated_at: T0 + 20,
        ..first.clone()
    };
    let third = InstanceRow {
        status: "waiting".to_string(),
        current_state: Some("await_approval".to_string()),
        state: r#"{"step":3}"#.to_string(),
        journal_seq: 3,
        updated_at: T0 + 30,
        ..first.clone()
    };
    let other = instance(2, "refund", "running", T0 + 1);

    let batch = vec![
        TransitionWrite { keys: vec![("buyer".to_string(), "buyer-1".to_string())], ..create(&first) },
        create(&other),
        TransitionWrite {
            instance: Some(second.clone()),
            journal: Some(journal(&first.id, 2, T0 + 20)),
            ..Default::default()
        },
        TransitionWrite {
            instance: Some(third.clone()),
            journal: Some(journal(&first.id, 3, T0 + 30)),
            ..Default::default()
        },
    ];
    store.commit(&batch).await.expect("commit");

    assert_eq!(store.instance(&first.id).await.unwrap(), Some(third));
    assert_eq!(store.instance(&other.id).await.unwrap(), Some(other));
    assert_eq!(
        store.journal(&first.id).await.unwrap(),
        vec![journal(&first.id, 1, T0), journal(&first.id, 2, T0 + 20), journal(&first.id, 3, T0 + 30)]
    );
    assert_eq!(store.business_keys(&first.id).await.unwrap(), vec![("buyer".to_string(), "buyer-1".to_string())]);
    assert_eq!(scalar(&store, "SELECT count(*) FROM instances").await, 2);
}

on_both!(an_upsert_rewrites_the_status_columns_but_not_creation_start_key_or_lease);
async fn an_upsert_rewrites_the_status_columns_but_not_creation_start_key_or_lease(url: DatabaseUrl) {
    let store = open(url).await;
    let original =
        InstanceRow { start_key: Some("payout:order-1".to_string()), ..instance(1, "payout", "running", T0) };
    store.commit(&[create(&original)]).await.unwrap();
    store.claim(std::slice::from_ref(&original.id), "worker-1", T0 + 60_000).await.unwrap();

    // The engine's next row for this instance, carrying stale or wrong values in the columns that the
    // upsert must leave alone.
    let next = InstanceRow {
        status: "completed".to_string(),
        current_state: None,
        paused: 1,
        error: Some("finished with a warning".to_string()),
        state: r#"{"done":true}"#.to_string(),
        journal_seq: 2,
        updated_at: T0 + 500,
        finished_at: Some(T0 + 500),
        created_at: T0 + 999,
        start_key: Some("payout:order-2".to_string()),
        lease_owner: Some("intruder".to_string()),
        lease_expires_at: Some(1),
        lease_epoch: 99,
        ..original.clone()
    };
    store
        .commit(&[TransitionWrite {
            instance: Some(next.clone()),
            journal: Some(journal(&original.id, 2, T0 + 500)),
            ..Default::default()
        }])
        .await
        .expect("upsert");

    let expected = InstanceRow {
        created_at: original.created_at,
        start_key: original.start_key.clone(),
        lease_owner: Some("worker-1".to_string()),
        lease_expires_at: Some(T0 + 60_000),
        lease_epoch: 1,
        ..next
    };
    assert_eq!(store.instance(&original.id).await.unwrap(), Some(expected.clone()));
    assert_eq!(store.instance_by_start_key("payout:order-1").await.unwrap(), Some(expected));
    assert_eq!(store.instance_by_start_key("payout:order-2").await.unwrap(), None);
    assert_eq!(store.journal(&original.id).await.unwrap().len(), 2);
}

on_both!(timers_started_and_ended_in_one_batch_end_up_absent);
async fn timers_started_and_ended_in_one_batch_end_up_absent(url: DatabaseUrl) {
    let store = open(url).await;
    let a = instance(1, "payout", "waiting", T0);
    let b = instance(2, "payout", "waiting", T0);
    store
        .commit(&[TransitionWrite { timers_started: vec![timer("t-old", &a.id, T0 + 10)], ..create(&a) }])
        .await
        .unwrap();

    let a2 = InstanceRow { journal_seq: 2, ..a.clone() };
    let batch = vec![
        // Started and ended by the same transition.
        TransitionWrite {
            timers_started: vec![
                timer("t-same", &b.id, T0 + 20),
                timer("t-later", &b.id, T0 + 30),
                timer("t-kept", &b.id, T0 + 40),
            ],
            timers_ended: vec!["t-same".to_string()],
            ..create(&b)
        },
        // Ended by a later transition of the batch, with a timer of the previous batch and an unknown one.
        TransitionWrite {
            instance: Some(a2),
            journal: Some(journal(&a.id, 2, T0 + 5)),
            timers_ended: vec!["t-later".to_string(), "t-old".to_string(), "t-unknown".to_string()],
            ..Default::default()
        },
    ];
    store.commit(&batch).await.expect("commit");
    assert_eq!(store.timers_due(i64::MAX, 100).await.unwrap(), vec![timer("t-kept", &b.id, T0 + 40)]);
}

on_both!(closing_an_intervention_closes_an_open_one_once);
async fn closing_an_intervention_closes_an_open_one_once(url: DatabaseUrl) {
    let store = open(url).await;
    let a = instance(1, "payout", "needs_intervention", T0);
    let opened = intervention("iv-1", &a.id, T0 + 1);
    let untouched = intervention("iv-2", &a.id, T0 + 2);
    store
        .commit(&[TransitionWrite { interventions_opened: vec![opened.clone(), untouched.clone()], ..create(&a) }])
        .await
        .unwrap();

    let closes = |seq: i64, id: &str, at: i64| TransitionWrite {
        instance: Some(InstanceRow { journal_seq: seq, ..a.clone() }),
        journal: Some(journal(&a.id, seq, at)),
        interventions_closed: vec![closed_at(id.to_string(), at)],
        ..Default::default()
    };
    store.commit(&[closes(2, "iv-1", T0 + 100)]).await.expect("close");
    let closed = InterventionRow { status: "closed".to_string(), closed_at: Some(T0 + 100), ..opened.clone() };
    assert_eq!(store.interventions_of(&a.id).await.unwrap(), vec![closed.clone(), untouched.clone()]);

    // Closing it again changes nothing (its closing time stays the first one); an unknown id is no error.
    store.commit(&[closes(3, "iv-1", T0 + 200)]).await.expect("close again");
    store.commit(&[closes(4, "iv-unknown", T0 + 300)]).await.expect("close an unknown one");
    assert_eq!(store.interventions_of(&a.id).await.unwrap(), vec![closed, untouched]);

    // Opened and closed within one batch.
    let b = instance(2, "payout", "running", T0);
    let brief = intervention("iv-3", &b.id, T0 + 5);
    store
        .commit(&[
            TransitionWrite { interventions_opened: vec![brief.clone()], ..create(&b) },
            TransitionWrite {
                instance: Some(InstanceRow { journal_seq: 2, ..b.clone() }),
                journal: Some(journal(&b.id, 2, T0 + 6)),
                interventions_closed: vec![closed_at("iv-3".to_string(), T0 + 6)],
                ..Default::default()
            },
        ])
        .await
        .expect("open and close in one batch");
    assert_eq!(
        store.interventions_of(&b.id).await.unwrap(),
        vec![InterventionRow { status: "closed".to_string(), closed_at: Some(T0 + 6), ..brief }]
    );
}

on_both!(a_repeated_step_row_is_ignored);
async fn a_repeated_step_row_is_ignored(url: DatabaseUrl) {
    let store = open(url).await;
    let a = instance(1, "payout", "running", T0);
    let first = step(&a.id, "charge", 1, "task", T0 + 10);
    store.commit(&[TransitionWrite { steps: vec![first.clone()], ..create(&a) }]).await.unwrap();

    // The same attempt reported again (a re-run after a crash), with other values: the first report stays.
    let again = StepRow { outcome: "succeeded".to_string(), error: None, duration_ms: 5, ..first.clone() };
    let next = |seq: i64, steps: Vec<StepRow>| TransitionWrite {
        instance: Some(InstanceRow { journal_seq: seq, ..a.clone() }),
        journal: Some(journal(&a.id, seq, T0 + seq)),
        steps,
        ..Default::default()
    };
    store.commit(&[next(2, vec![again.clone()])]).await.expect("a repeated step in a later batch");
    assert_eq!(store.steps(&a.id).await.unwrap(), vec![first.clone()]);

    // Twice within one batch (and once within one transition), next to rows that are new: the new ones
    // are written. The same step id and attempt with the other kind is another row.
    let compensation = step(&a.id, "charge", 1, "compensation", T0 + 50);
    let second = step(&a.id, "charge", 2, "task", T0 + 40);
    store
        .commit(&[
            next(3, vec![again.clone(), second.clone(), second.clone()]),
            next(4, vec![compensation.clone(), first.clone()]),
        ])
        .await
        .expect("repeated steps in one batch");
    assert_eq!(store.steps(&a.id).await.unwrap(), vec![first, second, compensation]);
    assert_eq!(store.journal(&a.id).await.unwrap().len(), 4);
}

on_both!(an_empty_batch_is_ok_and_writes_nothing);
async fn an_empty_batch_is_ok_and_writes_nothing(url: DatabaseUrl) {
    let store = open(url).await;
    store.commit(&[]).await.expect("an empty batch");
    store.commit(&[TransitionWrite::default(), TransitionWrite::default()]).await.expect("empty transitions");
    assert_eq!(table_counts(&store).await, [0; 7]);
}

// ----------------------------------------------------------------------------------------------------
// Atomicity and the journal
// ----------------------------------------------------------------------------------------------------

on_both!(a_batch_that_fails_part_way_writes_nothing);
async fn a_batch_that_fails_part_way_writes_nothing(url: DatabaseUrl) {
    let store = open(url).await;
    let existing = instance(1, "payout", "waiting", T0);
    store
        .commit(&[TransitionWrite {
            timers_started: vec![timer("t-existing", &existing.id, T0 + 10)],
            interventions_opened: vec![intervention("iv-existing", &existing.id, T0)],
            ..create(&existing)
        }])
        .await
        .unwrap();
    let before = table_counts(&store).await;

    let fresh = instance(2, "refund", "running", T0 + 1);
    let duplicate_seq = JournalRow { event: "a second event".to_string(), ..journal(&fresh.id, 1, T0 + 2) };
    let batch = vec![
        // Touches every table: a new instance with keys, steps, timers, interventions…
        TransitionWrite {
            keys: vec![("buyer".to_string(), "buyer-2".to_string())],
            steps: vec![step(&fresh.id, "refund", 1, "task", T0 + 3)],
            timers_started: vec![timer("t-fresh", &fresh.id, T0 + 20)],
            interventions_opened: vec![intervention("iv-fresh", &fresh.id, T0 + 1)],
            ..create(&fresh)
        },
        // …an update of an existing instance that ends its timer and closes its intervention…
        TransitionWrite {
            instance: Some(InstanceRow { status: "completed".to_string(), journal_seq: 2, ..existing.clone() }),
            journal: Some(journal(&existing.id, 2, T0 + 2)),
            timers_ended: vec!["t-existing".to_string()],
            interventions_closed: vec![closed_at("iv-existing".to_string(), T0 + 2)],
            ..Default::default()
        },
        // …and a second journal row with the same (instance_id, seq): the primary key refuses it.
        TransitionWrite {
            instance: Some(InstanceRow { journal_seq: 2, ..fresh.clone() }),
            journal: Some(duplicate_seq),
            ..Default::default()
        },
    ];
    let outcome = store.commit(&batch).await;
    assert!(matches!(outcome, Err(store::Error::Conflict(_))), "expected a conflict, got {outcome:?}");

    assert_eq!(store.instance(&fresh.id).await.unwrap(), None);
    assert_eq!(store.journal(&fresh.id).await.unwrap(), Vec::new());
    assert_eq!(store.business_keys(&fresh.id).await.unwrap(), Vec::new());
    assert_eq!(store.steps(&fresh.id).await.unwrap(), Vec::new());
    assert_eq!(store.interventions_of(&fresh.id).await.unwrap(), Vec::new());
    assert_eq!(store.instance(&existing.id).await.unwrap(), Some(existing.clone()));
    assert_eq!(store.journal(&existing.id).await.unwrap(), vec![journal(&existing.id, 1, T0)]);
    assert_eq!(store.timers_due(i64::MAX, 10).await.unwrap(), vec![timer("t-existing", &existing.id, T0 + 10)]);
    assert_eq!(
        store.interventions_of(&existing.id).await.unwrap(),
        vec![intervention("iv-existing", &existing.id, T0)]
    );
    assert_eq!(table_counts(&store).await, before);

    // A journal row that collides with one of an earlier batch fails the same way.
    let replayed = TransitionWrite {
        instance: Some(InstanceRow { journal_seq: 2, ..existing.clone() }),
        journal: Some(journal(&existing.id, 1, T0 + 5)),
        ..create(&fresh)
    };
    assert!(store.commit(&[create(&fresh), replayed]).await.is_err());
    assert_eq!(store.instance(&fresh.id).await.unwrap(), None);
    assert_eq!(table_counts(&store).await, before);

    // The store is still usable afterwards.
    store.commit(&[create(&fresh)]).await.expect("the valid part on its own");
    assert_eq!(store.instance(&fresh.id).await.unwrap(), Some(fresh));
}

on_both!(the_journal_refuses_update_and_delete);
async fn the_journal_refuses_update_and_delete(url: DatabaseUrl) {
    let store = open(url).await;
    let a = instance(1, "payout", "running", T0);
    store.commit(&[create(&a)]).await.unwrap();
    let written = store.journal(&a.id).await.unwrap();
    assert_eq!(written.len(), 1);

    for sql in [
        "UPDATE journal SET event = 'rewritten'",
        "UPDATE journal SET seq = seq + 1 WHERE seq = 1",
        "DELETE FROM journal WHERE seq = 1",
        "DELETE FROM journal",
    ] {
        let error = execute_raw(&store, sql).await.expect_err(sql);
        assert!(error.to_string().contains("append-only"), "{sql}: {error}");
    }
    assert_eq!(store.journal(&a.id).await.unwrap(), written);
}

// ----------------------------------------------------------------------------------------------------
// Listing, counting, filtering, paging
// ----------------------------------------------------------------------------------------------------

/// An instance of the filter fixture, with its business keys.
struct Listed {
    row: InstanceRow,
    keys: Vec<(String, String)>,
}

/// Whether `filter` selects `listed`, in Rust: the model that the store's queries are checked against.
fn selects(filter: &InstanceFilter, listed: &Listed) -> bool {
    let row = &listed.row;
    filter.workflow.as_ref().is_none_or(|workflow| &row.workflow == workflow)
        && filter.status.as_ref().is_none_or(|status| &row.status == status)
        && filter.version.is_none_or(|version| row.version == version)
        && filter.business_key.as_ref().is_none_or(|key| listed.keys.iter().any(|(_, value)| value == key))
        && filter.created_from.is_none_or(|from| row.created_at >= from)
        && filter.created_to.is_none_or(|to| row.created_at < to)
        && filter.error_contains.as_ref().is_none_or(|text| {
            row.error.as_ref().is_some_and(|error| error.to_lowercase().contains(&text.to_lowercase()))
        })
}

/// Twenty-four instances whose ids grow while their creation times shrink (so ordering by id is not
/// ordering by time), spread over workflows, statuses, versions, keys and error texts.
fn fixture() -> Vec<Listed> {
    let workflows = ["payout", "refund", "call_billing"];
    let statuses = ["running", "completed", "failed", "needs_intervention"];
    let errors = [
        None,
        Some("upstream timeout after 30s"),
        Some("rate 100% of limit"),
        Some("rate 1000 of limit"),
        Some("missing field user_id"),
        Some("missing field userXid"),
        Some(r"bad path C:\tmp\x"),
        Some("upstream refused"),
    ];
    (0..24u64)
        .map(|n| {
            let mut row =
                instance(n + 1, workflows[n as usize % 3], statuses[n as usize % 4], T0 + 1_000 - n as i64 * 10);
            row.version = 1 + (n as i64 % 2);
            row.error = errors[n as usize % errors.len()].map(str::to_string);
            let mut keys = vec![("buyer".to_string(), format!("buyer-{}", n % 5))];
            if n % 3 == 0 {
                keys.push(("seller".to_string(), format!("seller-{}", n % 4)));
            }
            if n % 7 == 0 {
                // The same value under another name: a business key matches whatever its name.
                keys.push(("call".to_string(), "buyer-1".to_string()));
            }
            Listed { row, keys }
        })
        .collect()
}

async fn write_fixture(store: &Store) -> Vec<Listed> {
    let listed = fixture();
    let batch: Vec<TransitionWrite> =
        listed.iter().map(|l| TransitionWrite { keys: l.keys.clone(), ..create(&l.row) }).collect();
    store.commit(&batch).await.expect("commit the fixture");
    listed
}

/// Lists with `filter` (one page and page by page) and counts, and compares all three with the model.
async fn check_filter(store: &Store, listed: &[Listed], filter: &InstanceFilter) -> usize {
    let mut expected: Vec<InstanceSummaryRow> =
        listed.iter().filter(|l| selects(filter, l)).map(|l| summary(&l.row)).collect();
    expected.sort_by(|a, b| b.id.cmp(&a.id));

    let all = store.list_instances(filter, None, 1_000).await.expect("list");
    assert_eq!(all, expected, "list_instances with {filter:?}");
    assert_eq!(all_pages(store, filter, 3).await, expected, "pages of 3 with {filter:?}");
    let count = store.count_instances(filter).await.expect("count");
    assert_eq!(count, expected.len() as i64, "count_instances with {filter:?}");
    expected.len()
}

on_both!(every_filter_field_alone_selects_what_the_model_selects);
async fn every_filter_field_alone_selects_what_the_model_selects(url: DatabaseUrl) {
    let store = open(url).await;
    let listed = write_fixture(&store).await;
    let filter = InstanceFilter::default;
    let some = |s: &str| Some(s.to_string());

    assert_eq!(check_filter(&store, &listed, &filter()).await, 24);
    // Each case: the filter, and how many instances it must select (so a model bug cannot hide a store bug).
    let cases: Vec<(InstanceFilter, usize)> = vec![
        (InstanceFilter { workflow: some("payout"), ..filter() }, 8),
        (InstanceFilter { workflow: some("nothing"), ..filter() }, 0),
        (InstanceFilter { workflow: some("Payout"), ..filter() }, 0),
        (InstanceFilter { status: some("failed"), ..filter() }, 6),
        (InstanceFilter { status: some("waiting"), ..filter() }, 0),
        (InstanceFilter { version: Some(2), ..filter() }, 12),
        (InstanceFilter { version: Some(3), ..filter() }, 0),
        (InstanceFilter { business_key: some("buyer-1"), ..filter() }, 8),
        (InstanceFilter { business_key: some("seller-0"), ..filter() }, 2),
        (InstanceFilter { business_key: some("buyer"), ..filter() }, 0),
        (InstanceFilter { created_from: Some(T0 + 900), ..filter() }, 11),
        (InstanceFilter { created_to: Some(T0 + 900), ..filter() }, 13),
        (InstanceFilter { error_contains: some("upstream"), ..filter() }, 6),
        (InstanceFilter { error_contains: some("limit"), ..filter() }, 6),
        (InstanceFilter { error_contains: some("nothing like it"), ..filter() }, 0),
        (InstanceFilter { error_contains: some(""), ..filter() }, 21),
    ];
    for (filter, count) in &cases {
        assert_eq!(check_filter(&store, &listed, filter).await, *count, "{filter:?}");
    }
}

on_both!(filter_fields_combine_with_and);
async fn filter_fields_combine_with_and(url: DatabaseUrl) {
    let store = open(url).await;
    let listed = write_fixture(&store).await;
    let filter = InstanceFilter::default;
    let some = |s: &str| Some(s.to_string());

    let cases: Vec<(InstanceFilter, usize)> = vec![
        (InstanceFilter { workflow: some("payout"), status: some("running"), ..filter() }, 2),
        (InstanceFilter { workflow: some("payout"), status: some("completed"), ..filter() }, 2),
        (InstanceFilter { status: some("running"), version: Some(2), ..filter() }, 0),
        (InstanceFilter { workflow: some("refund"), version: Some(2), ..filter() }, 4),
        (InstanceFilter { business_key: some("buyer-1"), status: some("completed"), ..filter() }, 2),
        (InstanceFilter { business_key: some("buyer-1"), version: Some(1), ..filter() }, 4),
        (
            InstanceFilter {
                workflow: some("call_billing"),
                created_from: Some(T0 + 800),
                created_to: Some(T0 + 950),
                ..filter()
            },
            5,
        ),
        (InstanceFilter { error_contains: some("upstream"), workflow: some("refund"), ..filter() }, 2),
        (InstanceFilter { error_contains: some("limit"), created_from: Some(T0 + 900), ..filter() }, 3),
        (
            InstanceFilter {
                workflow: some("refund"),
                status: some("needs_intervention"),
                version: Some(2),
                business_key: some("buyer-2"),
                created_from: Some(T0 + 930),
                created_to: Some(T0 + 931),
                error_contains: some("refused"),
            },
            1,
        ),
        (
            InstanceFilter {
                workflow: some("refund"),
                status: some("needs_intervention"),
                version: Some(2),
                business_key: some("buyer-2"),
                created_from: Some(T0 + 930),
                created_to: Some(T0 + 930),
                error_contains: some("refused"),
            },
            0,
        ),
    ];
    for (filter, count) in &cases {
        assert_eq!(check_filter(&store, &listed, filter).await, *count, "{filter:?}");
    }
}

on_both!(created_from_is_inclusive_and_created_to_exclusive);
async fn created_from_is_inclusive_and_created_to_exclusive(url: DatabaseUrl) {
    let store = open(url).await;
    let rows: Vec<InstanceRow> = (0..4).map(|n| instance(n + 1, "payout", "running", T0 + n as i64)).collect();
    store.commit(&rows.iter().map(create).collect::<Vec<_>>()).await.unwrap();

    let ids =
        |range: std::ops::Range<usize>| -> Vec<String> { rows[range].iter().rev().map(|r| r.id.clone()).collect() };
    let listed = |from: Option<i64>, to: Option<i64>| {
        let store = store.clone();
        async move {
            let filter = InstanceFilter { created_from: from, created_to: to, ..Default::default() };
            let rows = store.list_instances(&filter, None, 100).await.unwrap();
            assert_eq!(store.count_instances(&filter).await.unwrap(), rows.len() as i64);
            rows.into_iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(Some(T0 + 1), None).await, ids(1..4));
    assert_eq!(listed(None, Some(T0 + 1)).await, ids(0..1));
    assert_eq!(listed(Some(T0 + 1), Some(T0 + 3)).await, ids(1..3));
    assert_eq!(listed(Some(T0 + 2), Some(T0 + 2)).await, ids(0..0));
    assert_eq!(listed(Some(T0), Some(T0 + 4)).await, ids(0..4));
    assert_eq!(listed(Some(T0 + 4), None).await, ids(0..0));
}

on_both!(error_contains_matches_like_wildcards_literally);
async fn error_contains_matches_like_wildcards_literally(url: DatabaseUrl) {
    let store = open(url).await;
    let errors =
        ["rate 100% of limit", "rate 1000 of limit", "field user_id", "field userXid", r"path C:\tmp", "path C:tmp"];
    let rows: Vec<InstanceRow> = errors
        .iter()
        .enumerate()
        .map(|(n, error)| InstanceRow {
            error: Some(error.to_string()),
            ..instance(n as u64 + 1, "payout", "failed", T0)
        })
        .collect();
    store.commit(&rows.iter().map(create).collect::<Vec<_>>()).await.unwrap();

    for (text, expected) in [
        ("%", vec![errors[0]]),
        ("100%", vec![errors[0]]),
        ("0% ", vec![errors[0]]),
        ("_", vec![errors[2]]),
        ("r_i", vec![errors[2]]),
        ("r_", vec![errors[2]]),
        (r"\", vec![errors[4]]),
        (r"C:\t", vec![errors[4]]),
        ("%%", vec![]),
        ("__", vec![]),
        ("field", vec![errors[2], errors[3]]),
    ] {
        let filter = InstanceFilter { error_contains: Some(text.to_string()), ..Default::default() };
        let found: HashSet<String> =
            store.list_instances(&filter, None, 100).await.unwrap().into_iter().filter_map(|r| r.error).collect();
        let expected: HashSet<String> = expected.into_iter().map(str::to_string).collect();
        assert_eq!(found, expected, "error_contains {text:?}");
        assert_eq!(store.count_instances(&filter).await.unwrap(), expected.len() as i64, "count {text:?}");
    }
}

on_both!(error_contains_ignores_case_on_both_backends);
/// `error_contains` is a support agent's search box: "timeout" finds "Upstream TIMEOUT" too, on both
/// backends alike (SQLite's LIKE ignores ASCII case and PostgreSQL's does not, so the store lowers both
/// sides).
async fn error_contains_ignores_case_on_both_backends(url: DatabaseUrl) {
    let store = open(url).await;
    let lower = InstanceRow { error: Some("upstream timeout".to_string()), ..instance(1, "payout", "failed", T0) };
    let upper = InstanceRow { error: Some("Upstream TIMEOUT".to_string()), ..instance(2, "payout", "failed", T0) };
    let other = InstanceRow { error: Some("card declined".to_string()), ..instance(3, "payout", "failed", T0) };
    store.commit(&[create(&lower), create(&upper), create(&other)]).await.unwrap();

    for text in ["timeout", "TIMEOUT", "Upstream"] {
        let filter = InstanceFilter { error_contains: Some(text.to_string()), ..Default::default() };
        let mut found: Vec<String> =
            store.list_instances(&filter, None, 10).await.unwrap().into_iter().map(|r| r.id).collect();
        found.sort();
        let mut expected = vec![lower.id.clone(), upper.id.clone()];
        expected.sort();
        assert_eq!(found, expected, "error_contains {text:?}");
        assert_eq!(store.count_instances(&filter).await.unwrap(), 2, "count {text:?}");
    }
}

on_both!(pages_follow_before_newest_first_without_gaps_or_duplicates);
async fn pages_follow_before_newest_first_without_gaps_or_duplicates(url: DatabaseUrl) {
    let store = open(url).await;
    // Real UUIDv7 ids, generated in order; creation times run the other way, so only the id orders.
    let rows: Vec<InstanceRow> = (0..57)
        .map(|n| {
            let status = if n % 3 == 0 { "completed" } else { "running" };
            InstanceRow {
                id: uuid::Uuid::now_v7().to_string(),
                start_key: None,
                ..instance(n, "payout", status, T0 - n as i64)
            }
        })
        .collect();
    // Written in a scrambled order over several batches.
    let mut scrambled: Vec<&InstanceRow> = rows.iter().collect();
    scrambled.sort_by_key(|row| row.created_at % 7);
    for batch in scrambled.chunks(20) {
        store.commit(&batch.iter().map(|row| create(row)).collect::<Vec<_>>()).await.unwrap();
    }
    let mut newest_first: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    newest_first.sort();
    newest_first.reverse();
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id), "now_v7 ids grow in this process");

    let any = InstanceFilter::default();
    for page in [1, 10, 19, 57, 100] {
        let ids: Vec<String> = all_pages(&store, &any, page).await.into_iter().map(|r| r.id).collect();
        assert_eq!(ids, newest_first, "pages of {page}");
    }
    // One page in detail: the first ten, then the ten after the tenth.
    let first: Vec<String> = store.list_instances(&any, None, 10).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(first, newest_first[..10]);
    let second: Vec<String> =
        store.list_instances(&any, Some(&first[9]), 10).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(second, newest_first[10..20]);
    // Past the oldest: nothing. A limit of zero: nothing.
    assert_eq!(store.list_instances(&any, Some(&newest_first[56]), 10).await.unwrap(), Vec::new());
    assert_eq!(store.list_instances(&any, None, 0).await.unwrap(), Vec::new());
    // `before` need not be an existing id.
    let between = uuid::Uuid::now_v7().to_string();
    assert_eq!(store.list_instances(&any, Some(&between), 100).await.unwrap().len(), 57);

    // Paging combines with a filter.
    let completed = InstanceFilter { status: Some("completed".to_string()), ..Default::default() };
    let expected: Vec<String> = newest_first
        .iter()
        .filter(|id| rows.iter().any(|row| &row.id == *id && row.status == "completed"))
        .cloned()
        .collect();
    assert_eq!(expected.len(), 19);
    let ids: Vec<String> = all_pages(&store, &completed, 4).await.into_iter().map(|r| r.id).collect();
    assert_eq!(ids, expected);
    assert_eq!(store.count_instances(&completed).await.unwrap(), 19);
    assert_eq!(store.count_instances(&any).await.unwrap(), 57);
}

// ----------------------------------------------------------------------------------------------------
// Start keys, instances in flight
// ----------------------------------------------------------------------------------------------------

on_both!(start_keys_find_their_instance_and_are_unique);
async fn start_keys_find_their_instance_and_are_unique(url: DatabaseUrl) {
    let store = open(url).await;
    let keyed = InstanceRow { start_key: Some("payout:order-17".to_string()), ..instance(1, "payout", "running", T0) };
    // Instances without a start key do not collide with each other.
    let unkeyed_a = InstanceRow { start_key: None, ..instance(2, "payout", "running", T0) };
    let unkeyed_b = InstanceRow { start_key: None, ..instance(3, "payout", "running", T0) };
    store.commit(&[create(&keyed), create(&unkeyed_a), create(&unkeyed_b)]).await.expect("commit");

    assert_eq!(store.instance_by_start_key("payout:order-17").await.unwrap(), Some(keyed.clone()));
    assert_eq!(store.instance_by_start_key("payout:order-18").await.unwrap(), None);
    assert_eq!(store.instance_by_start_key("").await.unwrap(), None);

    // A second instance with the same start key, in a later batch, next to an unrelated new instance.
    let before = table_counts(&store).await;
    let duplicate = InstanceRow { start_key: keyed.start_key.clone(), ..instance(4, "payout", "created", T0 + 1) };
    let bystander = instance(5, "refund", "created", T0 + 1);
    let outcome = store
        .commit(&[
            TransitionWrite { keys: vec![("buyer".to_string(), "b-5".to_string())], ..create(&bystander) },
            TransitionWrite { keys: vec![("buyer".to_string(), "b-4".to_string())], ..create(&duplicate) },
        ])
        .await;
    assert!(matches!(outcome, Err(store::Error::Conflict(_))), "expected a conflict, got {outcome:?}");
    assert_eq!(store.instance(&duplicate.id).await.unwrap(), None);
    assert_eq!(store.instance(&bystander.id).await.unwrap(), None);
    assert_eq!(store.journal(&bystander.id).await.unwrap(), Vec::new());
    assert_eq!(store.business_keys(&bystander.id).await.unwrap(), Vec::new());
    assert_eq!(table_counts(&store).await, before);
    assert_eq!(store.instance_by_start_key("payout:order-17").await.unwrap(), Some(keyed));

    // Two new instances with one start key within a single batch fail the same way.
    let twin = InstanceRow { start_key: Some("payout:order-99".to_string()), ..instance(6, "payout", "created", T0) };
    let other_twin = InstanceRow { id: id(7), ..twin.clone() };
    assert!(store.commit(&[create(&twin), create(&other_twin)]).await.is_err());
    assert_eq!(store.instance_by_start_key("payout:order-99").await.unwrap(), None);
    assert_eq!(table_counts(&store).await, before);
}

on_both!(instances_in_flight_are_exactly_the_created_running_and_compensating_ones);
async fn instances_in_flight_are_exactly_the_created_running_and_compensating_ones(url: DatabaseUrl) {
    let store = open(url).await;
    let statuses = [
        "completed",
        "running",
        "waiting",
        "compensating",
        "needs_intervention",
        "created",
        "failed",
        "compensated",
        "cancelled",
        "running",
        "Running",
    ];
    // Written newest id first, so the result's order comes from the query.
    let rows: Vec<InstanceRow> = statuses
        .iter()
        .enumerate()
        .rev()
        .map(|(n, status)| InstanceRow { paused: n as i64 % 2, ..instance(n as u64 + 1, "payout", status, T0) })
        .collect();
    store.commit(&rows.iter().map(create).collect::<Vec<_>>()).await.unwrap();
    assert_eq!(store.instances_in_flight().await.unwrap().len(), 4);

    let mut expected: Vec<InstanceRow> = rows
        .iter()
        .filter(|row| ["created", "running", "compensating"].contains(&row.status.as_str()))
        .cloned()
        .collect();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(store.instances_in_flight().await.unwrap(), expected);

    // Finishing one takes it out.
    let finished = InstanceRow { status: "completed".to_string(), journal_seq: 2, ..expected[0].clone() };
    store
        .commit(&[TransitionWrite {
            instance: Some(finished.clone()),
            journal: Some(journal(&finished.id, 2, T0 + 1)),
            ..Default::default()
        }])
        .await
        .unwrap();
    assert_eq!(store.instances_in_flight().await.unwrap(), expected[1..]);
}

// ----------------------------------------------------------------------------------------------------
// Timers, claims
// ----------------------------------------------------------------------------------------------------

on_both!(timers_come_due_soonest_first_up_to_the_limit_and_can_be_deleted);
async fn timers_come_due_soonest_first_up_to_the_limit_and_can_be_deleted(url: DatabaseUrl) {
    let store = open(url).await;
    let a = instance(1, "payout", "waiting", T0);
    // Written in an order unrelated to their firing times.
    let fire_offsets = [50, 10, 40, 30, 20, 60];
    let timers: Vec<TimerRow> =
        fire_offsets.iter().map(|offset| timer(&format!("t-{offset}"), &a.id, T0 + offset)).collect();
    store.commit(&[TransitionWrite { timers_started: timers.clone(), ..create(&a) }]).await.unwrap();
    let due = |offsets: &[i64]| -> Vec<TimerRow> {
        offsets.iter().map(|offset| timer(&format!("t-{offset}"), &a.id, T0 + offset)).collect()
    };

    assert_eq!(store.timers_due(T0 + 9, 100).await.unwrap(), Vec::new());
    // `until` is inclusive.
    assert_eq!(store.timers_due(T0 + 10, 100).await.unwrap(), due(&[10]));
    assert_eq!(store.timers_due(T0 + 45, 100).await.unwrap(), due(&[10, 20, 30, 40]));
    assert_eq!(store.timers_due(T0 + 45, 2).await.unwrap(), due(&[10, 20]));
    assert_eq!(store.timers_due(i64::MAX, 100).await.unwrap(), due(&[10, 20, 30, 40, 50, 60]));
    assert_eq!(store.timers_due(i64::MAX, 0).await.unwrap(), Vec::new());

    store.delete_timer("t-20").await.expect("delete");
    store.delete_timer("t-20").await.expect("delete again: no error");
    store.delete_timer("t-unknown").await.expect("delete an unknown timer");
    assert_eq!(store.timers_due(T0 + 45, 100).await.unwrap(), due(&[10, 30, 40]));
    assert_eq!(store.timers_due(i64::MAX, 3).await.unwrap(), due(&[10, 30, 40]));
}

on_both!(claims_bump_the_epoch_once_per_claim_and_set_owner_and_expiry);
async fn claims_bump_the_epoch_once_per_claim_and_set_owner_and_expiry(url: DatabaseUrl) {
    let store = open(url).await;
    let rows: Vec<InstanceRow> =
        (0..1_500u64).map(|n| InstanceRow { start_key: None, ..instance(n + 1, "payout", "running", T0) }).collect();
    store.commit(&rows.iter().map(create).collect::<Vec<_>>()).await.unwrap();
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let leases = |store: Store| async move {
        match store.database() {
            Database::Sqlite(pool) => sqlx::query_as::<_, (String, Option<String>, Option<i64>, i64)>(
                "SELECT id, lease_owner, lease_expires_at, lease_epoch FROM instances ORDER BY id",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
            Database::Postgres(pool) => sqlx::query_as::<_, (String, Option<String>, Option<i64>, i64)>(
                "SELECT id, lease_owner, lease_expires_at, lease_epoch FROM instances ORDER BY id",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
        }
    };

    // The first 1,200 (more than 1,000 in one call), twice.
    store.claim(&ids[..1_200], "worker-1", T0 + 60_000).await.expect("claim");
    store.claim(&ids[..1_200], "worker-2", T0 + 120_000).await.expect("claim again");
    // Then 200 of them and 100 never claimed, together with ids that do not exist: more ids than one
    // statement binds, so the claim is cut in chunks, with real ids in both.
    let mut mixed: Vec<String> = (0..31_000u64).map(|n| format!("missing-{n}")).collect();
    for (slot, real) in ids[1_000..1_300].iter().enumerate() {
        mixed[slot * 100 + 7] = real.clone();
    }
    store.claim(&mixed, "worker-3", T0 + 180_000).await.expect("claim in chunks");
    store.claim(&[], "nobody", 0).await.expect("claim nothing");

    let found = leases(store.clone()).await;
    assert_eq!(found.len(), 1_500);
    for (n, (id, owner, expires, epoch)) in found.into_iter().enumerate() {
        assert_eq!(id, ids[n]);
        let expected = match n {
            0..1_000 => (Some("worker-2"), Some(T0 + 120_000), 2),
            1_000..1_200 => (Some("worker-3"), Some(T0 + 180_000), 3),
            1_200..1_300 => (Some("worker-3"), Some(T0 + 180_000), 1),
            _ => (None, None, 0),
        };
        assert_eq!((owner.as_deref(), expires, epoch), expected, "instance {n}");
    }
    // The rest of the row is left alone.
    assert_eq!(
        store.instance(&ids[5]).await.unwrap(),
        Some(InstanceRow {
            lease_owner: Some("worker-2".to_string()),
            lease_expires_at: Some(T0 + 120_000),
            lease_epoch: 2,
            ..rows[5].clone()
        })
    );
}

// ----------------------------------------------------------------------------------------------------
// Volume and concurrency
// ----------------------------------------------------------------------------------------------------

on_both!(a_batch_of_thousands_of_transitions_is_written_in_chunks);
async fn a_batch_of_thousands_of_transitions_is_written_in_chunks(url: DatabaseUrl) {
    const N: u64 = 3_000;
    let store = open(url).await;
    let rows: Vec<InstanceRow> = (0..N).map(|n| instance(n + 1, "payout", "running", T0 + n as i64)).collect();
    let created: Vec<TransitionWrite> = rows
        .iter()
        .map(|row| TransitionWrite {
            keys: vec![
                ("buyer".to_string(), format!("buyer-{}", row.created_at % 10)),
                ("call".to_string(), format!("call-{}", row.id)),
            ],
            steps: vec![step(&row.id, "charge", 1, "task", row.created_at + 1)],
            timers_started: vec![timer(&format!("t-{}", row.id), &row.id, row.created_at + 10)],
            interventions_opened: vec![intervention(&format!("iv-{}", row.id), &row.id, row.created_at)],
            ..create(row)
        })
        .collect();
    store.commit(&created).await.expect("3,000 new instances in one batch");
    let n = N as i64;
    assert_eq!(table_counts(&store).await, [n, 2 * n, n, n, n, n, n]);

    // Every instance twice more in one batch: 6,000 transitions, updates only, ending every timer and
    // closing every intervention.
    let updates: Vec<TransitionWrite> = (2..=3)
        .flat_map(|seq| {
            rows.iter().map(move |row| TransitionWrite {
                instance: Some(InstanceRow {
                    status: if seq == 3 { "completed".to_string() } else { "running".to_string() },
                    journal_seq: seq,
                    updated_at: row.created_at + seq,
                    finished_at: (seq == 3).then_some(row.created_at + seq),
                    ..row.clone()
                }),
                journal: Some(journal(&row.id, seq, row.created_at + seq)),
                steps: vec![step(&row.id, "charge", seq, "task", row.created_at + seq)],
                timers_ended: if seq == 3 { vec![format!("t-{}", row.id)] } else { Vec::new() },
                interventions_closed: if seq == 2 {
                    vec![closed_at(format!("iv-{}", row.id), row.created_at + seq)]
                } else {
                    Vec::new()
                },
                ..Default::default()
            })
        })
        .collect();
    assert_eq!(updates.len(), 6_000);
    store.commit(&updates).await.expect("6,000 updates in one batch");
    assert_eq!(table_counts(&store).await, [n, 2 * n, 3 * n, 3 * n, 0, n, 0]);

    let completed = InstanceFilter { status: Some("completed".to_string()), ..Default::default() };
    assert_eq!(store.count_instances(&completed).await.unwrap(), n);
    assert_eq!(store.instances_in_flight().await.unwrap(), Vec::new());
    for row in [&rows[0], &rows[1_874], &rows[1_875], &rows[2_999]] {
        let stored = store.instance(&row.id).await.unwrap().expect("the instance");
        assert_eq!(
            (stored.status.as_str(), stored.journal_seq, stored.finished_at),
            ("completed", 3, Some(row.created_at + 3))
        );
        assert_eq!(store.journal(&row.id).await.unwrap().len(), 3);
        assert_eq!(store.steps(&row.id).await.unwrap().len(), 3);
        assert_eq!(store.business_keys(&row.id).await.unwrap().len(), 2);
        assert_eq!(store.interventions_of(&row.id).await.unwrap()[0].closed_at, Some(row.created_at + 2));
    }
    let buyer = InstanceFilter { business_key: Some("buyer-3".to_string()), ..Default::default() };
    assert_eq!(store.count_instances(&buyer).await.unwrap(), n / 10);
}

on_both!(concurrent_commits_all_land);
async fn concurrent_commits_all_land(url: DatabaseUrl) {
    let store = open(url).await;
    let tasks: Vec<_> = (0..8u64)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for batch in 0..10u64 {
                    let writes: Vec<TransitionWrite> = (0..5u64)
                        .map(|n| instance(task * 1_000 + batch * 10 + n, "payout", "running", T0))
                        .map(|row| TransitionWrite {
                            timers_started: vec![timer(&row.id, &row.id, T0)],
                            ..create(&row)
                        })
                        .collect();
                    store.commit(&writes).await.expect("concurrent commit");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    assert_eq!(table_counts(&store).await, [400, 0, 400, 0, 400, 0, 0]);
}

/// An intervention closed at `at` without a person's resolution.
fn closed_at(id: String, at: i64) -> switchboard::store::write::ClosedIntervention {
    switchboard::store::write::ClosedIntervention { id, at, ..Default::default() }
}
