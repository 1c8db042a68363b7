//! Signed one-time decision links, for notifications. A link names a run's gate and when it
//! stops working, signed with a key the store keeps, and carries a random nonce that is
//! spent by the decision made with it. It opens the run page like any other: the person
//! signs in first, and the decision is still theirs to make, checked against their role
//! and the gate's policy. So a forwarded or leaked link decides nothing on its own, and a
//! link decides at most once.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The store's name for the key links are signed with.
pub const KEY_NAME: &str = "gate-links";

/// What a decision link grants: a look at one gate, until a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateLink {
    pub run_id: i64,
    /// The environment's position in the run.
    pub position: usize,
    /// Random hex; spent by the first decision made with the link.
    pub nonce: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("it is not a Shipgate decision link")]
    Malformed,
    #[error("its signature does not match (it was changed, or made by another Shipgate)")]
    BadSignature,
    #[error("it has expired")]
    Expired,
    #[error("it is for another run or environment")]
    WrongGate,
}

impl GateLink {
    /// A new link to the gate at `position` of run `run_id`.
    pub fn new(run_id: i64, position: usize, expires_at: i64) -> GateLink {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).expect("the system's random source works");
        GateLink {
            run_id,
            position,
            nonce: hex::encode(nonce),
            expires_at,
        }
    }

    fn message(&self) -> String {
        format!(
            "shipgate-gate-link:v1:{}:{}:{}:{}",
            self.run_id, self.position, self.nonce, self.expires_at
        )
    }

    /// The token that goes into the URL: `v1.<run>.<position>.<nonce>.<expires>.<signature>`.
    pub fn sign(&self, key: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
        mac.update(self.message().as_bytes());
        format!(
            "v1.{}.{}.{}.{}.{}",
            self.run_id,
            self.position,
            self.nonce,
            self.expires_at,
            hex::encode(mac.finalize().into_bytes())
        )
    }

    /// Reads a token back, checking its signature (in constant time) and its expiry.
    pub fn verify(token: &str, key: &[u8], now: i64) -> Result<GateLink, LinkError> {
        let parts: Vec<&str> = token.trim().split('.').collect();
        let [version, run, position, nonce, expires, signature] = parts.as_slice() else {
            return Err(LinkError::Malformed);
        };
        if *version != "v1" || nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(LinkError::Malformed);
        }
        let link = GateLink {
            run_id: run.parse().map_err(|_| LinkError::Malformed)?,
            position: position.parse().map_err(|_| LinkError::Malformed)?,
            nonce: (*nonce).to_owned(),
            expires_at: expires.parse().map_err(|_| LinkError::Malformed)?,
        };
        let signature = hex::decode(signature).map_err(|_| LinkError::Malformed)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
        mac.update(link.message().as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| LinkError::BadSignature)?;
        if now >= link.expires_at {
            return Err(LinkError::Expired);
        }
        Ok(link)
    }

    /// Checks that the link is for the gate being decided.
    pub fn for_gate(self, run_id: i64, position: usize) -> Result<GateLink, LinkError> {
        if self.run_id == run_id && self.position == position {
            Ok(self)
        } else {
            Err(LinkError::WrongGate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_signed_link_reads_back_until_it_expires() {
        let link = GateLink::new(42, 1, 1_000);
        let token = link.sign(KEY);
        assert_eq!(GateLink::verify(&token, KEY, 999), Ok(link.clone()));
        assert_eq!(
            GateLink::verify(&token, KEY, 1_000),
            Err(LinkError::Expired)
        );
        assert_eq!(link.clone().for_gate(42, 1), Ok(link.clone()));
        assert_eq!(link.clone().for_gate(43, 1), Err(LinkError::WrongGate));
        assert_eq!(link.for_gate(42, 0), Err(LinkError::WrongGate));
    }

    #[test]
    fn a_changed_or_foreign_link_is_refused() {
        let token = GateLink::new(42, 1, i64::MAX).sign(KEY);
        let other_run = token.replacen("v1.42.", "v1.43.", 1);
        assert_eq!(
            GateLink::verify(&other_run, KEY, 0),
            Err(LinkError::BadSignature)
        );
        let longer = token.replacen(&format!(".{}.", i64::MAX), ".99999999999999.", 1);
        assert_eq!(
            GateLink::verify(&longer, KEY, 0),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            GateLink::verify(&token, b"another shipgate's key", 0),
            Err(LinkError::BadSignature)
        );
        for bad in [
            "",
            "v1.42.1",
            "v2.42.1.00000000000000000000000000000000.9.00",
            "v1.x.1.00000000000000000000000000000000.9.00",
            "v1.42.1.nothex.9.00",
        ] {
            assert_eq!(
                GateLink::verify(bad, KEY, 0),
                Err(LinkError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn each_link_has_its_own_nonce() {
        assert_ne!(GateLink::new(1, 0, 9).nonce, GateLink::new(1, 0, 9).nonce);
    }
}
