//! The standing re-check: what must take effect on open sockets is enforced from the
//! database, not only by a bus message that may be dropped (a Redis restart lost a logout, a
//! suspension, a mute and a deletion on another node before this existed).
//!
//! One actor per node. Every `DUOXIE_AUTH_STANDING_RECHECK_MS`, and at once after the bus
//! comes back, it reads the standing of every token with an open socket on this node (one
//! query per [`BATCH`] tokens) and has the registry close the sockets of tokens that were
//! revoked, expired, suspended or whose account is being deleted, and bring the others up to
//! date (mute, minors' restriction, console rights). The bus still carries the fast path;
//! this bounds how late a lost delivery takes effect.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;

use super::store;
use crate::bus::registry::{Enforce, Enforcement, LiveTokens, RecheckNow, Registry};
use crate::domain::Standing;
use crate::metrics::{self, METRICS};
use crate::store::{now_ms, Db};

/// Tokens read in one statement (well under every backend's bind-parameter limit).
const BATCH: usize = 500;

pub struct StandingWatch {
    db: Db,
    registry: Addr<Registry>,
    interval: Duration,
    /// What was last told for each token, so that only changes travel to the sessions.
    told: HashMap<i64, Enforcement>,
    running: bool,
}

impl StandingWatch {
    pub fn new(db: Db, registry: Addr<Registry>, interval: Duration) -> Self {
        Self {
            db,
            registry,
            interval,
            told: HashMap::new(),
            running: false,
        }
    }

    fn recheck(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let (db, registry) = (self.db.clone(), self.registry.clone());
        let work = async move {
            let tokens = registry.send(LiveTokens).await.unwrap_or_default();
            let now = now_ms();
            let mut verdicts = Vec::with_capacity(tokens.len());
            for chunk in tokens.chunks(BATCH) {
                let rows = store::token_standings(&db, chunk, now).await?;
                let mut found: HashMap<i64, Enforcement> =
                    rows.iter().map(|r| (r.token_id, verdict(r, now))).collect();
                for token in chunk {
                    let v = found
                        .remove(token)
                        .unwrap_or_else(|| revoked("token revoked"));
                    verdicts.push((*token, v));
                }
            }
            Ok::<_, sqlx::Error>(verdicts)
        };
        // The queries run as a runtime task, not inside the actor: a task still holding a
        // pooled connection when the node stops is then dropped by the runtime, where the pool
        // can take its connection back (dropped with the actor, it would be outside any
        // runtime, which sqlx refuses with a panic).
        let task = tokio::spawn(work);
        ctx.spawn(task.into_actor(self).map(|joined, act, _| {
            act.running = false;
            match joined {
                Ok(Ok(verdicts)) => act.apply(verdicts),
                // The database is down: nothing can be decided now; the next tick retries.
                Ok(Err(e)) => tracing::warn!(error = %e, "standing re-check failed"),
                Err(e) => tracing::warn!(error = %e, "standing re-check task ended"),
            }
        }));
    }

    fn apply(&mut self, verdicts: Vec<(i64, Enforcement)>) {
        let mut changed = Vec::new();
        let mut seen = HashMap::with_capacity(verdicts.len());
        for (token, verdict) in verdicts {
            if self.told.get(&token) != Some(&verdict) {
                if matches!(verdict, Enforcement::Close { .. }) || self.told.contains_key(&token) {
                    metrics::inc(&METRICS.auth_standing_enforced);
                }
                changed.push((token, verdict.clone()));
            }
            seen.insert(token, verdict);
        }
        // Tokens whose sockets are gone are forgotten; closed ones stay closed.
        self.told = seen;
        if !changed.is_empty() {
            self.registry.do_send(Enforce(changed));
        }
    }
}

fn revoked(reason: &str) -> Enforcement {
    Enforcement::Close {
        code: super::CLOSE_TOKEN_REVOKED,
        reason: reason.to_string(),
    }
}

/// The rule, in one place: the strongest reason to close wins, else the current state.
fn verdict(row: &store::TokenStandingRow, now: i64) -> Enforcement {
    if row.closing {
        return Enforcement::Close {
            code: crate::privacy::CLOSE_ACCOUNT_CLOSED,
            reason: "account deleted or being deleted".into(),
        };
    }
    if row.suspended {
        return Enforcement::Close {
            code: crate::moderation::CLOSE_SUSPENDED,
            reason: "account suspended".into(),
        };
    }
    if !row.live {
        return revoked("token revoked or expired");
    }
    let staff = super::parse_roles(&row.roles).iter().any(|r| r.is_staff());
    Enforcement::Current {
        muted_until: row.muted_until,
        full: crate::minors::standing_of(&row.age, now) == Standing::Full,
        // Only staff sockets stay in the moderators' consoles.
        leave: if staff {
            Vec::new()
        } else {
            vec![crate::bus::Topic::consoles()]
        },
    }
}

impl Actor for StandingWatch {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.interval, |act, ctx| act.recheck(ctx));
    }
}

impl Handler<RecheckNow> for StandingWatch {
    type Result = ();
    fn handle(&mut self, _: RecheckNow, ctx: &mut Context<Self>) {
        self.recheck(ctx);
    }
}
