//! A tenant's gate as a small HTML page, for browsers (`Accept: text/html`): the tenant's
//! name, logo and colour, what happened, and how to reach its support. Every value is
//! escaped: a tenant called `<script>` is shown as text.

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::{Problem, TenantBrand};

pub fn branded(problem: &Problem, brand: &TenantBrand, request_id: &str) -> String {
    // A colour is `#rrggbb` by construction; anything else falls back.
    let colour = brand
        .primary_color
        .as_deref()
        .filter(|c| {
            c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
        })
        .unwrap_or("#333333");
    let mut page = String::with_capacity(1024);
    page.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    page.push_str(&format!(
        "<title>{} — {}</title>",
        text(problem.title),
        text(&brand.display_name)
    ));
    page.push_str(&format!(
        "<style>body{{font-family:system-ui,sans-serif;margin:0;color:#222}}\
         header{{background:{colour};color:#fff;padding:1rem 2rem}}\
         header img{{max-height:2.5rem;vertical-align:middle;margin-right:1rem}}\
         main{{padding:2rem;max-width:40rem}}small{{color:#666}}</style></head><body>"
    ));
    page.push_str("<header>");
    if let Some(logo) = &brand.logo_url {
        page.push_str(&format!("<img src=\"{}\" alt=\"\">", attr(logo)));
    }
    page.push_str(&format!(
        "<strong>{}</strong></header><main>",
        text(&brand.display_name)
    ));
    page.push_str(&format!("<h1>{}</h1>", text(problem.title)));
    if let Some(detail) = &problem.detail {
        page.push_str(&format!("<p>{}</p>", text(detail)));
    }
    let mut contact = Vec::new();
    if let Some(url) = &brand.support_url {
        contact.push(format!("<a href=\"{}\">{}</a>", attr(url), text(url)));
    }
    if let Some(email) = &brand.support_email {
        contact.push(format!(
            "<a href=\"mailto:{}\">{}</a>",
            attr(email),
            text(email)
        ));
    }
    if !contact.is_empty() {
        page.push_str(&format!("<p>Support: {}</p>", contact.join(" · ")));
    }
    page.push_str(&format!(
        "<p><small>{} · request {}</small></p></main></body></html>\n",
        text(problem.code),
        text(request_id)
    ));
    page
}
