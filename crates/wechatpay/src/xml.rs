//! WeChat Pay v2's flat XML envelope: `<xml><field>value</field>...</xml>`.
//!
//! A small reader and writer of that one shape (protocols.md 1.2), instead of
//! a general XML library: values are text or `<![CDATA[...]]>` (or both
//! concatenated), integers come bare, there is no nesting and no attribute.
//! Anything else (nesting, a duplicate field, a missing end tag, trailing
//! bytes, an unknown entity) is an error, never a panic and never a guess:
//! a duplicate field in particular could make what is verified differ from
//! what is read.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The fields of one envelope, sorted by name (the order signatures use).
pub type Fields = BTreeMap<String, String>;

/// Why a body is not a WeChat Pay XML envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a WeChat Pay XML envelope at byte {at}: {reason}")]
pub struct XmlError {
    pub at: usize,
    pub reason: &'static str,
}

/// No envelope has more fields than this (a refund query with many refunds
/// and coupons stays far below it); a bound keeps hostile input cheap.
const MAX_FIELDS: usize = 4096;

/// Reads an envelope. The input must be the whole body.
pub fn parse(text: &str) -> Result<Fields, XmlError> {
    let mut cursor = Cursor { text, at: 0 };
    cursor.eat("\u{feff}");
    cursor.skip_whitespace();
    if cursor.eat("<?xml") {
        cursor.skip_past("?>")?;
        cursor.skip_whitespace();
    }
    cursor.expect("<xml>", "expected <xml>")?;
    let mut fields = Fields::new();
    loop {
        cursor.skip_whitespace();
        if cursor.eat("</xml>") {
            break;
        }
        let (name, value) = cursor.field()?;
        if fields.len() == MAX_FIELDS {
            return Err(cursor.error("too many fields"));
        }
        if fields.insert(name, value).is_some() {
            return Err(cursor.error("duplicate field"));
        }
    }
    cursor.skip_whitespace();
    if cursor.at != text.len() {
        return Err(cursor.error("bytes after </xml>"));
    }
    Ok(fields)
}

/// Writes an envelope the way WeChat Pay's own examples do: digits bare,
/// other text in CDATA (escaped text if it contains `]]>`, which CDATA cannot hold).
pub fn write(fields: &Fields) -> String {
    let mut out = String::from("<xml>");
    for (name, value) in fields {
        let bare = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        if bare {
            let _ = write!(out, "<{name}>{value}</{name}>");
        } else if value.contains("]]>") {
            let _ = write!(out, "<{name}>{}</{name}>", escape(value));
        } else {
            let _ = write!(out, "<{name}><![CDATA[{value}]]></{name}>");
        }
    }
    out.push_str("</xml>");
    out
}

fn escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl Cursor<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn error(&self, reason: &'static str) -> XmlError {
        XmlError {
            at: self.at,
            reason,
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        let found = self.rest().starts_with(token);
        if found {
            self.at += token.len();
        }
        found
    }

    fn expect(&mut self, token: &str, reason: &'static str) -> Result<(), XmlError> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.error(reason))
        }
    }

    fn skip_whitespace(&mut self) {
        let trimmed = self.rest().trim_start_matches([' ', '\t', '\r', '\n']);
        self.at = self.text.len() - trimmed.len();
    }

    fn skip_past(&mut self, token: &str) -> Result<(), XmlError> {
        let offset = self
            .rest()
            .find(token)
            .ok_or_else(|| self.error("unterminated declaration"))?;
        self.at += offset + token.len();
        Ok(())
    }

    fn name(&mut self) -> Result<String, XmlError> {
        let rest = self.rest();
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        if len == 0 {
            return Err(self.error("expected a field name"));
        }
        let name = rest[..len].to_owned();
        self.at += len;
        Ok(name)
    }

    /// One `<name>value</name>` or `<name/>`.
    fn field(&mut self) -> Result<(String, String), XmlError> {
        self.expect("<", "expected a field")?;
        let name = self.name()?;
        if self.eat("/>") {
            return Ok((name, String::new()));
        }
        self.expect(">", "expected '>' after the field name")?;
        let value = self.value()?;
        self.expect("</", "expected an end tag")?;
        let closing = self.name()?;
        if closing != name {
            return Err(self.error("end tag does not match"));
        }
        self.expect(">", "expected '>' after the end tag")?;
        Ok((name, value))
    }

    /// Text and CDATA sections up to the end tag.
    fn value(&mut self) -> Result<String, XmlError> {
        let mut value = String::new();
        loop {
            if self.eat("<![CDATA[") {
                let end = self
                    .rest()
                    .find("]]>")
                    .ok_or_else(|| self.error("unterminated CDATA"))?;
                value.push_str(&self.rest()[..end]);
                self.at += end + 3;
            } else if self.rest().starts_with("</") {
                return Ok(value);
            } else if self.rest().starts_with('<') {
                return Err(self.error("nested element"));
            } else if self.rest().is_empty() {
                return Err(self.error("body cut inside a value"));
            } else {
                let end = self.rest().find('<').unwrap_or(self.rest().len());
                let text = &self.rest()[..end];
                value.push_str(&unescape(text).ok_or_else(|| self.error("unknown entity"))?);
                self.at += end;
            }
        }
    }
}

/// Decodes the five predefined entities and numeric character references.
fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp + 1..];
        let semi = tail.find(';')?;
        let entity = &tail[..semi];
        let decoded = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => numeric_entity(entity)?,
        };
        out.push(decoded);
        rest = &tail[semi + 1..];
    }
    out.push_str(rest);
    Some(out)
}

fn numeric_entity(entity: &str) -> Option<char> {
    let number = entity.strip_prefix('#')?;
    let code = match number
        .strip_prefix('x')
        .or_else(|| number.strip_prefix('X'))
    {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => number.parse().ok()?,
    };
    char::from_u32(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_cdata_bare_integers_entities_and_empty_values() {
        let body = "<?xml version=\"1.0\"?>\n<xml>\n  <return_code><![CDATA[SUCCESS]]></return_code>\n  \
                    <total_fee>10</total_fee><attach><![CDATA[]]></attach><empty/>\
                    <desc>a &amp; b &lt;c&gt; &#20013;</desc></xml>\n";
        let fields = parse(body).unwrap();
        assert_eq!(fields["return_code"], "SUCCESS");
        assert_eq!(fields["total_fee"], "10");
        assert_eq!(fields["attach"], "");
        assert_eq!(fields["empty"], "");
        assert_eq!(fields["desc"], "a & b <c> 中");
    }

    #[test]
    fn written_envelopes_read_back_identically() {
        let mut fields = Fields::new();
        fields.insert("total_fee".into(), "8880".into());
        fields.insert("body".into(), "咖啡 <大杯> & more".into());
        fields.insert("odd".into(), "a]]>b".into());
        fields.insert("empty".into(), String::new());
        let text = write(&fields);
        assert!(text.contains("<total_fee>8880</total_fee>"));
        assert!(text.contains("<body><![CDATA[咖啡 <大杯> & more]]></body>"));
        assert_eq!(parse(&text).unwrap(), fields);
    }

    #[test]
    fn malformed_envelopes_are_errors() {
        for bad in [
            "",
            "<xml>",
            "<xml><a>1</a>",
            "<xml><a>1</b></xml>",
            "<xml><a><b>1</b></a></xml>",
            "<xml><a>1</a><a>2</a></xml>",
            "<xml><a><![CDATA[1</a></xml>",
            "<xml><a>&bogus;</a></xml>",
            "<xml><a>1</a></xml>trailing",
            "<root><a>1</a></root>",
            "<xml><a attr=\"1\">1</a></xml>",
            "<xml>text</xml>",
            "{\"json\": true}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(text in ".{0,200}") {
            let _ = parse(&text);
        }

        #[test]
        fn every_truncation_of_a_valid_envelope_is_an_error(cut in 0usize..60) {
            let body = "<xml><return_code><![CDATA[SUCCESS]]></return_code><total_fee>1</total_fee></xml>";
            let cut = cut.min(body.len() - 1);
            prop_assert!(parse(&body[..cut]).is_err());
        }
    }
}
