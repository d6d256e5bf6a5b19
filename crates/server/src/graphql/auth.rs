//! Who calls the back office: bearer tokens configured as `[[operators]]`
//! (a SHA-256 digest, a role and an optional merchant scope), and the checks
//! every resolver makes with the [`Principal`] they resolve to.
//!
//! Roles are ordered: a viewer reads; an operator also requests refunds and
//! reversals and resolves the manual-intervention queue; an admin also
//! rebuilds projections. A merchant scope limits every answer, nested fields
//! and subscriptions included, to that merchant's orders.

use std::collections::HashMap;

use paycode_domain::MerchantId;

use super::error::BackOfficeError;
use crate::config::sha256_hex;
pub use crate::config::{OperatorConfig, Role};

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub role: Role,
    pub merchant: Option<MerchantId>,
    pub name: String,
}

/// The configured tokens by digest.
#[derive(Debug, Default)]
pub struct Operators {
    by_digest: HashMap<String, Principal>,
}

impl Operators {
    pub fn from_config(operators: &[OperatorConfig]) -> anyhow::Result<Operators> {
        let mut by_digest = HashMap::new();
        for operator in operators {
            let digest = operator.token_sha256.to_ascii_lowercase();
            if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                anyhow::bail!(
                    "operators: token digests are 64 hex digits (sha256sum of the token)"
                );
            }
            let principal = Principal {
                role: operator.role,
                merchant: operator.merchant.clone(),
                name: operator
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{:?}", operator.role).to_lowercase()),
            };
            if by_digest.insert(digest, principal).is_some() {
                anyhow::bail!("operators: the same token digest is configured twice");
            }
        }
        Ok(Operators { by_digest })
    }

    /// The principal of an `Authorization` header value (`Bearer <token>`,
    /// the scheme in any case).
    pub fn authenticate(&self, header: Option<&str>) -> Result<Principal, BackOfficeError> {
        let token = header
            .and_then(crate::api::bearer_token)
            .filter(|t| !t.is_empty())
            .ok_or(BackOfficeError::Unauthenticated)?;
        self.by_digest
            .get(&sha256_hex(token.as_bytes()))
            .cloned()
            .ok_or(BackOfficeError::Unauthenticated)
    }
}

impl Principal {
    pub fn require(&self, role: Role) -> Result<(), BackOfficeError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(BackOfficeError::Forbidden(
                "this token's role does not allow it",
            ))
        }
    }

    /// The merchant a query may read: the scope when the caller names none,
    /// FORBIDDEN when it names another merchant.
    pub fn merchant_filter(
        &self,
        asked: Option<String>,
    ) -> Result<Option<String>, BackOfficeError> {
        match (&self.merchant, asked) {
            (None, asked) => Ok(asked),
            (Some(scope), None) => Ok(Some(scope.as_str().to_owned())),
            (Some(scope), Some(asked)) if asked == scope.as_str() => Ok(Some(asked)),
            (Some(_), Some(_)) => Err(BackOfficeError::Forbidden(
                "outside this token's merchant scope",
            )),
        }
    }

    /// Whether a row of `merchant` may be shown to this caller.
    pub fn sees(&self, merchant: &str) -> bool {
        self.merchant
            .as_ref()
            .is_none_or(|scope| scope.as_str() == merchant)
    }

    /// Tokens scoped to a merchant see nothing global (projection status).
    pub fn require_unscoped(&self) -> Result<(), BackOfficeError> {
        match self.merchant {
            None => Ok(()),
            Some(_) => Err(BackOfficeError::Forbidden(
                "a merchant-scoped token sees only its orders",
            )),
        }
    }

    /// The key a cursor is bound to, so a cursor is useless under another scope.
    pub fn scope_key(&self) -> &str {
        self.merchant.as_ref().map_or("*", |m| m.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_read_in_any_case_and_other_schemes_are_not() {
        let operators = Operators::from_config(&[OperatorConfig {
            token_sha256: sha256_hex(b"t0ken"),
            role: Role::Viewer,
            merchant: None,
            name: Some("viewer".into()),
        }])
        .unwrap();
        for header in ["Bearer t0ken", "bearer t0ken", "BEARER  t0ken "] {
            let principal = operators.authenticate(Some(header));
            assert!(principal.is_ok(), "{header}");
        }
        for header in ["Basic t0ken", "Bearer", "Bearer ", "t0ken", "Bearert0ken"] {
            let refused = operators.authenticate(Some(header));
            assert!(
                matches!(refused, Err(BackOfficeError::Unauthenticated)),
                "{header}"
            );
        }
    }
}
