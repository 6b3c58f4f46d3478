//! Passwords, JWTs and opaque token secrets. Pure functions, no I/O.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const API_TOKEN_PREFIX: &str = "qlb_";
pub const REFRESH_TOKEN_PREFIX: &str = "qlr_";

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A valid hash of a random password, verified against when the email is unknown so
/// that login takes as long whether or not the account exists.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_secret(24)).unwrap_or_default())
}

/// A random alphanumeric string of `len` characters.
pub fn random_secret(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Secrets are stored only as their SHA-256: they are long and random, so a slow hash
/// buys nothing, and look-up by hash stays one indexed query.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub typ: String,
}

pub const DOC_TOKEN_TYPE: &str = "doc";

/// Claims of a per-document connection token (`POST /api/docs/{id}/connect`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocClaims {
    pub sub: Uuid,
    pub doc: Uuid,
    /// The credential it was issued to: a session (`sid`) or an API token (`tid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<Uuid>,
    /// The highest role the socket gets (the live membership may lower it).
    pub role: qollab_shared::api::Role,
    pub iat: i64,
    pub exp: i64,
    pub typ: String,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl JwtKeys {
    pub fn new(secret: &str) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
        }
    }

    pub fn issue(&self, user: Uuid, session: Uuid, ttl_secs: i64) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user,
            sid: session,
            iat: now,
            exp: now + ttl_secs,
            typ: "access".into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| anyhow::anyhow!("signing token: {e}"))
    }

    /// A connection token for one document's socket: short-lived, bound to the
    /// credential that asked for it (so revoking that credential ends the socket), with
    /// the role it may connect as at most.
    pub fn issue_doc(&self, claims: &DocClaims) -> anyhow::Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| anyhow::anyhow!("signing token: {e}"))
    }

    /// Verifies a document connection token (signature, expiry with no leeway, type).
    pub fn verify_doc(&self, token: &str) -> Result<DocClaims, &'static str> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "sub"]);
        match jsonwebtoken::decode::<DocClaims>(token, &self.decoding, &v) {
            Ok(data) if data.claims.typ == DOC_TOKEN_TYPE => Ok(data.claims),
            Ok(_) => Err("not a document connection token"),
            Err(e) => Err(match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "connection token expired; ask for a new one"
                }
                jsonwebtoken::errors::ErrorKind::InvalidSignature => "bad signature",
                _ => "malformed token",
            }),
        }
    }

    /// Verifies signature, expiry (no leeway) and type.
    pub fn verify(&self, token: &str) -> Result<Claims, &'static str> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "sub"]);
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &v) {
            Ok(data) if data.claims.typ == "access" => Ok(data.claims),
            Ok(_) => Err("not an access token"),
            Err(e) => Err(match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "token expired; refresh it",
                jsonwebtoken::errors::ErrorKind::InvalidSignature => "bad signature",
                _ => "malformed token",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc_claims(exp_in: i64, typ: &str) -> DocClaims {
        let now = chrono::Utc::now().timestamp();
        DocClaims {
            sub: Uuid::nil(),
            doc: Uuid::nil(),
            sid: Some(Uuid::nil()),
            tid: None,
            role: qollab_shared::api::Role::Editor,
            iat: now,
            exp: now + exp_in,
            typ: typ.into(),
        }
    }

    #[test]
    fn document_tokens_expire_and_are_not_access_tokens() {
        let keys = JwtKeys::new("0123456789abcdef0123456789abcdef");
        let ok = keys.issue_doc(&doc_claims(60, DOC_TOKEN_TYPE)).unwrap();
        assert_eq!(
            keys.verify_doc(&ok).map(|c| c.role).ok(),
            Some(qollab_shared::api::Role::Editor)
        );
        // Neither kind passes for the other.
        assert!(keys.verify(&ok).is_err());
        let access = keys.issue(Uuid::nil(), Uuid::nil(), 60).unwrap();
        assert!(keys.verify_doc(&access).is_err());
        let expired = keys.issue_doc(&doc_claims(-1, DOC_TOKEN_TYPE)).unwrap();
        assert_eq!(
            keys.verify_doc(&expired).err(),
            Some("connection token expired; ask for a new one")
        );
        let other = JwtKeys::new("another secret of the same length.....");
        assert_eq!(other.verify_doc(&ok).err(), Some("bad signature"));
    }

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let h = hash_password("correct horse battery").unwrap_or_default();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterz", &h));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn jwts_are_checked_for_signature_expiry_and_type() {
        let keys = JwtKeys::new("a-secret-of-at-least-thirty-two-bytes!!");
        let (u, s) = (Uuid::now_v7(), Uuid::now_v7());
        let t = keys.issue(u, s, 60).unwrap_or_default();
        let c = keys.verify(&t).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.sub, c.sid), (u, s));

        let other = JwtKeys::new("another-secret-of-at-least-32-bytes!!!");
        assert_eq!(other.verify(&t).err(), Some("bad signature"));
        let expired = keys.issue(u, s, -5).unwrap_or_default();
        assert_eq!(
            keys.verify(&expired).err(),
            Some("token expired; refresh it")
        );
        assert_eq!(keys.verify("garbage").err(), Some("malformed token"));
    }

    #[test]
    fn secrets_are_random_and_hashed_stably() {
        let (a, b) = (random_secret(32), random_secret(32));
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_eq!(hash_secret(&a).len(), 64);
    }
}
