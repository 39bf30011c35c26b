//! Answers a `ConversionReview` from the apiserver.

use kube::core::Status;
use kube::core::conversion::{ConversionRequest, ConversionResponse, ConversionReview};
use serde_json::Value;

use super::convert;

/// `reason` of a response whose review could not be read.
const REASON_BAD_REQUEST: &str = "BadRequest";
/// `reason` of a response where some object failed to convert.
const REASON_CONVERSION_FAILED: &str = "ConversionFailed";

/// Converts every object in the review to `desiredAPIVersion`.
///
/// The response echoes the review's `apiVersion` (`apiextensions.k8s.io/v1` or `v1beta1`) and
/// `uid`. Conversion is all-or-nothing, as the apiserver requires: one failing object fails the
/// whole review with `result.status: Failure` and a message naming that object, and no objects
/// are returned. A body that is not a review at all gets a `Failure` with an empty `uid`.
pub fn review(request: Value) -> Value {
    let response = match serde_json::from_value::<ConversionReview>(request)
        .map_err(|err| format!("malformed ConversionReview: {err}"))
        .and_then(|review| ConversionRequest::try_from(review).map_err(|err| format!("{err}")))
    {
        Ok(request) => respond(request),
        Err(message) => ConversionResponse::invalid(Status::failure(&message, REASON_BAD_REQUEST)),
    };
    serde_json::to_value(response.into_review()).unwrap_or(Value::Null)
}

fn respond(mut request: ConversionRequest) -> ConversionResponse {
    let desired = request.desired_api_version.clone();
    let objects = std::mem::take(&mut request.objects);
    let response = ConversionResponse::for_request(request);
    let mut converted = Vec::with_capacity(objects.len());
    for (index, object) in objects.into_iter().enumerate() {
        let label = describe(index, &object);
        match convert(object, &desired) {
            Ok(object) => converted.push(object),
            Err(err) => {
                let message = format!("converting {label} to {desired}: {err}");
                tracing::warn!(%message, "conversion failed");
                return response.failure(Status::failure(&message, REASON_CONVERSION_FAILED));
            }
        }
    }
    response.success(converted)
}

/// `object 2 (extensions.agents.x-k8s.io/v1alpha1 SandboxClaim team-a/claim-1)`.
fn describe(index: usize, object: &Value) -> String {
    let field = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("?")
    };
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map_or(String::new(), |ns| format!("{ns}/"));
    format!(
        "object {index} ({} {} {namespace}{})",
        field("/apiVersion"),
        field("/kind"),
        field("/metadata/name"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::webhook::fixtures;

    fn request(review_version: &str, desired: &str, objects: Vec<Value>) -> Value {
        json!({
            "apiVersion": review_version,
            "kind": "ConversionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "desiredAPIVersion": desired,
                "objects": objects
            }
        })
    }

    #[test]
    fn converts_every_object_in_order() {
        let objects = vec![
            serde_json::to_value(fixtures::alpha_claim(Some("gpu-pool"), "")).unwrap(),
            serde_json::to_value(fixtures::beta_claim("shadow-pool-python", "")).unwrap(),
            serde_json::to_value(fixtures::alpha_warm_pool()).unwrap(),
        ];
        let out = review(request(
            "apiextensions.k8s.io/v1",
            "extensions.agents.x-k8s.io/v1beta1",
            objects.clone(),
        ));
        assert_eq!(out["apiVersion"], "apiextensions.k8s.io/v1");
        assert_eq!(out["kind"], "ConversionReview");
        let response = &out["response"];
        assert_eq!(response["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert_eq!(response["result"]["status"], "Success");
        let converted = response["convertedObjects"].as_array().unwrap();
        assert_eq!(converted.len(), 3);
        assert_eq!(converted[0]["spec"]["warmPoolRef"]["name"], "gpu-pool");
        assert_eq!(
            converted[1], objects[1],
            "already at desired version: untouched"
        );
        assert_eq!(converted[2]["kind"], "SandboxWarmPool");
        assert_eq!(
            converted[2]["apiVersion"],
            "extensions.agents.x-k8s.io/v1beta1"
        );
    }

    #[test]
    fn echoes_a_v1beta1_review_version() {
        let out = review(request(
            "apiextensions.k8s.io/v1beta1",
            "agents.x-k8s.io/v1alpha1",
            vec![serde_json::to_value(fixtures::beta_sandbox()).unwrap()],
        ));
        assert_eq!(out["apiVersion"], "apiextensions.k8s.io/v1beta1");
        assert_eq!(out["response"]["result"]["status"], "Success");
        assert_eq!(
            out["response"]["convertedObjects"][0]["spec"]["replicas"],
            1
        );
    }

    #[test]
    fn one_bad_object_fails_the_review_and_is_named() {
        let mut bad = serde_json::to_value(fixtures::alpha_template()).unwrap();
        bad["metadata"]["annotations"]["api.agents.x-k8s.io/v1beta1-volume-claim-templates-policy"] =
            json!("Sometimes");
        let objects = vec![
            serde_json::to_value(fixtures::alpha_warm_pool()).unwrap(),
            bad,
        ];
        let out = review(request(
            "apiextensions.k8s.io/v1",
            "extensions.agents.x-k8s.io/v1beta1",
            objects,
        ));
        let response = &out["response"];
        assert_eq!(response["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert_eq!(response["result"]["status"], "Failure");
        assert_eq!(response["result"]["reason"], REASON_CONVERSION_FAILED);
        let message = response["result"]["message"].as_str().unwrap();
        assert!(message.contains("object 1"), "{message}");
        assert!(
            message.contains("SandboxTemplate team-a/python"),
            "{message}"
        );
        assert!(message.contains("Sometimes"), "{message}");
        assert_eq!(response["convertedObjects"], json!([]));
    }

    #[test]
    fn unknown_kind_fails_the_review() {
        let object = json!({"apiVersion": "agents.x-k8s.io/v1alpha1", "kind": "Widget",
                            "metadata": {"name": "w"}});
        let out = review(request(
            "apiextensions.k8s.io/v1",
            "agents.x-k8s.io/v1beta1",
            vec![object],
        ));
        let message = out["response"]["result"]["message"].as_str().unwrap();
        assert_eq!(out["response"]["result"]["status"], "Failure");
        assert!(message.contains("Widget w"), "{message}");
    }

    #[test]
    fn a_body_that_is_not_a_review_fails_without_uid() {
        for body in [
            json!({"kind": "ConversionReview", "apiVersion": "apiextensions.k8s.io/v1"}),
            json!([1]),
        ] {
            let out = review(body);
            assert_eq!(out["kind"], "ConversionReview");
            assert_eq!(out["response"]["result"]["status"], "Failure");
            assert_eq!(out["response"]["result"]["reason"], REASON_BAD_REQUEST);
            assert_eq!(out["response"]["uid"], "");
        }
    }
}
