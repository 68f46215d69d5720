//! Appraisal verdicts (鉴定结果, docs/live.md "Verdicts"): what the room's appraiser concluded of
//! the item of the buyer they were connected with. A verdict is a numbered record the buyer
//! keeps; each correction is a new version and the old one stays. It is signed with the
//! server's Ed25519 key (the one consent receipts use, published at `GET /api/consent/keys`),
//! derived from the row whenever it is read, so anyone can verify it offline; its public view
//! (by number) shows the item, the conclusion, the appraiser's public name and the date, never
//! the buyer. It says plainly what it is: an opinion from a video call, not a laboratory
//! certificate.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::messages::UserRef;
use super::store::calls::{self as store_calls};
use super::store::verdicts::{self as store_verdicts, NewVerdict, VerdictRow};
use super::{policy, Live};
use crate::commands::Caller;
use crate::consent::policy::Permission;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::store::{begin_write, now_ms};

/// What every verdict states of itself, in both languages.
pub const BASIS: &str = "视频连线鉴定意见，非实验室检测证书：未经实验室检验，无证书编号，未依据 \
     GB/T 16553 等国家标准检测。An opinion formed from a live video call, not a laboratory \
     certificate: no laboratory examined the item, it carries no certificate number and it \
     was not tested to GB/T 16553 or any other standard.";

/// The `typ` of the signed claims.
pub const CLAIMS_TYPE: &str = "duoxie-verdict/1";

/// The conclusions an appraiser may give from video.
pub const CONCLUSIONS: [&str; 4] = ["natural", "treated", "imitation", "undetermined"];

/// Most verdicts `verdict.mine` answers.
const MINE_MAX: i64 = 100;

/// Highest price an estimate may name, yuan.
const PRICE_MAX: i64 = 10_000_000_000;

/// What is signed: everything the buyer keeps, except who the buyer is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VerdictClaims {
    pub typ: String,
    pub number: String,
    pub version: i64,
    pub issued_at: i64,
    pub room_id: i64,
    pub call_id: i64,
    pub appraiser: String,
    pub item_type: String,
    pub material: String,
    pub conclusion: String,
    pub grade: Option<String>,
    pub notes: Option<String>,
    pub price_low: Option<i64>,
    pub price_high: Option<i64>,
    pub snapshots: Vec<String>,
    pub correction: Option<String>,
    pub basis: String,
}

/// One version as its parties see it.
#[derive(Debug, Serialize)]
pub struct VerdictView {
    pub number: String,
    pub version: i64,
    pub call_id: i64,
    pub room_id: i64,
    pub appraiser: UserRef,
    pub buyer: Option<UserRef>,
    pub item_type: String,
    pub material: String,
    pub conclusion: String,
    pub grade: Option<String>,
    pub notes: Option<String>,
    pub price_low: Option<i64>,
    pub price_high: Option<i64>,
    pub snapshots: Vec<String>,
    pub correction: Option<String>,
    pub issued_at: i64,
    pub superseded_at: Option<i64>,
    pub basis: &'static str,
    /// The signed record (compact JWS): what the buyer shows to prove it.
    pub jws: String,
}

/// What anyone may see of a number: the current version's item, conclusion, appraiser's
/// public name and date.
#[derive(Debug, Serialize)]
pub struct PublicVerdict {
    pub number: String,
    pub version: i64,
    pub versions: usize,
    pub item_type: String,
    pub material: String,
    pub conclusion: String,
    pub appraiser: String,
    pub issued_at: i64,
    pub basis: &'static str,
}

#[derive(Debug, Serialize)]
pub struct OneVerdict {
    pub verdict: VerdictView,
}

#[derive(Debug, Serialize)]
pub struct Verdicts {
    pub verdicts: Vec<VerdictView>,
}

#[derive(Debug, Serialize)]
pub struct VerdictCheck {
    /// Signed by this server and matching its record.
    pub authentic: bool,
    /// The number's current version (a corrected one is authentic but not current).
    pub current: bool,
    pub claims: VerdictClaims,
}

/// The fields an appraiser fills in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictFields {
    pub item_type: String,
    pub material: String,
    pub conclusion: String,
    #[serde(default)]
    pub grade: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub price_low: Option<i64>,
    #[serde(default)]
    pub price_high: Option<i64>,
    #[serde(default)]
    pub snapshots: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issue {
    pub call_id: i64,
    #[serde(flatten)]
    pub fields: VerdictFields,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correct {
    pub number: String,
    pub correction: String,
    #[serde(flatten)]
    pub fields: VerdictFields,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberRef {
    pub number: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    pub jws: String,
}

/// The fields, checked: texts trimmed and within their limits, a known conclusion, a price
/// range that is a range.
struct Checked {
    item_type: String,
    material: String,
    conclusion: String,
    grade: Option<String>,
    notes: Option<String>,
    price_low: Option<i64>,
    price_high: Option<i64>,
}

fn optional_text(
    field: &'static str,
    raw: &Option<String>,
    max: usize,
) -> AppResult<Option<String>> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => policy::text(field, t, max).map(Some),
    }
}

/// A fresh public number: "DX" and 12 Crockford base32 characters (60 random bits).
fn new_number() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut bits = rand::random::<u64>();
    let mut number = String::from("DX");
    for _ in 0..12 {
        number.push(ALPHABET[(bits & 31) as usize] as char);
        bits >>= 5;
    }
    number
}

impl Live {
    fn check_fields(&self, f: &VerdictFields) -> AppResult<Checked> {
        let s = self.settings();
        let item_type = policy::text("item_type", &f.item_type, s.verdict_field_max_chars)?;
        let material = policy::text("material", &f.material, s.verdict_field_max_chars)?;
        if !CONCLUSIONS.contains(&f.conclusion.as_str()) {
            return Err(AppError::field(
                "conclusion",
                "natural, treated, imitation or undetermined",
            ));
        }
        let grade = optional_text("grade", &f.grade, s.verdict_field_max_chars)?;
        let notes = optional_text("notes", &f.notes, s.verdict_notes_max_chars)?;
        for text in [
            Some(&item_type),
            Some(&material),
            grade.as_ref(),
            notes.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            self.screen(text)?;
        }
        let in_range = |p: Option<i64>| p.map_or(true, |p| (0..=PRICE_MAX).contains(&p));
        let ordered = match (f.price_low, f.price_high) {
            (Some(low), Some(high)) => low <= high,
            (None, None) => true,
            _ => false,
        };
        if !(in_range(f.price_low) && in_range(f.price_high) && ordered) {
            return Err(AppError::field(
                "price_low",
                format!("an estimate is both price_low and price_high, 0 ≤ low ≤ high ≤ {PRICE_MAX} yuan"),
            ));
        }
        Ok(Checked {
            item_type,
            material,
            conclusion: f.conclusion.clone(),
            grade,
            notes,
            price_low: f.price_low,
            price_high: f.price_high,
        })
    }

    /// Snapshots are the appraiser's own screened pictures, taken while the buyer's camera
    /// consent is in force.
    async fn check_snapshots(
        &self,
        appraiser: i64,
        buyer: Option<i64>,
        ids: &[String],
    ) -> AppResult<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let buyer =
            buyer.ok_or_else(|| AppError::field("snapshots", "the buyer's account is gone"))?;
        let granted = crate::consent::granted(self.db(), buyer, &self.policy.get()).await?;
        if !granted.contains(&Permission::Camera) {
            return Err(AppError::new(
                ErrorCode::ConsentRequired,
                "the buyer's camera consent is not in force: no snapshots of their item",
            ));
        }
        self.own_pictures(
            appraiser,
            "snapshots",
            ids,
            self.settings().verdict_snapshots_max,
        )
        .await
    }

    fn claims(row: &VerdictRow) -> VerdictClaims {
        VerdictClaims {
            typ: CLAIMS_TYPE.into(),
            number: row.number.clone(),
            version: row.version,
            issued_at: row.issued_at,
            room_id: row.room_id,
            call_id: row.call_id,
            appraiser: row.appraiser_name.clone(),
            item_type: row.item_type.clone(),
            material: row.material.clone(),
            conclusion: row.conclusion.clone(),
            grade: row.grade.clone(),
            notes: row.notes.clone(),
            price_low: row.price_low,
            price_high: row.price_high,
            snapshots: row.snapshots.clone(),
            correction: row.correction.clone(),
            basis: BASIS.into(),
        }
    }

    fn view(&self, row: VerdictRow) -> VerdictView {
        let jws = self.signer.sign(&Self::claims(&row));
        VerdictView {
            number: row.number,
            version: row.version,
            call_id: row.call_id,
            room_id: row.room_id,
            appraiser: row.appraiser,
            buyer: row.buyer,
            item_type: row.item_type,
            material: row.material,
            conclusion: row.conclusion,
            grade: row.grade,
            notes: row.notes,
            price_low: row.price_low,
            price_high: row.price_high,
            snapshots: row.snapshots,
            correction: row.correction,
            issued_at: row.issued_at,
            superseded_at: row.superseded_at,
            basis: BASIS,
            jws,
        }
    }

    async fn appraiser_name(&self, user_id: i64) -> AppResult<String> {
        Ok(self
            .accounts
            .find(user_id)
            .await?
            .map(|a| a.nickname)
            .unwrap_or_default())
    }

    pub async fn issue_verdict(
        self: Arc<Self>,
        caller: Caller,
        body: Issue,
    ) -> AppResult<OneVerdict> {
        let call = store_calls::call(self.db(), body.call_id, self.settings().call_max_ms)
            .await?
            .ok_or_else(|| AppError::not_found("call"))?;
        if call.host_id != Some(caller.user_id) {
            return Err(AppError::forbidden(
                "only the appraiser of the call issues its verdict",
            ));
        }
        if call.view.answered_at.is_none() {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "the buyer never joined this call: there is nothing to appraise",
            ));
        }
        if let Some(ended) = call.view.ended_at {
            if now_ms() > ended + self.settings().verdict_window_ms {
                return Err(AppError::new(
                    ErrorCode::Conflict,
                    "the time to issue this call's verdict has passed",
                ));
            }
        }
        if store_verdicts::number_of_call(self.db(), call.id())
            .await?
            .is_some()
        {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "this call has its verdict: correct it instead (verdict.correct)",
            ));
        }
        let fields = self.check_fields(&body.fields)?;
        let snapshots = self
            .check_snapshots(caller.user_id, call.guest_id, &body.fields.snapshots)
            .await?;
        let number = new_number();
        let name = self.appraiser_name(caller.user_id).await?;
        self.append_version(&NewVerdict {
            number: &number,
            version: 1,
            call_id: call.id(),
            room_id: call.view.room_id,
            appraiser_id: caller.user_id,
            appraiser_name: &name,
            buyer_id: call.guest_id,
            item_type: &fields.item_type,
            material: &fields.material,
            conclusion: &fields.conclusion,
            grade: fields.grade.as_deref(),
            notes: fields.notes.as_deref(),
            price_low: fields.price_low,
            price_high: fields.price_high,
            snapshots: &snapshots,
            correction: None,
        })
        .await
    }

    pub async fn correct_verdict(
        self: Arc<Self>,
        caller: Caller,
        body: Correct,
    ) -> AppResult<OneVerdict> {
        let versions = store_verdicts::versions(self.db(), &body.number).await?;
        let last = versions
            .last()
            .ok_or_else(|| AppError::not_found("verdict"))?;
        if last.appraiser_id != Some(caller.user_id) {
            return Err(AppError::forbidden(
                "only the appraiser who issued it corrects a verdict",
            ));
        }
        let correction = policy::text(
            "correction",
            &body.correction,
            crate::domain::REASON_MAX_CHARS,
        )
        .map_err(|_| AppError::field("correction", "say what was corrected and why"))?;
        let fields = self.check_fields(&body.fields)?;
        let snapshots = self
            .check_snapshots(caller.user_id, last.buyer_id, &body.fields.snapshots)
            .await?;
        let name = self.appraiser_name(caller.user_id).await?;
        self.append_version(&NewVerdict {
            number: &last.number,
            version: last.version + 1,
            call_id: last.call_id,
            room_id: last.room_id,
            appraiser_id: caller.user_id,
            appraiser_name: &name,
            buyer_id: last.buyer_id,
            item_type: &fields.item_type,
            material: &fields.material,
            conclusion: &fields.conclusion,
            grade: fields.grade.as_deref(),
            notes: fields.notes.as_deref(),
            price_low: fields.price_low,
            price_high: fields.price_high,
            snapshots: &snapshots,
            correction: Some(&correction),
        })
        .await
    }

    /// Writes the version, then tells the buyer's devices (`verdict.issued`).
    async fn append_version(&self, new: &NewVerdict<'_>) -> AppResult<OneVerdict> {
        let mut tx = begin_write(self.db(), self.cx.backend).await?;
        if !store_verdicts::append(&mut tx, new, now_ms()).await? {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "the verdict changed meanwhile: read it again",
            ));
        }
        tx.commit().await?;
        let row = store_verdicts::versions(self.db(), new.number)
            .await?
            .into_iter()
            .find(|v| v.version == new.version)
            .ok_or_else(|| AppError::not_found("verdict"))?;
        let verdict = self.view(row);
        if let Some(buyer) = new.buyer_id {
            self.cx.bus.publish(
                crate::bus::Audience::User(buyer),
                crate::bus::Delivery::Event(crate::bus::EventFrame::new(
                    "verdict.issued",
                    &serde_json::json!({ "verdict": verdict }),
                    None,
                )),
            );
        }
        Ok(OneVerdict { verdict })
    }

    pub async fn my_verdicts(
        self: Arc<Self>,
        caller: Caller,
        _body: serde_json::Value,
    ) -> AppResult<Verdicts> {
        let rows = store_verdicts::current_of_user(self.db(), caller.user_id, MINE_MAX).await?;
        Ok(Verdicts {
            verdicts: rows.into_iter().map(|r| self.view(r)).collect(),
        })
    }

    /// Every version, oldest first, for the buyer and the appraiser; anyone else reads the
    /// public view (`GET /api/verdicts/{number}`).
    pub async fn verdict_versions(
        self: Arc<Self>,
        caller: Caller,
        body: NumberRef,
    ) -> AppResult<Verdicts> {
        let versions = store_verdicts::versions(self.db(), &body.number).await?;
        let party = versions
            .iter()
            .any(|v| v.buyer_id == Some(caller.user_id) || v.appraiser_id == Some(caller.user_id));
        if !party {
            return Err(AppError::not_found("verdict"));
        }
        Ok(Verdicts {
            verdicts: versions.into_iter().map(|r| self.view(r)).collect(),
        })
    }

    /// The public view of a number's current version (no account needed).
    pub async fn public_verdict(&self, number: &str) -> AppResult<PublicVerdict> {
        let versions = store_verdicts::versions(self.db(), number).await?;
        let count = versions.len();
        let last = versions
            .into_iter()
            .last()
            .ok_or_else(|| AppError::not_found("verdict"))?;
        Ok(PublicVerdict {
            number: last.number,
            version: last.version,
            versions: count,
            item_type: last.item_type,
            material: last.material,
            conclusion: last.conclusion,
            appraiser: last.appraiser_name,
            issued_at: last.issued_at,
            basis: BASIS,
        })
    }

    /// Is this signed verdict ours, unaltered, and the number's current version? Signature
    /// first, then the record: a version that is not (or no longer) stored fails.
    pub async fn verify_verdict(&self, jws: &str) -> AppResult<VerdictCheck> {
        let claims: VerdictClaims = self.signer.verify_signed(jws)?;
        if claims.typ != CLAIMS_TYPE {
            return Err(AppError::new(
                ErrorCode::InvalidReceipt,
                "not a signed verdict",
            ));
        }
        let versions = store_verdicts::versions(self.db(), &claims.number).await?;
        let stored = versions
            .iter()
            .find(|v| v.version == claims.version)
            .ok_or_else(|| {
                AppError::new(ErrorCode::InvalidReceipt, "no such verdict is on record")
            })?;
        // The basis may be reworded later; what the record says must agree.
        let mut expected = Self::claims(stored);
        expected.basis = claims.basis.clone();
        if expected != claims {
            return Err(AppError::new(
                ErrorCode::InvalidReceipt,
                "the verdict does not match the record",
            ));
        }
        let current = stored.superseded_at.is_none();
        Ok(VerdictCheck {
            authentic: true,
            current,
            claims,
        })
    }

    pub async fn check_verdict(
        self: Arc<Self>,
        _caller: Caller,
        body: Verify,
    ) -> AppResult<VerdictCheck> {
        self.verify_verdict(&body.jws).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_dx_and_twelve_unambiguous_characters() {
        let n = new_number();
        assert_eq!(n.len(), 14);
        assert!(n.starts_with("DX"));
        assert!(n[2..]
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert!(!n[2..].contains(['I', 'L', 'O', 'U']), "{n}");
        assert_ne!(new_number(), new_number());
    }
}
