//! The community's WebSocket commands (`post.*`, `feed.*`, `user.follow…`), routed by the
//! session (docs/protocol.md, "Community").

use super::Feed;
use crate::commands::{call, CommandSpec, Gate, Run};

const fn row(name: &'static str, gate: Gate, run: Run<Feed>) -> CommandSpec<Feed> {
    CommandSpec {
        name,
        gate,
        holds_stream: false,
        run,
    }
}

pub const COMMANDS: &[CommandSpec<Feed>] = &[
    // Publishing and following need full standing (minors' rules), like speaking anywhere.
    row("post.create", Gate::Speaking, |h, c, d| {
        call(h, c, d, Feed::create)
    }),
    row("post.edit", Gate::Speaking, |h, c, d| {
        call(h, c, d, Feed::edit)
    }),
    row("post.delete", Gate::User, |h, c, d| {
        call(h, c, d, Feed::delete)
    }),
    row("post.get", Gate::User, |h, c, d| call(h, c, d, Feed::get)),
    row("post.watch", Gate::User, |h, c, d| {
        call(h, c, d, Feed::watch)
    }),
    row("post.unwatch", Gate::User, |h, c, d| {
        call(h, c, d, Feed::unwatch)
    }),
    row("post.like", Gate::FullStanding, |h, c, d| {
        call(h, c, d, Feed::like)
    }),
    row("post.unlike", Gate::User, |h, c, d| {
        call(h, c, d, Feed::unlike)
    }),
    row("post.comment", Gate::Speaking, |h, c, d| {
        call(h, c, d, Feed::comment)
    }),
    row("post.comments", Gate::User, |h, c, d| {
        call(h, c, d, Feed::comments)
    }),
    row("post.comment.delete", Gate::User, |h, c, d| {
        call(h, c, d, Feed::delete_comment)
    }),
    row("post.search", Gate::User, |h, c, d| {
        call(h, c, d, Feed::search)
    }),
    row("feed.home", Gate::User, |h, c, d| call(h, c, d, Feed::home)),
    row("feed.discover", Gate::User, |h, c, d| {
        call(h, c, d, Feed::discover)
    }),
    row("feed.live", Gate::User, |h, c, d| call(h, c, d, Feed::live)),
    row("feed.user", Gate::User, |h, c, d| {
        call(h, c, d, Feed::of_user)
    }),
    row("user.follow", Gate::FullStanding, |h, c, d| {
        call(h, c, d, Feed::follow)
    }),
    row("user.unfollow", Gate::User, |h, c, d| {
        call(h, c, d, Feed::unfollow)
    }),
    row("user.followers", Gate::User, |h, c, d| {
        call(h, c, d, Feed::followers)
    }),
    row("user.following", Gate::User, |h, c, d| {
        call(h, c, d, Feed::following)
    }),
    row("user.profile", Gate::User, |h, c, d| {
        call(h, c, d, Feed::profile)
    }),
    row("user.follows_privacy", Gate::User, |h, c, d| {
        call(h, c, d, Feed::set_follows_privacy)
    }),
];
