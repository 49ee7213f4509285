//! Typed access to a request's parameters (form body or query string), with Stripe's errors for
//! unknown, missing and mistyped parameters. Every handler names the parameters it accepts.
use super::error::ApiErr;
use super::form;
use axum::extract::{FromRequest, Request};
use axum::http::Method;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tillgate_domain::metadata::MetadataUpdate;
use tillgate_domain::ApiError;

/// Largest request body accepted.
pub const MAX_BODY: usize = 256 * 1024;

/// Parameters every endpoint accepts besides its own.
const ALWAYS: [&str; 1] = ["expand"];

#[derive(Debug, Default, Clone)]
pub struct Params(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiErr;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let mut map = form::parse(req.uri().query().unwrap_or(""))?;
        if req.method() == Method::POST {
            let content_type = req
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap_or("?").to_owned());
            let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
                .await
                .map_err(|_| {
                    ApiError::invalid_request(format!(
                        "The request body is too large (at most {MAX_BODY} bytes)."
                    ))
                })?;
            if let Some(ct) = content_type.filter(|_| !bytes.is_empty()) {
                let media = ct.split(';').next().unwrap_or("").trim();
                if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
                    // A JSON (or multipart, or text) body would otherwise be read as one odd name.
                    return Err(ApiError::invalid_request(format!(
                        "Invalid request (check that your POST content type is application/x-www-form-urlencoded): got {media}. tillgate takes form-encoded parameters, as Stripe does."
                    ))
                    .into());
                }
            }
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| ApiError::invalid_request("The request body is not valid UTF-8."))?;
            map.extend(form::parse(text)?);
        }
        Ok(Params(map))
    }
}

impl Params {
    /// Refuses any parameter not in `allowed` (Stripe: "Received unknown parameter").
    pub fn allow(&self, allowed: &[&str]) -> Result<&Self, ApiError> {
        for key in self.0.keys() {
            if !allowed.contains(&key.as_str()) && !ALWAYS.contains(&key.as_str()) {
                return Err(ApiError::unknown_param(key));
            }
        }
        Ok(self)
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn str(&self, key: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid_param(
                key,
                format!("Invalid {key}: expected a string, not a nested object or list."),
            )),
        }
    }

    pub fn req_str(&self, key: &str) -> Result<&str, ApiError> {
        match self.str(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::missing_param(key)),
        }
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.str(key)? {
            None => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::invalid_integer(key)),
        }
    }

    pub fn req_int(&self, key: &str) -> Result<i64, ApiError> {
        self.int(key)?.ok_or_else(|| ApiError::missing_param(key))
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.str(key)? {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::invalid(
                "parameter_invalid_boolean",
                format!("Invalid boolean: {key} must be true or false."),
            )
            .with_param(key)),
        }
    }

    /// A nested object (`cart[...]`), or an error if it is something else.
    pub fn object(&self, key: &str) -> Result<Option<&Map<String, Value>>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(_) => Err(ApiError::invalid_param(
                key,
                format!("Invalid {key}: expected an object ({key}[field]=value)."),
            )),
        }
    }

    /// A list (`a[]=x&a[]=y`); a single string counts as a list of one.
    pub fn list(&self, key: &str) -> Result<Vec<String>, ApiError> {
        match self.0.get(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_owned).ok_or_else(|| {
                        ApiError::invalid_param(
                            key,
                            format!("Invalid {key}: expected a list of strings."),
                        )
                    })
                })
                .collect(),
            Some(_) => Err(ApiError::invalid_param(
                key,
                format!("Invalid {key}: expected a list ({key}[]=value)."),
            )),
        }
    }

    pub fn expand(&self) -> Result<Vec<String>, ApiError> {
        self.list("expand")
    }

    /// `metadata[k]=v` entries, or `metadata=` to clear.
    pub fn metadata(&self) -> Result<Option<MetadataUpdate>, ApiError> {
        match self.0.get("metadata") {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(Some(MetadataUpdate::Clear)),
            Some(Value::Object(m)) => {
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    let v = v.as_str().ok_or_else(|| {
                        ApiError::invalid_param(
                            "metadata",
                            format!("Invalid metadata[{k}]: values must be strings."),
                        )
                    })?;
                    out.insert(k.clone(), v.to_owned());
                }
                Ok(Some(MetadataUpdate::Set(out)))
            }
            Some(_) => Err(ApiError::invalid_param(
                "metadata",
                "Invalid metadata: use metadata[key]=value.",
            )),
        }
    }

    /// Metadata for a new object.
    pub fn new_metadata(&self) -> Result<tillgate_domain::metadata::Metadata, ApiError> {
        match self.metadata()? {
            Some(update) => tillgate_domain::metadata::apply(&Default::default(), &update),
            None => Ok(Default::default()),
        }
    }
}

/// A boolean inside a nested parameter (`offline[enabled]=true`), named `param` in the error.
pub fn nested_bool(v: &Value, param: &str) -> Result<bool, ApiError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        _ => Err(ApiError::invalid_param(
            param,
            format!("Invalid boolean: {v}"),
        )),
    }
}
