//! Analytics over HTTP: a workspace's (any member) and an organization's (its members)
//! activity in a time range, as JSON or CSV. The numbers are SQL aggregates
//! (`db::queries::analytics`); the wire shape, buckets and CSV are in
//! `qollab_shared::analytics`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use qollab_shared::analytics::{Analytics, Bucket, MAX_BUCKETS, to_csv};
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::db::queries::analytics::{Range, Scope};
use crate::error::{ApiError, ApiResult};
use crate::workspaces::AsViewer;

pub fn configure(r: &mut crate::app::Routes) {
    r.get("/api/workspaces/{workspace_id}/analytics", workspace)
        .get("/api/orgs/{org_id}/analytics", org);
}

/// The range defaults to the 30 days before now, by day.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// Start of the range (RFC 3339, inclusive); default `to` − 30 days.
    pub from: Option<String>,
    /// End of the range (RFC 3339, exclusive); default now.
    pub to: Option<String>,
    /// `hour`, `day` (default) or `week` (from Monday, UTC). At most 1000 buckets.
    pub bucket: Option<String>,
    /// `json` (default) or `csv` (`section,start,key,metric,value`, one row per number).
    pub format: Option<String>,
}

impl AnalyticsQuery {
    fn parse(&self) -> ApiResult<(Range, bool)> {
        let mut bad = Vec::new();
        let time = |field: &'static str,
                    v: &Option<String>,
                    bad: &mut Vec<(&'static str, String)>| {
            v.as_deref()
                .and_then(|s| match DateTime::parse_from_rfc3339(s) {
                    Ok(t) => Some(t.with_timezone(&Utc)),
                    Err(_) => {
                        bad.push((
                            field,
                            format!("{s:?} is not an RFC 3339 time such as 2026-12-01T00:00:00Z"),
                        ));
                        None
                    }
                })
        };
        let to = time("to", &self.to, &mut bad).unwrap_or_else(Utc::now);
        let from = time("from", &self.from, &mut bad).unwrap_or(to - Duration::days(30));
        let bucket = match self.bucket.as_deref() {
            None => Bucket::Day,
            Some(b) => Bucket::parse(b).unwrap_or_else(|| {
                bad.push(("bucket", "must be hour, day or week".into()));
                Bucket::Day
            }),
        };
        let csv = match self.format.as_deref() {
            None | Some("json") => false,
            Some("csv") => true,
            Some(_) => {
                bad.push(("format", "must be json or csv".into()));
                false
            }
        };
        if from >= to && bad.is_empty() {
            bad.push(("from", "must be before `to`".into()));
        }
        if !bad.is_empty() {
            return Err(ApiError::invalid_fields(bad));
        }
        let Some(starts) = bucket.starts(from, to) else {
            return Err(ApiError::invalid_field(
                "bucket",
                format!(
                    "the range holds more than {MAX_BUCKETS} {}s: shorten it or use a longer bucket",
                    bucket.as_str()
                ),
            ));
        };
        Ok((
            Range {
                from,
                to,
                bucket,
                starts,
                exact_up_to: crate::db::queries::analytics::EXACT_PERCENTILES_UP_TO,
            },
            csv,
        ))
    }
}

fn respond(a: Analytics, csv: bool) -> HttpResponse {
    if csv {
        let name = format!(
            "qollab-{}-{}-{}.csv",
            a.scope,
            a.scope_id,
            a.from.format("%Y%m%d")
        );
        HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "content-disposition",
                format!("attachment; filename=\"{name}\""),
            ))
            .body(to_csv(&a))
    } else {
        HttpResponse::Ok().json(a)
    }
}

/// A workspace's jobs, optimizer savings, backends, documents, members, AI use and
/// points in a time range. Any member may read it.
#[utoipa::path(get, path = "/api/workspaces/{workspace_id}/analytics", tag = "analytics",
    params(("workspace_id" = Uuid, Path), AnalyticsQuery),
    responses((status = 200, content((Analytics = "application/json"), (String = "text/csv"))),
        (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn workspace(
    state: web::Data<AppState>,
    access: AsViewer,
    query: web::Query<AnalyticsQuery>,
) -> ApiResult<HttpResponse> {
    let (range, csv) = query.parse()?;
    let a = state
        .db
        .analytics(Scope::Workspace(access.workspace.id), range)
        .await?;
    Ok(respond(a, csv))
}

/// The same over every workspace of an organization; for the organization's members
/// (others: 404, as if it did not exist).
#[utoipa::path(get, path = "/api/orgs/{org_id}/analytics", tag = "analytics",
    params(("org_id" = Uuid, Path), AnalyticsQuery),
    responses((status = 200, content((Analytics = "application/json"), (String = "text/csv"))),
        (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn org(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<Uuid>,
    query: web::Query<AnalyticsQuery>,
) -> ApiResult<HttpResponse> {
    let org = path.into_inner();
    if state.db.org_for(org, user.id).await?.is_none() {
        return Err(ApiError::not_found("organization"));
    }
    let (range, csv) = query.parse()?;
    Ok(respond(
        state.db.analytics(Scope::Org(org), range).await?,
        csv,
    ))
}
