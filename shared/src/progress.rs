//! Progress: the achievement catalog (data in `shared/progress/achievements.json`), the
//! rules that turn a stored workspace event into *marks* (facts about a user, each
//! with a unique value, so that counting them is idempotent under replays), levels from
//! points and streaks from active days. Pure: the server stores marks and awards.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, Utc};
pub use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::events::{Event, kinds};

/// Counters that marks feed. A counter's value is the number of distinct marks.
pub mod counters {
    pub const DOCS_CREATED: &str = "docs_created";
    pub const JOBS_SUBMITTED: &str = "jobs_submitted";
    pub const JOBS_COMPLETED: &str = "jobs_completed";
    pub const JOBS_FAILED: &str = "jobs_failed";
    pub const BACKEND_KINDS: &str = "backend_kinds";
    pub const OPTIMIZED_20: &str = "optimized_20";
    pub const BIG_JOBS: &str = "big_jobs";
    pub const SESSIONS_OPENED: &str = "sessions_opened";
    pub const SCHEDULED_RUNS: &str = "scheduled_runs";
    pub const CHAT_MESSAGES: &str = "chat_messages";
    pub const MEMBERS_ADDED: &str = "members_added";
    pub const VERSIONS_RESTORED: &str = "versions_restored";
    pub const AI_QUESTIONS: &str = "ai_questions";
    pub const AI_SUGGESTIONS_ACCEPTED: &str = "ai_suggestions_accepted";
    /// Marks are UTC dates (`2026-12-03`).
    pub const ACTIVE_DAYS: &str = "active_days";
    /// Documents edited live in a group of four or more.
    pub const CO_EDITED: &str = "co_edited";
    pub const QUEST_SOLVED: &str = "quest_solved";
    /// `quest_solved_<tier>`.
    pub const QUEST_SOLVED_PREFIX: &str = "quest_solved_";
}

/// A fact about a user: `counter` gained the distinct value `value`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mark {
    pub user: Uuid,
    pub counter: String,
    pub value: String,
}

fn mark(user: Uuid, counter: &str, value: impl Into<String>) -> Mark {
    Mark {
        user,
        counter: counter.to_string(),
        value: value.into(),
    }
}

/// The marks a stored workspace event gives. Events without a person behind them give
/// none; progress events themselves give none (no feedback loop).
/// `actor_tz` is the time zone of `e.actor` (UTC when unset): their active day is the
/// calendar day where they are.
pub fn marks_of(e: &Event, actor_tz: Option<Tz>) -> Vec<Mark> {
    let mut out = Vec::new();
    let job = &e.data["job"];
    let job_author = job["author_id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok());
    let job_id = job["id"].as_str().unwrap_or_default().to_string();
    let id_in_data = |field: &str| e.data[field].as_str().map(str::to_string);
    // A unique value for events that have no id of their own.
    let event_ref = format!("{}:{}", e.workspace_id, e.id);
    match e.kind.as_str() {
        kinds::DOC_CO_EDITED => {
            let doc = id_in_data("doc_id").unwrap_or(event_ref);
            for u in e.data["users"].as_array().into_iter().flatten() {
                if let Some(u) = u.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
                    out.push(mark(u, counters::CO_EDITED, doc.clone()));
                }
            }
        }
        kinds::DOC_CREATED => {
            if let Some(a) = e.actor {
                let id = e.data["doc"]["id"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or(event_ref);
                out.push(mark(a, counters::DOCS_CREATED, id));
            }
        }
        kinds::JOB_CREATED => {
            if let Some(a) = job_author.or(e.actor) {
                out.push(mark(a, counters::JOBS_SUBMITTED, job_id.clone()));
            }
        }
        kinds::JOB_COMPLETED => {
            if let Some(a) = job_author {
                out.push(mark(a, counters::JOBS_COMPLETED, job_id.clone()));
                let backend = job["backend"].as_str().unwrap_or_default();
                out.push(mark(a, counters::BACKEND_KINDS, backend_kind(backend)));
                if job["num_qubits"].as_i64().is_some_and(|n| n >= 20) {
                    out.push(mark(a, counters::BIG_JOBS, job_id.clone()));
                }
                if !job["schedule_id"].is_null() {
                    out.push(mark(a, counters::SCHEDULED_RUNS, job_id.clone()));
                }
                let opt = &e.data["optimization"];
                if let (Some(before), Some(after)) =
                    (opt["gates_before"].as_f64(), opt["gates_after"].as_f64())
                    && before > 0.0
                    && after <= 0.8 * before
                {
                    out.push(mark(a, counters::OPTIMIZED_20, job_id.clone()));
                }
            }
        }
        kinds::JOB_FAILED => {
            if let Some(a) = job_author {
                out.push(mark(a, counters::JOBS_FAILED, job_id.clone()));
            }
        }
        kinds::SESSION_OPENED => {
            if let Some(a) = e.actor {
                let id = e.data["session"]["id"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or(event_ref);
                out.push(mark(a, counters::SESSIONS_OPENED, id));
            }
        }
        kinds::CHAT_MESSAGE => {
            if let Some(a) = e.actor {
                out.push(mark(
                    a,
                    counters::CHAT_MESSAGES,
                    id_in_data("id").unwrap_or(event_ref),
                ));
            }
        }
        kinds::MEMBER_ADDED => {
            if let Some(a) = e.actor {
                let who = e.data["member"]["user_id"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or(event_ref);
                // Adding yourself (creating a workspace) is not building a team.
                if who != a.to_string() {
                    out.push(mark(
                        a,
                        counters::MEMBERS_ADDED,
                        format!("{}:{who}", e.workspace_id),
                    ));
                }
            }
        }
        kinds::DOC_RESTORED => {
            if let Some(a) = e.actor {
                out.push(mark(a, counters::VERSIONS_RESTORED, event_ref));
            }
        }
        kinds::AI_MESSAGE_CREATED => {
            if let Some(a) = e.actor {
                let id = e.data["message"]["id"]
                    .as_str()
                    .or_else(|| e.data["id"].as_str())
                    .map(str::to_string)
                    .unwrap_or(event_ref);
                out.push(mark(a, counters::AI_QUESTIONS, id));
            }
        }
        kinds::AI_SUGGESTION_DECIDED => {
            let s = &e.data["suggestion"];
            if let Some(a) = e.actor
                && s["status"] == "accepted"
            {
                let id = s["id"].as_str().map(str::to_string).unwrap_or(event_ref);
                out.push(mark(a, counters::AI_SUGGESTIONS_ACCEPTED, id));
            }
        }
        _ => {}
    }
    if let Some(a) = e.actor
        && !out.is_empty()
    {
        out.push(mark(a, counters::ACTIVE_DAYS, local_day(e.at, actor_tz)));
    }
    out
}

/// `ideal`, `emulator` or `remote` (IBM and other providers) from a backend name.
pub fn backend_kind(backend: &str) -> &'static str {
    match backend.split(':').next().unwrap_or_default() {
        "ideal" | "simulator" | "statevector" => "ideal",
        "emulator" => "emulator",
        _ => "remote",
    }
}

/// The day an activity counts for (UTC).
/// A leaderboard period: its key in `board_points.period` and when it began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub key: String,
    pub start: DateTime<Utc>,
}

/// The calendar week (Monday 00:00 UTC onwards) holding `at`; key `w` + the Monday.
pub fn week_of(at: DateTime<Utc>) -> Period {
    use chrono::{Datelike, TimeZone};
    let date = at.date_naive();
    let monday = date - chrono::Days::new(u64::from(date.weekday().num_days_from_monday()));
    Period {
        key: format!("w{}", monday.format("%Y-%m-%d")),
        start: Utc.from_utc_datetime(&monday.and_hms_opt(0, 0, 0).unwrap_or_default()),
    }
}

/// The calendar month (UTC) holding `at`; key `m` + year and month.
pub fn month_of(at: DateTime<Utc>) -> Period {
    use chrono::{Datelike, TimeZone};
    let first = NaiveDate::from_ymd_opt(at.year(), at.month(), 1).unwrap_or_default();
    Period {
        key: format!("m{}", first.format("%Y-%m")),
        start: Utc.from_utc_datetime(&first.and_hms_opt(0, 0, 0).unwrap_or_default()),
    }
}

/// The all-time period's key.
pub const ALL_TIME: &str = "all";

/// The boards an award counts on: everyone's, its workspace's and its organization's.
pub fn boards_of(workspace: Option<Uuid>, org: Option<Uuid>) -> Vec<String> {
    let mut b = vec![GLOBAL_BOARD.to_string()];
    if let Some(w) = workspace {
        b.push(workspace_board(w));
    }
    if let Some(o) = org {
        b.push(org_board(o));
    }
    b
}

pub const GLOBAL_BOARD: &str = "global";

pub fn workspace_board(ws: Uuid) -> String {
    format!("ws:{ws}")
}

pub fn org_board(org: Uuid) -> String {
    format!("org:{org}")
}

/// Every (board, period) an award made at `at` adds to.
pub fn award_cells(
    workspace: Option<Uuid>,
    org: Option<Uuid>,
    at: DateTime<Utc>,
) -> Vec<(String, String)> {
    let periods = [ALL_TIME.to_string(), week_of(at).key, month_of(at).key];
    boards_of(workspace, org)
        .into_iter()
        .flat_map(|b| periods.iter().map(move |p| (b.clone(), p.clone())))
        .collect()
}

pub fn day(at: DateTime<Utc>) -> String {
    at.date_naive().format("%Y-%m-%d").to_string()
}

/// The calendar date at `at` in `tz` (UTC when unset): a person's day, for streaks.
pub fn local_date(at: DateTime<Utc>, tz: Option<Tz>) -> NaiveDate {
    match tz {
        Some(tz) => at.with_timezone(&tz).date_naive(),
        None => at.date_naive(),
    }
}

/// [`local_date`] as a mark value (`YYYY-MM-DD`).
pub fn local_day(at: DateTime<Utc>, tz: Option<Tz>) -> String {
    local_date(at, tz).format("%Y-%m-%d").to_string()
}

/// A time zone setting: an IANA name such as `Europe/Berlin` (or `UTC`).
pub fn parse_time_zone(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        format!("{name:?} is not an IANA time zone name such as Europe/Berlin or America/New_York")
    })
}

/// What unlocks an achievement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Rule {
    /// At least `at_least` distinct marks of `count`.
    Count { count: String, at_least: u32 },
    /// Active this many consecutive days (ending on the last active day).
    Streak { streak: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Achievement {
    pub key: String,
    pub title: String,
    pub description: String,
    pub points: u32,
    pub rule: Rule,
}

#[derive(Deserialize)]
struct CatalogFile {
    achievements: Vec<Achievement>,
}

/// The achievement catalog shipped in the repo (its tests keep it valid).
pub fn catalog() -> &'static [Achievement] {
    static CATALOG: OnceLock<Vec<Achievement>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        serde_json::from_str::<CatalogFile>(include_str!("../progress/achievements.json"))
            .map(|c| c.achievements)
            .unwrap_or_else(|e| {
                eprintln!("achievement catalog: {e}");
                Vec::new()
            })
    })
}

/// A user's counters: distinct marks per counter, and their active days.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub counts: BTreeMap<String, u64>,
    pub days: BTreeSet<NaiveDate>,
}

impl Tally {
    /// The longest run of consecutive active days.
    pub fn best_streak(&self) -> u32 {
        let mut best = 0;
        let mut run = 0;
        let mut prev: Option<NaiveDate> = None;
        for d in &self.days {
            run = match prev {
                Some(p) if p.succ_opt() == Some(*d) => run + 1,
                _ => 1,
            };
            best = best.max(run);
            prev = Some(*d);
        }
        best
    }

    /// The run of consecutive active days that ends today or yesterday (0 if none).
    pub fn current_streak(&self, today: NaiveDate) -> u32 {
        let Some(last) = self.days.iter().next_back().copied() else {
            return 0;
        };
        // A day counted ahead of today (in a zone east of the one chosen since) is today.
        let today = today.max(last);
        if last != today && last.succ_opt() != Some(today) {
            return 0;
        }
        let mut run = 0;
        let mut want = last;
        for d in self.days.iter().rev() {
            if *d != want {
                break;
            }
            run += 1;
            match want.pred_opt() {
                Some(p) => want = p,
                None => break,
            }
        }
        run
    }

    /// (value, target) of a rule for this user.
    pub fn measure(&self, rule: &Rule) -> (u64, u64) {
        match rule {
            Rule::Count { count, at_least } => (
                self.counts.get(count).copied().unwrap_or(0),
                u64::from(*at_least),
            ),
            Rule::Streak { streak } => (u64::from(self.best_streak()), u64::from(*streak)),
        }
    }

    pub fn satisfies(&self, rule: &Rule) -> bool {
        let (value, target) = self.measure(rule);
        value >= target
    }
}

/// Level `n` starts at 50·n·(n−1) points: 0, 100, 300, 600, 1000, …
pub fn level_floor(level: u32) -> i64 {
    let n = i64::from(level.max(1));
    50 * n * (n - 1)
}

pub fn level_for(points: i64) -> u32 {
    let mut level = 1u32;
    while level < 1000 && level_floor(level + 1) <= points {
        level += 1;
    }
    level
}

/// An achievement and where the user stands on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AchievementStatus {
    pub key: String,
    pub title: String,
    pub description: String,
    pub points: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlocked_at: Option<DateTime<Utc>>,
    /// Progress towards it: `value` of `target` (marks, or days of the best streak).
    pub value: u64,
    pub target: u64,
}

/// `GET /api/me/progress`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserProgress {
    pub user_id: Uuid,
    pub name: String,
    pub points: i64,
    pub level: u32,
    /// Points at which the current level started and the next one starts.
    pub level_floor: i64,
    pub next_level_at: i64,
    /// Consecutive active days ending today or yesterday (UTC days).
    pub streak_days: u32,
    pub best_streak_days: u32,
    /// Every achievement in catalog order, unlocked or not.
    pub achievements: Vec<AchievementStatus>,
}

/// One line of a points leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PointsEntry {
    pub rank: u64,
    pub user_id: Uuid,
    pub name: String,
    pub points: i64,
}

/// `GET /api/workspaces/{id}/leaderboard?window=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PointsLeaderboard {
    /// `week`, `month` or `all`.
    #[schema(value_type = crate::api::wire::Window)]
    pub window: String,
    /// Points earned since this time (absent for `all`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    pub entries: Vec<PointsEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(e: Event) -> Vec<Mark> {
        marks_of(&e, None)
    }

    #[test]
    fn co_editing_marks_everyone_it_names() {
        let (ada, bo, cy) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let m = marks(ev(
            kinds::DOC_CO_EDITED,
            Some(ada),
            json!({"doc_id": "d1", "users": [bo.to_string(), cy.to_string(), "nonsense"], "editors": 4}),
        ));
        let co: Vec<(Uuid, &str)> = m
            .iter()
            .filter(|m| m.counter == counters::CO_EDITED)
            .map(|m| (m.user, m.value.as_str()))
            .collect();
        assert_eq!(co, vec![(bo, "d1"), (cy, "d1")]);
        assert!(
            catalog().iter().any(|a| a.rule
                == Rule::Count {
                    count: counters::CO_EDITED.into(),
                    at_least: 1
                }),
            "the catalog rewards co-editing"
        );
    }

    #[test]
    fn an_active_day_is_the_day_where_the_person_is() {
        let ada = Uuid::from_u128(1);
        // 23:30 UTC on 3 December is already 4 December in Berlin and still
        // 3 December in New York.
        let mut e = ev(kinds::CHAT_MESSAGE, Some(ada), json!({"id": "m1"}));
        e.at = DateTime::parse_from_rfc3339("2026-12-03T23:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let day_of = |tz: Option<Tz>| {
            marks_of(&e, tz)
                .into_iter()
                .find(|m| m.counter == counters::ACTIVE_DAYS)
                .map(|m| m.value)
        };
        assert_eq!(day_of(None).as_deref(), Some("2026-12-03"));
        assert_eq!(
            day_of(parse_time_zone("Europe/Berlin").ok()).as_deref(),
            Some("2026-12-04")
        );
        assert_eq!(
            day_of(parse_time_zone("America/New_York").ok()).as_deref(),
            Some("2026-12-03")
        );
        assert!(parse_time_zone("Mars/Olympus").is_err());
        assert!(parse_time_zone("").is_err());
    }
    use serde_json::json;

    fn ev(kind: &str, actor: Option<Uuid>, data: serde_json::Value) -> Event {
        Event {
            id: 7,
            kind: kind.into(),
            workspace_id: Uuid::nil(),
            at: DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_default(),
            actor,
            data,
        }
    }

    #[test]
    fn the_catalog_is_valid_and_large_enough() {
        let all = catalog();
        assert!(all.len() >= 25, "{} achievements", all.len());
        let keys: BTreeSet<&str> = all.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys.len(), all.len(), "duplicate keys");
        let known = [
            counters::DOCS_CREATED,
            counters::JOBS_SUBMITTED,
            counters::JOBS_COMPLETED,
            counters::JOBS_FAILED,
            counters::BACKEND_KINDS,
            counters::OPTIMIZED_20,
            counters::BIG_JOBS,
            counters::SESSIONS_OPENED,
            counters::SCHEDULED_RUNS,
            counters::CHAT_MESSAGES,
            counters::MEMBERS_ADDED,
            counters::VERSIONS_RESTORED,
            counters::AI_QUESTIONS,
            counters::AI_SUGGESTIONS_ACCEPTED,
            counters::CO_EDITED,
            counters::QUEST_SOLVED,
            "quest_solved_beginner",
            "quest_solved_intermediate",
            "quest_solved_advanced",
        ];
        for a in all {
            assert!(a.points > 0, "{}", a.key);
            match &a.rule {
                Rule::Count { count, at_least } => {
                    assert!(known.contains(&count.as_str()), "{}: {count}", a.key);
                    assert!(*at_least >= 1, "{}", a.key);
                }
                Rule::Streak { streak } => assert!(*streak >= 2, "{}", a.key),
            }
        }
    }

    #[test]
    fn events_become_marks_for_the_person_behind_them() {
        let (ada, bo) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let job = |status_kind: &str, extra: serde_json::Value| {
            let mut data = json!({"job": {"id": "j1", "author_id": ada.to_string(),
                "backend": "emulator:qollab_falcon27", "num_qubits": 24, "schedule_id": null}});
            if let (Some(d), serde_json::Value::Object(x)) = (data.as_object_mut(), extra) {
                d.extend(x);
            }
            ev(status_kind, None, data)
        };
        let done = marks(job(
            kinds::JOB_COMPLETED,
            json!({"optimization": {"gates_before": 100, "gates_after": 80}}),
        ));
        let counters_of = |m: &[Mark]| m.iter().map(|m| m.counter.clone()).collect::<Vec<_>>();
        assert_eq!(
            counters_of(&done),
            [
                counters::JOBS_COMPLETED,
                counters::BACKEND_KINDS,
                counters::BIG_JOBS,
                counters::OPTIMIZED_20
            ],
            "no actor on a completion: no active day; {done:?}"
        );
        assert!(done.iter().all(|m| m.user == ada));
        assert_eq!(done[1].value, "emulator");
        let small_saving = marks(job(
            kinds::JOB_COMPLETED,
            json!({"optimization": {"gates_before": 100, "gates_after": 81}}),
        ));
        assert!(
            !small_saving
                .iter()
                .any(|m| m.counter == counters::OPTIMIZED_20)
        );

        let chat = marks(ev(kinds::CHAT_MESSAGE, Some(bo), json!({"id": "m1"})));
        assert_eq!(
            counters_of(&chat),
            [counters::CHAT_MESSAGES, counters::ACTIVE_DAYS]
        );
        assert_eq!(chat[1].value, "2026-12-03");
        // Creating a workspace adds its owner: not team building.
        let own = marks(ev(
            kinds::MEMBER_ADDED,
            Some(ada),
            json!({"member": {"user_id": ada.to_string()}}),
        ));
        assert!(own.is_empty(), "{own:?}");
        let added = marks(ev(
            kinds::MEMBER_ADDED,
            Some(ada),
            json!({"member": {"user_id": bo.to_string()}}),
        ));
        assert_eq!(added[0].counter, counters::MEMBERS_ADDED);
        assert!(marks(ev(kinds::PRESENCE_JOINED, Some(ada), json!({}))).is_empty());
        assert!(marks(ev("achievement.unlocked", Some(ada), json!({}))).is_empty());
    }

    #[test]
    fn streaks_and_levels() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default();
        let mut t = Tally::default();
        for s in [
            "2026-11-01",
            "2026-11-02",
            "2026-11-03",
            "2026-11-10",
            "2026-11-11",
        ] {
            t.days.insert(d(s));
        }
        assert_eq!(t.best_streak(), 3);
        assert_eq!(
            t.current_streak(d("2026-11-12")),
            2,
            "yesterday still counts"
        );
        assert_eq!(t.current_streak(d("2026-11-11")), 2);
        assert_eq!(t.current_streak(d("2026-11-13")), 0);
        // Days counted in Auckland, read after moving to Berlin where it is still the
        // day before: the run still counts.
        assert_eq!(t.current_streak(d("2026-11-10")), 2);
        assert!(t.satisfies(&Rule::Streak { streak: 3 }));
        assert!(!t.satisfies(&Rule::Streak { streak: 4 }));

        assert_eq!(level_for(0), 1);
        assert_eq!(level_for(99), 1);
        assert_eq!(level_for(100), 2);
        assert_eq!(level_for(299), 2);
        assert_eq!(level_for(300), 3);
        assert_eq!(level_floor(4), 600);
        assert_eq!(backend_kind("ideal"), "ideal");
        assert_eq!(backend_kind("ibm:ibm_kyiv"), "remote");
    }

    #[test]
    fn periods_are_calendar_weeks_from_monday_and_calendar_months() {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_default()
        };
        // Thursday 3 December 2026 → the week of Monday 30 November; December.
        let w = week_of(at("2026-12-03T22:00:00Z"));
        assert_eq!(w.key, "w2026-11-30");
        assert_eq!(w.start, at("2026-11-30T00:00:00Z"));
        assert_eq!(week_of(at("2026-11-30T00:00:00Z")).key, "w2026-11-30");
        assert_eq!(week_of(at("2026-11-29T23:59:59Z")).key, "w2026-11-23");
        let m = month_of(at("2026-12-03T22:00:00Z"));
        assert_eq!(
            (m.key.as_str(), m.start),
            ("m2026-12", at("2026-12-01T00:00:00Z"))
        );
        let ws = Uuid::nil();
        let cells = award_cells(Some(ws), None, at("2026-12-03T22:00:00Z"));
        assert_eq!(cells.len(), 6);
        assert!(cells.contains(&(format!("ws:{ws}"), "m2026-12".to_string())));
        assert!(cells.contains(&("global".to_string(), "all".to_string())));
    }
}
