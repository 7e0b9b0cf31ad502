//! Extractors whose rejections are problem documents. axum's own extractors answer
//! with plain text; wrapping them keeps every error on the wire in one shape.
//!
//! They are also where input is made strict, once for every route:
//! - text: no control character in any string or object key of a JSON body, nor in any
//!   query parameter ([`check_text`]);
//! - shape: a struct is only ever read from a JSON object — serde would otherwise take
//!   `["name", "password"]` for a login ([`Strict`]); unknown fields are refused by
//!   `#[serde(deny_unknown_fields)]` on each request type;
//! - the answer names the field at fault as a JSON pointer (`/action/to`).

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::value::{MapAccessDeserializer, MapDeserializer, SeqDeserializer};
use serde::de::{
    self, DeserializeOwned, Deserializer, Expected, IntoDeserializer, Unexpected, Visitor,
};
use serde_json::Value;

use crate::error::ApiError;

/// JSON body in, JSON body out.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Parsed to a `Value` first so the text check sees every string before any
        // handler does; the content type, size limit and syntax are axum's checks.
        match axum::Json::<Value>::from_request(req, state).await {
            Ok(axum::Json(value)) => from_value(&value).map(ApiJson),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
            "send the body as JSON with `Content-Type: application/json`".to_owned(),
        ),
        JsonRejection::JsonDataError(e) => ApiError::Invalid {
            field: None,
            message: format!(
                "the JSON does not match what this endpoint expects: {}",
                e.body_text()
            ),
        },
        JsonRejection::JsonSyntaxError(e) => ApiError::MalformedJson(e.body_text()),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(
            "the request body is larger than this endpoint accepts".to_owned(),
        ),
        other => ApiError::MalformedJson(other.body_text()),
    }
}

/// JSON bodies are small; anything bigger is a mistake or an attack.
pub const JSON_BODY_LIMIT: usize = 64 * 1024;

/// Parses JSON bytes the way [`ApiJson`] does (for JSON that arrives inside another
/// format, e.g. the `letter` part of the multipart intake).
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    from_value(&value)
}

/// Reads a request type from parsed JSON, strictly: no control characters in any text,
/// structs only from objects, and the field at fault named as a JSON pointer.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, ApiError> {
    check_text(value, &mut String::new())?;
    serde_path_to_error::deserialize(Strict(value)).map_err(|e| {
        let mut field = pointer(e.path());
        // serde refuses an unknown field while reading its name, often before the path
        // has that level: then the name is only in the message (serde's stable wording).
        let message = e.inner().to_string();
        if let Some(name) = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name)
        {
            let mut last = String::new();
            push_token(&mut last, name);
            if !field.ends_with(&last) {
                field.push_str(&last);
            }
        }
        ApiError::Invalid {
            message: format!(
                "the JSON does not match what this endpoint expects{}: {}",
                if field.is_empty() {
                    String::new()
                } else {
                    format!(" at `{field}`")
                },
                message
            ),
            field: (!field.is_empty()).then_some(field),
        }
    })
}

/// A control character is refused in any text a client sends: NUL truncates strings in
/// C libraries and some SQLite tools, ESC and the C1 controls rewrite terminals that
/// show logs, and none of them belongs in a letter, a name or a note. Newline and tab
/// are text. A carriage return is allowed only as the first half of CRLF, because an
/// HTML form's textarea submits its line breaks as CRLF (HTML's form encoding); a lone
/// CR is refused, as it overwrites a line when the text reaches a terminal.
pub fn refused_control(text: &str) -> Option<char> {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => {}
            '\r' if chars.peek() == Some(&'\n') => {}
            c if c.is_control() => return Some(c),
            _ => {}
        }
    }
    None
}

fn control_error(field: String, c: char) -> ApiError {
    ApiError::Invalid {
        message: format!(
            "`{field}` contains the control character U+{:04X}; only newline and tab (and CR before a newline) are allowed in text",
            u32::from(c)
        ),
        field: Some(field),
    }
}

/// Walks every string and object key; `path` is the JSON pointer of `value`.
fn check_text(value: &Value, path: &mut String) -> Result<(), ApiError> {
    match value {
        Value::String(s) => match refused_control(s) {
            Some(c) => Err(control_error(root_if_empty(path), c)),
            None => Ok(()),
        },
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                check_text(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                push_token(path, key);
                if let Some(c) = refused_control(key) {
                    return Err(control_error(path.clone(), c));
                }
                check_text(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

fn root_if_empty(path: &str) -> String {
    if path.is_empty() {
        "/".to_owned()
    } else {
        path.to_owned()
    }
}

/// Appends `/token` with RFC 6901's escapes (`~` → `~0`, `/` → `~1`).
fn push_token(path: &mut String, token: &str) {
    path.push('/');
    path.push_str(&token.replace('~', "~0").replace('/', "~1"));
}

/// serde_path_to_error's path as a JSON pointer; empty for the whole body.
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => push_token(&mut out, &index.to_string()),
            Segment::Map { key } => push_token(&mut out, key),
            // A tagged enum's content is the object itself: the variant adds no level.
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

/// A `serde_json::Value` deserializer that reads a struct only from an object (and an
/// internally tagged enum only from an object), all the way down. serde's generated
/// visitors also take a struct from an array of its fields in order, so with plain
/// `serde_json` `["zhang", "secret"]` is a login and `[1, 2, 3]` a set of counts: an
/// accepted shape no client sends and no document describes.
#[derive(Clone, Copy)]
struct Strict<'a>(&'a Value);

impl<'de> IntoDeserializer<'de, serde_json::Error> for Strict<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Unexpected::Signed(i),
            (_, Some(u), _) => Unexpected::Unsigned(u),
            (_, _, Some(f)) => Unexpected::Float(f),
            _ => Unexpected::Other("number"),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

impl<'de> Strict<'de> {
    fn visit_array<V: Visitor<'de>>(
        items: &'de [Value],
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        let mut seq = SeqDeserializer::new(items.iter().map(Strict));
        let out = visitor.visit_seq(&mut seq)?;
        seq.end()?;
        Ok(out)
    }

    fn visit_object<V: Visitor<'de>>(
        map: &'de serde_json::Map<String, Value>,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        let mut access = MapDeserializer::new(map.iter().map(|(k, v)| (k.as_str(), Strict(v))));
        let out = visitor.visit_map(&mut access)?;
        access.end()?;
        Ok(out)
    }
}

/// The scalar methods: `serde_json`'s own, as a scalar has no shape to get wrong.
macro_rules! delegate {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.0.$method(visitor)
        }
    )*};
}

impl<'de> Deserializer<'de> for Strict<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => {
                // An internally tagged enum reads itself through `deserialize_any` and
                // would take `["dispatch", 5]` for `{"action": "dispatch", "to": 5}`.
                // serde names that visitor "internally tagged enum <Name>"; nothing else
                // expects that, and a value (`serde_json::Value`, a map) still gets arrays.
                let expecting = format!("{}", &visitor as &dyn Expected);
                if expecting.starts_with("internally tagged enum") {
                    return Err(de::Error::invalid_type(Unexpected::Seq, &visitor));
                }
                Self::visit_array(items, visitor)
            }
            Value::Object(map) => Self::visit_object(map, visitor),
            scalar => scalar.deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => Self::visit_object(map, visitor),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => Self::visit_object(map, visitor),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => Self::visit_array(items, visitor),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            // `{"variant": content}`: the content is read strictly too.
            Value::Object(map) if map.len() == 1 => visitor.visit_enum(MapAccessDeserializer::new(
                MapDeserializer::new(map.iter().map(|(k, v)| (k.as_str(), Strict(v)))),
            )),
            other => other.deserialize_enum(name, variants, visitor),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit_struct(name, visitor)
    }

    delegate! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_unit
        deserialize_identifier deserialize_ignored_any
    }
}

/// Query string parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(|e| ApiError::Invalid {
                field: None,
                message: format!("bad query string: {e}"),
            })?;
        for (name, value) in &pairs {
            if let Some(c) = refused_control(name).or_else(|| refused_control(value)) {
                return Err(control_error(name.clone(), c));
            }
        }
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|e| {
                let field = e.path().to_string();
                let named = !field.is_empty() && field != ".";
                ApiError::Invalid {
                    message: format!("bad query string: {}", e.inner()),
                    field: named.then_some(field),
                }
            })
    }
}

/// Path parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| ApiError::Invalid {
                field: None,
                message: format!("bad path parameter: {}", e.body_text()),
            })
    }
}
