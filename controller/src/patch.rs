//! JSON merge patches (RFC 7386) computed as the difference between two documents, so writes
//! carry only what changed and a write with nothing to change is never sent.

use serde_json::{Map, Value};

/// The merge patch that turns `old` into `new`, or `None` when they are equal.
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = Map::new();
            for (key, old_value) in o {
                match n.get(key) {
                    None => {
                        patch.insert(key.clone(), Value::Null);
                    }
                    Some(new_value) => {
                        if let Some(p) = merge_diff(old_value, new_value) {
                            patch.insert(key.clone(), p);
                        }
                    }
                }
            }
            for (key, new_value) in n {
                if !o.contains_key(key) {
                    patch.insert(key.clone(), new_value.clone());
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        // Arrays and scalars are replaced whole, as merge patch does.
        _ if old == new => None,
        _ => Some(new.clone()),
    }
}

/// Applies a merge patch (RFC 7386) as the API server would; tests use it to see what a
/// decision's patch leaves behind.
#[cfg(test)]
pub(crate) fn apply_merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    apply_merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_documents_need_no_patch() {
        let doc = json!({"a": 1, "b": {"c": [1, 2]}});
        assert_eq!(merge_diff(&doc, &doc.clone()), None);
    }

    #[test]
    fn removed_keys_become_null_and_nested_changes_stay_nested() {
        let old = json!({"a": 1, "b": {"c": 1, "d": 2}, "gone": true});
        let new = json!({"a": 1, "b": {"c": 5, "d": 2}, "added": "x"});
        let patch = merge_diff(&old, &new).unwrap();
        assert_eq!(patch, json!({"b": {"c": 5}, "gone": null, "added": "x"}));
        let mut applied = old.clone();
        apply_merge_patch(&mut applied, &patch);
        assert_eq!(applied, new);
    }

    #[test]
    fn arrays_are_replaced_whole() {
        let patch = merge_diff(&json!({"l": [1, 2]}), &json!({"l": [1]})).unwrap();
        assert_eq!(patch, json!({"l": [1]}));
    }
}
