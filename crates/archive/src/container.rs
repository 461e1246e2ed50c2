//! Writing and reading the container (tar, gzip, age) on a blocking thread each, fed and
//! drained through bounded channels: memory stays flat however large the tenant.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use futures_util::StreamExt as _;
use sha2::{Digest, Sha256};
use tenantry_files::ByteStream;
use tokio::sync::mpsc;

use crate::error::ArchiveError;
use crate::format::{
    Entry, FORMAT, FileTotals, HEADER_PATH, Header, MANIFEST_PATH, MAX_PART_BYTES, Manifest,
    VERSION, file_path, part_path,
};

/// How an archive is encrypted as it is written.
pub enum Sealing {
    /// Not at all (only where the operator says so).
    None,
    /// To age X25519 recipients (`age1…`): any of their identities opens it.
    Recipients(Vec<age::x25519::Recipient>),
    /// With a passphrase (age's scrypt recipient).
    Passphrase(age::secrecy::SecretString),
}

/// What may open an encrypted archive.
pub enum Unsealing {
    /// Nothing: an encrypted archive is refused.
    None,
    /// age identities (`AGE-SECRET-KEY-1…`, as in an identity file).
    Identities(Vec<Box<dyn age::Identity + Send + Sync>>),
    /// The passphrase it was made with.
    Passphrase(age::secrecy::SecretString),
}

impl Unsealing {
    /// The identities (`AGE-SECRET-KEY-1…` lines) of an age identity file's text.
    pub fn identity_file(text: &str) -> Result<Self, ArchiveError> {
        let mut out: Vec<Box<dyn age::Identity + Send + Sync>> = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with("AGE-SECRET-KEY-") {
                let id: age::x25519::Identity = line
                    .parse()
                    .map_err(|e: &str| ArchiveError::Key(e.to_owned()))?;
                out.push(Box::new(id));
            }
        }
        if out.is_empty() {
            return Err(ArchiveError::Key(
                "no AGE-SECRET-KEY-1… identity in the file".to_owned(),
            ));
        }
        Ok(Self::Identities(out))
    }
}

/// Parses recipients (`age1…`), one per item.
pub fn recipients<'a>(
    list: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<age::x25519::Recipient>, ArchiveError> {
    list.into_iter()
        .map(|r| {
            r.trim()
                .parse::<age::x25519::Recipient>()
                .map_err(|e| ArchiveError::Key(format!("{r}: {e}")))
        })
        .collect()
}

enum Msg {
    Rows {
        entity: String,
        lines: Vec<u8>,
        rows: u64,
    },
    Blob {
        id: String,
        size: u64,
    },
    Chunk(Bytes),
    Finish,
}

/// The first error the writing thread met, for the side that feeds it.
type ErrorSlot = Arc<Mutex<Option<String>>>;

/// Writes one archive. Feed it rows and files in order, then [`ArchiveWriter::finish`].
pub struct ArchiveWriter {
    tx: mpsc::Sender<Msg>,
    failed: ErrorSlot,
    done: tokio::task::JoinHandle<Result<Manifest, ArchiveError>>,
}

impl ArchiveWriter {
    /// Starts writing to `out` (buffered here) with `header` as `archive.json`.
    pub fn start(
        out: Box<dyn Write + Send>,
        sealing: Sealing,
        header: Header,
    ) -> Result<Self, ArchiveError> {
        let (tx, rx) = mpsc::channel(4);
        let failed = ErrorSlot::default();
        let slot = failed.clone();
        let done = tokio::task::spawn_blocking(move || {
            let written = write_archive(out, sealing, header, rx);
            if let Err(e) = &written {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            }
            written
        });
        Ok(Self { tx, failed, done })
    }

    async fn send(&self, msg: Msg) -> Result<(), ArchiveError> {
        if self.tx.send(msg).await.is_err() {
            let why = self
                .failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or_else(|| "the archive writer stopped".to_owned());
            return Err(ArchiveError::Io(io::Error::other(why)));
        }
        Ok(())
    }

    /// Names `entity` in the manifest even if it has no rows.
    pub async fn entity(&self, entity: &str) -> Result<(), ArchiveError> {
        self.rows(entity, Vec::new(), 0).await
    }

    /// One part of `entity`: `rows` JSON lines, each ending in `\n`.
    pub async fn rows(&self, entity: &str, lines: Vec<u8>, rows: u64) -> Result<(), ArchiveError> {
        self.send(Msg::Rows {
            entity: entity.to_owned(),
            lines,
            rows,
        })
        .await
    }

    /// A file's bytes: exactly `size` of them from `content`.
    pub async fn file(
        &self,
        id: &str,
        size: u64,
        mut content: ByteStream,
    ) -> Result<(), ArchiveError> {
        self.send(Msg::Blob {
            id: id.to_owned(),
            size,
        })
        .await?;
        let mut sent = 0u64;
        while let Some(chunk) = content.next().await {
            let chunk = chunk.map_err(|e| ArchiveError::Storage(e.to_string()))?;
            if chunk.is_empty() {
                continue;
            }
            sent += chunk.len() as u64;
            if sent > size {
                break;
            }
            self.send(Msg::Chunk(chunk)).await?;
        }
        if sent != size {
            // The writer waits for the rest until the caller abandons it: no short entry.
            return Err(ArchiveError::Storage(format!(
                "file {id}: storage gave {sent} bytes, the record says {size}"
            )));
        }
        Ok(())
    }

    /// Writes the manifest and closes every layer; the manifest written.
    pub async fn finish(self) -> Result<Manifest, ArchiveError> {
        // Had the thread stopped, its own error (below) says why.
        let _ = self.tx.send(Msg::Finish).await;
        drop(self.tx);
        self.done
            .await
            .map_err(|e| ArchiveError::Io(io::Error::other(e.to_string())))?
    }

    /// Stops without a manifest (what was written is not a valid archive).
    pub async fn abandon(self) {
        drop(self.tx);
        let _ = self.done.await;
    }
}

/// The encryption layer: age's stream must be finished to write its last chunk.
enum Sink {
    Plain(BufWriter<Box<dyn Write + Send>>),
    Age(age::stream::StreamWriter<BufWriter<Box<dyn Write + Send>>>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(w) => w.write(buf),
            Self::Age(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(w) => w.flush(),
            Self::Age(w) => w.flush(),
        }
    }
}

impl Sink {
    fn finish(self) -> io::Result<()> {
        let mut inner = match self {
            Self::Plain(w) => w,
            Self::Age(w) => w.finish()?,
        };
        inner.flush()
    }
}

fn sink(out: Box<dyn Write + Send>, sealing: Sealing) -> Result<Sink, ArchiveError> {
    let out = BufWriter::with_capacity(256 << 10, out);
    let encryptor = match sealing {
        Sealing::None => return Ok(Sink::Plain(out)),
        Sealing::Recipients(list) => {
            age::Encryptor::with_recipients(list.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| ArchiveError::Key(e.to_string()))?
        }
        Sealing::Passphrase(p) => age::Encryptor::with_user_passphrase(p),
    };
    Ok(Sink::Age(encryptor.wrap_output(out)?))
}

fn tar_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o600);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Reads exactly `left` bytes of a file from the channel.
struct ChunkReader<'a> {
    rx: &'a mut mpsc::Receiver<Msg>,
    current: Bytes,
    left: u64,
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Msg::Chunk(c)) => self.current = c,
                _ => return Err(io::Error::other("a file ended early")),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        self.left -= n as u64;
        Ok(n)
    }
}

#[derive(Default)]
struct Totals {
    rows: u64,
    parts: u64,
    hash: Sha256,
}

fn write_archive(
    out: Box<dyn Write + Send>,
    sealing: Sealing,
    header: Header,
    mut rx: mpsc::Receiver<Msg>,
) -> Result<Manifest, ArchiveError> {
    let gz = GzEncoder::new(sink(out, sealing)?, Compression::new(3));
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let head = serde_json::to_vec_pretty(&header).map_err(io::Error::other)?;
    tar.append_data(&mut tar_header(head.len() as u64), HEADER_PATH, &head[..])?;
    let mut entities: BTreeMap<String, Totals> = BTreeMap::new();
    let mut files = FileTotals::default();
    loop {
        match rx.blocking_recv() {
            Some(Msg::Rows {
                entity,
                lines,
                rows,
            }) => {
                let totals = entities.entry(entity.clone()).or_default();
                if rows == 0 {
                    continue;
                }
                totals.parts += 1;
                totals.rows += rows;
                totals.hash.update(&lines);
                let path = part_path(&entity, totals.parts);
                tar.append_data(&mut tar_header(lines.len() as u64), path, &lines[..])?;
            }
            Some(Msg::Blob { id, size }) => {
                let reader = ChunkReader {
                    rx: &mut rx,
                    current: Bytes::new(),
                    left: size,
                };
                tar.append_data(&mut tar_header(size), file_path(&id), reader)?;
                files.count += 1;
                files.bytes += size;
            }
            Some(Msg::Chunk(_)) => return Err(ArchiveError::Io(io::Error::other("stray chunk"))),
            Some(Msg::Finish) => break,
            None => return Err(ArchiveError::Io(io::Error::other("abandoned"))),
        }
    }
    let manifest = Manifest {
        header,
        entities: entities
            .into_iter()
            .map(|(name, t)| {
                let totals = crate::format::EntityTotals {
                    rows: t.rows,
                    parts: t.parts,
                    sha256: hex(&t.hash.finalize()),
                };
                (name, totals)
            })
            .collect(),
        files,
    };
    let body = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
    tar.append_data(&mut tar_header(body.len() as u64), MANIFEST_PATH, &body[..])?;
    let gz = tar.into_inner()?;
    gz.finish()?.finish()?;
    Ok(manifest)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// What reading an archive yields, in the archive's order. Nothing before
/// [`Piece::Manifest`] is checked yet: the manifest comes only once every count and digest
/// matched, so a consumer commits nothing before it.
#[derive(Debug)]
pub enum Piece {
    Header(Header),
    Rows {
        entity: String,
        lines: Vec<u8>,
    },
    /// Every row has been read (files or the manifest come next): sent once.
    RowsDone,
    /// A file starts: `size` bytes follow as chunks, then [`Piece::FileEnd`].
    File {
        id: String,
        size: u64,
    },
    Chunk(Bytes),
    /// The file's SHA-256 (hex), computed while reading.
    FileEnd {
        sha256: String,
    },
    Manifest(Manifest),
}

/// Which pieces a reader hands over (it reads and checks everything regardless).
#[derive(Clone, Copy, Debug)]
pub struct Want {
    pub rows: bool,
    pub files: bool,
}

const AGE_MAGIC: &[u8] = b"age-encryption.org/";

/// Reads the archive in `input` on a blocking thread; its pieces arrive in order, ending
/// with the manifest or an error.
pub fn read(
    input: Box<dyn Read + Send>,
    unsealing: Arc<Unsealing>,
    want: Want,
) -> mpsc::Receiver<Result<Piece, ArchiveError>> {
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = read_archive(input, &unsealing, want, &tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
}

fn open(
    input: Box<dyn Read + Send>,
    unsealing: &Unsealing,
) -> Result<Box<dyn Read + Send>, ArchiveError> {
    let mut input = BufReader::with_capacity(256 << 10, input);
    let start = input.fill_buf()?;
    if !start.starts_with(AGE_MAGIC) {
        return Ok(Box::new(input));
    }
    let decryptor =
        age::Decryptor::new_buffered(input).map_err(|e| ArchiveError::Malformed(e.to_string()))?;
    let opened = match unsealing {
        Unsealing::None => return Err(ArchiveError::Encrypted),
        Unsealing::Identities(ids) => {
            decryptor.decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
        }
        Unsealing::Passphrase(p) => {
            let id = age::scrypt::Identity::new(p.clone());
            decryptor.decrypt(std::iter::once(&id as &dyn age::Identity))
        }
    };
    match opened {
        Ok(reader) => Ok(Box::new(reader)),
        Err(age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed) => {
            Err(ArchiveError::WrongKey)
        }
        Err(e) => Err(ArchiveError::Malformed(e.to_string())),
    }
}

fn damaged(what: impl Into<String>) -> ArchiveError {
    ArchiveError::Damaged(what.into())
}

fn read_archive(
    input: Box<dyn Read + Send>,
    unsealing: &Unsealing,
    want: Want,
    tx: &mpsc::Sender<Result<Piece, ArchiveError>>,
) -> Result<(), ArchiveError> {
    let send = |piece: Piece| -> Result<(), ArchiveError> {
        tx.blocking_send(Ok(piece))
            .map_err(|_| ArchiveError::Io(io::Error::other("the reader's consumer stopped")))
    };
    let plain = open(input, unsealing)?;
    let mut tar = tar::Archive::new(MultiGzDecoder::new(plain));
    let mut header: Option<Header> = None;
    let mut entities: BTreeMap<String, Totals> = BTreeMap::new();
    let mut files = FileTotals::default();
    let mut manifest: Option<Manifest> = None;
    let mut rows_done = false;
    for entry in tar.entries().map_err(|e| damaged(e.to_string()))? {
        let mut entry = entry.map_err(|e| damaged(e.to_string()))?;
        let path = entry.path().map_err(|e| damaged(e.to_string()))?;
        let path = path.to_string_lossy().into_owned();
        let size = entry.size();
        if manifest.is_some() {
            return Err(damaged(format!("{path} after the manifest")));
        }
        let kind = Entry::of(&path).ok_or_else(|| damaged(format!("unexpected entry {path}")))?;
        if header.is_none() && kind != Entry::Header {
            return Err(ArchiveError::Malformed(format!(
                "{path} before {HEADER_PATH}: not a Tenantry archive"
            )));
        }
        if !rows_done && matches!(kind, Entry::File(_) | Entry::Manifest) {
            rows_done = true;
            send(Piece::RowsDone)?;
        }
        match kind {
            Entry::Header => {
                if header.is_some() || size > 1 << 20 {
                    return Err(damaged("a second or oversized header"));
                }
                let h: Header = serde_json::from_reader(&mut entry)
                    .map_err(|e| ArchiveError::Malformed(e.to_string()))?;
                if h.format != FORMAT {
                    return Err(ArchiveError::Malformed(format!("format {}", h.format)));
                }
                if h.version != VERSION {
                    return Err(ArchiveError::Version(h.version));
                }
                header = Some(h.clone());
                send(Piece::Header(h))?;
            }
            Entry::Part(entity) => {
                if files.count > 0 {
                    return Err(damaged(format!("{path} after the files")));
                }
                if size > MAX_PART_BYTES {
                    return Err(damaged(format!("{path} is {size} bytes")));
                }
                let mut lines = Vec::with_capacity(size as usize);
                entry.read_to_end(&mut lines)?;
                if !lines.is_empty() && lines.last() != Some(&b'\n') {
                    return Err(damaged(format!("{path} does not end a line")));
                }
                let totals = entities.entry(entity.clone()).or_default();
                totals.parts += 1;
                totals.rows += lines.iter().filter(|b| **b == b'\n').count() as u64;
                totals.hash.update(&lines);
                if want.rows {
                    send(Piece::Rows { entity, lines })?;
                }
            }
            Entry::File(id) => {
                if want.files {
                    send(Piece::File {
                        id: id.clone(),
                        size,
                    })?;
                }
                let mut hash = Sha256::new();
                let mut left = size;
                while left > 0 {
                    let mut buf = vec![0u8; (256 << 10).min(left as usize)];
                    entry.read_exact(&mut buf)?;
                    left -= buf.len() as u64;
                    hash.update(&buf);
                    if want.files {
                        send(Piece::Chunk(Bytes::from(buf)))?;
                    }
                }
                files.count += 1;
                files.bytes += size;
                if want.files {
                    send(Piece::FileEnd {
                        sha256: hex(&hash.finalize()),
                    })?;
                }
            }
            Entry::Manifest => {
                if size > 16 << 20 {
                    return Err(damaged("an oversized manifest"));
                }
                let m: Manifest = serde_json::from_reader(&mut entry)
                    .map_err(|e| damaged(format!("manifest: {e}")))?;
                manifest = Some(m);
            }
        }
    }
    let manifest = manifest.ok_or_else(|| damaged("no manifest: the archive was cut short"))?;
    if Some(&manifest.header) != header.as_ref() {
        return Err(damaged(
            "the manifest names another archive than the header",
        ));
    }
    for (name, totals) in &manifest.entities {
        let seen = entities.remove(name).unwrap_or_default();
        let sha = hex(&seen.hash.finalize());
        if seen.rows != totals.rows || seen.parts != totals.parts || sha != totals.sha256 {
            return Err(damaged(format!(
                "{name}: {} rows in {} parts (sha256 {sha}), the manifest says {} in {} ({})",
                seen.rows, seen.parts, totals.rows, totals.parts, totals.sha256
            )));
        }
    }
    if let Some(extra) = entities.keys().next() {
        return Err(damaged(format!("{extra} is not in the manifest")));
    }
    if files != manifest.files {
        return Err(damaged(format!(
            "{} files of {} bytes, the manifest says {} of {}",
            files.count, files.bytes, manifest.files.count, manifest.files.bytes
        )));
    }
    send(Piece::Manifest(manifest))
}
