//! Changing the account's phone number: codes to the old and the new number, then the swap.

use super::*;

impl Auth {
    /// `POST /api/me/phone/codes`: starts rebinding the account to `new_phone`: one code to the
    /// current number (the owner agrees) and one to the new number (they hold it).
    pub async fn request_phone_change(
        &self,
        user_id: i64,
        new_phone: &str,
        ip: &ClientIp,
    ) -> AppResult<PhoneChangeCodes> {
        let new_phone =
            PhoneNumber::parse(new_phone).map_err(|e| AppError::field("new_phone", e.message))?;
        let user = store::user_by_id(&self.db, user_id)
            .await?
            .ok_or_else(AppError::unauthorized)?;
        let old_phone = self
            .vault
            .phone_of(user.phone_sealed.as_deref(), user.id)
            .ok_or_else(|| AppError::forbidden("this account has no phone number to change"))?;
        // Charged before the number is looked up: probing which numbers are registered costs
        // the same share as sending codes.
        codes::charge(
            &self.db,
            &self.settings.codes(),
            ip,
            &self.vault.lookup(&new_phone),
        )
        .await?;
        codes::charge(
            &self.db,
            &self.settings.codes(),
            ip,
            &self.vault.lookup(&old_phone),
        )
        .await?;
        if old_phone == new_phone {
            return Err(AppError::field(
                "new_phone",
                "is already this account's number",
            ));
        }
        // Whether the new number already has an account is not said here (that answered 200
        // probes in half a second): its owner gets a code like anyone, and only someone holding
        // both codes learns at confirmation that the number is taken.
        let new_lookup = self.vault.lookup(&new_phone);
        let (old_code, new_code) = (codes::new_code(), codes::new_code());
        let old_lookup = self.vault.lookup(&old_phone);
        let s = &self.settings;
        let issued = codes::issue(
            &self.db,
            &codes::NewCode {
                purpose: Purpose::PhoneChange,
                subject: &user_id.to_string(),
                user_id: Some(user_id),
                code_hash: &rebind_hash(&old_lookup, &new_lookup, &old_code, &new_code),
                payload: &serde_json::json!({
                    "new_lookup": new_lookup,
                    "new_sealed": self.vault.seal(&new_phone, user_id),
                }),
                lifetime: codes::Lifetime::from(&s.codes()),
            },
        )
        .await?;
        if let codes::Issued::TooSoon { retry_after_ms } = issued {
            return Err(AppError::new(
                ErrorCode::CodeCooldown,
                "codes were sent moments ago; wait before asking again",
            )
            .retry_after(retry_after_ms));
        }
        self.sender.send(&old_phone, &old_code)?;
        self.sender.send(&new_phone, &new_code)?;
        tracing::info!(user_id, new_phone = %new_phone, "phone change codes sent");
        Ok(PhoneChangeCodes {
            sent: true,
            expires_in_ms: s.code_ttl_ms,
            dev_old_code: s.dev_codes.then_some(old_code),
            dev_new_code: s.dev_codes.then_some(new_code),
        })
    }

    /// `POST /api/me/phone`: both codes right, and the account moves to the new number.
    pub async fn confirm_phone_change(
        &self,
        user_id: i64,
        old_code: &str,
        new_code: &str,
    ) -> AppResult<Me> {
        let user = store::user_by_id(&self.db, user_id)
            .await?
            .ok_or_else(AppError::unauthorized)?;
        let old_lookup = self
            .vault
            .phone_of(user.phone_sealed.as_deref(), user.id)
            .map(|phone| self.vault.lookup(&phone))
            .unwrap_or_default();
        let redeemed = codes::redeem(
            &self.db,
            Purpose::PhoneChange,
            &user_id.to_string(),
            |payload| {
                let new_lookup = payload["new_lookup"].as_str().unwrap_or_default();
                rebind_hash(&old_lookup, new_lookup, old_code.trim(), new_code.trim())
            },
        )
        .await?;
        let pending = redeemed.map_err(|r| r.error(&PHONE_CHANGE_CODES))?.payload;
        let (Some(new_lookup), Some(new_sealed)) = (
            pending["new_lookup"].as_str(),
            pending["new_sealed"].as_str(),
        ) else {
            return Err(AppError::from(anyhow::anyhow!(
                "a pending phone change without its new number"
            )));
        };
        if !store::apply_phone_change(&self.db, self.backend, user_id, new_lookup, new_sealed)
            .await?
        {
            return Err(AppError::field(
                "new_phone",
                "already belongs to an account",
            ));
        }
        tracing::info!(user_id, "phone number changed");
        self.me(user_id).await
    }
}

/// Both codes of a phone change in one hash: each salted with the number it went to, so
/// neither is any use without the other.
fn rebind_hash(old_lookup: &str, new_lookup: &str, old_code: &str, new_code: &str) -> String {
    policy::hash_secret(&[old_lookup, new_lookup, "rebind", old_code, new_code])
}

const PHONE_CHANGE_CODES: codes::Wording = codes::Wording {
    none_pending: "no phone change is pending",
    no_attempts_left: "too many wrong codes; start again",
    expired: "the codes have expired; start again",
    // Which one was wrong is not said: that would halve the guessing.
    wrong: "wrong code",
};
