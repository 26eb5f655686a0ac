//! Decoding what callers send: the JSON body of `POST /v1/keys/verify` and the
//! headers of `GET /v1/auth`. Total functions: any input gives a request or a
//! [`Rejection`] that names the problem without repeating the input.

use super::{Rejection, Requirements};
use crate::keys::Environment;
use crate::keys::credits::MAX_COST;
use axum::http::HeaderMap;
use base64::Engine;
use serde::Deserialize;
use std::net::IpAddr;

/// Largest body `POST /v1/keys/verify` accepts.
pub const MAX_BODY_BYTES: usize = 8 * 1024;
const MAX_SCOPES: usize = 32;
const MAX_SCOPE_CHARS: usize = 100;

/// A decoded verification request.
#[derive(Debug, Default)]
pub struct VerifyRequest {
    pub key: Option<String>,
    pub required: Requirements,
    pub client_ip: Option<IpAddr>,
}

/// The JSON body of `POST /v1/keys/verify`, as decoded; the OpenAPI document shows this type.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = VerifyRequestBody)]
pub struct Body {
    /// The key the API server's caller presented; absent or null: 401 `MISSING`.
    key: Option<String>,
    /// The environment the API server serves; a key of the other one is `WRONG_ENVIRONMENT`.
    #[schema(value_type = Option<Environment>)]
    environment: Option<String>,
    /// Scopes the request needs; all must be held, or 403 `INSUFFICIENT_SCOPE`.
    #[schema(max_items = 32)]
    scopes: Option<Vec<String>>,
    /// The API server's client, recorded as the key's last-used address and
    /// checked against the key's IP allowlist (a key with one is refused without it).
    #[schema(examples("203.0.113.9"))]
    client_ip: Option<String>,
    /// The credits this request spends, of a key that has usage credits (default 1; 0 spends none).
    #[schema(minimum = 0, maximum = 1000)]
    cost: Option<u32>,
}

impl VerifyRequest {
    /// Decodes a `POST /v1/keys/verify` body of at most [`MAX_BODY_BYTES`].
    pub fn from_json(content_type: Option<&str>, body: &[u8]) -> Result<Self, Rejection> {
        if !content_type.is_some_and(is_json) {
            return Err(Rejection::UnsupportedMediaType);
        }
        let body: Body = serde_json::from_slice(body).map_err(|error| {
            // serde's messages can quote the input, which may be a key: say where, not what.
            let what = match error.classify() {
                serde_json::error::Category::Data => {
                    "does not match { key, environment?, scopes?, client_ip?, cost? } with string values, a list of scopes and a whole number"
                }
                _ => "is not valid JSON",
            };
            Rejection::BadRequest(format!(
                "The request body {what} (line {}, column {}).",
                error.line(),
                error.column()
            ))
        })?;
        let environment = body
            .environment
            .as_deref()
            .map(parse_environment)
            .transpose()?;
        let scopes = body.scopes.unwrap_or_default();
        check_scopes(&scopes)?;
        let client_ip = body
            .client_ip
            .as_deref()
            .map(|ip| {
                ip.trim().parse().map_err(|_| {
                    Rejection::BadRequest("client_ip must be an IPv4 or IPv6 address.".into())
                })
            })
            .transpose()?;
        let cost = body.cost.unwrap_or(1);
        if cost > MAX_COST {
            return Err(Rejection::BadRequest(format!(
                "cost must be a whole number from 0 to {MAX_COST}."
            )));
        }
        Ok(Self {
            key: body.key,
            required: Requirements {
                environment,
                scopes,
                cost,
            },
            client_ip,
        })
    }

    /// Reads a forward-auth request: the key from `Authorization: Bearer`,
    /// `Authorization: Basic` (key as user name) or `X-Api-Key`; requirements
    /// from `X-Keyward-Required-Scopes` and `X-Keyward-Environment`; the client's
    /// address from `X-Keyward-Client-Ip` or the last `X-Forwarded-For` hop.
    pub fn from_gateway_headers(headers: &HeaderMap) -> Result<Self, Rejection> {
        let text = |name: &str| header_text(headers, name);
        let key = presented_key(headers)?;
        let environment = text("x-keyward-environment")?
            .map(parse_environment)
            .transpose()?;
        let scopes: Vec<String> = text("x-keyward-required-scopes")?
            .unwrap_or_default()
            .split([',', ' '])
            .filter(|scope| !scope.is_empty())
            .map(str::to_owned)
            .collect();
        check_scopes(&scopes)?;
        // A gateway's address headers are best effort: a bad one is ignored, not
        // fatal (a key with an IP allowlist is then refused). The last hop is the
        // one the gateway appended, the address it saw; earlier hops are
        // whatever the client sent, and an allowlist must not trust them.
        let client_ip = text("x-keyward-client-ip")
            .ok()
            .flatten()
            .or_else(|| {
                text("x-forwarded-for")
                    .ok()
                    .flatten()
                    .and_then(|hops| hops.rsplit(',').next())
            })
            .and_then(|ip| ip.trim().parse().ok());
        Ok(Self {
            key,
            required: Requirements {
                environment,
                scopes,
                ..Requirements::default()
            },
            client_ip,
        })
    }
}

/// The key in `Authorization: Bearer`, `Authorization: Basic` (as user name) or `X-Api-Key`.
pub fn presented_key(headers: &HeaderMap) -> Result<Option<String>, Rejection> {
    Ok(match header_text(headers, "authorization")? {
        Some(authorization) => Some(key_from_authorization(authorization)?),
        None => header_text(headers, "x-api-key")?.map(str::to_owned),
    })
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Rejection> {
    headers
        .get(name)
        .map(|value| {
            value
                .to_str()
                .map_err(|_| Rejection::BadRequest(format!("The {name} header is not plain text.")))
        })
        .transpose()
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

fn parse_environment(text: &str) -> Result<Environment, Rejection> {
    Environment::parse(text.trim()).ok_or_else(|| {
        Rejection::BadRequest("environment must be \"live\" or \"test\".".to_owned())
    })
}

fn check_scopes(scopes: &[String]) -> Result<(), Rejection> {
    if scopes.len() > MAX_SCOPES {
        return Err(Rejection::BadRequest(format!(
            "Ask for at most {MAX_SCOPES} scopes at once."
        )));
    }
    if scopes
        .iter()
        .any(|scope| scope.is_empty() || scope.chars().count() > MAX_SCOPE_CHARS)
    {
        return Err(Rejection::BadRequest(format!(
            "Each scope must be 1 to {MAX_SCOPE_CHARS} characters, such as \"invoices:write\"."
        )));
    }
    Ok(())
}

/// `Bearer <key>`, or `Basic base64(<key>:)` as HTTP clients send a key as user name.
fn key_from_authorization(value: &str) -> Result<String, Rejection> {
    let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(credentials.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(Rejection::Malformed)?;
        let user = decoded.split(':').next().unwrap_or_default();
        return Ok(user.to_owned());
    }
    Err(Rejection::BadRequest(
        "Authorization must use the Bearer or Basic scheme.".to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    const JSON: Option<&str> = Some("application/json");

    #[test]
    fn decodes_a_full_body() {
        let request = VerifyRequest::from_json(
            Some("application/json; charset=utf-8"),
            br#"{"key":"kw_live_x","environment":"live","scopes":["invoices:write"],"client_ip":"203.0.113.9"}"#,
        )
        .unwrap();
        assert_eq!(request.key.as_deref(), Some("kw_live_x"));
        assert_eq!(request.required.environment, Some(Environment::Live));
        assert_eq!(request.required.scopes, vec!["invoices:write"]);
        assert_eq!(request.client_ip, Some("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn refuses_bad_bodies_without_echoing_them() {
        let secretish = "kw_live_SECRETSECRETSECRET";
        for body in [
            format!(r#"{{"key": "{secretish}""#),
            format!(r#"{{"key": ["{secretish}"]}}"#),
            format!(r#"{{"key": "k", "scopes": "{secretish}"}}"#),
            format!(r#"{{"key": "k", "environment": "{secretish}"}}"#),
            format!(r#"{{"key": "k", "client_ip": "{secretish}"}}"#),
        ] {
            let rejection = VerifyRequest::from_json(JSON, body.as_bytes()).unwrap_err();
            assert_eq!(rejection.code(), "INVALID_REQUEST", "{body}");
            assert!(!rejection.to_string().contains("SECRET"), "{rejection}");
        }
        assert_eq!(
            VerifyRequest::from_json(Some("text/plain"), b"{}").unwrap_err(),
            Rejection::UnsupportedMediaType
        );
        assert_eq!(
            VerifyRequest::from_json(None, b"{}").unwrap_err(),
            Rejection::UnsupportedMediaType
        );
    }

    #[test]
    fn reads_every_gateway_header_form() {
        let key = "kw_live_abc";
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
        for (name, value) in [
            ("authorization", format!("Bearer {key}")),
            ("authorization", format!("bearer  {key}")),
            ("authorization", format!("Basic {basic}")),
            ("x-api-key", key.to_owned()),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_str(&value).unwrap());
            headers.insert(
                "x-keyward-required-scopes",
                HeaderValue::from_static("a:read, b:write"),
            );
            headers.insert("x-keyward-environment", HeaderValue::from_static("test"));
            headers.insert(
                "x-forwarded-for",
                HeaderValue::from_static("10.0.0.1, 198.51.100.4"),
            );
            let request = VerifyRequest::from_gateway_headers(&headers).unwrap();
            assert_eq!(request.key.as_deref(), Some(key), "{name}: {value}");
            assert_eq!(request.required.scopes, vec!["a:read", "b:write"]);
            assert_eq!(request.required.environment, Some(Environment::Test));
            // The hop the gateway appended, not the one the client wrote.
            assert_eq!(request.client_ip, Some("198.51.100.4".parse().unwrap()));
        }
        assert!(
            VerifyRequest::from_gateway_headers(&HeaderMap::new())
                .unwrap()
                .key
                .is_none()
        );
    }

    // 100 000 request decodings per test run.
    proptest! {
        #![proptest_config(ProptestConfig::with_cases(50_000))]

        #[test]
        fn any_body_decodes_or_is_refused(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = VerifyRequest::from_json(JSON, &body);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(25_000))]

        #[test]
        fn any_json_shaped_body_decodes_or_is_refused(
            key in proptest::option::of(".{0,60}"),
            environment in proptest::option::of(".{0,10}"),
            scopes in proptest::collection::vec(".{0,20}", 0..40),
            ip in proptest::option::of(".{0,20}"),
        ) {
            let body = serde_json::json!({
                "key": key, "environment": environment, "scopes": scopes, "client_ip": ip,
            });
            let _ = VerifyRequest::from_json(JSON, body.to_string().as_bytes());
        }

        #[test]
        fn any_authorization_header_decodes_or_is_refused(value in "[ -~]{0,120}") {
            let mut headers = HeaderMap::new();
            headers.insert("authorization", HeaderValue::from_str(&value).unwrap());
            let _ = VerifyRequest::from_gateway_headers(&headers);
        }
    }
}
