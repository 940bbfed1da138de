//! Options shared by the commands that read dumps: how strictly ([`ReadArgs`]) and which
//! keys ([`FilterArgs`]).

use clap::{Args, ValueEnum};
use rdbshift::filter::Filter;
use rdbshift::format::record::Options;

/// Options shared by commands that read dumps.
#[derive(Args, Clone, Debug)]
pub struct ReadArgs {
    /// Read files whose RDB version is newer than the newest known; stops at the first
    /// unknown type or opcode, naming it and its offset.
    #[arg(long)]
    pub allow_newer: bool,
    /// Do not verify the CRC-64 checksum at the end of the file.
    #[arg(long)]
    pub no_checksum: bool,
    /// Accept a key that appears twice in one database (the last one wins, as when
    /// replaying commands)
    #[arg(long)]
    pub allow_duplicate_keys: bool,
}

impl ReadArgs {
    pub fn options(&self) -> Options {
        Options::default()
            .allow_newer(self.allow_newer)
            .no_checksum(self.no_checksum)
            .allow_duplicate_keys(self.allow_duplicate_keys)
    }
}

/// Key selection shared by inspect, info, convert, load and verify (one stage:
/// [`rdbshift::filter::Filter::judge`]).
#[derive(Args, Clone, Debug)]
pub struct FilterArgs {
    /// Only keys of this database (repeatable).
    #[arg(long = "db", value_name = "N")]
    pub dbs: Vec<u64>,
    /// Leave out the keys of this database (repeatable).
    #[arg(long = "exclude-db", value_name = "N")]
    pub exclude_dbs: Vec<u64>,
    /// Only keys matching this Redis-style glob (repeatable; any may match).
    #[arg(long = "key", value_name = "GLOB")]
    pub keys: Vec<String>,
    /// Leave out keys matching this Redis-style glob (repeatable).
    #[arg(long = "exclude-key", value_name = "GLOB")]
    pub exclude_keys: Vec<String>,
    /// Only keys of this type: string, list, set, zset, hash, stream, module, or a module
    /// type name such as ReJSON-RL (repeatable).
    #[arg(long = "type", value_name = "T", value_parser = rdbshift::filter::check_type)]
    pub types: Vec<String>,
    /// Leave out keys of this type (same names as --type; repeatable).
    #[arg(long = "exclude-type", value_name = "T", value_parser = rdbshift::filter::check_type)]
    pub exclude_types: Vec<String>,
    /// Also include keys and hash fields whose expiry has already passed (a server drops
    /// them when it loads the file). `memory` reports such keys apart either way, as
    /// memory the target will not hold.
    #[arg(long)]
    pub include_expired: bool,
    /// Keys whose name begins with FROM go out under TO and the rest of the name
    /// (repeatable; the longest FROM that matches wins; \\= for an = in FROM). The other
    /// options select by the name in the dump; a cluster slot is the new name's.
    #[arg(long = "rename-prefix", value_name = "FROM=TO", value_parser = rdbshift::rename::parse_prefix)]
    pub rename_prefixes: Vec<(Vec<u8>, Vec<u8>)>,
    /// Keys whose name matches PATTERN (literal text and * captures) go out under
    /// TEMPLATE, with $1..$9 for the captures (repeatable; the first that matches wins,
    /// before any --rename-prefix): 'user:*:profile=profile:$1'.
    #[arg(long = "rename-key", value_name = "PATTERN=TEMPLATE", value_parser = rdbshift::rename::Pattern::parse)]
    pub rename_keys: Vec<rdbshift::rename::Pattern>,
    /// The keys of db SRC go to db DST (repeatable; --db and --exclude-db select by the
    /// dump's db).
    #[arg(long = "map-db", value_name = "SRC=DST", value_parser = rdbshift::rename::parse_db)]
    pub map_dbs: Vec<(u64, u64)>,
    /// Only keys whose cluster hash slot (of the name they go out under) is in this range:
    /// A-B or A, slots 0 to 16383 (repeatable).
    #[arg(long = "slots", value_name = "A-B", value_parser = rdbshift::slot::parse_range)]
    pub slots: Vec<(u16, u16)>,
}

impl FilterArgs {
    pub fn filter(&self) -> Result<Filter, String> {
        let globs = |g: &[String]| g.iter().map(|g| g.as_bytes().to_vec()).collect();
        let rename = rdbshift::rename::Rename::new(
            self.rename_keys.clone(),
            self.rename_prefixes.clone(),
            self.map_dbs.clone(),
        )?;
        Ok(Filter {
            dbs: self.dbs.clone(),
            exclude_dbs: self.exclude_dbs.clone(),
            globs: globs(&self.keys),
            exclude_globs: globs(&self.exclude_keys),
            types: self.types.clone(),
            exclude_types: self.exclude_types.clone(),
            include_expired: self.include_expired,
            now_ms: rdbshift::filter::now_ms(),
            rename,
            slots: (!self.slots.is_empty())
                .then(|| std::sync::Arc::new(rdbshift::slot::SlotSet::of(&self.slots))),
        })
    }
}

/// `load --mode`.
#[derive(Copy, Clone, Debug, ValueEnum, PartialEq)]
pub enum LoadMode {
    /// `RESTORE` payloads for every key whose type the target loads (commands for others).
    Restore,
    /// Plain commands only.
    Commands,
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq)]
pub enum OnConflict {
    Replace,
    Skip,
    Fail,
}

impl From<OnConflict> for rdbshift::load::Conflict {
    fn from(c: OnConflict) -> Self {
        match c {
            OnConflict::Replace => rdbshift::load::Conflict::Replace,
            OnConflict::Skip => rdbshift::load::Conflict::Skip,
            OnConflict::Fail => rdbshift::load::Conflict::Fail,
        }
    }
}

/// How progress is shown (a bar on a terminal, plain lines otherwise).
#[derive(Args, Clone, Debug)]
pub struct ProgressArgs {
    /// When stderr is not a terminal (nohup, CI, a pod's log): a progress line every SECS
    /// seconds (0: none; load and verify: 10 by default, with a line at the start and at
    /// the end; the other commands: none unless asked). On a terminal a bar shows instead.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub progress_interval: Option<u64>,
}

impl ProgressArgs {
    /// The progress display; `default`: the interval of plain lines when none is given
    /// (`None`: no plain lines unless asked).
    pub fn bar(&self, default: Option<u64>) -> super::progress::Bar {
        let every = self.progress_interval.or(default).unwrap_or(0);
        super::progress::Bar::for_stderr(std::time::Duration::from_secs(every))
    }
}
