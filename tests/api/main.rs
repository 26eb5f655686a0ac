//! Integration tests over HTTP against the real server. They run on SQLite, and
//! on PostgreSQL too when `DATABASE_URL` points to one.

// A failed unwrap is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod account;
mod api_v1;
mod audit;
mod audit_chain;
mod audit_filters;
mod auth;
mod bad_input;
mod binary;
mod common;
mod email;
mod failover;
mod faults;
mod fixtures;
mod forward_auth_nginx;
mod key_edit;
mod key_powers;
mod keys;
mod leaks;
mod limits;
mod members;
mod nginx;
mod nginx_tls;
mod openapi;
mod operations;
mod outage;
mod own_postgres;
mod password_reset;
mod policies;
mod proxies;
mod redis_limits;
mod restrictions;
mod server_start;
mod sqlite_load;
mod throttle;
mod two_factor;
mod usage;
mod verify;
mod web_hardening;
mod webhooks;
