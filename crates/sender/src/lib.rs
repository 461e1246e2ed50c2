//! The HTTP client of webhook deliveries ([`tenantry_webhooks::WebhookSender`]).
//!
//! - Every host name is resolved here and each address checked by the
//!   [`AddressPolicy`] guard; the connection goes to an address that was checked (reqwest
//!   connects to what the resolver returns: no second lookup, no DNS-rebinding window). A
//!   literal address in the URL is checked before anything is sent.
//! - No redirects are followed (a 3xx is a failed attempt), no proxy from the environment is
//!   used (it would resolve names past the guard).
//! - The whole attempt is bounded by the timeout; at most 4 KiB of the response is read.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantry_webhooks::{AddressPolicy, AttemptOutcome, OutgoingRequest, WebhookSender};

/// The most of a response body kept in the log.
pub const BODY_EXCERPT: usize = 4096;

/// A refused address, as the resolver reports it (found again in the error's chain).
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Resolves with the system's resolver, keeping only addresses the guard allows.
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy.check(a.ip()) {
                    Ok(()) => true,
                    Err(b) => {
                        refused = Some(b);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.map_or_else(
                    || format!("{host} has no address"),
                    |b| format!("{host} resolves to {b}"),
                );
                return Err(Box::new(Refused(why)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A client builder under the same rules (every address checked by `policy`, no redirects,
/// no proxy) and no bound on a whole request: for transfers of any size (a tenant's own
/// bucket); the caller sets connect and read timeouts.
pub fn guarded_builder(policy: AddressPolicy) -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            policy: Arc::new(policy),
        }))
}

/// A client for other outbound calls of the platform (an identity provider's discovery, keys
/// and token endpoint) under the same rules: every address checked by `policy`, no
/// redirects, no proxy, bounded by `timeout`.
pub fn guarded_client(policy: AddressPolicy, timeout: Duration) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .dns_resolver(Arc::new(GuardedResolver {
            policy: Arc::new(policy),
        }))
        .build()
        .map_err(|e| format!("cannot build an outbound HTTP client: {e}"))
}

/// Sends deliveries.
#[derive(Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

impl HttpSender {
    /// A client that reaches what `policy` allows, giving up after `timeout`.
    pub fn new(policy: AddressPolicy, timeout: Duration) -> Result<Self, String> {
        // The build's one TLS provider; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .build()
            .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))?;
        Ok(Self { client, policy })
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

/// The log's name for why a request failed.
fn classify(e: &reqwest::Error) -> (&'static str, String) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut text = String::new();
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return ("ssrf_blocked", r.0.clone());
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return ("connection_refused", io.to_string());
        }
        text = s.to_string();
        source = s.source();
    }
    if e.is_timeout() {
        return ("timeout", "no answer within the timeout".to_owned());
    }
    let lower = text.to_lowercase();
    let code = if lower.contains("dns") || lower.contains("lookup") || lower.contains("resolve") {
        "dns"
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        "tls"
    } else {
        "connection"
    };
    (code, text)
}

impl WebhookSender for HttpSender {
    async fn send(&self, request: OutgoingRequest) -> AttemptOutcome {
        if !request.delay.is_zero() {
            tokio::time::sleep(request.delay).await;
        }
        let start = Instant::now();
        let literal = match request.url.host() {
            Some(url::Host::Ipv4(a)) => Some(IpAddr::V4(a)),
            Some(url::Host::Ipv6(a)) => Some(IpAddr::V6(a)),
            _ => None,
        };
        if let Some(ip) = literal
            && let Err(b) = self.policy.check(ip)
        {
            return AttemptOutcome::not_sent("ssrf_blocked", b.to_string());
        }
        let mut builder = self.client.post(request.url).body(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let mut response = match builder.send().await {
            Ok(r) => r,
            Err(e) => {
                let (code, detail) = classify(&e);
                return AttemptOutcome {
                    duration: start.elapsed(),
                    error: Some((code, detail)),
                    ..AttemptOutcome::default()
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = matches!(status, 429 | 503)
            .then(|| response.headers().get(reqwest::header::RETRY_AFTER))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        let mut body = Vec::new();
        let mut error = None;
        while body.len() < BODY_EXCERPT {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    error = Some(classify(&e));
                    break;
                }
            }
        }
        body.truncate(BODY_EXCERPT);
        AttemptOutcome {
            status: Some(status),
            duration: start.elapsed(),
            body: (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()),
            error: error.filter(|(code, _)| *code == "timeout"),
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(retry_after(" 120 "), Some(Duration::from_secs(120)));
        let later = chrono::Utc::now() + chrono::Duration::seconds(90);
        let d = retry_after(&later.to_rfc2822()).unwrap();
        assert!(
            d > Duration::from_secs(80) && d <= Duration::from_secs(90),
            "{d:?}"
        );
        assert_eq!(retry_after("soon"), None);
    }
}
