//! The rollups computed from scratch, from the stored history: the reference the incrementally kept
//! rollups must equal. Used by tests (after random histories, on both databases) and by
//! `switchboard seed`, which writes history in bulk and its rollups at once.

use super::facts::{fact_of_intervention, fact_of_step, facts_of_journal, Fact};
use super::rollup::Rollups;
use crate::store::rollups::History;
use crate::store::{Error, Result};

/// Every fact in a history.
pub fn facts_of_history(history: &History) -> Result<Vec<Fact>> {
    let mut facts = Vec::new();
    for row in &history.journal {
        let (workflow, created_at) = history
            .instances
            .get(&row.instance_id)
            .ok_or_else(|| Error::Corrupt(format!("journal row of unknown instance {}", row.instance_id)))?;
        let entries: Vec<engine::JournalEntry> = serde_json::from_str(&row.entries)
            .map_err(|error| Error::Corrupt(format!("journal {}#{}: {error}", row.instance_id, row.seq)))?;
        facts.extend(facts_of_journal(workflow, *created_at, &entries));
    }
    facts.extend(history.steps.iter().map(fact_of_step));
    facts.extend(history.interventions.iter().map(fact_of_intervention));
    Ok(facts)
}

/// The rollups of a history.
pub fn rollups_of_history(history: &History) -> Result<Rollups> {
    Ok(Rollups::of(&facts_of_history(history)?))
}
