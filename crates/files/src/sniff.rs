//! What a file is, read from its first bytes (never from the client's name or header), and
//! which kinds a tenant may store.

/// How many leading bytes are read before deciding (the Office formats' markers sit a few
/// kilobytes into their zip).
pub const SNIFF_BYTES: usize = 8 * 1024;

/// The kinds accepted: images browsers show safely, documents, plain text, archives. Never
/// markup a browser would run (HTML, SVG, XML) or programs.
pub const ALLOWED: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "application/pdf",
    "text/plain",
    "application/zip",
    "application/gzip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "audio/mpeg",
    "video/mp4",
];

/// The media type of content starting with `head` (all of it, when shorter than
/// [`SNIFF_BYTES`]): a known signature, else `text/plain` for UTF-8 without NUL bytes (a
/// multi-byte character cut at the end of `head` still counts), else
/// `application/octet-stream`.
pub fn sniff(head: &[u8]) -> &'static str {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type();
    }
    if !head.contains(&0) && is_utf8_prefix(head) {
        return "text/plain";
    }
    "application/octet-stream"
}

/// Whether tenants may store content of this type.
pub fn allowed(content_type: &str) -> bool {
    ALLOWED.contains(&content_type)
}

fn is_utf8_prefix(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        // Only an incomplete character at the very end is forgiven.
        Err(e) => e.error_len().is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_win_over_names() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(sniff(png), "image/png");
        assert_eq!(sniff(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(sniff(b"hello, world\n"), "text/plain");
        assert_eq!(sniff("na\u{ef}ve".as_bytes()), "text/plain");
        // A character cut by the sniff window is still text.
        assert_eq!(sniff(&"é".as_bytes()[..1]), "text/plain");
        assert_eq!(sniff(b"\x00\x01\x02"), "application/octet-stream");
        assert_eq!(sniff(b"\xff\xfe\xfd"), "application/octet-stream");
    }

    #[test]
    fn programs_and_markup_are_refused() {
        let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0";
        assert!(!allowed(sniff(elf)));
        assert!(!allowed(sniff(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff")));
        assert_eq!(
            sniff(b"<html><script>alert(1)</script></html>"),
            "text/html"
        );
        assert!(!allowed("text/html"));
        assert!(allowed(sniff(b"\x89PNG\r\n\x1a\n")));
        assert!(!allowed("application/octet-stream"));
    }
}
