//! The discover feed (`feed.discover`): recent posts of everyone, ranked. By default it is
//! the same for every reader (newest, most popular, or both: "hot"); it leans towards the
//! reader's interests only while they grant `personalized_recommendation`. China's rules on
//! algorithmic recommendation ask for that off switch and that it works at once: the grant is
//! read on every request, so a withdrawal changes the next page.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::store::{self, Candidate};
use super::{Feed, PostView};
use crate::catalog::Category;
use crate::commands::Caller;
use crate::consent::policy::Feature;
use crate::error::{AppError, AppResult};
use crate::store::now_ms;

/// Deepest a discover page reaches (ranked results: offsets, not cursors).
const OFFSET_MAX: i64 = 1000;
/// Likes and comments of the reader's read for their interests.
const INTERESTS_MAX: i64 = 200;
/// How far back the reader's interests are read, ms (30 days).
const INTERESTS_WINDOW_MS: i64 = 30 * 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Hot (recent and popular), personalised under the consent.
    #[default]
    Recommended,
    Recent,
    Popular,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverBody {
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub sort: Sort,
    #[serde(default)]
    pub offset: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Discovered {
    pub posts: Vec<PostView>,
    pub next_offset: Option<i64>,
    /// Whether this page was ranked by the reader's interests.
    pub personalized: bool,
}

/// What a reader's likes and comments say they care about.
#[derive(Debug, Default)]
pub struct Interests {
    /// Share of the reader's interactions per category, 0..=1.
    categories: HashMap<String, f64>,
    /// Share per tag, 0..=1.
    tags: HashMap<String, f64>,
    followed: HashSet<i64>,
}

impl Interests {
    pub fn from_interactions(seen: &[(String, Vec<String>)], followed: HashSet<i64>) -> Self {
        let n = seen.len().max(1) as f64;
        let mut categories: HashMap<String, f64> = HashMap::new();
        let mut tags: HashMap<String, f64> = HashMap::new();
        for (category, post_tags) in seen {
            *categories.entry(category.clone()).or_default() += 1.0 / n;
            for tag in post_tags {
                *tags.entry(tag.clone()).or_default() += 1.0 / n;
            }
        }
        Self {
            categories,
            tags,
            followed,
        }
    }

    fn boost(&self, c: &Candidate) -> f64 {
        let category = self.categories.get(&c.category).copied().unwrap_or(0.0);
        let tags: f64 = c.tags.iter().filter_map(|t| self.tags.get(t)).sum();
        let followed = if self.followed.contains(&c.author_id) {
            0.5
        } else {
            0.0
        };
        1.0 + 2.0 * category + tags.min(1.0) + followed
    }
}

fn engagement(c: &Candidate) -> f64 {
    (c.likes + 2 * c.comments + 3 * c.shares).max(0) as f64
}

/// Hacker News' gravity: engagement over age, so a new post with a few likes outranks an old
/// one with many, and nothing stays on top for days.
fn hot(c: &Candidate, now: i64) -> f64 {
    let hours = ((now - c.published_at).max(0) as f64) / 3_600_000.0;
    (1.0 + engagement(c)) / (hours + 2.0).powf(1.5)
}

/// The candidates in the order `sort` (and, when given, the reader's interests) puts them;
/// ties newest first, so the order is total and a page boundary is stable between requests.
pub fn rank(
    mut candidates: Vec<Candidate>,
    sort: Sort,
    interests: Option<&Interests>,
    now: i64,
) -> Vec<i64> {
    let newest_first =
        |a: &Candidate, b: &Candidate| (b.published_at, b.id).cmp(&(a.published_at, a.id));
    match sort {
        Sort::Recent => candidates.sort_by(newest_first),
        Sort::Popular => candidates.sort_by(|a, b| {
            engagement(b)
                .total_cmp(&engagement(a))
                .then_with(|| newest_first(a, b))
        }),
        Sort::Recommended => {
            let score = |c: &Candidate| hot(c, now) * interests.map_or(1.0, |i| i.boost(c));
            candidates.sort_by(|a, b| {
                score(b)
                    .total_cmp(&score(a))
                    .then_with(|| newest_first(a, b))
            });
        }
    }
    candidates.into_iter().map(|c| c.id).collect()
}

impl Feed {
    /// Whether the reader grants the recommendation consent under the version in force.
    async fn personalizes(&self, user_id: i64) -> AppResult<bool> {
        let granted = crate::consent::granted(&self.db, user_id, &self.policy.get()).await?;
        Ok(crate::consent::policy::missing(Feature::PersonalizedFeed, &granted).is_empty())
    }

    pub async fn discover(
        self: Arc<Self>,
        caller: Caller,
        body: DiscoverBody,
    ) -> AppResult<Discovered> {
        let me = caller.user_id;
        let limit = self.limit(body.limit)?;
        let offset = body.offset.unwrap_or(0);
        if !(0..=OFFSET_MAX).contains(&offset) {
            return Err(AppError::field(
                "offset",
                format!("must be between 0 and {OFFSET_MAX}"),
            ));
        }
        let category = body.category.as_deref().map(Category::parse).transpose()?;
        let now = now_ms();
        let candidates = store::recent_published(
            &self.db,
            category.as_ref().map(|c| c.as_str()),
            now - self.settings.discover_window_ms,
            self.settings.discover_pool,
        )
        .await?;
        // Interests are read only under the consent: without it nothing of the reader's own
        // activity shapes the page.
        let personalized = body.sort == Sort::Recommended && self.personalizes(me).await?;
        let interests = if personalized {
            let seen =
                store::interests(&self.db, me, now - INTERESTS_WINDOW_MS, INTERESTS_MAX).await?;
            let authors: Vec<i64> = candidates.iter().map(|c| c.author_id).collect();
            let followed = store::followed_among(&self.db, self.backend, me, &authors).await?;
            Some(Interests::from_interactions(&seen, followed))
        } else {
            None
        };
        let ranked = rank(candidates, body.sort, interests.as_ref(), now);
        let page: Vec<i64> = ranked
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .copied()
            .collect();
        let more = ranked.len() as i64 > offset + limit && offset + limit <= OFFSET_MAX;
        Ok(Discovered {
            posts: self.hydrate(me, &page, false).await?,
            next_offset: more.then_some(offset + limit),
            personalized,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(id: i64, category: &str, age_h: i64, likes: i64, now: i64) -> Candidate {
        Candidate {
            id,
            author_id: id * 10,
            category: category.into(),
            tags: vec![],
            published_at: now - age_h * 3_600_000,
            likes,
            comments: 0,
            shares: 0,
        }
    }

    #[test]
    fn recent_is_newest_first_and_popular_most_engaged_first() {
        let now = 1_000_000_000_000;
        let c = vec![
            post(1, "jade", 5, 9, now),
            post(2, "jade", 1, 0, now),
            post(3, "pearl", 3, 4, now),
        ];
        assert_eq!(rank(c.clone(), Sort::Recent, None, now), vec![2, 3, 1]);
        assert_eq!(rank(c, Sort::Popular, None, now), vec![1, 3, 2]);
    }

    #[test]
    fn hot_lets_a_fresh_post_outrank_an_old_popular_one() {
        let now = 1_000_000_000_000;
        let c = vec![post(1, "jade", 96, 30, now), post(2, "jade", 1, 3, now)];
        assert_eq!(rank(c, Sort::Recommended, None, now), vec![2, 1]);
    }

    #[test]
    fn interests_lift_the_readers_categories_and_none_changes_nothing() {
        let now = 1_000_000_000_000;
        let c = vec![post(1, "jade", 2, 5, now), post(2, "pearl", 2, 4, now)];
        assert_eq!(rank(c.clone(), Sort::Recommended, None, now), vec![1, 2]);
        let pearls = Interests::from_interactions(
            &[("pearl".into(), vec![]), ("pearl".into(), vec![])],
            HashSet::new(),
        );
        assert_eq!(
            rank(c.clone(), Sort::Recommended, Some(&pearls), now),
            vec![2, 1]
        );
        let nothing = Interests::from_interactions(&[], HashSet::new());
        assert_eq!(rank(c, Sort::Recommended, Some(&nothing), now), vec![1, 2]);
    }
}
