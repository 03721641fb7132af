//! Architecture invariant 1: the engine knows nothing about HTTP, HTML, SQL or the wall clock. Cargo
//! enforces it through the engine's manifest; this test keeps the manifest honest.

/// The only crates `server/engine` may depend on: serde and small pure crates.
const ALLOWED: &[&str] = &["serde", "serde_json", "thiserror"];

#[test]
fn the_engine_depends_on_pure_crates_only() {
    let manifest_path = concat!(env!("CARGO_MANIFEST_DIR"), "/engine/Cargo.toml");
    let manifest = std::fs::read_to_string(manifest_path).expect("engine manifest");
    let mut in_dependencies = false;
    let mut found = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            // [dev-dependencies] may hold test tools (proptest); only what ships with the engine counts.
            in_dependencies =
                line == "[dependencies]" || line.starts_with("[target.") && line.ends_with(".dependencies]");
            continue;
        }
        if in_dependencies && !line.is_empty() && !line.starts_with('#') {
            if let Some((name, _)) = line.split_once('=') {
                found.push(name.trim().to_string());
            }
        }
    }
    assert!(!found.is_empty(), "no [dependencies] found in {manifest_path}");
    let forbidden: Vec<_> = found.iter().filter(|name| !ALLOWED.contains(&name.as_str())).collect();
    assert!(
        forbidden.is_empty(),
        "server/engine must stay pure (no I/O crates); remove {forbidden:?} or justify adding them to ALLOWED"
    );
}
