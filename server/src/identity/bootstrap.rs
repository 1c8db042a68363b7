//! The bootstrap admin: how a Shipgate with no identity provider, reachable by others, lets
//! exactly one person in. At first start it makes a password, keeps only its SHA-256, and
//! shows it once in the log (as Argo CD's initial admin secret and Jenkins's setup password
//! do). The sign-in form takes it. `shipgate reset-bootstrap-password` makes a new one.

use sha2::{Digest, Sha256};
use shipgate_pipeline::access::{Grant, Principal, PrincipalKind, Role};

/// The audit log's name for the bootstrap admin.
pub const ACTOR: &str = "bootstrap-admin";

/// The session subject of the bootstrap admin: no identity provider issues it.
pub const SUBJECT: &str = "shipgate bootstrap-admin";

/// Crockford's base32 alphabet, lower-cased: no i, l, o or u to misread.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A new password: 24 characters of 5 random bits each (120 bits), in groups of four, so a
/// person can read it out of a log and type or paste it.
pub fn new_password() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes)?;
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect();
    Ok(chars
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// What the database keeps of a password. A plain SHA-256 is enough: the password has 120
/// random bits, so there is nothing for a slow hash to protect against guessing.
pub fn password_hash(password: &str) -> String {
    hex::encode(Sha256::digest(normalise(password).as_bytes()))
}

/// What a person may type for the same password: surrounding spaces, upper case, and the
/// groups with or without their dashes.
fn normalise(password: &str) -> String {
    password
        .trim()
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The bootstrap admin, once signed in.
pub fn principal() -> Principal {
    Principal {
        id: ACTOR.into(),
        name: "bootstrap admin".into(),
        kind: PrincipalKind::User,
        grants: vec![Grant::everywhere(Role::Admin)],
        via: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_random_and_readable() {
        let a = new_password().unwrap();
        let b = new_password().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 24 + 5, "{a}");
        assert!(
            a.split('-')
                .all(|g| g.len() == 4 && g.bytes().all(|c| ALPHABET.contains(&c))),
            "{a}"
        );
    }

    #[test]
    fn the_hash_forgives_case_spaces_and_dashes_but_nothing_else() {
        let password = "ab12-cd34-ef56-gh78-jk90-mn12";
        let hash = password_hash(password);
        for typed in [
            "ab12-cd34-ef56-gh78-jk90-mn12",
            " AB12CD34EF56GH78JK90MN12\n",
            "ab12 cd34 ef56 gh78 jk90 mn12",
        ] {
            assert_eq!(password_hash(typed), hash, "{typed:?}");
        }
        for wrong in [
            "ab12-cd34-ef56-gh78-jk90-mn13",
            "ab12-cd34-ef56-gh78-jk90",
            "",
        ] {
            assert_ne!(password_hash(wrong), hash, "{wrong:?}");
        }
    }
}
