//! The input side of the cl-fetch pipeline: a thread that reads lines in order, settles
//! what needs no download (bad lines, repeats, files an earlier run delivered) and queues the
//! rest for the workers, within the window.

use crate::error::{Error, LineError, quote};
use crate::fetch::deliver::Outcome;
use crate::fetch::prepare::Prepared;
use crate::fetch::run::{Destination, Input, Task, Window};
use crate::model::file_id::FileId;
use crate::model::line::{MAX_LINE, RawLine, parse_line, read_line};
use crate::model::principal::Principal;
use crate::observe::{Event, Observer};
use crate::store::checkpoint::State;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;

/// Reads the input in order, settles what needs no download (bad lines, repeats, files an
/// earlier run delivered) and queues the rest for the workers.
pub(crate) struct Reader {
    pub(crate) observer: Arc<dyn Observer>,
    pub(crate) principal: Option<Principal>,
    pub(crate) earlier: Option<Arc<State>>,
    pub(crate) destination: Destination,
    pub(crate) window: Arc<Window>,
    pub(crate) cancel: Arc<AtomicBool>,
    pub(crate) tasks: Sender<Task>,
    pub(crate) done: Sender<(u64, Prepared)>,
    /// The sequence number of the last line taken.
    pub(crate) seq: u64,
    /// Files taken so far, so a repeated line is delivered once.
    pub(crate) seen: HashSet<(Principal, FileId)>,
    /// Fields already warned about: once each per run.
    pub(crate) warned: HashSet<&'static str>,
    /// Ids to park instead of fetching.
    pub(crate) park: HashSet<String>,
}

impl Reader {
    pub(crate) fn run(mut self, input: Input) {
        match input {
            Input::Arguments(args) => {
                for (i, arg) in args.into_iter().enumerate() {
                    let n = i as u64 + 1;
                    if !self.take(format!("argument {n}"), n, Ok(arg)) {
                        return;
                    }
                }
            }
            Input::Lines(mut reader) => {
                let mut buf = Vec::new();
                for n in 1u64.. {
                    let line =
                        match read_line(&mut *reader, &mut buf) {
                            Ok(None) => return,
                            Ok(Some(RawLine::Text(text))) if n == 1 => {
                                // Windows tools (PowerShell) start their output with a BOM.
                                Ok(text
                                    .strip_prefix('\u{feff}')
                                    .map(str::to_owned)
                                    .unwrap_or(text))
                            }
                            Ok(Some(RawLine::Text(text))) => Ok(text),
                            Ok(Some(RawLine::TooLong { start })) => Err(LineError::Invalid(
                                format!("longer than {} KiB: {}", MAX_LINE >> 10, quote(&start)),
                            )),
                            Ok(Some(RawLine::NotUtf8)) => Err("not valid UTF-8".into()),
                            Err(e) => {
                                self.seq += 1;
                                let fatal = Outcome::Fatal(Error::io("reading the input", e));
                                let fatal = Prepared::Settled(fatal);
                                let _ = self.done.send((self.seq, fatal));
                                return;
                            }
                        };
                    if !self.take(format!("line {n}"), n, line) {
                        return;
                    }
                }
            }
        }
    }

    /// Takes one line, in input order. False when the run is over.
    fn take(&mut self, label: String, number: u64, line: Result<String, LineError>) -> bool {
        let parsed = match line.and_then(|text| parse_line(&text, self.principal.as_ref())) {
            Ok(None) => return true,
            Ok(Some(parsed)) => parsed,
            Err(problem) => {
                let error = Error::Input { label, problem };
                return self.settle(Outcome::Failed { file: None, error });
            }
        };
        for ignored in &parsed.ignored {
            if self.warned.insert(ignored.field) {
                let message = format!(
                    "{label}: \"{}\": {} (said once per field)",
                    ignored.field, ignored.why
                );
                self.observer.event(&Event::Warning { message: &message });
            }
        }
        let file = parsed.file;
        let path = match self.destination.path_of(&file) {
            Ok(path) => path,
            Err(why) => {
                let problem = LineError::Invalid(why);
                let error = Error::Input { label, problem };
                let failed = Outcome::Failed {
                    file: Some(file),
                    error,
                };
                return self.settle(failed);
            }
        };
        // Only a line that could be taken marks its file as taken.
        if !self.seen.insert((file.principal.clone(), file.id.clone())) {
            return self.settle(Outcome::Duplicate {
                id: file.id,
                line: number,
            });
        }
        if self.park.contains(file.id.as_str()) {
            return self.settle(Outcome::ParkAsked { file });
        }
        if self
            .earlier
            .as_ref()
            .is_some_and(|s| s.delivered_before(&file))
        {
            return self.settle(Outcome::AlreadyDelivered { file });
        }
        self.seq += 1;
        if !self.window.wait_turn(self.seq, &self.cancel) {
            return false;
        }
        self.observer.event(&Event::Queued {
            bytes: file.file_size,
        });
        let task = Task {
            seq: self.seq,
            file,
            path,
        };
        self.tasks.send(task).is_ok()
    }

    /// Hands an outcome that needs no download to delivery, in its turn.
    fn settle(&mut self, outcome: Outcome) -> bool {
        self.seq += 1;
        if !self.window.wait_turn(self.seq, &self.cancel) {
            return false;
        }
        self.done
            .send((self.seq, Prepared::Settled(outcome)))
            .is_ok()
    }
}
