//! Identifiers parsed once at the edge: a run's number and who acted. Everything past the
//! door, the store and the audit log handles these types, never the raw text.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A run's number, as its page and the API name it (`/runs/42`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RunId(i64);

/// A number in JSON, text in a URL path: either way a run's number, or an error that says so.
impl<'de> Deserialize<'de> for RunId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<RunId, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RunId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a run number")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<RunId, E> {
                text.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<RunId, E> {
                self.visit_str(&n.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<RunId, E> {
                self.visit_str(&n.to_string())
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl RunId {
    pub const fn new(id: i64) -> RunId {
        RunId(id)
    }

    pub const fn get(self) -> i64 {
        self.0
    }
}

impl From<i64> for RunId {
    fn from(id: i64) -> RunId {
        RunId(id)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Text that is not a run number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a run number: runs are numbered 1, 2, 3, …")]
pub struct BadRunId(pub String);

impl FromStr for RunId {
    type Err = BadRunId;
    fn from_str(s: &str) -> Result<RunId, BadRunId> {
        // Digits only: `+7`, ` 7` and `07` are not how Shipgate writes a run's number.
        let well_formed = !s.is_empty()
            && s.len() <= 18
            && s.bytes().all(|b| b.is_ascii_digit())
            && !s.starts_with('0');
        match well_formed.then(|| s.parse::<i64>().ok()).flatten() {
            Some(id) => Ok(RunId(id)),
            None => Err(BadRunId(s.chars().take(40).collect())),
        }
    }
}

/// Who did something, as the audit log and gate decisions record it. The stored text
/// (`user:alice@example.com`, `token:7`, `local`, …) is read into this once; a new kind of
/// actor is a new variant, so every place that tells actors apart must say what it does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A signed-in person (or their personal token): their email, or their OIDC subject
    /// when the provider gave no email.
    User(String),
    /// A service token, by its id.
    Token(i64),
    /// The admin token from the configuration file.
    ConfigToken,
    /// Anyone on the loopback interface, in local mode.
    Local,
    /// The first admin, signed in with the bootstrap password.
    BootstrapAdmin,
    /// A command run on the server (`shipgate reset-bootstrap-password`): the command's name.
    Cli(String),
    /// Pipelines loaded from a configuration file at start-up: the file's path.
    Config(String),
}

/// Stored actor text that names no kind of actor Shipgate writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an actor: expected user:…, token:…, local, bootstrap-admin, cli:… or config:…"
)]
pub struct BadActor(pub String);

impl Actor {
    /// The person behind the actor, for counting distinct approvers: a person's lowercased
    /// email (a personal token acts as its owner), or else the actor's own text.
    pub fn person(&self) -> String {
        match self {
            Actor::User(who) => who.to_lowercase(),
            other => other.to_string(),
        }
    }

    /// The actor for people to read. A person is their email, a token its name, and a
    /// personal token's action is its owner's, through the token.
    pub fn display_name(&self, via: Option<&crate::access::TokenRef>) -> String {
        let who = match self {
            Actor::Local => "local user".to_owned(),
            Actor::BootstrapAdmin => "bootstrap admin".to_owned(),
            Actor::ConfigToken => "admin token from the configuration".to_owned(),
            Actor::Token(_) => match via {
                Some(token) => return token.to_string(),
                None => self.to_string(),
            },
            Actor::User(who) => who.clone(),
            Actor::Cli(_) | Actor::Config(_) => self.to_string(),
        };
        match via {
            Some(token) => format!("{who} via {token}"),
            None => who,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(who) => write!(f, "user:{who}"),
            Actor::Token(id) => write!(f, "token:{id}"),
            Actor::ConfigToken => f.write_str("token:config"),
            Actor::Local => f.write_str("local"),
            Actor::BootstrapAdmin => f.write_str("bootstrap-admin"),
            Actor::Cli(command) => write!(f, "cli:{command}"),
            Actor::Config(path) => write!(f, "config:{path}"),
        }
    }
}

impl FromStr for Actor {
    type Err = BadActor;
    fn from_str(s: &str) -> Result<Actor, BadActor> {
        let bad = || BadActor(s.chars().take(80).collect());
        Ok(match s {
            "local" => Actor::Local,
            "bootstrap-admin" => Actor::BootstrapAdmin,
            "token:config" => Actor::ConfigToken,
            _ => match s.split_once(':') {
                Some(("user", who)) if !who.is_empty() => Actor::User(who.to_owned()),
                Some(("token", id)) => Actor::Token(id.parse().map_err(|_| bad())?),
                Some(("cli", command)) if !command.is_empty() => Actor::Cli(command.to_owned()),
                Some(("config", path)) => Actor::Config(path.to_owned()),
                _ => return Err(bad()),
            },
        })
    }
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Actor, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::TokenRef;

    #[test]
    fn run_numbers_are_positive_digits_written_plainly() {
        for (text, parsed) in [
            ("1", Some(1)),
            ("42", Some(42)),
            ("999999999999999999", Some(999_999_999_999_999_999)),
        ] {
            assert_eq!(text.parse::<RunId>().ok().map(RunId::get), parsed, "{text}");
        }
        for text in [
            "",
            "0",
            "07",
            "-1",
            "+1",
            " 1",
            "1.0",
            "abc",
            "9999999999999999999",
            "1e3",
        ] {
            assert!(text.parse::<RunId>().is_err(), "{text:?} should not parse");
        }
        assert_eq!(
            "x".parse::<RunId>().unwrap_err().to_string(),
            "`x` is not a run number: runs are numbered 1, 2, 3, …"
        );
    }

    #[test]
    fn run_numbers_read_from_json_numbers_and_url_text_alike() {
        assert_eq!(serde_json::from_str::<RunId>("42").unwrap(), RunId::new(42));
        assert_eq!(
            serde_json::from_str::<RunId>("\"42\"").unwrap(),
            RunId::new(42)
        );
        for bad in ["0", "-3", "\"abc\"", "1.5", "null"] {
            assert!(serde_json::from_str::<RunId>(bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&RunId::new(7)).unwrap(), "7");
    }

    #[test]
    fn every_stored_actor_reads_back_as_itself() {
        let table = [
            (
                "user:alice@example.com",
                Actor::User("alice@example.com".into()),
            ),
            ("token:7", Actor::Token(7)),
            ("token:config", Actor::ConfigToken),
            ("local", Actor::Local),
            ("bootstrap-admin", Actor::BootstrapAdmin),
            (
                "cli:reset-bootstrap-password",
                Actor::Cli("reset-bootstrap-password".into()),
            ),
            (
                "config:/etc/shipgate.toml",
                Actor::Config("/etc/shipgate.toml".into()),
            ),
            ("config:", Actor::Config(String::new())),
        ];
        for (text, actor) in table {
            assert_eq!(text.parse::<Actor>().as_ref(), Ok(&actor), "{text}");
            assert_eq!(actor.to_string(), text);
        }
        for text in ["", "user:", "token:", "token:x", "alice", "cli:", "LOCAL"] {
            assert!(text.parse::<Actor>().is_err(), "{text:?} should not parse");
        }
    }

    #[test]
    fn the_person_behind_an_actor_is_a_lowercased_email_or_the_actor_itself() {
        assert_eq!(
            Actor::User("Alice@Example.com".into()).person(),
            "alice@example.com"
        );
        assert_eq!(Actor::Token(3).person(), "token:3");
        assert_eq!(Actor::Local.person(), "local");
    }

    #[test]
    fn audit_actors_read_as_people_and_tokens() {
        let token = TokenRef {
            id: 3,
            name: "ci-deployer".into(),
        };
        let table: [(Actor, Option<&TokenRef>, &str); 8] = [
            (
                Actor::User("alice@example.com".into()),
                None,
                "alice@example.com",
            ),
            (
                Actor::User("alice@example.com".into()),
                Some(&token),
                "alice@example.com via token ci-deployer",
            ),
            (Actor::Token(3), Some(&token), "token ci-deployer"),
            (Actor::Token(3), None, "token:3"),
            (
                Actor::ConfigToken,
                None,
                "admin token from the configuration",
            ),
            (Actor::Local, None, "local user"),
            (Actor::BootstrapAdmin, None, "bootstrap admin"),
            (
                Actor::Cli("reset-bootstrap-password".into()),
                None,
                "cli:reset-bootstrap-password",
            ),
        ];
        for (actor, via, name) in table {
            assert_eq!(actor.display_name(via), name, "{actor}");
        }
    }
}
