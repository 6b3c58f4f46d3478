//! The wire error envelope: `{"error": {"code", "message", "details"}}`.
//!
//! Codes are stable strings that clients match on; messages are for people.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error code the API can return. The HTTP status is part of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidJson,
    InvalidInput,
    Unauthenticated,
    InvalidToken,
    InvalidCredentials,
    Forbidden,
    NotFound,
    EmailTaken,
    AlreadyMember,
    LastOwner,
    PayloadTooLarge,
    RateLimited,
    QuotaExceeded,
    InvalidQasm,
    /// The job has not finished yet (its result is not there).
    NotFinished,
    /// The job has already finished (it cannot be cancelled).
    AlreadyFinished,
    /// The runtime session is closed (jobs can no longer join it).
    SessionClosed,
    /// The assistant is still answering in this thread (one answer at a time).
    AssistantBusy,
    Internal,
    Unavailable,
}

impl ErrorCode {
    pub const fn status(self) -> u16 {
        match self {
            Self::InvalidJson => 400,
            Self::InvalidInput | Self::InvalidQasm | Self::QuotaExceeded => 422,
            Self::Unauthenticated | Self::InvalidToken | Self::InvalidCredentials => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::EmailTaken
            | Self::AlreadyMember
            | Self::LastOwner
            | Self::NotFinished
            | Self::AlreadyFinished
            | Self::SessionClosed
            | Self::AssistantBusy => 409,
            Self::PayloadTooLarge => 413,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::InvalidInput => "invalid_input",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidToken => "invalid_token",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::EmailTaken => "email_taken",
            Self::AlreadyMember => "already_member",
            Self::LastOwner => "last_owner",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited => "rate_limited",
            Self::QuotaExceeded => "quota_exceeded",
            Self::InvalidQasm => "invalid_qasm",
            Self::NotFinished => "not_finished",
            Self::AlreadyFinished => "already_finished",
            Self::SessionClosed => "session_closed",
            Self::AssistantBusy => "assistant_busy",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// Field-level problems (`{"email": "..."}`) or other structured context.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_wire_names() {
        for code in [
            ErrorCode::InvalidJson,
            ErrorCode::EmailTaken,
            ErrorCode::LastOwner,
            ErrorCode::RateLimited,
        ] {
            let json = serde_json::to_value(code).unwrap_or_default();
            assert_eq!(json, serde_json::Value::String(code.as_str().into()));
        }
    }

    #[test]
    fn statuses_are_client_errors_except_internal_ones() {
        assert_eq!(ErrorCode::EmailTaken.status(), 409);
        assert_eq!(ErrorCode::PayloadTooLarge.status(), 413);
        assert!(ErrorCode::Internal.status() >= 500);
    }
}
