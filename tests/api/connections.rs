//! Delivery to one connection (`Audience::Connection`): a call's signal goes to the device
//! that took the call, not to the user's other devices. The cross-node case is in
//! `cluster.rs`.

use duoxie::bus::{Audience, ConnectionId, Delivery, EventFrame};
use serde_json::json;

use crate::helpers::{spawn_app, Store, TestApp, TestUser, WsClient};

/// A socket of `user`, identified (a command answered), and its connection id.
pub(crate) async fn device(
    app: &TestApp,
    user: &TestUser,
    known: &[ConnectionId],
) -> (WsClient, ConnectionId) {
    let mut ws = app.ws(user).await;
    ws.request_ok("consent.list", json!({})).await;
    let now = app.connections_of(user.id).await;
    let fresh: Vec<_> = now.iter().filter(|c| !known.contains(c)).collect();
    assert_eq!(
        fresh.len(),
        1,
        "one new connection: {now:?} after {known:?}"
    );
    (ws, *fresh[0])
}

pub(crate) fn event(kind: &str, n: i64) -> Delivery {
    Delivery::Event(EventFrame::new(kind, &json!({ "n": n }), None))
}

async fn an_event_for_one_connection_reaches_that_device_only(store: Store) {
    let mut app = spawn_app(store).await;
    let user = app.new_user().await;
    let again = app.login_again(&user).await;
    let (mut first, first_id) = device(&app, &user, &[]).await;
    let (mut second, _) = device(&app, &again, &[first_id]).await;

    let bus = app.bus();
    bus.publish(Audience::Connection(first_id), event("test.signal", 1));
    let signal = first.next_event("test.signal").await;
    assert_eq!(signal["data"]["n"], json!(1), "{signal}");
    // Published after the signal reached the registry: anything the second device had been
    // sent would be ahead of this.
    bus.publish(Audience::User(user.id), event("test.after", 2));
    first.next_event("test.after").await;
    second.next_event("test.after").await;
    let leaked = second.take_buffered(|f| f["type"] == json!("test.signal"));
    assert!(leaked.is_empty(), "the other device got it: {leaked:?}");

    // A connection that is gone: nothing is delivered, nothing breaks.
    first.close().await;
    bus.publish(Audience::Connection(first_id), event("test.signal", 3));
    bus.publish(Audience::User(user.id), event("test.after", 4));
    let after = second.next_event("test.after").await;
    assert_eq!(after["data"]["n"], json!(4), "{after}");
    assert!(second
        .take_buffered(|f| f["type"] == json!("test.signal"))
        .is_empty());
}

store_tests!(an_event_for_one_connection_reaches_that_device_only);
