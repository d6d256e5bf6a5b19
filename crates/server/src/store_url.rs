//! Which event store backs a paycode, chosen by `--store` (or the config's
//! `store`): `sqlite:PATH`, `postgres://...`, or `kurrentdb://...` when built
//! with the `kurrentdb` feature.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context as _;
use paycode_store::{EventStore, Leases, SingleNode};

/// The schema a PostgreSQL store uses unless the URL names one.
const DEFAULT_POSTGRES_SCHEMA: &str = "paycode";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite:PATH`: the embedded store, one file, one node.
    Sqlite(std::path::PathBuf),
    /// `postgres://user@host:port/db[?schema=NAME]`: shared by several nodes.
    Postgres { url: String, schema: String },
    /// `kurrentdb://...` or `esdb://...`: a KurrentDB / EventStoreDB cluster.
    Kurrent(String),
}

/// An open store: the log, and the work leases of the nodes that share it.
#[derive(Debug, Clone)]
pub struct OpenedStore {
    pub events: Arc<dyn EventStore>,
    pub leases: Arc<dyn Leases>,
}

impl FromStr for StoreUrl {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(path) = text.strip_prefix("sqlite:").filter(|p| !p.is_empty()) {
            return Ok(StoreUrl::Sqlite(path.into()));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let (url, schema) = split_schema(text)?;
            return Ok(StoreUrl::Postgres { url, schema });
        }
        if text.starts_with("kurrentdb://")
            || text.starts_with("esdb://")
            || text.starts_with("kurrentdb+discover://")
        {
            return Ok(StoreUrl::Kurrent(text.to_owned()));
        }
        Err(format!(
            "unsupported store {text:?}: expected sqlite:PATH, postgres://... or kurrentdb://..."
        ))
    }
}

/// Takes `schema=NAME` out of the URL's query, leaving the rest for the client.
fn split_schema(text: &str) -> Result<(String, String), String> {
    let Some((base, query)) = text.split_once('?') else {
        return Ok((text.to_owned(), DEFAULT_POSTGRES_SCHEMA.to_owned()));
    };
    let mut schema = DEFAULT_POSTGRES_SCHEMA.to_owned();
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("schema", name)) if !name.is_empty() => schema = name.to_owned(),
            Some(("schema", _)) => return Err("the schema= parameter needs a name".into()),
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, schema))
}

impl fmt::Display for StoreUrl {
    /// Never prints a password: only the scheme and where the data lives.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            StoreUrl::Postgres { schema, .. } => write!(f, "postgres (schema {schema})"),
            StoreUrl::Kurrent(_) => f.write_str("kurrentdb"),
        }
    }
}

impl StoreUrl {
    /// Where read models built from this store live unless configured:
    /// beside an SQLite file, so they stay with the log they came from.
    pub fn default_read_models(&self) -> std::path::PathBuf {
        match self {
            StoreUrl::Sqlite(path) => path.with_extension("readmodels.db"),
            StoreUrl::Postgres { .. } | StoreUrl::Kurrent(_) => "data/readmodels.db".into(),
        }
    }

    /// Opens the store, creating its file (and parent folder) or its schema
    /// when needed.
    pub async fn open(&self) -> anyhow::Result<OpenedStore> {
        match self {
            StoreUrl::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                let store = paycode_store_sqlite::SqliteStore::open(path)
                    .with_context(|| format!("opening {}", path.display()))?;
                Ok(OpenedStore {
                    events: Arc::new(store),
                    leases: Arc::new(SingleNode),
                })
            }
            StoreUrl::Postgres { url, schema } => {
                let store = paycode_store_postgres::PostgresStore::connect(url, schema)
                    .await
                    .with_context(|| format!("connecting to PostgreSQL, schema {schema}"))?;
                let store = Arc::new(store);
                Ok(OpenedStore {
                    events: store.clone(),
                    leases: store,
                })
            }
            StoreUrl::Kurrent(url) => open_kurrent(url).await,
        }
    }
}

#[cfg(feature = "kurrentdb")]
async fn open_kurrent(url: &str) -> anyhow::Result<OpenedStore> {
    let store = paycode_store_kurrent::KurrentStore::connect(url)
        .await
        .context("connecting to KurrentDB")?;
    // KurrentDB has no lease table of ours: one paycode node per KurrentDB store.
    Ok(OpenedStore {
        events: Arc::new(store),
        leases: Arc::new(SingleNode),
    })
}

#[cfg(not(feature = "kurrentdb"))]
async fn open_kurrent(_url: &str) -> anyhow::Result<OpenedStore> {
    anyhow::bail!(
        "this paycode was built without KurrentDB support: rebuild with `--features kurrentdb`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_parse_with_their_schema() {
        assert_eq!(
            "sqlite:data/p.db".parse(),
            Ok(StoreUrl::Sqlite("data/p.db".into()))
        );
        assert_eq!(
            "postgres://postgres@127.0.0.1:5432/test?schema=node_a&sslmode=disable".parse(),
            Ok(StoreUrl::Postgres {
                url: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into(),
                schema: "node_a".into()
            })
        );
        assert_eq!(
            "postgres://h/db".parse(),
            Ok(StoreUrl::Postgres {
                url: "postgres://h/db".into(),
                schema: "paycode".into()
            })
        );
        assert!("mysql://x".parse::<StoreUrl>().is_err());
        assert!("sqlite:".parse::<StoreUrl>().is_err());
        let shown = "postgres://u:secret@h/db"
            .parse::<StoreUrl>()
            .expect("parses")
            .to_string();
        assert!(!shown.contains("secret"), "{shown}");
    }
}
