//! GET /graphql/ws: subscriptions over a WebSocket, in the
//! `graphql-transport-ws` protocol (and the older `graphql-ws` of
//! subscriptions-transport-ws). The token comes in `connection_init`.
//!
//! async-graphql plays the protocol; this module holds it to the close
//! codes `graphql-transport-ws` defines, where async-graphql answers with
//! generic ones (its 1002 and 1011):
//! - 4400 a message that is not one of the protocol's;
//! - 4401 a `subscribe` before the connection was acknowledged;
//! - 4403 a `connection_init` whose token is refused;
//! - 4408 no `connection_init` within [`INIT_TIMEOUT`];
//! - 4429 a second `connection_init` (async-graphql's own).

use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols, WsMessage};
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use futures_util::{SinkExt as _, StreamExt as _};

use super::error::BackOfficeError;
use super::{GraphqlState, error_response};

/// How long a client has to send `connection_init` after the upgrade.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn serve(
    State(state): State<GraphqlState>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|offered| {
            offered
                .split(',')
                .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        });
    let (Ok(upgrade), Some(protocol)) = (upgrade, protocol) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            BackOfficeError::Coded {
                code: "BAD_REQUEST",
                message: "/graphql/ws takes a WebSocket in the graphql-transport-ws protocol"
                    .into(),
            },
        );
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| session(socket, state, protocol))
}

/// What happened to the `connection_init`, as the close codes need it.
#[derive(Default)]
struct Handshake {
    received: AtomicBool,
    refused: AtomicBool,
}

async fn session(socket: WebSocket, state: GraphqlState, protocol: WebSocketProtocols) {
    let (mut sink, incoming) = socket.split();
    let input = incoming
        .take_while(|message| std::future::ready(message.is_ok()))
        .filter_map(|message| {
            std::future::ready(match message {
                Ok(Message::Text(text)) => Some(text.as_str().as_bytes().to_vec()),
                Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_)) | Err(_) => None,
            })
        });
    let handshake = Arc::new(Handshake::default());
    let seen = Arc::clone(&handshake);
    let operators = Arc::clone(&state.operators);
    let outgoing = async_graphql::http::WebSocket::new(state.executor.clone(), input, protocol)
        .on_connection_init(move |payload| async move {
            seen.received.store(true, Ordering::SeqCst);
            let header = payload
                .get("authorization")
                .or_else(|| payload.get("Authorization"))
                .and_then(|v| v.as_str());
            match operators.authenticate(header) {
                Ok(principal) => {
                    let mut data = Data::default();
                    data.insert(principal);
                    Ok(data)
                }
                Err(error) => {
                    seen.refused.store(true, Ordering::SeqCst);
                    Err(error.into_graphql())
                }
            }
        });
    futures_util::pin_mut!(outgoing);
    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    tokio::pin!(init_deadline);
    loop {
        let message = tokio::select! {
            message = outgoing.next() => match message {
                Some(message) => message,
                None => break,
            },
            () = &mut init_deadline, if !handshake.received.load(Ordering::SeqCst) => {
                WsMessage::Close(4408, "Connection initialisation timeout".into())
            }
        };
        let message = match message {
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close(code, reason) => {
                let (code, reason) = close_code(protocol, &handshake, code, reason);
                let frame = CloseFrame {
                    code,
                    reason: within_close_frame(reason).into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
        };
        if sink.send(message).await.is_err() {
            break;
        }
    }
}

/// A close frame's reason holds at most 123 bytes (RFC 6455 5.5: a control
/// frame carries 125, two of them the code); a longer one, such as a JSON
/// parser's message, would make the frame itself fail to send.
fn within_close_frame(mut reason: String) -> String {
    const MAX: usize = 123;
    if reason.len() > MAX {
        let mut end = MAX;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// The protocol's close code for what async-graphql closed with.
fn close_code(
    protocol: WebSocketProtocols,
    handshake: &Handshake,
    code: u16,
    reason: String,
) -> (u16, String) {
    if protocol != WebSocketProtocols::GraphQLWS {
        return (code, reason);
    }
    match code {
        // async-graphql: "The handshake is not completed." (a subscribe
        // before the acknowledgement).
        1011 => (4401, "Unauthorized".into()),
        // async-graphql: the init callback refused, or a message did not parse.
        1002 if handshake.refused.load(Ordering::SeqCst) => (4403, "Forbidden".into()),
        1002 => (4400, format!("Invalid message: {reason}")),
        other => (other, reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_reason_is_cut_to_the_frame_at_a_character_boundary() {
        assert_eq!(within_close_frame("short".into()), "short");
        let long = "无".repeat(50); // 150 bytes, 3 per character
        let cut = within_close_frame(long);
        assert_eq!(cut.len(), 123);
        assert_eq!(cut, "无".repeat(41));
    }
}
