//! The generated server and client talk over a real socket: Hello in,
//! Welcome out, and a stream without the token is refused.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status, Streaming};

use crate::auth::{AUTHORIZATION_HEADER, bearer, verify_bearer};
use crate::v1::slave_gateway_client::SlaveGatewayClient;
use crate::v1::slave_gateway_server::{SlaveGateway, SlaveGatewayServer};
use crate::v1::{
    Hello, MasterMessage, MinerProtocol, Settings, SlaveMessage, Welcome, master_message,
    slave_message,
};

const SECRET: &str = "test-secret";
const DEADLINE: Duration = Duration::from_secs(10);

/// Answers the first Hello with a Welcome that echoes what it was told.
struct EchoGateway;

#[tonic::async_trait]
impl SlaveGateway for EchoGateway {
    type ConnectStream = ReceiverStream<Result<MasterMessage, Status>>;

    async fn connect(
        &self,
        request: Request<Streaming<SlaveMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let authorized = request
            .metadata()
            .get(AUTHORIZATION_HEADER)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| verify_bearer(value, SECRET));
        if !authorized {
            return Err(Status::unauthenticated("missing or wrong bearer token"));
        }
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            while let Ok(Some(message)) = inbound.message().await {
                if let Some(slave_message::Kind::Hello(hello)) = message.kind {
                    let welcome = Welcome {
                        slave_index: u32::try_from(hello.protocols.len()).unwrap_or(u32::MAX),
                        acked_seq: hello.resume_from_seq,
                        master_version: "test".to_owned(),
                        network: "devnet".to_owned(),
                        settings: Some(Settings {
                            pool_address: hello.slave_id,
                            ..Settings::default()
                        }),
                    };
                    let frame = MasterMessage {
                        kind: Some(master_message::Kind::Welcome(welcome)),
                    };
                    if tx.send(Ok(frame)).await.is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Starts the gateway on a free local port; returns its client and server task.
async fn start_gateway() -> (SlaveGatewayClient<Channel>, JoinHandle<()>) {
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().expect("literal address parses"))
        .expect("binding port 0 on loopback succeeds");
    let addr = incoming
        .local_addr()
        .expect("bound listener has an address");
    let server = tokio::spawn(async move {
        Server::builder()
            .add_service(SlaveGatewayServer::new(EchoGateway))
            .serve_with_incoming(incoming)
            .await
            .expect("test server runs until aborted");
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("loopback URI is valid")
        .connect()
        .await
        .expect("client connects to the local server");
    (SlaveGatewayClient::new(channel), server)
}

fn hello() -> SlaveMessage {
    SlaveMessage {
        kind: Some(slave_message::Kind::Hello(Hello {
            slave_id: "eu-1".to_owned(),
            boot_id: "b00t".to_owned(),
            version: "0.1.0".to_owned(),
            region: "eu-west".to_owned(),
            protocols: vec![
                MinerProtocol::Stratum as i32,
                MinerProtocol::StratumTls as i32,
                MinerProtocol::Xatum as i32,
            ],
            resume_from_seq: 41,
        })),
    }
}

#[tokio::test]
async fn hello_gets_welcome_over_the_stream() {
    let (mut client, server) = start_gateway().await;
    let (tx, rx) = mpsc::channel(4);
    tx.send(hello()).await.expect("outbound stream is open");
    let mut request = Request::new(ReceiverStream::new(rx));
    request.metadata_mut().insert(
        AUTHORIZATION_HEADER,
        bearer(SECRET)
            .parse()
            .expect("token is valid ASCII metadata"),
    );

    let first = tokio::time::timeout(DEADLINE, async {
        let mut inbound = client.connect(request).await?.into_inner();
        inbound.message().await
    })
    .await
    .expect("welcome arrives before the deadline")
    .expect("stream opens and yields a frame");

    let Some(MasterMessage {
        kind: Some(master_message::Kind::Welcome(welcome)),
    }) = first
    else {
        panic!("first frame is not a welcome: {first:?}");
    };
    assert_eq!(welcome.acked_seq, 41);
    assert_eq!(welcome.slave_index, 3);
    assert_eq!(
        welcome.settings.map(|settings| settings.pool_address),
        Some("eu-1".to_owned())
    );
    drop(tx);
    server.abort();
}

#[tokio::test]
async fn stream_without_token_is_refused() {
    let (mut client, server) = start_gateway().await;
    let (tx, rx) = mpsc::channel(4);
    tx.send(hello()).await.expect("outbound stream is open");

    let outcome = tokio::time::timeout(DEADLINE, client.connect(ReceiverStream::new(rx)))
        .await
        .expect("answer arrives before the deadline");

    let status = outcome.expect_err("a stream without a token must be refused");
    assert_eq!(status.code(), Code::Unauthenticated);
    server.abort();
}
