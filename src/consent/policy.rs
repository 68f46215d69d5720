//! Pure consent rules: the permissions the privacy policy names, the features that need them,
//! and the gate that says which permissions a feature is missing. No I/O; every later feature
//! asks [`missing`] before it runs.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

/// The permissions of the policy digest's table, plus marketing messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Camera,
    Microphone,
    PhotoAlbum,
    Location,
    Clipboard,
    Notifications,
    PersonalizedRecommendation,
    Marketing,
    /// Acceptance of the privacy policy (《多些隐私政策》) of the version in force.
    PrivacyPolicy,
    /// Acceptance of the user agreement (《多些用户协议》) of the version in force.
    UserAgreement,
}

impl Permission {
    pub const ALL: [Permission; 10] = [
        Permission::Camera,
        Permission::Microphone,
        Permission::PhotoAlbum,
        Permission::Location,
        Permission::Clipboard,
        Permission::Notifications,
        Permission::PersonalizedRecommendation,
        Permission::Marketing,
        Permission::PrivacyPolicy,
        Permission::UserAgreement,
    ];

    /// The documents registration accepts, asked again under each new policy version.
    pub const DOCUMENTS: [Permission; 2] = [Permission::PrivacyPolicy, Permission::UserAgreement];

    /// An accepted document, not a device permission: it is not withdrawn (the account is
    /// deleted instead).
    pub fn is_document(self) -> bool {
        matches!(self, Permission::PrivacyPolicy | Permission::UserAgreement)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Camera => "camera",
            Permission::Microphone => "microphone",
            Permission::PhotoAlbum => "photo_album",
            Permission::Location => "location",
            Permission::Clipboard => "clipboard",
            Permission::Notifications => "notifications",
            Permission::PersonalizedRecommendation => "personalized_recommendation",
            Permission::Marketing => "marketing",
            Permission::PrivacyPolicy => "privacy_policy",
            Permission::UserAgreement => "user_agreement",
        }
    }

    /// What the permission is used for (policy digest, permissions table): the purpose a
    /// consent receipt names.
    pub fn purpose(self) -> &'static str {
        match self {
            Permission::Camera => "live appraisal video, taking photos for chat, posts and avatar",
            Permission::Microphone => "live appraisal audio and video posts",
            Permission::PhotoAlbum => "choosing photos for chat, posts, avatar and image search",
            Permission::Location => "showing nearby sellers and appraisers",
            Permission::Clipboard => "reading a shared Duoxie code to open the shared item",
            Permission::Notifications => "push notifications of messages and room activity",
            Permission::PersonalizedRecommendation => {
                "a feed personalised from your activity (a non-personalised feed otherwise)"
            }
            Permission::Marketing => "promotional messages",
            Permission::PrivacyPolicy => {
                "accepting the privacy policy of this version (多些隐私政策)"
            }
            Permission::UserAgreement => {
                "accepting the user agreement of this version (多些用户协议)"
            }
        }
    }

    pub fn parse(raw: &str) -> AppResult<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == raw)
            .ok_or_else(|| {
                AppError::field(
                    "permission",
                    "expected camera, microphone, photo_album, location, clipboard, \
                     notifications, personalized_recommendation, marketing, privacy_policy or \
                     user_agreement",
                )
            })
    }
}

/// Where a picture or video comes from, as the client declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaSource {
    Camera,
    Album,
}

/// Everything that may not run without a current grant (policy digest, last table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    LiveConnect,
    ChatPhoto(MediaSource),
    PostPhoto(MediaSource),
    PostVideo(MediaSource),
    Avatar(MediaSource),
    ImageSearch(MediaSource),
    ShareCode,
    Push,
    LocationRecommendation,
    PersonalizedFeed,
    MarketingMessages,
}

impl Feature {
    /// A feature by its wire name; picture and video features need the declared source.
    pub fn parse(name: &str, source: Option<MediaSource>) -> AppResult<Self> {
        use Feature::*;
        let with_source = |f: fn(MediaSource) -> Feature| {
            source.map(f).ok_or_else(|| {
                AppError::field("source", "required for this feature: camera or album")
            })
        };
        match name {
            "live_connect" => Ok(LiveConnect),
            "chat_photo" => with_source(ChatPhoto),
            "post_photo" => with_source(PostPhoto),
            "post_video" => with_source(PostVideo),
            "avatar" => with_source(Avatar),
            "image_search" => with_source(ImageSearch),
            "share_code" => Ok(ShareCode),
            "push" => Ok(Push),
            "location_recommendation" => Ok(LocationRecommendation),
            "personalized_feed" => Ok(PersonalizedFeed),
            "marketing_messages" => Ok(MarketingMessages),
            _ => Err(AppError::field("feature", "unknown feature")),
        }
    }
}

fn source_permission(source: MediaSource) -> Permission {
    match source {
        MediaSource::Camera => Permission::Camera,
        MediaSource::Album => Permission::PhotoAlbum,
    }
}

/// The permissions a feature needs.
pub fn required(feature: Feature) -> Vec<Permission> {
    use Feature::*;
    match feature {
        LiveConnect => vec![Permission::Camera, Permission::Microphone],
        ChatPhoto(s) | PostPhoto(s) | Avatar(s) | ImageSearch(s) => vec![source_permission(s)],
        PostVideo(s) => vec![source_permission(s), Permission::Microphone],
        ShareCode => vec![Permission::Clipboard],
        Push => vec![Permission::Notifications],
        LocationRecommendation => vec![Permission::Location],
        PersonalizedFeed => vec![Permission::PersonalizedRecommendation],
        // The digest: turning notifications off stops marketing messages too.
        MarketingMessages => vec![Permission::Notifications, Permission::Marketing],
    }
}

/// The permissions `feature` needs that are not in `granted`; empty means it may run.
pub fn missing(feature: Feature, granted: &HashSet<Permission>) -> Vec<Permission> {
    required(feature)
        .into_iter()
        .filter(|p| !granted.contains(p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_round_trips_and_unknown_ones_are_refused() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()).expect("known"), p);
        }
        for bad in ["", "Camera", "contacts", "photo-album"] {
            assert!(Permission::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_gate_follows_the_policy_table() {
        use Feature::*;
        use MediaSource::*;
        use Permission as P;
        let cases: [(Feature, &[Permission], &[Permission]); 11] = [
            (LiveConnect, &[P::Camera], &[P::Microphone]),
            (LiveConnect, &[P::Camera, P::Microphone], &[]),
            (ChatPhoto(Album), &[P::Camera], &[P::PhotoAlbum]),
            (ChatPhoto(Camera), &[P::Camera], &[]),
            (PostVideo(Camera), &[P::Camera], &[P::Microphone]),
            (Avatar(Album), &[], &[P::PhotoAlbum]),
            (ShareCode, &[P::Camera], &[P::Clipboard]),
            (Push, &[P::Notifications], &[]),
            (PersonalizedFeed, &[], &[P::PersonalizedRecommendation]),
            (MarketingMessages, &[P::Marketing], &[P::Notifications]),
            (MarketingMessages, &[P::Marketing, P::Notifications], &[]),
        ];
        for (feature, granted, want) in cases {
            let granted: HashSet<Permission> = granted.iter().copied().collect();
            assert_eq!(
                missing(feature, &granted),
                want,
                "{feature:?} with {granted:?}"
            );
        }
    }
}
