//! `tenantry tenant export` and `tenantry tenant import`: the operator's archives on disk.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use tenantry_archive::{ArchiveKind, Sealing, SecretString, Unsealing};
use tenantry_kernel::Actor;
use tenantry_tenancy::Slug;

use crate::wiring::Wiring;

fn passphrase(file: &Path) -> Result<SecretString> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the passphrase file {}", file.display()))?;
    let line = text.lines().next().unwrap_or_default().to_owned();
    if line.is_empty() {
        bail!("the passphrase file {} is empty", file.display());
    }
    Ok(SecretString::from(line))
}

/// What `tenant export` was told.
pub struct ExportArgs<'a> {
    pub tenant: &'a str,
    pub out: &'a Path,
    pub recipients: &'a [String],
    pub passphrase_file: Option<&'a Path>,
    pub unencrypted: bool,
    pub without_credentials: bool,
}

pub async fn export(wiring: &Wiring, args: ExportArgs<'_>) -> Result<()> {
    let kind = if args.without_credentials {
        ArchiveKind::Export
    } else {
        ArchiveKind::Operator
    };
    let sealing = if !args.recipients.is_empty() {
        Sealing::Recipients(tenantry_archive::recipients(
            args.recipients.iter().map(String::as_str),
        )?)
    } else if let Some(file) = args.passphrase_file {
        Sealing::Passphrase(passphrase(file)?)
    } else if args.unencrypted || kind == ArchiveKind::Export {
        Sealing::None
    } else {
        bail!(
            "an operator's archive carries password hashes, API key digests and the tenant's \
             data key: encrypt it (--recipient age1… or --passphrase-file FILE), or say \
             --unencrypted"
        );
    };
    // Written beside the target and renamed once complete: a failed export leaves no
    // half-archive under the name.
    let partial = PathBuf::from(format!("{}.partial", args.out.display()));
    let file = create_private(&partial)?;
    let on_disk = file.try_clone().context("the archive file")?;
    let written = wiring
        .archives()?
        .export(args.tenant, kind, Box::new(file), sealing, Actor::System)
        .await;
    let manifest = match written {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e).context("export failed");
        }
    };
    // On disk before it takes the name: a crash never leaves a cut archive under it.
    on_disk.sync_all().context("writing the archive to disk")?;
    std::fs::rename(&partial, args.out)
        .with_context(|| format!("renaming {} to {}", partial.display(), args.out.display()))?;
    let rows: u64 = manifest.entities.values().map(|e| e.rows).sum();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "exported {} ({}) to {}: {} rows in {} entities, {} files ({} bytes), {} archive",
        manifest.header.tenant.slug,
        manifest.header.tenant.id,
        args.out.display(),
        rows,
        manifest.entities.len(),
        manifest.files.count,
        manifest.files.bytes,
        kind.as_str()
    )?;
    Ok(())
}

fn create_private(path: &Path) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

pub async fn import(
    wiring: &Wiring,
    archive: &Path,
    slug: Option<&str>,
    identity: Option<&Path>,
    passphrase_file: Option<&Path>,
) -> Result<()> {
    let slug = slug
        .map(|s| {
            Slug::parse(s)
                .map(|s| s.as_str().to_owned())
                .map_err(|e| anyhow!("invalid slug '{s}': {e}"))
        })
        .transpose()?;
    let unsealing = match (identity, passphrase_file) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading the identity file {}", file.display()))?;
            Unsealing::identity_file(&text)?
        }
        (None, Some(file)) => Unsealing::Passphrase(passphrase(file)?),
        (None, None) => Unsealing::None,
    };
    let imported = wiring
        .archives()?
        .import(archive, unsealing, slug, Actor::System)
        .await
        .context("import failed; nothing was written")?;
    let rows: u64 = imported.rows.iter().map(|(_, n)| n).sum();
    println!(
        "imported {} ({}) at {}: {} rows, {} files",
        imported.tenant.slug,
        imported.tenant.id,
        wiring
            .tenants()
            .base_domain()
            .subdomain(&Slug::parse(&imported.tenant.slug).map_err(|e| anyhow!("{e}"))?),
        rows,
        imported.files
    );
    Ok(())
}

/// The tenant named `key` (id or slug), as the archives know it.
async fn tenant(wiring: &Wiring, key: &str) -> Result<tenantry_archive::TenantRef> {
    use tenantry_archive::ArchiveStore as _;
    wiring
        .db
        .archived_tenant(key)
        .await?
        .ok_or_else(|| anyhow!("tenant not found: no tenant has the id or slug '{key}'"))
}

/// `tenant backups list`.
pub async fn backups_list(wiring: &Wiring, key: &str) -> Result<()> {
    let t = tenant(wiring, key).await?;
    let list = wiring.archives()?.backups(&wiring.cli_ctx(t.id)).await?;
    println!(
        "{:<36}  {:<20}  {:>12}  {:>9}  {:>6}  ENCRYPTED",
        "ID", "CREATED", "BYTES", "ROWS", "FILES"
    );
    for b in list {
        println!(
            "{:<36}  {:<20}  {:>12}  {:>9}  {:>6}  {}",
            b.id,
            b.created_at.format("%Y-%m-%d %H:%M:%S"),
            b.size,
            b.rows,
            b.files,
            if b.encrypted() { "yes" } else { "no" }
        );
    }
    Ok(())
}

/// `tenant backups create`.
pub async fn backup_create(wiring: &Wiring, key: &str) -> Result<()> {
    let t = tenant(wiring, key).await?;
    let b = wiring
        .archives()?
        .back_up(&wiring.cli_ctx(t.id))
        .await
        .map_err(|e| match e {
            tenantry_archive::ExportJobError::Retry(m)
            | tenantry_archive::ExportJobError::Permanent(m) => anyhow!("the backup failed: {m}"),
        })?;
    println!(
        "backup {} of {}: {} rows, {} files, {} bytes{}",
        b.id,
        t.slug,
        b.rows,
        b.files,
        b.size,
        if b.encrypted() { ", encrypted" } else { "" }
    );
    Ok(())
}

/// `tenant restore`.
pub async fn restore(wiring: &Wiring, key: &str, backup: &str, confirm: bool) -> Result<()> {
    let t = tenant(wiring, key).await?;
    let id = backup
        .parse::<tenantry_kernel::BackupId>()
        .map_err(|_| anyhow!("'{backup}' is not a backup id"))?;
    if !confirm {
        bail!(
            "this replaces all of {}'s data with the backup's: say --confirm",
            t.slug
        );
    }
    let restored = wiring
        .archives()?
        .restore(&wiring.cli_ctx(t.id), id, Actor::System)
        .await?;
    let rows: u64 = restored.rows.iter().map(|(_, n)| n).sum();
    println!(
        "restored {} from backup {id}: {rows} rows, {} files",
        t.slug, restored.files
    );
    Ok(())
}
