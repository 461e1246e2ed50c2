//! Exporting a tenant into an archive, and importing one.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tenantry_files::{ObjectStorage, object_key};
use tenantry_kernel::{
    Actor, BucketId, Clock, Edges, FileId, PlatformCipher, SecretSlot, StatementSigner, TenantCtx,
    TenantId, Unexpected,
};
use tokio::sync::mpsc;

use crate::container::{self, ArchiveWriter, Piece, Sealing, Unsealing, Want};
use crate::error::{ArchiveError, ExportError, ImportError};
use crate::format::{ArchiveKind, Header, Manifest, TenantRef};
use crate::ports::{ArchiveStore, ImportCheck, Incoming, KeyEscrow, LoadPlan, LoadReport, RowPart};

/// The operator's archive carries the tenant's data key in this entity (one row,
/// `{"data_key": base64}`): the sealed secrets travel as they are, and the target instance
/// wraps the key under its own master key.
pub const KEY_ENTITY: &str = "tenant_key";

/// What an import did.
#[derive(Clone, Debug)]
pub struct Imported {
    pub tenant: TenantRef,
    pub rows: LoadReport,
    pub files: u64,
}

/// What the archive service is told about its instance.
#[derive(Clone, Debug)]
pub struct ArchiveConfig {
    /// Names this software and backend in archives' headers.
    pub producer: String,
    /// Where imported tenants get their subdomain.
    pub base_domain: String,
    /// How long a tenant's export can be downloaded.
    pub export_ttl: chrono::Duration,
    /// Whether backups are encrypted (the default; off only when the operator says so).
    pub backups_encrypted: bool,
    /// Between a tenant's deletion request and its purge.
    pub purge_grace: chrono::Duration,
}

/// Writes and imports archives.
#[derive(Clone)]
pub struct ArchiveService<S, K> {
    pub(crate) store: S,
    pub(crate) keys: K,
    pub(crate) platform: PlatformKeys,
    pub(crate) storage: Arc<dyn ObjectStorage>,
    edges: Edges,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: ArchiveConfig,
}

/// The platform's own keys, as archives use them.
#[derive(Clone)]
pub struct PlatformKeys {
    /// Seals what belongs to no tenant (people's TOTP secrets, re-sealed on import).
    pub cipher: Arc<dyn PlatformCipher>,
    /// Signs purge certificates.
    pub signer: Arc<dyn StatementSigner>,
}

/// People's rows sealed under the platform's key: their TOTP secrets, their person keys and
/// their addresses' keys, each `(entity, column, the row's id column)`. An operator's archive
/// carries them open (the archive is encrypted as a whole); an import seals them again under
/// its own platform key.
const PLATFORM_SEALED: &[Sealed] = &[
    ("user_totp", "secret", "user_id"),
    ("person_keys", "sealed_key", "user_id"),
    ("address_keys", "sealed_key", "id"),
];

type Sealed = (&'static str, &'static str, &'static str);

fn platform_sealed(entity: &str) -> Option<Sealed> {
    PLATFORM_SEALED
        .iter()
        .copied()
        .find(|(e, _, _)| *e == entity)
}

fn platform_slot<'a>((table, column, _): Sealed, row: &'a str) -> SecretSlot<'a> {
    SecretSlot { table, column, row }
}

fn parse_lines(entity: &str, lines: &[u8]) -> Result<Vec<Map<String, Value>>, ArchiveError> {
    lines
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice::<Map<String, Value>>(l).map_err(|e| {
                ArchiveError::Damaged(format!("{entity}: a row is not an object: {e}"))
            })
        })
        .collect()
}

fn to_lines(rows: &[Map<String, Value>]) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        // A map of JSON values always serialises.
        if serde_json::to_writer(&mut out, row).is_ok() {
            out.push(b'\n');
        }
    }
    out
}

fn text<'a>(row: &'a Map<String, Value>, field: &str) -> &'a str {
    row.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// Whether pass 2 read the rows pass 1 checked (the file could have changed in between).
fn same_rows(
    checked: &Manifest,
    seen: HashMap<String, (u64, u64, Sha256)>,
) -> Result<(), ImportError> {
    let mut seen: HashMap<String, (u64, u64, String)> = seen
        .into_iter()
        .map(|(k, (rows, parts, h))| (k, (rows, parts, crate::container::hex(&h.finalize()))))
        .collect();
    for (name, totals) in &checked.entities {
        let (rows, parts, sha) =
            seen.remove(name)
                .unwrap_or((0, 0, crate::container::hex(&Sha256::new().finalize())));
        if rows != totals.rows || parts != totals.parts || sha != totals.sha256 {
            return Err(ArchiveError::Damaged(format!(
                "{name} changed between the two readings of the archive"
            ))
            .into());
        }
    }
    if let Some(extra) = seen.keys().next() {
        return Err(ArchiveError::Damaged(format!("{extra} is not in the manifest")).into());
    }
    Ok(())
}

/// What an export has written so far.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub rows: AtomicU64,
    pub files: AtomicU64,
}

/// What the first pass of an import learns from the archive.
#[derive(Default)]
struct Facts {
    header: Option<Header>,
    slug: String,
    hostnames: Vec<String>,
    users: Vec<(String, String)>,
    plans: Vec<String>,
    /// File id → (SHA-256, size) as its record says.
    files: HashMap<String, (String, u64)>,
    data_key: Option<Vec<u8>>,
    /// Whether any account brings a value sealed under the platform's key (a second factor,
    /// a person key).
    platform_sealed: bool,
    /// What pass 1 read and checked (pass 2 must read the same).
    manifest: Option<Manifest>,
    /// Files stored so far.
    stored: usize,
    checked: bool,
    /// A restore: the tenant whose data the archive replaces.
    replacing: Option<Replacing>,
}

/// What a restore replaces.
#[derive(Clone, Debug)]
pub(crate) struct Replacing {
    pub tenant: TenantId,
    /// The tenant's files before: id and location (`None`: the platform's store).
    pub files: Vec<(String, Option<String>)>,
    pub backup: tenantry_kernel::BackupId,
}

impl<S: ArchiveStore, K: KeyEscrow> ArchiveService<S, K> {
    pub fn new(
        store: S,
        keys: K,
        platform: PlatformKeys,
        storage: Arc<dyn ObjectStorage>,
        edges: Edges,
        clock: Arc<dyn Clock>,
        config: ArchiveConfig,
    ) -> Self {
        Self {
            store,
            keys,
            platform,
            storage,
            edges,
            clock,
            config,
        }
    }

    fn ctx(&self, tenant: TenantId, actor: Actor) -> TenantCtx {
        TenantCtx::for_request(&self.edges, tenant, actor, Default::default())
    }

    /// Writes an archive of `kind` of the tenant named `key` (id or slug) to `out`.
    pub async fn export(
        &self,
        key: &str,
        kind: ArchiveKind,
        out: Box<dyn Write + Send>,
        sealing: Sealing,
        actor: Actor,
    ) -> Result<Manifest, ExportError> {
        self.export_counted(key, kind, out, sealing, actor, &Progress::default())
            .await
    }

    /// [`ArchiveService::export`], counting in `progress` what it wrote so far.
    pub(crate) async fn export_counted(
        &self,
        key: &str,
        kind: ArchiveKind,
        out: Box<dyn Write + Send>,
        sealing: Sealing,
        actor: Actor,
        progress: &Progress,
    ) -> Result<Manifest, ExportError> {
        let tenant = self
            .store
            .archived_tenant(key)
            .await?
            .ok_or(ExportError::NoSuchTenant)?;
        let ctx = self.ctx(tenant.id, actor);
        let header = Header::new(kind, tenant, self.config.producer.clone());
        let writer = ArchiveWriter::start(out, sealing, header)?;
        match self.write_tenant(&ctx, kind, &writer, progress).await {
            Ok(()) => Ok(writer.finish().await?),
            Err(e) => {
                writer.abandon().await;
                Err(e)
            }
        }
    }

    async fn write_tenant(
        &self,
        ctx: &TenantCtx,
        kind: ArchiveKind,
        writer: &ArchiveWriter,
        progress: &Progress,
    ) -> Result<(), ExportError> {
        if kind == ArchiveKind::Operator {
            writer.entity(KEY_ENTITY).await?;
            if let Some(key) = self.keys.export_key(ctx.tenant_id()).await? {
                let mut line = serde_json::json!({ "data_key": STANDARD.encode(&key) }).to_string();
                line.push('\n');
                writer.rows(KEY_ENTITY, line.into_bytes(), 1).await?;
            }
        }
        let (tx, mut rx) = mpsc::channel::<RowPart>(2);
        let dump = self.store.dump(ctx.tenant_id(), kind, tx);
        // Owns the receiver: when it stops early, the dump's next send fails and the
        // snapshot's transaction ends with it.
        let forward = async move {
            let mut files: Vec<(String, u64, Option<String>)> = Vec::new();
            while let Some(mut part) = rx.recv().await {
                if part.rows > 0 {
                    if part.entity == "files" {
                        for row in parse_lines(&part.entity, &part.lines)? {
                            let size = row.get("size").and_then(Value::as_u64).unwrap_or(0);
                            let location = row.get("location").and_then(Value::as_str);
                            files.push((
                                text(&row, "id").to_owned(),
                                size,
                                location.map(str::to_owned),
                            ));
                        }
                    }
                    if let Some(sealed) = platform_sealed(&part.entity) {
                        part.lines = self.open_sealed(sealed, &part).await?;
                    }
                }
                let rows = part.rows;
                writer.rows(&part.entity, part.lines, rows).await?;
                progress.rows.fetch_add(rows, Ordering::Relaxed);
            }
            Ok::<_, ExportError>(files)
        };
        let (dumped, forwarded) = futures_util::future::join(dump, forward).await;
        let files = forwarded?;
        dumped?;
        for (id, size, location) in files {
            let file = id
                .parse::<FileId>()
                .map_err(|_| Unexpected::msg(format!("a file id {id}")))?;
            let at = location
                .map(|l| l.parse::<BucketId>())
                .transpose()
                .map_err(|_| Unexpected::msg(format!("file {id}'s location")))?;
            let key = object_key(ctx.tenant_id(), file);
            let content = self
                .storage
                .read(ctx, at, &key, None)
                .await
                .map_err(|e| ArchiveError::Storage(format!("file {id}: {e}")))?;
            writer.file(&id, size, content).await?;
            progress.files.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Opens a [`PLATFORM_SEALED`] column of `part` for the archive.
    async fn open_sealed(&self, sealed: Sealed, part: &RowPart) -> Result<Vec<u8>, ExportError> {
        let mut rows = parse_lines(&part.entity, &part.lines)?;
        for row in &mut rows {
            let user = text(row, sealed.2).to_owned();
            let value = text(row, sealed.1).to_owned();
            let open = self
                .platform
                .cipher
                .open_platform(platform_slot(sealed, &user), &value)
                .await?;
            row.insert(sealed.1.to_owned(), Value::String(STANDARD.encode(open)));
        }
        Ok(to_lines(&rows))
    }

    /// Seals a [`PLATFORM_SEALED`] column of `rows` again, under this instance's key.
    async fn seal_again(
        &self,
        sealed: Sealed,
        rows: &mut [Map<String, Value>],
    ) -> Result<(), ImportError> {
        for row in rows {
            let user = text(row, sealed.2).to_owned();
            let open = STANDARD
                .decode(text(row, sealed.1))
                .map_err(|e| ArchiveError::Damaged(format!("{}: {e}", sealed.0)))?;
            let value = self
                .platform
                .cipher
                .seal_platform(platform_slot(sealed, &user), &open)
                .await?;
            row.insert(sealed.1.to_owned(), Value::String(value));
        }
        Ok(())
    }

    /// Imports the operator's archive at `path` (read twice: first checked whole and its files
    /// stored, then its rows written in one transaction). `slug` replaces the archive's.
    /// Nothing stays behind when it fails.
    pub async fn import(
        &self,
        path: &Path,
        unsealing: Unsealing,
        slug: Option<String>,
        actor: Actor,
    ) -> Result<Imported, ImportError> {
        self.import_as(path, unsealing, slug, actor, None).await
    }

    /// [`ArchiveService::import`], or with `replacing` the restore of a backup over its tenant.
    pub(crate) async fn import_as(
        &self,
        path: &Path,
        unsealing: Unsealing,
        slug: Option<String>,
        actor: Actor,
        replacing: Option<Replacing>,
    ) -> Result<Imported, ImportError> {
        let unsealing = Arc::new(unsealing);
        let mut facts = Facts {
            slug: slug.unwrap_or_default(),
            replacing,
            ..Facts::default()
        };
        let mut written: Vec<(TenantCtx, String)> = Vec::new();
        let first = self
            .check_and_store(path, &unsealing, &mut facts, &mut written, &actor)
            .await;
        let result = match first {
            Ok(()) => self.write_rows(path, &unsealing, &facts, &actor).await,
            Err(e) => Err(e),
        };
        if let (Ok(_), Some(r)) = (&result, &facts.replacing) {
            self.drop_replaced_files(r, &facts, &actor).await;
        }
        match result {
            Ok(rows) => Ok(Imported {
                tenant: TenantRef {
                    slug: facts.slug.clone(),
                    ..facts
                        .header
                        .map(|h| h.tenant)
                        .ok_or_else(|| Unexpected::msg("no header"))?
                },
                rows,
                files: written.len() as u64,
            }),
            Err(e) => {
                for (ctx, key) in &written {
                    if let Err(left) = self.storage.delete(ctx, None, key).await {
                        tracing::warn!(key, error = %left, "an imported file was left behind");
                    }
                }
                Err(e)
            }
        }
    }

    fn open(path: &Path) -> Result<Box<dyn Read + Send>, ImportError> {
        Ok(Box::new(
            std::fs::File::open(path).map_err(ArchiveError::Io)?,
        ))
    }

    async fn check_and_store(
        &self,
        path: &Path,
        unsealing: &Arc<Unsealing>,
        facts: &mut Facts,
        written: &mut Vec<(TenantCtx, String)>,
        actor: &Actor,
    ) -> Result<(), ImportError> {
        let want = Want {
            rows: true,
            files: true,
        };
        let mut rx = container::read(Self::open(path)?, unsealing.clone(), want);
        let mut file: Option<(
            String,
            Box<dyn tenantry_files::ObjectWriter>,
            TenantCtx,
            String,
        )> = None;
        while let Some(piece) = rx.recv().await {
            let piece = match piece {
                Ok(p) => p,
                Err(e) => {
                    if let Some((_, w, _, _)) = file.take() {
                        w.abort().await;
                    }
                    return Err(e.into());
                }
            };
            match piece {
                Piece::Header(h) => {
                    if h.kind != ArchiveKind::Operator {
                        return Err(ImportError::NotImportable);
                    }
                    if let Some(r) = &facts.replacing
                        && h.tenant.id != r.tenant
                    {
                        return Err(ArchiveError::Damaged(
                            "the backup is another tenant's".to_owned(),
                        )
                        .into());
                    }
                    if facts.slug.is_empty() {
                        facts.slug = h.tenant.slug.clone();
                    }
                    facts.header = Some(h);
                }
                Piece::Rows { entity, lines } => self.learn(facts, &entity, &lines)?,
                Piece::RowsDone => self.check(facts).await?,
                Piece::File { id, size } => {
                    self.check(facts).await?;
                    let tenant = self.tenant_of(facts)?;
                    match facts.files.get(&id) {
                        Some((_, recorded)) if *recorded == size => {}
                        _ => {
                            return Err(ArchiveError::Damaged(format!(
                                "file {id} has no record of {size} bytes"
                            ))
                            .into());
                        }
                    }
                    let file_id = id
                        .parse::<FileId>()
                        .map_err(|_| ArchiveError::Damaged(format!("file id {id}")))?;
                    let ctx = self.ctx(tenant, *actor);
                    let key = object_key(tenant, file_id);
                    let w = self
                        .storage
                        .writer(&ctx, None, &key)
                        .await
                        .map_err(|e| ArchiveError::Storage(e.to_string()))?;
                    file = Some((id, w, ctx, key));
                }
                Piece::Chunk(bytes) => {
                    if let Some((_, w, _, _)) = file.as_mut()
                        && let Err(e) = w.write(bytes).await
                    {
                        if let Some((_, w, _, _)) = file.take() {
                            w.abort().await;
                        }
                        return Err(ArchiveError::Storage(e.to_string()).into());
                    }
                }
                Piece::FileEnd { sha256 } => {
                    let Some((id, w, ctx, key)) = file.take() else {
                        continue;
                    };
                    if facts.files.get(&id).map(|(s, _)| s) != Some(&sha256) {
                        w.abort().await;
                        return Err(ArchiveError::Damaged(format!(
                            "file {id}'s bytes do not match its SHA-256"
                        ))
                        .into());
                    }
                    // (A failed finish leaves nothing under the key.)
                    w.finish()
                        .await
                        .map_err(|e| ArchiveError::Storage(e.to_string()))?;
                    // A restore rewrites the files the tenant still has with the same bytes:
                    // those stay whatever happens next.
                    let kept = facts
                        .replacing
                        .as_ref()
                        .is_some_and(|r| r.files.iter().any(|(f, at)| *f == id && at.is_none()));
                    if !kept {
                        written.push((ctx, key));
                    }
                    facts.stored += 1;
                }
                Piece::Manifest(m) => {
                    self.check(facts).await?;
                    if facts.stored != facts.files.len() {
                        return Err(ArchiveError::Damaged(format!(
                            "{} file records, {} files",
                            facts.files.len(),
                            facts.stored
                        ))
                        .into());
                    }
                    facts.manifest = Some(m);
                    return Ok(());
                }
            }
        }
        Err(ArchiveError::Damaged("the archive ended early".to_owned()).into())
    }

    /// After a restore: the content of files the backup does not have, and of files that
    /// were in the tenant's own bucket (the restored records say the platform's store, where
    /// the backup's bytes now are).
    async fn drop_replaced_files(&self, r: &Replacing, facts: &Facts, actor: &Actor) {
        let ctx = self.ctx(r.tenant, *actor);
        for (id, at) in &r.files {
            if at.is_none() && facts.files.contains_key(id) {
                continue;
            }
            let (Ok(file), Ok(at)) = (
                id.parse::<FileId>(),
                at.as_deref().map(str::parse::<BucketId>).transpose(),
            ) else {
                continue;
            };
            let key = object_key(r.tenant, file);
            if let Err(e) = self.storage.delete(&ctx, at, &key).await {
                tracing::warn!(key, error = %e, "a file the restore replaced was left behind");
            }
        }
    }

    fn tenant_of(&self, facts: &Facts) -> Result<TenantId, ImportError> {
        facts
            .header
            .as_ref()
            .map(|h| h.tenant.id)
            .ok_or_else(|| ArchiveError::Malformed("no header".to_owned()).into())
    }

    fn subdomain(&self, slug: &str) -> String {
        format!("{slug}.{}", self.config.base_domain)
    }

    /// Notes what the checks and the rewrite need from the small entities.
    fn learn(&self, facts: &mut Facts, entity: &str, lines: &[u8]) -> Result<(), ImportError> {
        if platform_sealed(entity).is_some() && !lines.is_empty() {
            facts.platform_sealed = true;
        }
        let interesting = ["domains", "users", "subscriptions", "files", KEY_ENTITY];
        if !interesting.contains(&entity) {
            return Ok(());
        }
        for row in parse_lines(entity, lines)? {
            match entity {
                "domains" => facts.hostnames.push(if text(&row, "kind") == "subdomain" {
                    self.subdomain(&facts.slug)
                } else {
                    text(&row, "hostname").to_owned()
                }),
                "users" => facts.users.push((
                    text(&row, "id").to_owned(),
                    text(&row, "email_normalized").to_owned(),
                )),
                "subscriptions" => facts.plans.push(text(&row, "plan").to_owned()),
                "files" => {
                    let size = row.get("size").and_then(Value::as_u64).unwrap_or(0);
                    facts.files.insert(
                        text(&row, "id").to_owned(),
                        (text(&row, "sha256").to_owned(), size),
                    );
                }
                _ => {
                    let key = STANDARD
                        .decode(text(&row, "data_key"))
                        .map_err(|e| ArchiveError::Damaged(format!("{KEY_ENTITY}: {e}")))?;
                    facts.data_key = Some(key);
                }
            }
        }
        Ok(())
    }

    async fn check(&self, facts: &mut Facts) -> Result<(), ImportError> {
        if facts.checked {
            return Ok(());
        }
        let check = ImportCheck {
            replacing: facts.replacing.as_ref().map(|r| r.tenant),
            tenant: Some(self.tenant_of(facts)?),
            slug: facts.slug.clone(),
            hostnames: facts.hostnames.clone(),
            users: facts.users.clone(),
            plans: facts.plans.clone(),
        };
        if let Some(first) = self
            .store
            .import_conflicts(&check)
            .await?
            .into_iter()
            .next()
        {
            return Err(first);
        }
        facts.checked = true;
        Ok(())
    }

    async fn write_rows(
        &self,
        path: &Path,
        unsealing: &Arc<Unsealing>,
        facts: &Facts,
        actor: &Actor,
    ) -> Result<LoadReport, ImportError> {
        let header = facts
            .header
            .as_ref()
            .ok_or_else(|| ArchiveError::Malformed("no header".to_owned()))?;
        let ctx = self.ctx(header.tenant.id, *actor);
        let restoring = facts.replacing.as_ref().map(|r| r.backup);
        let plan = LoadPlan {
            // A restore keeps the tenant's key (the backup's is the same one).
            data_key: match restoring {
                Some(_) => None,
                None => facts
                    .data_key
                    .as_deref()
                    .map(|k| self.keys.wrap_key(k))
                    .transpose()?,
            },
            replace: restoring.is_some(),
            action: if restoring.is_some() {
                "restored"
            } else {
                "imported"
            },
            details: vec![
                (
                    "archive_created_at",
                    Value::String(header.created_at.to_rfc3339()),
                ),
                ("producer", Value::String(header.producer.clone())),
                ("archived_slug", Value::String(header.tenant.slug.clone())),
                ("slug", Value::String(facts.slug.clone())),
            ]
            .into_iter()
            .chain(restoring.map(|b| ("backup", Value::String(b.to_string()))))
            .collect(),
        };
        if facts.platform_sealed {
            // Sealing may first make this instance's platform key, a write of its own: make
            // it now, not inside the import's transaction (SQLite has one writer).
            self.platform
                .cipher
                .seal_platform(platform_slot(PLATFORM_SEALED[0], "archive-import"), b"")
                .await?;
        }
        let want = Want {
            rows: true,
            files: false,
        };
        let mut rx = container::read(Self::open(path)?, unsealing.clone(), want);
        let (tx, store_rx) = mpsc::channel::<Incoming>(2);
        let load = self.store.load(&ctx, &plan, store_rx);
        let checked = facts
            .manifest
            .as_ref()
            .ok_or_else(|| ArchiveError::Malformed("no manifest".to_owned()))?;
        let feed = async move {
            // The rows are checked against pass 1's manifest as they go, and the load is
            // ended (committed) once they all match: before the files, which pass 1 stored.
            let mut seen: HashMap<String, (u64, u64, Sha256)> = HashMap::new();
            while let Some(piece) = rx.recv().await {
                match piece? {
                    Piece::Rows { entity, lines } => {
                        let count = lines.iter().filter(|b| **b == b'\n').count() as u64;
                        let totals = seen.entry(entity.clone()).or_default();
                        totals.0 += count;
                        totals.1 += 1;
                        totals.2.update(&lines);
                        if entity == KEY_ENTITY {
                            continue;
                        }
                        let rows = self.rewrite(facts, &entity, lines).await?;
                        let part = RowPart {
                            entity,
                            lines: rows,
                            rows: count,
                        };
                        if tx.send(Incoming::Rows(part)).await.is_err() {
                            return Ok(());
                        }
                    }
                    Piece::RowsDone => {
                        same_rows(checked, seen)?;
                        let _ = tx.send(Incoming::End).await;
                        return Ok(());
                    }
                    _ => {}
                }
            }
            Err(ImportError::Archive(ArchiveError::Damaged(
                "the archive ended early".to_owned(),
            )))
        };
        let (loaded, fed) = futures_util::future::join(load, feed).await;
        fed?;
        loaded
    }

    /// What changes on the way in: the slug (and the subdomain with it, under this
    /// instance's base domain), TOTP secrets sealed again, files now in the platform store.
    async fn rewrite(
        &self,
        facts: &Facts,
        entity: &str,
        lines: Vec<u8>,
    ) -> Result<Vec<u8>, ImportError> {
        if !["tenants", "domains", "files"].contains(&entity) && platform_sealed(entity).is_none() {
            return Ok(lines);
        }
        let mut rows = parse_lines(entity, &lines)?;
        if let Some(sealed) = platform_sealed(entity) {
            self.seal_again(sealed, &mut rows).await?;
            return Ok(to_lines(&rows));
        }
        match entity {
            "tenants" => {
                for row in &mut rows {
                    row.insert("slug".to_owned(), Value::String(facts.slug.clone()));
                }
            }
            "domains" => {
                for row in &mut rows {
                    if text(row, "kind") == "subdomain" {
                        row.insert(
                            "hostname".to_owned(),
                            Value::String(self.subdomain(&facts.slug)),
                        );
                    }
                }
            }
            _ => {
                for row in &mut rows {
                    row.insert("location".to_owned(), Value::Null);
                }
            }
        }
        Ok(to_lines(&rows))
    }
}
