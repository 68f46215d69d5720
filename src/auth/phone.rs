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
            .phone_of(&user)
            .ok_or_else(|| AppError::forbidden("this account has no phone number to change"))?;
        // Charged before the number is looked up: probing which numbers are registered costs
        // the same share as sending codes.
        limits::charge_code(&self.db, &self.settings, ip, &self.vault.lookup(&new_phone)).await?;
        limits::charge_code(&self.db, &self.settings, ip, &self.vault.lookup(&old_phone)).await?;
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
        let (old_code, new_code) = (policy::new_login_code(), policy::new_login_code());
        let old_lookup = self.vault.lookup(&old_phone);
        let s = &self.settings;
        let now = now_ms();
        let stored = store::put_phone_change(
            &self.db,
            &store::NewPhoneChange {
                user_id,
                new_lookup: &new_lookup,
                new_sealed: &self.vault.seal(&new_phone, user_id),
                old_code_hash: &policy::hash_secret(&[&old_lookup, "rebind", &old_code]),
                new_code_hash: &policy::hash_secret(&[&new_lookup, "rebind", &new_code]),
                now,
                expires_at: now + s.code_ttl_ms,
                attempts: s.code_max_attempts,
                resend_before: now - s.code_resend_ms,
            },
        )
        .await?;
        if !stored {
            return Err(AppError::new(
                ErrorCode::CodeCooldown,
                "codes were sent moments ago; wait before asking again",
            )
            .retry_after(s.code_resend_ms.max(1) as u64));
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
        let Some(pending) = store::spend_phone_change_attempt(&self.db, user_id).await? else {
            return Err(if store::phone_change_pending(&self.db, user_id).await? {
                AppError::new(
                    ErrorCode::TooManyAttempts,
                    "too many wrong codes; start again",
                )
            } else {
                AppError::new(ErrorCode::InvalidCode, "no phone change is pending")
            });
        };
        if pending.expires_at <= now_ms() {
            return Err(AppError::new(
                ErrorCode::CodeExpired,
                "the codes have expired; start again",
            ));
        }
        let user = store::user_by_id(&self.db, user_id)
            .await?
            .ok_or_else(AppError::unauthorized)?;
        let old_lookup = self
            .vault
            .phone_of(&user)
            .map(|phone| self.vault.lookup(&phone))
            .unwrap_or_default();
        let old_ok =
            policy::hash_secret(&[&old_lookup, "rebind", old_code.trim()]) == pending.old_code_hash;
        let new_ok = policy::hash_secret(&[&pending.new_lookup, "rebind", new_code.trim()])
            == pending.new_code_hash;
        if !(old_ok && new_ok) {
            // Which one was wrong is not said: that would halve the guessing.
            return Err(AppError::new(ErrorCode::InvalidCode, "wrong code"));
        }
        if !store::apply_phone_change(
            &self.db,
            self.backend,
            user_id,
            &pending.new_lookup,
            &pending.new_sealed,
        )
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
