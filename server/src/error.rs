//! The server's one error type. Every handler returns `Result<_, ApiError>`; it maps
//! onto the wire envelope of `qollab_shared::error`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use qollab_shared::error::{ErrorBody, ErrorCode, ErrorDetail};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Value,
    /// Seconds, for 429 responses.
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Value::Null,
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            ErrorCode::Unauthenticated,
            "authentication required: send `Authorization: Bearer <access token or API token>`",
        )
    }

    pub fn invalid_token(why: &str) -> Self {
        Self::new(ErrorCode::InvalidToken, format!("invalid token: {why}"))
    }

    /// A JSON body serde refused: 422 when it is JSON of the wrong shape, 400 when it is
    /// not JSON at all. What the app's JSON extractor and hand-read bodies both answer.
    pub fn json_body(de: &serde_json::Error) -> Self {
        if de.is_data() {
            Self::new(
                ErrorCode::InvalidInput,
                format!("invalid request body: {de}"),
            )
        } else {
            Self::new(ErrorCode::InvalidJson, format!("malformed JSON: {de}"))
        }
    }

    /// A 422 naming the one offending field.
    pub fn invalid_field(field: &'static str, message: impl Into<String>) -> Self {
        Self::invalid_fields(vec![(field, message.into())])
    }

    /// A 422 naming the offending fields.
    pub fn invalid_fields(fields: Vec<(&'static str, String)>) -> Self {
        let message = fields
            .iter()
            .map(|(f, m)| format!("{f}: {m}"))
            .collect::<Vec<_>>()
            .join("; ");
        let details = Value::Object(
            fields
                .into_iter()
                .map(|(f, m)| (f.to_string(), Value::String(m)))
                .collect(),
        );
        Self::new(ErrorCode::InvalidInput, message).with_details(details)
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                ErrorCode::RateLimited,
                format!("too many requests; retry in {} s", retry_after.max(1)),
            )
        }
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error; it has been logged")
    }

    /// A list's `limit` query parameter: `default` when absent, else 1 to `max`.
    pub fn page_limit(given: Option<u64>, default: u64, max: u64) -> ApiResult<u64> {
        let limit = given.unwrap_or(default);
        if (1..=max).contains(&limit) {
            Ok(limit)
        } else {
            Err(Self::invalid_field("limit", format!("must be 1 to {max}")))
        }
    }

    /// An OpenQASM reading error as 422 with its line and column (and the limit it
    /// breached); over the plan's qubits is a quota, anything else `invalid_qasm`.
    pub fn qasm(e: &qollab_quantum::qasm::ParseError, qubits_are_quota: bool) -> Self {
        use qollab_quantum::qasm::Limit;
        let code = match e.limit {
            Some(Limit::Qubits) if qubits_are_quota => ErrorCode::QuotaExceeded,
            _ => ErrorCode::InvalidQasm,
        };
        Self::new(code, e.to_string()).with_details(serde_json::json!({
            "line": e.line, "col": e.col, "message": e.message,
            "limit": e.limit.map(Limit::as_str),
        }))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.json(ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                details: self.details.clone(),
            },
        })
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        tracing::error!(error = %e, "database error");
        match e {
            sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_) => Self::new(
                ErrorCode::Unavailable,
                "the database is unavailable; try again shortly",
            ),
            _ => Self::internal(),
        }
    }
}

impl From<sea_orm::TransactionError<ApiError>> for ApiError {
    fn from(e: sea_orm::TransactionError<ApiError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(e) => e.into(),
            sea_orm::TransactionError::Transaction(e) => e,
        }
    }
}
