//! The simulated tenant: principals, event types and files, all derived from a seed.

use crate::content::{self, Framing, Owner};
use crate::rng::Rng;
use bytes::Bytes;
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// Event types served under `workspaces`.
pub const WORKSPACE_TYPES: &[&str] = &[
    "AUTH_LOG",
    "APP_AUTH_LOG",
    "APP_LOG",
    "AUDIT_LOG",
    "CODEX_LOG",
    "CODEX_SECURITY_LOG",
    "CONVERSATION_MESSAGE",
    "CUSTOM_AGENTS_LOG",
    "CHATGPT_PLUGIN_SPREADSHEET",
];
/// Event types served under `organizations`. `AUTH_LOG` is in both, as the vendor's
/// quickstart lists it for an org id.
pub const ORG_TYPES: &[&str] = &["AUTH_LOG", "COSTS"];

/// Generated content kept in memory, in bytes, before the cache starts over.
const CACHE_LIMIT: usize = 3 << 30;

/// What to generate.
#[derive(Clone, Debug)]
pub struct DatasetConfig {
    /// Everything below follows from it.
    pub seed: u64,
    /// Files per event type and principal.
    pub files_per_type: u32,
    /// Mean file size in bytes.
    pub file_size: u64,
    /// How far sizes spread around the mean, in percent (50: from half to one and a half).
    pub size_spread: u8,
    /// `end_time` of each type's first file (before jitter).
    pub start: Timestamp,
    /// Time between consecutive files of one type; also the span of a file's events.
    pub interval: SignedDuration,
    /// The workspace id served.
    pub workspace: String,
    /// The organization id served.
    pub org: String,
    /// Every Nth file of a type lacks its final newline (0: none does).
    pub unterminated_every: u32,
    /// How events are laid out in a file.
    pub framing: Framing,
    /// Files of one type come in groups of this many sharing one `end_time` (0 or 1: every
    /// file has its own), as an integration reports the real service does.
    pub tied: u32,
    /// Event types served with no file at all: a tenant that never uses them.
    pub quiet: Vec<String>,
    /// Each file after the first of its type begins with the last this many events of the
    /// one before, byte for byte: the API's at-least-once delivery of events.
    pub repeat: u32,
    /// Ids given, in order, to the workspace's first AUTH_LOG files in place of generated
    /// ones: ids a file system may refuse or take for one another, for tests.
    pub ids: Vec<String>,
}

impl DatasetConfig {
    /// Defaults for `seed`: 50 files of about 4 KiB per type, five minutes apart, the last
    /// ones a little before now, so `--after 24h` finds them all.
    pub fn new(seed: u64) -> Self {
        let files_per_type = 50;
        let interval = SignedDuration::from_mins(5);
        let mut rng = Rng::new(seed, b"principals");
        DatasetConfig {
            seed,
            files_per_type: files_per_type as u32,
            file_size: 4096,
            size_spread: 50,
            start: Self::start_before_now(files_per_type as u32, interval),
            interval,
            workspace: rng.uuid(),
            org: format!("org-{}", rng.base32(24)),
            unterminated_every: 0,
            framing: Framing::default(),
            tied: 0,
            quiet: Vec::new(),
            repeat: 0,
            ids: Vec::new(),
        }
    }
}

impl DatasetConfig {
    /// A start that puts `files` files, `interval` apart, a little before now: on the hour, an
    /// hour's margin or more, so `--after 24h` finds them all.
    pub fn start_before_now(files: u32, interval: SignedDuration) -> Timestamp {
        let span = interval * (i64::from(files) + 12) as i32;
        let start = (Timestamp::now() - span).as_second();
        Timestamp::from_second(start - start.rem_euclid(3600)).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// A start that puts `listed` files, `interval` apart, before `now` and every later one
    /// after it: file `listed + k` ends between `k + ½` and `k + 1` intervals after `now`
    /// (each file's end_time is its slot plus up to half an interval), so the listing, which
    /// shows only files that have ended, gains one file per interval.
    pub fn start_arriving(listed: u32, interval: SignedDuration, now: Timestamp) -> Timestamp {
        now - interval * i64::from(listed) as i32 + interval / 2
    }
}

/// Which path segment a principal lives under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `workspaces`
    Workspaces,
    /// `organizations`
    Organizations,
}

impl Scope {
    /// From a path segment.
    pub fn from_segment(segment: &str) -> Option<Self> {
        match segment {
            "workspaces" => Some(Scope::Workspaces),
            "organizations" => Some(Scope::Organizations),
            _ => None,
        }
    }

    /// The event types this scope serves.
    pub fn event_types(self) -> &'static [&'static str] {
        match self {
            Scope::Workspaces => WORKSPACE_TYPES,
            Scope::Organizations => ORG_TYPES,
        }
    }

    /// Its path segment.
    pub fn segment(self) -> &'static str {
        match self {
            Scope::Workspaces => "workspaces",
            Scope::Organizations => "organizations",
        }
    }

    /// The other scope.
    pub fn other(self) -> Self {
        match self {
            Scope::Workspaces => Scope::Organizations,
            Scope::Organizations => Scope::Workspaces,
        }
    }

    /// Singular noun for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Scope::Workspaces => "workspace",
            Scope::Organizations => "organization",
        }
    }
}

/// One log file as listed.
#[derive(Clone, Debug)]
pub struct FileMeta {
    /// `eclf_…`
    pub id: String,
    /// Owner.
    pub principal: String,
    /// Its event type.
    pub event_type: String,
    /// Its `end_time`.
    pub end_time: Timestamp,
    /// `end_time` as the API writes it: microseconds and `+00:00`.
    pub end_time_text: String,
    /// A file name as the API gives it.
    pub file_name: String,
    /// Size the generator aims at.
    target: u64,
    /// The span the file's events cover.
    span: SignedDuration,
    /// Whether the last line lacks its newline.
    unterminated: bool,
    /// Its place in its event type's listing, from 0.
    pub index: u32,
}

/// Every file of the tenant, and their contents on demand.
pub struct Dataset {
    config: DatasetConfig,
    files: HashMap<(String, String), Vec<FileMeta>>,
    by_id: HashMap<String, (String, String, usize)>,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    content: HashMap<String, Bytes>,
    bytes: usize,
    digests: HashMap<String, (u64, String)>,
}

impl Dataset {
    /// Lays out every file's metadata; contents are generated when first asked for.
    pub fn new(config: DatasetConfig) -> Self {
        let mut files = HashMap::new();
        let mut by_id = HashMap::new();
        for (principal, scope) in [
            (&config.workspace, Scope::Workspaces),
            (&config.org, Scope::Organizations),
        ] {
            for &event_type in scope.event_types() {
                let count = match config.quiet.iter().any(|q| q == event_type) {
                    true => 0,
                    false => config.files_per_type,
                };
                let mut list: Vec<FileMeta> = (0..count)
                    .map(|i| file_meta(&config, principal, event_type, i))
                    .collect();
                if principal == &config.workspace && event_type == "AUTH_LOG" {
                    for (file, id) in list.iter_mut().zip(&config.ids) {
                        file.file_name = file.file_name.replace(&file.id, id);
                        file.id = id.clone();
                    }
                }
                for (i, f) in list.iter().enumerate() {
                    by_id.insert(f.id.clone(), (principal.clone(), event_type.to_owned(), i));
                }
                files.insert((principal.clone(), event_type.to_owned()), list);
            }
        }
        Dataset {
            config,
            files,
            by_id,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// What it was generated from.
    pub fn config(&self) -> &DatasetConfig {
        &self.config
    }

    /// The scope a principal id belongs to, if it is served.
    pub fn scope_of(&self, principal: &str) -> Option<Scope> {
        if principal == self.config.workspace {
            Some(Scope::Workspaces)
        } else if principal == self.config.org {
            Some(Scope::Organizations)
        } else {
            None
        }
    }

    /// All files of one principal and event type, in `end_time` order.
    pub fn files(&self, principal: &str, event_type: &str) -> &[FileMeta] {
        self.files
            .get(&(principal.to_owned(), event_type.to_owned()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// A file by id, if `principal` owns it.
    pub fn file(&self, principal: &str, id: &str) -> Option<&FileMeta> {
        self.file_by_id(id).filter(|f| f.principal == principal)
    }

    /// A file by id, whichever principal owns it.
    pub fn file_by_id(&self, id: &str) -> Option<&FileMeta> {
        let (owner, event_type, i) = self.by_id.get(id)?;
        Some(&self.files[&(owner.clone(), event_type.clone())][*i])
    }

    /// The bytes of a file.
    pub fn content(&self, file: &FileMeta) -> Bytes {
        if let Some(hit) = self.lock().content.get(&file.id) {
            return hit.clone();
        }
        let mut generated = self.own_events(file);
        if self.config.repeat > 0 && file.index > 0 {
            let before = &self.files(&file.principal, &file.event_type)[file.index as usize - 1];
            let theirs = self.own_events(before);
            let lines: Vec<&[u8]> = theirs.split_inclusive(|b| *b == b'\n').collect();
            let from = lines.len().saturating_sub(self.config.repeat as usize);
            let mut repeated = lines[from..].concat();
            repeated.extend_from_slice(&generated);
            generated = repeated;
        }
        if file.unterminated {
            generated.pop();
        }
        // Whitespace from a generator of its own: the events stay those of JSON Lines.
        let mut spacing = Rng::new(self.config.seed, format!("{}/framing", file.id).as_bytes());
        let bytes = Bytes::from(content::frame(generated, self.config.framing, &mut spacing));
        let mut cache = self.lock();
        if cache.bytes + bytes.len() > CACHE_LIMIT {
            cache.content.clear();
            cache.bytes = 0;
        }
        cache.bytes += bytes.len();
        cache.content.insert(file.id.clone(), bytes.clone());
        bytes
    }

    /// The events a file holds of its own, as JSON Lines.
    fn own_events(&self, file: &FileMeta) -> Vec<u8> {
        let owner = Owner {
            id: &file.principal,
            kind: self
                .scope_of(&file.principal)
                .map_or("workspace", Scope::noun),
        };
        let mut rng = Rng::new(self.config.seed, file.id.as_bytes());
        content::generate(
            &mut rng,
            &owner,
            &file.event_type,
            file.end_time,
            file.span,
            file.target,
        )
    }

    /// `(file_size, file_sha256)` of a file.
    pub fn digest(&self, file: &FileMeta) -> (u64, String) {
        if let Some(hit) = self.lock().digests.get(&file.id) {
            return hit.clone();
        }
        let bytes = self.content(file);
        let hex: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let digest = (bytes.len() as u64, hex);
        self.lock().digests.insert(file.id.clone(), digest.clone());
        digest
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn file_meta(config: &DatasetConfig, principal: &str, event_type: &str, i: u32) -> FileMeta {
    let salt = format!("{principal}/{event_type}/{i}");
    let mut rng = Rng::new(config.seed, salt.as_bytes());
    let interval_us = config.interval.as_micros().max(2) as u64;
    let mut jitter = SignedDuration::from_micros(rng.below(interval_us / 2) as i64);
    // A group of tied files takes the time of its first (the same rolls, so untied data
    // stays as it was).
    let slot = match config.tied {
        0 | 1 => i,
        n => {
            let first = i - i % n;
            let salt = format!("{principal}/{event_type}/{first}");
            let mut first_rng = Rng::new(config.seed, salt.as_bytes());
            jitter = SignedDuration::from_micros(first_rng.below(interval_us / 2) as i64);
            first
        }
    };
    let exact = config.start + config.interval * slot as i32 + jitter;
    // The API's times carry microseconds; a finer end_time would not match its own text.
    let end_time = Timestamp::from_microsecond(exact.as_microsecond()).unwrap_or(exact);
    let id = format!("eclf_{}", rng.base32(26));
    let spread = config.file_size * u64::from(config.size_spread.min(100)) / 100;
    let target = config.file_size - spread + rng.below(2 * spread + 1);
    FileMeta {
        file_name: format!(
            "{event_type}_{}_{id}.jsonl",
            end_time.strftime("%Y%m%dT%H%M%SZ")
        ),
        end_time_text: end_time.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string(),
        id,
        principal: principal.to_owned(),
        event_type: event_type.to_owned(),
        end_time,
        target: target.max(1),
        span: config.interval,
        index: i,
        unterminated: config.unterminated_every > 0
            && (i + 1).is_multiple_of(config.unterminated_every),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DatasetConfig {
        DatasetConfig {
            start: "2026-07-16T00:00:00Z".parse().unwrap(),
            files_per_type: 20,
            ..DatasetConfig::new(3)
        }
    }

    #[test]
    fn an_arriving_series_ends_listed_files_before_now_and_one_more_each_interval() {
        let now: Timestamp = "2026-07-16T12:00:00Z".parse().unwrap();
        let interval = SignedDuration::from_secs(60);
        for (listed, arriving) in [(0, 3), (5, 3), (50, 20)] {
            let data = Dataset::new(DatasetConfig {
                start: DatasetConfig::start_arriving(listed, interval, now),
                interval,
                files_per_type: listed + arriving,
                ..DatasetConfig::new(3)
            });
            let ws = data.config().workspace.clone();
            let files = data.files(&ws, "AUTH_LOG");
            let ended = files.iter().filter(|f| f.end_time <= now).count();
            assert_eq!(
                ended, listed as usize,
                "{listed} listed, {arriving} arriving"
            );
            for (k, f) in files[listed as usize..].iter().enumerate() {
                let after = f.end_time - now;
                let k = k as i32;
                assert!(
                    after > interval * k + interval / 2 - SignedDuration::from_micros(1)
                        && after < interval * (k + 1),
                    "arriving file {k} ends {after:?} after start"
                );
            }
        }
    }

    #[test]
    fn deterministic_ordered_and_unique() {
        let a = Dataset::new(config());
        let b = Dataset::new(config());
        let ws = a.config().workspace.clone();
        let fa = a.files(&ws, "AUTH_LOG");
        let fb = b.files(&ws, "AUTH_LOG");
        assert_eq!(fa.len(), 20);
        assert!(fa.windows(2).all(|w| w[0].end_time < w[1].end_time));
        assert_eq!(fa[7].id, fb[7].id);
        assert_eq!(a.digest(&fa[7]), b.digest(&fb[7]));
        assert_eq!(
            a.by_id.len(),
            20 * (WORKSPACE_TYPES.len() + ORG_TYPES.len())
        );
        assert!(a.files(&ws, "COSTS").is_empty());
        assert!(a.file(&a.config().org, &fa[0].id).is_none());
    }

    #[test]
    fn tied_files_share_their_group_s_end_time_and_keep_their_ids() {
        let untied = Dataset::new(config());
        let tied = Dataset::new(DatasetConfig {
            tied: 3,
            ..config()
        });
        let ws = untied.config().workspace.clone();
        let (u, t) = (untied.files(&ws, "AUTH_LOG"), tied.files(&ws, "AUTH_LOG"));
        assert!(u.iter().zip(t).all(|(a, b)| a.id == b.id));
        for group in t.chunks(3) {
            assert!(group.iter().all(|f| f.end_time == group[0].end_time));
        }
        assert!(t.windows(2).all(|w| w[0].end_time <= w[1].end_time));
        assert!(t[2].end_time < t[3].end_time);
        assert_eq!(
            t[3].end_time, u[3].end_time,
            "a group takes its first file's time"
        );
    }
}
