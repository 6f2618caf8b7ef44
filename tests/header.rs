//! The committed C header must be exactly what cbindgen (pinned in
//! Cargo.lock) generates from src/ffi, plus the version macros made here
//! from Cargo.toml's version. Regenerate with
//! `MAILTLS_BLESS_HEADER=1 cargo test --test header`.

use std::ffi::CStr;
use std::path::Path;

/// The header's version macros, from the package version Cargo read in
/// Cargo.toml: a release bumps the version there and the blessed header
/// follows, so the two cannot drift apart.
fn version_macros() -> String {
    let define = |doc: &str, name: &str, value: &str| format!("\n/**\n * {doc}\n */\n#define {name} {value}\n");
    [
        define(
            "Major version of the library the header was generated for.",
            "MAILTLS_VERSION_MAJOR",
            env!("CARGO_PKG_VERSION_MAJOR"),
        ),
        define(
            "Minor version of the library the header was generated for.",
            "MAILTLS_VERSION_MINOR",
            env!("CARGO_PKG_VERSION_MINOR"),
        ),
        define(
            "Patch version of the library the header was generated for.",
            "MAILTLS_VERSION_PATCH",
            env!("CARGO_PKG_VERSION_PATCH"),
        ),
        define(
            "The version the header was generated for as a string; mailtls_version()\n * returns the loaded library's.",
            "MAILTLS_VERSION_STRING",
            &format!("\"{}\"", env!("CARGO_PKG_VERSION")),
        ),
    ]
    .concat()
    .trim_end()
    .to_owned()
}

#[test]
fn committed_header_matches_generated() {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let mut config = cbindgen::Config::from_file(Path::new(crate_dir).join("cbindgen.toml")).expect("cbindgen.toml");
    config.after_includes = Some(version_macros());
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen failed to generate the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = Path::new(crate_dir).join("include/mailtls.h");
    if std::env::var_os("MAILTLS_BLESS_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/mailtls.h");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/mailtls.h is stale: regenerate it with MAILTLS_BLESS_HEADER=1 cargo test --test header"
    );
}

fn committed_header() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/mailtls.h")).unwrap()
}

/// The value of `#define NAME value` in the header.
fn macro_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.lines().find_map(|line| {
        let rest = line.strip_prefix("#define ")?.strip_prefix(name)?;
        rest.starts_with(' ').then(|| rest.trim())
    })
}

/// The committed header's version macros are Cargo.toml's version, and the
/// library reports the same version at run time.
#[test]
fn version_macros_match_cargo_toml_and_the_library() {
    let header = committed_header();
    let version = |name| macro_value(&header, name).unwrap_or_else(|| panic!("no {name} in include/mailtls.h"));
    assert_eq!(version("MAILTLS_VERSION_MAJOR"), env!("CARGO_PKG_VERSION_MAJOR"));
    assert_eq!(version("MAILTLS_VERSION_MINOR"), env!("CARGO_PKG_VERSION_MINOR"));
    assert_eq!(version("MAILTLS_VERSION_PATCH"), env!("CARGO_PKG_VERSION_PATCH"));
    assert_eq!(version("MAILTLS_VERSION_STRING"), format!("\"{}\"", env!("CARGO_PKG_VERSION")));
    // SAFETY: mailtls_version returns a static NUL-terminated string.
    let at_run_time = unsafe { CStr::from_ptr(mailtls::ffi::version::mailtls_version()) };
    assert_eq!(at_run_time.to_str(), Ok(env!("CARGO_PKG_VERSION")));
}

/// The declarations of the header: (line index, declared name).
fn declarations(header: &str) -> Vec<(usize, &str)> {
    fn last_word(text: &str) -> Option<&str> {
        text.split(|c: char| !(c.is_alphanumeric() || c == '_')).rfind(|w| !w.is_empty())
    }
    let mut found = Vec::new();
    // A struct's name stands on its closing line; its doc above the opening.
    let mut open_struct = None;
    for (index, line) in header.lines().enumerate() {
        if line.starts_with("typedef struct") && line.ends_with('{') {
            open_struct = Some(index);
            continue;
        }
        if let (Some(start), Some(rest)) = (open_struct, line.strip_prefix("} ")) {
            found.extend(last_word(rest).map(|name| (start, name)));
            open_struct = None;
            continue;
        }
        if open_struct.is_some() {
            continue;
        }
        let declared = if let Some(rest) = line.strip_prefix("#define ") {
            rest.split_whitespace().next().filter(|name| *name != "MAILTLS_H")
        } else if line.starts_with("typedef") {
            match line.split_once("(*") {
                // A function pointer type: typedef int (*name)(...);
                Some((_, rest)) => rest.split(')').next(),
                None => last_word(line),
            }
        } else if !line.starts_with([' ', '#', '*', '/', '}']) && line.contains('(') {
            // A prototype: the name stands right before "(".
            line.split('(').next().and_then(last_word)
        } else {
            None
        };
        found.extend(declared.map(|name| (index, name)));
    }
    found
}

/// Everything the header declares carries the library's prefix, so it
/// cannot clash with names in the programs that include it.
#[test]
fn every_declared_name_has_the_prefix() {
    let header = committed_header();
    let unprefixed: Vec<&str> = declarations(&header)
        .into_iter()
        .map(|(_, name)| name)
        .filter(|name| !name.starts_with("mailtls_") && !name.starts_with("MAILTLS_"))
        .collect();
    assert!(unprefixed.is_empty(), "declarations without the mailtls prefix: {unprefixed:?}");
}

/// The header is the C reference manual: every declaration has its doc
/// comment right above it.
#[test]
fn every_declaration_is_documented() {
    let header = committed_header();
    let lines: Vec<&str> = header.lines().collect();
    let declared = declarations(&header);
    assert!(declared.len() > 100, "the scan found the declarations");
    let undocumented: Vec<&str> = declared
        .into_iter()
        .filter(|(index, _)| !lines[index - 1].trim_end().ends_with("*/"))
        .map(|(_, name)| name)
        .collect();
    assert!(undocumented.is_empty(), "declarations without a doc comment: {undocumented:?}");
}
