//! The Stripe-compatible billing provider: verifies `Stripe-Signature` and reads the events
//! that move a subscription. Pure: the HTTP adapter hands over the header and the raw body.
//!
//! A tenant is named in the Stripe object's metadata — `tenant_id` (the tenant's id or slug)
//! and, optionally, `plan` (a Tenantry plan code) — set when the product creates the checkout
//! or subscription on Stripe. Invoices carry their subscription's metadata.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::model::SubscriptionStatus;
use crate::provider::{ProviderChange, ProviderEvent};

/// How old (or how far ahead) a signature's timestamp may be.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a payload was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    #[error("the Stripe-Signature header is missing or malformed")]
    Malformed,
    #[error("the signature's timestamp is more than 5 minutes away from now")]
    Stale,
    #[error("no signature matches the payload")]
    Mismatch,
    #[error("the payload is not a Stripe event: {0}")]
    NotAnEvent(String),
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks `header` (`t=…,v1=…[,v1=…]`) against `payload`: HMAC-SHA256 of `t.payload` under any
/// of `secrets` (several during a rotation), any `v1` matching, `t` within five minutes of
/// `now`. Compared in constant time.
pub fn verify(
    header: &str,
    payload: &[u8],
    secrets: &[String],
    now: DateTime<Utc>,
) -> Result<(), StripeError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        match item.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(unhex(v)),
            _ => {}
        }
    }
    let t = timestamp.ok_or(StripeError::Malformed)?;
    if signatures.is_empty() {
        return Err(StripeError::Malformed);
    }
    if (now.timestamp() - t).abs() > TOLERANCE_SECS {
        return Err(StripeError::Stale);
    }
    for secret in secrets {
        for signature in &signatures {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
                continue;
            };
            mac.update(t.to_string().as_bytes());
            mac.update(b".");
            mac.update(payload);
            if mac.verify_slice(signature).is_ok() {
                return Ok(());
            }
        }
    }
    Err(StripeError::Mismatch)
}

fn metadata<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    [
        &object["metadata"],
        &object["subscription_details"]["metadata"],
        &object["parent"]["subscription_details"]["metadata"],
    ]
    .into_iter()
    .find_map(|m| m[key].as_str())
    .filter(|v| !v.is_empty())
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_i64().and_then(|s| DateTime::from_timestamp(s, 0))
}

fn status(s: &str) -> Option<SubscriptionStatus> {
    match s {
        "trialing" => Some(SubscriptionStatus::Trialing),
        "active" => Some(SubscriptionStatus::Active),
        "past_due" | "unpaid" => Some(SubscriptionStatus::PastDue),
        "canceled" | "incomplete_expired" => Some(SubscriptionStatus::Canceled),
        // `incomplete` (first payment pending) and `paused` leave the status as it is.
        _ => None,
    }
}

/// A verified payload as a provider event.
pub fn parse(payload: &[u8]) -> Result<ProviderEvent, StripeError> {
    let event: Value =
        serde_json::from_slice(payload).map_err(|e| StripeError::NotAnEvent(e.to_string()))?;
    let id = event["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| StripeError::NotAnEvent("no id".to_owned()))?
        .to_owned();
    let kind = event["type"]
        .as_str()
        .ok_or_else(|| StripeError::NotAnEvent("no type".to_owned()))?
        .to_owned();
    let object = &event["data"]["object"];
    let change = match kind.as_str() {
        "customer.subscription.created" | "customer.subscription.updated" => {
            // Newer API versions keep the period on the subscription's items.
            let period_end = time(&object["current_period_end"])
                .or_else(|| time(&object["items"]["data"][0]["current_period_end"]));
            ProviderChange::Subscription {
                status: object["status"].as_str().and_then(status),
                plan: metadata(object, "plan").map(str::to_owned),
                current_period_end: period_end,
                cancel_at_period_end: object["cancel_at_period_end"].as_bool(),
                trial_ends_at: object.get("trial_end").map(time),
            }
        }
        "customer.subscription.deleted" => ProviderChange::Canceled,
        "invoice.paid" => ProviderChange::Paid,
        "invoice.payment_failed" => ProviderChange::PaymentFailed,
        _ => ProviderChange::Ignored,
    };
    Ok(ProviderEvent {
        id,
        kind,
        tenant: metadata(object, "tenant_id").map(str::to_owned),
        change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn signatures_are_checked_with_tolerance_and_rotation() {
        let now = Utc::now();
        let t = now.timestamp();
        let body = br#"{"id":"evt_1","type":"invoice.paid","data":{"object":{}}}"#;
        let secrets = vec!["whsec_old".to_owned(), "whsec_new".to_owned()];
        let good = sign("whsec_new", t, body);
        assert_eq!(
            verify(&format!("t={t},v1={good}"), body, &secrets, now),
            Ok(())
        );
        assert_eq!(
            verify(&format!("t={t},v1=00ff,v1={good}"), body, &secrets, now),
            Ok(())
        );
        assert_eq!(
            verify(&format!("t={t},v1={good}"), b"tampered", &secrets, now),
            Err(StripeError::Mismatch)
        );
        let old = sign("whsec_new", t - 301, body);
        assert_eq!(
            verify(&format!("t={},v1={old}", t - 301), body, &secrets, now),
            Err(StripeError::Stale)
        );
        assert_eq!(
            verify("v1=abcd", body, &secrets, now),
            Err(StripeError::Malformed)
        );
        assert_eq!(
            verify(&format!("t={t}"), body, &secrets, now),
            Err(StripeError::Malformed)
        );
    }

    #[test]
    fn subscription_events_name_their_tenant_plan_and_state() {
        let body = serde_json::json!({
            "id": "evt_2", "type": "customer.subscription.updated",
            "data": {"object": {"status": "unpaid", "cancel_at_period_end": true, "trial_end": null,
                "items": {"data": [{"current_period_end": 1_900_000_000}]},
                "metadata": {"tenant_id": "acme", "plan": "professional"}}}
        });
        let e = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(e.tenant.as_deref(), Some("acme"));
        let ProviderChange::Subscription {
            status,
            plan,
            current_period_end,
            cancel_at_period_end,
            trial_ends_at,
        } = e.change
        else {
            panic!("a subscription change");
        };
        assert_eq!(status, Some(SubscriptionStatus::PastDue));
        assert_eq!(plan.as_deref(), Some("professional"));
        assert_eq!(
            current_period_end.map(|t| t.timestamp()),
            Some(1_900_000_000)
        );
        assert_eq!(
            (cancel_at_period_end, trial_ends_at),
            (Some(true), Some(None))
        );
        let invoice = serde_json::json!({"id": "evt_3", "type": "invoice.payment_failed",
            "data": {"object": {"parent": {"subscription_details": {"metadata": {"tenant_id": "acme"}}}}}});
        let e = parse(invoice.to_string().as_bytes()).unwrap();
        assert_eq!(
            (e.tenant.as_deref(), e.change),
            (Some("acme"), ProviderChange::PaymentFailed)
        );
    }
}
