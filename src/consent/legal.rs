//! The legal texts a user accepts (policy: 隐私政策, 用户协议): the privacy policy and the user
//! agreement of each policy version, shipped with the server (`static/legal/<document>-<version>.txt`,
//! compiled in). The version in force is the consent ledger's; a version published without
//! its texts has none to show (`not_found`), so a deployment ships the texts with the version.

use serde::Serialize;

use super::policy::Permission;
use crate::error::{AppError, AppResult};

/// `(document, version, text)`, every text this build ships.
const TEXTS: &[(Permission, &str, &str)] = &[
    (
        Permission::PrivacyPolicy,
        "1",
        include_str!("../../static/legal/privacy-policy-1.txt"),
    ),
    (
        Permission::UserAgreement,
        "1",
        include_str!("../../static/legal/user-agreement-1.txt"),
    ),
];

/// One document of one version.
#[derive(Debug, Serialize)]
pub struct LegalText {
    pub document: &'static str,
    pub version: String,
    pub title: &'static str,
    pub text: &'static str,
}

fn title(document: Permission) -> &'static str {
    match document {
        Permission::UserAgreement => "多些用户协议",
        _ => "多些隐私政策",
    }
}

/// `privacy_policy` or `user_agreement`, else `not_found`.
pub fn document(name: &str) -> AppResult<Permission> {
    Permission::parse(name)
        .ok()
        .filter(|p| p.is_document())
        .ok_or_else(|| AppError::not_found("document"))
}

/// The document's text of `version`; `not_found` when this build ships none.
pub fn text(document: Permission, version: &str) -> AppResult<LegalText> {
    TEXTS
        .iter()
        .find(|(d, v, _)| *d == document && *v == version)
        .map(|(d, v, text)| LegalText {
            document: d.as_str(),
            version: (*v).to_string(),
            title: title(*d),
            text,
        })
        .ok_or_else(|| AppError::not_found("document version"))
}

/// The documents this build has no text of for `version` (empty when it ships both): a version
/// published without them asks users to accept texts nobody can read, so the operator is told.
pub fn missing_texts(version: &str) -> Vec<&'static str> {
    [Permission::PrivacyPolicy, Permission::UserAgreement]
        .into_iter()
        .filter(|d| text(*d, version).is_err())
        .map(|d| d.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_one_ships_both_documents() {
        let policy = text(Permission::PrivacyPolicy, "1").expect("the policy");
        assert!(policy.text.contains("隐私"), "the policy text");
        let agreement = text(Permission::UserAgreement, "1").expect("the agreement");
        assert!(
            agreement.text.starts_with("多些用户协议"),
            "the agreement text"
        );
        assert!(text(Permission::UserAgreement, "2").is_err());
        assert!(missing_texts("1").is_empty());
        assert_eq!(missing_texts("2"), ["privacy_policy", "user_agreement"]);
        assert!(document("camera").is_err());
    }
}
