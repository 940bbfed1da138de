//! The progress bar a person at a terminal sees (nothing when stderr is not a terminal),
//! and the notes a job has for them.

use std::io::IsTerminal;

use rdbshift::job::Progress;

/// A bar on stderr when it is a terminal; notes go to stderr either way.
pub struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    pub fn for_stderr() -> Bar {
        Bar(std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        }))
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        if let Some(b) = &self.0 {
            b.set_length(total);
        }
    }
    fn advance(&self, bytes: u64) {
        if let Some(b) = &self.0 {
            b.inc(bytes);
        }
    }
    fn keys(&self, keys: u64) {
        if let Some(b) = &self.0 {
            b.set_message(format!(
                "{keys} keys, {:.0} keys/s",
                keys as f64 / b.elapsed().as_secs_f64().max(1e-3)
            ));
        }
    }
    fn note(&self, line: &str) {
        match &self.0 {
            Some(b) => b.suspend(|| eprintln!("rdbshift: {line}")),
            None => eprintln!("rdbshift: {line}"),
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
