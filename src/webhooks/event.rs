//! What a webhook says: which payment changes are published, under which event type, and the body
//! (`{id, type, createdAt, data: {payment fields, sequence}}`). The store calls `publication` inside
//! the transaction that records the change, so the outbox row exists exactly when the change does.

use poem_openapi::types::ToJSON;
use poem_openapi::{Enum, Object};
use time::OffsetDateTime;

use crate::api::Timestamp;
use crate::checkout::{Payment, PaymentStatus};
use crate::domain::FailureCode;
use crate::store::payments::PaymentRow;

/// The kinds of webhook paydesk sends.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
// Named as the event types storefronts read: `payment.paid`, `payment.cancelled`, ...
#[allow(clippy::enum_variant_names)]
pub enum EventType {
    /// The payment was approved; for a virtual account, the deposit was confirmed.
    #[oai(rename = "payment.paid")]
    PaymentPaid,
    /// A virtual account was issued (`data.virtualAccount` has the bank, account number and
    /// deadline); the shopper has not paid yet. `payment.paid` follows the deposit, `payment.failed`
    /// (status `expired`) a deadline without one.
    #[oai(rename = "payment.awaiting_deposit")]
    PaymentAwaitingDeposit,
    /// Innopay declined an attempt (`data.failure` says why) and the checkout is payable again
    /// (`data.status = "ready"`): the shopper may try another card until `expiresAt`. Nothing was
    /// charged. `payment.paid` follows a later attempt that is approved, `payment.failed` a checkout
    /// that expires unpaid or is declined too often.
    #[oai(rename = "payment.declined")]
    PaymentDeclined,
    /// The payment will not be paid: declined for good, refused by paydesk's checks, or (with
    /// `data.status = "expired"`) not paid before the checkout expired.
    #[oai(rename = "payment.failed")]
    PaymentFailed,
    /// All the money went back.
    #[oai(rename = "payment.cancelled")]
    PaymentCancelled,
    /// Part of the money went back (sent again for every further partial cancel).
    #[oai(rename = "payment.partially_cancelled")]
    PaymentPartiallyCancelled,
    /// Innopay's answer was lost; paydesk is finding out and will send the outcome.
    #[oai(rename = "payment.unknown")]
    PaymentUnknown,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::PaymentPaid,
        EventType::PaymentAwaitingDeposit,
        EventType::PaymentDeclined,
        EventType::PaymentFailed,
        EventType::PaymentCancelled,
        EventType::PaymentPartiallyCancelled,
        EventType::PaymentUnknown,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PaymentPaid => "payment.paid",
            EventType::PaymentAwaitingDeposit => "payment.awaiting_deposit",
            EventType::PaymentDeclined => "payment.declined",
            EventType::PaymentFailed => "payment.failed",
            EventType::PaymentCancelled => "payment.cancelled",
            EventType::PaymentPartiallyCancelled => "payment.partially_cancelled",
            EventType::PaymentUnknown => "payment.unknown",
        }
    }
}

/// The payment as it was right after the change, and where the change sits in its history.
#[derive(Object, Clone, Debug)]
pub struct EventData {
    #[oai(flatten)]
    pub payment: Payment,
    /// The payment's event sequence (the `sequence` of its history in `GET /v1/payments/{id}`): it only
    /// grows, so a receiver drops any event whose sequence is not above the last it applied for that
    /// payment. Not every history entry is published, so published sequences have gaps.
    pub sequence: i32,
}

/// A webhook event: the body paydesk POSTs, and what `GET /v1/events` lists.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct WebhookEvent {
    /// `evt_...`; also the `webhook-id` header. The same on every retry and redelivery, so receivers
    /// can ignore one they already processed.
    pub id: String,
    #[oai(rename = "type")]
    pub kind: EventType,
    pub created_at: Timestamp,
    pub data: EventData,
}

/// An event ready for the outbox.
pub struct Publication {
    pub id: String,
    pub event_type: EventType,
    pub sequence: i32,
    /// The exact bytes every delivery sends and signs.
    pub body: String,
}

impl From<Publication> for crate::store::OutboxEntry {
    fn from(publication: Publication) -> Self {
        Self {
            id: publication.id,
            event_type: publication.event_type.as_str().to_string(),
            sequence: publication.sequence,
            body: publication.body,
        }
    }
}

/// The store's `Publisher`: the outbox entry of a recorded change, if it is published.
pub fn publisher() -> crate::store::Publisher {
    std::sync::Arc::new(|before, after, now| publication(before, after, now).map(Into::into))
}

/// Which event a change from `before` to `after` publishes: one whenever the status becomes one the
/// storefront acts on, and again for every further partial cancel. Everything else (created, approval
/// started, a cancel requested or declined, a retried net-cancel) stays in the history only.
pub fn event_type(before: Option<&PaymentRow>, after: &PaymentRow) -> Option<EventType> {
    let kind = match after.status {
        PaymentStatus::Paid => EventType::PaymentPaid,
        PaymentStatus::AwaitingDeposit => EventType::PaymentAwaitingDeposit,
        PaymentStatus::Failed | PaymentStatus::Expired => EventType::PaymentFailed,
        PaymentStatus::Unknown => EventType::PaymentUnknown,
        PaymentStatus::Cancelled => EventType::PaymentCancelled,
        PaymentStatus::PartiallyCancelled => EventType::PaymentPartiallyCancelled,
        // An approval declined with the checkout left payable; other returns to `ready` (a call
        // never sent, a window closed) are not news to the storefront.
        PaymentStatus::Ready
            if before.is_some_and(|b| b.status == PaymentStatus::Approving)
                && after
                    .failure_code
                    .as_ref()
                    .is_some_and(FailureCode::is_decline) =>
        {
            EventType::PaymentDeclined
        }
        PaymentStatus::Ready | PaymentStatus::Approving => return None,
    };
    let status_changed = before.is_none_or(|b| b.status != after.status);
    let more_cancelled = before.is_some_and(|b| after.cancelled_amount > b.cancelled_amount);
    (status_changed || more_cancelled).then_some(kind)
}

/// The event a recorded change publishes, if any; `after.version` is its sequence.
pub fn publication(
    before: Option<&PaymentRow>,
    after: &PaymentRow,
    created_at: OffsetDateTime,
) -> Option<Publication> {
    let event_type = event_type(before, after)?;
    let event = WebhookEvent {
        id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
        kind: event_type,
        created_at: created_at.into(),
        data: EventData {
            payment: Payment::from_row(after, &[], None),
            sequence: after.version,
        },
    };
    Some(Publication {
        body: event.to_json_string(),
        id: event.id,
        event_type,
        sequence: after.version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str, cancelled: i64) -> PaymentRow {
        let now = OffsetDateTime::now_utc();
        PaymentRow {
            id: "pay_1".into(),
            storefront_id: "sf_1".into(),
            order_id: "o1".into(),
            mode: crate::domain::Mode::Test,
            mid: "testpay01m".into(),
            goods_name: "g".into(),
            currency: crate::domain::Currency::Krw,
            amount: 10_000,
            tax_free_amount: 0,
            pay_method: crate::domain::PayMethod::Card,
            offered_pay_methods: None,
            buyer_name: "b".into(),
            buyer_tel: "01012345678".into(),
            buyer_email: "b@example.com".into(),
            success_url: None,
            fail_url: None,
            mall_reserved: None,
            app_scheme: None,
            status: PaymentStatus::parse(status).expect("a known status"),
            version: 4,
            expires_at: now,
            tid: None,
            approval_number: None,
            approved_at: None,
            method_details: None,
            cash_receipt: None,
            receipt_url: None,
            cancelled_amount: cancelled,
            pending_cancel_amount: None,
            failure_code: None,
            failure_message: None,
            flagged: false,
            flag_reason: None,
            gateway_answer: None,
            reconcile_after: None,
            reconcile_attempts: 0,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn outcomes_publish_and_steps_on_the_way_do_not() {
        let published = |from: &str, to: &str| event_type(Some(&row(from, 0)), &row(to, 0));
        assert_eq!(published("ready", "approving"), None);
        assert_eq!(published("approving", "ready"), None, "a call never sent");
        let mut declined = row("ready", 0);
        declined.failure_code = Some(crate::domain::FailureCode::innopay("C002"));
        assert_eq!(
            event_type(Some(&row("approving", 0)), &declined),
            Some(EventType::PaymentDeclined)
        );
        assert_eq!(
            event_type(Some(&row("ready", 0)), &declined),
            None,
            "a window closed after a decline"
        );
        let mut not_sent = row("ready", 0);
        not_sent.failure_code = Some(crate::domain::FailureCode::InnopayUnreachable);
        assert_eq!(
            event_type(Some(&row("approving", 0)), &not_sent),
            None,
            "an approval never sent is no decline"
        );
        assert_eq!(published("approving", "paid"), Some(EventType::PaymentPaid));
        assert_eq!(
            published("approving", "failed"),
            Some(EventType::PaymentFailed)
        );
        assert_eq!(
            published("ready", "expired"),
            Some(EventType::PaymentFailed)
        );
        assert_eq!(
            published("approving", "unknown"),
            Some(EventType::PaymentUnknown)
        );
        assert_eq!(
            published("unknown", "unknown"),
            None,
            "a retried net-cancel"
        );
        assert_eq!(published("paid", "paid"), None, "a cancel requested");
        assert_eq!(
            published("approving", "awaiting_deposit"),
            Some(EventType::PaymentAwaitingDeposit)
        );
        assert_eq!(
            published("awaiting_deposit", "awaiting_deposit"),
            None,
            "a close reserved, a deposit flagged"
        );
        assert_eq!(
            published("awaiting_deposit", "paid"),
            Some(EventType::PaymentPaid)
        );
        assert_eq!(
            published("awaiting_deposit", "expired"),
            Some(EventType::PaymentFailed)
        );
        assert_eq!(event_type(None, &row("ready", 0)), None);
    }

    #[test]
    fn every_further_partial_cancel_publishes_again() {
        let first = event_type(Some(&row("paid", 0)), &row("partially_cancelled", 1_000));
        assert_eq!(first, Some(EventType::PaymentPartiallyCancelled));
        let again = event_type(
            Some(&row("partially_cancelled", 1_000)),
            &row("partially_cancelled", 3_000),
        );
        assert_eq!(again, Some(EventType::PaymentPartiallyCancelled));
        let reserved_only = event_type(
            Some(&row("partially_cancelled", 1_000)),
            &row("partially_cancelled", 1_000),
        );
        assert_eq!(reserved_only, None);
        assert_eq!(
            event_type(
                Some(&row("partially_cancelled", 1_000)),
                &row("cancelled", 10_000)
            ),
            Some(EventType::PaymentCancelled)
        );
    }

    #[test]
    fn the_body_carries_the_payment_and_its_sequence() {
        let publication = publication(
            Some(&row("approving", 0)),
            &row("paid", 0),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        let body: serde_json::Value = serde_json::from_str(&publication.body).unwrap();
        assert_eq!(body["id"], publication.id.as_str());
        assert_eq!(body["type"], "payment.paid");
        assert_eq!(body["data"]["id"], "pay_1");
        assert_eq!(body["data"]["status"], "paid");
        assert_eq!(body["data"]["sequence"], 4);
        assert!(body["createdAt"].is_string());
    }
}
