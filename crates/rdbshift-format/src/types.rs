//! Type and opcode numbers (`src/rdb.h`), and the names we show for them.

use super::header::{Dialect, Header};

/// A string (every version): one RDB string, possibly int-encoded or LZF-compressed.
pub const STRING: u8 = 0;
/// A linked list (RDB 1, written up to Redis 3.0): a count, then that many strings.
pub const LIST: u8 = 1;
/// A hash-table set (every version): a count, then that many member strings.
pub const SET: u8 = 2;
/// A sorted set with text scores (written before Redis 4.0): per member a string and a
/// length-prefixed score (253 NaN, 254 +inf, 255 -inf).
pub const ZSET: u8 = 3;
/// A hash-table hash (every version): a count, then field and value strings.
pub const HASH: u8 = 4;
/// A sorted set with binary scores (Redis 4.0, RDB 8): per member a string and an 8-byte LE double.
pub const ZSET_2: u8 = 5;
/// A module value in the Redis 4.0 RC format: unreadable without its module, refused.
pub const MODULE_PRE_GA: u8 = 6;
/// A module value (Redis 4.0, RDB 8): a 64-bit module id, then typed module opcodes up to EOF.
pub const MODULE_2: u8 = 7;
/// A small hash as a zipmap (Redis 2.2-2.4), carried as one string.
pub const HASH_ZIPMAP: u8 = 9;
/// A small list as one ziplist (Redis 2.2-3.0), carried as one string.
pub const LIST_ZIPLIST: u8 = 10;
/// A set of integers as an intset (Redis 2.2+), carried as one string.
pub const SET_INTSET: u8 = 11;
/// A small sorted set as one ziplist of member/score pairs (Redis 2.4-6.2).
pub const ZSET_ZIPLIST: u8 = 12;
/// A small hash as one ziplist of field/value pairs (Redis 2.6-6.2).
pub const HASH_ZIPLIST: u8 = 13;
/// A list as a quicklist (Redis 3.2-6.2, RDB 7-9): a node count, then one ziplist per node.
pub const LIST_QUICKLIST: u8 = 14;
/// A stream, v1 layout (Redis 5.0-6.2, RDB 9): listpack nodes, length, last ID, groups
/// (`src/t_stream.c`).
pub const STREAM_LISTPACKS: u8 = 15;
/// A small hash as one listpack of field/value pairs (Redis 7.0, RDB 10).
pub const HASH_LISTPACK: u8 = 16;
/// A small sorted set as one listpack of member/score pairs (Redis 7.0, RDB 10).
pub const ZSET_LISTPACK: u8 = 17;
/// A list as a quicklist of listpacks (Redis 7.0, RDB 10): per node a container
/// (1 plain element, 2 packed listpack) and its bytes.
pub const LIST_QUICKLIST_2: u8 = 18;
/// A stream, v2 layout (Redis 7.0, RDB 10): v1 plus first ID, max deleted ID, entries added
/// and each group's entries read.
pub const STREAM_LISTPACKS_2: u8 = 19;
/// A small set as one listpack of members (Redis 7.2, RDB 11).
pub const SET_LISTPACK: u8 = 20;
/// A stream, v3 layout (Redis 7.2, RDB 11): v2 plus each consumer's active time.
pub const STREAM_LISTPACKS_3: u8 = 21;
/// Redis 7.4 RC: a hash-table hash with field TTLs, before min-expire was added. In a
/// `VALKEY` file, 22 is [`VALKEY_HASH_2`] instead.
pub const HASH_METADATA_PRE_GA: u8 = 22;
/// Valkey 9.0 (`VALKEY080`) `HASH_2`: a hash with field TTLs, per field the field, the value
/// and an 8-byte LE ms time (-1: none). Only in `VALKEY` files.
pub const VALKEY_HASH_2: u8 = 22;
/// Redis 7.4 RC: a listpack hash with field TTLs, before min-expire was added (Redis dialect).
pub const HASH_LISTPACK_EX_PRE_GA: u8 = 23;
/// Redis 7.4 (RDB 12): a hash-table hash with field TTLs: min-expire (ms), a count, then per
/// field a TTL relative to min-expire (0: none), the field and the value.
pub const HASH_METADATA: u8 = 24;
/// Redis 7.4 (RDB 12): a listpack hash with field TTLs: min-expire (ms, 0: none), then a
/// listpack of (field, value, absolute ms TTL or 0) triples.
pub const HASH_LISTPACK_EX: u8 = 25;
/// Redis 8.6 (RDB 13): a v3 stream plus the IDMP section (idempotent producer IDs and the
/// stream IDs they map to); 8.6 writes every stream this way.
pub const STREAM_LISTPACKS_4: u8 = 26;
/// Redis 8.8 (RDB 14): type 26 plus each group's NACKed IDs (docs/rdb-newest-formats.md 2).
pub const STREAM_LISTPACKS_5: u8 = 27;
/// Redis 8.8 (RDB 14): a sparse array (docs/rdb-newest-formats.md 3).
pub const ARRAY: u8 = 28;
/// Redis 8.10 (RDB 15) hash templates (docs/rdb-newest-formats.md 4): 29 and 31 carry their
/// field names (what DUMP writes), 30 and 32 refer to a template of the file's registry
/// (opcode 242, what a save writes); 29/30 hold the values in a listpack, 31/32 as strings.
pub const HASH_TMPL_LP: u8 = 29;
/// Type 30: values in a listpack after the id of a registry template (what a save writes).
pub const HASH_TMPL_LP_REF: u8 = 30;
/// Type 31: field names inlined, then the values as strings (what DUMP writes).
pub const HASH_TMPL_ARRAY: u8 = 31;
/// Type 32: the id of a registry template, then the values as strings (what a save writes).
pub const HASH_TMPL_ARRAY_REF: u8 = 32;
/// Redis Enterprise GCRA (built only with `ENABLE_GCRA`): refused by name.
pub const GCRA: u8 = 33;
/// Valkey 9.2 (`VALKEY081`) path hash: layout not published, refused by name.
pub const VALKEY_PATH_HASH: u8 = 23;

/// Opcodes (they share the byte with types): 0xF2 (242) and up, plus Redis Enterprise's 101-121.
pub mod op {
    /// Redis Enterprise: RAM LRU (one length, skipped; librdb `__elementRamLru`).
    pub const ENT_RAM_LRU: u8 = 107;
    /// Redis Enterprise: slot number (one length, skipped; librdb `__elementSlotNum`).
    pub const ENT_SLOT_NUM: u8 = 121;
    /// Redis Enterprise GCAS: no published layout, refused by name.
    pub const ENT_GCAS: u8 = 101;
    /// Redis Enterprise GFLAGS: no published layout, refused by name (see [`ENT_GCAS`]).
    pub const ENT_GFLAGS: u8 = 102;
    /// Redis 8.10: one hash template of the file's registry.
    pub const HASH_TEMPLATE: u8 = 242;
    /// Valkey 9.x: an inline replication command (raw RESP) sent during a forkless save; written
    /// only to a replica's socket, never to a file, so refused by name.
    pub const VALKEY_242: u8 = 242;
    /// Redis 8.6: key metadata. Valkey 9: slot import.
    pub const KEY_META_OR_SLOT_IMPORT: u8 = 243;
    /// Redis 7.4 (cluster mode): slot info, three lengths (slot, keys, expires). Valkey 9:
    /// foreign slot info, safe to ignore.
    pub const SLOT_INFO: u8 = 244;
    /// Redis 7.0 (RDB 10): one function library, a string holding its source.
    pub const FUNCTION2: u8 = 245;
    /// Redis 7.0 RC1/RC2: one function with name, engine, optional description and code.
    pub const FUNCTION_PRE_GA: u8 = 246;
    /// Redis 5.0 (RDB 9): module auxiliary data: module id, when-flag, module opcodes to EOF.
    pub const MODULE_AUX: u8 = 247;
    /// Redis 5.0 (RDB 9): LRU idle time of the next key, one length (seconds).
    pub const IDLE: u8 = 248;
    /// Redis 5.0 (RDB 9): LFU frequency of the next key, one byte.
    pub const FREQ: u8 = 249;
    /// Redis 3.2 (RDB 7): an aux field, two strings (name, value), such as `redis-ver`.
    pub const AUX: u8 = 250;
    /// Redis 3.2 (RDB 7): size hints of the current db, two lengths (keys, keys with expiry).
    pub const RESIZEDB: u8 = 251;
    /// Absolute expiry of the next key in ms since the epoch, 8 bytes LE (Redis 2.6+).
    pub const EXPIRETIME_MS: u8 = 252;
    /// Absolute expiry of the next key in seconds since the epoch, 4 bytes LE (old files).
    pub const EXPIRETIME: u8 = 253;
    /// Switches to a database: one length, the db number.
    pub const SELECTDB: u8 = 254;
    /// End of the data; from RDB 5 on, the 8-byte LE CRC-64 follows.
    pub const EOF: u8 = 255;
}

/// The logical type as `TYPE` reports it (module values: the module's type name, elsewhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kind {
    /// A string (type 0).
    String,
    /// A list (types 1, 10, 14, 18).
    List,
    /// A set (types 2, 11, 20).
    Set,
    /// A sorted set (types 3, 5, 12, 17).
    Zset,
    /// A hash (types 4, 9, 13, 16, 22-25, 29-32).
    Hash,
    /// A stream (types 15, 19, 21, 26, 27).
    Stream,
    /// A module value (types 6, 7).
    Module,
    /// Redis 8.8 arrays (type 28).
    Array,
}

impl Kind {
    /// The lower-case name `TYPE` shows (`string`, `zset`, ...).
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
    /// The kind of a name as [`Kind::name`] spells it; `None` for any other name.
    pub fn from_name(s: &str) -> Option<Kind> {
        [
            Kind::String,
            Kind::List,
            Kind::Set,
            Kind::Zset,
            Kind::Hash,
            Kind::Stream,
            Kind::Module,
            Kind::Array,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// What a type byte or opcode this reader refuses by name is (it is published but not
/// readable, or exists only in a product whose layout is not public); `None` for the rest.
pub fn refused_by_name(t: u8, h: &Header) -> Option<&'static str> {
    match (h.dialect, t) {
        (Dialect::Redis, op::ENT_GCAS) => {
            Some("Redis Enterprise opcode 101 (GCAS) has no published layout")
        }
        (Dialect::Redis, op::ENT_GFLAGS) => {
            Some("Redis Enterprise opcode 102 (GFLAGS) has no published layout")
        }
        (Dialect::Redis, GCRA) => Some(
            "Redis Enterprise GCRA value (type 33, built only with ENABLE_GCRA) has no published layout",
        ),
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

/// Whether a value type is a hash stored with field TTLs: Redis 7.4's (and its release
/// candidates'), Valkey 9's `HASH_2`.
pub fn field_ttls(t: u8, h: &Header) -> bool {
    match t {
        HASH_METADATA | HASH_LISTPACK_EX => true,
        HASH_METADATA_PRE_GA => true,
        HASH_LISTPACK_EX_PRE_GA => h.dialect == Dialect::Redis,
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
        STREAM_LISTPACKS | STREAM_LISTPACKS_2 | STREAM_LISTPACKS_3 | STREAM_LISTPACKS_4
        | STREAM_LISTPACKS_5 => Kind::Stream,
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
        STREAM_LISTPACKS | STREAM_LISTPACKS_2 | STREAM_LISTPACKS_3 | STREAM_LISTPACKS_4
        | STREAM_LISTPACKS_5 => "stream",
        ARRAY => "array",
        HASH_TMPL_LP | HASH_TMPL_LP_REF => "template-listpack",
        HASH_TMPL_ARRAY | HASH_TMPL_ARRAY_REF => "template-array",
        22 if h.dialect == Dialect::Valkey => "hashtable_ttl",
        HASH_METADATA_PRE_GA | HASH_METADATA => "hashtable_ttl",
        HASH_LISTPACK_EX_PRE_GA | HASH_LISTPACK_EX => "listpack_ex",
        _ => "unknown",
    }
}
