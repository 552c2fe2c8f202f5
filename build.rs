//! Embeds the commit the module was built from, so the start log line and the
//! CLI's `--version` name the exact source.

use std::process::Command;

fn main() {
    let commit = std::env::var("DOWNTIME_RESPONDER_COMMIT")
        .ok()
        .filter(|value| !value.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=DOWNTIME_RESPONDER_COMMIT={commit}");
    println!("cargo:rerun-if-env-changed=DOWNTIME_RESPONDER_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
}

fn git_commit() -> Option<String> {
    let output = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let commit = String::from_utf8(output.stdout).ok()?;
    Some(commit.trim().to_string())
}
