//! What the OpenAPI document says on top of the routes' own annotations, so that the
//! document states every answer the server gives and every input it refuses — written
//! once here instead of on each route (where it would be forgotten on the next one):
//!
//! - every error answer is `application/problem+json` with the [`Problem`] schema, and
//!   each operation lists the errors the shared layers can give it (a bad input, a
//!   missing session, a missing path target, a body too large or of another type, an
//!   internal error);
//! - every free-text string of a request (body or query) carries [`TEXT_PATTERN`]: the
//!   control characters [`crate::extract`] refuses are refused by the document too.
//!
//! [`Problem`]: crate::error::Problem

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};
use utoipa::openapi::OpenApi;

/// The media type of every error answer (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A string without the control characters `extract::refused_control` refuses: any
/// character but C0 (other than tab and newline), DEL and C1, and CR only before LF.
/// Written with `\u` escapes so both ECMA-262 and Python regexes read it the same way.
pub const TEXT_PATTERN: &str = r"^(?:[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]|\r\n)*$";

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The errors the layers under every handler give, and when each applies.
fn common_errors(
    op: &Map<String, Value>,
    path: &str,
    secured: bool,
) -> Vec<(&'static str, &'static str)> {
    let has_body = op.contains_key("requestBody");
    let has_params = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    let mut out = Vec::new();
    if has_body || has_params {
        out.push((
            "400",
            "`invalid_input` (`field` names the input at fault: a JSON pointer into the body, or the parameter), `malformed_json`",
        ));
    }
    if secured {
        out.push((
            "401",
            "`unauthenticated` or `session_expired`: sign in again",
        ));
        out.push((
            "403",
            "`forbidden`: the caller's role or scope does not allow it",
        ));
    }
    if path.contains('{') {
        out.push((
            "404",
            "`not_found`: nothing with that id in the caller's scope",
        ));
    }
    if has_body {
        out.push(("413", "`payload_too_large`"));
        out.push((
            "415",
            "`unsupported_media_type`: send the declared content type",
        ));
    }
    out.push((
        "500",
        "`internal`: logged on the server, nothing about it in the answer",
    ));
    out
}

/// The document of `doc` with the error answers and text constraints stated, as JSON
/// (utoipa's types do not read back every schema they write, so the result stays JSON).
pub fn complete(doc: &OpenApi) -> Value {
    let mut value = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    complete_value(&mut value);
    value
}

fn complete_value(doc: &mut Value) {
    let problem_content =
        json!({ PROBLEM_JSON: { "schema": { "$ref": "#/components/schemas/Problem" } } });
    let global_security = doc.get("security").is_some_and(|s| !is_empty(s));
    let mut request_refs = BTreeSet::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            for method in METHODS {
                let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                    continue;
                };
                // Only the citizen side and signing in work without a session; an
                // operation whose annotation forgot to say so still needs one.
                let public = op
                    .get("tags")
                    .and_then(Value::as_array)
                    .is_some_and(|tags| tags.iter().any(|t| t == "public"))
                    || op.get("operationId").is_some_and(|id| id == "login");
                let secured =
                    !public || op.get("security").map_or(global_security, |s| !is_empty(s));
                if secured && op.get("security").is_none_or(is_empty) {
                    op.insert("security".to_owned(), json!([{ "bearer": [] }]));
                }
                let extra = common_errors(op, path, secured);
                let responses = op.entry("responses").or_insert_with(|| json!({}));
                let Some(responses) = responses.as_object_mut() else {
                    continue;
                };
                for (status, description) in extra {
                    responses
                        .entry(status)
                        .or_insert_with(|| json!({ "description": description }));
                }
                for (status, response) in responses.iter_mut() {
                    if status.as_str() >= "400"
                        && let Some(response) = response.as_object_mut()
                    {
                        response.insert("content".to_owned(), problem_content.clone());
                        let described = response
                            .get("description")
                            .and_then(Value::as_str)
                            .is_some_and(|d| !d.is_empty());
                        if !described {
                            response.insert("description".to_owned(), json!("problem details"));
                        }
                    }
                }
                if let Some(body) = op.get_mut("requestBody") {
                    if let Some(json) = body.pointer_mut("/content/application~1json/schema") {
                        constrain_text(json, &mut request_refs);
                    }
                }
                if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                    for param in params {
                        if let Some(schema) = param.get_mut("schema") {
                            constrain_text(schema, &mut request_refs);
                        }
                    }
                }
            }
        }
    }
    limit_action_texts(doc);
    // The component schemas a request refers to, and those they refer to in turn.
    let mut done = BTreeSet::new();
    while let Some(name) = request_refs.pop_first() {
        if !done.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
            constrain_text(schema, &mut request_refs);
        }
    }
}

/// Every free text of an action (notes, reasons, the feedback form's parts) is held to
/// `jsjb_core::workflow::MAX_TEXT_CHARS` by the rules; the document says so once here
/// rather than on each of the fourteen variants.
fn limit_action_texts(doc: &mut Value) {
    let Some(variants) = doc
        .pointer_mut("/components/schemas/Action/oneOf")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for variant in variants {
        let Some(props) = variant.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for prop in props.values_mut() {
            if let Some(prop) = prop.as_object_mut()
                && has_type(prop, "string")
                && !prop.contains_key("enum")
                && !prop.contains_key("format")
            {
                prop.insert(
                    "maxLength".to_owned(),
                    json!(jsjb_core::workflow::MAX_TEXT_CHARS),
                );
            }
        }
    }
}

fn is_empty(value: &Value) -> bool {
    value.as_array().is_some_and(Vec::is_empty)
}

fn has_type(schema: &Map<String, Value>, wanted: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == wanted,
        Some(Value::Array(ts)) => ts.iter().any(|t| t == wanted),
        _ => false,
    }
}

/// Puts [`TEXT_PATTERN`] on every free-text string in `schema` (not on enums, formats
/// such as `date-time`, or strings that already have a pattern) and collects the
/// component schemas it refers to.
fn constrain_text(schema: &mut Value, refs: &mut BTreeSet<String>) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(name) = object
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        refs.insert(name.to_owned());
    }
    if has_type(object, "string")
        && !object.contains_key("enum")
        && !object.contains_key("format")
        && !object.contains_key("pattern")
    {
        object.insert("pattern".to_owned(), json!(TEXT_PATTERN));
    }
    for key in ["properties", "patternProperties"] {
        if let Some(props) = object.get_mut(key).and_then(Value::as_object_mut) {
            for prop in props.values_mut() {
                constrain_text(prop, refs);
            }
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(inner) = object.get_mut(key) {
            constrain_text(inner, refs);
        }
    }
    for key in ["oneOf", "anyOf", "allOf", "prefixItems"] {
        if let Some(list) = object.get_mut(key).and_then(Value::as_array_mut) {
            for inner in list {
                constrain_text(inner, refs);
            }
        }
    }
}
