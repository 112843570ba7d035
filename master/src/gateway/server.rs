//! The tonic side of the gateway: authentication, TLS, and serving within
//! the connection limits of `master.*` (see [`super::connections`]): a TLS
//! handshake bounded by `master.handshake_timeout`, HTTP/2 keepalive pings
//! every `master.keepalive_interval`, at most
//! [`MAX_STREAMS_PER_CONNECTION`] streams on a connection.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};
use tos_pool_common::config::MasterConfig;
use tos_pool_proto::MAX_MESSAGE_BYTES;
use tos_pool_proto::auth::{AUTHORIZATION_HEADER, verify_bearer};
use tos_pool_proto::v1::SlaveMessage;
use tos_pool_proto::v1::slave_gateway_server::{SlaveGateway, SlaveGatewayServer};

use super::connections::{
    ConnectionLimits, GatewayConnection, GatewayIncoming, MAX_STREAMS_PER_CONNECTION,
};
use super::outbound::{OutboundStream, Outbox};
use super::{Gateway, stream};

/// Why the gateway could not be set up or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A TLS file could not be read.
    #[error("cannot read {key} at {path}: {source}; check the path and its permissions")]
    ReadTls {
        /// The config key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Neither TLS files nor `allow_plaintext` are configured.
    #[error(
        "master.tls_cert and master.tls_key are not set: set both, or master.allow_plaintext on a loopback bind"
    )]
    NoTls,
    /// tonic refused the TLS identity.
    #[error("master.tls_cert/master.tls_key are not a usable PEM certificate and key: {0}")]
    Tls(#[source] tonic::transport::Error),
    /// The listener could not be bound.
    #[error("cannot listen on master.bind {addr}: {reason}; pick a free port")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The server stopped with an error.
    #[error("the slave gateway stopped: {0}")]
    Serve(#[source] tonic::transport::Error),
}

/// The TLS settings of `master`: `None` when plaintext is allowed and no
/// certificate is configured. A handshake not done within
/// `master.handshake_timeout` is dropped.
pub fn tls_config(master: &MasterConfig) -> Result<Option<ServerTlsConfig>, GatewayError> {
    match (&master.tls_cert, &master.tls_key) {
        (Some(cert), Some(key)) => {
            let read = |key_name: &'static str, path: &PathBuf| {
                std::fs::read(path).map_err(|source| GatewayError::ReadTls {
                    key: key_name,
                    path: path.clone(),
                    source,
                })
            };
            let identity =
                Identity::from_pem(read("master.tls_cert", cert)?, read("master.tls_key", key)?);
            Ok(Some(
                ServerTlsConfig::new()
                    .identity(identity)
                    .timeout(master.handshake_timeout),
            ))
        }
        _ if master.allow_plaintext => Ok(None),
        _ => Err(GatewayError::NoTls),
    }
}

/// Binds `master.bind` for the gateway, with the connection limits of
/// `master`; the returned listener knows its real port.
pub fn bind(master: &MasterConfig) -> Result<GatewayIncoming, GatewayError> {
    let addr = master.bind;
    let limits = ConnectionLimits::from_config(master);
    let incoming = TcpIncoming::bind(addr)
        .map(|incoming| {
            incoming
                .with_nodelay(Some(true))
                .with_keepalive(Some(limits.keepalive_interval))
        })
        .map_err(|error| GatewayError::Bind {
            addr,
            reason: error.to_string(),
        })?;
    let local_addr = incoming.local_addr();
    Ok(GatewayIncoming::new(incoming, local_addr, limits))
}

/// Serves `gateway` on `incoming` until `shutdown` resolves.
pub async fn serve(
    gateway: Gateway,
    incoming: GatewayIncoming,
    tls: Option<ServerTlsConfig>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GatewayError> {
    let limits = incoming.limits();
    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_interval))
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION);
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).map_err(GatewayError::Tls)?;
    }
    builder
        .add_service(
            SlaveGatewayServer::new(gateway.service())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(GatewayError::Serve)
}

/// The `SlaveGateway` gRPC service.
#[derive(Debug, Clone)]
pub struct GatewayService {
    gateway: Gateway,
}

impl GatewayService {
    pub(super) fn new(gateway: Gateway) -> Self {
        GatewayService { gateway }
    }
}

#[tonic::async_trait]
impl SlaveGateway for GatewayService {
    type ConnectStream = OutboundStream;

    async fn connect(
        &self,
        request: Request<Streaming<SlaveMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let connection = request.extensions().get::<GatewayConnection>().cloned();
        let peer = connection
            .as_ref()
            .and_then(GatewayConnection::peer)
            .or_else(|| request.remote_addr());
        let authorized = request
            .metadata()
            .get(AUTHORIZATION_HEADER)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| verify_bearer(value, &self.gateway.shared.secret));
        if !authorized {
            tracing::warn!(
                peer = ?peer,
                "slave stream refused: missing or wrong bearer token"
            );
            return Err(Status::unauthenticated(
                "missing or wrong bearer token: set master.secret on the slave to the master's",
            ));
        }
        if let Some(connection) = &connection {
            connection.admit();
        }
        let (outbox, outbound) = Outbox::new();
        let shared = self.gateway.shared.clone();
        tokio::spawn(stream::run(shared, request.into_inner(), outbox, peer));
        Ok(Response::new(outbound))
    }
}
