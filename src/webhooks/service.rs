//! The webhook service: a storefront's endpoint and signing secret, the catch-up list of its events,
//! its delivery log and redeliveries, and one delivery attempt (signing, sending, deciding what next).

use std::time::Instant;

use time::OffsetDateTime;

use super::WebhookError;
use super::delivery::{SendOutcome, next_step};
use super::destination;
use crate::config::WebhookConfig;
use crate::ops::Metrics;
use crate::store::Store;
use crate::store::webhooks::{
    AttemptRow, DeliveryFilter, DeliveryRow, EndpointRow, EventRow, NewAttempt, NextStep,
};
use crate::storefronts::{self, Storefront};

/// Longest endpoint URL accepted.
const MAX_URL_LEN: usize = 2000;

/// A delivery with its attempts and the type of its event, for the log.
pub struct LoggedDelivery {
    pub delivery: DeliveryRow,
    pub event_type: String,
    pub attempts: Vec<AttemptRow>,
}

#[derive(Clone)]
pub struct WebhookService {
    store: Store,
    http: reqwest::Client,
    settings: WebhookConfig,
    metrics: Metrics,
}

/// Only absolute http(s) URLs with a host: anything else would never be an HTTP endpoint.
fn parse_endpoint_url(raw: &str) -> Result<url::Url, WebhookError> {
    crate::domain::web_url(raw, MAX_URL_LEN).map_err(|_| {
        WebhookError::InvalidUrl(
            raw.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect(),
        )
    })
}

/// Why a request got no HTTP answer, in one line, starting with what kind of failure it was.
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    format!("{kind}: {}", crate::gateway::describe(err))
}

impl WebhookService {
    pub fn new(store: Store, settings: WebhookConfig) -> Result<Self, String> {
        // A redirect is not a delivery, and following one would send the signed event elsewhere.
        let http = destination::outbound_client(settings.private_networks)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("paydesk-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))?;
        Ok(Self {
            store,
            http,
            settings,
            metrics: Metrics::default(),
        })
    }

    /// This service counting its attempts into `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn settings(&self) -> &WebhookConfig {
        &self.settings
    }

    /// The address of `url` that this server refuses to send to, if it is an IP literal.
    fn refused(&self, url: &url::Url) -> Option<std::net::IpAddr> {
        if self.settings.private_networks {
            return None;
        }
        destination::refused_literal(url)
    }

    pub async fn endpoint(
        &self,
        storefront: &Storefront,
    ) -> Result<(EndpointRow, Storefront), WebhookError> {
        let endpoint = self
            .store
            .webhook_endpoint(&storefront.id)
            .await?
            .ok_or(WebhookError::NoEndpoint)?;
        Ok((endpoint, storefront.clone()))
    }

    /// Sets (and enables) a storefront's endpoint. The API and `paydesk storefront set-webhook` both
    /// come here.
    pub async fn set_endpoint(
        &self,
        storefront_id: &str,
        url: &str,
    ) -> Result<(EndpointRow, Storefront), WebhookError> {
        let url = parse_endpoint_url(url)?;
        if let Some(ip) = self.refused(&url) {
            return Err(WebhookError::NotPublic(ip));
        }
        let storefront = storefronts::find(&self.store, storefront_id).await?;
        let endpoint = self
            .store
            .put_webhook_endpoint(&storefront.id, url.as_str())
            .await?;
        Ok((endpoint, storefront))
    }

    /// A new signing secret; the old one keeps signing beside it for the configured overlap.
    pub async fn rotate_secret(&self, storefront_id: &str) -> Result<Storefront, WebhookError> {
        Ok(storefronts::rotate_signing_secret(
            &self.store,
            storefront_id,
            self.settings.secret_overlap,
        )
        .await?)
    }

    /// Up to `limit` of the storefront's events after `after`, oldest first, and whether more follow;
    /// only events older than the settle time at `now`.
    pub async fn events(
        &self,
        storefront: &Storefront,
        after: Option<&str>,
        payment_id: Option<&str>,
        limit: u64,
        now: OffsetDateTime,
    ) -> Result<(Vec<EventRow>, bool), WebhookError> {
        let settled_before = now - self.settings.event_settle;
        let mut rows = self
            .store
            .webhook_events(&storefront.id, after, payment_id, settled_before, limit + 1)
            .await?
            .ok_or(WebhookError::EventNotFound)?;
        let has_more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        Ok((rows, has_more))
    }

    /// The storefront's deliveries with their attempts, newest first.
    pub async fn deliveries(
        &self,
        storefront: &Storefront,
        filter: &DeliveryFilter,
    ) -> Result<Vec<LoggedDelivery>, WebhookError> {
        let deliveries = self
            .store
            .webhook_deliveries(&storefront.id, filter)
            .await?;
        self.with_attempts(deliveries).await
    }

    async fn with_attempts(
        &self,
        deliveries: Vec<DeliveryRow>,
    ) -> Result<Vec<LoggedDelivery>, WebhookError> {
        let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
        let mut event_ids: Vec<String> = deliveries.iter().map(|d| d.event_id.clone()).collect();
        event_ids.dedup();
        let attempts = self.store.webhook_attempts(&ids).await?;
        let events = self.store.webhook_events_by_ids(&event_ids).await?;
        Ok(deliveries
            .into_iter()
            .map(|delivery| LoggedDelivery {
                event_type: events
                    .iter()
                    .find(|e| e.id == delivery.event_id)
                    .map(|e| e.event_type.clone())
                    .unwrap_or_default(),
                attempts: attempts
                    .iter()
                    .filter(|a| a.delivery_id == delivery.id)
                    .cloned()
                    .collect(),
                delivery,
            })
            .collect())
    }

    /// Sends the event of one of the storefront's deliveries again, as a new delivery due now (same
    /// `webhook-id`, so a receiver that already has it can tell).
    pub async fn redeliver(
        &self,
        storefront: &Storefront,
        delivery_id: &str,
    ) -> Result<LoggedDelivery, WebhookError> {
        let delivery = self
            .store
            .webhook_delivery(&storefront.id, delivery_id)
            .await?
            .ok_or(WebhookError::DeliveryNotFound)?;
        let (endpoint, _) = self.endpoint(storefront).await?;
        if !endpoint.enabled {
            return Err(WebhookError::EndpointDisabled(
                endpoint.disabled_reason.unwrap_or_default(),
            ));
        }
        let event = self
            .store
            .webhook_event(&storefront.id, &delivery.event_id)
            .await?
            .ok_or(WebhookError::EventNotFound)?;
        let redelivery = self.store.insert_redelivery(&event).await?;
        let mut logged = self.with_attempts(vec![redelivery]).await?;
        Ok(logged.remove(0))
    }

    /// One attempt of a delivery this instance has leased under `token`: sign, POST, record, and
    /// decide what comes next (done, retry later, or give up).
    pub(super) async fn attempt(
        &self,
        delivery: &DeliveryRow,
        token: &str,
    ) -> Result<(), WebhookError> {
        let endpoint = self
            .store
            .webhook_endpoint(&delivery.storefront_id)
            .await?
            .filter(|e| e.enabled);
        let Some(endpoint) = endpoint else {
            // Disabled (410 Gone) or removed since the event was written: nobody to send it to.
            self.store
                .finish_webhook_attempt(
                    &delivery.id,
                    token,
                    Err("not sent: the storefront's webhook endpoint is disabled".into()),
                    NextStep::GiveUp,
                )
                .await?;
            self.metrics.webhook_attempt("not_sent", true);
            return Ok(());
        };
        let event = self
            .store
            .webhook_event(&delivery.storefront_id, &delivery.event_id)
            .await?
            .ok_or(WebhookError::EventNotFound)?;
        let storefront = storefronts::find(&self.store, &delivery.storefront_id).await?;
        let attempted_at = self.store.now();
        let timestamp = attempted_at.unix_timestamp();
        let signature = storefront.signature(&format!("{}.{timestamp}.{}", event.id, event.body));
        let started = Instant::now();
        // Set while private networks were allowed, or stored by an older version.
        let refused = url::Url::parse(&endpoint.url)
            .ok()
            .and_then(|u| self.refused(&u));
        let (status_code, error) = match refused {
            Some(ip) => (
                None,
                Some(format!("not sent: {}", WebhookError::NotPublic(ip))),
            ),
            None => {
                let answer = self
                    .http
                    .post(&endpoint.url)
                    .header("content-type", "application/json")
                    .header("webhook-id", &event.id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", signature)
                    .body(event.body.clone())
                    .send()
                    .await;
                match &answer {
                    Ok(response) => (Some(response.status().as_u16()), None),
                    Err(e) => (None, Some(describe(e))),
                }
            }
        };
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let outcome = match status_code {
            Some(200..=299) => SendOutcome::Accepted,
            Some(410) => SendOutcome::Gone,
            _ => SendOutcome::Failed,
        };
        if outcome == SendOutcome::Gone {
            let reason = format!("the endpoint answered 410 Gone at {attempted_at}");
            if self
                .store
                .disable_webhook_endpoint(&storefront.id, &endpoint.url, &reason)
                .await?
            {
                tracing::warn!(storefront = %storefront.id, url = %endpoint.url, "webhook endpoint answered 410 Gone; disabled");
            }
        }
        let next = next_step(
            outcome,
            delivery.created_at,
            delivery.attempts + 1,
            self.store.now(),
            self.settings.retry_scale,
        );
        let label = match (refused.is_some(), outcome) {
            (true, _) => "not_sent",
            (false, SendOutcome::Accepted) => "accepted",
            (false, SendOutcome::Gone) => "gone",
            (false, SendOutcome::Failed) => "failed",
        };
        self.metrics
            .webhook_attempt(label, matches!(next, NextStep::GiveUp));
        tracing::info!(
            delivery = %delivery.id,
            event = %event.id,
            status = status_code,
            error = error.as_deref(),
            duration_ms,
            next = ?next,
            "webhook attempt"
        );
        let attempt = NewAttempt {
            url: endpoint.url,
            attempted_at,
            status_code,
            error,
            duration_ms,
        };
        if !self
            .store
            .finish_webhook_attempt(&delivery.id, token, Ok(attempt), next)
            .await?
        {
            tracing::warn!(delivery = %delivery.id, "webhook lease expired during the attempt; another instance may retry it");
        }
        Ok(())
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_are_endpoints() {
        for good in ["https://shop.example/hooks", "http://127.0.0.1:9000/x?y=1"] {
            assert!(parse_endpoint_url(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://shop.example/hooks",
            "javascript:alert(1)",
            "/relative",
            "https://",
            "file:///etc/passwd",
            "",
        ] {
            assert!(parse_endpoint_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://shop.example/{}", "a".repeat(MAX_URL_LEN));
        assert!(parse_endpoint_url(&long).is_err());
    }
}
