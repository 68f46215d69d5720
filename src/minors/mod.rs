//! Minors (policy: 未成年人): age declaration at registration, the restrictions on accounts
//! under 14, and the guardian's consent, verified with a code sent to the guardian's own
//! phone. The guardian later acts from their own account (logged in with that phone): they
//! see their wards, can withdraw consent (the child is restricted again, sockets closed) or
//! ask for the child's account to be deleted. An account declared under 14 that has no
//! guardian consent for `DUOXIE_PRIVACY_MINOR_GUARDIAN_GRACE_MS` is deleted by the retention
//! job.
//!
//! [`Minors`] is a stateless service. The account's [`policy::Standing`] is computed on every
//! authentication (one subquery), so REST requests always see the current one; a WebSocket
//! session re-checks it when a restricted socket tries a restricted command.

pub mod policy;
pub mod rights;
mod store;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::bus::{Audience, Delivery, EventFrame, SharedBus};
use crate::codes::CodePolicy;
use crate::codes::{self, ClientIp, CodeSender, Purpose};
use crate::domain::{Accounts, Identity};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::keys::hash_secret;
use crate::phone::{PhoneNumber, PhoneVault};
use crate::store::{now_ms, Db};
use policy::{AgeBracket, CivilDate, Standing};

/// Close code for sockets of an account that just became restricted.
pub const CLOSE_ACCOUNT_RESTRICTED: u16 = 4004;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeDeclaration {
    #[serde(default)]
    pub birth_date: Option<String>,
    #[serde(default)]
    pub age_bracket: Option<String>,
}

/// A parsed declaration: exactly one of a date and a bracket.
pub struct Declared {
    pub birth_date: Option<String>,
    pub bracket: Option<&'static str>,
}

impl AgeDeclaration {
    pub fn parse(&self, now: i64) -> AppResult<Declared> {
        match (&self.birth_date, &self.age_bracket) {
            (Some(date), None) => Ok(Declared {
                birth_date: Some(policy::parse_birth_date(date, now)?.to_string()),
                bracket: None,
            }),
            (None, Some(bracket)) => Ok(Declared {
                birth_date: None,
                bracket: Some(AgeBracket::parse(bracket)?.as_str()),
            }),
            _ => Err(AppError::field(
                "birth_date",
                "give exactly one of `birth_date` (YYYY-MM-DD) and `age_bracket`",
            )),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AgeStatus {
    pub birth_date: Option<String>,
    pub age_bracket: Option<String>,
    pub standing: Standing,
}

#[derive(Debug, Serialize)]
pub struct GuardianCodeSent {
    pub sent: bool,
    pub expires_in_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_code: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Ward {
    pub child_id: i64,
    pub nickname: String,
    /// The latest guardian action: `verified`, `withdrawn` or `deletion_requested`.
    pub state: String,
    pub since: i64,
}

#[derive(Clone)]
pub struct Minors {
    db: Db,
    vault: Arc<PhoneVault>,
    sender: Arc<dyn CodeSender>,
    bus: SharedBus,
    codes: CodePolicy,
    accounts: Arc<dyn Accounts>,
}

pub use store::AgeRow;

/// minors' SQL for an account's latest guardian action (`users u` in scope): auth's token
/// check embeds it, so that the caller's standing comes with the token in one statement.
pub const LATEST_GUARDIAN_ACTION_SQL: &str = store::LATEST_GUARDIAN_ACTION;

/// The account's age declaration and guardian state; `None` when there is no such account.
pub async fn age_row(db: &Db, user_id: i64) -> AppResult<Option<AgeRow>> {
    Ok(store::age_row(db, user_id).await?)
}

/// The age declared with a registration (once: a later declaration is refused elsewhere).
pub async fn declare_at_registration(db: &Db, user_id: i64, declared: &Declared) -> AppResult<()> {
    store::declare_age(
        db,
        user_id,
        declared.birth_date.as_deref(),
        declared.bracket,
        now_ms(),
    )
    .await?;
    Ok(())
}

/// The standing of an account from its stored age row, today.
pub fn standing_of(row: &store::AgeRow, now: i64) -> Standing {
    Standing::of(
        row.birth_date.as_deref(),
        row.age_bracket.as_deref(),
        row.guardian_action.as_deref() == Some("verified"),
        CivilDate::today_in_china(now),
    )
}

/// The current standing of `user_id` (read fresh).
pub async fn current_standing(db: &Db, user_id: i64) -> AppResult<Standing> {
    let row = store::age_row(db, user_id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    Ok(standing_of(&row, now_ms()))
}

impl Minors {
    pub fn new(
        db: Db,
        vault: Arc<PhoneVault>,
        sender: Arc<dyn CodeSender>,
        bus: SharedBus,
        codes: CodePolicy,
        accounts: Arc<dyn Accounts>,
    ) -> Self {
        Self {
            db,
            vault,
            sender,
            bus,
            codes,
            accounts,
        }
    }

    async fn status(&self, user_id: i64) -> AppResult<AgeStatus> {
        let row = store::age_row(&self.db, user_id)
            .await?
            .ok_or_else(|| AppError::not_found("user"))?;
        Ok(AgeStatus {
            standing: standing_of(&row, now_ms()),
            birth_date: row.birth_date,
            age_bracket: row.age_bracket,
        })
    }

    /// `POST /api/me/age` (and registration): the user's own, one-time declaration.
    pub async fn declare(
        &self,
        user_id: i64,
        declaration: &AgeDeclaration,
    ) -> AppResult<AgeStatus> {
        let now = now_ms();
        let declared = declaration.parse(now)?;
        self.record(user_id, &declared, now).await?;
        self.status(user_id).await
    }

    /// Records a parsed declaration unless one exists; false when one existed.
    pub async fn record(&self, user_id: i64, declared: &Declared, now: i64) -> AppResult<bool> {
        let stored = store::declare_age(
            &self.db,
            user_id,
            declared.birth_date.as_deref(),
            declared.bracket,
            now,
        )
        .await?;
        if !stored {
            let row = store::age_row(&self.db, user_id).await?;
            if row.is_some_and(|r| r.declared_at.is_some()) {
                return Err(AppError::field(
                    "birth_date",
                    "your age is already declared; support corrects it if it is wrong",
                ));
            }
        }
        Ok(stored)
    }

    /// `POST /api/me/guardian/code`: an under-14 account names its guardian's phone; the code
    /// goes to that phone, so only the guardian can give it to the child.
    pub async fn request_guardian_code(
        &self,
        child: &Identity,
        guardian_phone: &str,
        ip: &ClientIp,
    ) -> AppResult<GuardianCodeSent> {
        let guardian = PhoneNumber::parse(guardian_phone)?;
        if current_standing(&self.db, child.user_id).await? != Standing::AwaitingGuardian {
            return Err(AppError::forbidden(
                "only an account declared under 14 and waiting for consent needs a guardian",
            ));
        }
        let lookup = self.vault.lookup(&guardian);
        if self
            .accounts
            .find(child.user_id)
            .await?
            .and_then(|u| u.phone)
            .is_some_and(|own| own == guardian)
        {
            return Err(AppError::field(
                "guardian_phone",
                "must be the guardian's own phone, not the child's",
            ));
        }
        codes::charge(&self.db, &self.codes, ip, &lookup).await?;
        let code = codes::new_code();
        let s = &self.codes;
        let issued = codes::issue(
            &self.db,
            &codes::NewCode {
                purpose: Purpose::Guardian,
                subject: &child.user_id.to_string(),
                user_id: Some(child.user_id),
                code_hash: &hash_secret(&[&lookup, "guardian", &code]),
                payload: &json!({
                    "guardian_lookup": lookup,
                    "guardian_sealed": self.vault.seal(&guardian, child.user_id),
                }),
                lifetime: codes::Lifetime::from(s),
            },
        )
        .await?;
        if let codes::Issued::TooSoon { .. } = issued {
            return Err(AppError::new(
                ErrorCode::CodeCooldown,
                "a guardian code was sent moments ago; wait before asking again",
            )
            .retry_after(s.code_resend_ms.max(1) as u64));
        }
        self.sender.send(&guardian, &code)?;
        tracing::info!(child_id = child.user_id, guardian = %guardian, "guardian code sent");
        Ok(GuardianCodeSent {
            sent: true,
            expires_in_ms: s.code_ttl_ms,
            dev_code: s.dev_codes.then_some(code),
        })
    }

    /// `POST /api/me/guardian/verify`: the code the guardian received; on success the
    /// guardian's consent is recorded and the account's restrictions are lifted.
    pub async fn verify_guardian(&self, child: &Identity, code: &str) -> AppResult<AgeStatus> {
        let child_id = child.user_id;
        let redeemed = codes::redeem(&self.db, Purpose::Guardian, &child_id.to_string(), |p| {
            let lookup = p["guardian_lookup"].as_str().unwrap_or_default();
            hash_secret(&[lookup, "guardian", code.trim()])
        })
        .await?;
        let payload = redeemed.map_err(|r| r.error(&GUARDIAN_CODE))?.payload;
        let (Some(guardian_lookup), Some(guardian_sealed)) = (
            payload["guardian_lookup"].as_str(),
            payload["guardian_sealed"].as_str(),
        ) else {
            return Err(AppError::from(anyhow::anyhow!(
                "a pending guardian code without its guardian"
            )));
        };
        store::append_guardian_event(
            &self.db,
            child_id,
            guardian_lookup,
            guardian_sealed,
            "verified",
            now_ms(),
        )
        .await?;
        tracing::info!(child_id, "guardian consent verified");
        let status = self.status(child_id).await?;
        self.bus.publish(
            Audience::User(child_id),
            Delivery::Event(EventFrame::new(
                "account.standing",
                &json!({ "standing": status.standing }),
                None,
            )),
        );
        Ok(status)
    }

    async fn guardian_lookup(&self, guardian: &Identity) -> AppResult<String> {
        let u = self
            .accounts
            .find(guardian.user_id)
            .await?
            .ok_or_else(AppError::unauthorized)?;
        let phone = u
            .phone
            .ok_or_else(|| AppError::forbidden("this account has no phone number"))?;
        Ok(self.vault.lookup(&phone))
    }

    /// `GET /api/guardian/wards`: the children whose guardian this account's phone is.
    pub async fn wards(&self, guardian: &Identity) -> AppResult<Vec<Ward>> {
        let lookup = self.guardian_lookup(guardian).await?;
        let mut wards = Vec::new();
        for (child_id, state, since) in store::wards_of(&self.db, &lookup).await? {
            let nickname = self
                .accounts
                .find(child_id)
                .await?
                .map(|u| u.nickname)
                .unwrap_or_default();
            wards.push(Ward {
                child_id,
                nickname,
                state,
                since,
            });
        }
        Ok(wards)
    }

    /// The guardian's latest event for `child_id`, if this guardian is the child's guardian.
    async fn ward(&self, guardian: &Identity, child_id: i64) -> AppResult<store::GuardianEvent> {
        let lookup = self.guardian_lookup(guardian).await?;
        store::guardian_history(&self.db, child_id)
            .await?
            .pop()
            .filter(|latest| latest.guardian_lookup == lookup)
            .ok_or_else(|| AppError::not_found("ward"))
    }

    /// `POST /api/guardian/wards/{id}/withdraw`: the child is restricted again at once.
    pub async fn withdraw(&self, guardian: &Identity, child_id: i64) -> AppResult<()> {
        let latest = self.ward(guardian, child_id).await?;
        if latest.action != "verified" {
            return Err(AppError::field(
                "child_id",
                "consent is not currently given",
            ));
        }
        store::append_guardian_event(
            &self.db,
            child_id,
            &latest.guardian_lookup,
            &latest.guardian_sealed,
            "withdrawn",
            now_ms(),
        )
        .await?;
        tracing::info!(
            child_id,
            guardian_id = guardian.user_id,
            "guardian consent withdrawn"
        );
        self.bus.publish(
            Audience::User(child_id),
            Delivery::CloseUser {
                code: CLOSE_ACCOUNT_RESTRICTED,
                reason: "guardian consent withdrawn".into(),
            },
        );
        Ok(())
    }

    /// `POST /api/guardian/wards/{id}/deletion`: the child's account is deleted at the next
    /// retention run, without a cooling-off period; it is logged out everywhere now.
    pub async fn delete_ward(&self, guardian: &Identity, child_id: i64) -> AppResult<()> {
        let latest = self.ward(guardian, child_id).await?;
        let now = now_ms();
        store::append_guardian_event(
            &self.db,
            child_id,
            &latest.guardian_lookup,
            &latest.guardian_sealed,
            "deletion_requested",
            now,
        )
        .await?;
        crate::privacy::schedule_deletion_now(
            &self.db,
            child_id,
            now,
            crate::rights::ImposedDeletion::Guardian,
        )
        .await?;
        self.accounts.sign_out_everywhere(child_id, now).await?;
        tracing::info!(
            child_id,
            guardian_id = guardian.user_id,
            "guardian asked for deletion"
        );
        self.bus.publish(
            Audience::User(child_id),
            Delivery::CloseUser {
                code: crate::privacy::CLOSE_ACCOUNT_CLOSED,
                reason: "account deletion requested by the guardian".into(),
            },
        );
        Ok(())
    }

    /// `POST /api/admin/users/{id}/birth-date`: an admin corrects a birth date (audited). An
    /// existing account found to be under 14 without guardian consent has its personal data
    /// deleted at once (policy: 未成年人): logged out everywhere now, erased at the next
    /// retention run.
    pub async fn correct_birth_date(
        &self,
        admin: &Identity,
        user_id: i64,
        birth_date: &str,
        reason: &str,
    ) -> AppResult<AgeStatus> {
        if !admin.roles.contains(&crate::domain::Role::Admin) {
            return Err(AppError::forbidden("only admins correct birth dates"));
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(AppError::field(
                "reason",
                "say why the birth date is corrected",
            ));
        }
        let now = now_ms();
        let date = policy::parse_birth_date(birth_date, now)?.to_string();
        if !store::correct_birth_date(&self.db, user_id, &date, now).await? {
            return Err(AppError::not_found("user"));
        }
        let why: String = reason
            .chars()
            .take(crate::domain::REASON_MAX_CHARS)
            .collect();
        crate::privacy::record_staff_access(
            &self.db,
            admin.user_id,
            user_id,
            "birth date corrected",
            &why,
            now,
        )
        .await?;
        let status = self.status(user_id).await?;
        if status.standing == Standing::AwaitingGuardian {
            crate::privacy::schedule_deletion_now(
                &self.db,
                user_id,
                now,
                crate::rights::ImposedDeletion::Under14,
            )
            .await?;
            self.accounts.sign_out_everywhere(user_id, now).await?;
            tracing::info!(
                user_id,
                "account found to be under 14 without consent: deleting"
            );
            self.bus.publish(
                Audience::User(user_id),
                Delivery::CloseUser {
                    code: crate::privacy::CLOSE_ACCOUNT_CLOSED,
                    reason: "account under 14 without guardian consent".into(),
                },
            );
        }
        Ok(status)
    }

    /// The export section: the declaration, the standing, the guardian ledger (guardian phone
    /// masked) and, for a guardian, their wards.
    pub async fn export(
        db: &Db,
        vault: &PhoneVault,
        accounts: &dyn Accounts,
        user_id: i64,
    ) -> AppResult<Value> {
        let row = store::age_row(db, user_id)
            .await?
            .ok_or_else(|| AppError::not_found("user"))?;
        let guardian: Vec<Value> = store::guardian_history(db, user_id)
            .await?
            .into_iter()
            .map(|e| {
                let phone = vault
                    .open(&e.guardian_sealed, user_id)
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                json!({ "action": e.action, "at": e.at, "guardian_phone_masked": phone })
            })
            .collect();
        let own_phone = accounts.find(user_id).await?.and_then(|u| u.phone);
        let wards: Vec<Value> = match own_phone {
            Some(phone) => store::wards_of(db, &vault.lookup(&phone))
                .await?
                .into_iter()
                .map(|(child_id, state, since)| json!({ "child_id": child_id, "state": state, "since": since }))
                .collect(),
            None => Vec::new(),
        };
        Ok(json!({
            "birth_date": row.birth_date,
            "age_bracket": row.age_bracket,
            "age_declared_at": row.declared_at,
            "standing": standing_of(&row, now_ms()),
            "guardian": guardian,
            "wards": wards,
        }))
    }
}

const GUARDIAN_CODE: codes::Wording = codes::Wording {
    none_pending: "no guardian code is pending",
    no_attempts_left: "too many wrong codes; request a new one",
    expired: "the guardian code has expired",
    wrong: "wrong guardian code",
};
