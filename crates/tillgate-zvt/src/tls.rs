//! ZVT over TLS: the ECR's client configuration (a CA file or Mozilla's roots via `webpki-roots`) and
//! the simulated terminal's server configuration (PEM certificate chain and key), both with `ring`.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, what)
}

/// PEM certificates from `path` (one or more).
pub fn load_certs(path: &Path) -> std::io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(format!("{}: no PEM certificates ({e})", path.display())))?;
    if certs.is_empty() {
        return Err(invalid(format!("{}: no PEM certificates", path.display())));
    }
    Ok(certs)
}

/// The client side: trust the CA certificates in `ca_file`, or, without one, Mozilla's root store
/// (a terminal with a publicly issued certificate).
pub fn client_config(ca_file: Option<&Path>) -> std::io::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in load_certs(path)? {
                roots
                    .add(cert)
                    .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The terminal side: the certificate chain in `cert_file` and the private key in `key_file` (PEM).
pub fn server_config(cert_file: &Path, key_file: &Path) -> std::io::Result<Arc<ServerConfig>> {
    let certs = load_certs(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| invalid(format!("{}: no PEM private key ({e})", key_file.display())))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(format!("certificate and key do not fit: {e}")))?;
    Ok(Arc::new(config))
}
