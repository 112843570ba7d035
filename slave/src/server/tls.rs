//! The TLS side of the miner doors: a rustls server configuration from the
//! PEM files of `slave.tls_cert` and `slave.tls_key`, ring as the crypto
//! provider, TLS 1.2 and 1.3 (`tosminer` speaks 1.2 only).

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
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

/// A TLS acceptor presenting the PEM chain at `cert` with the key at `key`.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsSetupError> {
    let chain = read_certs(cert)?;
    let private_key = read_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
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
        let Err(error) = acceptor(&missing, &empty) else {
            panic!("a missing certificate must be refused");
        };
        assert!(error.to_string().contains("slave.tls_cert"), "{error}");
        let Err(error) = acceptor(&empty, &empty) else {
            panic!("an empty certificate file must be refused");
        };
        assert!(error.to_string().contains("CERTIFICATE"), "{error}");
    }
}
