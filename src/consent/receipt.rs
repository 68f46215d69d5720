//! Consent receipts in the spirit of the Kantara Consent Receipt (v1.1): a record the user
//! keeps of what they agreed to or withdrew, signed by the server so that it can be shown to
//! anyone later. A receipt is a compact JWS (`header.claims.signature`, `alg: EdDSA`),
//! verifiable offline with the key published at `GET /api/consent/keys` (a JWK set).
//!
//! Receipts are derived from ledger rows, never stored: Ed25519 signatures are deterministic,
//! so the receipt of a row is the same whenever it is issued.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::messages::ConsentRecord;
use super::policy::Permission;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::keys::KeyBytes;

pub const RECEIPT_VERSION: &str = "KI-CR-v1.1.0/duoxie-1";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Controller {
    pub name: String,
    pub contact: String,
}

/// The signed claims.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReceiptClaims {
    pub version: String,
    pub receipt_id: String,
    pub jurisdiction: String,
    /// When the consent was given or withdrawn, Unix ms.
    pub consent_timestamp: i64,
    pub controller: Controller,
    pub policy_version: String,
    /// The user (PII principal) by account id.
    pub subject: i64,
    pub permission: String,
    pub purpose: String,
    /// `granted` or `withdrawn`.
    pub action: String,
    /// How the choice was collected.
    pub method: String,
    /// Who acted: `user` or `guardian`.
    pub actor: String,
    pub device: String,
    /// The ledger row this receipt is for.
    pub ledger_id: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Receipt {
    pub claims: ReceiptClaims,
    /// The compact JWS; what a user keeps and shows.
    pub jws: String,
}

pub struct ReceiptSigner {
    key: SigningKey,
    kid: String,
    controller: Controller,
}

impl ReceiptSigner {
    pub fn new(seed: &KeyBytes, controller: Controller) -> Self {
        let key = SigningKey::from_bytes(seed);
        // RFC 7638-style thumbprint, shortened: names the key without a registry.
        let kid = crate::keys::hash_secret(&[&B64URL.encode(key.verifying_key().as_bytes())])[..16]
            .to_string();
        Self {
            key,
            kid,
            controller,
        }
    }

    pub fn issue(&self, subject: i64, record: &ConsentRecord) -> Receipt {
        let claims = ReceiptClaims {
            version: RECEIPT_VERSION.into(),
            receipt_id: format!("{}-{}", self.kid, record.id),
            jurisdiction: "CN".into(),
            consent_timestamp: record.at,
            controller: self.controller.clone(),
            policy_version: record.policy_version.clone(),
            subject,
            permission: record.permission.clone(),
            purpose: Permission::parse(&record.permission)
                .map(|p| p.purpose().to_string())
                .unwrap_or_default(),
            action: if record.granted {
                "granted"
            } else {
                "withdrawn"
            }
            .into(),
            method: "explicit choice in the app (one command per permission)".into(),
            actor: record.actor.clone(),
            device: record.device.clone(),
            ledger_id: record.id,
        };
        Receipt {
            jws: self.sign(&claims),
            claims,
        }
    }

    /// Any claims as a compact JWS under this key: consent receipts, and the appraisal
    /// verdicts live signs (one key, one published JWK set for everything the server signs).
    pub fn sign(&self, claims: &impl Serialize) -> String {
        let header = json!({ "alg": "EdDSA", "typ": "JWT", "kid": self.kid });
        // Serialising plain data structs to JSON cannot fail.
        let body = serde_json::to_vec(claims).unwrap_or_default();
        let signing_input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(body)
        );
        let signature = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", B64URL.encode(signature.to_bytes()))
    }

    /// Checks a receipt's signature and returns its claims; any change to any part fails.
    pub fn verify(&self, jws: &str) -> AppResult<ReceiptClaims> {
        self.verify_signed(jws)
    }

    /// Checks the signature of a JWS [`ReceiptSigner::sign`] made and returns its claims.
    pub fn verify_signed<T: serde::de::DeserializeOwned>(&self, jws: &str) -> AppResult<T> {
        let bad = |why: &str| AppError::new(ErrorCode::InvalidReceipt, why.to_string());
        let mut parts = jws.trim().split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("a receipt has three dot-separated parts"));
        };
        let header: Value = B64URL
            .decode(header)
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .ok_or_else(|| bad("the receipt header is not base64url JSON"))?;
        if header["alg"] != "EdDSA" || header["kid"] != self.kid.as_str() {
            return Err(bad(
                "the receipt is not signed with this server's receipt key",
            ));
        }
        let signature = B64URL
            .decode(signature)
            .ok()
            .and_then(|s| Signature::from_slice(&s).ok())
            .ok_or_else(|| bad("the receipt signature is malformed"))?;
        let signed = &jws.trim()[..jws.trim().rfind('.').unwrap_or(0)];
        self.public_key()
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| bad("the receipt signature does not verify: it was altered or forged"))?;
        B64URL
            .decode(claims)
            .ok()
            .and_then(|c| serde_json::from_slice(&c).ok())
            .ok_or_else(|| bad("the receipt claims are not valid"))
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The JWK set that publishes the verification key.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [{
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "kid": self.kid,
            "x": B64URL.encode(self.public_key().as_bytes()),
        }]})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(seed: u8) -> ReceiptSigner {
        ReceiptSigner::new(
            &[seed; 32],
            Controller {
                name: "Duoxie".into(),
                contact: "privacy@example".into(),
            },
        )
    }

    fn record() -> ConsentRecord {
        ConsentRecord {
            id: 42,
            permission: "camera".into(),
            granted: true,
            policy_version: "3".into(),
            actor: "user".into(),
            device: "phone".into(),
            at: 1_700_000_000_000,
            receipt: None,
        }
    }

    #[test]
    fn a_receipt_verifies_and_is_the_same_whenever_issued() {
        let s = signer(1);
        let r = s.issue(7, &record());
        assert_eq!(r.jws, s.issue(7, &record()).jws, "deterministic");
        assert_eq!(s.verify(&r.jws).expect("verifies"), r.claims);
        assert_eq!(r.claims.action, "granted");
        assert_eq!(r.claims.purpose, Permission::Camera.purpose());
    }

    #[test]
    fn altered_forged_and_malformed_receipts_fail() {
        let s = signer(1);
        let r = s.issue(7, &record());
        let parts: Vec<&str> = r.jws.split('.').collect();
        let mut claims = r.claims.clone();
        claims.action = "withdrawn".into();
        let altered = format!(
            "{}.{}.{}",
            parts[0],
            B64URL.encode(serde_json::to_vec(&claims).expect("json")),
            parts[2]
        );
        assert_eq!(
            s.verify(&altered).expect_err("altered").code,
            ErrorCode::InvalidReceipt
        );
        let forged = signer(2).issue(7, &record());
        assert!(s.verify(&forged.jws).is_err(), "another key");
        for junk in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert!(s.verify(junk).is_err(), "{junk:?}");
        }
    }
}
