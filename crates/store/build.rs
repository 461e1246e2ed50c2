//! Rebuilds when a migration changes (`embed_migrations!` does not notice new folders) and
//! exposes a digest of the PostgreSQL migrations, used to name test template databases.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;

fn hash_dir(dir: &Path, h: &mut DefaultHasher) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        p.file_name().hash(h);
        if p.is_dir() {
            hash_dir(&p, h);
        } else if let Ok(bytes) = std::fs::read(&p) {
            bytes.hash(h);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
    let mut h = DefaultHasher::new();
    hash_dir(Path::new("../../migrations/postgres"), &mut h);
    println!(
        "cargo:rustc-env=TENANTRY_PG_MIGRATIONS_DIGEST={:016x}",
        h.finish()
    );
}
