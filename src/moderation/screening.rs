//! Screening, called by the other domains: profile text and pictures against the rules and
//! the blocklist, and held chat texts and media put in front of a person.

use super::*;

/// Which profile text is screened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileField {
    Nickname,
    Intro,
}

impl ProfileField {
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileField::Nickname => "nickname",
            ProfileField::Intro => "intro",
        }
    }
}

/// Screens profile text: `Ok(true)` when it may be shown now, `Ok(false)` when it waits for a
/// moderator (queued), `content_rejected` when a rule refuses it.
#[derive(Message)]
#[rtype(result = "AppResult<bool>")]
pub struct ScreenProfileText {
    pub user_id: i64,
    pub field: ProfileField,
    pub text: String,
}

impl Handler<ScreenProfileText> for ModerationServer {
    type Result = ResponseFuture<AppResult<bool>>;

    fn handle(&mut self, msg: ScreenProfileText, _: &mut Context<Self>) -> Self::Result {
        let verdict = policy::screen_text(&self.keywords, &msg.text);
        let (db, bus) = (self.db.clone(), self.bus.clone());
        Box::pin(async move {
            match verdict {
                Verdict::Pass => Ok(true),
                Verdict::Reject(reasons) => Err(rejected(&reasons)),
                Verdict::Review(reasons) => {
                    let kind = msg.field.as_str();
                    let held = Held {
                        kind,
                        subject_id: msg.user_id,
                        content_ref: "",
                        content: &msg.text,
                        reasons: &reasons,
                        media: &[],
                    };
                    queue_for_review(&db, &bus, &held).await?;
                    Ok(false)
                }
            }
        })
    }
}

/// Screens an uploaded picture by its fingerprint against the blocklist: `Ok(None)` to
/// show it now, `Ok(Some(reasons))` to hold it for a moderator, `content_rejected`.
#[derive(Message)]
#[rtype(result = "AppResult<Option<Vec<String>>>")]
pub struct ScreenImage {
    pub fingerprint: Fingerprint,
}

impl Handler<ScreenImage> for ModerationServer {
    type Result = ResponseFuture<AppResult<Option<Vec<String>>>>;

    fn handle(&mut self, msg: ScreenImage, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let thresholds = policy::PictureMatch::from(&self.settings);
        Box::pin(async move {
            let blocklist = store::blocklisted_pictures(&db).await?;
            match policy::screen_image(&msg.fingerprint, &blocklist, &thresholds) {
                Verdict::Reject(reasons) => Err(rejected(&reasons)),
                Verdict::Review(reasons) => Ok(Some(reasons)),
                Verdict::Pass => Ok(None),
            }
        })
    }
}

/// Content a rule held, as queued.
pub(super) struct Held<'a> {
    pub kind: &'a str,
    pub subject_id: i64,
    pub content_ref: &'a str,
    pub content: &'a str,
    pub reasons: &'a [String],
    /// Media ids shown with the content (a post's pictures).
    pub media: &'a [String],
}

/// Queues content that screening held for a moderator (priority 1) and shows it on every
/// console; answers the item's id.
pub(super) async fn queue_for_review(db: &Db, bus: &SharedBus, held: &Held<'_>) -> AppResult<i64> {
    let item = store::enqueue(
        db,
        &store::NewItem {
            kind: held.kind,
            subject_id: held.subject_id,
            content_ref: held.content_ref,
            content: held.content,
            reasons: held.reasons,
            media: held.media,
            priority: 1,
            now: now_ms(),
            reporter_id: None,
            category: None,
        },
    )
    .await?;
    console(bus, "mod.item", &item);
    Ok(item.id)
}

/// Puts a chat text that a rule held in front of a person (`chat_text`); chat keeps the text
/// in `held_texts` until the decision.
#[derive(Message)]
#[rtype(result = "AppResult<i64>")]
pub struct QueueChatText {
    pub sender_id: i64,
    pub conversation_id: i64,
    pub client_id: String,
    pub text: String,
    pub reasons: Vec<String>,
}

impl Handler<QueueChatText> for ModerationServer {
    type Result = ResponseFuture<AppResult<i64>>;

    fn handle(&mut self, msg: QueueChatText, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        Box::pin(async move {
            let content_ref = format!("{}:{}", msg.conversation_id, msg.client_id);
            let held = Held {
                kind: "chat_text",
                subject_id: msg.sender_id,
                content_ref: &content_ref,
                content: &msg.text,
                reasons: &msg.reasons,
                media: &[],
            };
            queue_for_review(&db, &bus, &held).await
        })
    }
}

/// Puts an upload in front of a person (videos always).
#[derive(Message)]
#[rtype(result = "AppResult<i64>")]
pub struct QueueMedia {
    pub user_id: i64,
    pub media_id: String,
    pub reason: String,
}

impl Handler<QueueMedia> for ModerationServer {
    type Result = ResponseFuture<AppResult<i64>>;

    fn handle(&mut self, msg: QueueMedia, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        Box::pin(async move {
            let content = format!("/api/media/{}/content", msg.media_id);
            let held = Held {
                kind: "media",
                subject_id: msg.user_id,
                content_ref: &msg.media_id,
                content: &content,
                reasons: &[msg.reason],
                media: &[],
            };
            queue_for_review(&db, &bus, &held).await
        })
    }
}

/// Puts content of another domain that a rule held in front of a person (a post): its kind
/// is one a `ModeratedContent` declared, which takes the decision.
#[derive(Message)]
#[rtype(result = "AppResult<i64>")]
pub struct QueueContent {
    pub kind: &'static str,
    pub author_id: i64,
    pub content_ref: String,
    pub content: String,
    pub reasons: Vec<String>,
    /// Media ids shown with the content (a post's pictures or video).
    pub media: Vec<String>,
}

impl Handler<QueueContent> for ModerationServer {
    type Result = ResponseFuture<AppResult<i64>>;

    fn handle(&mut self, msg: QueueContent, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        Box::pin(async move {
            let held = Held {
                kind: msg.kind,
                subject_id: msg.author_id,
                content_ref: &msg.content_ref,
                content: &msg.content,
                reasons: &msg.reasons,
                media: &msg.media,
            };
            queue_for_review(&db, &bus, &held).await
        })
    }
}
