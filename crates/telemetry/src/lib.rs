//! What the service tells its operators besides its answers: logs on stderr and — only when
//! configured — spans exported to an OpenTelemetry collector over OTLP/HTTP and errors
//! reported to Sentry. Unconfigured, neither exporter exists: no layer, no thread, no
//! connection, and the request path skips trace propagation after one atomic load.
//!
//! Build it with [`Telemetry::init`] before any async runtime starts (the OTLP exporter's
//! blocking HTTP client must be made outside one) and call [`Telemetry::shutdown`] after the
//! runtime has stopped, so the last spans and reports are sent.

mod reports;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, fmt};

pub use reports::ErrorReports;

/// The target of the spans around database transactions: DEBUG, so logs at the usual INFO
/// never pay for them, while an enabled trace export takes them.
pub const DB_TARGET: &str = "tenantry::db";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// Which logs to write (`TENANTRY_LOG`, an env-filter directive such as `info`).
    pub log_filter: String,
    pub log_format: LogFormat,
    /// The OTLP/HTTP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`): spans go to `{base}/v1/traces`.
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the full URL), when set, wins — and alone also
    /// turns the export on.
    pub otlp_endpoint: Option<String>,
    /// Where errors are reported (`TENANTRY_SENTRY_DSN`).
    pub sentry_dsn: Option<String>,
    /// The environment reports are filed under (`TENANTRY_SENTRY_ENVIRONMENT`).
    pub sentry_environment: Option<String>,
    /// The running version, as `tenantry@0.1.0`.
    pub release: String,
}

/// Whether spans are exported: the request path continues incoming traces only then.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// The installed exporters; keep it until the process ends, then [`Telemetry::shutdown`].
#[must_use = "dropping it without shutdown loses the last spans"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
    sentry: Option<sentry::ClientInitGuard>,
}

impl Telemetry {
    /// Installs the global subscriber: logs always, the OTLP exporter and error reports when
    /// configured. Fails on a bad filter, endpoint or DSN — configured telemetry that does not
    /// start is an error, not a silent no-op.
    pub fn init(config: &Config) -> Result<Self, String> {
        let log_filter =
            EnvFilter::try_new(&config.log_filter).map_err(|e| format!("TENANTRY_LOG: {e}"))?;
        let logs = match config.log_format {
            LogFormat::Json => fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(std::io::stderr)
                .boxed(),
            LogFormat::Text => fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .boxed(),
        };
        let configured = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let full = configured(&std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").ok());
        let traces_url = match (full, configured(&config.otlp_endpoint)) {
            (Some(full), _) => Some((full, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")),
            (None, Some(base)) => Some((
                format!("{}/v1/traces", base.trim_end_matches('/')),
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            )),
            (None, None) => None,
        };
        let dsn = configured(&config.sentry_dsn);
        use_ring_for_tls();
        let traces = traces_url
            .map(|(url, var)| tracer_provider(&url, var, &config.release))
            .transpose()?;
        let sentry = dsn.map(|dsn| start_sentry(&dsn, config)).transpose()?;
        // Only the layers that are configured: an absent layer would still take part in every
        // callsite's interest.
        let mut layers = vec![logs.with_filter(log_filter).boxed()];
        if let Some(provider) = &traces {
            layers.push(
                tracing_opentelemetry::layer()
                    .with_tracer(provider.tracer("tenantry"))
                    .with_filter(
                        Targets::new()
                            .with_default(Level::INFO)
                            .with_target(DB_TARGET, Level::DEBUG),
                    )
                    .boxed(),
            );
        }
        if sentry.is_some() {
            layers.push(ErrorReports.with_filter(LevelFilter::INFO).boxed());
        }
        tracing_subscriber::registry()
            .with(layers)
            .try_init()
            .map_err(|e| e.to_string())?;
        if traces.is_some() {
            opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
            EXPORTING.store(true, Ordering::Release);
        }
        if sentry.is_some() {
            reports::report_panics();
        }
        Ok(Self { traces, sentry })
    }

    /// Sends what is still buffered (spans, reports), then stops the exporters.
    pub fn shutdown(self) {
        if let Some(traces) = self.traces
            && let Err(e) = traces.shutdown()
        {
            eprintln!("tenantry: cannot flush the last spans: {e}");
        }
        if let Some(sentry) = self.sentry {
            sentry.flush(Some(std::time::Duration::from_secs(2)));
            drop(sentry);
        }
    }
}

/// The OTLP/HTTP (protobuf) exporter behind a batching provider. Resource attributes and
/// sampling follow the standard `OTEL_*` variables (`OTEL_SERVICE_NAME`,
/// `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_HEADERS`, …).
fn tracer_provider(endpoint: &str, var: &str, release: &str) -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::WithExportConfig as _;
    check_exporter_url(endpoint).map_err(|e| format!("{var}: {e}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| format!("{var}: {e}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("tenantry");
    }
    let version = release.rsplit('@').next().unwrap_or(release).to_owned();
    let resource = resource
        .with_attribute(opentelemetry::KeyValue::new("service.version", version))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// An exporter URL must be absolute http(s): anything else would fail on every export, long
/// after start-up.
fn check_exporter_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url:?} is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

fn start_sentry(dsn: &str, config: &Config) -> Result<sentry::ClientInitGuard, String> {
    let dsn: sentry::types::Dsn = dsn
        .parse()
        .map_err(|e| format!("TENANTRY_SENTRY_DSN: {e}"))?;
    let mut options = sentry::ClientOptions::default();
    options.dsn = Some(dsn);
    options.release = Some(config.release.clone().into());
    options.environment = config.sentry_environment.clone().map(Into::into);
    // Never headers, bodies, cookies or addresses: reports carry ids and causes only.
    options.send_default_pii = false;
    Ok(sentry::init(options))
}

/// Makes ring the process's TLS provider (idempotent). The exporters' HTTP client speaks
/// HTTPS through rustls without a built-in provider, and this build has ring only (as mail
/// does): every process that builds such a client — the service, a test — calls this first.
pub fn use_ring_for_tls() {
    // Already chosen (by an earlier call) is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Continues the caller's trace (`traceparent`, W3C Trace Context) in `span`, when spans are
/// exported at all. `header` looks a request header up by name.
pub fn continue_trace<'h>(span: &tracing::Span, header: impl Fn(&str) -> Option<&'h str>) {
    if !EXPORTING.load(Ordering::Acquire) {
        return;
    }
    struct Headers<'h>([Option<&'h str>; 2]);
    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            match key {
                "traceparent" => self.0[0],
                "tracestate" => self.0[1],
                _ => None,
            }
        }
        fn keys(&self) -> Vec<&str> {
            vec!["traceparent", "tracestate"]
        }
    }
    let headers = Headers([header("traceparent"), header("tracestate")]);
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&headers));
    let _ = span.set_parent(parent);
}

/// Renames `span` in the export (a request's span learns its route only after routing; the
/// layer takes `otel.name` at creation only). Nothing when spans are not exported.
pub fn rename(span: &tracing::Span, name: impl FnOnce() -> String) {
    if !EXPORTING.load(Ordering::Acquire) {
        return;
    }
    use opentelemetry::trace::TraceContextExt as _;
    span.context().span().update_name(name());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_urls_are_checked_up_front() {
        assert!(check_exporter_url("http://127.0.0.1:4318/v1/traces").is_ok());
        assert!(check_exporter_url("https://otel.example.com/v1/traces").is_ok());
        assert!(check_exporter_url("127.0.0.1:4318").is_err());
        assert!(check_exporter_url("http:///v1/traces").is_err());
        assert!(check_exporter_url("grpc://collector:4317").is_err());
    }
}
