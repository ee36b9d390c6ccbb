//! `cl-list --check`: per event type, can this key list it, and how far behind is the state?
//! For monitoring: one answer per type, in the order given, each independent of the others.

use crate::api::{Client, ListRequest};
use crate::checkpoint::State;
use crate::error::{Error, Result};
use crate::paging::Pager;
use crate::principal::Principal;
use crate::retention;
use crate::retry::Retrier;
use crate::timestamps::{Timestamp, format_time};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// What to check.
pub struct CheckOptions {
    /// Whose files.
    pub principal: Principal,
    /// Event types, in the order the answers come.
    pub event_types: Vec<String>,
    /// The state file whose cursors are compared with the newest data.
    pub state: Option<PathBuf>,
    /// A larger lag is `behind`.
    pub max_lag: Option<Duration>,
    /// How long the API keeps files: a cursor older than that is `behind` (files are gone).
    pub retention: Duration,
}

/// The verdict on one event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Listable, and not behind.
    Ok,
    /// Listable, but the state lags more than allowed, or reaches past the retention.
    Behind,
    /// The API refused or failed.
    Error,
}

/// The answer for one event type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The event type.
    pub event_type: String,
    /// The verdict.
    pub status: Status,
    /// The newest time the API reports for the type, if it has data.
    pub newest: Option<String>,
    /// Where `newest` came from: `max_event_time`, or `listing` where that endpoint is missing.
    pub newest_from: Option<&'static str>,
    /// The state's cursor for the type.
    pub cursor: Option<String>,
    /// `newest − cursor`, in whole seconds, never below zero.
    pub lag_seconds: Option<i64>,
    /// Why it is not `ok`.
    pub failure: Option<Failure>,
}

/// Why a type is not `ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The API refused or failed.
    Api(String),
    /// Behind, and why, in words.
    Behind(String),
}

/// Checks every event type. `describe` words an API error for people (the CLI's hints).
pub fn check(
    client: &Client,
    retry: &Retrier,
    options: &CheckOptions,
    describe: &dyn Fn(&Error) -> String,
) -> Result<Vec<Health>> {
    let state = options.state.as_deref().map(State::load).transpose()?;
    let now = Timestamp::now();
    let mut answers = Vec::with_capacity(options.event_types.len());
    for event_type in &options.event_types {
        let cursor = state
            .as_ref()
            .and_then(|s| s.cursor(options.principal.as_str(), event_type))
            .map(str::to_owned);
        let newest = newest(client, retry, options, event_type, cursor.as_deref(), now);
        let mut health = Health {
            event_type: event_type.clone(),
            status: Status::Ok,
            newest: None,
            newest_from: None,
            cursor,
            lag_seconds: None,
            failure: None,
        };
        match newest {
            Err(error) if matches!(error, Error::Interrupted) => return Err(error),
            Err(error) => {
                health.status = Status::Error;
                health.failure = Some(Failure::Api(describe(&error)));
            }
            Ok((newest, from)) => {
                health.newest_from = Some(from);
                health.newest = newest;
                judge(&mut health, options, now);
            }
        }
        answers.push(health);
    }
    Ok(answers)
}

/// The type's newest time, from `max_event_time`, else from listing to the end.
fn newest(
    client: &Client,
    retry: &Retrier,
    options: &CheckOptions,
    event_type: &str,
    cursor: Option<&str>,
    now: Timestamp,
) -> Result<(Option<String>, &'static str)> {
    if let Some(newest) = retry.run(|| client.max_event_time(&options.principal, event_type))? {
        return Ok((newest, "max_event_time"));
    }
    // No freshness endpoint: walk the listing from the cursor (or as far back as files are
    // kept) to its end; the last page's cursor is the newest end_time.
    let after = match cursor {
        Some(cursor) => cursor.to_owned(),
        None => {
            let back = jiff::SignedDuration::try_from(options.retention).unwrap_or_default();
            let since = now.checked_sub(back).unwrap_or(now);
            format_time(Timestamp::from_second(since.as_second()).unwrap_or(since))
        }
    };
    // Its pages are a means here, not news: they are not reported.
    let mut pager = Pager::new(
        client,
        retry,
        &crate::observe::Silent,
        ListRequest {
            principal: &options.principal,
            event_type,
            after: after.clone(),
            before: None,
            limit: 100,
        },
    );
    for page in pager.by_ref() {
        page?;
    }
    let last = pager.resume_point();
    Ok((
        (last != after)
            .then(|| last.to_owned())
            .or(cursor.map(str::to_owned)),
        "listing",
    ))
}

/// Sets the lag and the verdict of a type the API answered for.
fn judge(health: &mut Health, options: &CheckOptions, now: Timestamp) {
    let (Some(newest), Some(cursor)) = (&health.newest, &health.cursor) else {
        if options.state.is_some() && health.cursor.is_none() && health.newest.is_some() {
            health.status = Status::Behind;
            health.failure = Some(Failure::Behind(
                "the state has no cursor for this type yet: no whole page of it delivered"
                    .to_owned(),
            ));
        }
        return;
    };
    if let (Ok(newest), Ok(cursor)) = (newest.parse::<Timestamp>(), cursor.parse::<Timestamp>()) {
        health.lag_seconds = Some(newest.duration_since(cursor).as_secs().max(0));
    }
    if let Some(gap) = retention::gap(cursor, options.retention, now) {
        health.status = Status::Behind;
        health.failure = Some(Failure::Behind(format!(
            "the cursor is {} days old, beyond the API's retention of about {} days: files \
             before {} are gone",
            gap.age.as_secs() / 86_400,
            options.retention.as_secs() / 86_400,
            gap.kept_since
        )));
    } else if let (Some(max), Some(lag)) = (options.max_lag, health.lag_seconds)
        && lag as u64 > max.as_secs()
    {
        health.status = Status::Behind;
        health.failure = Some(Failure::Behind(format!(
            "{lag} s behind the newest data, more than the {} s allowed",
            max.as_secs()
        )));
    }
}

impl Health {
    /// The answer as one JSON line (without its newline).
    pub fn to_json_line(&self, principal: &Principal) -> String {
        let status = match self.status {
            Status::Ok => "ok",
            Status::Behind => "behind",
            Status::Error => "error",
        };
        let message = match &self.failure {
            Some(Failure::Api(m) | Failure::Behind(m)) => Value::from(m.as_str()),
            None => Value::Null,
        };
        json!({
            "event_type": self.event_type,
            "principal": principal.as_str(),
            "status": status,
            "newest": self.newest,
            "cursor": self.cursor,
            "lag_seconds": self.lag_seconds,
            "message": message,
            "newest_from": self.newest_from,
        })
        .to_string()
    }
}
