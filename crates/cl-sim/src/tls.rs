//! HTTPS for the simulator: a certificate authority and a server certificate for the loopback
//! names, made at start, so tests go through a real TLS handshake.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::io;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{ServerConfig, crypto};

/// A server identity: what clients must trust, and what the server presents.
pub struct Identity {
    /// The CA certificate, PEM: give it to clients with `--ca-cert`.
    pub ca_pem: String,
    /// Accepts TLS connections with a certificate for localhost, 127.0.0.1, 127.0.0.2, ::1.
    pub acceptor: TlsAcceptor,
}

/// Makes a fresh CA and a server certificate signed by it.
pub fn generate() -> io::Result<Identity> {
    let fail = |e: rcgen::Error| io::Error::other(format!("making certificates: {e}"));
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "cl-sim test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().map_err(fail)?).map_err(fail)?;
    let names = ["localhost", "127.0.0.1", "127.0.0.2", "::1"].map(String::from);
    let mut server = CertificateParams::new(names.to_vec()).map_err(fail)?;
    server.distinguished_name.push(DnType::CommonName, "cl-sim");
    let key = KeyPair::generate().map_err(fail)?;
    let cert = server.signed_by(&key, &ca).map_err(fail)?;
    let chain = vec![cert.der().clone(), ca.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(io::Error::other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Identity {
        ca_pem: ca.pem(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}
