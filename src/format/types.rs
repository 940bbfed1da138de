//! Type and opcode numbers (`src/rdb.h`), and the names we show for them.

use super::header::{Dialect, Header};

pub const STRING: u8 = 0;
pub const LIST: u8 = 1;
pub const SET: u8 = 2;
pub const ZSET: u8 = 3;
pub const HASH: u8 = 4;
pub const ZSET_2: u8 = 5;
pub const MODULE_PRE_GA: u8 = 6;
pub const MODULE_2: u8 = 7;
pub const HASH_ZIPMAP: u8 = 9;
pub const LIST_ZIPLIST: u8 = 10;
pub const SET_INTSET: u8 = 11;
pub const ZSET_ZIPLIST: u8 = 12;
pub const HASH_ZIPLIST: u8 = 13;
pub const LIST_QUICKLIST: u8 = 14;
pub const STREAM_LISTPACKS: u8 = 15;
pub const HASH_LISTPACK: u8 = 16;
pub const ZSET_LISTPACK: u8 = 17;
pub const LIST_QUICKLIST_2: u8 = 18;
pub const STREAM_LISTPACKS_2: u8 = 19;
pub const SET_LISTPACK: u8 = 20;
pub const STREAM_LISTPACKS_3: u8 = 21;
/// Redis: hash with field TTLs, pre-GA (7.4 RC). Valkey: `HASH_2` (field TTLs, 9.0).
pub const HASH_METADATA_PRE_GA: u8 = 22;
pub const VALKEY_HASH_2: u8 = 22;
pub const HASH_LISTPACK_EX_PRE_GA: u8 = 23;
pub const HASH_METADATA: u8 = 24;
pub const HASH_LISTPACK_EX: u8 = 25;
pub const STREAM_LISTPACKS_4: u8 = 26;
/// Redis 8.8 (RDB 14): type 26 plus each group's NACKed IDs (docs/rdb-newest-formats.md 2).
pub const STREAM_LISTPACKS_5: u8 = 27;
/// Redis 8.8 (RDB 14): a sparse array (docs/rdb-newest-formats.md 3).
pub const ARRAY: u8 = 28;
/// Redis 8.10 (RDB 15) hash templates (docs/rdb-newest-formats.md 4): 29 and 31 carry their
/// field names (what DUMP writes), 30 and 32 refer to a template of the file's registry
/// (opcode 242, what a save writes); 29/30 hold the values in a listpack, 31/32 as strings.
pub const HASH_TMPL_LP: u8 = 29;
pub const HASH_TMPL_LP_REF: u8 = 30;
pub const HASH_TMPL_ARRAY: u8 = 31;
pub const HASH_TMPL_ARRAY_REF: u8 = 32;
/// Redis Enterprise GCRA (built only with `ENABLE_GCRA`): refused by name.
pub const GCRA: u8 = 33;
/// Valkey 9.2 (`VALKEY081`) path hash: layout not published, refused by name.
pub const VALKEY_PATH_HASH: u8 = 23;

/// Opcodes (they share the byte with types; 0xF2 and up).
pub mod op {
    /// Redis Enterprise: RAM LRU (one length, skipped; librdb `__elementRamLru`).
    pub const ENT_RAM_LRU: u8 = 107;
    /// Redis Enterprise: slot number (one length, skipped; librdb `__elementSlotNum`).
    pub const ENT_SLOT_NUM: u8 = 121;
    /// Redis Enterprise GCAS / GFLAGS: no published layout, refused by name.
    pub const ENT_GCAS: u8 = 101;
    pub const ENT_GFLAGS: u8 = 102;
    /// Redis 8.10: one hash template of the file's registry.
    pub const HASH_TEMPLATE: u8 = 242;
    /// Valkey 9: a key written while the snapshot ran (forkless save).
    pub const VALKEY_242: u8 = 242;
    /// Redis 8.6: key metadata. Valkey 9: slot import.
    pub const KEY_META_OR_SLOT_IMPORT: u8 = 243;
    pub const SLOT_INFO: u8 = 244;
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// The logical type as `TYPE` reports it (module values: the module's type name, elsewhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    String,
    List,
    Set,
    Zset,
    Hash,
    Stream,
    Module,
    /// Redis 8.8 arrays (type 28).
    Array,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::Zset => "zset",
            Kind::Hash => "hash",
            Kind::Stream => "stream",
            Kind::Module => "module",
            Kind::Array => "array",
        }
    }
    pub fn from_name(s: &str) -> Option<Kind> {
        [Kind::String, Kind::List, Kind::Set, Kind::Zset, Kind::Hash, Kind::Stream, Kind::Module, Kind::Array]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

/// What a type byte or opcode this reader refuses by name is (it is published but not
/// readable, or exists only in a product whose layout is not public); `None` for the rest.
pub fn refused_by_name(t: u8, h: &Header) -> Option<&'static str> {
    match (h.dialect, t) {
        (Dialect::Redis, op::ENT_GCAS) => Some("Redis Enterprise opcode 101 (GCAS) has no published layout"),
        (Dialect::Redis, op::ENT_GFLAGS) => Some("Redis Enterprise opcode 102 (GFLAGS) has no published layout"),
        (Dialect::Redis, GCRA) => {
            Some("Redis Enterprise GCRA value (type 33, built only with ENABLE_GCRA) has no published layout")
        }
        (Dialect::Valkey, VALKEY_PATH_HASH) => {
            Some("Valkey 9.2 path hash (type 23): layout not published, not supported")
        }
        (Dialect::Valkey, op::HASH_TEMPLATE) => Some(
            "Valkey forkless-save update record (opcode 242) is written only to replication sockets, never to an RDB file",
        ),
        _ => None,
    }
}

/// Whether the byte is a value type this dialect knows.
pub fn is_value_type(t: u8, h: &Header) -> bool {
    match t {
        0..=7 | 9..=21 => true,
        22..=25 => h.dialect == Dialect::Redis || t == VALKEY_HASH_2,
        26 => h.dialect == Dialect::Redis,
        27 | 28 => h.dialect == Dialect::Redis && h.version >= 14,
        29..=32 => h.dialect == Dialect::Redis && h.version >= 15,
        _ => false,
    }
}

/// The logical type of a value type byte (assumes `is_value_type`).
pub fn kind(t: u8) -> Kind {
    match t {
        STRING => Kind::String,
        LIST | LIST_ZIPLIST | LIST_QUICKLIST | LIST_QUICKLIST_2 => Kind::List,
        SET | SET_INTSET | SET_LISTPACK => Kind::Set,
        ZSET | ZSET_2 | ZSET_ZIPLIST | ZSET_LISTPACK => Kind::Zset,
        STREAM_LISTPACKS | STREAM_LISTPACKS_2 | STREAM_LISTPACKS_3 | STREAM_LISTPACKS_4 | STREAM_LISTPACKS_5 => {
            Kind::Stream
        }
        MODULE_PRE_GA | MODULE_2 => Kind::Module,
        ARRAY => Kind::Array,
        _ => Kind::Hash,
    }
}

/// The storage encoding's name, as `OBJECT ENCODING` would call it (roughly).
pub fn encoding(t: u8, h: &Header) -> &'static str {
    match t {
        STRING => "string",
        LIST => "linkedlist",
        SET | HASH | ZSET | ZSET_2 => match t {
            ZSET | ZSET_2 => "skiplist",
            _ => "hashtable",
        },
        MODULE_PRE_GA | MODULE_2 => "module",
        HASH_ZIPMAP => "zipmap",
        LIST_ZIPLIST | ZSET_ZIPLIST | HASH_ZIPLIST => "ziplist",
        SET_INTSET => "intset",
        LIST_QUICKLIST => "quicklist",
        LIST_QUICKLIST_2 => "quicklist2",
        HASH_LISTPACK | ZSET_LISTPACK | SET_LISTPACK => "listpack",
        STREAM_LISTPACKS | STREAM_LISTPACKS_2 | STREAM_LISTPACKS_3 | STREAM_LISTPACKS_4 | STREAM_LISTPACKS_5 => {
            "stream"
        }
        ARRAY => "array",
        HASH_TMPL_LP | HASH_TMPL_LP_REF => "template-listpack",
        HASH_TMPL_ARRAY | HASH_TMPL_ARRAY_REF => "template-array",
        22 if h.dialect == Dialect::Valkey => "hashtable_ttl",
        HASH_METADATA_PRE_GA | HASH_METADATA => "hashtable_ttl",
        HASH_LISTPACK_EX_PRE_GA | HASH_LISTPACK_EX => "listpack_ex",
        _ => "unknown",
    }
}
