//! `cl-list --check`: per event type, can this key list it, and how far behind is the state?
//! For monitoring: one answer per type, in the order given, each independent of the others.

use crate::error::{Error, Result};
use crate::list::listing::Wanted;
use crate::list::paging::Pager;
use crate::model::event_types;
use crate::model::principal::Principal;
use crate::model::retention;
use crate::model::timestamps::{Timestamp, format_time};
use crate::net::retry::Retrier;
use crate::net::{Client, ListRequest, MaxEventTime};
use crate::store::checkpoint::State;
use crate::store::listed::{Listed, Reached};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// What to check.
pub struct CheckOptions {
    /// Whose files.
    pub principal: Principal,
    /// Event types, in the order the answers come.
    pub event_types: Wanted,
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
    /// Files of the type parked in the state: not delivered, an alarm until they are.
    pub parked: Vec<String>,
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

/// The answers of a check, and the types `all` brought that the API refused for this
/// principal (not answered: the key may not read them, and nobody asked for them by name).
pub struct Checked {
    /// One answer per type, in the order given.
    pub answers: Vec<Health>,
    /// Skipped types and their refusals.
    pub skipped: Vec<(String, Error)>,
}

/// Checks every event type. `message_of` words an API error for people (the CLI's hints).
pub fn check(
    client: &Client,
    retry: &Retrier,
    options: &CheckOptions,
    message_of: &dyn Fn(&Error) -> String,
) -> Result<Checked> {
    let state = options.state.as_deref().map(State::load).transpose()?;
    let listed = options
        .state
        .as_deref()
        .map(Listed::load)
        .unwrap_or_default();
    let now = Timestamp::now();
    let mut answers = Vec::with_capacity(options.event_types.names.len());
    let mut skipped = Vec::new();
    for event_type in &options.event_types.names {
        let cursor = state
            .as_ref()
            .and_then(|s| s.cursor(options.principal.as_str(), event_type))
            .map(str::to_owned);
        let newest = newest(client, retry, options, event_type, cursor.as_deref(), now);
        let parked = state
            .as_ref()
            .map(|s| {
                s.parked()
                    .filter(|(p, t, _, _)| *p == options.principal.as_str() && t == event_type)
                    .map(|(_, _, id, _)| id.to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let mut health = Health {
            event_type: event_type.clone(),
            status: Status::Ok,
            newest: None,
            newest_from: None,
            cursor,
            lag_seconds: None,
            parked,
            failure: None,
        };
        match newest {
            Err(error) if matches!(error, Error::Interrupted) => return Err(error),
            Err(error)
                if options.event_types.via_all(event_type)
                    && event_types::refusal(&error).is_some() =>
            {
                skipped.push((event_type.clone(), error));
                continue;
            }
            Err(error) => {
                health.status = Status::Error;
                health.failure = Some(Failure::Api(message_of(&error)));
            }
            Ok((newest, from)) => {
                health.newest_from = Some(from);
                health.newest = newest;
                let progress = state
                    .as_ref()
                    .and_then(|s| s.principals.get(options.principal.as_str()))
                    .and_then(|types| types.get(event_type));
                let reached = listed.reached(options.principal.as_str(), event_type);
                judge(&mut health, options, reached, now);
                if let (Some(gap), Status::Ok) =
                    (progress.and_then(|p| p.gap.as_ref()), health.status)
                {
                    health.status = Status::Behind;
                    health.failure = Some(Failure::Behind(format!(
                        "files between {} and {} were never listed: a listing started after the \
                         cursor the state delivered up to",
                        gap.from, gap.to
                    )));
                }
                if !health.parked.is_empty() && health.status == Status::Ok {
                    health.status = Status::Behind;
                    health.failure = Some(Failure::Behind(format!(
                        "{} parked in the state, not delivered: {}",
                        match health.parked.len() {
                            1 => "1 file".to_owned(),
                            n => format!("{n} files"),
                        },
                        health.parked.join(", ")
                    )));
                }
            }
        }
        answers.push(health);
    }
    Ok(Checked { answers, skipped })
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
    match retry.run(|| client.max_event_time(&options.principal, event_type))? {
        MaxEventTime::Newest(newest) => return Ok((Some(newest), "max_event_time")),
        MaxEventTime::NoData => return Ok((None, "max_event_time")),
        MaxEventTime::Unanswered => {}
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
    Ok((
        pager
            .cursor()
            .map(str::to_owned)
            .or(cursor.map(str::to_owned)),
        "listing",
    ))
}

/// Sets the lag and the verdict of a type the API answered for. With a state: a type no
/// listing has reached the end of, and nothing delivered of, is behind (the pipeline has not
/// run for it); a type listed to its end with nothing newer is caught up however old its
/// newest file (a quiet type is no alarm); files may be lost only when the last listing that
/// reached the end (else the cursor, for a state older than such records) lies beyond the
/// retention; else the lag decides.
fn judge(health: &mut Health, options: &CheckOptions, reached: Option<&Reached>, now: Timestamp) {
    if options.state.is_none() {
        return;
    }
    let behind = |health: &mut Health, why: String| {
        health.status = Status::Behind;
        health.failure = Some(Failure::Behind(why));
    };
    // Where delivery stands: the cursor, else the start of a listing that found nothing.
    let base = health
        .cursor
        .clone()
        .or_else(|| reached.map(|r| r.from.clone()));
    let Some(base) = base else {
        return behind(
            health,
            "the pipeline has not run for this type: no listing of it reached its end with \
             this state, and nothing of it is delivered"
                .to_owned(),
        );
    };
    health.lag_seconds = Some(
        match health.newest.as_deref().map(str::parse::<Timestamp>) {
            Some(Ok(newest)) => base
                .parse::<Timestamp>()
                .map_or(0, |base| newest.duration_since(base).as_secs().max(0)),
            // Never a file, or a newest time that is not a time: nothing newer is known.
            _ => 0,
        },
    );
    let last_look = reached.map_or(base.as_str(), |r| r.at.as_str());
    if let Some(gap) = retention::gap(last_look, options.retention, now) {
        let what = match reached {
            Some(_) => "the last listing of it that reached its end was",
            None => "the cursor is",
        };
        return behind(
            health,
            format!(
                "{what} {} days ago, beyond the API's retention of about {} days: files before \
                 {} may be gone",
                gap.age.as_secs() / 86_400,
                options.retention.as_secs() / 86_400,
                gap.kept_since
            ),
        );
    }
    if let (Some(max), Some(lag)) = (options.max_lag, health.lag_seconds)
        && lag as u64 > max.as_secs()
    {
        behind(
            health,
            format!(
                "{lag} s behind the newest data, more than the {} s allowed",
                max.as_secs()
            ),
        );
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
            "parked": self.parked.len(),
        })
        .to_string()
    }
}
