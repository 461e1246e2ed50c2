//! TOTP (RFC 6238: HMAC-SHA-1, six digits, 30-second steps, one step of drift either way)
//! through `totp-rs`, and recovery codes from the operating system's generator.

use chrono::{DateTime, Utc};
use tenantry_identity::{OneTimeCodes, TotpProvisioning};
use tenantry_kernel::Unexpected;
use totp_rs::{Builder, Totp};

#[derive(Clone, Copy, Debug, Default)]
pub struct TotpCodes;

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS generator failing is not something to continue from.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("operating system random generator");
    bytes
}

/// The authenticator for `secret`; `account` and `issuer` only label it in apps (a colon,
/// which the key URI format reserves, becomes a space).
fn totp(secret: &[u8], account: &str, issuer: &str) -> Result<Totp, Unexpected> {
    let label = |s: &str| s.replace(':', " ");
    Builder::new()
        .with_secret(secret.to_vec())
        .with_account_name(label(account))
        .with_issuer(Some(label(issuer)))
        .build()
        .map_err(|e| Unexpected::msg(format!("cannot build a TOTP authenticator: {e}")))
}

impl OneTimeCodes for TotpCodes {
    fn totp_secret(&self) -> Vec<u8> {
        random::<20>().to_vec()
    }

    fn totp_provisioning(
        &self,
        secret: &[u8],
        account: &str,
        issuer: &str,
    ) -> Result<TotpProvisioning, Unexpected> {
        let t = totp(secret, account, issuer)?;
        let uri = t.to_url().map_err(|e| Unexpected::msg(e.to_string()))?;
        let png = t
            .to_qr_base64()
            .map_err(|e| Unexpected::msg(e.to_string()))?;
        Ok(TotpProvisioning {
            secret: t.secret().to_base32(),
            uri,
            qr_png_data_url: format!("data:image/png;base64,{png}"),
        })
    }

    fn totp_step(&self, secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let t = Builder::new().with_secret(secret.to_vec()).build().ok()?;
        let step = t.check(code, u64::try_from(now.timestamp()).ok()?)?;
        i64::try_from(step).ok()
    }

    fn recovery_code(&self) -> String {
        // 80 bits in 16 lower-case base32 characters, grouped by four.
        let alphabet = b"abcdefghijklmnopqrstuvwxyz234567";
        let bytes = random::<10>();
        let mut bits: u128 = 0;
        for b in bytes {
            bits = (bits << 8) | u128::from(b);
        }
        let chars: Vec<char> = (0..16)
            .rev()
            .map(|i| char::from(alphabet[((bits >> (i * 5)) & 31) as usize]))
            .collect();
        chars
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join("-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238's SHA-1 test vector (its 20-byte secret, T = 59 s → 94287082; six digits).
    #[test]
    fn rfc_6238_vector() {
        let secret = b"12345678901234567890";
        let at = DateTime::from_timestamp(59, 0).unwrap();
        assert_eq!(TotpCodes.totp_step(secret, "287082", at), Some(1));
        assert_eq!(TotpCodes.totp_step(secret, "287083", at), None);
        assert_eq!(TotpCodes.totp_step(secret, "28708", at), None);
    }

    #[test]
    fn provisioning_and_recovery_codes() {
        let secret = TotpCodes.totp_secret();
        assert_eq!(secret.len(), 20);
        let p = TotpCodes
            .totp_provisioning(&secret, "ann@example.com", "Tenantry")
            .unwrap();
        assert!(
            p.uri
                .starts_with("otpauth://totp/Tenantry:ann%40example.com?"),
            "{}",
            p.uri
        );
        assert!(p.uri.contains(&format!("secret={}", p.secret)));
        assert!(p.qr_png_data_url.starts_with("data:image/png;base64,iVBOR"));
        let code = TotpCodes.recovery_code();
        assert_eq!(code.len(), 19);
        assert_ne!(code, TotpCodes.recovery_code());
    }
}
