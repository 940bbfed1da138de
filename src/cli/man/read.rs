//! The pages of the main page and the commands that read dumps: inspect, info.

use super::{PIPE_EXIT, Page, STOP_EXIT, USAGE_EXIT};

pub(super) const PAGES: &[Page] = &[
    Page {
        name: "",
        description: &[
            "rdbshift reads Redis and Valkey RDB snapshot files offline, without a server: RDB versions 1 to 15 \
             and Valkey's VALKEY080/VALKEY081 dialects, every published type and encoding. It checks the CRC-64 \
             trailer and refuses truncated, corrupt or hostile files with an error naming the byte offset (and \
             the key, when known).",
            "It prints the keys as JSON (inspect), summarizes a file (info), converts it to RESP commands for \
             redis-cli --pipe or an AOF (convert), loads it into a live server or cluster (load), and checks \
             that a server holds what the file holds (verify). Each command has its own page.",
        ],
        exit: &[
            ("0", "Success."),
            (
                "1",
                "An error: a file could not be read or is damaged, a key failed, a difference was found.",
            ),
            (
                "2",
                "With --strict (convert, load, verify): something could not be carried to, or compared on, the \
                 target, and nothing else went wrong. Also: the command line was not understood.",
            ),
            (
                "130, 143",
                "Stopped by SIGINT or SIGTERM (inspect, convert, load finish what a stop finishes first).",
            ),
            PIPE_EXIT,
        ],
        examples: &[
            (
                "Look at a dump, then load it and check the result:",
                "rdbshift info dump.rdb\nrdbshift inspect dump.rdb | head\nrdbshift load dump.rdb --target redis://127.0.0.1:6379\nrdbshift verify dump.rdb --target redis://127.0.0.1:6379",
            ),
            ("Install the manual pages:", "rdbshift man --dir /usr/local/share/man/man1"),
        ],
    },
    Page {
        name: "inspect",
        description: &[
            "Prints every key of the files as JSON: one object per line (--format jsonl, the default) or one \
             array (--format json), streamed, so memory stays flat whatever the size of the file or of a key. \
             Every object has db, key, type, encoding, expire_ms and value; byte strings that are not valid \
             UTF-8 also come in base64 (key_base64, value_base64). With several files every object starts \
             with \"file\".",
            "By default the output is what a server holds after loading the file: keys and hash fields whose \
             expiry has passed are left out (--include-expired keeps them).",
        ],
        exit: &[
            (
                "0",
                "Every file was read to its end and its checksum matched (or --no-checksum), and the output was written.",
            ),
            (
                "1",
                "A file is missing, not an RDB file, of an unsupported version, damaged, truncated, has a wrong \
                 checksum or a key twice in a database, or changed while it was read; or the output could not \
                 be written. The keys before the damage are still written. When an input cannot be opened at \
                 all, nothing is written and an existing -o file is left as it was.",
            ),
            USAGE_EXIT,
            STOP_EXIT,
            PIPE_EXIT,
        ],
        examples: &[
            ("Every key as JSON lines:", "rdbshift inspect dump.rdb > keys.jsonl"),
            (
                "The names of the hashes whose name starts with user:",
                "rdbshift inspect dump.rdb --type hash --key 'user:*' | jq -r .key",
            ),
            (
                "One JSON array, to a file, including expired keys:",
                "rdbshift inspect dump.rdb --format json --include-expired -o keys.json",
            ),
        ],
    },
    Page {
        name: "info",
        description: &[
            "Summarizes each file: RDB version and dialect, aux fields, per database the keys, expiries and \
             counts per type and encoding, the biggest keys by serialized size, functions, module types, \
             streams, and the checksum status. Values are not decoded (streams aside), so it runs at close to \
             disk speed. --json prints one JSON object per file, one per line.",
        ],
        exit: &[
            ("0", "Every file was summarized and its checksum matched (or --no-checksum)."),
            ("1", "A file could not be read or is damaged (the other files are still summarized)."),
            USAGE_EXIT,
            PIPE_EXIT,
            ("", "A signal ends it at once, as usual (a shell shows 128 + the signal number)."),
        ],
        examples: &[
            ("A summary of a dump:", "rdbshift info dump.rdb"),
            (
                "JSON for several shards, with the 20 biggest keys of each:",
                "rdbshift info --json --top 20 shard-1.rdb shard-2.rdb",
            ),
        ],
    },
];
