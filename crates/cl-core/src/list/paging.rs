//! Walking a listing page by page, following the API's own cursor: each next page is asked
//! from just before the cursor, as a resumed listing is (see [`resume_after`]), so files that
//! share the cursor's `end_time` across a page boundary are never lost to a strict `after`;
//! the ones seen already come again and are dropped by whoever prints the files.

use crate::error::{Error, Result};
use crate::model::page::Page;
use crate::model::timestamps::{Timestamp, compare_instants, format_time};
use crate::net::retry::Retrier;
use crate::net::{Client, ListRequest};
use crate::observe::{Event, Observer};
use jiff::SignedDuration;
use std::collections::HashSet;

/// Walks every page of one event type's listing, from `after` until `has_more` is false.
/// A cursor that does not advance while `has_more` is true ends the walk with an error.
pub struct Pager<'a> {
    client: &'a Client,
    retry: &'a Retrier,
    observer: &'a dyn Observer,
    /// The next page's request: its `after` moves along the cursor.
    request: ListRequest<'a>,
    pages: u64,
    files: u64,
    done: bool,
    /// The latest non-null `last_end_time` seen: the API's cursor.
    last: Option<String>,
    /// Ids of the last page's files at its cursor: the next page, asked from just before
    /// it, brings them again.
    boundary: HashSet<String>,
}

/// Where to ask from to list everything after `cursor` without losing a file that shares its
/// exact `end_time`: one microsecond before it. Files at the cursor come again (and are
/// skipped) instead of being missed when `after` is strict. An opaque cursor is used as it is.
pub fn resume_after(cursor: &str) -> String {
    match cursor.parse::<Timestamp>() {
        Ok(ts) => format_time(ts.checked_sub(SignedDuration::from_micros(1)).unwrap_or(ts)),
        Err(_) => cursor.to_owned(),
    }
}

impl<'a> Pager<'a> {
    /// Starts a walk at `first`; nothing is requested until the first call to `next`.
    pub fn new(
        client: &'a Client,
        retry: &'a Retrier,
        observer: &'a dyn Observer,
        first: ListRequest<'a>,
    ) -> Self {
        Pager {
            client,
            retry,
            observer,
            request: first,
            pages: 0,
            files: 0,
            done: false,
            last: None,
            boundary: HashSet::new(),
        }
    }

    /// Pages fetched so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Files listed so far.
    pub fn files(&self) -> u64 {
        self.files
    }

    /// The last cursor the API gave (`last_end_time`), if it gave one: the newest `end_time`
    /// listed.
    pub fn cursor(&self) -> Option<&str> {
        self.last.as_deref()
    }

    /// Where a later listing resumes once this one has ended: just before the last cursor the
    /// API gave, or the start if it gave none (nothing was found).
    pub fn resume_point(&self) -> String {
        match &self.last {
            Some(cursor) => resume_after(cursor),
            None => self.request.after.clone(),
        }
    }

    fn fetch(&mut self) -> Result<Page> {
        let request = &self.request;
        let mut page = self.retry.run(|| self.client.list_page(request))?;
        self.pages += 1;
        // The cursor must pass the one before it (or the start, on the first page).
        let previous = self.last.clone().unwrap_or_else(|| request.after.clone());
        if let Some(last) = &page.last_end_time {
            self.last = Some(last.clone());
        }
        let boundary = match &page.last_end_time {
            Some(cursor) => page
                .files
                .iter()
                .filter(|f| {
                    f.end_time()
                        .and_then(|end| compare_instants(&end, cursor))
                        .is_none_or(|o| o.is_ge())
                })
                .map(|f| f.id.clone())
                .collect(),
            None => HashSet::new(),
        };
        page.files.retain(|f| !self.boundary.contains(&f.id));
        self.boundary = boundary;
        self.files += page.files.len() as u64;
        self.observer.event(&Event::Page {
            event_type: request.event_type,
            number: self.pages,
            after: &request.after,
            files: page.files.len(),
            total: self.files,
        });
        if page.has_more {
            match &page.last_end_time {
                Some(next) if advances(&previous, next) => {
                    self.request.after = resume_after(next);
                }
                stuck => {
                    // Asked from just before a cursor, a page wholly at that cursor means a
                    // group of files sharing one end_time is larger than the page.
                    let tied = match (self.pages > 1, stuck) {
                        (true, Some(next)) if next == &previous => format!(
                            " or more than {} files share that end_time: a larger --limit may \
                             get past them",
                            request.limit
                        ),
                        _ => String::new(),
                    };
                    return Err(Error::Protocol {
                        context: request.context(),
                        message: format!(
                            "server fault: has_more is true but the cursor did not advance \
                             (last_end_time {}){tied}; stopping instead of asking again",
                            stuck.as_deref().unwrap_or("null")
                        ),
                    });
                }
            }
        } else {
            self.done = true;
        }
        Ok(page)
    }
}

impl Iterator for Pager<'_> {
    type Item = Result<Page>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let page = self.fetch();
        if page.is_err() {
            self.done = true;
        }
        Some(page)
    }
}

/// True when `next` is later than `current`; compared as times when both are, as text if not.
fn advances(current: &str, next: &str) -> bool {
    match compare_instants(current, next) {
        Some(order) => order.is_lt(),
        None => next != current,
    }
}

#[cfg(test)]
mod tests {
    use super::{advances, resume_after};

    #[test]
    fn resume_starts_a_microsecond_early() {
        assert_eq!(
            resume_after("2026-07-16T00:05:48.988870+00:00"),
            "2026-07-16T00:05:48.988869Z"
        );
        assert_eq!(resume_after("opaque"), "opaque");
    }

    #[test]
    fn cursor_must_move_forward() {
        assert!(advances(
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00.000001+00:00"
        ));
        assert!(!advances(
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00+00:00"
        ));
        assert!(!advances("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"));
        assert!(advances("opaque-1", "opaque-2"));
        assert!(!advances("opaque-1", "opaque-1"));
    }
}
