//! Instants as the API writes them: RFC 3339 in UTC, `Z`, with as many fractional digits as
//! the instant needs (none, 3, 6 or 9) — exactly chrono's own serialisation, written into a
//! stack buffer at once. chrono's `Serialize` goes through `collect_str`, and serde_json
//! escapes each of the formatter's single characters on its own: a page of twenty products
//! spent more time writing its forty timestamps than reading its rows from SQLite.
//!
//! Use on a view's fields: `#[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]`,
//! and `instant::rfc3339_opt` for an optional one.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::Serializer;

/// Serialises an instant as chrono does, faster.
pub fn rfc3339<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX_LEN];
    match write(at, &mut buf) {
        Some(text) => s.serialize_str(text),
        // A year outside 0..=9999 or a leap second: rare enough for chrono's own path.
        None => s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

/// [`rfc3339`] for an optional instant: `null` when there is none.
pub fn rfc3339_opt<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, s),
        None => s.serialize_none(),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`
const MAX_LEN: usize = 30;

/// Writes `at` into `buf`; `None` where chrono's form is not the fixed-width one (a year
/// outside 0..=9999, or a leap second).
fn write<'b>(at: &DateTime<Utc>, buf: &'b mut [u8; MAX_LEN]) -> Option<&'b str> {
    // The fields of the UTC date and time, read once: each of `DateTime`'s own accessors
    // adds the (zero) offset to the instant again.
    let at = at.naive_utc();
    let year = at.year();
    let nano = at.nanosecond();
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        return None;
    }
    let mut len = 0;
    digits(buf, &mut len, year as u32, 4);
    for (sep, value) in [
        (b'-', at.month()),
        (b'-', at.day()),
        (b'T', at.hour()),
        (b':', at.minute()),
        (b':', at.second()),
    ] {
        buf[len] = sep;
        len += 1;
        digits(buf, &mut len, value, 2);
    }
    let fraction = match nano {
        0 => None,
        n if n % 1_000_000 == 0 => Some((n / 1_000_000, 3)),
        n if n % 1_000 == 0 => Some((n / 1_000, 6)),
        n => Some((n, 9)),
    };
    if let Some((value, width)) = fraction {
        buf[len] = b'.';
        len += 1;
        digits(buf, &mut len, value, width);
    }
    buf[len] = b'Z';
    len += 1;
    std::str::from_utf8(&buf[..len]).ok()
}

/// Writes `value`'s last `width` decimal digits at `*len`, zero-padded.
fn digits(buf: &mut [u8; MAX_LEN], len: &mut usize, mut value: u32, width: usize) {
    for slot in buf[*len..*len + width].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
    *len += width;
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;

    fn ours(at: &DateTime<Utc>) -> String {
        let mut out = Vec::new();
        rfc3339(at, &mut serde_json::Serializer::new(&mut out)).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn chronos(at: &DateTime<Utc>) -> String {
        serde_json::to_string(at).unwrap()
    }

    #[test]
    fn writes_what_chrono_writes() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            // Any second from year 0 to 9999, and every kind of fraction.
            let secs = (next() % 315_537_897_600) as i64 - 62_167_219_200;
            let nanos = match next() % 4 {
                0 => 0,
                1 => (next() % 1_000) as u32 * 1_000_000,
                2 => (next() % 1_000_000) as u32 * 1_000,
                _ => (next() % 1_000_000_000) as u32,
            };
            let at = Utc.timestamp_opt(secs, nanos).unwrap();
            assert_eq!(ours(&at), chronos(&at), "{secs} {nanos}");
        }
    }

    #[test]
    fn the_edges_take_chronos_path() {
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        let far = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
        let before = Utc.with_ymd_and_hms(-1, 12, 31, 23, 59, 59).unwrap();
        let first = Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap();
        for at in [leap, far, before, first] {
            assert_eq!(ours(&at), chronos(&at));
        }
        assert_eq!(ours(&first), "\"0000-01-01T00:00:00Z\"");
        let opt: Option<DateTime<Utc>> = None;
        let mut out = Vec::new();
        rfc3339_opt(&opt, &mut serde_json::Serializer::new(&mut out)).unwrap();
        assert_eq!(out, b"null");
    }
}
