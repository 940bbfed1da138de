//! `rdbshift man`: the manual pages, generated from the command definitions.
//!
//! One page per command that has one: `rdbshift.1` and `rdbshift-COMMAND.1` for inspect,
//! info, convert, load and verify. The synopsis and options come from clap (through
//! `clap_mangen`); what clap does not know is written here, per page: a description, the
//! exit status, examples, and the other pages to see. The exit codes below follow the
//! `run` functions of the files beside this one; change them together.
//!
//! `rdbshift man` prints the main page to stdout (as before); `rdbshift man --dir DIR`
//! writes every page into DIR, e.g. `/usr/local/share/man/man1`.

use std::io::Write;
use std::path::Path;

use clap::Command;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};

use super::CliResult;

/// What a page says beyond the options clap knows.
struct Page {
    /// The subcommand (`""`: the main page).
    name: &'static str,
    /// Paragraphs of the DESCRIPTION section.
    description: &'static [&'static str],
    /// EXIT STATUS: (code, meaning), in the order shown.
    exit: &'static [(&'static str, &'static str)],
    /// EXAMPLES: (what it does, the command lines).
    examples: &'static [(&'static str, &'static str)],
}

/// Exit status 2 for a command line clap could not parse (pages without --strict).
const USAGE_EXIT: (&str, &str) = (
    "2",
    "The command line was not understood (an unknown option, a missing argument); the usage is printed and \
     nothing is read or written.",
);

/// What --strict pages add to their exit status 2.
const USAGE_TOO: &str = "A command line that was not understood also exits 2 (the usage is printed, nothing is read).";

/// Exit status of the commands that write to stdout.
const PIPE_EXIT: (&str, &str) =
    ("141", "Standard output was a pipe closed before everything was written (for example by head).");

/// Exit codes of the commands that stop cleanly on a signal (inspect, convert, load).
const STOP_EXIT: (&str, &str) = (
    "130, 143",
    "Stopped by SIGINT or SIGTERM (128 + the signal number) after finishing what a stop finishes; \
     a second signal ends the process at once.",
);

const PAGES: &[Page] = &[
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
            ("1", "An error: a file could not be read or is damaged, a key failed, a difference was found."),
            (
                "2",
                "With --strict (convert, load, verify): something could not be carried to, or compared on, the \
                 target, and nothing else went wrong. Also: the command line was not understood.",
            ),
            ("130, 143", "Stopped by SIGINT or SIGTERM (inspect, convert, load finish what a stop finishes first)."),
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
            ("0", "Every file was converted and nothing was lost for the target (or --strict was not given)."),
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
        ],
        exit: &[
            ("0", "Every selected key was loaded (or skipped with --on-conflict skip, or done by an earlier run)."),
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
            ("Load a dump into a local server:", "rdbshift load dump.rdb --target redis://127.0.0.1:6379"),
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
        description: &["Checks that a server or cluster holds every key the filters select from the files (or about \
             --sample N of them), in the database load put it in: presence, type, expiry and value, element by \
             element; streams also by their counters, consumer groups and pending entries; module values by \
             their DUMP bytes. --extra also scans the target for keys the dumps lack (on a cluster only in the \
             slots the dumps' keys hold). It prints counts and up to 20 names per kind on stderr, and needs no \
             DEBUG command."],
        exit: &[
            ("0", "Every key checked is present and equal (and with --extra, the target holds no other key)."),
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
            ("Every key, after a load:", "rdbshift verify dump.rdb --target redis://127.0.0.1:6379"),
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
];

/// Subcommands without a page of their own (described on the main page).
fn has_page(name: &str) -> bool {
    PAGES.iter().any(|p| p.name == name)
}

/// The page's name: `rdbshift` or `rdbshift-NAME`.
fn page_name(name: &str) -> String {
    if name.is_empty() { "rdbshift".to_owned() } else { format!("rdbshift-{name}") }
}

/// `rdbshift man [--dir DIR]`.
pub fn run(cmd: Command, dir: Option<&Path>) -> CliResult {
    let mut cmd = cmd.disable_help_subcommand(true);
    // fills in every subcommand's bin name ("rdbshift load"), shown in its synopsis
    cmd.build();
    let Some(dir) = dir else {
        let mut out = std::io::stdout().lock();
        render(&cmd, &PAGES[0], &mut out)?;
        out.flush()?;
        return Ok(0);
    };
    for page in PAGES {
        let path = dir.join(format!("{}.1", page_name(page.name)));
        let mut buf = Vec::new();
        render(&cmd, page, &mut buf)?;
        std::fs::write(&path, buf).map_err(|e| super::named(&path, e))?;
        println!("{}", path.display());
    }
    Ok(0)
}

/// Renders one page.
fn render(root: &Command, page: &Page, w: &mut dyn Write) -> std::io::Result<()> {
    let version = root.get_version().unwrap_or_default().to_owned();
    let cmd = if page.name.is_empty() {
        root.clone()
    } else {
        let sub = root.find_subcommand(page.name).expect("every page names a subcommand");
        // the page is rdbshift-NAME(1); the synopsis keeps "rdbshift NAME"
        sub.clone().display_name(page_name(page.name))
    };
    let man = Man::new(cmd.clone())
        .title(page_name(page.name).to_uppercase())
        .source(format!("rdbshift {version}"))
        .manual("rdbshift manual");
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;

    let mut r = Roff::new();
    r.control("SH", ["DESCRIPTION"]);
    for (i, para) in page.description.iter().enumerate() {
        if i > 0 {
            r.control("PP", []);
        }
        r.text([roman(*para)]);
    }
    r.to_writer(w)?;

    man.render_options_section(w)?;

    let mut r = Roff::new();
    if page.name.is_empty() {
        commands(&mut r, root);
    }
    exit_status(&mut r, page);
    examples(&mut r, page);
    see_also(&mut r, page);
    r.to_writer(w)?;

    if page.name.is_empty() {
        man.render_version_section(w)?;
    }
    Ok(())
}

/// The main page's COMMANDS: a page reference for the commands that have one.
fn commands(r: &mut Roff, root: &Command) {
    r.control("SH", ["COMMANDS"]);
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name();
        r.control("TP", []);
        if has_page(name) {
            r.text([bold(page_name(name)), roman("(1)")]);
        } else {
            let mut line = vec![bold(format!("rdbshift {name}"))];
            for a in sub.get_arguments().filter(|a| !a.is_hide_set() && a.get_id() != "help") {
                let value = a.get_value_names().and_then(|v| v.first()).map(|v| v.to_string());
                let value = value.unwrap_or_else(|| a.get_id().to_string().to_uppercase());
                line.push(roman(" "));
                match a.get_long() {
                    Some(long) => {
                        line.push(roman("["));
                        line.push(bold(format!("--{long}")));
                        line.push(roman(" "));
                        line.push(italic(value));
                        line.push(roman("]"));
                    }
                    None => line.push(italic(value)),
                }
            }
            r.text(line);
        }
        if let Some(about) = sub.get_about() {
            r.text([roman(about.to_string())]);
        }
    }
}

fn exit_status(r: &mut Roff, page: &Page) {
    r.control("SH", ["EXIT STATUS"]);
    for (code, what) in page.exit {
        if code.is_empty() {
            r.control("PP", []);
        } else {
            r.control("TP", []);
            r.text([bold(*code)]);
        }
        r.text([roman(*what)]);
        // a --strict page's 2 is also clap's usage error
        if *code == "2" && what.starts_with("With --strict:") {
            r.text([roman(USAGE_TOO)]);
        }
    }
}

fn examples(r: &mut Roff, page: &Page) {
    r.control("SH", ["EXAMPLES"]);
    for (what, lines) in page.examples {
        r.control("PP", []);
        r.text([roman(*what)]);
        r.control("PP", []);
        r.control("RS", ["4"]);
        r.control("nf", []);
        for line in lines.lines() {
            r.text([roman(line)]);
        }
        r.control("fi", []);
        r.control("RE", []);
    }
}

fn see_also(r: &mut Roff, page: &Page) {
    r.control("SH", ["SEE ALSO"]);
    let others: Vec<String> = PAGES.iter().filter(|p| p.name != page.name).map(|p| page_name(p.name)).collect();
    let mut line = Vec::new();
    for (i, name) in others.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        line.push(bold(name.clone()));
        line.push(roman("(1)"));
    }
    line.push(roman(", "));
    line.push(bold("redis-cli"));
    line.push(roman("(1)"));
    r.text(line);
}
