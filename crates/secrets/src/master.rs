//! Master keys (key-encryption keys): where they come from and how they are named.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Why the master keys could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyConfigError {
    #[error(
        "a master key must be 32 random bytes in base64 (44 characters; `tenantry keys generate` makes one): {0}"
    )]
    Invalid(String),
    #[error("no master key given")]
    Empty,
    #[error("the master key file {path}: {error}")]
    File { path: String, error: String },
}

/// One master key: 32 bytes, named by a digest of itself (the name is stored beside every data
/// key it wraps; it reveals nothing of the key).
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        #[allow(clippy::expect_used)]
        getrandom::fill(key.as_mut()).expect("operating system random generator");
        Self::from_bytes(key)
    }

    fn from_bytes(key: Zeroizing<[u8; 32]>) -> Self {
        let digest = Sha256::new()
            .chain_update(b"tenantry master key id\0")
            .chain_update(key.as_ref())
            .finalize();
        let id = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Self { id, key }
    }

    /// From its base64 form.
    pub fn parse(b64: &str) -> Result<Self, KeyConfigError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(b64.trim())
                .map_err(|e| KeyConfigError::Invalid(e.to_string()))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyConfigError::Invalid(format!("it decodes to {} bytes", bytes.len())))?;
        Ok(Self::from_bytes(Zeroizing::new(key)))
    }

    /// Its base64 form (what `TENANTRY_MASTER_KEY` and the key file hold).
    pub fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.key.as_ref()))
    }

    /// Its name: twelve hex digits of a digest of the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.key
    }
}

/// The master keys in use: the first wraps new data keys, every one opens the data keys
/// wrapped under it.
#[derive(Clone, Debug)]
pub struct MasterKeys(Vec<MasterKey>);

impl MasterKeys {
    pub fn new(current: MasterKey, older: Vec<MasterKey>) -> Self {
        let mut keys = vec![current];
        for k in older {
            if keys.iter().all(|have| have.id != k.id) {
                keys.push(k);
            }
        }
        Self(keys)
    }

    /// Keys separated by commas, spaces or new lines, the current one first.
    pub fn parse(list: &str) -> Result<Self, KeyConfigError> {
        let mut keys = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|k| !k.is_empty())
            .map(MasterKey::parse);
        let current = keys.next().ok_or(KeyConfigError::Empty)??;
        Ok(Self::new(current, keys.collect::<Result<_, _>>()?))
    }

    pub fn current(&self) -> &MasterKey {
        &self.0[0]
    }

    pub fn find(&self, id: &str) -> Option<&MasterKey> {
        self.0.iter().find(|k| k.id == id)
    }

    pub fn all(&self) -> &[MasterKey] {
        &self.0
    }
}

/// Where the master keys come from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// `TENANTRY_MASTER_KEY`: fixed for the life of the process.
    Given(MasterKeys),
    /// A key file (the embedded default), read again whenever a key it may have gained is
    /// needed: a data key wrapped under a key this process has not seen, or a new data key to
    /// wrap — so `tenantry keys rotate` takes effect in a running server.
    File(PathBuf),
}

const FILE_HEADER: &str = "\
# Tenantry master keys, base64, one per line. The first wraps new data keys; the others
# open data keys wrapped before a rotation (`tenantry keys rotate`). Keep this file secret
# and backed up: without it the tenants' stored secrets cannot be read.
";

impl KeySource {
    /// `given` (the variable) when set, else the key file at `file`, created with one new key
    /// (mode 0600) when missing.
    pub fn open(given: Option<&str>, file: &Path) -> Result<Self, KeyConfigError> {
        if let Some(list) = given.filter(|s| !s.trim().is_empty()) {
            return Ok(Self::Given(MasterKeys::parse(list)?));
        }
        let source = Self::File(file.to_owned());
        if !file.exists() && create_once(file)? {
            let key = source.load()?.current().clone();
            tracing::warn!(
                path = %file.display(),
                key_id = key.id(),
                "created a master key file for secrets at rest; back it up with the database \
                 (set TENANTRY_MASTER_KEY to manage the key yourself)"
            );
        }
        source.load()?;
        Ok(source)
    }

    /// The keys as they are now.
    pub fn load(&self) -> Result<MasterKeys, KeyConfigError> {
        match self {
            Self::Given(keys) => Ok(keys.clone()),
            Self::File(path) => {
                let err = |error: String| KeyConfigError::File {
                    path: path.display().to_string(),
                    error,
                };
                let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(err(format!(
                        "readable by others (mode {:o}); chmod 600 it",
                        meta.permissions().mode() & 0o777
                    )));
                }
                let text =
                    Zeroizing::new(std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
                let lines: String = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with('#'))
                    .collect::<Vec<_>>()
                    .join("\n");
                MasterKeys::parse(&Zeroizing::new(lines)).map_err(|e| err(e.to_string()))
            }
        }
    }

    /// Writes `keys` to the key file (atomically, mode 0600); `Given` keys cannot be written.
    pub fn store(&self, keys: &MasterKeys) -> Result<(), KeyConfigError> {
        match self {
            Self::Given(_) => Err(KeyConfigError::Invalid(
                "the keys come from TENANTRY_MASTER_KEY: change the variable instead".to_owned(),
            )),
            Self::File(path) => {
                let tmp = path.with_extension("new");
                let _ = std::fs::remove_file(&tmp);
                create_key_file(&tmp, keys)?;
                std::fs::rename(&tmp, path).map_err(|e| KeyConfigError::File {
                    path: path.display().to_string(),
                    error: e.to_string(),
                })
            }
        }
    }
}

/// Creates the key file with one new key unless another process just did: the key is written
/// to a private temporary file first and linked into place, so no process ever reads a
/// half-written file. Whether this call created it.
fn create_once(path: &Path) -> Result<bool, KeyConfigError> {
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    create_key_file(&tmp, &MasterKeys::new(MasterKey::generate(), vec![]))?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(KeyConfigError::File {
            path: path.display().to_string(),
            error: e.to_string(),
        }),
    }
}

/// Creates `path` (not there before) with mode 0600 holding `keys`.
fn create_key_file(path: &Path, keys: &MasterKeys) -> Result<(), KeyConfigError> {
    let err = |e: std::io::Error| KeyConfigError::File {
        path: path.display().to_string(),
        error: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    let mut text = Zeroizing::new(FILE_HEADER.to_owned());
    for k in keys.all() {
        text.push_str(&k.encode());
        text.push('\n');
    }
    file.write_all(text.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_from_a_list_with_the_current_one_first() {
        let (a, b) = (MasterKey::generate(), MasterKey::generate());
        let keys = MasterKeys::parse(&format!(" {}, {}\n", *a.encode(), *b.encode())).unwrap();
        assert_eq!(keys.current().id(), a.id());
        assert!(keys.find(b.id()).is_some());
        assert_eq!(a.id().len(), 12);
        assert_ne!(a.id(), b.id());
        assert!(matches!(MasterKeys::parse(" "), Err(KeyConfigError::Empty)));
        assert!(MasterKey::parse("c2hvcnQ=").is_err(), "five bytes");
        assert!(MasterKey::parse("not base64!").is_err());
        assert!(
            !format!("{a:?}").contains(a.encode().as_str()),
            "Debug hides the key"
        );
    }

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("master.key");
        let source = KeySource::open(None, &path).unwrap();
        let keys = source.load().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = source.load().unwrap();
        assert_eq!(again.current().id(), keys.current().id());
        // Opening again finds the same key.
        let reopened = KeySource::open(None, &path).unwrap().load().unwrap();
        assert_eq!(reopened.current().id(), keys.current().id());
        // A rotation's file: a new key first, the old one kept.
        let new = MasterKey::generate();
        source
            .store(&MasterKeys::new(new.clone(), keys.all().to_vec()))
            .unwrap();
        let rotated = source.load().unwrap();
        assert_eq!(rotated.current().id(), new.id());
        assert!(rotated.find(keys.current().id()).is_some());
        // A file others can read is refused.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(source.load().is_err());
    }

    #[test]
    fn the_variable_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let key = MasterKey::generate();
        let source = KeySource::open(Some(&key.encode()), &path).unwrap();
        let keys = source.load().unwrap();
        assert_eq!(keys.current().id(), key.id());
        assert!(!path.exists(), "no file is made when the variable is set");
        assert!(source.store(&keys).is_err());
    }
}
