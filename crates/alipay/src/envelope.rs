//! Reading an Alipay gateway response: `{"<method>_response": {...}, "sign": "..."}`.
//!
//! The signature covers the exact bytes of the `*_response` value as they
//! were received (protocols.md 4.4), so this module finds that value's span
//! with a small quote- and escape-aware scanner over the top-level object,
//! verifies those bytes, and then parses the *same* bytes for the fields. It
//! never re-serialises, and a second copy of the node (a classic way to make
//! the verified text differ from the read one) is refused.

use paycode_provider::ProviderError;
use serde_json::{Map, Value};

use crate::keys::AlipayPublicKey;

/// A verified (or legitimately unsigned) response node.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseNode {
    /// The node's fields (`code`, `msg`, `sub_code`, business fields).
    pub fields: Map<String, Value>,
    /// Whether the node was signed and the signature verified.
    pub signed: bool,
}

impl ResponseNode {
    /// A field as text: strings as they are, numbers printed; absent or
    /// empty is `None`.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.fields.get(name)? {
            Value::String(text) if text.is_empty() => None,
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => None,
        }
    }

    pub fn code(&self) -> String {
        self.text("code").unwrap_or_default()
    }

    /// Replaces a secret in the node's top-level texts. Alipay's
    /// `isv.invalid-signature` answer quotes the whole signed string in
    /// `sub_msg`, payment code and `app_auth_token` included, and messages
    /// end up in events and logs.
    pub fn redact(&mut self, secret: &str, replacement: &str) {
        if secret.is_empty() {
            return;
        }
        for value in self.fields.values_mut() {
            if let Value::String(text) = value
                && text.contains(secret)
            {
                *text = text.replace(secret, replacement);
            }
        }
    }
}

/// Gateway-level codes that Alipay answers without a signature
/// (`error_response`; protocols.md 4.4, 4.5). They never say "paid" nor
/// "definitely failed", so trusting them unsigned cannot lose money.
const UNSIGNED_ALLOWED_CODES: &[&str] = &["20000", "20001", "40001", "40002", "40005", "40006"];

/// The node name of a method's response: `alipay.trade.pay` -> `alipay_trade_pay_response`.
pub fn response_node_name(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// Finds, verifies and parses the response node of `method`.
pub fn read_response(
    body: &str,
    method: &str,
    key: &AlipayPublicKey,
) -> Result<ResponseNode, ProviderError> {
    let members = top_level_members(body)?;
    let wanted = response_node_name(method);
    let node_spans: Vec<_> = members
        .iter()
        .filter(|(name, _)| *name == wanted || *name == "error_response")
        .collect();
    let [(_, span)] = node_spans.as_slice() else {
        return Err(ProviderError::Malformed(format!(
            "expected exactly one {wanted} or error_response"
        )));
    };
    let content = &body[span.clone()];
    let sign = match members.iter().find(|(name, _)| *name == "sign") {
        Some((_, span)) => Some(
            serde_json::from_str::<String>(&body[span.clone()])
                .map_err(|_| ProviderError::Malformed("sign is not a string".into()))?,
        ),
        None => None,
    };
    let fields: Map<String, Value> = serde_json::from_str(content)
        .map_err(|_| ProviderError::Malformed(format!("{wanted} is not an object")))?;
    let mut node = ResponseNode {
        fields,
        signed: false,
    };
    match sign.filter(|s| !s.is_empty()) {
        Some(sign) => {
            // The Java SDK retries once with `\/` unescaped: some gateways
            // sign the text before escaping slashes.
            let verified = key.verify(content.as_bytes(), &sign)
                || (content.contains("\\/")
                    && key.verify(content.replace("\\/", "/").as_bytes(), &sign));
            if !verified {
                return Err(ProviderError::SignatureInvalid);
            }
            node.signed = true;
        }
        None if UNSIGNED_ALLOWED_CODES.contains(&node.code().as_str()) => {}
        None => return Err(ProviderError::SignatureInvalid),
    }
    Ok(node)
}

type Span = std::ops::Range<usize>;

/// The names and raw value spans of the top-level object's members. The
/// whole body must be one JSON object; a cut body fails here.
fn top_level_members(body: &str) -> Result<Vec<(String, Span)>, ProviderError> {
    // Validate the whole document first, so the scanner below only ever
    // walks well-formed JSON.
    let document: Value = serde_json::from_str(body)
        .map_err(|e| ProviderError::Malformed(format!("body is not JSON: {e}")))?;
    if !document.is_object() {
        return Err(ProviderError::Malformed("body is not a JSON object".into()));
    }
    let bytes = body.as_bytes();
    let mut at = skip_ws(bytes, 0);
    at += 1; // the opening brace, checked by the parse above
    let mut members = Vec::new();
    loop {
        at = skip_ws(bytes, at);
        match bytes.get(at) {
            Some(b'}') => return Ok(members),
            Some(b',') => at = skip_ws(bytes, at + 1),
            Some(_) | None => {}
        }
        let name_end = skip_value(bytes, at)?;
        let name: String = serde_json::from_str(&body[at..name_end])
            .map_err(|_| ProviderError::Malformed("member name is not a string".into()))?;
        at = skip_ws(bytes, name_end);
        if bytes.get(at) != Some(&b':') {
            return Err(ProviderError::Malformed("expected ':'".into()));
        }
        let value_start = skip_ws(bytes, at + 1);
        let value_end = skip_value(bytes, value_start)?;
        members.push((name, value_start..value_end));
        at = value_end;
    }
}

fn skip_ws(bytes: &[u8], mut at: usize) -> usize {
    while bytes
        .get(at)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        at += 1;
    }
    at
}

/// The end of the JSON value starting at `at`: strings with their escapes,
/// objects and arrays balanced (strings inside them skipped), scalars up to
/// the next delimiter.
fn skip_value(bytes: &[u8], at: usize) -> Result<usize, ProviderError> {
    let cut = || ProviderError::Malformed("body cut inside a value".into());
    match bytes.get(at) {
        None => Err(cut()),
        Some(b'"') => skip_string(bytes, at).ok_or_else(cut),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = at;
            while let Some(&b) = bytes.get(i) {
                match b {
                    b'"' => {
                        i = skip_string(bytes, i).ok_or_else(cut)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            Err(cut())
        }
        Some(_) => {
            let len = bytes[at..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'))
                .unwrap_or(bytes.len() - at);
            Ok(at + len)
        }
    }
}

/// The index just past the closing quote of the string starting at `at`.
fn skip_string(bytes: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        match bytes.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_spans_are_the_exact_text_including_nested_braces_and_escapes() {
        let body = r#"{ "alipay_trade_pay_response" : {"code":"10000","msg":"a \"}\" b","list":[{"x":"}"}]} , "sign":"c2ln"}"#;
        let members = top_level_members(body).unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].0, "alipay_trade_pay_response");
        assert_eq!(
            &body[members[0].1.clone()],
            r#"{"code":"10000","msg":"a \"}\" b","list":[{"x":"}"}]}"#
        );
        assert_eq!(&body[members[1].1.clone()], r#""c2ln""#);
    }

    #[test]
    fn response_node_names_follow_the_method() {
        assert_eq!(
            response_node_name("alipay.trade.fastpay.refund.query"),
            "alipay_trade_fastpay_refund_query_response"
        );
    }
}
