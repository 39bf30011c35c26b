//! Escaping text for HTML and XML: the page, the SVG charts' labels and the JUnit reports all
//! put user-supplied names (scenarios, pools, error kinds, failure messages) into markup. A
//! module of its own, importing nothing, so the charts can escape their labels without
//! depending on the HTML page that embeds them.

use std::fmt::Write;

/// Escapes text for HTML or XML content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    escape_as(text, false)
}

/// Escapes text for XML 1.0 content and attributes of a file that must parse whatever the text
/// holds (JUnit reports of failure messages): as [`escape`], and besides, characters XML 1.0
/// cannot carry at all (U+0000–U+0008, U+000B, U+000C, U+000E–U+001F, U+FFFE, U+FFFF) become
/// U+FFFD, and tabs and line breaks become character references, which attribute values keep
/// (a parser turns literal ones into spaces there).
pub fn escape_xml(text: &str) -> String {
    escape_as(text, true)
}

fn escape_as(text: &str, xml: bool) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '\t' | '\n' | '\r' if xml => {
                let _ = write!(escaped, "&#{};", u32::from(c));
            }
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' if xml => escaped.push('\u{FFFD}'),
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
        assert_eq!(escape("a\tb\nc"), "a\tb\nc");
    }

    #[test]
    fn xml_gets_markup_escaped_and_characters_it_cannot_carry_replaced() {
        assert_eq!(
            escape_xml(r#"<a href="x">Tom & Jerry's</a> ]]> · µs"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt; ]]&gt; · µs"
        );
        assert_eq!(escape_xml("a\u{1b}[31mb"), "a\u{FFFD}[31mb");
        assert_eq!(
            escape_xml("nul \u{0} bell \u{7} vt \u{b} ff \u{c} so \u{e} us \u{1f}"),
            "nul \u{FFFD} bell \u{FFFD} vt \u{FFFD} ff \u{FFFD} so \u{FFFD} us \u{FFFD}"
        );
        assert_eq!(escape_xml("\u{FFFE}\u{FFFF}"), "\u{FFFD}\u{FFFD}");
        assert_eq!(escape_xml("tab\there\r\nnext"), "tab&#9;here&#13;&#10;next");
        // Allowed outside ASCII, including the C1 controls XML 1.0 permits.
        assert_eq!(
            escape_xml("\u{7f}\u{85}é\u{FFFD}😀"),
            "\u{7f}\u{85}é\u{FFFD}😀"
        );
    }
}
