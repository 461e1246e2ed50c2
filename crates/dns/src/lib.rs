//! Custom-domain checks ([`tenantry_tenancy::DomainProbe`]): is the domain's challenge
//! published?
//!
//! - DNS: a TXT record `_tenantry-challenge.<hostname>` holding the token, looked up with
//!   hickory-resolver against the system's resolvers or the one configured
//!   (`TENANTRY_DNS_RESOLVER=ip:port`), without a cache: every check asks again. The
//!   hostname's CNAME is read too and reported.
//! - HTTP, when no TXT record proves it: `http://<hostname>/.well-known/tenantry-challenge/<token>`
//!   answering 200 with the token as its body. The hostname is resolved through the same
//!   resolver and every address passes the outbound guard (the platform must not be made to
//!   probe its own network); no redirects, no proxy, a short timeout, 1 KiB read at most.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use tenantry_tenancy::{CHALLENGE_PATH, DomainProbe, Evidence, Hostname, Probe, ProofMethod};
use tenantry_webhooks::AddressPolicy;

/// The most of a challenge file read.
const MAX_BODY: usize = 1024;

/// How the checks reach the world.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// The DNS server to ask; `None`: the system's (`/etc/resolv.conf`).
    pub resolver: Option<SocketAddr>,
    /// Each lookup's and each HTTP request's deadline.
    pub timeout: Duration,
    /// Which addresses the HTTP check may connect to.
    pub addresses: AddressPolicy,
    /// The port the HTTP check connects to (80; another only behind a test or a proxy).
    pub http_port: u16,
}

/// Checks domains over DNS and HTTP.
#[derive(Clone)]
pub struct DnsProbe {
    resolver: TokioResolver,
    http: reqwest::Client,
    http_port: u16,
}

impl DnsProbe {
    pub fn new(config: ProbeConfig) -> Result<Self, String> {
        let mut builder = match config.resolver {
            Some(at) => {
                let mut server = NameServerConfig::udp_and_tcp(at.ip());
                for c in &mut server.connections {
                    c.port = at.port();
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![server]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio()
                .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?,
        };
        let opts = builder.options_mut();
        // A check must see the record as it is now, not as it was cached.
        opts.cache_size = 0;
        opts.timeout = config.timeout;
        opts.attempts = 2;
        let resolver = builder
            .build()
            .map_err(|e| format!("cannot build the DNS resolver: {e}"))?;
        // The build's one TLS provider; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(config.timeout)
            .dns_resolver(Arc::new(GuardedResolver {
                resolver: resolver.clone(),
                policy: Arc::new(config.addresses),
            }))
            .build()
            .map_err(|e| format!("cannot build the domain-check HTTP client: {e}"))?;
        Ok(Self {
            resolver,
            http,
            http_port: config.http_port,
        })
    }

    /// The TXT record's strings, joined per record; `Err` when the DNS could not answer.
    async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        match self.resolver.txt_lookup(format!("{name}.")).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|s| String::from_utf8_lossy(s).into_owned())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() => Ok(vec![]),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn cname(&self, hostname: &str) -> Option<String> {
        let lookup = self
            .resolver
            .lookup(
                format!("{hostname}."),
                hickory_resolver::proto::rr::RecordType::CNAME,
            )
            .await
            .ok()?;
        lookup.answers().iter().find_map(|r| match &r.data {
            RData::CNAME(c) => Some(c.0.to_ascii().trim_end_matches('.').to_owned()),
            _ => None,
        })
    }

    /// Whether the hostname serves the challenge file.
    async fn http_file(&self, hostname: &str, token: &str) -> Result<(), String> {
        let url = format!(
            "http://{hostname}:{}{CHALLENGE_PATH}{token}",
            self.http_port
        );
        let mut res = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("no challenge file ({})", root_cause(&e)))?;
        if !res.status().is_success() {
            return Err(format!("the challenge file answered {}", res.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                return Err("the challenge file is not the token".to_owned());
            }
        }
        if String::from_utf8_lossy(&body).trim() == token {
            Ok(())
        } else {
            Err("the challenge file is not the token".to_owned())
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

impl DomainProbe for DnsProbe {
    fn probe<'a>(
        &'a self,
        hostname: &'a Hostname,
        token: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Probe> + Send + 'a>> {
        Box::pin(async move {
            let name = format!("{}.{}", tenantry_tenancy::CHALLENGE_LABEL, hostname);
            let (txt, cname) = tokio::join!(self.txt(&name), self.cname(hostname.as_str()));
            let evidence = match txt {
                Ok(values) if values.iter().any(|v| v.trim() == token) => {
                    Evidence::Found(ProofMethod::DnsTxt)
                }
                txt => match self.http_file(hostname.as_str(), token).await {
                    Ok(()) => Evidence::Found(ProofMethod::HttpFile),
                    Err(http) => match txt {
                        Ok(values) if values.is_empty() => {
                            Evidence::Missing(format!("no TXT record at {name}; {http}"))
                        }
                        Ok(_) => Evidence::Missing(format!(
                            "the TXT record at {name} does not hold the token; {http}"
                        )),
                        Err(dns) => {
                            Evidence::Unknown(format!("DNS lookup of {name} failed: {dns}"))
                        }
                    },
                },
            };
            tracing::debug!(%hostname, ?evidence, ?cname, "domain checked");
            Probe { evidence, cname }
        })
    }
}

/// Resolves through the probe's resolver, keeping only the addresses the guard allows.
struct GuardedResolver {
    resolver: TokioResolver,
    policy: Arc<AddressPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.resolver.clone();
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = resolver.lookup_ip(format!("{host}.")).await.map_err(|e| {
                // What the domain's owner can act on, not the resolver's query dump.
                let why = if e.is_no_records_found() {
                    format!("{host} has no address")
                } else {
                    format!("{host} could not be resolved")
                };
                Box::<dyn std::error::Error + Send + Sync>::from(why)
            })?;
            let allowed: Vec<SocketAddr> = found
                .iter()
                .filter(|ip| policy.check(*ip).is_ok())
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if allowed.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
