//! argon2id with OWASP's parameters (m = 19 MiB, t = 2, p = 1), run on tokio's blocking pool.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tenantry_identity::{NewPassword, PasswordHash, PasswordHasher};
use tenantry_kernel::Unexpected;

/// OWASP's minimum for argon2id: 19 MiB of memory, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
    decoy: PasswordHash,
    /// Hashing runs on these few dedicated threads: each hash takes a core and 19 MiB. On
    /// tokio's blocking pool a login storm took every core from other requests, and each of
    /// its many threads kept its own 19 MiB blocks (1 GB of memory after a few seconds).
    pool: std::sync::Arc<rayon::ThreadPool>,
}

impl Argon2Hasher {
    pub fn new() -> Result<Self, Unexpected> {
        let params = Params::new(MEMORY_KIB, PASSES, LANES, None).map_err(Unexpected::new)?;
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| Unexpected::msg(e.to_string()))?;
        let decoy = hash_blocking(&params, &random)?;
        // Leave at least one core to everything else.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cores.saturating_sub(1).max(1))
            .thread_name(|i| format!("tenantry-argon2-{i}"))
            .build()
            .map_err(Unexpected::new)?;
        Ok(Self {
            params,
            decoy,
            pool: std::sync::Arc::new(pool),
        })
    }

    /// Runs `work` on the hashing threads; queued requests wait without blocking anything.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Unexpected> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            let _ = tx.send(work());
        });
        rx.await
            .map_err(|_| Unexpected::msg("the hashing thread stopped"))
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<PasswordHash, Unexpected> {
    argon2(params)
        .hash_password(password)
        .map(|h| PasswordHash(h.to_string()))
        .map_err(|e| Unexpected::msg(format!("argon2: {e}")))
}

impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &NewPassword) -> Result<PasswordHash, Unexpected> {
        let params = self.params.clone();
        let password = password.expose().as_bytes().to_vec();
        self.run(move || hash_blocking(&params, &password)).await?
    }

    async fn verify_password(
        &self,
        password: &str,
        hash: &PasswordHash,
    ) -> Result<bool, Unexpected> {
        let params = self.params.clone();
        let password = password.as_bytes().to_vec();
        let hash = hash.0.clone();
        // The parameters stored in the hash are the ones used to verify it.
        self.run(move || {
            argon2(&params)
                .verify_password(&password, hash.as_str())
                .is_ok()
        })
        .await
    }

    fn decoy(&self) -> &PasswordHash {
        &self.decoy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenantry_kernel::Email;

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_that_verify() {
        let h = Argon2Hasher::new().unwrap();
        let email = Email::parse("ann@example.com").unwrap();
        let pw = NewPassword::parse("correct horse battery", &email).unwrap();
        let hash = h.hash(&pw).await.unwrap();
        assert!(
            hash.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.0
        );
        assert!(
            h.verify_password("correct horse battery", &hash)
                .await
                .unwrap()
        );
        assert!(
            !h.verify_password("correct horse batterY", &hash)
                .await
                .unwrap()
        );
        assert!(
            !h.verify_password("anything", &PasswordHash("garbage".into()))
                .await
                .unwrap()
        );
        let again = h.hash(&pw).await.unwrap();
        assert_ne!(again, hash, "salted");
        assert!(
            !h.verify_password("correct horse battery", h.decoy())
                .await
                .unwrap()
        );
    }
}
