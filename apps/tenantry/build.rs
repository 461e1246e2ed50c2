//! How the `tenantry` binary is linked, for what it holds in memory at rest (decision 0063)
//! and how fast it runs a read (decision 0069).
//!
//! - **Packed relative relocations** (`-z pack-relative-relocs`, DT_RELR): the loader reads a
//!   few kilobytes of relocations at start instead of 4 MB. Only where the C library applies
//!   them (glibc 2.36 and later): an older one refuses such a binary.
//! - **The functions a read request runs, then those a start runs, laid out together**
//!   (`link.order`, written by `scripts/link-order`): a request's code lies together on a few
//!   hundred pages rather than across the 40 MB of code, and a start touches a few megabytes
//!   rather than pages across all of it. Only with the LLVM linker Rust uses on x86-64 Linux
//!   from 1.90 on, and only in release builds, which the file's names were taken from.
//!
//! `TENANTRY_LINK_LAYOUT=off` at build time turns both off.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=link.order");
    println!("cargo::rerun-if-env-changed=TENANTRY_LINK_LAYOUT");
    if env::var("TENANTRY_LINK_LAYOUT").is_ok_and(|v| v == "off")
        || env::var("TARGET").is_ok_and(|t| t != "x86_64-unknown-linux-gnu")
    {
        return;
    }
    if glibc_minor().is_some_and(|minor| minor >= 36) {
        println!("cargo::rustc-link-arg-bin=tenantry=-Wl,-z,pack-relative-relocs");
    }
    if env::var("PROFILE").is_ok_and(|p| p == "release") && links_with_rust_lld() {
        let order =
            Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("link.order");
        println!(
            "cargo::rustc-link-arg-bin=tenantry=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // A name the binary no longer has (another compiler, a changed dependency) is skipped.
        println!("cargo::rustc-link-arg-bin=tenantry=-Wl,--no-warn-symbol-ordering");
    }
}

/// The C library's minor version, from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
fn glibc_minor() -> Option<u32> {
    let out = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.trim()
        .strip_prefix("glibc 2.")?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// Whether the link runs Rust's own LLVM linker: the default from Rust 1.90 on, unless the
/// flags choose another linker.
fn links_with_rust_lld() -> bool {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let minor = Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|v| {
            v.strip_prefix("rustc 1.")?
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        });
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let other_linker = ["linker", "link-self-contained", "fuse-ld"]
        .iter()
        .any(|flag| flags.contains(flag));
    minor.is_some_and(|minor| minor >= 90) && !other_linker
}
