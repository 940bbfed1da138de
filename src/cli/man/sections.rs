//! The sections clap does not write: COMMANDS (main page), EXIT STATUS, EXAMPLES, SEE ALSO.

use clap::Command;
use clap_mangen::roff::{Roff, bold, italic, roman};

use super::{Page, USAGE_TOO, has_page, page_name, pages};

/// The main page's COMMANDS: a page reference for the commands that have one.
pub(super) fn commands(r: &mut Roff, root: &Command) {
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

pub(super) fn exit_status(r: &mut Roff, page: &Page) {
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

pub(super) fn examples(r: &mut Roff, page: &Page) {
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

pub(super) fn see_also(r: &mut Roff, page: &Page) {
    r.control("SH", ["SEE ALSO"]);
    let others: Vec<String> =
        pages().filter(|p| p.name != page.name).map(|p| page_name(p.name)).collect();
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
