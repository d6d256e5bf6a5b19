//! The back-office console at `/` and GraphiQL at `GET /graphql`: static
//! files embedded in the binary (`crates/server/console/`), so both work on
//! a network with no internet. The console is plain JavaScript modules with
//! no build step; GraphiQL and React are vendored, with their licences.
//!
//! Every page is served with a Content-Security-Policy that lets only these
//! files run and connect only to this server: the operator's token, held in
//! the tab's sessionStorage, is never within reach of another site's script.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file: its name under `/console/`, its type and its bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("../console/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("app.js", JS),
    asset!("gql.js", JS),
    asset!("ui.js", JS),
    asset!("orders.js", JS),
    asset!("order.js", JS),
    asset!("screens.js", JS),
    asset!("style.css", CSS),
    asset!("graphiql.css", CSS),
    asset!("graphiql-init.js", JS),
    asset!("vendor/graphiql.min.js", JS),
    asset!("vendor/graphiql.min.css", CSS),
    asset!("vendor/react.production.min.js", JS),
    asset!("vendor/react-dom.production.min.js", JS),
    asset!("vendor/LICENSE-graphiql", TEXT),
    asset!("vendor/LICENSE-react", TEXT),
];

const INDEX: &[u8] = include_bytes!("../console/index.html");
const GRAPHIQL: &[u8] = include_bytes!("../console/graphiql.html");

/// The console's policy: its own scripts and styles, requests and
/// WebSockets to this server only, never inside another site's frame.
const CONSOLE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";
/// GraphiQL's: the same, but its editor sets inline styles.
const GRAPHIQL_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `/` and `/console/{file}`; `GET /graphql` is [`graphiql`], mounted by
/// the GraphQL routes.
pub fn routes() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/console/{*file}", get(file))
}

async fn index(headers: HeaderMap) -> Response {
    page(INDEX, CONSOLE_POLICY, &headers)
}

/// GraphiQL from the binary's own assets.
pub async fn graphiql(headers: HeaderMap) -> Response {
    page(GRAPHIQL, GRAPHIQL_POLICY, &headers)
}

/// An HTML page with its policy. `connect-src 'self'` covers WebSockets to
/// the same host in current browsers; the host's `ws:`/`wss:` origins are
/// named too, for browsers that read CSP level 2.
fn page(html: &'static [u8], policy: &str, headers: &HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        });
    let policy = match host {
        Some(host) => policy.replace(
            "connect-src 'self'",
            &format!("connect-src 'self' ws://{host} wss://{host}"),
        ),
        None => policy.to_owned(),
    };
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let h = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        h.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    secure(h);
    response
}

async fn file(Path(name): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return crate::api::route_not_found().await.into_response();
    };
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, asset.content_type)],
        asset.bytes,
    )
        .into_response();
    secure(response.headers_mut());
    response
}

/// Headers every console response carries: no sniffing, no framing, no
/// referrer leaving the console, and a check with the server before a
/// cached copy is used (the files change with the binary).
fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_console_imports_is_served() {
        let sources: Vec<&str> = ASSETS
            .iter()
            .filter(|a| a.name.ends_with(".js") && !a.name.starts_with("vendor/"))
            .map(|a| std::str::from_utf8(a.bytes).expect("UTF-8"))
            .chain([std::str::from_utf8(INDEX).expect("UTF-8")])
            .collect();
        for source in sources {
            for (i, _) in source.match_indices("\"./") {
                let rest = &source[i + 3..];
                let name = &rest[..rest.find('"').expect("a closing quote")];
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{name} is imported but not embedded"
                );
            }
        }
        for page in [INDEX, GRAPHIQL] {
            let page = std::str::from_utf8(page).expect("UTF-8");
            for (i, _) in page.match_indices("/console/") {
                let rest = &page[i + "/console/".len()..];
                let name = &rest[..rest.find('"').expect("a closing quote")];
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{name} is linked but not embedded"
                );
            }
        }
    }
}
