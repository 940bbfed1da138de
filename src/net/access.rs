//! What a user may run on a target (ACLs, renamed or disabled commands): each command a load
//! may need is tried in a form that changes nothing, and the answer tells allowed from
//! denied. Managed services deny `CONFIG`, `DEBUG` and sometimes `INFO` or `RESTORE`; the
//! load adapts to what is found here.

use super::error::Error;
use crate::resp::Reply;

/// Whether a command may be run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Perm {
    Allowed,
    /// Denied (`NOPERM`), unknown (renamed away) or disabled: the server's words.
    Denied(String),
    /// Not asked (it does not apply to this target).
    NotAsked,
    /// Asked, and no answer came in time (a write command on a paused server waits):
    /// taken as allowed; a denial would show per key.
    Unknown(String),
}

impl Perm {
    /// Allowed, or not known to be denied.
    pub fn allowed(&self) -> bool {
        matches!(self, Perm::Allowed | Perm::Unknown(_))
    }
}

/// What asking one command gave.
pub enum Answer {
    Reply(Reply),
    /// The connection was closed instead (some proxies do that for a command they do not
    /// support): a denial.
    Closed,
    /// No answer within the probe's wait (only for commands that write).
    NoAnswer,
}

impl Answer {
    /// What the answer says of the permission to run the command.
    pub fn perm(&self) -> Perm {
        match self {
            Answer::Reply(Reply::Error(e)) if denial(e) => {
                Perm::Denied(String::from_utf8_lossy(e).into_owned())
            }
            Answer::Reply(_) => Perm::Allowed,
            Answer::Closed => Perm::Denied("the connection was closed instead of an answer".into()),
            Answer::NoAnswer => Perm::Unknown("no answer in time (a paused server?)".into()),
        }
    }
}

/// What the user may run, per command a load may use.
#[derive(Clone, Debug)]
pub struct Access {
    pub info: Perm,
    pub config: Perm,
    pub debug: Perm,
    pub cluster: Perm,
    pub function: Perm,
    pub restore: Perm,
    pub select: Perm,
}

impl Default for Access {
    fn default() -> Self {
        let a = Perm::Allowed;
        Access {
            info: a.clone(),
            config: a.clone(),
            debug: a.clone(),
            cluster: a.clone(),
            function: a.clone(),
            restore: a.clone(),
            select: a,
        }
    }
}

/// An error reply that says the command may not be run (as opposed to one about its
/// arguments, which proves it may): `NOPERM ... run the 'x' command`, an unknown command,
/// a command disabled by configuration.
pub fn denial(e: &[u8]) -> bool {
    let t = String::from_utf8_lossy(e).to_ascii_lowercase();
    (t.starts_with("noperm") && !t.contains("access a key") && !t.contains("access a channel"))
        || t.contains("unknown command")
        || t.contains("command not allowed")
        || t.contains("unknown subcommand")
}

/// Runs one command (`write`: one a paused server holds back, asked with a short wait).
pub type Ask<'a> = dyn FnMut(&[&str], bool) -> Result<Answer, Error> + 'a;

impl Access {
    /// Tries each command in a harmless form: `CONFIG GET maxmemory`,
    /// `DEBUG HELP`, `CLUSTER INFO`, `FUNCTION LOAD` of an empty library (when
    /// `functions`), `RESTORE` of an invalid payload, `SELECT 0`. `ask` runs one command.
    ///
    /// `info`: what asking `INFO server` gave already (the version's question).
    pub fn probe(ask: &mut Ask<'_>, functions: bool, info: Perm) -> Result<Access, Error> {
        let mut ask_perm = |args: &[&str], write: bool| ask(args, write).map(|a| a.perm());
        let mut perm = |args: &[&str]| ask_perm(args, false);
        Ok(Access {
            info,
            config: perm(&["CONFIG", "GET", "maxmemory"])?,
            debug: perm(&["DEBUG", "HELP"])?,
            cluster: perm(&["CLUSTER", "INFO"])?,
            select: perm(&["SELECT", "0"])?,
            function: if functions {
                ask_perm(&["FUNCTION", "LOAD", "#!rdbshift-access-probe"], true)?
            } else {
                Perm::NotAsked
            },
            restore: ask_perm(&["RESTORE", "rdbshift:access-probe", "0", "\x00"], true)?,
        })
    }

    /// Each command and what was found, for a person: `RESTORE denied (NOPERM ...)`.
    pub fn lines(&self) -> Vec<(&'static str, &Perm)> {
        vec![
            ("INFO", &self.info),
            ("CONFIG", &self.config),
            ("DEBUG", &self.debug),
            ("CLUSTER", &self.cluster),
            ("FUNCTION LOAD", &self.function),
            ("RESTORE", &self.restore),
            ("SELECT", &self.select),
        ]
    }

    /// The commands denied, by name.
    pub fn denied(&self) -> Vec<&'static str> {
        self.lines()
            .into_iter()
            .filter(|(_, p)| matches!(p, Perm::Denied(_)))
            .map(|x| x.0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::denial;

    #[test]
    fn denials_are_told_from_other_errors() {
        for d in [
            &b"NOPERM User lim has no permissions to run the 'restore' command"[..],
            b"NOPERM this user has no permissions to run the 'info' command",
            b"ERR unknown command 'CONFIG', with args beginning with: 'GET' ",
            b"ERR DEBUG command not allowed. If the enable-debug-command option is ...",
            b"ERR unknown subcommand 'LOAD'. Try FUNCTION HELP.",
        ] {
            assert!(denial(d), "{}", String::from_utf8_lossy(d));
        }
        for ok in [
            &b"ERR DUMP payload version or checksum are wrong"[..],
            b"ERR Missing library metadata",
            b"ERR This instance has cluster support disabled",
            b"NOPERM No permissions to access a key",
            b"MOVED 1234 127.0.0.1:7001",
            b"ERR SELECT is not allowed in cluster mode",
        ] {
            assert!(!denial(ok), "{}", String::from_utf8_lossy(ok));
        }
    }
}
