//! What every domain actor's commands share: the caller's identity travels beside the command
//! body, never inside it. A body deserialises straight from a WebSocket frame's `data` or a
//! REST body; [`As::new`] adds the authenticated user, so a client cannot speak for someone
//! else.

/// A command on behalf of an authenticated user.
pub struct As<T> {
    pub user_id: i64,
    pub body: T,
}

impl<T> As<T> {
    pub fn new(user_id: i64, body: T) -> Self {
        Self { user_id, body }
    }
}

/// `command!(Body => Reply)`: `As<Body>` is an actix message answered with `AppResult<Reply>`.
#[macro_export]
macro_rules! command {
    ($body:ty => $reply:ty) => {
        impl actix::Message for $crate::domain::As<$body> {
            type Result = $crate::error::AppResult<$reply>;
        }
    };
}
