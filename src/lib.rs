//! Duoxie live server: the real-time back end of a jewellery-trading platform.
//!
//! # Layout
//!
//! Three layers, and arrows that point down only.
//!
//! **The kernel** is what every domain stands on and names no domain: [`store`] (the sqlx
//! pool, SQLite by default or PostgreSQL, embedded migrations, shared rate windows), [`bus`]
//! (publish to a user, users or a [`bus::Topic`]'s members on any node; the node's connection
//! [`bus::registry`]), [`error`] (the one error type whose codes both transports share),
//! [`domain`] (the caller's [`domain::Identity`]: roles, standing, mute; `As<T>`), [`config`]
//! (settings), [`commands`] (the command table a domain declares its WebSocket commands in),
//! [`rights`] (the part a domain takes in the user's rights: export, erasure, retention),
//! [`keys`] and [`metrics`].
//!
//! **The domains** own their rules, their actor and their SQL, each in its folder:
//! [`auth`] (accounts, tokens, roles, the standing re-check), [`chat`] (conversations and
//! messages; [`chat::ChatServer`] group-commits sends), [`consent`] (the consent ledger and the
//! feature gate), [`media`] (uploads, their pipeline and fingerprints), [`minors`] (age and
//! guardians), [`moderation`] (screening, the queue, decisions, sanctions, reports, the
//! picture blocklist), [`relations`] (blocks, follows next) and [`privacy`] (runs the
//! domains' rights: the streamed export, the deletion transaction, the retention job). A
//! domain never writes to a socket: it publishes on the bus. Where one domain needs another it calls a narrow, named function (the way
//! `consent::require` gates a feature) or implements a trait the kernel defines
//! ([`rights::DataDomain`]). The domains still reach into each other in one cycle (auth,
//! chat, media, minors, moderation); `tests/api/layout.rs` lists its edges, and the list may
//! only shrink.
//!
//! **The transports** translate and know no domain rule: `http` (REST, the static client) and
//! `ws` (one [`ws::session::WsSession`] actor per socket, which checks the gate a command's
//! table declares and routes by the union of the tables; it knows no command but `auth`).
//! [`startup::App`] wires it all (the one place that names every domain: their command
//! tables and their rights, in order) and is what `main` and the tests run.

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
pub mod relations;
pub mod rights;
pub mod startup;
pub mod store;
pub mod ws;
