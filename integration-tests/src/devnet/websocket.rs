//! JSON-RPC over WebSocket on `/json_rpc`: the same methods as over HTTP plus
//! `subscribe`/`unsubscribe` to the daemon's events.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::events::EventKind;
use super::methods;
use super::rpc::{self, Request, RpcError};
use super::server::{Shared, faulted};

#[derive(Deserialize)]
struct NotifyParams {
    notify: String,
}

/// Upgrades `GET /json_rpc` to a WebSocket session (unless a fault is on).
pub async fn upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    if let Some(response) = faulted(&shared).await {
        return response;
    }
    ws.on_upgrade(move |socket| session(socket, shared))
}

/// Subscriptions of one session: event → id of the subscribe request.
#[derive(Debug, Default)]
pub struct Subscriptions {
    ids: HashMap<EventKind, Value>,
}

impl Subscriptions {
    /// Handles `subscribe` and `unsubscribe`; `None` for any other method.
    pub fn handle(&mut self, request: &Request) -> Option<Result<Value, RpcError>> {
        let subscribe = match request.method.as_str() {
            "subscribe" => true,
            "unsubscribe" => false,
            _ => return None,
        };
        Some(self.apply(request, subscribe))
    }

    fn apply(&mut self, request: &Request, subscribe: bool) -> Result<Value, RpcError> {
        let params: NotifyParams = rpc::params(&request.params)?;
        let kind = EventKind::from_name(&params.notify).ok_or_else(|| {
            let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
            RpcError::invalid_params(format!(
                "unknown event {:?}: expected one of {}",
                params.notify,
                known.join(", ")
            ))
        })?;
        if subscribe {
            self.ids
                .insert(kind, request.id.clone().unwrap_or(Value::Null));
        } else if self.ids.remove(&kind).is_none() {
            return Err(RpcError::invalid_params(format!(
                "not subscribed to {:?}",
                params.notify
            )));
        }
        Ok(Value::Bool(true))
    }

    /// The id to push `kind` events with, if subscribed.
    pub fn id(&self, kind: EventKind) -> Option<&Value> {
        self.ids.get(&kind)
    }
}

async fn session(mut socket: WebSocket, shared: Arc<Shared>) {
    let mut events = shared.daemon.subscribe();
    let mut subscriptions = Subscriptions::default();
    loop {
        let outgoing = tokio::select! {
            () = shared.cut_or_stopped() => break,
            message = socket.recv() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text.as_str().as_bytes().to_vec(),
                    Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                rpc::answer(&text, |request| {
                    subscriptions
                        .handle(request)
                        .unwrap_or_else(|| methods::call(&shared.daemon, request))
                })
            }
            event = events.recv() => match event {
                Ok(event) => subscriptions.id(event.kind).map(|id| event.frame(id)),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "websocket client too slow, events dropped");
                    None
                }
                Err(RecvError::Closed) => break,
            },
        };
        if let Some(frame) = outgoing
            && socket
                .send(Message::Text(frame.to_string().into()))
                .await
                .is_err()
        {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(method: &str, id: Value, notify: &str) -> Request {
        Request {
            method: method.into(),
            params: json!({"notify": notify}),
            id: Some(id),
        }
    }

    #[test]
    fn subscribe_records_the_request_id() {
        let mut subs = Subscriptions::default();
        let reply = subs.handle(&request("subscribe", json!(5), "new_block_template"));
        assert_eq!(reply, Some(Ok(Value::Bool(true))));
        assert_eq!(subs.id(EventKind::NewBlockTemplate), Some(&json!(5)));
        assert_eq!(subs.id(EventKind::NewBlock), None);
        let reply = subs.handle(&request("unsubscribe", json!(6), "new_block_template"));
        assert_eq!(reply, Some(Ok(Value::Bool(true))));
        assert_eq!(subs.id(EventKind::NewBlockTemplate), None);
    }

    #[test]
    fn unknown_events_and_other_methods() {
        let mut subs = Subscriptions::default();
        let reply = subs.handle(&request("subscribe", json!(1), "moon_landing"));
        assert!(matches!(reply, Some(Err(e)) if e.code == rpc::INVALID_PARAMS));
        let reply = subs.handle(&request("unsubscribe", json!(1), "new_block"));
        assert!(matches!(reply, Some(Err(_))));
        assert!(subs.handle(&request("get_info", json!(1), "x")).is_none());
    }
}
