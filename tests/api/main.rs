//! Integration tests: each test starts the real server on port 0 with a fresh database and
//! talks to it over HTTP and WebSocket only, as a client would (`docs/protocol.md` is the
//! contract). Every test in a domain module runs twice, on SQLite and on PostgreSQL
//! (`TEST_DATABASE_URL`, one schema per test); see `store_tests!` in `helpers`. The
//! `cluster` tests run several nodes on one database and a Redis (`TEST_REDIS_URL`).

#[macro_use]
mod helpers;

mod auth;
mod browser;
mod calls;
mod chat;
mod cluster;
mod connections;
mod consent;
mod feed;
mod hardening;
mod layout;
mod legal;
mod live;
mod media;
mod minors;
mod moderation;
mod people;
mod picture_match;
mod privacy;
mod recall;
mod routing;
mod schema;
mod screening;
mod shares;
mod verdicts;
mod ws;

/// CI must run the PostgreSQL variants; skipping them is only for a laptop without PostgreSQL.
#[test]
fn postgres_suite_runs_in_ci() {
    let in_ci = std::env::var_os("CI").is_some();
    let has_pg = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    assert!(
        !in_ci || has_pg,
        "CI is set but TEST_DATABASE_URL is not: the PostgreSQL variants would be skipped silently"
    );
}

/// CI must run the multi-node tests; skipping them is only for a laptop without Redis.
#[test]
fn redis_suite_runs_in_ci() {
    let in_ci = std::env::var_os("CI").is_some();
    let has_redis = std::env::var("TEST_REDIS_URL").is_ok_and(|u| !u.is_empty());
    assert!(
        !in_ci || has_redis,
        "CI is set but TEST_REDIS_URL is not: the cluster tests would be skipped silently"
    );
}
