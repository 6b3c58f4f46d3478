//! One cursor pagination for every list that can grow (`qollab_shared::api::Page`).
//!
//! A list reads `limit + 1` rows in its order (keyset, never OFFSET: a page costs the same
//! at the millionth row, and rows added meanwhile neither repeat nor go missing); the extra
//! row only says there is a next page. The cursor is the sort key of the last row sent,
//! base64url of its JSON: opaque to clients, so a list can change its key without
//! breaking them, and checked like any other input (a bad one is a 422 on `cursor`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use qollab_shared::api::Page;
use sea_orm::{ColumnTrait, Condition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// `?cursor=&limit=` of a list with no other filter. Lists with filters declare both
/// fields beside theirs (serde's `flatten` would read `limit` as a string).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200; 100 when absent.
    pub limit: Option<u64>,
}

impl PageQuery {
    pub fn limit(&self) -> ApiResult<u64> {
        ApiError::page_limit(self.limit, 100, 200)
    }

    pub fn cursor<K: DeserializeOwned>(&self) -> ApiResult<Option<K>> {
        decode(self.cursor.as_deref())
    }
}

/// Longer than any key we hand out, so decoding a hostile cursor stays cheap.
const MAX_CURSOR: usize = 256;

/// The key a `?cursor=` carries; `None` without one.
pub fn decode<K: DeserializeOwned>(cursor: Option<&str>) -> ApiResult<Option<K>> {
    let Some(c) = cursor else { return Ok(None) };
    let bad = || {
        ApiError::invalid_field(
            "cursor",
            "not a cursor this list gave out: pass the `next_cursor` of the previous page, \
             or leave `cursor` out to start from the first page",
        )
    };
    if c.len() > MAX_CURSOR {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map(Some).map_err(|_| bad())
}

pub fn encode<K: Serialize>(key: &K) -> String {
    // Keys are ids, numbers and timestamps: serializing them cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// `rows` (read with a limit of `limit + 1`) cut to one page, with the cursor of the next
/// page when there is one.
pub fn split<R, K: Serialize>(
    mut rows: Vec<R>,
    limit: u64,
    key: impl Fn(&R) -> K,
) -> (Vec<R>, Option<String>) {
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|r| encode(&key(r)))
    } else {
        None
    };
    (rows, next)
}

/// A page from rows read with `limit + 1`, each turned into an item by `view`.
pub fn page<P: Page, R, K: Serialize>(
    rows: Vec<R>,
    limit: u64,
    key: impl Fn(&R) -> K,
    view: impl FnMut(R) -> P::Item,
) -> P {
    let (rows, next) = split(rows, limit, key);
    P::from_parts(rows.into_iter().map(view).collect(), next)
}

/// The `(time, id)` key of lists ordered by when their rows were made: the id breaks
/// ties between rows of the same instant.
pub type TimeKey = (DateTime<Utc>, Uuid);

/// Rows after `key` in descending `(at, id)` order.
pub fn older_than<C: ColumnTrait>(at: C, id: C, key: TimeKey) -> Condition {
    Condition::any()
        .add(at.lt(key.0))
        .add(Condition::all().add(at.eq(key.0)).add(id.lt(key.1)))
}

/// Rows after `key` in ascending `(at, id)` order.
pub fn newer_than<C: ColumnTrait>(at: C, id: C, key: TimeKey) -> Condition {
    Condition::any()
        .add(at.gt(key.0))
        .add(Condition::all().add(at.eq(key.0)).add(id.gt(key.1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_a_forged_one_is_a_422_on_cursor() {
        let key: TimeKey = (Utc::now(), Uuid::new_v4());
        let c = encode(&key);
        assert!(
            c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(decode::<TimeKey>(Some(&c)).ok().flatten(), Some(key));
        assert_eq!(decode::<TimeKey>(None).ok().flatten(), None);
        for bad in [
            "not base64!",
            &encode(&42),
            &encode(&"x"),
            &"A".repeat(MAX_CURSOR + 1),
        ] {
            let e = decode::<TimeKey>(Some(bad)).err();
            assert_eq!(
                e.map(|e| (e.code, e.details)),
                Some((
                    qollab_shared::error::ErrorCode::InvalidInput,
                    serde_json::json!({"cursor": "not a cursor this list gave out: pass the `next_cursor` of the previous page, or leave `cursor` out to start from the first page"})
                )),
                "{bad}"
            );
        }
    }

    #[test]
    fn split_cuts_at_the_limit_and_points_after_the_last_row() {
        let (rows, next) = split(vec![5, 4, 3], 2, |r| *r);
        assert_eq!(rows, vec![5, 4]);
        assert_eq!(decode::<i32>(next.as_deref()).ok().flatten(), Some(4));
        let (rows, next) = split(vec![5, 4], 2, |r| *r);
        assert_eq!(rows, vec![5, 4]);
        assert_eq!(next, None);
    }
}
