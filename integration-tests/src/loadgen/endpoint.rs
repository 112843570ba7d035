//! Pool endpoints given as URLs: `stratum+tcp://`, `stratum+ssl://` (or
//! `stratum+tls://`), `ws://`, `wss://` and `xatum://` (always TLS).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::LoadError;
use crate::miners::{Endpoint, TlsClient};

/// Parses one endpoint URL; `tls` is used for the TLS schemes and must be
/// given for them.
pub fn parse_endpoint(url: &str, tls: Option<&TlsClient>) -> Result<Endpoint, LoadError> {
    let bad = |why: &str| LoadError::Endpoint {
        url: url.to_owned(),
        why: why.to_owned(),
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected SCHEME://HOST:PORT"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let addr = resolve(authority).map_err(|why| bad(&why))?;
    let tls = || {
        tls.cloned().ok_or_else(|| {
            bad("a TLS endpoint needs --insecure (the pool's certificate is not checked)")
        })
    };
    Ok(match scheme.to_ascii_lowercase().as_str() {
        "stratum+tcp" | "stratum" => Endpoint::stratum_tcp(addr),
        "stratum+ssl" | "stratum+tls" => Endpoint::stratum_tls(addr, tls()?),
        "ws" => Endpoint::ws(addr),
        "wss" => Endpoint::wss(addr, tls()?),
        "xatum" | "xatum+ssl" | "xatum+tls" => Endpoint::xatum(addr, tls()?),
        _ => {
            return Err(bad(
                "unknown scheme; use stratum+tcp, stratum+ssl, ws, wss or xatum",
            ));
        }
    })
}

fn resolve(authority: &str) -> Result<SocketAddr, String> {
    if authority.is_empty() {
        return Err("no HOST:PORT".to_owned());
    }
    authority
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e} (HOST:PORT with a port)"))?
        .next()
        .ok_or_else(|| format!("{authority} resolves to no address"))
}

/// A TLS client (TLS 1.2 and 1.3) that accepts any server certificate:
/// for self-signed test pools only. It names the server `localhost`.
pub fn insecure_tls() -> Result<TlsClient, LoadError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AcceptAnyCertificate(provider.clone()));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LoadError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(TlsClient::new(Arc::new(config)))
}

#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::miners::{Protocol, Transport};

    #[test]
    fn every_scheme_maps_to_its_protocol_and_transport() {
        let tls = insecure_tls().expect("the ring provider supports TLS 1.2 and 1.3");
        let cases = [
            ("stratum+tcp://127.0.0.1:3333", Protocol::Stratum, false),
            ("stratum+ssl://127.0.0.1:3334", Protocol::Stratum, true),
            ("ws://127.0.0.1:3335/any/path", Protocol::WebSocket, false),
            ("wss://127.0.0.1:3335", Protocol::WebSocket, true),
            ("xatum://127.0.0.1:3336", Protocol::Xatum, true),
        ];
        for (url, protocol, is_tls) in cases {
            let endpoint = parse_endpoint(url, Some(&tls)).expect(url);
            assert_eq!(endpoint.protocol, protocol, "{url}");
            assert_eq!(
                matches!(endpoint.transport, Transport::Tls(_)),
                is_tls,
                "{url}"
            );
            assert_eq!(endpoint.addr.ip().to_string(), "127.0.0.1");
        }
    }

    #[test]
    fn refuses_what_it_cannot_reach() {
        assert!(parse_endpoint("127.0.0.1:3333", None).is_err());
        assert!(parse_endpoint("http://127.0.0.1:80", None).is_err());
        assert!(parse_endpoint("stratum+tcp://127.0.0.1", None).is_err());
        let error = parse_endpoint("xatum://127.0.0.1:3336", None).expect_err("needs TLS");
        assert!(error.to_string().contains("--insecure"), "{error}");
    }
}
