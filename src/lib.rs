//! Duoxie live server: the real-time back end of a jewellery-trading platform.
//!
//! # Layout
//!
//! Three layers, and arrows that point down only (`ARCHITECTURE.md`, "The dependency rule";
//! `tests/api/layout.rs` fails when one points up).
//!
//! **The kernel** is what every domain stands on and names no domain: [`store`] (the sqlx
//! pool, SQLite by default or PostgreSQL, embedded migrations, shared rate windows), [`bus`]
//! (publish to a user, users or a [`bus::Topic`]'s members on any node; the node's connection
//! [`bus::registry`]), [`error`] (the one error type whose codes both transports share),
//! [`domain`] (the caller's [`domain::Identity`]: roles, standing, mute; `As<T>`; the
//! [`domain::Accounts`] any domain may ask), [`config`] (the settings machinery: each domain
//! owns its section in its `settings.rs`, and [`settings`] assembles them), [`commands`] (the command
//! table a domain declares its WebSocket commands in), [`rights`] (the part a domain takes in
//! the user's rights: export, erasure, retention), [`codes`] (one-time codes, for every flow
//! that sends one), [`phone`] (phone numbers and their vault), [`catalog`] (the categories
//! rooms and posts share), [`keys`] and [`metrics`].
//!
//! **The domains** own their rules, their actor and their SQL, each in its folder, and a
//! domain's `store` is private to it: [`auth`] (accounts, tokens, roles, the standing
//! re-check), [`chat`] (conversations and messages; [`chat::ChatServer`] group-commits sends),
//! [`consent`] (the consent ledger and the feature gate), [`media`] (uploads and their
//! pipeline), [`minors`] (age and guardians), [`moderation`] (screening, the queue,
//! decisions, sanctions, reports, the picture blocklist and its fingerprints), [`relations`]
//! (blocks), [`live`] (rooms, appraisal calls and verdicts), [`feed`] (the community: posts,
//! follows, fan-out, the discover feed), [`share`] (share codes to a post, a room or a
//! profile) and [`privacy`] (runs the domains' rights: the streamed export, the
//! deletion transaction, the retention job). A domain never writes to a socket: it publishes
//! on the bus. Where one domain needs another it calls a narrow, named function (the way
//! `consent::require` gates a feature); where the arrow would point up, the lower domain
//! defines a trait the higher one implements: [`moderation::content::ModeratedContent`]
//! (what a decision does to a profile, a chat text, a picture, a room comment, a post: auth,
//! chat, media, live and feed implement it), [`media::moderated::PictureUses`] (chat's photo
//! messages), [`consent::WithdrawalListener`] (live ends calls on a withdrawal), and the kernel's
//! [`domain::Accounts`] and [`rights::DataDomain`]. The arrows between domains: auth → media,
//! minors, moderation, privacy; chat → media, moderation, relations; media → consent,
//! moderation; live → consent, media, moderation, privacy, relations; feed → consent, media,
//! moderation, relations; share → feed, live; minors → privacy; consent, moderation, privacy and relations name none.
//!
//! **The transports** translate and know no domain rule: `http` (REST, the static client) and
//! `ws` (one [`ws::session::WsSession`] actor per socket, which checks the gate a command's
//! table declares and routes by the union of the tables; it knows no command but `auth`).
//! [`startup::App`] wires it all (the one place that names every domain: their command
//! tables, their rights and their moderated content, in order) and is what `main` and the
//! tests run.

pub mod auth;
pub mod bus;
pub mod catalog;
pub mod chat;
pub mod codes;
pub mod commands;
pub mod config;
pub mod consent;
pub mod domain;
pub mod error;
pub mod feed;
pub mod http;
pub mod keys;
pub mod live;
pub mod media;
pub mod metrics;
pub mod minors;
pub mod moderation;
pub mod phone;
pub mod privacy;
pub mod relations;
pub mod rights;
pub mod settings;
pub mod share;
pub mod startup;
pub mod store;
pub mod ws;
