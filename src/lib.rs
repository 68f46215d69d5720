//! Duoxie live server: the real-time back end of a jewellery-trading platform.
//!
//! # Layout
//!
//! A request enters through a transport, `http` (REST, static client) or `ws` (one
//! [`ws::session::WsSession`] actor per socket). Transports only translate: they parse input
//! into typed domain messages and write answers back. Each domain declares its WebSocket
//! commands in a table ([`commands`]: wire name, who may run it, how); the session routes by
//! the union of the tables and knows no command name of its own but `auth`. The domains own the rules, their actor
//! and their SQL: `auth` (accounts, tokens, roles) and `chat` (conversations and messages;
//! the [`chat::ChatServer`] actor group-commits sends). A domain never writes to a socket:
//! it publishes on the [`bus`], which hands deliveries to the node's connection registry
//! (`bus::registry`), which pushes them to the sessions of the users concerned. `store` is the
//! sqlx pool (SQLite by default, PostgreSQL when configured) with embedded migrations;
//! `config` the settings; `error` the one error type whose codes both transports share.
//! [`startup::App`] wires it all and is what `main` and the tests run.

pub mod auth;
pub mod bus;
pub mod chat;
pub mod commands;
pub mod config;
pub mod consent;
pub mod domain;
pub mod error;
pub mod http;
pub mod keys;
pub mod media;
pub mod metrics;
pub mod minors;
pub mod moderation;
pub mod privacy;
pub mod rights;
pub mod startup;
pub mod store;
pub mod ws;
