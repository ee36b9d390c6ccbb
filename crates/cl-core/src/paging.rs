//! Walking a listing page by page, following the API's own cursor.

use crate::api::{Client, ListRequest};
use crate::error::{Error, Result};
use crate::observe::{Event, Observer};
use crate::page::Page;
use crate::retry::Retrier;
use crate::timestamps::compare_instants;

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
    /// The latest non-null `last_end_time` seen.
    last: Option<String>,
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

    /// Where a later listing resumes once this one has ended: the last cursor the API gave,
    /// or the start if it gave none (nothing was found).
    pub fn resume_point(&self) -> &str {
        self.last.as_deref().unwrap_or(&self.request.after)
    }

    fn fetch(&mut self) -> Result<Page> {
        let request = &self.request;
        let page = self.retry.run(|| self.client.list_page(request))?;
        self.pages += 1;
        if let Some(last) = &page.last_end_time {
            self.last = Some(last.clone());
        }
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
                Some(next) if advances(&request.after, next) => self.request.after = next.clone(),
                stuck => {
                    return Err(Error::Protocol {
                        context: request.describe(),
                        message: format!(
                            "server fault: has_more is true but the cursor did not advance \
                             (last_end_time {}); stopping instead of asking again",
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
    use super::advances;

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
