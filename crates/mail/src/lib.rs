//! Sends the platform's e-mail. With an SMTP URL (`smtp://user:pass@host:587?tls=required`
//! for STARTTLS, `smtps://…` for TLS, `smtp://host:25` for plain; lettre's URL format)
//! messages go to that server; without one they are written as `.eml` files to a directory, so a local
//! `cargo run` needs no mail server and a developer can read what would have been sent.

use std::path::PathBuf;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tenantry_identity::{Mailer, OutgoingMail};
use tenantry_kernel::Unexpected;

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// The mail adapter.
#[derive(Clone)]
pub struct MailSender {
    from: Mailbox,
    transport: Transport,
}

impl MailSender {
    /// SMTP at `url`.
    pub fn smtp(url: &str, from: &str) -> Result<Self, Unexpected> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| Unexpected::msg(format!("TENANTRY_SMTP_URL: {e}")))?
            .build();
        Ok(Self {
            from: parse_from(from)?,
            transport: Transport::Smtp(transport),
        })
    }

    /// `.eml` files in `dir` (created with the first mail).
    pub fn files(dir: impl Into<PathBuf>, from: &str) -> Result<Self, Unexpected> {
        let dir = dir.into();
        Ok(Self {
            from: parse_from(from)?,
            transport: Transport::Files(AsyncFileTransport::new(&dir), dir),
        })
    }

    /// Where mail goes, for the start-up log.
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp(_) => "SMTP".to_owned(),
            Transport::Files(_, dir) => format!("files in {}", dir.display()),
        }
    }
}

fn parse_from(from: &str) -> Result<Mailbox, Unexpected> {
    from.parse()
        .map_err(|e| Unexpected::msg(format!("TENANTRY_MAIL_FROM {from:?}: {e}")))
}

impl Mailer for MailSender {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), Unexpected> {
        let to: Mailbox = mail
            .to
            .as_str()
            .parse()
            .map_err(|e| Unexpected::msg(format!("recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
            .map_err(Unexpected::new)?;
        match &self.transport {
            Transport::Smtp(t) => t.send(message).await.map(|_| ()).map_err(Unexpected::new),
            Transport::Files(t, dir) => {
                // Made with the first mail: a command that sends none leaves no folder.
                std::fs::create_dir_all(dir).map_err(|e| {
                    Unexpected::msg(format!("cannot create {}: {e}", dir.display()))
                })?;
                t.send(message).await.map(|_| ()).map_err(Unexpected::new)
            }
        }
    }
}
