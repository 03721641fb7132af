//! The real `switchboard` binary: exit codes and the one-line error for a bad or unreachable database.

use std::process::{Command, Output};

fn switchboard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .output()
        .expect("run switchboard")
}

fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr).lines().map(str::to_string).collect()
}

#[test]
fn an_unreachable_database_ends_with_one_line_naming_it_without_the_password() {
    // Nothing listens on port 1: refused at once.
    let output = switchboard(&["migrate", "--database-url", "postgres://ops:t0psecret@127.0.0.1:1/switchboard"]);
    assert_eq!(output.status.code(), Some(1));
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 1, "exactly one line: {lines:?}");
    assert!(
        lines[0].starts_with("switchboard: cannot connect to database postgres://ops@127.0.0.1:1/switchboard:"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("refused"), "says why: {}", lines[0]);
    assert!(!lines[0].contains("t0psecret"));

    // `serve` fails the same way before it listens.
    let output = switchboard(&[
        "serve",
        "--database-url",
        "postgres://ops:t0psecret@127.0.0.1:1/switchboard",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let last = stderr_lines(&output).pop().unwrap_or_default();
    assert!(last.starts_with("switchboard: cannot connect to database postgres://ops@127.0.0.1:1/"), "{last}");
}

#[test]
fn a_bad_url_is_refused_with_a_reason_and_a_non_zero_code() {
    let output = switchboard(&["--database-url", "mysql://root:pw@127.0.0.1/db"]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("unsupported database URL scheme `mysql`"), "{text}");
    assert!(!text.contains(":pw@"), "{text}");
}

#[test]
fn migrate_creates_and_migrates_a_sqlite_file() {
    let folder = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}/new/switchboard.db", folder.path().display());
    let output = switchboard(&["migrate", "--database-url", &url]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(folder.path().join("new/switchboard.db").exists());
    assert!(String::from_utf8_lossy(&output.stdout).contains("migrations applied"));
}
