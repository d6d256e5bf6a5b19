//! WeChat Pay v2's flat XML: `<xml><field>value</field>...</xml>`, strings in CDATA, integers bare.
//!
//! Only the flat shape WeChat uses is accepted; nested elements and DOCTYPE declarations are refused (the latter as WeChat does, against XXE).

use std::collections::BTreeMap;

/// One value of a response: strings go in CDATA, integers bare (as real WeChat responses show them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlValue {
    Text(String),
    Int(i64),
}

impl XmlValue {
    pub fn as_text(&self) -> String {
        match self {
            XmlValue::Text(text) => text.clone(),
            XmlValue::Int(n) => n.to_string(),
        }
    }
}

/// Parses a flat `<xml>` document into its fields; the error says what is wrong, for logs.
pub fn parse(body: &str) -> Result<BTreeMap<String, String>, String> {
    let mut rest = body.trim_start_matches('\u{feff}').trim();
    if rest.starts_with("<?xml") {
        let end = rest.find("?>").ok_or("unterminated XML declaration")?;
        rest = rest[end + 2..].trim_start();
    }
    if rest.contains("<!DOCTYPE") || rest.contains("<!ENTITY") {
        return Err("DOCTYPE and ENTITY declarations are not allowed".to_owned());
    }
    rest = rest
        .strip_prefix("<xml>")
        .ok_or("root element must be <xml>")?;
    let mut fields = BTreeMap::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("</xml>") {
            return if after.trim().is_empty() {
                Ok(fields)
            } else {
                Err("content after </xml>".to_owned())
            };
        }
        let (name, value, after) = element(rest)?;
        fields.insert(name, value);
        rest = after;
    }
}

/// Reads `<name>value</name>` or `<name/>` at the start of `input`.
fn element(input: &str) -> Result<(String, String, &str), String> {
    let open = input.strip_prefix('<').ok_or("expected an element")?;
    let close = open.find('>').ok_or("unterminated tag")?;
    let tag = &open[..close];
    if let Some(name) = tag.strip_suffix('/') {
        return Ok((
            checked_name(name.trim())?,
            String::new(),
            &open[close + 1..],
        ));
    }
    let name = checked_name(tag)?;
    let content_start = &open[close + 1..];
    let end_tag = format!("</{name}>");
    let trimmed = content_start.trim_start();
    if trimmed.starts_with("<![CDATA[") {
        // Adjacent sections join: that is how a literal `]]>` travels inside CDATA.
        let mut value = String::new();
        let mut after = trimmed;
        while let Some(cdata) = after.strip_prefix("<![CDATA[") {
            let end = cdata.find("]]>").ok_or("unterminated CDATA")?;
            value.push_str(&cdata[..end]);
            after = &cdata[end + 3..];
        }
        let after = after
            .trim_start()
            .strip_prefix(&end_tag)
            .ok_or_else(|| format!("expected {end_tag}"))?;
        return Ok((name, value, after));
    }
    let end = content_start
        .find(&end_tag)
        .ok_or_else(|| format!("missing {end_tag}"))?;
    let raw = &content_start[..end];
    if raw.contains('<') {
        return Err(format!("nested content in <{name}>"));
    }
    Ok((name, unescape(raw)?, &content_start[end + end_tag.len()..]))
}

fn checked_name(name: &str) -> Result<String, String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(format!("bad element name `{name}`"))
    }
}

fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let semi = after.find(';').ok_or("unterminated entity")?;
        out.push(match &after[..=semi] {
            "&lt;" => '<',
            "&gt;" => '>',
            "&amp;" => '&',
            "&quot;" => '"',
            "&apos;" => '\'',
            other => return Err(format!("unknown entity {other}")),
        });
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Renders fields in the given order; CDATA for text (a literal `]]>` is split across two sections).
pub fn render(fields: &[(String, XmlValue)]) -> String {
    let mut out = String::from("<xml>");
    for (name, value) in fields {
        match value {
            XmlValue::Text(text) => {
                let safe = text.replace("]]>", "]]]]><![CDATA[>");
                out.push_str(&format!("<{name}><![CDATA[{safe}]]></{name}>"));
            }
            XmlValue::Int(n) => out.push_str(&format!("<{name}>{n}</{name}>")),
        }
    }
    out.push_str("</xml>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdata_bare_and_escaped_values_are_read() {
        let fields = parse(
            "<?xml version=\"1.0\"?>\n<xml>\n <a><![CDATA[x<y]]></a>\n <b>10</b><c>&lt;&amp;</c><d/></xml>\n",
        )
        .unwrap();
        assert_eq!(fields["a"], "x<y");
        assert_eq!(fields["b"], "10");
        assert_eq!(fields["c"], "<&");
        assert_eq!(fields["d"], "");
    }

    #[test]
    fn nested_unterminated_and_doctype_documents_are_refused() {
        for bad in [
            "<xml><a><b>1</b></a></xml>",
            "<xml><a>1</xml>",
            "<!DOCTYPE x><xml></xml>",
            "<root></root>",
            "<xml><a>&bogus;</a></xml>",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rendered_documents_parse_back_to_the_same_values() {
        let fields = vec![
            ("s".to_owned(), XmlValue::Text("a]]>b".to_owned())),
            ("n".to_owned(), XmlValue::Int(12)),
        ];
        let xml = render(&fields);
        assert!(xml.contains("<n>12</n>"));
        let parsed = parse(&xml).unwrap();
        assert_eq!(parsed["s"], "a]]>b");
        assert_eq!(parsed["n"], "12");
    }
}
