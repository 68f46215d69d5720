//! The catalogue's categories (翡翠, 和田玉, 珍珠 …): what a live room appraises and what a post
//! shows, one list for every domain and client (docs/protocol.md, "Live rooms").

use crate::error::{AppError, AppResult};

/// What a piece is: the category a live room appraises and a post shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Jade,
    Nephrite,
    Pearl,
    Diamond,
    Gold,
    Amber,
    Other,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Jade,
        Category::Nephrite,
        Category::Pearl,
        Category::Diamond,
        Category::Gold,
        Category::Amber,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Jade => "jade",
            Category::Nephrite => "nephrite",
            Category::Pearl => "pearl",
            Category::Diamond => "diamond",
            Category::Gold => "gold",
            Category::Amber => "amber",
            Category::Other => "other",
        }
    }

    pub fn parse(s: &str) -> AppResult<Category> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| AppError::field("category", "unknown category"))
    }
}
