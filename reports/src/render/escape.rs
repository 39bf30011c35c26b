//! Escaping text for HTML and XML: the page, the SVG charts' labels and the JUnit report all
//! put user-supplied names (scenarios, pools, error kinds) into markup. A module of its own,
//! importing nothing, so the charts can escape their labels without depending on the HTML
//! page that embeds them.

/// Escapes text for HTML or XML content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            escape(r#"<a href="x">Tom & Jerry's</a> · µs"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt; · µs"
        );
        assert_eq!(escape(""), "");
    }
}
