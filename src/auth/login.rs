//! Codes and login: a code to a phone (limits per IP, number and in all), login by code or
//! password (hashing bounded, attempts counted before they are hashed), and the token
//! check every request and socket goes through.

use super::*;

impl Auth {
    /// `POST /api/auth/code`: a fresh code for the phone, at most one per resend interval.
    #[tracing::instrument(skip_all)]
    pub async fn request_code(&self, phone: &str, ip: &ClientIp) -> AppResult<CodeSent> {
        let phone = PhoneNumber::parse(phone)?;
        let s = &self.settings;
        let lookup = self.vault.lookup(&phone);
        // The resend interval counts from the last code sent, whether or not it was used: a
        // login consumes its code row, and that must not allow the next code at once.
        let resend = crate::store::rate::Limit {
            max: 1,
            window_ms: s.code_resend_ms,
        };
        let key = format!("code:sent:{lookup}");
        if let Some(wait) = crate::store::rate::hit(&self.db, &key, resend, now_ms()).await? {
            return Err(AppError::new(
                ErrorCode::CodeCooldown,
                "a code was sent to this phone moments ago; wait before asking again",
            )
            .retry_after(wait));
        }
        codes::charge(&self.db, &s.codes(), ip, &lookup).await?;
        let code = codes::new_code();
        let issued = codes::issue(
            &self.db,
            &codes::NewCode {
                purpose: Purpose::Login,
                subject: &lookup,
                user_id: None,
                code_hash: &policy::hash_secret(&[&lookup, &code]),
                payload: &serde_json::json!({}),
                lifetime: codes::Lifetime::from(&s.codes()),
            },
        )
        .await?;
        if let codes::Issued::TooSoon { retry_after_ms } = issued {
            return Err(AppError::new(
                ErrorCode::CodeCooldown,
                "a code was sent to this phone moments ago; wait before asking again",
            )
            .retry_after(retry_after_ms));
        }
        self.sender.send(&phone, &code)?;
        crate::metrics::inc(&crate::metrics::METRICS.auth_codes_sent);
        Ok(CodeSent {
            sent: true,
            expires_in_ms: s.code_ttl_ms,
            dev_code: s.dev_codes.then_some(code),
        })
    }

    /// `POST /api/auth/login`: by code (registers on first use) or by password.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, req: LoginRequest, ip: &ClientIp) -> AppResult<LoginResult> {
        limits::charge_login(&self.db, &self.settings, ip).await?;
        let phone = PhoneNumber::parse(&req.phone)?;
        let device = match req.device.as_deref().map(str::trim) {
            Some(d) if !d.is_empty() => d.chars().take(policy::DEVICE_MAX_CHARS).collect(),
            _ => "unnamed device".to_string(),
        };
        // Checked before the code is spent, so a typo costs no attempt.
        let declared = if req.birth_date.is_some() || req.age_bracket.is_some() {
            let declaration = AgeDeclaration {
                birth_date: req.birth_date.clone(),
                age_bracket: req.age_bracket.clone(),
            };
            Some(declaration.parse(now_ms())?)
        } else {
            None
        };
        // A code login may register: the agreement and the policy in force are accepted
        // first (asked of every code login, so the answer says nothing of whether the number
        // has an account), before the code is spent.
        let accepting = match &req.code {
            Some(_) => {
                let in_force = crate::consent::policy_version_in_force(&self.db).await?;
                if req.accepted_policy_version.as_deref().map(str::trim) != Some(&in_force) {
                    return Err(AppError::new(
                        ErrorCode::PolicyNotAccepted,
                        format!(
                            "accept the user agreement and the privacy policy (version \
                             {in_force}) to log in with a code"
                        ),
                    ));
                }
                Some(in_force)
            }
            None => None,
        };
        let user_id = match (req.code, req.password) {
            (Some(code), None) => self.check_code(&phone, code.trim()).await?,
            (None, Some(password)) => self.check_password(&phone, password).await?,
            _ => {
                return Err(AppError::field(
                    "code",
                    "give exactly one of `code` and `password`",
                ))
            }
        };
        if let Some(d) = &declared {
            crate::minors::declare_at_registration(&self.db, user_id, d).await?;
        }
        if let Some(version) = &accepting {
            crate::consent::accept_documents(&self.db, user_id, version, &device).await?;
        }
        if let Some(until) = crate::moderation::suspended_until(&self.db, user_id).await? {
            let mut e = AppError::new(
                ErrorCode::Suspended,
                "this account is suspended by a moderator",
            );
            if until > 0 {
                e = e.retry_after((until - now_ms()).max(1) as u64);
            }
            return Err(e);
        }
        if crate::privacy::imposed_deletion_pending(&self.db, user_id).await? {
            return Err(AppError::forbidden(
                "this account is being deleted at its guardian's request or because it is \
                 under 14 without a guardian's consent",
            ));
        }
        // Logging in during the cooling-off period is how a user takes a deletion back.
        let deletion_cancelled = crate::privacy::cancel_deletion(&self.db, user_id).await?;
        if deletion_cancelled {
            tracing::info!(user_id, "account deletion cancelled by login");
        }
        let token = policy::new_token();
        let now = now_ms();
        let session_id = store::insert_token(
            &self.db,
            user_id,
            &policy::hash_secret(&[&token]),
            &device,
            now,
            now + self.settings.token_ttl_ms,
        )
        .await?;
        tracing::info!(user_id, session_id, "login");
        crate::metrics::inc(&crate::metrics::METRICS.auth_logins);
        Ok(LoginResult {
            token,
            session_id,
            user: self.me(user_id).await?,
            deletion_cancelled,
        })
    }

    pub(super) async fn check_code(&self, phone: &PhoneNumber, code: &str) -> AppResult<i64> {
        let db = &self.db;
        let lookup = self.vault.lookup(phone);
        let redeemed = codes::redeem(db, Purpose::Login, &lookup, |_| {
            policy::hash_secret(&[&lookup, code])
        })
        .await?;
        redeemed.map_err(|r| r.error(&LOGIN_CODE))?;
        let user_id = store::ensure_user(db, &lookup, now_ms()).await?;
        store::set_phone_sealed_if_missing(db, user_id, &self.vault.seal(phone, user_id)).await?;
        // Owning the phone proves enough to lift a password lock.
        store::clear_wrong_passwords(db, user_id).await?;
        Ok(user_id)
    }

    /// Password login; after `password_max_attempts` wrong passwords in a row the account's
    /// password use is locked for `password_lockout_ms` (a code login lifts it). An unknown
    /// phone, or an account without a password, costs one hash too, so that the answer and
    /// its timing are the same whether the number is registered or not.
    pub(super) async fn check_password(
        &self,
        phone: &PhoneNumber,
        password: String,
    ) -> AppResult<i64> {
        let wrong = || AppError::new(ErrorCode::InvalidCredentials, "wrong phone or password");
        let account = match store::user_id_by_phone(&self.db, &self.vault.lookup(phone)).await? {
            Some(user_id) => store::password_state(&self.db, user_id)
                .await?
                .and_then(|state| state.hash)
                .map(|hash| (user_id, hash)),
            None => None,
        };
        let Some((user_id, stored)) = account else {
            // An unknown number locks after as many wrong passwords as an account does, so
            // that `too_many_attempts` does not tell registered numbers apart either.
            let s = &self.settings;
            let key = format!("pw:unknown:{}", self.vault.lookup(phone));
            let limit = crate::store::rate::Limit {
                max: s.password_max_attempts,
                window_ms: s.password_lockout_ms.max(1),
            };
            if let Some(wait) = crate::store::rate::hit(&self.db, &key, limit, now_ms()).await? {
                return Err(AppError::new(
                    ErrorCode::TooManyAttempts,
                    "too many wrong passwords; try again later or log in with a code",
                )
                .retry_after(wait));
            }
            self.verify_password(password, dummy_hash().await?).await?;
            return Err(wrong());
        };
        self.claim_password_attempt(user_id).await?;
        if self.verify_password(password, stored).await? {
            store::clear_wrong_passwords(&self.db, user_id).await?;
            Ok(user_id)
        } else {
            Err(wrong())
        }
    }

    /// Counts a password attempt before its hash is computed, so that parallel guesses
    /// cannot all slip under the limit: `too_many_attempts` once it is reached.
    pub(super) async fn claim_password_attempt(&self, user_id: i64) -> AppResult<()> {
        let s = &self.settings;
        let now = now_ms();
        if store::claim_password_attempt(
            &self.db,
            user_id,
            s.password_max_attempts,
            now + s.password_lockout_ms,
            now,
        )
        .await?
        {
            return Ok(());
        }
        let until = store::password_state(&self.db, user_id)
            .await?
            .and_then(|state| state.locked_until)
            .unwrap_or(now + 1);
        Err(AppError::new(
            ErrorCode::TooManyAttempts,
            "too many wrong passwords; try again later or log in with a code",
        )
        .retry_after((until - now).max(1) as u64))
    }

    /// Runs one argon2 computation on the blocking pool, at most
    /// `DUOXIE_AUTH_MAX_CONCURRENT_HASHES` at once on this node.
    pub(super) async fn hashing<T: std::marker::Send + 'static>(
        &self,
        work: impl FnOnce() -> T + std::marker::Send + 'static,
    ) -> AppResult<T> {
        let _slot = tokio::time::timeout(HASH_WAIT, self.hashes.acquire())
            .await
            .map_err(|_| AppError::unavailable("too many password checks at once; retry"))?
            .map_err(|_| AppError::unavailable("shutting down"))?;
        actix_web::web::block(work)
            .await
            .map_err(|e| anyhow::anyhow!("password hashing task: {e}").into())
    }

    pub(super) async fn verify_password(
        &self,
        password: String,
        stored: String,
    ) -> AppResult<bool> {
        self.hashing(move || {
            PasswordHash::new(&stored)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
    }

    /// Resolves a bearer token, refusing unknown, expired and revoked ones alike.
    pub async fn authenticate(&self, token: &str) -> AppResult<Identity> {
        let now = now_ms();
        let row = store::token_by_hash(&self.db, &policy::hash_secret(&[token]), now)
            .await?
            .ok_or_else(AppError::unauthorized)?;
        if row.revoked_at.is_some() || row.expires_at <= now {
            return Err(AppError::unauthorized());
        }
        if now - row.last_used_at > TOUCH_INTERVAL_MS {
            store::touch_token(&self.db, row.id, now).await?;
        }
        let roles = parse_roles(&row.roles);
        Ok(Identity {
            user_id: row.user_id,
            token_id: row.id,
            roles,
            expires_at: row.expires_at,
            standing: crate::minors::standing_of(&row.age, now),
            muted_until: row.muted_until.unwrap_or(0),
        })
    }
}

const LOGIN_CODE: codes::Wording = codes::Wording {
    none_pending: "wrong or unknown code",
    no_attempts_left: "too many wrong codes; request a new one",
    expired: "the code has expired; request a new one",
    wrong: "wrong or unknown code",
};
