//! Comparing secrets (tokens, passwords' hashes, OAuth `state`) without a timing signal.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Whether `a` and `b` are the same secret, in time that says nothing about how much of
/// them matched. Both are hashed first, so the comparison also takes the same time
/// whatever their lengths (`ct_eq` on slices of different lengths returns at once).
pub fn same_secret(a: &str, b: &str) -> bool {
    let (da, db) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    da.as_slice().ct_eq(db.as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn only_identical_secrets_are_the_same() {
        for (a, b, same) in [
            ("", "", true),
            ("token", "token", true),
            ("token", "tokem", false),
            ("token", "token ", false),
            ("token", "", false),
            ("", "token", false),
            ("Token", "token", false),
            ("a much longer secret than the other", "a", false),
        ] {
            assert_eq!(same_secret(a, b), same, "{a:?} vs {b:?}");
        }
    }
}
