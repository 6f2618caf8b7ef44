//! The committed C header must be exactly what cbindgen (pinned in
//! Cargo.lock) generates from src/ffi. Regenerate with
//! `MAILTLS_BLESS_HEADER=1 cargo test --test header`.

use std::path::Path;

#[test]
fn committed_header_matches_generated() {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(Path::new(crate_dir).join("cbindgen.toml"))
        .expect("cbindgen.toml");
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
