//! The versioned JSON files besides `results.json` (`knee.json`, `conformance.json`,
//! `history.json`) share one rule: `schema` comes first, and a reader checks it before reading
//! anything else, refusing a version it does not know rather than misreading it.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ReportError;

/// The `schema` a document names, if it names one (`Ok(None)` when it is JSON without one).
pub fn schema_of(text: &str) -> Result<Option<String>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct SchemaOnly {
        schema: Option<String>,
    }
    serde_json::from_str::<SchemaOnly>(text).map(|probe| probe.schema)
}

/// Parses `text` as `what` of schema `expected`, refusing any other schema by name.
pub(crate) fn decode<T: DeserializeOwned>(
    text: &str,
    what: &'static str,
    expected: &'static str,
) -> Result<T, ReportError> {
    let decode = |source| ReportError::DecodeFile {
        what,
        expected,
        source,
    };
    match schema_of(text).map_err(decode)? {
        Some(found) if found == expected => serde_json::from_str(text).map_err(decode),
        found => Err(ReportError::UnsupportedFileSchema {
            what,
            found: found.unwrap_or_else(|| "(none)".into()),
            expected,
        }),
    }
}

/// Pretty JSON with a final newline, as every file of a run is written.
pub(crate) fn encode<T: Serialize>(value: &T, what: &'static str) -> Result<String, ReportError> {
    let mut json = serde_json::to_string_pretty(value)
        .map_err(|source| ReportError::EncodeFile { what, source })?;
    json.push('\n');
    Ok(json)
}

/// `sandbox-bench/history/v2` → `("sandbox-bench/history", 2)`.
pub fn version(schema: &str) -> Option<(&str, u32)> {
    let (family, version) = schema.rsplit_once("/v")?;
    Some((family, version.parse().ok()?))
}

/// Whether `found` is a later version of the same family as `known`: written by a newer
/// sandbox-bench, so the fix is to upgrade this one, not to repair the file.
pub fn is_newer(found: &str, known: &str) -> bool {
    match (version(found), version(known)) {
        (Some((family, found)), Some((known_family, known))) => {
            family == known_family && found > known
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_and_compared_within_a_family() {
        assert_eq!(
            version("sandbox-bench/history/v12"),
            Some(("sandbox-bench/history", 12))
        );
        assert_eq!(version("sandbox-bench/history"), None);
        assert_eq!(version("x/vone"), None);
        assert!(is_newer(
            "sandbox-bench/history/v2",
            "sandbox-bench/history/v1"
        ));
        assert!(!is_newer(
            "sandbox-bench/history/v1",
            "sandbox-bench/history/v1"
        ));
        assert!(!is_newer(
            "sandbox-bench/knee/v2",
            "sandbox-bench/history/v1"
        ));
        assert!(!is_newer("nonsense", "sandbox-bench/history/v1"));
    }

    #[test]
    fn decode_refuses_other_schemas_by_name_and_bad_json() {
        #[derive(serde::Deserialize, Debug)]
        struct Doc {
            #[allow(dead_code)]
            schema: String,
        }
        let ok: Result<Doc, _> = decode(r#"{"schema":"a/v1"}"#, "doc", "a/v1");
        assert!(ok.is_ok());
        let err = decode::<Doc>(r#"{"schema":"a/v2"}"#, "doc", "a/v1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "doc schema is `a/v2`, this reader understands `a/v1`"
        );
        let err = decode::<Doc>("{}", "doc", "a/v1").unwrap_err();
        assert!(err.to_string().contains("`(none)`"), "{err}");
        assert!(matches!(
            decode::<Doc>("[1", "doc", "a/v1"),
            Err(ReportError::DecodeFile { what: "doc", .. })
        ));
    }
}
