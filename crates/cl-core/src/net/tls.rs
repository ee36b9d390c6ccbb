//! Which certificate authorities to trust: the bundled web roots, the operating system's
//! store, and the PEM files the user names (`--ca-cert`, `SSL_CERT_FILE`), as corporate
//! networks with private CAs and TLS-inspecting proxies need.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use ureq::tls::{Certificate, PemItem, RootCerts};

/// Builds the trust store: web roots, the OS store (when it can be read), and `extra` files.
pub fn root_certs(extra: &[PathBuf]) -> Result<RootCerts> {
    let mut certs: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    // An unreadable or empty OS store is not an error: the web roots and --ca-cert remain.
    let native = rustls_native_certs::load_native_certs();
    certs.extend(
        native
            .certs
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned()),
    );
    for file in extra {
        certs.extend(read_pem(file)?);
    }
    Ok(RootCerts::new_with_certs(&certs))
}

/// Reads every certificate of a PEM file; a file with none is a configuration error.
pub fn read_pem(file: &Path) -> Result<Vec<Certificate<'static>>> {
    let bad = |why: String| Error::Config(format!("CA file {}: {why}", file.display()));
    let pem = std::fs::read(file).map_err(|e| bad(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => return Err(bad(format!("not valid PEM ({e})"))),
        }
    }
    if certs.is_empty() {
        return Err(bad(
            "no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_files_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing here\n").unwrap();
        let err = read_pem(&empty).unwrap_err();
        assert!(
            err.is_config() && err.to_string().contains("no certificate"),
            "{err}"
        );
        assert!(
            read_pem(&dir.path().join("missing.pem"))
                .unwrap_err()
                .is_config()
        );
    }

    #[test]
    fn the_store_holds_the_web_roots_at_least() {
        match root_certs(&[]).unwrap() {
            RootCerts::Specific(certs) => assert!(certs.len() >= 100, "{}", certs.len()),
            _ => panic!("expected a specific store"),
        }
    }
}
