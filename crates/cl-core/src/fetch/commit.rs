//! Group commit: the files that workers wrote under DIR are made durable and renamed into
//! place together, as their outcomes arrive and whatever their order, so the disk's flushes
//! overlap the downloads and a file waiting for its turn holds no descriptor.

use crate::fetch::deliver::Outcome;
use crate::fetch::prepare::{Prepared, Written};
use crate::store::durable;

/// Commits the written files of `batch` together (see [`durable::persist_all`]) and returns
/// every input line's outcome, ready for delivery: a committed file is `Stored`, one that
/// could not be committed `Failed` (or `Fatal`, for a failure every file would meet).
pub(crate) fn commit(batch: Vec<(u64, Prepared)>) -> Vec<(u64, Outcome)> {
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut written: Vec<(u64, Written)> = Vec::new();
    for (seq, prepared) in batch {
        match prepared {
            Prepared::Settled(outcome) => outcomes.push((seq, outcome)),
            Prepared::Written(file) => written.push((seq, file)),
        }
    }
    if written.is_empty() {
        return outcomes;
    }
    let (lines, files): (Vec<u64>, Vec<Written>) = written.into_iter().unzip();
    let mut unpersisted = Vec::with_capacity(files.len());
    let mut rest = Vec::with_capacity(files.len());
    for file in files {
        unpersisted.push(file.unpersisted);
        rest.push((file.file, file.path, file.verified, file.events));
    }
    let results = durable::persist_all(unpersisted);
    for ((seq, (file, path, verified, events)), result) in lines.into_iter().zip(rest).zip(results)
    {
        let outcome = match result {
            Ok(()) => Outcome::Stored {
                file,
                path,
                verified,
                skipped: false,
                events,
            },
            Err(error) => Outcome::failed(Some(file), error),
        };
        outcomes.push((seq, outcome));
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::fetch::download::Verified;
    use crate::model::file_id::FileId;
    use crate::model::line::FileRef;
    use crate::model::principal::Principal;

    fn written(dir: &std::path::Path, id: &str) -> Written {
        let path = dir.join(format!("{id}.jsonl"));
        let (unpersisted, ()) = durable::write_unpersisted(&path, String::new, |f| {
            f.write_all(id.as_bytes()).map_err(|e| Error::io("x", e))
        })
        .unwrap();
        Written {
            file: FileRef::bare(FileId::parse(id).unwrap(), Principal::parse("ws").unwrap()),
            unpersisted,
            path,
            verified: Verified {
                bytes: id.len() as u64,
                sha256: None,
                ends_with_newline: false,
                checked: true,
            },
            events: None,
        }
    }

    #[test]
    fn written_files_are_stored_together_and_a_failure_stays_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        std::fs::create_dir(&gone).unwrap();
        let doomed = written(&gone, "c");
        std::fs::remove_dir_all(&gone).unwrap();
        let batch = vec![
            (1, Prepared::Written(written(dir.path(), "a"))),
            (2, Prepared::Settled(Outcome::Fatal(Error::Interrupted))),
            (3, Prepared::Written(doomed)),
            (4, Prepared::Written(written(dir.path(), "b"))),
        ];
        let mut outcomes = commit(batch);
        outcomes.sort_by_key(|(seq, _)| *seq);
        let kinds: Vec<(u64, &str)> = outcomes
            .iter()
            .map(|(seq, o)| {
                let kind = match o {
                    Outcome::Stored { skipped: false, .. } => "stored",
                    Outcome::Failed { .. } => "failed",
                    Outcome::Fatal(_) => "fatal",
                    _ => "other",
                };
                (*seq, kind)
            })
            .collect();
        assert_eq!(
            kinds,
            [(1, "stored"), (2, "fatal"), (3, "failed"), (4, "stored")]
        );
        assert_eq!(std::fs::read(dir.path().join("a.jsonl")).unwrap(), b"a");
        assert_eq!(std::fs::read(dir.path().join("b.jsonl")).unwrap(), b"b");
    }
}
