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

mod read;
mod sections;
mod write;

use std::io::Write;
use std::path::Path;

use clap::Command;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, roman};
use sections::{commands, examples, exit_status, see_also};

use super::CliResult;

/// What a page says beyond the options clap knows.
pub(super) struct Page {
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
pub(super) const USAGE_EXIT: (&str, &str) = (
    "2",
    "The command line was not understood (an unknown option, a missing argument); the usage is printed and \
     nothing is read or written.",
);

/// What --strict pages add to their exit status 2.
pub(super) const USAGE_TOO: &str =
    "A command line that was not understood also exits 2 (the usage is printed, nothing is read).";

/// Exit status of the commands that write to stdout.
pub(super) const PIPE_EXIT: (&str, &str) = (
    "141",
    "Standard output was a pipe closed before everything was written (for example by head).",
);

/// Exit codes of the commands that stop cleanly on a signal (inspect, convert, load).
pub(super) const STOP_EXIT: (&str, &str) = (
    "130, 143",
    "Stopped by SIGINT or SIGTERM (128 + the signal number) after finishing what a stop finishes; \
     a second signal ends the process at once.",
);

/// Every page: the main one first.
fn pages() -> impl Iterator<Item = &'static Page> {
    read::PAGES.iter().chain(write::PAGES)
}

/// Subcommands without a page of their own (described on the main page).
fn has_page(name: &str) -> bool {
    pages().any(|p| p.name == name)
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
        render(&cmd, &read::PAGES[0], &mut out)?;
        out.flush()?;
        return Ok(0);
    };
    for page in pages() {
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
