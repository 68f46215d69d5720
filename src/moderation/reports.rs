//! Reports and appeals, for every user: report what you received or saw, appeal a decision
//! on your own content, list what you may still appeal.

use super::content::Reported;
use super::*;

/// What kind of wrong a report names (举报类型), shown on the moderator's card.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReportCategory {
    /// 假货: counterfeit or misdescribed goods.
    FakeGoods,
    /// 诈骗.
    Fraud,
    /// 骚扰.
    Harassment,
    /// 站外交易: taking the trade off the platform.
    OffPlatform,
    /// 其他.
    #[default]
    Other,
}

impl ReportCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportCategory::FakeGoods => "fake_goods",
            ReportCategory::Fraud => "fraud",
            ReportCategory::Harassment => "harassment",
            ReportCategory::OffPlatform => "off_platform",
            ReportCategory::Other => "other",
        }
    }
}

/// `report.create`: what is reported, what kind of wrong, and why.
#[derive(Debug, Deserialize)]
pub struct Report {
    /// Which kind of content: each content domain declares its target (`message`, `user`,
    /// `media`, see [`super::content::ModeratedContent::report_target`]).
    pub target: String,
    /// `other` when not given.
    #[serde(default)]
    pub category: ReportCategory,
    pub reason: String,
    /// The target's own fields (`conversation_id` and `seq`, `user_id`, `media_id`).
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct Queued {
    pub item_id: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Appeal {
    /// The rejected item (named in the `moderation.decided` event and in the export).
    pub item_id: i64,
    pub reason: String,
}

crate::command!(Report => Queued);
crate::command!(Appeal => Queued);

/// `appeal.list`: the caller's rejected content they may still appeal, so that a client can
/// offer the appeal on the item itself (a removed message, a profile field), also after a
/// reload.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListAppealable {}

#[derive(Debug, Serialize)]
pub struct AppealableItem {
    pub item_id: i64,
    pub kind: String,
    pub content_ref: String,
    /// The content as the moderator saw it (the author's own: a held text's words, a
    /// nickname), so a client can show a rejected text where it was written.
    pub content: String,
    /// The moderator's reason, as `moderation.decided` gave it.
    pub reason: String,
    pub decided_at: i64,
    /// After this time the decision can no longer be appealed.
    pub appeal_until: i64,
}

#[derive(Debug, Serialize)]
pub struct AppealableList {
    /// Rejections one may still appeal.
    pub items: Vec<AppealableItem>,
    /// Rejections one has appealed, whose appeal waits for a moderator: a client shows them
    /// as appealed where they were.
    pub under_appeal: Vec<AppealableItem>,
}

crate::command!(ListAppealable => AppealableList);

/// Most rejections listed at once; older ones are past their window in practice.
pub(super) const APPEALABLE_MAX: i64 = 100;

impl Handler<As<ListAppealable>> for ModerationServer {
    type Result = ResponseFuture<AppResult<AppealableList>>;

    fn handle(&mut self, msg: As<ListAppealable>, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let window = self.settings.appeal_window_ms;
        Box::pin(async move {
            let since = now_ms().saturating_sub(window);
            let listed =
                |appealed| store::appealable(&db, msg.user_id, since, APPEALABLE_MAX, appealed);
            let view = |a: store::Appealable| AppealableItem {
                appeal_until: a.decided_at.saturating_add(window),
                item_id: a.item_id,
                kind: a.kind,
                content_ref: a.content_ref,
                content: a.content,
                reason: a.reason,
                decided_at: a.decided_at,
            };
            Ok(AppealableList {
                items: listed(false).await?.into_iter().map(view).collect(),
                under_appeal: listed(true).await?.into_iter().map(view).collect(),
            })
        })
    }
}

/// Reports are urgent: ahead of routine screening.
pub(super) const REPORT_PRIORITY: i64 = 0;

pub(super) fn bounded_reason(reason: &str) -> AppResult<String> {
    let reason: String = reason.trim().chars().take(500).collect();
    if reason.is_empty() {
        return Err(AppError::field("reason", "say what is wrong"));
    }
    Ok(reason)
}

impl Handler<As<Report>> for ModerationServer {
    type Result = ResponseFuture<AppResult<Queued>>;

    /// `report.create`: the reported content is attached as it is now, so a later edit cannot
    /// hide it from the moderator.
    fn handle(&mut self, msg: As<Report>, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        let contents = self.contents.clone();
        let reports_per_hour = self.settings.reports_per_hour;
        Box::pin(async move {
            let reporter = msg.user_id;
            let reason = bounded_reason(&msg.body.reason)?;
            let As { body, .. } = msg;
            let category = body.category;
            let fields = serde_json::Value::Object(body.fields);
            let Reported {
                kind,
                author: subject_id,
                content_ref,
                preview: content,
                media,
            } = contents
                .reported_as(&body.target)?
                .reported(reporter, &fields)
                .await?;
            // The same reporter on the same content while it is still open: the one item
            // they already have, not another at the top of the queue.
            if let Some(open) = store::open_report(&db, reporter, kind, &content_ref).await? {
                return Ok(Queued { item_id: open });
            }
            let key = format!("report:user:{reporter}");
            let limit = crate::store::rate::Limit::per_hour(reports_per_hour);
            if let Some(wait) = crate::store::rate::hit(&db, &key, limit, now_ms()).await? {
                return Err(AppError::new(
                    ErrorCode::RateLimited,
                    "too many reports; try again later",
                )
                .retry_after(wait));
            }
            let item = store::enqueue(
                &db,
                &store::NewItem {
                    kind,
                    subject_id,
                    content_ref: &content_ref,
                    content: &content,
                    reasons: &[format!("report: {reason}")],
                    media: &media,
                    priority: REPORT_PRIORITY,
                    now: now_ms(),
                    reporter_id: Some(reporter),
                    category: Some(category.as_str()),
                },
            )
            .await?;
            console(&bus, "mod.item", &item);
            Ok(Queued { item_id: item.id })
        })
    }
}

impl Handler<As<Appeal>> for ModerationServer {
    type Result = ResponseFuture<AppResult<Queued>>;

    /// `appeal.create`: the author of rejected content, within the appeal window, once.
    fn handle(&mut self, msg: As<Appeal>, _: &mut Context<Self>) -> Self::Result {
        let (db, bus) = (self.db.clone(), self.bus.clone());
        let window = self.settings.appeal_window_ms;
        Box::pin(async move {
            let reason = bounded_reason(&msg.body.reason)?;
            let original = store::item(&db, msg.body.item_id)
                .await?
                .filter(|i| i.subject_id == msg.user_id)
                .ok_or_else(|| AppError::not_found("item"))?;
            let rejected = matches!(
                original.decision.as_deref(),
                Some("reject" | "reject_and_block")
            );
            if !rejected || original.kind == "appeal" {
                return Err(AppError::field(
                    "item_id",
                    "only a rejection can be appealed",
                ));
            }
            let decided = store::decided_at(&db, original.id).await?.unwrap_or(0);
            if now_ms() - decided > window {
                return Err(AppError::field("item_id", "the appeal period has ended"));
            }
            if store::appeal_exists(&db, original.id).await? {
                return Err(AppError::new(
                    ErrorCode::Conflict,
                    "this decision is already appealed",
                ));
            }
            let item = store::enqueue(
                &db,
                &store::NewItem {
                    kind: "appeal",
                    subject_id: msg.user_id,
                    content_ref: &original.id.to_string(),
                    content: &original.content,
                    reasons: &[format!("appeal of a {} decision: {reason}", original.kind)],
                    media: &[],
                    priority: 1,
                    now: now_ms(),
                    reporter_id: None,
                    category: None,
                },
            )
            .await?;
            console(&bus, "mod.item", &item);
            Ok(Queued { item_id: item.id })
        })
    }
}
