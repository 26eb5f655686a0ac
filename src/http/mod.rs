//! HTTP plumbing around the dashboard: request context for server functions,
//! the one mapping from errors to responses, CSRF protection, page access
//! rules, security headers, the request log span, health checks and static
//! assets, and the OpenAPI document of the JSON APIs.

pub mod api_v1;
pub(crate) mod api_v1_usage;
pub mod assets;
pub mod audit_export;
pub mod client_info;
pub mod csrf;
pub mod error_response;
pub mod health;
pub mod leaks;
pub mod limits;
pub mod openapi;
pub mod page_access;
pub mod request_span;
pub mod rpc;
pub mod security_headers;
pub mod verify;
