//! HTTP plumbing around the dashboard: request context for server functions,
//! CSRF protection, page access rules, health checks and static assets.

pub mod api_v1;
pub mod assets;
pub mod audit_export;
pub mod client_info;
pub mod csrf;
pub mod health;
pub mod limits;
pub mod page_access;
pub mod rpc;
pub mod verify;
