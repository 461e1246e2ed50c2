//! The tenant's own mail server (`settings:manage`): its mail (invitations, notices) goes
//! there instead of the platform's, and never falls back to the platform's when it fails.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};
use tenantry_kernel::Email;
use tenantry_tenancy::{SmtpDraft, SmtpError, SmtpSettingsView, SmtpTls, parse_smtp_host};
use utoipa::ToSchema;

use crate::guard::Member;
use crate::json::ApiJson;
use crate::problem::{Fields, Problem};
use crate::responses::{BodyErrors, MemberErrors};
use crate::state::AppState;

type Data = web::Data<AppState>;

impl From<SmtpError> for Problem {
    fn from(e: SmtpError) -> Self {
        match e {
            SmtpError::NotConfigured => Self::new(
                StatusCode::NOT_FOUND,
                "smtp_not_configured",
                "No mail server of its own",
            )
            .detail("This tenant's mail goes through the platform's server"),
            SmtpError::Refused(why) => Self::new(
                StatusCode::BAD_GATEWAY,
                "smtp_refused",
                "The mail server did not take the message",
            )
            .detail(why),
            SmtpError::Unexpected(u) => Self::internal(u),
        }
    }
}

#[derive(Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// STARTTLS, required (usually port 587).
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
    /// No encryption: only for a relay on a private network.
    None,
}

/// The tenant's mail server; a replacement sends every field (the password only to set or
/// change it).
#[derive(Deserialize, ToSchema)]
pub struct SmtpBody {
    /// A host name or an IP address (no scheme, port or path).
    #[schema(example = "smtp.acme.com")]
    pub host: String,
    /// Default 587.
    #[schema(example = 587, minimum = 1, maximum = 65535)]
    pub port: Option<u32>,
    /// Default `starttls`.
    pub tls: Option<TlsMode>,
    #[schema(example = "mailer@acme.com", min_length = 1, max_length = 255)]
    pub username: Option<String>,
    /// Stored sealed, never returned. Kept when omitted only while host, port, TLS mode and
    /// username stay the same: a password never follows its settings to another server.
    #[schema(min_length = 1, max_length = 512)]
    pub password: Option<String>,
    #[schema(example = "no-reply@acme.com", format = Email, max_length = 254)]
    pub from_address: String,
    #[schema(example = "Acme", min_length = 1, max_length = 100)]
    pub from_name: Option<String>,
}

fn bounded(raw: &str, what: &str, max: usize) -> Result<String, String> {
    tenantry_kernel::bounded_text(raw, what, max, tenantry_kernel::TextShape::Line)
}

impl SmtpBody {
    fn parse(self) -> Result<SmtpDraft, Problem> {
        let mut f = Fields::default();
        let host = f.take("host", parse_smtp_host(&self.host));
        let port = f.take(
            "port",
            u16::try_from(self.port.unwrap_or(587))
                .ok()
                .filter(|p| *p > 0)
                .ok_or("a port from 1 to 65535"),
        );
        let username = match &self.username {
            Some(u) => f.take("username", bounded(u, "username", 255)).map(Some),
            None => Some(None),
        };
        let password = match &self.password {
            Some(p) if p.is_empty() || p.chars().count() > 512 => {
                f.take::<Option<String>, _>("password", Err("1 to 512 characters"))
            }
            other => Some(other.clone()),
        };
        let from_address = f.take(
            "from_address",
            Email::parse(&self.from_address).map_err(|_| "an e-mail address"),
        );
        let from_name = match &self.from_name {
            Some(n) => f.take("from_name", bounded(n, "from_name", 100)).map(Some),
            None => Some(None),
        };
        f.finish()?;
        let tls = match self.tls.unwrap_or(TlsMode::Starttls) {
            TlsMode::Starttls => SmtpTls::StartTls,
            TlsMode::Tls => SmtpTls::Tls,
            TlsMode::None => SmtpTls::None,
        };
        match (host, port, username, password, from_address, from_name) {
            (
                Some(host),
                Some(port),
                Some(username),
                Some(password),
                Some(from_address),
                Some(from_name),
            ) => Ok(SmtpDraft {
                host,
                port,
                tls,
                username,
                password,
                from_address,
                from_name,
            }),
            _ => Err(Problem::internal(tenantry_kernel::Unexpected::msg(
                "a field was refused without an error",
            ))),
        }
    }
}

/// The tenant's own mail server (never its password).
#[utoipa::path(
    extensions(("x-permission" = json!("settings:manage"))),
    tag = "settings", security(("bearer_token" = [])),
    responses(
        (status = 200, description = "The mail server", body = SmtpSettingsView),
        (status = 404, description = "None: the platform's server is used (`smtp_not_configured`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/smtp")]
pub async fn get_smtp(m: Member, state: Data) -> Result<web::Json<SmtpSettingsView>, Problem> {
    let settings = state.smtp.get(&m.ctx).await?;
    Ok(web::Json(SmtpSettingsView::from(&settings)))
}

/// Send the tenant's mail through its own server from now on (`POST …/smtp/test` checks it).
#[utoipa::path(
    extensions(("x-permission" = json!("settings:manage"))),
    tag = "settings", security(("bearer_token" = [])),
    request_body = SmtpBody,
    responses(
        (status = 200, description = "The mail server as saved", body = SmtpSettingsView),
        MemberErrors,
        BodyErrors,
    )
)]
#[put("/smtp")]
pub async fn put_smtp(
    m: Member,
    state: Data,
    body: ApiJson<SmtpBody>,
) -> Result<web::Json<SmtpSettingsView>, Problem> {
    let draft = body.0.parse()?;
    let settings = state.smtp.put(&m.ctx, draft).await?;
    Ok(web::Json(SmtpSettingsView::from(&settings)))
}

/// Go back to the platform's mail server.
#[utoipa::path(
    extensions(("x-permission" = json!("settings:manage"))),
    tag = "settings", security(("bearer_token" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "None was set (`smtp_not_configured`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/smtp")]
pub async fn delete_smtp(m: Member, state: Data) -> Result<HttpResponse, Problem> {
    state.smtp.delete(&m.ctx).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
pub struct SmtpTestBody {
    /// Who gets the test message.
    #[schema(example = "ann@acme.com", format = Email)]
    pub to: String,
}

/// How the test went: a tenant's server refusing is an answer, not a failure of Tenantry.
#[derive(Serialize, ToSchema)]
pub struct SmtpTestView {
    /// The server took the message.
    pub delivered: bool,
    /// The server's final answer (`250 …`), or what it said when it refused (`535 …`) or why
    /// it could not be reached.
    #[schema(example = "250 2.0.0 Ok: queued as 4B2F1")]
    pub answer: String,
}

/// Send a test message through the tenant's mail server and report its answer.
#[utoipa::path(
    extensions(("x-permission" = json!("settings:manage"))),
    tag = "settings", security(("bearer_token" = [])),
    request_body = SmtpTestBody,
    responses(
        (status = 200, description = "The server's answer: taken, refused or unreachable", body = SmtpTestView),
        (status = 404, description = "No mail server of its own (`smtp_not_configured`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("/smtp/test")]
pub async fn test_smtp(
    m: Member,
    state: Data,
    body: ApiJson<SmtpTestBody>,
) -> Result<web::Json<SmtpTestView>, Problem> {
    let to = Email::parse(&body.0.to).map_err(|_| Problem::field("to", "an e-mail address"))?;
    let (delivered, answer) = match state.smtp.test(&m.ctx, &to).await {
        Ok(answer) => (true, answer),
        Err(SmtpError::Refused(why)) => (false, why),
        Err(e) => return Err(e.into()),
    };
    Ok(web::Json(SmtpTestView { delivered, answer }))
}
