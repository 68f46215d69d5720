//! Home timelines behind one interface: in the database (`feed_home`) on the embedded
//! default, in Redis when the deployment has it (one sorted set per reader), chosen at start.
//!
//! Both keep the same keyset order, (published_at, post id) newest first, and the same bound
//! (`DUOXIE_FEED_HOME_MAX`). Neither is the source of truth: posts are, in the database. A
//! timeline only says which post ids to read first, so anything it lacks is found by the
//! read-time pull (`store::pull`) and anything stale in it (a deleted post, an erased author)
//! is dropped when the page is read. That is what lets the Redis one be a cache: a Redis
//! restart empties it, the next reads fall back to the pull and the reader's next first page
//! (empty, not marked complete) rebuilds it; a reader away longer than
//! `DUOXIE_FEED_INACTIVE_AFTER_MS` lets it expire.
//!
//! A timeline can also say it is complete: it holds every post of those the reader follows
//! (big authors aside), so a page it cannot fill ends there without the pull. A rebuild that
//! found fewer posts than the bound sets that; a trim that drops entries takes it away.

use futures_util::future::BoxFuture;
use redis::aio::ConnectionManager;
use sqlx::AnyConnection;

use super::policy::Cursor;
use super::store::Job;
use crate::error::{AppError, AppResult};
use crate::store::{Backend, Db};

/// A page of a timeline. `complete`: the entries reach the oldest end of a timeline that
/// holds every post of those the reader follows (big authors aside), so nothing older is
/// missing from it; false whenever that is not known.
#[derive(Debug, Default)]
pub struct TimelinePage {
    pub entries: Vec<Cursor>,
    pub complete: bool,
}

/// Where home timelines live.
pub trait Timelines: Send + Sync {
    /// Inside the publishing transaction: the post at the top of its author's own timeline.
    fn add_own<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        author: i64,
        entry: Cursor,
    ) -> BoxFuture<'a, AppResult<()>>;

    /// Inside a fan-out step's transaction (before its cursor moves): the job's post into the
    /// timelines of the author's followers in (job.done_up_to, last] active since
    /// `active_since`. Written again if the step is retried: adding is idempotent.
    fn fan_out<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        job: &'a Job,
        last: i64,
        active_since: i64,
    ) -> BoxFuture<'a, AppResult<()>>;

    /// Entries of `reader`'s timeline before `before`, newest first, and whether they reach
    /// the start of a complete timeline (then a short page needs no pull).
    fn page(
        &self,
        reader: i64,
        before: Cursor,
        limit: i64,
    ) -> BoxFuture<'_, AppResult<TimelinePage>>;

    /// Keeps the newest `keep` entries: called when the reader opens their feed (the
    /// database bounds its rows there, one statement per read instead of one per follower and
    /// post; Redis bounds each set as it writes it).
    fn trim(&self, reader: i64, keep: i64) -> BoxFuture<'_, AppResult<()>>;

    /// Refills a reader's timeline with the newest `keep` posts of those they follow (and
    /// their own): the timeline of a reader fan-out skipped, one Redis lost, or one that
    /// just followed someone. Marks it complete when that found fewer than `keep`.
    fn rebuild(&self, reader: i64, keep: i64) -> BoxFuture<'_, AppResult<()>>;

    /// After an unfollow: the author's posts leave the reader's timeline.
    fn forget_author(&self, reader: i64, author: i64) -> BoxFuture<'_, AppResult<()>>;

    /// After a take-down, for the author and each chunk of followers: the entry leaves their
    /// timelines (the database's rows went in the take-down's transaction).
    fn forget<'a>(&'a self, readers: &'a [i64], entry: Cursor) -> BoxFuture<'a, AppResult<()>>;
}

// ---------------------------------------------------------------- the database

/// `feed_home`: a row per (reader, post), written in the same transactions as the post and
/// the fan-out cursor.
pub struct DbTimelines {
    pub db: Db,
    pub backend: Backend,
}

impl Timelines for DbTimelines {
    fn add_own<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        author: i64,
        entry: Cursor,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            super::store::add_to_home(tx, author, entry.id, author, entry.published_at).await?;
            Ok(())
        })
    }

    fn fan_out<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        job: &'a Job,
        last: i64,
        active_since: i64,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            super::store::fan_out_rows(tx, job, last, active_since).await?;
            Ok(())
        })
    }

    fn page(
        &self,
        reader: i64,
        before: Cursor,
        limit: i64,
    ) -> BoxFuture<'_, AppResult<TimelinePage>> {
        Box::pin(async move {
            let entries = super::store::home_page(&self.db, reader, before, limit).await?;
            // Only a short page asks: a full one needs nothing older.
            let complete = (entries.len() as i64) < limit
                && super::store::home_complete(&self.db, reader).await?;
            Ok(TimelinePage { entries, complete })
        })
    }

    fn trim(&self, reader: i64, keep: i64) -> BoxFuture<'_, AppResult<()>> {
        Box::pin(async move {
            super::store::trim_home(&self.db, self.backend, reader, keep).await?;
            Ok(())
        })
    }

    fn rebuild(&self, reader: i64, keep: i64) -> BoxFuture<'_, AppResult<()>> {
        Box::pin(async move {
            let mut tx = crate::store::begin_write(&self.db, self.backend).await?;
            super::store::rebuild_home(&mut tx, reader, keep).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn forget_author(&self, reader: i64, author: i64) -> BoxFuture<'_, AppResult<()>> {
        Box::pin(async move {
            let mut conn = self.db.acquire().await?;
            super::store::forget_author_in_home(&mut conn, reader, author).await?;
            Ok(())
        })
    }

    fn forget<'a>(&'a self, _readers: &'a [i64], _entry: Cursor) -> BoxFuture<'a, AppResult<()>> {
        // Done in the take-down's transaction (store::remove_everywhere).
        Box::pin(async { Ok(()) })
    }
}

// ---------------------------------------------------------------- Redis

/// One sorted set per reader, `<prefix>:home:<user>`: every member has score 0 and is the
/// entry written as `<published_at>:<post id>`, both zero-padded to 20 digits, so that the
/// set's lexical order is the keyset order and a page is one `ZREVRANGEBYLEX`. Each write
/// renews the key's expiry to the inactivity threshold. A complete timeline also holds
/// `COMPLETE`, the lowest member there can be: the first trim that drops anything drops it.
pub struct RedisTimelines {
    /// Where a rebuild reads the followed authors' posts.
    pub db: Db,
    pub conn: ConnectionManager,
    pub prefix: String,
    pub ttl_secs: u64,
    /// Entries a set keeps (`DUOXIE_FEED_HOME_MAX`), trimmed with every write.
    pub keep: i64,
}

/// The mark of a complete timeline, below every entry (posts have ids and times above 0).
const COMPLETE: Cursor = Cursor {
    published_at: 0,
    id: 0,
};

fn member(entry: Cursor) -> String {
    format!("{:020}:{:020}", entry.published_at.max(0), entry.id.max(0))
}

fn parse_member(m: &str) -> Option<Cursor> {
    let (at, id) = m.split_once(':')?;
    Some(Cursor {
        published_at: at.parse().ok()?,
        id: id.parse().ok()?,
    })
}

/// Longest a timeline call waits: while Redis is down the connection manager keeps
/// reconnecting, and a page read falls back to the database rather than waiting for it.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// One Redis call, bounded by `CALL_TIMEOUT`; any failure is `unavailable`.
async fn call<T>(fut: impl std::future::Future<Output = redis::RedisResult<T>>) -> AppResult<T> {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(AppError::unavailable(format!("Redis timelines: {e}"))),
        Err(_) => Err(AppError::unavailable("Redis timelines: no answer in time")),
    }
}

impl RedisTimelines {
    fn key(&self, reader: i64) -> String {
        format!("{}:home:{reader}", self.prefix)
    }

    /// `entries` into each of `readers`' timelines, one pipeline.
    async fn add_to(&self, readers: &[i64], entries: &[Cursor]) -> AppResult<()> {
        if readers.is_empty() || entries.is_empty() {
            return Ok(());
        }
        self.write(readers, entries, false).await
    }

    /// The writes of `add_to`, with the `COMPLETE` mark when `complete` (a rebuild that found
    /// everything; it is written even with no entries, so that the key exists).
    async fn write(&self, readers: &[i64], entries: &[Cursor], complete: bool) -> AppResult<()> {
        let mut pipe = redis::pipe();
        for reader in readers {
            let key = self.key(*reader);
            for entry in entries {
                pipe.zadd(&key, member(*entry), 0).ignore();
            }
            if complete {
                pipe.zadd(&key, member(COMPLETE), 0).ignore();
            }
            // The lowest ranks are the oldest entries.
            pipe.cmd("ZREMRANGEBYRANK")
                .arg(&key)
                .arg(0)
                .arg(-(self.keep + 1))
                .ignore();
            pipe.expire(&key, self.ttl_secs as i64).ignore();
        }
        let mut conn = self.conn.clone();
        call(pipe.query_async::<()>(&mut conn)).await
    }
}

impl Timelines for RedisTimelines {
    fn add_own<'a>(
        &'a self,
        _tx: &'a mut AnyConnection,
        author: i64,
        entry: Cursor,
    ) -> BoxFuture<'a, AppResult<()>> {
        // Before the commit: a post whose transaction then fails leaves an entry that the
        // page's read drops (it names no published post).
        Box::pin(async move { self.add_to(&[author], &[entry]).await })
    }

    fn fan_out<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        job: &'a Job,
        last: i64,
        active_since: i64,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            let readers = super::store::active_followers(tx, job, last, active_since).await?;
            let entry = Cursor {
                published_at: job.published_at,
                id: job.post_id,
            };
            self.add_to(&readers, &[entry]).await
        })
    }

    fn page(
        &self,
        reader: i64,
        before: Cursor,
        limit: i64,
    ) -> BoxFuture<'_, AppResult<TimelinePage>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let max = format!("({}", member(before));
            let members: Vec<String> = call(
                redis::cmd("ZREVRANGEBYLEX")
                    .arg(self.key(reader))
                    .arg(max)
                    .arg("-")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit)
                    .query_async(&mut conn),
            )
            .await?;
            let mut page = TimelinePage::default();
            for entry in members.iter().filter_map(|m| parse_member(m)) {
                if entry == COMPLETE {
                    page.complete = true;
                } else {
                    page.entries.push(entry);
                }
            }
            Ok(page)
        })
    }

    fn trim(&self, _reader: i64, _keep: i64) -> BoxFuture<'_, AppResult<()>> {
        // Each write trims its set (add_to).
        Box::pin(async { Ok(()) })
    }

    fn rebuild(&self, reader: i64, keep: i64) -> BoxFuture<'_, AppResult<()>> {
        Box::pin(async move {
            let entries = super::store::pull(&self.db, reader, Cursor::TOP, keep).await?;
            let complete = (entries.len() as i64) < keep;
            self.write(&[reader], &entries, complete).await
        })
    }

    fn forget_author(&self, reader: i64, author: i64) -> BoxFuture<'_, AppResult<()>> {
        Box::pin(async move {
            // A timeline holds at most `keep` entries, so none of the author's older posts.
            let entries = super::store::newest_of_author(&self.db, author, self.keep).await?;
            if entries.is_empty() {
                return Ok(());
            }
            let mut conn = self.conn.clone();
            let members: Vec<String> = entries.into_iter().map(member).collect();
            call(
                redis::cmd("ZREM")
                    .arg(self.key(reader))
                    .arg(members)
                    .query_async::<()>(&mut conn),
            )
            .await
        })
    }

    fn forget<'a>(&'a self, readers: &'a [i64], entry: Cursor) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            if readers.is_empty() {
                return Ok(());
            }
            let mut pipe = redis::pipe();
            let m = member(entry);
            for reader in readers {
                pipe.zrem(self.key(*reader), &m).ignore();
            }
            let mut conn = self.conn.clone();
            call(pipe.query_async::<()>(&mut conn)).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_sort_in_keyset_order_and_round_trip() {
        let a = Cursor {
            published_at: 1_700_000_000_000,
            id: 9,
        };
        let b = Cursor {
            published_at: 1_700_000_000_000,
            id: 12,
        };
        let c = Cursor {
            published_at: 1_700_000_000_001,
            id: 3,
        };
        let mut m = vec![member(c), member(a), member(b)];
        m.sort();
        assert_eq!(m, vec![member(a), member(b), member(c)]);
        for x in [a, b, c] {
            assert_eq!(parse_member(&member(x)), Some(x));
        }
        assert_eq!(parse_member("garbage"), None);
    }
}
