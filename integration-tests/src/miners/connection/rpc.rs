//! Requests with fresh ids, their answers, and share verdicts.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::oneshot;

use super::{Connection, Dialect, PendingGuard, lock};
use crate::miners::{MinerError, RpcError, SubmitOutcome};

impl Connection {
    fn fresh_id(&self) -> (Value, String) {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = match self.dialect {
            Dialect::Xatum => Value::String(n.to_string()),
            Dialect::Stratum | Dialect::WebSocket => Value::from(n),
        };
        (id, n.to_string())
    }

    /// Sends `{"id":…,"method":method,"params":params}` (no `params` key when
    /// `None`) with a fresh id and waits for the answer with that id. Returns
    /// the whole answer object.
    pub async fn request(&self, method: &str, params: Option<Value>) -> Result<Value, MinerError> {
        self.request_within(method, params, self.options.timeout)
            .await
    }

    /// [`Connection::request`] waiting at most `timeout` for the answer.
    pub async fn request_within(
        &self,
        method: &str,
        params: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, MinerError> {
        let (id, key) = self.fresh_id();
        let (sender, receiver) = oneshot::channel();
        lock(&self.pending).insert(key.clone(), sender);
        // Removes the waiter however this future ends (answer, timeout, drop).
        let _pending = PendingGuard {
            connection: self,
            key,
        };
        // `finish` marks the connection closed before it drops the waiters,
        // so a waiter registered after that is caught here.
        if self.is_closed() {
            return Err(MinerError::Closed);
        }
        let mut message = Map::new();
        message.insert("id".to_string(), id);
        message.insert("method".to_string(), Value::String(method.to_string()));
        if let Some(params) = params {
            message.insert("params".to_string(), params);
        }
        self.send_raw_text(&Value::Object(message).to_string())
            .await?;
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(MinerError::Closed),
            Err(_) => Err(MinerError::Timeout {
                what: format!("answer to {method}"),
                after: timeout,
            }),
        }
    }

    /// Sends a request whose answer must be a plain result; an error object
    /// becomes [`MinerError::Rpc`].
    pub async fn call(&self, method: &str, params: Option<Value>) -> Result<Value, MinerError> {
        let answer = self.request(method, params).await?;
        match answer_error(&answer) {
            Some(error) => Err(MinerError::Rpc {
                method: method.to_string(),
                error,
            }),
            None => Ok(answer.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    /// Sends a request that must be answered `true`.
    pub(crate) async fn call_expecting_true(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<(), MinerError> {
        let result = self.call(method, params).await?;
        if result == Value::Bool(true) {
            Ok(())
        } else {
            Err(MinerError::UnexpectedResponse {
                method: method.to_string(),
                response: result.to_string(),
            })
        }
    }

    /// Sends a share and reads the verdict.
    pub(crate) async fn submit_request(
        &self,
        method: &str,
        params: Value,
    ) -> Result<SubmitOutcome, MinerError> {
        let answer = self.request(method, Some(params)).await?;
        submit_outcome(method, &answer)
    }

    /// Sends `method` without params and waits for the next
    /// `{"method":"pong"}` or an answer carrying the request's id.
    pub(crate) async fn ping_expecting_pong(&self, method: &str) -> Result<(), MinerError> {
        let before = *self.pongs.borrow();
        let mut pongs = self.pongs.subscribe();
        let request = self.request(method, None);
        let pong = pongs.wait_for(|count| *count > before);
        tokio::select! {
            answer = request => match answer {
                Ok(answer) => match answer_error(&answer) {
                    None => Ok(()),
                    Some(error) => Err(MinerError::Rpc { method: method.to_string(), error }),
                },
                // No answer by id, but a pong may have come meanwhile.
                Err(_) if *self.pongs.borrow() > before => Ok(()),
                Err(error) => Err(error),
            },
            _ = pong => Ok(()),
        }
    }
}

/// The error object of an answer, in either spelling: Stratum's
/// `[code, message, data]` or `{"code":…, "message":…}`.
pub fn answer_error(answer: &Value) -> Option<RpcError> {
    let error = answer.get("error")?;
    match error {
        Value::Null => None,
        Value::Array(items) => Some(RpcError {
            code: items.first().and_then(Value::as_i64).unwrap_or(-1),
            message: items
                .get(1)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        }),
        Value::Object(fields) => Some(RpcError {
            code: fields.get("code").and_then(Value::as_i64).unwrap_or(-1),
            message: fields
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        }),
        Value::String(message) => Some(RpcError {
            code: -1,
            message: message.clone(),
        }),
        other => Some(RpcError {
            code: -1,
            message: other.to_string(),
        }),
    }
}

/// The verdict on a share: `result: true` is accepted, an error is a
/// rejection, anything else breaks PROTOCOLS.md ("never `true` for a rejected
/// share, always a reason").
pub fn submit_outcome(method: &str, answer: &Value) -> Result<SubmitOutcome, MinerError> {
    if let Some(error) = answer_error(answer) {
        return Ok(SubmitOutcome::Rejected {
            code: error.code,
            message: error.message,
        });
    }
    if answer.get("result") == Some(&Value::Bool(true)) {
        Ok(SubmitOutcome::Accepted)
    } else {
        Err(MinerError::UnexpectedResponse {
            method: method.to_string(),
            response: answer.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_errors_in_both_spellings() {
        let stratum = json!({"id": 3, "result": null, "error": [23, "low difficulty share", null]});
        let object =
            json!({"id": 3, "result": null, "error": {"code": 22, "message": "duplicate share"}});
        assert_eq!(
            answer_error(&stratum),
            Some(RpcError {
                code: 23,
                message: "low difficulty share".to_string()
            })
        );
        assert_eq!(answer_error(&object).map(|e| e.code), Some(22));
        assert_eq!(
            answer_error(&json!({"id": 1, "result": true, "error": null})),
            None
        );
        assert_eq!(answer_error(&json!({"id": 1, "result": true})), None);
        assert_eq!(
            answer_error(&json!({"error": "boom"})).map(|e| e.code),
            Some(-1)
        );
    }

    #[test]
    fn a_share_is_accepted_only_by_true() {
        let accepted = json!({"id": 3, "result": true, "error": null});
        assert_eq!(
            submit_outcome("submit", &accepted).ok(),
            Some(SubmitOutcome::Accepted)
        );
        let rejected = json!({"id": 3, "result": null, "error": [21, "job not found", null]});
        assert_eq!(
            submit_outcome("submit", &rejected)
                .ok()
                .and_then(|o| o.rejection_code()),
            Some(21)
        );
        // `false` without a reason breaks PROTOCOLS.md.
        let silent = json!({"id": 3, "result": false, "error": null});
        assert!(matches!(
            submit_outcome("submit", &silent),
            Err(MinerError::UnexpectedResponse { .. })
        ));
    }
}
