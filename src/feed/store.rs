//! The community's SQL: posts, follows and their counts, home timelines, fan-out jobs, likes.
//! Every statement runs unchanged on SQLite and PostgreSQL (times are ms).

use std::collections::HashSet;

use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::policy::Cursor;
use crate::store::{id_list, ids_json, Backend, Db};

/// Who wrote or follows, as every reader sees them.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct UserRef {
    pub id: Option<i64>,
    pub nickname: String,
    pub avatar: Option<String>,
}

/// A post as stored.
#[derive(Debug, Clone)]
pub struct PostRow {
    pub id: i64,
    pub author_id: i64,
    pub author: UserRef,
    pub text: String,
    pub media: Vec<String>,
    pub category: String,
    pub tags: Vec<String>,
    pub status: String,
    pub created_at: i64,
    pub published_at: Option<i64>,
    pub edited_at: Option<i64>,
    pub likes: i64,
    pub comments: i64,
    pub shares: i64,
}

const POST_FIELDS: &str = "p.id, p.author_id, p.text, p.media, p.category, p.tags, \
     p.status, p.created_at, p.published_at, p.edited_at, p.like_count, p.comment_count, \
     p.share_count, \
     CASE WHEN u.deleted_at IS NULL THEN u.id END AS author_ref, u.nickname AS author_nickname, \
     u.avatar AS author_avatar";
const POST_FROM: &str = "FROM feed_posts p JOIN users u ON u.id = p.author_id";

fn list(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_default()
}

/// The author columns (`author_ref`, `author_nickname`, `author_avatar`) as a reader sees them.
fn author_of(r: &AnyRow) -> Result<UserRef, sqlx::Error> {
    let author_ref: Option<i64> = r.try_get("author_ref")?;
    Ok(match author_ref {
        Some(id) => UserRef {
            id: Some(id),
            nickname: r.try_get("author_nickname")?,
            avatar: r.try_get("author_avatar")?,
        },
        None => UserRef {
            id: None,
            nickname: "已注销用户".into(),
            avatar: None,
        },
    })
}

fn post_from_row(r: &AnyRow) -> Result<PostRow, sqlx::Error> {
    Ok(PostRow {
        id: r.try_get("id")?,
        author_id: r.try_get("author_id")?,
        author: author_of(r)?,
        text: r.try_get("text")?,
        media: list(&r.try_get::<String, _>("media")?),
        category: r.try_get("category")?,
        tags: list(&r.try_get::<String, _>("tags")?),
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        published_at: r.try_get("published_at")?,
        edited_at: r.try_get("edited_at")?,
        likes: r.try_get("like_count")?,
        comments: r.try_get("comment_count")?,
        shares: r.try_get("share_count")?,
    })
}

// ---------------------------------------------------------------- posts

pub struct NewPost<'a> {
    pub author_id: i64,
    pub text: &'a str,
    pub media: &'a [String],
    pub category: &'a str,
    pub tags: &'a [String],
    pub published: bool,
}

pub async fn insert_post(
    conn: &mut AnyConnection,
    p: &NewPost<'_>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO feed_posts (author_id, text, media, category, tags, status, created_at, \
         published_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(p.author_id)
    .bind(p.text)
    .bind(json!(p.media).to_string())
    .bind(p.category)
    .bind(json!(p.tags).to_string())
    .bind(if p.published {
        "published"
    } else {
        "screening"
    })
    .bind(now)
    .bind(p.published.then_some(now))
    .fetch_one(&mut *conn)
    .await
}

pub async fn post(db: &Db, post_id: i64) -> Result<Option<PostRow>, sqlx::Error> {
    sqlx::query(&format!("SELECT {POST_FIELDS} {POST_FROM} WHERE p.id = $1"))
        .bind(post_id)
        .fetch_optional(db)
        .await?
        .map(|r| post_from_row(&r))
        .transpose()
}

/// An author's posts before `cursor`, newest first: published ones, or (for the author)
/// every one not deleted.
pub async fn posts_of_author(
    db: &Db,
    author_id: i64,
    cursor: Cursor,
    limit: i64,
    own: bool,
) -> Result<Vec<PostRow>, sqlx::Error> {
    let statuses = if own {
        "('published', 'screening', 'rejected')"
    } else {
        "('published')"
    };
    let rows = sqlx::query(&format!(
        "SELECT {POST_FIELDS} {POST_FROM} WHERE p.author_id = $1 AND p.status IN {statuses} \
         AND (COALESCE(p.published_at, p.created_at) < $2 \
              OR (COALESCE(p.published_at, p.created_at) = $2 AND p.id < $3)) \
         ORDER BY COALESCE(p.published_at, p.created_at) DESC, p.id DESC LIMIT $4"
    ))
    .bind(author_id)
    .bind(cursor.published_at)
    .bind(cursor.id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter().map(post_from_row).collect()
}

/// Screening → published; false when it was not being screened.
pub async fn publish(
    conn: &mut AnyConnection,
    post_id: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE feed_posts SET status = 'published', published_at = $2 \
         WHERE id = $1 AND status = 'screening'",
    )
    .bind(post_id)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Moves the post to `to` from any status but deleted; false when it was deleted already.
pub async fn set_status(
    conn: &mut AnyConnection,
    post_id: i64,
    to: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE feed_posts SET status = $2, \
         deleted_at = CASE WHEN $2 = 'deleted' THEN $3 ELSE deleted_at END \
         WHERE id = $1 AND status <> 'deleted'",
    )
    .bind(post_id)
    .bind(to)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn edit(
    db: &Db,
    post_id: i64,
    text: &str,
    category: &str,
    tags: &[String],
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE feed_posts SET text = $2, category = $3, tags = $4, edited_at = $5 \
         WHERE id = $1 AND status <> 'deleted'",
    )
    .bind(post_id)
    .bind(text)
    .bind(category)
    .bind(json!(tags).to_string())
    .bind(now)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The post leaves every home timeline and its fan-out stops.
pub async fn remove_everywhere(conn: &mut AnyConnection, post_id: i64) -> Result<(), sqlx::Error> {
    for sql in [
        "DELETE FROM feed_home WHERE post_id = $1",
        "DELETE FROM feed_fanout WHERE post_id = $1",
    ] {
        sqlx::query(sql).bind(post_id).execute(&mut *conn).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- follows

/// Follows; false when already following. Counts move in the same transaction.
pub async fn follow(
    conn: &mut AnyConnection,
    follower: i64,
    followee: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "INSERT INTO feed_follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(follower)
    .bind(followee)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 1 {
        count_change(conn, follower, followee, 1).await?;
    }
    Ok(n == 1)
}

pub async fn unfollow(
    conn: &mut AnyConnection,
    follower: i64,
    followee: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("DELETE FROM feed_follows WHERE follower_id = $1 AND followee_id = $2")
        .bind(follower)
        .bind(followee)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if n == 1 {
        count_change(conn, follower, followee, -1).await?;
    }
    Ok(n == 1)
}

async fn count_change(
    conn: &mut AnyConnection,
    follower: i64,
    followee: i64,
    by: i64,
) -> Result<(), sqlx::Error> {
    for (user, column) in [(followee, "followers"), (follower, "following")] {
        sqlx::query(&format!(
            "INSERT INTO feed_profiles (user_id, {column}) VALUES ($1, CASE WHEN $2 > 0 THEN $2 ELSE 0 END) \
             ON CONFLICT (user_id) DO UPDATE SET {column} = feed_profiles.{column} + $2"
        ))
        .bind(user)
        .bind(by)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// (followers, following, follows hidden).
/// The user's follower count, read on the connection of the transaction it decides for
/// (never a second pool connection while this one holds SQLite's write lock: with every other
/// connection waiting for that lock, the pool would have none to give).
pub async fn followers_in(conn: &mut AnyConnection, user_id: i64) -> Result<i64, sqlx::Error> {
    Ok(
        sqlx::query_scalar("SELECT followers FROM feed_profiles WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or(0),
    )
}

/// How a user is shown (a deleted account as 已注销用户).
pub async fn user_ref(db: &Db, user_id: i64) -> Result<UserRef, sqlx::Error> {
    let row = sqlx::query(
        "SELECT CASE WHEN deleted_at IS NULL THEN id END AS author_ref, \
         nickname AS author_nickname, avatar AS author_avatar FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_one(db)
    .await?;
    author_of(&row)
}

pub async fn profile(db: &Db, user_id: i64) -> Result<(i64, i64, bool), sqlx::Error> {
    let row = sqlx::query(
        "SELECT followers, following, follows_hidden FROM feed_profiles WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        Some(r) => (
            r.try_get("followers")?,
            r.try_get("following")?,
            r.try_get::<i64, _>("follows_hidden")? != 0,
        ),
        None => (0, 0, false),
    })
}

pub async fn set_follows_hidden(db: &Db, user_id: i64, hidden: bool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO feed_profiles (user_id, follows_hidden) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET follows_hidden = $2",
    )
    .bind(user_id)
    .bind(i64::from(hidden))
    .execute(db)
    .await?;
    Ok(())
}

pub async fn is_following(db: &Db, follower: i64, followee: i64) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM feed_follows WHERE follower_id = $1 AND followee_id = $2",
    )
    .bind(follower)
    .bind(followee)
    .fetch_one(db)
    .await?;
    Ok(n > 0)
}

/// One side of a user's follows, by the other side's id after `after`: followers of
/// `user_id` (`of_followee`) or those `user_id` follows.
pub async fn follow_list(
    db: &Db,
    user_id: i64,
    of_followee: bool,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, UserRef)>, sqlx::Error> {
    let (me, them) = if of_followee {
        ("followee_id", "follower_id")
    } else {
        ("follower_id", "followee_id")
    };
    let rows = sqlx::query(&format!(
        "SELECT f.{them} AS other, u.nickname, u.avatar FROM feed_follows f \
         JOIN users u ON u.id = f.{them} \
         WHERE f.{me} = $1 AND f.{them} > $2 AND u.deleted_at IS NULL \
         ORDER BY f.{them} LIMIT $3"
    ))
    .bind(user_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get("other")?;
            Ok((
                id,
                UserRef {
                    id: Some(id),
                    nickname: r.try_get("nickname")?,
                    avatar: r.try_get("avatar")?,
                },
            ))
        })
        .collect()
}

// ---------------------------------------------------------------- timelines

/// A page of the user's home timeline before `cursor`: (published_at, post id).
pub async fn home_page(
    db: &Db,
    user_id: i64,
    cursor: Cursor,
    limit: i64,
) -> Result<Vec<Cursor>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT post_id, published_at FROM feed_home WHERE user_id = $1 \
         AND (published_at < $2 OR (published_at = $2 AND post_id < $3)) \
         ORDER BY published_at DESC, post_id DESC LIMIT $4",
    )
    .bind(user_id)
    .bind(cursor.published_at)
    .bind(cursor.id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    cursors(&rows, "post_id")
}

/// Whether `user_id`'s `feed_home` rows hold every post of those they follow (big authors
/// aside): set by a rebuild, cleared by a trim that dropped rows.
pub async fn home_complete(db: &Db, user_id: i64) -> Result<bool, sqlx::Error> {
    let flag: Option<i64> =
        sqlx::query_scalar("SELECT timeline_complete FROM feed_readers WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(db)
            .await?;
    Ok(flag == Some(1))
}

/// An unfollow: the author's posts leave the reader's timeline.
pub async fn forget_author_in_home(
    conn: &mut AnyConnection,
    user_id: i64,
    author_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM feed_home WHERE user_id = $1 AND author_id = $2")
        .bind(user_id)
        .bind(author_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Up to `limit` authors `reader` follows who have more than `threshold` followers (those
/// merged at read time), by id.
pub async fn big_authors_followed(
    db: &Db,
    reader: i64,
    threshold: i64,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT f.followee_id FROM feed_follows f \
         JOIN feed_profiles pr ON pr.user_id = f.followee_id \
         WHERE f.follower_id = $1 AND pr.followers > $2 ORDER BY f.followee_id LIMIT $3",
    )
    .bind(reader)
    .bind(threshold)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Published posts before `cursor` of everyone `reader` follows, and the reader's own, newest
/// first: what a page past the end of an incomplete timeline reads (one indexed query, the
/// follow list joined in the database).
pub async fn pull(
    db: &Db,
    reader: i64,
    cursor: Cursor,
    limit: i64,
) -> Result<Vec<Cursor>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, published_at FROM feed_posts WHERE status = 'published' \
         AND author_id IN (SELECT f.followee_id FROM feed_follows f WHERE f.follower_id = $1 \
                           UNION SELECT $1) \
         AND (published_at < $2 OR (published_at = $2 AND id < $3)) \
         ORDER BY published_at DESC, id DESC LIMIT $4",
    )
    .bind(reader)
    .bind(cursor.published_at)
    .bind(cursor.id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    cursors(&rows, "id")
}

/// The posts before `cursor` that no fan-out wrote into `reader`'s timeline, newest first:
/// those of the followed authors with more than `threshold` followers (never fanned out),
/// and those whose fan-out job has not reached the reader yet (jobs go by follower id), so a
/// post is in its followers' feeds from its commit, not from its fan-out step. One statement.
pub async fn merged_at_read(
    db: &Db,
    reader: i64,
    threshold: i64,
    cursor: Cursor,
    limit: i64,
) -> Result<Vec<Cursor>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, published_at FROM ( \
           SELECT id, published_at FROM feed_posts WHERE status = 'published' \
           AND author_id IN (SELECT f.followee_id FROM feed_follows f \
                             JOIN feed_profiles pr ON pr.user_id = f.followee_id \
                             WHERE f.follower_id = $1 AND pr.followers > $5) \
           AND (published_at < $2 OR (published_at = $2 AND id < $3)) \
           ORDER BY published_at DESC, id DESC LIMIT $4) AS big \
         UNION \
         SELECT j.post_id, j.published_at FROM feed_fanout j WHERE j.done_up_to < $1 \
         AND j.author_id IN (SELECT f.followee_id FROM feed_follows f WHERE f.follower_id = $1) \
         AND (j.published_at < $2 OR (j.published_at = $2 AND j.post_id < $3)) \
         ORDER BY published_at DESC, id DESC LIMIT $4",
    )
    .bind(reader)
    .bind(cursor.published_at)
    .bind(cursor.id)
    .bind(limit)
    .bind(threshold)
    .fetch_all(db)
    .await?;
    cursors(&rows, "id")
}

fn cursors(rows: &[sqlx::any::AnyRow], id: &str) -> Result<Vec<Cursor>, sqlx::Error> {
    rows.iter()
        .map(|r| {
            Ok(Cursor {
                published_at: r.try_get("published_at")?,
                id: r.try_get(id)?,
            })
        })
        .collect()
}

/// The newest `limit` published posts of `author` (the entries an unfollow takes out of a
/// Redis timeline: a timeline holds none of the author's older ones).
pub async fn newest_of_author(
    db: &Db,
    author: i64,
    limit: i64,
) -> Result<Vec<Cursor>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, published_at FROM feed_posts WHERE author_id = $1 AND status = 'published' \
         ORDER BY published_at DESC, id DESC LIMIT $2",
    )
    .bind(author)
    .bind(limit)
    .fetch_all(db)
    .await?;
    cursors(&rows, "id")
}

/// The published posts among `ids`, each with whether `reader` likes it: one query for a
/// page.
pub async fn page_for(
    db: &Db,
    backend: Backend,
    reader: i64,
    ids: &[i64],
    followed_only: bool,
) -> Result<Vec<(PostRow, bool)>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The home feed is the posts of those one follows (and one's own), whatever a timeline
    // still holds: an unfollow whose timeline write failed leaves entries no page shows.
    let followed_only = if followed_only {
        " AND (p.author_id = $2 OR p.author_id IN \
             (SELECT followee_id FROM feed_follows WHERE follower_id = $2))"
    } else {
        ""
    };
    let rows = sqlx::query(&format!(
        "SELECT {POST_FIELDS}, l.user_id AS liked_by {POST_FROM} LEFT JOIN feed_likes l ON l.post_id = p.id AND l.user_id = $2 \
         WHERE p.status = 'published' AND p.id IN ({}){followed_only}",
        id_list(backend, "$1")
    ))
    .bind(ids_json(ids))
    .bind(reader)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                post_from_row(r)?,
                r.try_get::<Option<i64>, _>("liked_by")?.is_some(),
            ))
        })
        .collect()
}

/// Keeps the newest `keep` entries of the user's timeline.
pub async fn trim_home(
    db: &Db,
    backend: Backend,
    user_id: i64,
    keep: i64,
) -> Result<u64, sqlx::Error> {
    let edge = sqlx::query(
        "SELECT published_at, post_id FROM feed_home WHERE user_id = $1 \
         ORDER BY published_at DESC, post_id DESC LIMIT 1 OFFSET $2",
    )
    .bind(user_id)
    .bind(keep)
    .fetch_optional(db)
    .await?;
    let Some(edge) = edge else { return Ok(0) };
    let (at, id): (i64, i64) = (edge.try_get("published_at")?, edge.try_get("post_id")?);
    let mut tx = crate::store::begin_write(db, backend).await?;
    // The reader's row first (PostgreSQL locks it against a rebuild setting the mark); the
    // timeline no longer reaches the reader's oldest posts.
    sqlx::query("UPDATE feed_readers SET timeline_complete = 0 WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let dropped = sqlx::query(
        "DELETE FROM feed_home WHERE user_id = $1 \
         AND (published_at < $2 OR (published_at = $2 AND post_id <= $3))",
    )
    .bind(user_id)
    .bind(at)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(dropped)
}

/// The author's own post in their own timeline.
pub async fn add_to_home(
    conn: &mut AnyConnection,
    user_id: i64,
    post_id: i64,
    author_id: i64,
    published_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO feed_home (user_id, post_id, author_id, published_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(post_id)
    .bind(author_id)
    .bind(published_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- fan-out jobs

#[derive(Debug, Clone, Copy)]
pub struct Job {
    pub post_id: i64,
    pub author_id: i64,
    pub published_at: i64,
    pub done_up_to: i64,
}

pub async fn enqueue_fanout(
    conn: &mut AnyConnection,
    post_id: i64,
    author_id: i64,
    published_at: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO feed_fanout (post_id, author_id, published_at, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(post_id)
    .bind(author_id)
    .bind(published_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Claims the oldest job no node holds (or whose holder's lease ran out): one node wins.
/// An idle node only reads (no write lock is taken while there is nothing to claim).
pub async fn claim_fanout(db: &Db, now: i64, lease_ms: i64) -> Result<Option<Job>, sqlx::Error> {
    let claimable: Option<i64> = sqlx::query_scalar(
        "SELECT post_id FROM feed_fanout WHERE lease_until IS NULL OR lease_until < $1 LIMIT 1",
    )
    .bind(now)
    .fetch_optional(db)
    .await?;
    if claimable.is_none() {
        return Ok(None);
    }
    let row = sqlx::query(
        "UPDATE feed_fanout SET lease_until = $1 + $2 \
         WHERE post_id = (SELECT post_id FROM feed_fanout \
                          WHERE lease_until IS NULL OR lease_until < $1 \
                          ORDER BY created_at, post_id LIMIT 1) \
         AND (lease_until IS NULL OR lease_until < $1) \
         RETURNING post_id, author_id, published_at, done_up_to",
    )
    .bind(now)
    .bind(lease_ms)
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(Job {
            post_id: r.try_get("post_id")?,
            author_id: r.try_get("author_id")?,
            published_at: r.try_get("published_at")?,
            done_up_to: r.try_get("done_up_to")?,
        })
    })
    .transpose()
}

/// The next followers of the job's author after its cursor, by id.
pub async fn next_followers(db: &Db, job: &Job, batch: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT follower_id FROM feed_follows WHERE followee_id = $1 AND follower_id > $2 \
         ORDER BY follower_id LIMIT $3",
    )
    .bind(job.author_id)
    .bind(job.done_up_to)
    .bind(batch)
    .fetch_all(db)
    .await
}

/// Moves the job's cursor to `last` and renews its lease; false when another node moved it
/// meanwhile (its lease ran out and it was taken over: this step is void).
pub async fn move_cursor(
    conn: &mut AnyConnection,
    job: &Job,
    last: i64,
    now: i64,
    lease_ms: i64,
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(
        "UPDATE feed_fanout SET done_up_to = $3, lease_until = $4 \
         WHERE post_id = $1 AND done_up_to = $2",
    )
    .bind(job.post_id)
    .bind(job.done_up_to)
    .bind(last)
    .bind(now + lease_ms)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

/// The job's author's followers in (done_up_to, last] who read their feed since
/// `active_since`, by id.
pub async fn active_followers(
    conn: &mut AnyConnection,
    job: &Job,
    last: i64,
    active_since: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT f.follower_id FROM feed_follows f \
         JOIN feed_readers r ON r.user_id = f.follower_id AND r.active_at >= $4 \
         WHERE f.followee_id = $1 AND f.follower_id > $2 AND f.follower_id <= $3 \
         ORDER BY f.follower_id",
    )
    .bind(job.author_id)
    .bind(job.done_up_to)
    .bind(last)
    .bind(active_since)
    .fetch_all(&mut *conn)
    .await
}

/// Writes the job's post into the `feed_home` rows of the author's followers in
/// (done_up_to, last] who read their feed since `active_since` (the others' timelines are
/// rebuilt when they come back).
pub async fn fan_out_rows(
    conn: &mut AnyConnection,
    job: &Job,
    last: i64,
    active_since: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO feed_home (user_id, post_id, author_id, published_at) \
         SELECT f.follower_id, $3, $1, $4 FROM feed_follows f \
         JOIN feed_readers r ON r.user_id = f.follower_id AND r.active_at >= $6 \
         WHERE f.followee_id = $1 AND f.follower_id > $2 AND f.follower_id <= $5 \
         ON CONFLICT DO NOTHING",
    )
    .bind(job.author_id)
    .bind(job.done_up_to)
    .bind(job.post_id)
    .bind(job.published_at)
    .bind(last)
    .bind(active_since)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn finish_fanout(db: &Db, post_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM feed_fanout WHERE post_id = $1")
        .bind(post_id)
        .execute(db)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- likes

/// Likes (once per user) or takes the like back; answers whether it changed and the count.
pub async fn set_like(
    conn: &mut AnyConnection,
    post_id: i64,
    user_id: i64,
    like: bool,
    now: i64,
) -> Result<(bool, i64), sqlx::Error> {
    let changed = if like {
        sqlx::query(
            "INSERT INTO feed_likes (post_id, user_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(post_id)
        .bind(user_id)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    } else {
        sqlx::query("DELETE FROM feed_likes WHERE post_id = $1 AND user_id = $2")
            .bind(post_id)
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1
    };
    if changed {
        sqlx::query("UPDATE feed_posts SET like_count = like_count + $2 WHERE id = $1")
            .bind(post_id)
            .bind(if like { 1 } else { -1 })
            .execute(&mut *conn)
            .await?;
    }
    let likes: i64 = sqlx::query_scalar("SELECT like_count FROM feed_posts WHERE id = $1")
        .bind(post_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok((changed, likes))
}

pub async fn liked_among(
    db: &Db,
    backend: Backend,
    user_id: i64,
    posts: &[i64],
) -> Result<HashSet<i64>, sqlx::Error> {
    among(
        db,
        backend,
        "SELECT post_id FROM feed_likes WHERE user_id = $1 AND post_id IN",
        user_id,
        posts,
    )
    .await
}

/// The ids among `ids` that `select` (ending in `… AND <id column> IN`) answers for `user_id`
/// as `$1`: one statement, whatever the number of ids.
async fn among(
    db: &Db,
    backend: Backend,
    select: &str,
    user_id: i64,
    ids: &[i64],
) -> Result<HashSet<i64>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let found: Vec<i64> = sqlx::query_scalar(&format!("{select} ({})", id_list(backend, "$2")))
        .bind(user_id)
        .bind(ids_json(ids))
        .fetch_all(db)
        .await?;
    Ok(found.into_iter().collect())
}

// ---------------------------------------------------------------- search

/// (Re)indexes a post under `terms` (policy::index_terms).
pub async fn index_post(
    conn: &mut AnyConnection,
    backend: Backend,
    post_id: i64,
    terms: &[String],
) -> Result<(), sqlx::Error> {
    unindex_post(conn, post_id).await?;
    if terms.is_empty() {
        return Ok(());
    }
    let list = match backend {
        Backend::Sqlite => "SELECT value AS term FROM json_each($2)",
        Backend::Postgres => "SELECT jsonb_array_elements_text($2::jsonb) AS term",
    };
    sqlx::query(&format!(
        "INSERT INTO feed_search_terms (post_id, term) SELECT $1, t.term FROM ({list}) AS t \
         WHERE true ON CONFLICT DO NOTHING"
    ))
    .bind(post_id)
    .bind(json!(terms).to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn unindex_post(conn: &mut AnyConnection, post_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM feed_search_terms WHERE post_id = $1")
        .bind(post_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Published posts holding every one of `terms`, ranked: the typed phrase itself first, then
/// the most liked, then the newest; a page at `offset`.
pub async fn search(
    db: &Db,
    backend: Backend,
    terms: &[String],
    phrase: &str,
    offset: i64,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    let list = match backend {
        Backend::Sqlite => "SELECT value FROM json_each($1)",
        Backend::Postgres => "SELECT jsonb_array_elements_text($1::jsonb)",
    };
    sqlx::query_scalar(&format!(
        "SELECT p.id FROM feed_posts p JOIN (SELECT post_id FROM feed_search_terms \
         WHERE term IN ({list}) GROUP BY post_id HAVING COUNT(*) = $2) m ON m.post_id = p.id \
         WHERE p.status = 'published' \
         ORDER BY CASE WHEN lower(p.text) LIKE '%' || $3 || '%' \
                       OR lower(p.tags) LIKE '%' || $3 || '%' THEN 0 ELSE 1 END, \
                  p.like_count DESC, p.published_at DESC, p.id DESC \
         LIMIT $4 OFFSET $5"
    ))
    .bind(json!(terms).to_string())
    .bind(terms.len() as i64)
    .bind(phrase)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

// ---------------------------------------------------------------- comments

#[derive(Debug, Clone)]
pub struct CommentRow {
    pub id: i64,
    pub post_id: i64,
    pub author_id: i64,
    pub author: UserRef,
    pub reply_to: Option<i64>,
    pub text: String,
    pub status: String,
    pub created_at: i64,
}

const COMMENT_SELECT: &str = "SELECT c.id, c.post_id, c.author_id, c.reply_to, c.text, c.status, \
     c.created_at, CASE WHEN u.deleted_at IS NULL THEN u.id END AS author_ref, \
     u.nickname AS author_nickname, u.avatar AS author_avatar \
     FROM feed_comments c JOIN users u ON u.id = c.author_id";

fn comment_from_row(r: &AnyRow) -> Result<CommentRow, sqlx::Error> {
    Ok(CommentRow {
        id: r.try_get("id")?,
        post_id: r.try_get("post_id")?,
        author_id: r.try_get("author_id")?,
        author: author_of(r)?,
        reply_to: r.try_get("reply_to")?,
        text: r.try_get("text")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
    })
}

/// A new comment; a published one counts on its post at once.
pub async fn insert_comment(
    conn: &mut AnyConnection,
    post_id: i64,
    author_id: i64,
    reply_to: Option<i64>,
    text: &str,
    published: bool,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO feed_comments (post_id, author_id, reply_to, text, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(post_id)
    .bind(author_id)
    .bind(reply_to)
    .bind(text)
    .bind(if published { "published" } else { "screening" })
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    if published {
        count_comment(conn, post_id, 1).await?;
    }
    Ok(id)
}

async fn count_comment(conn: &mut AnyConnection, post_id: i64, by: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE feed_posts SET comment_count = comment_count + $2 WHERE id = $1")
        .bind(post_id)
        .bind(by)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn comment(db: &Db, comment_id: i64) -> Result<Option<CommentRow>, sqlx::Error> {
    sqlx::query(&format!("{COMMENT_SELECT} WHERE c.id = $1"))
        .bind(comment_id)
        .fetch_optional(db)
        .await?
        .map(|r| comment_from_row(&r))
        .transpose()
}

/// A post's comments after `after`, oldest first: the published ones and `viewer`'s own held
/// ones.
pub async fn comments_of(
    db: &Db,
    post_id: i64,
    viewer: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<CommentRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "{COMMENT_SELECT} WHERE c.post_id = $1 AND c.id > $3 \
         AND (c.status = 'published' OR (c.status = 'screening' AND c.author_id = $2)) \
         ORDER BY c.id LIMIT $4"
    ))
    .bind(post_id)
    .bind(viewer)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter().map(comment_from_row).collect()
}

/// Moves a comment to `to` (published, rejected, deleted) from any status but deleted, and
/// keeps its post's count; false when it was deleted already or already `to`.
pub async fn set_comment_status(
    conn: &mut AnyConnection,
    comment: &CommentRow,
    to: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE feed_comments SET status = $2, \
         deleted_at = CASE WHEN $2 = 'deleted' THEN $3 ELSE deleted_at END \
         WHERE id = $1 AND status <> 'deleted' AND status <> $2",
    )
    .bind(comment.id)
    .bind(to)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 1 {
        let was = comment.status == "published";
        let is = to == "published";
        if was != is {
            count_comment(conn, comment.post_id, if is { 1 } else { -1 }).await?;
        }
    }
    Ok(n == 1)
}

// ---------------------------------------------------------------- shares

/// Counts `user_id`'s share of the post once (a user sharing again changes nothing); the
/// post's share count after it.
pub async fn record_share(
    conn: &mut AnyConnection,
    post_id: i64,
    user_id: i64,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let added = sqlx::query(
        "INSERT INTO feed_shares (post_id, user_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(post_id)
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if added == 1 {
        sqlx::query("UPDATE feed_posts SET share_count = share_count + 1 WHERE id = $1")
            .bind(post_id)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query_scalar("SELECT share_count FROM feed_posts WHERE id = $1")
        .bind(post_id)
        .fetch_one(&mut *conn)
        .await
}

/// The likes, comments and shares of the published posts among `ids`: (id, likes, comments,
/// shares).
pub async fn counts_of(
    db: &Db,
    backend: Backend,
    ids: &[i64],
) -> Result<Vec<(i64, i64, i64, i64)>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query(&format!(
        "SELECT id, like_count, comment_count, share_count FROM feed_posts \
         WHERE status = 'published' AND id IN ({})",
        id_list(backend, "$1")
    ))
    .bind(ids_json(ids))
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get("id")?,
            r.try_get("like_count")?,
            r.try_get("comment_count")?,
            r.try_get("share_count")?,
        ))
    })
    .collect()
}

// ---------------------------------------------------------------- discover

/// A recent published post with what the discover feed ranks it by.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: i64,
    pub author_id: i64,
    pub category: String,
    pub tags: Vec<String>,
    pub published_at: i64,
    pub likes: i64,
    pub comments: i64,
    pub shares: i64,
}

/// The newest `pool` published posts since `since`, in one category or in all: one indexed
/// range read.
pub async fn recent_published(
    db: &Db,
    category: Option<&str>,
    since: i64,
    pool: i64,
) -> Result<Vec<Candidate>, sqlx::Error> {
    const COLUMNS: &str = "SELECT id, author_id, category, tags, published_at, like_count, \
         comment_count, share_count FROM feed_posts WHERE status = 'published' \
         AND published_at >= $1";
    let sql = match category {
        Some(_) => {
            format!("{COLUMNS} AND category = $3 ORDER BY published_at DESC, id DESC LIMIT $2")
        }
        None => format!("{COLUMNS} ORDER BY published_at DESC, id DESC LIMIT $2"),
    };
    let mut query = sqlx::query(&sql).bind(since).bind(pool);
    if let Some(c) = category {
        query = query.bind(c.to_string());
    }
    query
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            Ok(Candidate {
                id: r.try_get("id")?,
                author_id: r.try_get("author_id")?,
                category: r.try_get("category")?,
                tags: list(&r.try_get::<String, _>("tags")?),
                published_at: r.try_get("published_at")?,
                likes: r.try_get("like_count")?,
                comments: r.try_get("comment_count")?,
                shares: r.try_get("share_count")?,
            })
        })
        .collect()
}

/// The categories and tags of the posts `user_id` liked or commented on since `since`, newest
/// `limit` of each: what a personalised discover feed leans towards.
pub async fn interests(
    db: &Db,
    user_id: i64,
    since: i64,
    limit: i64,
) -> Result<Vec<(String, Vec<String>)>, sqlx::Error> {
    let mut out = Vec::new();
    for sql in [
        "SELECT p.category, p.tags FROM feed_likes l JOIN feed_posts p ON p.id = l.post_id \
         WHERE l.user_id = $1 AND l.created_at >= $2 ORDER BY l.created_at DESC LIMIT $3",
        "SELECT p.category, p.tags FROM feed_comments c JOIN feed_posts p ON p.id = c.post_id \
         WHERE c.author_id = $1 AND c.created_at >= $2 AND c.status = 'published' \
         ORDER BY c.created_at DESC LIMIT $3",
    ] {
        for r in sqlx::query(sql)
            .bind(user_id)
            .bind(since)
            .bind(limit)
            .fetch_all(db)
            .await?
        {
            out.push((
                r.try_get::<String, _>("category")?,
                list(&r.try_get::<String, _>("tags")?),
            ));
        }
    }
    Ok(out)
}

/// Whom `user_id` follows among `authors`.
pub async fn followed_among(
    db: &Db,
    backend: Backend,
    user_id: i64,
    authors: &[i64],
) -> Result<HashSet<i64>, sqlx::Error> {
    among(
        db,
        backend,
        "SELECT followee_id FROM feed_follows WHERE follower_id = $1 AND followee_id IN",
        user_id,
        authors,
    )
    .await
}

// ---------------------------------------------------------------- readers

/// What the home feed knows of a reader (`reader_state`).
#[derive(Clone, Copy, Debug)]
pub struct ReaderState {
    /// When they last read their home feed.
    pub active_at: i64,
    /// Follows their timeline may not show yet (`timeline_due`): above 0, it is rebuilt.
    pub timeline_due: i64,
}

/// `None`: the reader never read their home feed nor followed anyone.
pub async fn reader_state(db: &Db, user_id: i64) -> Result<Option<ReaderState>, sqlx::Error> {
    let row = sqlx::query("SELECT active_at, timeline_due FROM feed_readers WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await?;
    row.map(|r| {
        Ok(ReaderState {
            active_at: r.try_get("active_at")?,
            timeline_due: r.try_get("timeline_due")?,
        })
    })
    .transpose()
}

/// Inside the follow's transaction: following is reading (the reader is active, so fan-out
/// writes the new author's posts to them), and one more follow their timeline does not show
/// until a rebuild says so. Returns the count of those, for `timeline_caught_up`.
pub async fn note_follow(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO feed_readers (user_id, active_at, timeline_due) VALUES ($1, $2, 1) \
         ON CONFLICT (user_id) DO UPDATE SET active_at = $2, \
           timeline_due = feed_readers.timeline_due + 1 \
         RETURNING timeline_due",
    )
    .bind(user_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
}

/// After a rebuild that began once `due` follows were counted: those are in the timeline. A
/// follow counted since (its own rebuild still to come, or failed) keeps the count up.
pub async fn timeline_caught_up(db: &Db, user_id: i64, due: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE feed_readers SET timeline_due = 0 WHERE user_id = $1 AND timeline_due = $2",
    )
    .bind(user_id)
    .bind(due)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn mark_reader_active(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO feed_readers (user_id, active_at) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET active_at = $2",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes the newest `keep` published posts of those the reader follows (and their own) into
/// their timeline: the feed of a reader fan-out skipped while they were away.
pub async fn rebuild_home(
    conn: &mut AnyConnection,
    user_id: i64,
    keep: i64,
) -> Result<u64, sqlx::Error> {
    let added = sqlx::query(
        "INSERT INTO feed_home (user_id, post_id, author_id, published_at) \
         SELECT $1, id, author_id, published_at FROM feed_posts WHERE status = 'published' \
         AND author_id IN (SELECT followee_id FROM feed_follows WHERE follower_id = $1 \
                           UNION SELECT $1) \
         ORDER BY published_at DESC, id DESC LIMIT $2 \
         ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(keep)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    // Fewer rows than the bound: the rebuild found every post there is, so a short page ends
    // there. At the bound (or over it, with rows a rebuild did not write) it may not have.
    sqlx::query(
        "UPDATE feed_readers SET timeline_complete = \
           CASE WHEN (SELECT COUNT(*) FROM feed_home WHERE user_id = $1) < $2 THEN 1 ELSE 0 END \
         WHERE user_id = $1",
    )
    .bind(user_id)
    .bind(keep)
    .execute(&mut *conn)
    .await?;
    Ok(added)
}

// ---------------------------------------------------------------- the user's rights

pub async fn export_user(db: &Db, user_id: i64) -> Result<Value, sqlx::Error> {
    let posts: Vec<Value> = sqlx::query(
        "SELECT id, text, media, category, tags, status, created_at, published_at, edited_at, \
         like_count FROM feed_posts WHERE author_id = $1 AND status <> 'deleted' ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(json!({
            "id": r.try_get::<i64, _>("id")?,
            "text": r.try_get::<String, _>("text")?,
            "media": list(&r.try_get::<String, _>("media")?),
            "category": r.try_get::<String, _>("category")?,
            "tags": list(&r.try_get::<String, _>("tags")?),
            "status": r.try_get::<String, _>("status")?,
            "created_at": r.try_get::<i64, _>("created_at")?,
            "published_at": r.try_get::<Option<i64>, _>("published_at")?,
            "edited_at": r.try_get::<Option<i64>, _>("edited_at")?,
            "likes": r.try_get::<i64, _>("like_count")?,
        }))
    })
    .collect::<Result<_, sqlx::Error>>()?;
    let following: Vec<i64> = sqlx::query_scalar(
        "SELECT followee_id FROM feed_follows WHERE follower_id = $1 ORDER BY followee_id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?;
    let followers: Vec<i64> = sqlx::query_scalar(
        "SELECT follower_id FROM feed_follows WHERE followee_id = $1 ORDER BY follower_id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?;
    let likes: Vec<i64> =
        sqlx::query_scalar("SELECT post_id FROM feed_likes WHERE user_id = $1 ORDER BY post_id")
            .bind(user_id)
            .fetch_all(db)
            .await?;
    let comments: Vec<Value> = sqlx::query(
        "SELECT id, post_id, reply_to, text, status, created_at FROM feed_comments \
         WHERE author_id = $1 AND status <> 'deleted' ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(json!({
            "id": r.try_get::<i64, _>("id")?,
            "post_id": r.try_get::<i64, _>("post_id")?,
            "reply_to": r.try_get::<Option<i64>, _>("reply_to")?,
            "text": r.try_get::<String, _>("text")?,
            "status": r.try_get::<String, _>("status")?,
            "created_at": r.try_get::<i64, _>("created_at")?,
        }))
    })
    .collect::<Result<_, sqlx::Error>>()?;
    let shared: Vec<i64> =
        sqlx::query_scalar("SELECT post_id FROM feed_shares WHERE user_id = $1 ORDER BY post_id")
            .bind(user_id)
            .fetch_all(db)
            .await?;
    let (_, _, hidden) = profile(db, user_id).await?;
    Ok(json!({
        "shared_posts": shared,
        "posts": posts,
        "comments": comments,
        "following": following,
        "followers": followers,
        "liked_posts": likes,
        "follows_hidden": hidden,
    }))
}

/// Inside the deletion transaction: the user's posts leave every feed (rows kept as deleted
/// shells, their text and media gone, so that likes and reports keep their keys), follows
/// both ways, likes (counts move) and the profile go.
pub async fn erase_user(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    for sql in [
        "DELETE FROM feed_home WHERE user_id = $1 OR author_id = $1",
        "DELETE FROM feed_search_terms WHERE post_id IN \
         (SELECT id FROM feed_posts WHERE author_id = $1)",
        "DELETE FROM feed_fanout WHERE author_id = $1",
        "UPDATE feed_posts SET like_count = like_count - 1 \
         WHERE id IN (SELECT post_id FROM feed_likes WHERE user_id = $1)",
        "DELETE FROM feed_likes WHERE user_id = $1",
        "UPDATE feed_posts SET share_count = share_count - 1 \
         WHERE id IN (SELECT post_id FROM feed_shares WHERE user_id = $1)",
        "DELETE FROM feed_shares WHERE user_id = $1",
        "DELETE FROM feed_readers WHERE user_id = $1",
        "UPDATE feed_posts SET comment_count = comment_count - 1 WHERE id IN \
         (SELECT post_id FROM feed_comments WHERE author_id = $1 AND status = 'published')",
        "UPDATE feed_profiles SET followers = followers - 1 \
         WHERE user_id IN (SELECT followee_id FROM feed_follows WHERE follower_id = $1)",
        "UPDATE feed_profiles SET following = following - 1 \
         WHERE user_id IN (SELECT follower_id FROM feed_follows WHERE followee_id = $1)",
        "DELETE FROM feed_follows WHERE follower_id = $1 OR followee_id = $1",
        "DELETE FROM feed_profiles WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(user_id).execute(&mut *conn).await?;
    }
    for sql in [
        "UPDATE feed_posts SET text = '', media = '[]', tags = '[]', status = 'deleted', \
         deleted_at = COALESCE(deleted_at, $2) WHERE author_id = $1",
        "UPDATE feed_comments SET text = '', status = 'deleted', \
         deleted_at = COALESCE(deleted_at, $2) WHERE author_id = $1",
    ] {
        sqlx::query(sql)
            .bind(user_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
