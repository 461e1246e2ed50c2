//! Error reports: every ERROR-level log — a request answered 5xx (its cause), a panic, a
//! failure the worker or server logs as an error — becomes one Sentry event tagged with the
//! request id, tenant, user, route and job of the spans it happened in.
//!
//! What a report carries is chosen here, not by whoever logs: span fields only from a fixed
//! list of ids (never a path, header, body or address), and of the event's own fields only
//! its message and a fixed few (`code`, `cause`, `error`, `location`), each cut to 1,000
//! characters. One report per request: the first error of a request (a panic comes before the
//! 500 it causes) is reported, later ones in the same request are not — marked on the
//! request's own span, so a client reusing a request id cannot hide another request's error.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Debug;

use sentry::protocol::{Event, Exception, Level, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Subscriber, field};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The span fields a report is tagged with; nothing else from a span leaves the process.
const TAGS: &[&str] = &[
    "request_id",
    "tenant_id",
    "user_id",
    "method",
    "http.route",
    "job_id",
    "job_kind",
];

/// The target panics are logged under (see [`report_panics`]).
const PANIC_TARGET: &str = "panic";

/// The event fields a report carries besides its message.
const FIELDS: &[&str] = &["code", "cause", "error", "location"];

/// The longest text a report carries per field.
const MAX_TEXT: usize = 1_000;

/// The root span of a request: where "already reported" is marked.
const REQUEST_SPAN: &str = "request";

/// The layer that turns ERROR logs into Sentry events (installed only with a DSN).
#[derive(Default)]
pub struct ErrorReports;

/// Marks a request span whose error was reported.
struct Reported;

#[derive(Default)]
struct Tags(BTreeMap<&'static str, String>);

impl Visit for Tags {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(name) = TAGS.iter().find(|t| **t == field.name()) {
            self.0.insert(name, value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if let Some(name) = TAGS.iter().find(|t| **t == field.name()) {
            self.0.insert(name, format!("{value:?}"));
        }
    }
}

/// An event's own fields: its message and the rest as extra data.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    extra: BTreeMap<String, Value>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.put(field, format!("{value:?}"));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: String) {
        let value = cut(value);
        if field.name() == "message" {
            self.message = Some(value);
        } else if FIELDS.contains(&field.name()) {
            self.extra
                .insert(field.name().to_owned(), Value::String(value));
        }
    }
}

/// `text` cut to [`MAX_TEXT`] characters.
fn cut(mut text: String) -> String {
    if let Some((at, _)) = text.char_indices().nth(MAX_TEXT) {
        text.truncate(at);
        text.push('…');
    }
    text
}

impl<S> Layer<S> for ErrorReports
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut tags = Tags::default();
        attrs.record(&mut tags);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(tags);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        // Formatted before the span's extensions are locked: a value's Display runs no code
        // under our lock.
        let mut recorded = Tags::default();
        values.record(&mut recorded);
        if recorded.0.is_empty() {
            return;
        }
        if let Some(span) = ctx.span(id)
            && let Some(tags) = span.extensions_mut().get_mut::<Tags>()
        {
            tags.0.extend(recorded.0);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() != tracing::Level::ERROR {
            return;
        }
        let mut tags = BTreeMap::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if span.name() == REQUEST_SPAN {
                    let mut extensions = span.extensions_mut();
                    if extensions.get_mut::<Reported>().is_some() {
                        return;
                    }
                    extensions.insert(Reported);
                }
                if let Some(t) = span.extensions().get::<Tags>() {
                    tags.extend(t.0.iter().map(|(k, v)| (*k, v.clone())));
                }
            }
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        sentry::capture_event(report(meta.target(), tags, fields));
    }
}

fn report(target: &str, tags: BTreeMap<&'static str, String>, fields: Fields) -> Event<'static> {
    let panic = target == PANIC_TARGET;
    let message = fields.message.unwrap_or_else(|| "error".to_owned());
    // Grouped by what failed: the problem code (or panic) as the type, the cause as the value.
    let kind = match fields.extra.get("code") {
        Some(Value::String(code)) => code.clone(),
        _ if panic => "panic".to_owned(),
        _ => target.to_owned(),
    };
    let value = match fields.extra.get("cause") {
        Some(Value::String(cause)) if !cause.is_empty() => cause.clone(),
        _ => message.clone(),
    };
    let transaction = match (tags.get("method"), tags.get("http.route")) {
        (Some(method), Some(route)) => Some(format!("{method} {route}")),
        (_, Some(route)) => Some(route.clone()),
        _ => tags.get("job_kind").map(|k| format!("job {k}")),
    };
    let exception = Exception {
        ty: kind,
        value: Some(value),
        // A panic's report says where it happened: this runs inside the panic hook.
        stacktrace: panic
            .then(sentry::integrations::backtrace::current_stacktrace)
            .flatten(),
        ..Exception::default()
    };
    Event {
        level: Level::Error,
        logger: Some(target.to_owned()),
        message: Some(message),
        transaction,
        tags: tags.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        extra: fields.extra,
        exception: vec![exception].into(),
        ..Event::default()
    }
}

thread_local! {
    /// Set while this thread's panic is being logged: a panic inside that (in a layer, say)
    /// goes straight to the previous hook instead of round again.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// Logs every panic as an ERROR under the `panic` target — in the span it happened in, so its
/// report carries the request or job — then lets the previous hook print it as before.
pub(crate) fn report_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !IN_HOOK.replace(true) {
            let payload = info.payload();
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
            tracing::error!(
                target: PANIC_TARGET,
                location = field::display(location.as_deref().unwrap_or("unknown")),
                "panicked: {}",
                cut(what)
            );
            IN_HOOK.set(false);
        }
        previous(info);
    }));
}
