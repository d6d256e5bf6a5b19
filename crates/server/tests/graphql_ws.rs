//! The order-updates subscription through a real WebSocket
//! (`graphql-transport-ws`): the token goes in `connection_init`, a bad one
//! is refused, and a subscriber sees its own merchant's change and not
//! another merchant's.

mod support;

use std::sync::Arc;

use futures_util::{SinkExt as _, StreamExt as _};
use paycode_domain::MerchantId;
use paycode_projections::ReadModels;
use paycode_server::graphql::BackOffice;
use paycode_server::graphql::auth::{OperatorConfig, Operators, Role};
use paycode_server::{Config, Service};
use paycode_store::EventStore;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Served {
    _dir: tempfile::TempDir,
    store: Arc<dyn EventStore>,
    service: Service,
    url: String,
}

async fn serve() -> Served {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store: Arc<dyn EventStore> = Arc::new(
        paycode_store_sqlite::SqliteStore::open(dir.path().join("log.db")).expect("opens"),
    );
    let service = Service::new(Arc::clone(&store), &Config::empty()).expect("builds");
    let models = ReadModels::open(dir.path().join("read.db"), Arc::clone(&store))
        .await
        .expect("the read models open");
    tokio::spawn(models.clone().run());
    let operators: Vec<OperatorConfig> = ["shop-a", "shop-b"]
        .iter()
        .map(|m| OperatorConfig {
            token_sha256: paycode_server::config::sha256_hex(format!("token-{m}").as_bytes()),
            role: Role::Viewer,
            merchant: Some(MerchantId::parse(m).expect("an id")),
            name: None,
        })
        .collect();
    let office = BackOffice::new(
        models,
        service.process.clone(),
        Arc::new(Operators::from_config(&operators).expect("tokens")),
    )
    .expect("the back office opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let url = format!(
        "ws://{}/graphql/ws",
        listener.local_addr().expect("an address")
    );
    tokio::spawn(async move {
        axum::serve(listener, paycode_server::graphql::routes(office))
            .await
            .expect("serves");
    });
    Served {
        _dir: dir,
        store,
        service,
        url,
    }
}

async fn connect(url: &str, token: &str) -> Socket {
    let mut request = url.into_client_request().expect("a request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("a header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connects");
    send(&mut socket, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })).await;
    socket
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("sent");
}

/// The next text message as JSON; `None` when the server closed the socket.
async fn receive(socket: &mut Socket) -> Option<Value> {
    while let Some(message) = socket.next().await {
        match message.ok()? {
            Message::Text(text) => return serde_json::from_str(&text).ok(),
            Message::Close(_) => return None,
            Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
    None
}

async fn pay(service: &Service, merchant: &str, number: &str) {
    support::request_in_log(&service.store, merchant, number, "5.00").await;
}

#[tokio::test]
async fn a_subscriber_sees_its_merchants_orders_over_a_real_socket() {
    let s = serve().await;
    let mut socket = connect(&s.url, "token-shop-a").await;
    assert_eq!(
        receive(&mut socket).await.map(|m| m["type"].clone()),
        Some(json!("connection_ack"))
    );
    let head = s.store.head().await.expect("head");
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": format!("subscription {{ orderUpdates(after: {head}) {{ merchant outTradeNo status }} }}")
        } }),
    )
    .await;
    pay(&s.service, "shop-b", "b-1").await;
    pay(&s.service, "shop-a", "a-1").await;
    let update = receive(&mut socket).await.expect("an update");
    assert_eq!(
        update,
        json!({ "id": "1", "type": "next", "payload": { "data": { "orderUpdates": {
            "merchant": "shop-a", "outTradeNo": "a-1", "status": "PAYING" } } } })
    );
}

/// The errors async-graphql raises itself (here: a field that does not
/// exist) carry a stable code over a socket too, as over HTTP.
#[tokio::test]
async fn a_query_that_does_not_validate_gets_a_code_over_the_socket() {
    let s = serve().await;
    let mut socket = connect(&s.url, "token-shop-a").await;
    assert_eq!(
        receive(&mut socket).await.map(|m| m["type"].clone()),
        Some(json!("connection_ack"))
    );
    send(
        &mut socket,
        json!({ "id": "7", "type": "subscribe", "payload": {
            "query": "subscription { orderUpdates { noSuchField } }"
        } }),
    )
    .await;
    let answer = receive(&mut socket).await.expect("an answer");
    assert_eq!(answer["id"], "7");
    let errors = answer["payload"]["errors"].as_array().expect("errors");
    assert!(!errors.is_empty(), "{answer}");
    for error in errors {
        assert_eq!(
            error["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
            "{answer}"
        );
    }
}

#[tokio::test]
async fn a_socket_with_a_bad_token_is_refused() {
    let s = serve().await;
    let mut socket = connect(&s.url, "not-a-token").await;
    assert_eq!(
        close_code(&mut socket).await,
        Some(4403),
        "a refused token closes with 4403 Forbidden"
    );
}

/// The code of the close frame the server sends next, skipping text;
/// `None` when the socket ends without one.
async fn close_code(socket: &mut Socket) -> Option<u16> {
    while let Some(message) = socket.next().await {
        match message.ok()? {
            Message::Close(frame) => return frame.map(|f| u16::from(f.code)),
            Message::Text(_)
            | Message::Binary(_)
            | Message::Ping(_)
            | Message::Pong(_)
            | Message::Frame(_) => {}
        }
    }
    None
}

/// graphql-transport-ws's close codes: 4401 for a subscribe before the
/// acknowledgement, 4400 for a message that is not the protocol's, and a
/// subscription with two root fields is refused as invalid.
#[tokio::test]
async fn protocol_violations_close_with_the_protocols_codes() {
    let s = serve().await;
    let mut request = s.url.as_str().into_client_request().expect("a request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("a header"),
    );
    let (mut early, _) = tokio_tungstenite::connect_async(request.clone())
        .await
        .expect("connects");
    send(
        &mut early,
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription { orderUpdates { outTradeNo } }"
        } }),
    )
    .await;
    assert_eq!(
        close_code(&mut early).await,
        Some(4401),
        "subscribe before ack"
    );

    let (mut garbled, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connects");
    garbled
        .send(Message::text("{\"type\": \"no_such_message\"}"))
        .await
        .expect("sent");
    assert_eq!(
        close_code(&mut garbled).await,
        Some(4400),
        "an unknown message"
    );

    let mut socket = connect(&s.url, "token-shop-a").await;
    assert_eq!(
        receive(&mut socket).await.map(|m| m["type"].clone()),
        Some(json!("connection_ack"))
    );
    send(
        &mut socket,
        json!({ "id": "2", "type": "subscribe", "payload": {
            "query": "subscription { a: orderUpdates { outTradeNo } b: orderUpdates { status } }"
        } }),
    )
    .await;
    let answer = receive(&mut socket).await.expect("an answer");
    assert_eq!(answer["id"], "2", "{answer}");
    assert_eq!(
        answer["payload"]["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{answer}"
    );
}

/// A client that opens the socket and never sends `connection_init` is
/// closed with 4408 once `INIT_TIMEOUT` has passed, and not before.
#[tokio::test]
async fn a_socket_without_connection_init_closes_with_4408_after_the_timeout() {
    let s = serve().await;
    let mut request = s.url.as_str().into_client_request().expect("a request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("a header"),
    );
    let (mut idle, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connects");
    let opened = std::time::Instant::now();
    let timeout = paycode_server::graphql::INIT_TIMEOUT;
    let code = tokio::time::timeout(timeout * 2, close_code(&mut idle))
        .await
        .expect("closed within twice the timeout");
    assert_eq!(code, Some(4408), "connection initialisation timeout");
    assert!(
        opened.elapsed() >= timeout - std::time::Duration::from_millis(500),
        "closed after {:?}, before the {timeout:?} allowed",
        opened.elapsed()
    );
}
