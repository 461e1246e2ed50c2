//! Personal data sealed under a key of its own person, so that deleting the key erases it
//! wherever it was copied (crypto-shredding): append-only records (the audit trail, the
//! security log) keep their bytes and their hashes, and the person's fields in them can no
//! longer be read.
//!
//! A sealed value is text, `p1:<account>:<base64(nonce ‖ AES-256-GCM ciphertext)>` under an
//! account's key, or `a1:<key id>:…` under the key of an e-mail address (the subject of a
//! record, who may have no account yet: an invitee). It is bound to its key and to a context
//! (the table and column, and the tenant where there is one) as associated data. Anything else
//! is cleartext (records from before sealing, or of no person).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tenantry_kernel::{SecretSlot, Unexpected, UserId};
use zeroize::Zeroizing;

/// What a personal field reads once its person's key is gone.
pub const ERASED: &str = "erased";

const ACCOUNT: &str = "p1:";
const ADDRESS: &str = "a1:";
const NONCE_LEN: usize = 12;

/// Whose key: an account's, or an e-mail address's (named by the key's own id, never by the
/// address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyRef {
    Account(UserId),
    Address(uuid::Uuid),
}

impl KeyRef {
    /// Where the key is stored (sealed under the platform's data key): its table and row.
    pub fn table(&self) -> &'static str {
        match self {
            Self::Account(_) => "person_keys",
            Self::Address(_) => "address_keys",
        }
    }

    fn prefix(&self) -> &'static str {
        match self {
            Self::Account(_) => ACCOUNT,
            Self::Address(_) => ADDRESS,
        }
    }
}

impl std::fmt::Display for KeyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Account(u) => write!(f, "{u}"),
            Self::Address(id) => write!(f, "{id}"),
        }
    }
}

/// Where a key is sealed (under the platform's data key) as it is stored; `row` is
/// [`KeyRef`]'s id as text.
pub fn key_slot(key: KeyRef, row: &str) -> SecretSlot<'_> {
    SecretSlot {
        table: key.table(),
        column: "sealed_key",
        row,
    }
}

/// One person's (or address's) data key.
pub struct PersonKey {
    key: KeyRef,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for PersonKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A stored personal field, as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored<'a> {
    /// Not sealed: read as it is.
    Clear(&'a str),
    /// Sealed under `key`.
    Sealed { key: KeyRef, body: &'a str },
}

impl<'a> Stored<'a> {
    pub fn parse(stored: &'a str) -> Self {
        let sealed = |prefix: &str, of: fn(uuid::Uuid) -> KeyRef| {
            let rest = stored.strip_prefix(prefix)?;
            let (id, body) = rest.split_once(':')?;
            Some(Self::Sealed {
                key: of(id.parse().ok()?),
                body,
            })
        };
        sealed(ACCOUNT, |u| KeyRef::Account(UserId::from_uuid(u)))
            .or_else(|| sealed(ADDRESS, KeyRef::Address))
            .unwrap_or(Self::Clear(stored))
    }

    /// Whether `text` may hold sealed values (a cheap test before parsing JSON).
    pub fn may_hold_sealed(text: &str) -> bool {
        text.contains(ACCOUNT) || text.contains(ADDRESS)
    }
}

fn associated_data(key: KeyRef, context: &str) -> Vec<u8> {
    format!("tenantry.personal.v1\0{}{key}\0{context}", key.prefix()).into_bytes()
}

impl PersonKey {
    /// A new random key for `key`, and its bytes (to be sealed and stored).
    pub fn generate(key: KeyRef) -> Result<(Self, Zeroizing<[u8; 32]>), Unexpected> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(Unexpected::new)?;
        Ok((Self::from_bytes(key, bytes.as_ref())?, bytes))
    }

    pub fn from_bytes(key: KeyRef, bytes: &[u8]) -> Result<Self, Unexpected> {
        let cipher = Aes256Gcm::new_from_slice(bytes)
            .map_err(|_| Unexpected::msg("a person's key is 32 bytes".to_owned()))?;
        Ok(Self { key, cipher })
    }

    pub fn key(&self) -> KeyRef {
        self.key
    }

    /// `plaintext` sealed under this key for `context`.
    pub fn seal(&self, context: &str, plaintext: &str) -> Result<String, Unexpected> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(Unexpected::new)?;
        let aad = associated_data(self.key, context);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| Unexpected::msg("cannot seal a personal field".to_owned()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!(
            "{}{}:{}",
            self.key.prefix(),
            self.key,
            STANDARD.encode(out)
        ))
    }

    /// Opens the `body` of a value sealed under this key for `context`; fails when it was
    /// sealed for another person or context, or altered.
    pub fn open(&self, context: &str, body: &str) -> Result<String, Unexpected> {
        let damaged = || Unexpected::msg(format!("a personal field of {context} does not open"));
        let bytes = STANDARD
            .decode(body)
            .ok()
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or_else(damaged)?;
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| damaged())?;
        let aad = associated_data(self.key, context);
        let open = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| damaged())?;
        String::from_utf8(open).map_err(|_| damaged())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_field_opens_only_for_its_person_and_context() {
        let ann = KeyRef::Account(UserId::new());
        let (key, bytes) = PersonKey::generate(ann).unwrap();
        let sealed = key.seal("audit_entries.ip", "192.0.2.7").unwrap();
        assert!(!sealed.contains("192.0.2.7"));
        let Stored::Sealed { key: named, body } = Stored::parse(&sealed) else {
            panic!("sealed: {sealed}")
        };
        assert_eq!(named, ann);
        assert_eq!(key.open("audit_entries.ip", body).unwrap(), "192.0.2.7");
        // The same key bytes (read back from storage) open it; another context does not.
        let again = PersonKey::from_bytes(ann, bytes.as_ref()).unwrap();
        assert_eq!(again.open("audit_entries.ip", body).unwrap(), "192.0.2.7");
        assert!(key.open("audit_entries.user_agent", body).is_err());
        // Another person's key, even with the same bytes, is bound to another person.
        let bob = PersonKey::from_bytes(KeyRef::Account(UserId::new()), bytes.as_ref()).unwrap();
        assert!(bob.open("audit_entries.ip", body).is_err());
        let address = KeyRef::Address(uuid::Uuid::now_v7());
        let (by_address, _) = PersonKey::generate(address).unwrap();
        let sealed = by_address
            .seal("changes.email", "\"ann@example.com\"")
            .unwrap();
        assert!(sealed.starts_with("a1:"));
        let Stored::Sealed { key: named, body } = Stored::parse(&sealed) else {
            panic!("sealed: {sealed}")
        };
        assert_eq!(named, address);
        assert_eq!(
            by_address.open("changes.email", body).unwrap(),
            "\"ann@example.com\""
        );
        assert_eq!(Stored::parse("10.0.0.1"), Stored::Clear("10.0.0.1"));
        assert_eq!(Stored::parse("p1:nope:x"), Stored::Clear("p1:nope:x"));
    }
}
