//! TLS for tests and the local cluster: a self-signed certificate made on the
//! spot, a server configuration allowing TLS 1.2 and 1.3, and client
//! configurations that trust exactly that certificate (one of them TLS 1.2
//! only, as the real `tosminer` speaks). Every configuration names the ring
//! provider itself and never relies on a process-wide default.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};

/// Why a certificate or a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen refused the names or failed to sign.
    #[error("could not generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("rustls refused the TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// Writing the PEM files failed.
    #[error("could not write {path}: {source}; is the directory writable?")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A self-signed certificate and its private key.
#[derive(Debug, Clone)]
pub struct TestCertificate {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The PKCS#8 private key, PEM.
    pub key_pem: String,
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The PKCS#8 private key, DER.
    pub key_der: Vec<u8>,
}

impl TestCertificate {
    /// A fresh self-signed certificate for `names` (DNS names, or IP
    /// addresses such as `127.0.0.1`, which become IP subject names).
    pub fn self_signed(names: &[&str]) -> Result<TestCertificate, TlsError> {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let certified = rcgen::generate_simple_self_signed(names)?;
        Ok(TestCertificate {
            cert_pem: certified.cert.pem(),
            key_pem: certified.signing_key.serialize_pem(),
            cert_der: certified.cert.der().clone(),
            key_der: certified.signing_key.serialize_der(),
        })
    }

    /// The private key as rustls takes it.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// Writes `cert.pem` and `key.pem` into `dir`; returns their paths.
    pub fn write_to(&self, dir: &Path) -> Result<(PathBuf, PathBuf), TlsError> {
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        for (path, text) in [(&cert_path, &self.cert_pem), (&key_path, &self.key_pem)] {
            std::fs::write(path, text).map_err(|source| TlsError::Write {
                path: path.clone(),
                source,
            })?;
        }
        Ok((cert_path, key_path))
    }
}

fn ring() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

const TLS12_AND_13: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];
const TLS12_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// A server configuration presenting `cert`, allowing TLS 1.2 and 1.3.
pub fn server_config(cert: &TestCertificate) -> Result<Arc<ServerConfig>, TlsError> {
    let config = ServerConfig::builder_with_provider(ring())
        .with_protocol_versions(TLS12_AND_13)?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert_der.clone()], cert.private_key())?;
    Ok(Arc::new(config))
}

fn client_config(
    cert: &TestCertificate,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.cert_der.clone())?;
    let config = ClientConfig::builder_with_provider(ring())
        .with_protocol_versions(versions)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client configuration (TLS 1.2 and 1.3) trusting only `cert`.
pub fn client_config_trusting(cert: &TestCertificate) -> Result<Arc<ClientConfig>, TlsError> {
    client_config(cert, TLS12_AND_13)
}

/// A client configuration speaking TLS 1.2 only, as `tosminer` does,
/// trusting only `cert`.
pub fn client_config_tls12_only(cert: &TestCertificate) -> Result<Arc<ClientConfig>, TlsError> {
    client_config(cert, TLS12_ONLY)
}

/// The server name `localhost`, for SNI and the certificate check.
pub fn localhost() -> ServerName<'static> {
    ServerName::DnsName(
        rustls::pki_types::DnsName::try_from("localhost")
            .expect("`localhost` is a valid DNS name")
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Runs a handshake over an in-memory pipe and echoes one byte; returns
    /// the version the client negotiated.
    async fn handshake(
        cert: &TestCertificate,
        client: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> std::io::Result<rustls::ProtocolVersion> {
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(cert).expect("server config"));
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let mut stream = acceptor.accept(server_io).await?;
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await?;
            stream.write_all(&byte).await?;
            stream.flush().await
        });
        let connector = tokio_rustls::TlsConnector::from(client);
        let mut stream = connector.connect(name, client_io).await?;
        stream.write_all(b"x").await?;
        stream.flush().await?;
        let mut echo = [0u8; 1];
        stream.read_exact(&mut echo).await?;
        assert_eq!(&echo, b"x");
        server.await.expect("server task")?;
        Ok(stream
            .get_ref()
            .1
            .protocol_version()
            .expect("a finished handshake has a version"))
    }

    #[tokio::test]
    async fn tls12_only_client_and_default_client_both_connect() {
        let cert = TestCertificate::self_signed(&["localhost", "127.0.0.1"]).expect("cert");
        let v12 = handshake(
            &cert,
            client_config_tls12_only(&cert).expect("client"),
            localhost(),
        )
        .await
        .expect("TLS 1.2 handshake");
        assert_eq!(v12, rustls::ProtocolVersion::TLSv1_2);
        let v13 = handshake(
            &cert,
            client_config_trusting(&cert).expect("client"),
            localhost(),
        )
        .await
        .expect("TLS 1.3 handshake");
        assert_eq!(v13, rustls::ProtocolVersion::TLSv1_3);
        let ip = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
        handshake(&cert, client_config_trusting(&cert).expect("client"), ip)
            .await
            .expect("the IP is a subject name too");
    }

    #[tokio::test]
    async fn a_client_refuses_a_certificate_it_does_not_trust() {
        let cert = TestCertificate::self_signed(&["localhost"]).expect("cert");
        let other = TestCertificate::self_signed(&["localhost"]).expect("cert");
        let client = client_config_trusting(&other).expect("client");
        assert!(handshake(&cert, client, localhost()).await.is_err());
        let wrong_name = ServerName::try_from("example.org").expect("name");
        let client = client_config_trusting(&cert).expect("client");
        assert!(handshake(&cert, client, wrong_name).await.is_err());
    }

    #[test]
    fn writes_pem_files() {
        let cert = TestCertificate::self_signed(&["localhost"]).expect("cert");
        let dir = tempfile::tempdir().expect("temp dir");
        let (cert_path, key_path) = cert.write_to(dir.path()).expect("write");
        let cert_text = std::fs::read_to_string(cert_path).expect("cert file");
        let key_text = std::fs::read_to_string(key_path).expect("key file");
        assert!(cert_text.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(key_text.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(cert_text, cert.cert_pem);
    }
}
