//! The TLS side of the miner doors: a rustls server configuration from the
//! PEM files of `slave.tls_cert` and `slave.tls_key`, ring as the crypto
//! provider, TLS 1.2 and 1.3 (`tosminer` speaks 1.2 only).
//!
//! The certificate is reloadable ([`Certificate::reload`], on SIGHUP):
//! every TLS door resolves it per handshake, so new connections get the new
//! certificate and open sessions keep theirs. A reload that fails (a file
//! half written, a key that does not fit) keeps the certificate in use.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A file could not be read.
    #[error("cannot read {key} file {path}: {source}; check slave.tls_cert and slave.tls_key")]
    Read {
        /// The config key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no usable PEM item.
    #[error("{key} file {path} holds no {what}: give a PEM file")]
    Empty {
        /// The config key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What was looked for.
        what: &'static str,
    },
    /// rustls refused the pair.
    #[error("the TLS certificate and key do not fit together: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The miner doors' certificate: the PEM chain and key at two paths, read
/// again on [`Certificate::reload`].
#[derive(Debug)]
pub struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificate {
    /// Reads the chain at `cert` and the key at `key`.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Certificate>, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = read_pair(cert, key, &provider)?;
        Ok(Arc::new(Certificate {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(current)),
        }))
    }

    /// Reads both files again; on success new handshakes present the new
    /// certificate, on failure the current one stays.
    pub fn reload(&self) -> Result<(), TlsSetupError> {
        let next = read_pair(&self.cert, &self.key, &self.provider)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
        Ok(())
    }

    /// A TLS acceptor presenting this certificate as it is at each handshake.
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, TlsSetupError> {
        let config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    fn get(&self) -> Arc<CertifiedKey> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

fn read_pair(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsSetupError> {
    let chain = read_certs(cert)?;
    let private_key = read_key(key)?;
    Ok(CertifiedKey::from_der(chain, private_key, provider)?)
}

fn open(key: &'static str, path: &Path) -> Result<BufReader<std::fs::File>, TlsSetupError> {
    std::fs::File::open(path)
        .map(BufReader::new)
        .map_err(|source| TlsSetupError::Read {
            key,
            path: path.to_path_buf(),
            source,
        })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let key = "slave.tls_cert";
    let certs = rustls_pemfile::certs(&mut open(key, path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsSetupError::Read {
            key,
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsSetupError::Empty {
            key,
            path: path.to_path_buf(),
            what: "CERTIFICATE",
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let key = "slave.tls_key";
    rustls_pemfile::private_key(&mut open(key, path)?)
        .map_err(|source| TlsSetupError::Read {
            key,
            path: path.to_path_buf(),
            source,
        })?
        .ok_or_else(|| TlsSetupError::Empty {
            key,
            path: path.to_path_buf(),
            what: "PRIVATE KEY",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_name_the_key() {
        let dir = std::env::temp_dir().join(format!("tos-pool-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        let missing = dir.join("missing.pem");
        let Err(error) = Certificate::load(&missing, &empty) else {
            panic!("a missing certificate must be refused");
        };
        assert!(error.to_string().contains("slave.tls_cert"), "{error}");
        let Err(error) = Certificate::load(&empty, &empty) else {
            panic!("an empty certificate file must be refused");
        };
        assert!(error.to_string().contains("CERTIFICATE"), "{error}");
    }
}
