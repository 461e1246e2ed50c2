//! An authenticator app for the tests: Python's `pyotp`, a published TOTP implementation,
//! reads the `otpauth://` URI Tenantry hands out and computes the codes a phone would show.

use std::time::{SystemTime, UNIX_EPOCH};

fn python() -> String {
    std::env::var("TENANTRY_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn run(script: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "pyotp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One enrolled authenticator. Each code it hands out is for a later time step than the one
/// before (the server accepts a step once), within the server's window of one step either
/// side of now — waiting for the clock when it must.
pub struct Authenticator {
    uri: String,
    last_step: Option<u64>,
}

impl Authenticator {
    /// `None` (the test is skipped, loudly) when Python's pyotp is not installed; the
    /// interpreter is `TENANTRY_TEST_PYTHON`, else `python3`.
    pub fn available() -> bool {
        let ok = std::process::Command::new(python())
            .args(["-c", "import pyotp"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "\n*** TOTP tests SKIPPED: Python's pyotp is missing (pip install pyotp) ***\n"
            );
        }
        ok
    }

    /// Reads the key URI as an app would; panics when pyotp cannot.
    pub fn from_uri(uri: &str) -> Self {
        Self {
            uri: uri.to_owned(),
            last_step: None,
        }
    }

    /// What pyotp reads from the URI: (issuer, account name, digits, interval, secret).
    pub fn parsed(&self) -> (String, String, u32, u32, String) {
        let out = run(
            "import sys, pyotp; t = pyotp.parse_uri(sys.argv[1]); \
             print(t.issuer); print(t.name); print(t.digits); print(t.interval); print(t.secret)",
            &[&self.uri],
        );
        let l: Vec<&str> = out.lines().collect();
        (
            l[0].to_owned(),
            l[1].to_owned(),
            l[2].parse().unwrap(),
            l[3].parse().unwrap(),
            l[4].to_owned(),
        )
    }

    /// The code of time step `step`.
    pub fn code_at_step(&self, step: u64) -> String {
        let at = (step * 30).to_string();
        run(
            "import sys, pyotp; print(pyotp.parse_uri(sys.argv[1]).at(int(sys.argv[2])))",
            &[&self.uri, &at],
        )
    }

    /// A code the server accepts now and has not seen from this authenticator. Waits (without
    /// blocking the test's runtime, where the app runs) when the window is used up.
    pub async fn next_code(&mut self) -> String {
        loop {
            let now = now_secs();
            // Too close to a step's end, the server may judge the code in the next step.
            if now % 30 >= 28 {
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                continue;
            }
            let current = now / 30;
            let step = self
                .last_step
                .map_or(current - 1, |l| (l + 1).max(current - 1));
            if step > current + 1 {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            self.last_step = Some(step);
            return self.code_at_step(step);
        }
    }

    /// The code of a step the server accepted already (a replay).
    pub fn last_code(&self) -> String {
        self.code_at_step(self.last_step.expect("a code was handed out"))
    }
}
