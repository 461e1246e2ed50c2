//! Signing secrets and the signatures receivers check: Standard Webhooks
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`) and GitHub's
//! `X-Hub-Signature-256`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::model::InvalidValue;

const PREFIX: &str = "whsec_";
/// Random bytes in a new secret (Standard Webhooks asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// A signing secret: `whsec_` and the base64 of its key bytes. Shown once, when made; its
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl WebhookSecret {
    /// A new random secret.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut key = [0u8; SECRET_BYTES];
        getrandom::fill(&mut key)?;
        Ok(Self(format!("{PREFIX}{}", STANDARD.encode(key))))
    }

    /// `whsec_` and base64 of 24 to 64 bytes.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let key = s
            .strip_prefix(PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .ok_or_else(|| InvalidValue("a webhook secret is whsec_ and base64".to_owned()))?;
        if !(24..=64).contains(&key.len()) {
            return Err(InvalidValue(
                "a webhook secret holds 24 to 64 bytes".to_owned(),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The secret as shown to its owner (once) and sealed for storage.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The HMAC key of Standard Webhooks signatures: the decoded bytes after `whsec_`.
    fn key(&self) -> Vec<u8> {
        self.0
            .strip_prefix(PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .unwrap_or_default()
    }
}

/// The signature headers of one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signatures {
    /// `webhook-signature`: `v1,<base64>` per secret, space-separated (both during a
    /// rotation, the newest first).
    pub standard: String,
    /// `X-Hub-Signature-256`: `sha256=<hex>` of the body alone, keyed with the newest secret
    /// as written (`whsec_…`), as a receiver configured GitHub-style with that string checks.
    pub hub: String,
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Signs `body` sent as message `msg_id` at `timestamp` (Unix seconds) with `secrets`, the
/// newest first.
pub fn sign(msg_id: &str, timestamp: i64, body: &[u8], secrets: &[&WebhookSecret]) -> Signatures {
    let ts = timestamp.to_string();
    let standard = secrets
        .iter()
        .map(|s| {
            let mac = hmac(
                &s.key(),
                &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body],
            );
            format!("v1,{}", STANDARD.encode(mac))
        })
        .collect::<Vec<_>>()
        .join(" ");
    let hub = secrets
        .first()
        .map(|s| {
            let mac = hmac(s.expose().as_bytes(), &[body]);
            let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256={hex}")
        })
        .unwrap_or_default();
    Signatures { standard, hub }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_webhooks_reference_signature() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
            &[&secret],
        );
        assert_eq!(
            sig.standard,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_rotation_signs_with_both_secrets_newest_first() {
        let (new, old) = (
            WebhookSecret::generate().unwrap(),
            WebhookSecret::generate().unwrap(),
        );
        let both = sign("evt_1", 1, b"{}", &[&new, &old]);
        let only_new = sign("evt_1", 1, b"{}", &[&new]);
        let only_old = sign("evt_1", 1, b"{}", &[&old]);
        assert_eq!(
            both.standard,
            format!("{} {}", only_new.standard, only_old.standard)
        );
        assert_eq!(both.hub, only_new.hub);
        assert!(both.hub.starts_with("sha256=") && both.hub.len() == 7 + 64);
    }

    #[test]
    fn secrets_are_long_enough_and_never_shown_by_debug() {
        let s = WebhookSecret::generate().unwrap();
        assert!(s.expose().starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(s.expose()).unwrap(), s);
        assert!(!format!("{s:?}").contains(s.expose()));
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_err(), "5 bytes");
        assert!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
    }
}
