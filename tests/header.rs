//! The committed C header must be exactly what cbindgen (pinned in
//! Cargo.lock) generates from src/ffi. Regenerate with
//! `MAILTLS_BLESS_HEADER=1 cargo test --test header`.

use std::path::Path;

#[test]
fn committed_header_matches_generated() {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(Path::new(crate_dir).join("cbindgen.toml")).expect("cbindgen.toml");
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

/// Everything the header declares carries the library's prefix, so it
/// cannot clash with names in the programs that include it.
#[test]
fn every_declared_name_has_the_prefix() {
    let header = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/mailtls.h")).unwrap();
    fn last_word(text: &str) -> Option<&str> {
        text.split(|c: char| !(c.is_alphanumeric() || c == '_')).rfind(|w| !w.is_empty())
    }
    let mut unprefixed = Vec::new();
    for line in header.lines() {
        let declared = if let Some(rest) = line.strip_prefix("#define ") {
            rest.split_whitespace().next()
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
        if let Some(name) = declared {
            if !name.starts_with("mailtls_") && !name.starts_with("MAILTLS_") {
                unprefixed.push(line.to_string());
            }
        }
    }
    assert!(unprefixed.is_empty(), "declarations without the mailtls prefix: {unprefixed:#?}");
}
