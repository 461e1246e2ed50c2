//! A real OpenID provider for the SSO tests: the certified `oidc-provider` package (npm),
//! started by the test on a loopback port (`tests/support/oidc/provider.mjs`), and a
//! browser stand-in that drives its sign-in with a cookie jar.

use std::io::BufRead as _;
use std::path::PathBuf;

pub struct OidcProvider {
    child: std::process::Child,
    pub issuer: String,
}

fn dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/support/oidc"))
}

impl OidcProvider {
    /// `None` (the test is skipped, loudly) without Node or the package (`npm ci` in
    /// `tests/support/oidc`; CI does it).
    pub fn start(client_id: &str, client_secret: &str, redirect_uri: &str) -> Option<Self> {
        if !dir().join("node_modules/oidc-provider").is_dir() {
            eprintln!(
                "\n*** SSO tests SKIPPED: run `npm ci` in tests/support/oidc (oidc-provider) ***\n"
            );
            return None;
        }
        for _ in 0..10 {
            let port = crate::free_port();
            let mut child = std::process::Command::new("node")
                .current_dir(dir())
                .args(["provider.mjs", "--port", &port.to_string()])
                .args(["--client-id", client_id, "--client-secret", client_secret])
                .args(["--redirect-uri", redirect_uri])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("node runs");
            let mut line = String::new();
            let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
            out.read_line(&mut line).unwrap();
            // Whatever it prints later is read and dropped: a closed pipe would kill it.
            std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
            if line.trim() == "ready" {
                return Some(Self {
                    child,
                    issuer: format!("http://127.0.0.1:{port}"),
                });
            }
            child.kill().ok();
            child.wait().ok();
        }
        panic!("the OpenID provider did not start on any of 10 ports");
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A browser: follows redirects one by one with a cookie jar, until one leaves for `stop`
/// (the client's redirect URI); returns that URL.
pub struct Browser {
    client: reqwest::Client,
}

impl Default for Browser {
    fn default() -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }
}

impl Browser {
    pub async fn follow(&self, start: &str, stop: &str) -> reqwest::Url {
        let mut url = reqwest::Url::parse(start).unwrap();
        for _ in 0..10 {
            if url.as_str().starts_with(stop) {
                return url;
            }
            let res = self.client.get(url.clone()).send().await.unwrap();
            assert!(res.status().is_redirection(), "{url}: {}", res.status());
            let location = res.headers()["location"].to_str().unwrap().to_owned();
            url = url.join(&location).unwrap();
        }
        panic!("too many redirects from {start}");
    }

    /// GET without following: the answer itself.
    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.client.get(url).send().await.unwrap()
    }
}
