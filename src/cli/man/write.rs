//! The pages of the commands that move data: convert, load, verify.

use super::{PIPE_EXIT, Page};

pub(super) const PAGES: &[Page] = &[
    Page {
        name: "convert",
        description: &[
            "Writes RESP commands that redis-cli --pipe loads, and that a server also loads unchanged as an \
             AOF. Several files go one after the other into one output. Big collections are split into \
             batches (--batch-elements, --batch-bytes); every key starts with DEL or RESTORE ... REPLACE, so a \
             replayed output converges. --restore writes RESTORE with DUMP payloads for the keys whose type \
             the target loads.",
            "--target-version names the server the output is for (default: the one that wrote each dump). What \
             that server cannot hold is counted and reported as a warning on stderr, never dropped silently; \
             --strict turns such warnings into exit code 2. The output is byte-identical for any --threads.",
        ],
        exit: &[
            (
                "0",
                "Every file was converted and nothing was lost for the target (or --strict was not given).",
            ),
            (
                "1",
                "A file could not be read or is damaged (every complete key before the damaged one is written), \
                 or the output could not be written. When an input cannot be opened at all, nothing is written \
                 and an existing -o file is left as it was. Takes precedence over 2.",
            ),
            (
                "2",
                "With --strict: something could not be carried to the target version (see the warnings), and \
                 no error occurred.",
            ),
            (
                "130, 143",
                "Stopped by SIGINT or SIGTERM; an unfinished -o file is removed (an existing one is kept as it \
                 was). A second signal ends the process at once.",
            ),
            PIPE_EXIT,
        ],
        examples: &[
            (
                "Commands for a Redis 7.0 server, piped into it:",
                "rdbshift convert dump.rdb --target-version 7.0 -o out.resp\nredis-cli -h HOST -p PORT --pipe < out.resp",
            ),
            (
                "RESTORE payloads for Valkey 9.1, straight into redis-cli:",
                "rdbshift convert dump.rdb --restore --target-version valkey-9.1 -o - | redis-cli --pipe",
            ),
            (
                "Fail (exit 2) if anything cannot be expressed for Redis 6.2:",
                "rdbshift convert dump.rdb --target-version 6.2 --strict -o out.resp",
            ),
        ],
    },
    Page {
        name: "load",
        description: &[
            "Loads the files into a live server or cluster. Every dump is read once first (its structure and \
             checksum); a damaged dump is refused and nothing is sent (--salvage loads its complete keys). The \
             target's version is asked: keys go as RESTORE payloads it accepts, or as commands where it cannot \
             load the type (--mode commands for commands only). A cluster is detected and each key goes to the \
             master of its slot; MOVED, ASK, busy replies and dropped connections are handled and the key sent \
             again.",
            "Every key is accounted for in the summary on stderr (loaded, failed, skipped, filtered out, \
             expired, done by an earlier run, not sent), and in --report FILE as JSON. --checkpoint FILE lets a \
             rerun continue where a run stopped. The password comes from --askpass, the URL, or REDISCLI_AUTH.",
            "Before the first key, pre-flight prints the target's version and mode, the commands the user may \
             not run and how the load adapts (commands instead of RESTORE, functions counted, the version from \
             HELLO or --target-version), the keys and bytes per node and each master's memory. A target that \
             may evict keys is refused unless --allow-eviction, and a cluster with unserved slots is refused; \
             --dry-run stops after pre-flight. --max-ops, --max-bytes (--per-node) and --max-latency limit the \
             sender; --rename-prefix, --rename-key and --map-db rename on the way; --metrics ADDR serves \
             Prometheus text on /metrics. Without a terminal, a progress line every --progress-interval \
             seconds.",
        ],
        exit: &[
            (
                "0",
                "Every selected key was loaded (or skipped with --on-conflict skip, or done by an earlier run).",
            ),
            (
                "1",
                "A key failed (a server error such as OOM or NOPERM, an existing key with --on-conflict fail, a \
                 node given up after timeouts) or was not sent; a dump is damaged (also with --salvage); the \
                 target could not be reached, a database cannot be selected, the checkpoint belongs to another \
                 load; or the report could not be written. Takes precedence over 2.",
            ),
            (
                "2",
                "With --strict: something could not be carried to the target (the warnings, and not_carried in \
                 the report), and nothing failed.",
            ),
            (
                "130, 143",
                "Stopped by SIGINT or SIGTERM: sending stopped, the acknowledgements still due were awaited for \
                 at most --stop-grace seconds, and the checkpoint and report were written; rerun with the same \
                 --checkpoint to continue. A second signal ends the process at once.",
            ),
        ],
        examples: &[
            (
                "Load a dump into a local server:",
                "rdbshift load dump.rdb --target redis://127.0.0.1:6379",
            ),
            (
                "One shard into a cluster (any node), resumable, with a JSON report:",
                "rdbshift load shard-1.rdb --target redis://node1:7000 --checkpoint shard-1.ckpt --report shard-1.json",
            ),
            (
                "Over TLS as an ACL user, asking for the password:",
                "rdbshift load dump.rdb --target rediss://db.example.com:6380 --cacert ca.pem --user app --askpass",
            ),
            (
                "Database 3 of the dump into database 0, keys that exist left alone:",
                "rdbshift load dump.rdb --db 3 --to-db 0 --on-conflict skip --target redis://HOST:6379",
            ),
        ],
    },
    Page {
        name: "verify",
        description: &[
            "Checks that a server or cluster holds every key the filters select from the files (or about \
             --sample N of them), in the database load put it in: presence, type, expiry and value, element by \
             element; streams also by their counters, consumer groups and pending entries; module values by \
             their DUMP bytes. --extra also scans the target for keys the dumps lack (on a cluster only in the \
             slots the dumps' keys hold). It prints counts and up to 20 names per kind on stderr, and needs no \
             DEBUG command.",
        ],
        exit: &[
            (
                "0",
                "Every key checked is present and equal (and with --extra, the target holds no other key).",
            ),
            (
                "1",
                "A key is missing or different, a server error was returned for a key, an extra key was found \
                 (--extra), a dump could not be read, or the target could not be reached. Takes precedence \
                 over 2.",
            ),
            (
                "2",
                "With --strict: some keys could not be compared in full because the target cannot hold a part \
                 of them (hash field TTLs before Redis 7.4, stream IDMP or NACKs, arrays, module values without \
                 the module), and nothing else was wrong.",
            ),
            ("", "A signal ends it at once, as usual (a shell shows 128 + the signal number)."),
        ],
        examples: &[
            (
                "Every key, after a load:",
                "rdbshift verify dump.rdb --target redis://127.0.0.1:6379",
            ),
            (
                "A quick check of about 10000 keys:",
                "rdbshift verify dump.rdb --target redis://HOST:6379 --sample 10000",
            ),
            (
                "One shard on a cluster, also looking for keys it lacks:",
                "rdbshift verify shard-1.rdb --target redis://node1:7000 --extra",
            ),
        ],
    },
    Page {
        name: "rewrite",
        description: &[
            "Writes an RDB file that a server of --target-version loads natively at start: Redis 5.0 to 8.6, \
             Valkey 7.2 to 9.x (default: the server that wrote the first dump). A value whose encoding the \
             target knows is written byte for byte, after the checks the server applies to it; any other is \
             re-encoded (plain list, set, zset2, hash; field TTLs in the target's own layout; streams in the \
             target's newest stream type). Several files go into one output; a key name met again is written \
             once (the last, as a replay leaves it) and the others are named.",
            "What the target cannot hold is counted and reported as a warning on stderr, never dropped \
             silently; --strict turns such warnings into exit code 2. --slots A-B keeps the keys of those \
             slots; --nodes FILE (nodes.conf, or saved CLUSTER NODES output) writes DIR/<node id>.rdb per \
             master with its slots' keys, to seed a cluster by file. The output is byte-identical for any \
             --threads.",
        ],
        exit: &[
            (
                "0",
                "Every file was rewritten and nothing was lost for the target (or --strict was not given).",
            ),
            (
                "1",
                "A file could not be read or is damaged, the target version is not one rewrite writes, the \
                 nodes file is not one, or an output could not be written. Nothing is written then: a \
                 rewritten file is whole or not there, and an existing one is left as it was. Takes \
                 precedence over 2.",
            ),
            (
                "2",
                "With --strict: something could not be carried to the target version, or a key was left out \
                 as a duplicate (see the warnings), and no error occurred.",
            ),
            (
                "130, 143",
                "Stopped by SIGINT or SIGTERM; the unfinished outputs are removed. A second signal ends the \
                 process at once.",
            ),
        ],
        examples: &[
            (
                "A Redis 8.6 dump for a Valkey 8.1 server:",
                "rdbshift rewrite dump.rdb --target-version valkey-8.1 -o /var/lib/valkey/dump.rdb",
            ),
            (
                "One file per master of a new cluster, from its CLUSTER NODES:",
                "redis-cli -p 7000 CLUSTER NODES > nodes.txt\nrdbshift rewrite shard-*.rdb --nodes nodes.txt --target-version 7.0 -o seed/",
            ),
            ("The keys of half the slots:", "rdbshift rewrite dump.rdb --slots 0-8191 -o half.rdb"),
        ],
    },
];
