//! Workflow definitions: the in-memory cache of every registered version, and registration.
//!
//! Registration parses and validates a definition (every problem listed, against the services that are
//! registered), then compares it with the latest version: unchanged, it is that version; changed, it is
//! written as the next version. Versions are never edited, so an instance pinned to one always finds it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use engine::Definition;

use super::{Error, Inner, Result};
use crate::store::{self, DefinitionRow, Store};

/// The outcome of a registration.
#[derive(Clone, Debug)]
pub struct Registered {
    pub definition: Arc<Definition>,
    /// `false` when the definition was identical to the latest version.
    pub created: bool,
}

/// Every registered version, by name and version.
#[derive(Default)]
pub struct DefinitionCache {
    versions: RwLock<BTreeMap<String, BTreeMap<u32, Arc<Definition>>>>,
}

impl DefinitionCache {
    /// Reads every version from the store. A stored definition that no longer parses is skipped with an
    /// error in the log (its instances cannot run, but everything else can).
    pub async fn load(store: &Store) -> Result<Self> {
        let cache = Self::default();
        for row in store.definitions().await? {
            match serde_json::from_str::<Definition>(&row.body) {
                Ok(definition) => cache.insert(Arc::new(definition)),
                Err(error) => tracing::error!(name = %row.name, version = row.version, %error, "unreadable definition"),
            }
        }
        Ok(cache)
    }

    /// Adds the versions registered since this cache read the store (by another node), if the number
    /// of stored versions changed. Versions are never edited, so new ones are all there is to learn.
    pub async fn refresh(&self, store: &Store) -> Result<()> {
        let stored = store.definition_count().await?;
        if usize::try_from(stored).unwrap_or(0) == self.len() {
            return Ok(());
        }
        let known: std::collections::HashSet<(String, u32)> =
            self.all().iter().map(|definition| (definition.name.clone(), definition.version)).collect();
        for row in store.definitions().await? {
            let version = u32::try_from(row.version).unwrap_or_default();
            if known.contains(&(row.name.clone(), version)) {
                continue;
            }
            match serde_json::from_str::<Definition>(&row.body) {
                Ok(definition) => self.insert(Arc::new(definition)),
                Err(error) => tracing::error!(name = %row.name, version = row.version, %error, "unreadable definition"),
            }
        }
        Ok(())
    }

    /// How many versions the cache holds.
    pub fn len(&self) -> usize {
        let versions = self.versions.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        versions.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`DefinitionCache::get`], reading versions registered on another node first if it is missing.
    pub async fn get_or_refresh(&self, store: &Store, name: &str, version: Option<u32>) -> Result<Arc<Definition>> {
        match self.get(name, version) {
            Err(Error::UnknownWorkflow(_) | Error::UnknownVersion { .. }) => {
                self.refresh(store).await?;
                self.get(name, version)
            }
            found => found,
        }
    }

    /// A version, or the latest when `version` is `None`.
    pub fn get(&self, name: &str, version: Option<u32>) -> Result<Arc<Definition>> {
        let versions = self.versions.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let of_name = versions.get(name).ok_or_else(|| Error::UnknownWorkflow(name.to_string()))?;
        let found = match version {
            Some(version) => of_name.get(&version),
            None => of_name.values().next_back(),
        };
        found.cloned().ok_or_else(|| Error::UnknownVersion { name: name.to_string(), version: version.unwrap_or(0) })
    }

    /// Every version, by name then version.
    pub fn all(&self) -> Vec<Arc<Definition>> {
        let versions = self.versions.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        versions.values().flat_map(|of_name| of_name.values().cloned()).collect()
    }

    fn insert(&self, definition: Arc<Definition>) {
        let mut versions = self.versions.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        versions.entry(definition.name.clone()).or_default().insert(definition.version, definition);
    }
}

/// Validates and stores a definition; see the module docs. The body's own `version`, if any, is
/// ignored (it must be a whole number when given): versions are numbered by the server.
///
/// The body is untrusted: `engine::validate_json` reads it part by part within the engine's limits
/// (states, nesting, names, conditions) and lists every problem at its field.
pub(crate) async fn register(inner: &Inner, body: Value, actor: &str) -> Result<Registered> {
    let mut definition = engine::validate_json(&body, inner.services.as_ref()).map_err(Error::InvalidDefinition)?;
    let sla_problems = crate::monitoring::sla::definition_problems(&definition);
    if !sla_problems.is_empty() {
        return Err(Error::InvalidDefinition(sla_problems));
    }
    let canonical = canonical_text(&definition)?;

    // Two registrations may race for the next number; the loser reads again and compares again.
    for _ in 0..3 {
        let latest = inner.store.latest_definition(&definition.name).await?;
        if let Some(latest) = &latest {
            let stored: Definition =
                serde_json::from_str(&latest.body).map_err(|error| Error::Corrupt(error.to_string()))?;
            if canonical_text(&stored)? == canonical {
                let version = u32::try_from(latest.version).unwrap_or_default();
                return Ok(Registered {
                    definition: inner.definitions.get_or_refresh(&inner.store, &definition.name, Some(version)).await?,
                    created: false,
                });
            }
        }
        definition.version = latest.as_ref().map_or(1, |row| u32::try_from(row.version + 1).unwrap_or(u32::MAX));
        let body = serde_json::to_string(&definition).map_err(|error| Error::Corrupt(error.to_string()))?;
        let row = DefinitionRow {
            name: definition.name.clone(),
            version: i64::from(definition.version),
            description: definition.description.clone(),
            body,
            content_hash: fnv1a_hex(&canonical),
            created_at: inner.clock.now_ms(),
            created_by: actor.to_string(),
        };
        match inner.store.insert_definition(&row).await {
            Ok(()) => {
                let definition = Arc::new(definition);
                inner.definitions.insert(definition.clone());
                return Ok(Registered { definition, created: true });
            }
            Err(store::Error::Conflict(_)) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(Error::Rejected(format!("registering `{}` kept racing with other registrations; try again", definition.name)))
}

/// The definition as text with its version left out, so equal content compares equal. States are a
/// sorted map, so the text does not depend on the order they were written in.
fn canonical_text(definition: &Definition) -> Result<String> {
    let mut unversioned = definition.clone();
    unversioned.version = 0;
    serde_json::to_string(&unversioned).map_err(|error| Error::Corrupt(error.to_string()))
}

/// A short fingerprint of the content, for people comparing versions (not for security).
fn fnv1a_hex(text: &str) -> String {
    let hash = text
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
    format!("{hash:016x}")
}
