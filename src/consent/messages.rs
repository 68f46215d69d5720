//! What the consent actor understands and answers.

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub permission: String,
    /// Which device the user acted on (shown in the history); optional.
    #[serde(default)]
    pub device: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Withdraw {
    pub permission: String,
    #[serde(default)]
    pub device: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListConsents {}

/// May this feature run now? Lets a client ask for exactly the missing permissions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub feature: String,
    #[serde(default)]
    pub source: Option<super::policy::MediaSource>,
}

#[derive(Debug, Serialize)]
pub struct Checked {
    pub allowed: bool,
    pub missing: Vec<super::policy::Permission>,
}

/// One row of the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentRecord {
    pub id: i64,
    pub permission: String,
    pub granted: bool,
    pub policy_version: String,
    pub actor: String,
    pub device: String,
    pub at: i64,
    /// The signed receipt of this change (filled in when answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<super::receipt::Receipt>,
}

#[derive(Debug, Serialize)]
pub struct Changed {
    pub record: ConsentRecord,
    /// False when the permission already was in the asked state (nothing appended).
    pub changed: bool,
}

#[derive(Debug, Serialize)]
pub struct ConsentState {
    /// The privacy policy version in force.
    pub policy_version: String,
    /// Every permission with its current state (`granted: false` if never granted).
    pub current: Vec<CurrentConsent>,
    pub history: Vec<ConsentRecord>,
}

#[derive(Debug, Serialize)]
pub struct CurrentConsent {
    pub permission: &'static str,
    /// In force: granted under the current policy version.
    pub granted: bool,
    /// Granted under an older policy version: ask the user to accept the new one.
    pub needs_acceptance: bool,
    pub since: Option<i64>,
    pub policy_version: Option<String>,
}

/// Is this receipt ours, unaltered, and still the user's current choice?
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyReceipt {
    pub receipt: String,
}

#[derive(Debug, Serialize)]
pub struct ReceiptVerdict {
    /// Signed by this server and matching its ledger row.
    pub authentic: bool,
    /// Still the latest change of that permission under the policy version in force. A
    /// receipt shown again after a later change (a replay) is authentic but not current.
    pub current: bool,
    pub claims: super::receipt::ReceiptClaims,
}

crate::command!(Grant => Changed);
crate::command!(VerifyReceipt => ReceiptVerdict);
crate::command!(Withdraw => Changed);
crate::command!(ListConsents => ConsentState);
crate::command!(Check => Checked);
