//! The system's trusted roots for OpenSSL, loaded as cheaply as possible.
//!
//! OpenSSL's own default (`SSL_CTX_set_default_verify_paths`) reads two
//! places: a CA bundle file, parsed whole at once, and a certificate
//! directory of files named by subject hash (`1a2b3c4d.0`), read lazily, one
//! file per issuer a verification needs. Parsing the bundle is what makes a
//! process's first TLS context slow (tens of milliseconds for ~150
//! certificates). Debian, Ubuntu, Alpine and others keep both from one
//! source: `update-ca-certificates` writes the hash links and the bundle
//! into the same directory. When the system's bundle (OpenSSL's default,
//! also when `SSL_CERT_FILE` names that same file, as containers often do)
//! lives inside a hashed directory that is searched, it adds nothing, so
//! only the directory is used. Everywhere else (Fedora's separate bundle,
//! any other bundle `SSL_CERT_FILE` names, a directory without hash links)
//! the bundle is loaded as OpenSSL would.

use std::ffi::{CStr, OsStr, OsString};
use std::path::{Path, PathBuf};

use openssl::ssl::{SslContextBuilder, SslFiletype};
use openssl::x509::store::X509Lookup;

/// Where roots are taken from; built by `locate`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RootLocations {
    /// Directories searched lazily by subject hash.
    pub dirs: Vec<PathBuf>,
    /// A bundle to parse up front, if it is not covered by `dirs`.
    pub bundle: Option<PathBuf>,
}

pub(crate) fn add_system_roots(ctx: &mut SslContextBuilder) {
    // The names are OpenSSL's own (SSL_CERT_FILE, SSL_CERT_DIR); var_os
    // would panic on an empty one.
    let env = |name: &str| if name.is_empty() { None } else { std::env::var_os(name) };
    let found = locate(
        env(openssl_str(openssl_sys::X509_get_default_cert_file_env)),
        env(openssl_str(openssl_sys::X509_get_default_cert_dir_env)),
        PathBuf::from(openssl_str(openssl_sys::X509_get_default_cert_file)),
        OsString::from(openssl_str(openssl_sys::X509_get_default_cert_dir)),
    );
    // As with OpenSSL's defaults, a missing or unreadable location is
    // skipped: verification then fails with "untrusted", which says more.
    if !found.dirs.is_empty()
        && let Ok(lookup) = ctx.cert_store_mut().add_lookup(X509Lookup::hash_dir())
    {
        for dir in &found.dirs {
            if let Some(dir) = dir.to_str() {
                let _ = lookup.add_dir(dir, SslFiletype::PEM);
            }
        }
    }
    if let Some(bundle) = &found.bundle {
        let _ = ctx.set_ca_file(bundle);
    }
}

/// One of OpenSSL's compiled-in names (paths and variable names).
fn openssl_str(get: unsafe extern "C" fn() -> *const libc::c_char) -> &'static str {
    // SAFETY: these functions return pointers to static NUL-terminated strings.
    let ptr = unsafe { get() };
    if ptr.is_null() { "" } else { unsafe { CStr::from_ptr(ptr) }.to_str().unwrap_or("") }
}

/// Decide where roots come from: `env_file` / `env_dir` are the values of
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`, which replace OpenSSL's defaults as
/// they do for OpenSSL itself; `env_dir` may list several directories
/// separated by ':'.
pub(crate) fn locate(
    env_file: Option<OsString>,
    env_dir: Option<OsString>,
    default_file: PathBuf,
    default_dir: OsString,
) -> RootLocations {
    let dir_list = env_dir.unwrap_or(default_dir);
    let dirs: Vec<PathBuf> =
        std::env::split_paths(&dir_list).filter(|d| !d.as_os_str().is_empty() && d.is_dir()).collect();
    let system_bundle = default_file.canonicalize().ok();
    let bundle = env_file.map(PathBuf::from).unwrap_or(default_file);
    let canonical = bundle.canonicalize().ok();
    // Only the system's own bundle is known to be kept with the hash links;
    // any other bundle may hold roots they lack.
    let covered = canonical.is_some() && canonical == system_bundle && in_hashed_dir(canonical.as_deref(), &dirs);
    RootLocations { dirs, bundle: Some(bundle).filter(|f| !covered && f.is_file()) }
}

/// Whether `bundle` (canonical) sits in one of `dirs` that holds hash
/// links, so that both were written together from the same certificates.
fn in_hashed_dir(bundle: Option<&Path>, dirs: &[PathBuf]) -> bool {
    let Some(bundle) = bundle else { return false };
    dirs.iter()
        .any(|dir| dir.canonicalize().is_ok_and(|dir| bundle.parent() == Some(dir.as_path())) && has_hash_links(dir))
}

fn has_hash_links(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|entry| is_hash_name(&entry.file_name()))
}

/// `1a2b3c4d.0`: eight hex digits, a dot, a sequence number.
fn is_hash_name(name: &OsStr) -> bool {
    let Some((hash, seq)) = name.to_str().and_then(|n| n.split_once('.')) else { return false };
    hash.len() == 8
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
        && !seq.is_empty()
        && seq.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory removed on drop.
    struct Scratch(PathBuf);
    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("mailtls-roots-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
        fn file(&self, name: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, b"not parsed here").unwrap();
            path
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_bundle_beside_hash_links_is_not_parsed() {
        let certs = Scratch::new("debian");
        certs.file("1a2b3c4d.0");
        let bundle = certs.file("ca-certificates.crt");
        let found = locate(None, None, bundle, certs.0.clone().into_os_string());
        assert_eq!(found, RootLocations { dirs: vec![certs.0.clone()], bundle: None });
    }

    #[test]
    fn a_bundle_reached_through_a_symlink_is_recognised() {
        // Debian: /usr/lib/ssl/cert.pem -> /etc/ssl/certs/ca-certificates.crt
        let certs = Scratch::new("linked");
        certs.file("1a2b3c4d.0");
        let real = certs.file("ca-certificates.crt");
        let elsewhere = Scratch::new("linked-from");
        let link = elsewhere.0.join("cert.pem");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(locate(None, None, link, certs.0.clone().into_os_string()).bundle, None);
    }

    #[test]
    fn a_bundle_elsewhere_or_without_hash_links_is_parsed() {
        let plain = Scratch::new("fedora");
        let bundle = plain.file("ca-bundle.crt");
        assert_eq!(locate(None, None, bundle.clone(), plain.0.clone().into_os_string()).bundle, Some(bundle));

        let hashed = Scratch::new("hashed-other");
        hashed.file("1a2b3c4d.0");
        let other = Scratch::new("bundle-other");
        let bundle = other.file("tls-ca-bundle.pem");
        assert_eq!(locate(None, None, bundle.clone(), hashed.0.clone().into_os_string()).bundle, Some(bundle));
    }

    #[test]
    fn the_environment_replaces_the_defaults_and_missing_places_are_dropped() {
        let certs = Scratch::new("env");
        certs.file("1a2b3c4d.0");
        let system = certs.file("ca-certificates.crt");
        let own = certs.file("my-roots.pem");
        let list = std::env::join_paths([certs.0.clone(), PathBuf::from("/nonexistent/mailtls")]).unwrap();
        let found = |env_file: &Path| {
            locate(Some(env_file.as_os_str().to_owned()), Some(list.clone()), system.clone(), "".into())
        };
        // Another bundle named by SSL_CERT_FILE is loaded, even beside hash links...
        assert_eq!(found(&own), RootLocations { dirs: vec![certs.0.clone()], bundle: Some(own.clone()) });
        // ...but naming the system's own bundle again changes nothing.
        assert_eq!(found(&system), RootLocations { dirs: vec![certs.0.clone()], bundle: None });

        let none = locate(None, None, "/nonexistent/cert.pem".into(), "/nonexistent/certs".into());
        assert_eq!(none, RootLocations { dirs: vec![], bundle: None });
    }

    #[test]
    fn hash_names_are_recognised_exactly() {
        for good in ["1a2b3c4d.0", "FFFFFFFF.12"] {
            assert!(is_hash_name(OsStr::new(good)), "{good}");
        }
        for bad in ["ca-certificates.crt", "1a2b3c4d", "1a2b3c4d.", "1a2b3c4.0", "1a2b3c4g.0", "1a2b3c4d.r0"] {
            assert!(!is_hash_name(OsStr::new(bad)), "{bad}");
        }
    }
}
