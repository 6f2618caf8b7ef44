//! Replays every committed fuzz input (fuzz/corpus/TARGET/* and the
//! regression inputs in fuzz/artifacts/TARGET/*) through the same
//! `mailtls::fuzzing` entry point its fuzz target calls, on the stable
//! toolchain: what the fuzzer once found keeps being checked.

use std::path::{Path, PathBuf};

use mailtls::fuzzing::{TARGETS, Target};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn target(name: &str) -> Target {
    TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("fuzz/*/{name} has no function in mailtls::fuzzing::TARGETS"))
}

/// The inputs under `dir/TARGET/`, by target; a missing `dir` is none.
fn inputs(dir: &Path) -> Vec<(String, Vec<PathBuf>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        assert!(path.is_dir(), "{} is not a target directory", path.display());
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        out.push((name, files));
    }
    out.sort();
    out
}

fn replay(name: &str, files: &[PathBuf]) {
    let run = target(name);
    for file in files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{name} panicked on {}", file.display());
    }
}

#[test]
fn every_target_has_a_non_empty_corpus() {
    let corpora = inputs(&fuzz_dir().join("corpus"));
    for (name, files) in &corpora {
        target(name);
        assert!(!files.is_empty(), "fuzz/corpus/{name} is empty");
    }
    for (name, _) in TARGETS {
        assert!(corpora.iter().any(|(n, _)| n == name), "{name} has no fuzz/corpus/{name}");
        let source = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&source).unwrap_or_default();
        assert!(text.contains(&format!("mailtls::fuzzing::{name}(")), "{} does not call {name}", source.display());
    }
}

#[test]
fn corpus_inputs_replay_without_panic() {
    for (name, files) in inputs(&fuzz_dir().join("corpus")) {
        replay(&name, &files);
    }
}

#[test]
fn regression_inputs_replay_without_panic() {
    for (name, files) in inputs(&fuzz_dir().join("artifacts")) {
        replay(&name, &files);
    }
}
