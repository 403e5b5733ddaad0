//! The storefront-facing webhook API: the endpoint and its signing secret, the catch-up list of
//! events, the delivery log and redelivery. Every route needs the storefront's API key and sees only
//! that storefront's data (another storefront's ids answer 404).

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::ParseFromJSON;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use time::OffsetDateTime;

use super::service::LoggedDelivery;
use super::{EventType, WebhookError, WebhookEvent};
use crate::api::{ErrorDocs, Errors, Fault, FieldCodes, JsonBody, Timestamp, docs, page_limit};
use crate::app::AppState;
use crate::config::ExposeSecret;
use crate::store::webhooks::{DeliveryFilter, DeliveryStatus, EndpointRow};
use crate::storefronts::{ApiKeyAuth, Storefront, signing_key_id};

#[derive(Tags)]
enum WebhookTags {
    /// Where paydesk sends webhooks, and the secret that signs them.
    Webhooks,
    /// Every webhook event, to catch up on anything missed.
    Events,
}

/// Where webhooks go.
#[derive(Object, Clone, Debug)]
pub struct SetWebhookEndpoint {
    /// An absolute `https://` (or `http://`) URL that accepts POSTs. Setting it again re-enables an
    /// endpoint that was disabled. At most 2000 characters.
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub url: String,
}

impl FieldCodes for SetWebhookEndpoint {
    fn field_code(path: &str, _: Fault) -> Option<&'static str> {
        (path == "url").then_some("invalid_webhook_url")
    }
}

/// The storefront's webhook endpoint.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct WebhookEndpoint {
    pub url: String,
    /// `false` once the endpoint answered `410 Gone`: nothing is sent until it is set again.
    pub enabled: bool,
    #[oai(skip_serializing_if_is_none)]
    pub disabled_reason: Option<String>,
    /// `whsec_<base64>`: verifies `webhook-signature` (and the signature of return redirects).
    pub signing_secret: String,
    /// Until then, webhooks also carry a signature with the secret before the last rotation.
    #[oai(skip_serializing_if_is_none)]
    pub previous_secret_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Which signing secret is in use, without the secret itself.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct SigningSecretIdentity {
    /// The first 8 hex characters of the SHA-256 of the whole secret string (`whsec_...`): compute
    /// it from the secret your receiver holds to see whether it is the current one.
    pub key_id: String,
    /// When the current secret was issued: the storefront's creation or the last rotation. Absent
    /// for a secret rotated before paydesk recorded this.
    #[oai(skip_serializing_if_is_none)]
    pub created_at: Option<Timestamp>,
    /// The secret before the last rotation, while webhooks still carry a signature with it.
    #[oai(skip_serializing_if_is_none)]
    pub previous_key_id: Option<String>,
    /// Until then the previous secret still signs, next to the current one.
    #[oai(skip_serializing_if_is_none)]
    pub previous_secret_expires_at: Option<Timestamp>,
}

/// A new signing secret.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct RotatedSecret {
    /// The new secret (`whsec_<base64>`); webhooks are signed with it from now on. Shown only in
    /// this answer and in `GET /v1/webhook-endpoint`.
    pub signing_secret: String,
    /// The new secret's `keyId` (see `GET /v1/signing-secret`).
    pub key_id: String,
    /// The old secret keeps signing next to the new one until then, so receivers can switch over.
    pub previous_secret_expires_at: Timestamp,
}

/// A page of events, oldest first.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct EventList {
    pub data: Vec<WebhookEvent>,
    /// More events follow right away; ask again with `after = nextCursor`.
    pub has_more: bool,
    /// The last event's id: pass it as `after` for the next page, or later to get what happened
    /// since. Absent on an empty page (keep the cursor you had).
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// Where a delivery stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum DeliveryStatusView {
    /// Waiting for its next attempt, or for an earlier event of the same payment.
    Pending,
    /// The endpoint answered 2XX.
    Delivered,
    /// Given up: still failing three days after the event, the endpoint answered `410 Gone`, or
    /// the endpoint is disabled.
    Failed,
}

impl From<DeliveryStatus> for DeliveryStatusView {
    fn from(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Pending => Self::Pending,
            DeliveryStatus::Delivered => Self::Delivered,
            DeliveryStatus::Failed => Self::Failed,
        }
    }
}

impl From<DeliveryStatusView> for DeliveryStatus {
    fn from(view: DeliveryStatusView) -> Self {
        match view {
            DeliveryStatusView::Pending => Self::Pending,
            DeliveryStatusView::Delivered => Self::Delivered,
            DeliveryStatusView::Failed => Self::Failed,
        }
    }
}

/// One POST to the endpoint.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    pub attempted_at: Timestamp,
    pub url: String,
    /// The HTTP status answered (2XX = delivered; redirects are not followed).
    #[oai(skip_serializing_if_is_none)]
    pub status_code: Option<u16>,
    /// Why there was no answer: connection failed, timed out (after 15 s), ...
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// One event on its way to the endpoint, with every attempt.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct WebhookDelivery {
    /// `whd_...`
    pub id: String,
    /// The event sent (and its `webhook-id`).
    pub event_id: String,
    pub event_type: EventType,
    pub payment_id: String,
    pub sequence: i32,
    pub status: DeliveryStatusView,
    /// When the next attempt is due (pending deliveries only).
    #[oai(skip_serializing_if_is_none)]
    pub next_attempt_at: Option<Timestamp>,
    /// Why the last attempt failed, or why nothing was sent.
    #[oai(skip_serializing_if_is_none)]
    pub last_error: Option<String>,
    /// Every attempt, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
    pub created_at: Timestamp,
    #[oai(skip_serializing_if_is_none)]
    pub finished_at: Option<Timestamp>,
}

/// A page of deliveries, newest first.
#[derive(Object, Clone, Debug)]
#[oai(rename_all = "camelCase")]
pub struct DeliveryList {
    pub data: Vec<WebhookDelivery>,
    pub has_more: bool,
    /// Pass as `startingAfter` for the next page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
enum EndpointResponse {
    #[oai(status = 200)]
    Ok(Json<WebhookEndpoint>),
}

#[derive(ApiResponse)]
enum SigningSecretResponse {
    #[oai(status = 200)]
    Ok(Json<SigningSecretIdentity>),
}

#[derive(ApiResponse)]
enum RotateResponse {
    #[oai(status = 200)]
    Ok(Json<RotatedSecret>),
}

#[derive(ApiResponse)]
enum EventsResponse {
    #[oai(status = 200)]
    Ok(Json<EventList>),
}

#[derive(ApiResponse)]
enum DeliveriesResponse {
    #[oai(status = 200)]
    Ok(Json<DeliveryList>),
}

#[derive(ApiResponse)]
enum RedeliverResponse {
    /// A new delivery of the same event, due now.
    #[oai(status = 201)]
    Created(Json<WebhookDelivery>),
}

fn endpoint_view(endpoint: EndpointRow, storefront: &Storefront) -> WebhookEndpoint {
    WebhookEndpoint {
        url: endpoint.url,
        enabled: endpoint.enabled,
        disabled_reason: endpoint.disabled_reason,
        signing_secret: storefront.signing_secret.expose_secret().to_string(),
        previous_secret_expires_at: storefront
            .previous_signing_secret_expires_at
            .map(Into::into),
        created_at: endpoint.created_at.into(),
        updated_at: endpoint.updated_at.into(),
    }
}

fn delivery_view(logged: LoggedDelivery) -> WebhookDelivery {
    let d = logged.delivery;
    let status = DeliveryStatus::parse(&d.status).unwrap_or(DeliveryStatus::Pending);
    WebhookDelivery {
        event_type: EventType::parse(&logged.event_type).unwrap_or(EventType::PaymentUnknown),
        next_attempt_at: (status == DeliveryStatus::Pending).then_some(d.next_attempt_at.into()),
        status: status.into(),
        attempts: logged
            .attempts
            .into_iter()
            .map(|a| DeliveryAttempt {
                attempted_at: a.attempted_at.into(),
                url: a.url,
                status_code: a.status_code.and_then(|c| u16::try_from(c).ok()),
                error: a.error,
                duration_ms: a.duration_ms,
            })
            .collect(),
        id: d.id,
        event_id: d.event_id,
        payment_id: d.payment_id,
        sequence: d.sequence,
        last_error: d.last_error,
        created_at: d.created_at.into(),
        finished_at: d.finished_at.map(Into::into),
    }
}

pub struct WebhooksApi;

#[OpenApi]
impl WebhooksApi {
    /// Set the webhook endpoint
    ///
    /// paydesk POSTs every published event there (see `docs/WEBHOOKS.md`), signed with the answer's
    /// `signingSecret`. Setting it again changes the URL and re-enables a disabled endpoint. Only
    /// events written while an endpoint is enabled are delivered; `GET /v1/events` has all of them.
    #[oai(
        path = "/v1/webhook-endpoint",
        method = "put",
        operation_id = "setWebhookEndpoint",
        tag = "WebhookTags::Webhooks"
    )]
    async fn set_endpoint(
        &self,
        state: Data<&AppState>,
        auth: ApiKeyAuth,
        body: JsonBody<SetWebhookEndpoint>,
    ) -> Result<EndpointResponse, Errors<SetEndpointErrors>> {
        let storefront = auth.storefront(&state).await?;
        let body = body.parse()?;
        let (endpoint, storefront) = state
            .webhooks
            .set_endpoint(&storefront.id, &body.url)
            .await?;
        Ok(EndpointResponse::Ok(Json(endpoint_view(
            endpoint,
            &storefront,
        ))))
    }

    /// Get the webhook endpoint
    ///
    /// With the signing secret (anyone with the API key could rotate it anyway).
    #[oai(
        path = "/v1/webhook-endpoint",
        method = "get",
        operation_id = "getWebhookEndpoint",
        tag = "WebhookTags::Webhooks"
    )]
    async fn get_endpoint(
        &self,
        state: Data<&AppState>,
        auth: ApiKeyAuth,
    ) -> Result<EndpointResponse, Errors<GetEndpointErrors>> {
        let storefront = auth.storefront(&state).await?;
        let (endpoint, storefront) = state.webhooks.endpoint(&storefront).await?;
        Ok(EndpointResponse::Ok(Json(endpoint_view(
            endpoint,
            &storefront,
        ))))
    }

    /// Get the signing secret's identity
    ///
    /// Which secret signs webhooks and return redirects, by `keyId`, and whether the one before the
    /// last rotation still signs, and until when. Never the secret itself; works whether or not a
    /// webhook endpoint is set.
    #[oai(
        path = "/v1/signing-secret",
        method = "get",
        operation_id = "getSigningSecret",
        tag = "WebhookTags::Webhooks"
    )]
    async fn get_signing_secret(
        &self,
        state: Data<&AppState>,
        auth: ApiKeyAuth,
    ) -> Result<SigningSecretResponse, Errors<SigningSecretErrors>> {
        let storefront = auth.storefront(&state).await?;
        Ok(SigningSecretResponse::Ok(Json(SigningSecretIdentity {
            key_id: signing_key_id(&storefront.signing_secret),
            created_at: storefront.signing_secret_created_at.map(Into::into),
            previous_key_id: storefront
                .previous_signing_secret
                .as_ref()
                .map(signing_key_id),
            previous_secret_expires_at: storefront
                .previous_signing_secret_expires_at
                .map(Into::into),
        })))
    }

    /// Rotate the signing secret
    ///
    /// Works whether or not a webhook endpoint is set: an endpoint set later signs with the
    /// rotated secret. Answers the new secret. Until `previousSecretExpiresAt` (24 hours by default) webhooks carry two
    /// signatures in `webhook-signature`, one per secret, so receivers can switch without missing any.
    /// Return redirects are signed the same way.
    #[oai(
        path = "/v1/webhook-endpoint/rotate-secret",
        method = "post",
        operation_id = "rotateSigningSecret",
        tag = "WebhookTags::Webhooks"
    )]
    async fn rotate_secret(
        &self,
        state: Data<&AppState>,
        auth: ApiKeyAuth,
    ) -> Result<RotateResponse, Errors<RotateErrors>> {
        let storefront = auth.storefront(&state).await?;
        let rotated = state.webhooks.rotate_secret(&storefront.id).await?;
        let expires = rotated
            .previous_signing_secret_expires_at
            .unwrap_or_else(OffsetDateTime::now_utc);
        Ok(RotateResponse::Ok(Json(RotatedSecret {
            signing_secret: rotated.signing_secret.expose_secret().to_string(),
            key_id: signing_key_id(&rotated.signing_secret),
            previous_secret_expires_at: expires.into(),
        })))
    }

    /// List events
    ///
    /// Every event paydesk published for this storefront, whether or not an endpoint was set, oldest
    /// first: the same bodies webhooks carry. Catch up by passing the last event id you processed as
    /// `after` until `hasMore` is false. An event is listed about two seconds after it happened.
    #[oai(
        path = "/v1/events",
        method = "get",
        operation_id = "listEvents",
        tag = "WebhookTags::Events"
    )]
    async fn list_events(
        &self,
        state: Data<&AppState>,
        auth: ApiKeyAuth,
        /// Only events after this event id (`nextCursor` of the previous page).
        after: Query<Option<String>>,
        /// Only events of this payment.
        #[oai(name = "paymentId")]
        payment_id: Query<Option<String>>,
        /// 1 to 100, default 20.
        limit: Query<Option<u32>>,
    ) -> Result<EventsResponse, Errors<ListEventsErrors>> {
        let storefront = auth.storefront(&state).await?;
        let limit = page_limit(limit.0)?;
        let (rows, has_more) = state
            .webhooks
            .events(
                &storefront,
                after.0.as_deref(),
                payment_id.0.as_deref(),
                limit,
                state.store.now(),
            )
            .await?;
        let data = rows
            .iter()
            .map(|row| {
                WebhookEvent::parse_from_json_string(&row.body)
                    .map_err(|e| WebhookError::Corrupt(format!("{}: {}", row.id, e.into_message())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EventsResponse::Ok(Json(EventList {
            next_cursor: rows.last().map(|r| r.id.clone()),
            has_more,
            data,
        })))
    }

    /// List webhook deliveries
    ///
    /// The delivery log, newest first: each event sent to the endpoint, with every attempt (time,
    /// status code or error, duration).
    #[oai(
        path = "/v1/webhook-deliveries",
        method = "get",
        operation_id = "listWebhookDeliveries",
        tag = "WebhookTags::Webhooks"
    )]
    async fn list_deliveries(
        &self,
        state: Data<&AppState>,
        auth: ApiKeyAuth,
        /// Only deliveries of this event.
        #[oai(name = "eventId")]
        event_id: Query<Option<String>>,
        status: Query<Option<DeliveryStatusView>>,
        /// The `nextCursor` of the previous page.
        #[oai(name = "startingAfter")]
        starting_after: Query<Option<String>>,
        /// 1 to 100, default 20.
        limit: Query<Option<u32>>,
    ) -> Result<DeliveriesResponse, Errors<ListDeliveriesErrors>> {
        let storefront = auth.storefront(&state).await?;
        let limit = page_limit(limit.0)?;
        let filter = DeliveryFilter {
            event_id: event_id.0,
            status: status.0.map(Into::into),
            before_id: starting_after.0,
            limit: limit + 1,
        };
        let mut logged = state.webhooks.deliveries(&storefront, &filter).await?;
        let has_more = logged.len() as u64 > limit;
        logged.truncate(limit as usize);
        Ok(DeliveriesResponse::Ok(Json(DeliveryList {
            next_cursor: has_more
                .then(|| logged.last().map(|l| l.delivery.id.clone()))
                .flatten(),
            has_more,
            data: logged.into_iter().map(delivery_view).collect(),
        })))
    }

    /// Redeliver a webhook
    ///
    /// Sends the delivery's event again, as a new delivery due now, with the same `webhook-id`.
    #[oai(
        path = "/v1/webhook-deliveries/:id/redeliver",
        method = "post",
        operation_id = "redeliverWebhook",
        tag = "WebhookTags::Webhooks"
    )]
    async fn redeliver(
        &self,
        state: Data<&AppState>,
        auth: ApiKeyAuth,
        id: Path<String>,
    ) -> Result<RedeliverResponse, Errors<RedeliverErrors>> {
        let storefront = auth.storefront(&state).await?;
        let logged = state.webhooks.redeliver(&storefront, &id.0).await?;
        Ok(RedeliverResponse::Created(Json(delivery_view(logged))))
    }
}

struct SetEndpointErrors;
struct GetEndpointErrors;
struct RotateErrors;
struct SigningSecretErrors;
struct ListEventsErrors;
struct ListDeliveriesErrors;
struct RedeliverErrors;

impl ErrorDocs for SetEndpointErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        (
            400,
            "`invalid_webhook_url` (not an absolute http(s) URL), `webhook_url_not_public` (an IP \
             address that is not public, on a server that talks to Innopay) or `invalid_body`; \
             `error.param` names the field.",
        ),
        docs::UNAUTHORIZED,
        docs::FORBIDDEN,
        docs::PAYLOAD_TOO_LARGE,
        docs::UNSUPPORTED_MEDIA_TYPE,
        docs::INTERNAL,
        docs::DATABASE_UNAVAILABLE,
    ];
}

impl ErrorDocs for GetEndpointErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        docs::UNAUTHORIZED,
        docs::FORBIDDEN,
        (
            404,
            "`webhook_endpoint_not_found`: this storefront has no webhook endpoint yet.",
        ),
        docs::INTERNAL,
        docs::DATABASE_UNAVAILABLE,
    ];
}

impl ErrorDocs for RotateErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        docs::UNAUTHORIZED,
        docs::FORBIDDEN,
        docs::INTERNAL,
        docs::DATABASE_UNAVAILABLE,
    ];
}

impl ErrorDocs for SigningSecretErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        docs::UNAUTHORIZED,
        docs::FORBIDDEN,
        docs::INTERNAL,
        docs::DATABASE_UNAVAILABLE,
    ];
}

impl ErrorDocs for ListEventsErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        (
            400,
            "`invalid_limit` (outside 1 to 100) or `invalid_parameter`; `error.param` names it.",
        ),
        docs::UNAUTHORIZED,
        docs::FORBIDDEN,
        (
            404,
            "`event_not_found`: `after` is not an event of this storefront.",
        ),
        docs::INTERNAL,
        docs::DATABASE_UNAVAILABLE,
    ];
}

impl ErrorDocs for ListDeliveriesErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        (
            400,
            "`invalid_limit` (outside 1 to 100) or `invalid_parameter`; `error.param` names it.",
        ),
        docs::UNAUTHORIZED,
        docs::FORBIDDEN,
        docs::INTERNAL,
        docs::DATABASE_UNAVAILABLE,
    ];
}

impl ErrorDocs for RedeliverErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        docs::BAD_ID,
        docs::UNAUTHORIZED,
        docs::FORBIDDEN,
        docs::NOT_FOUND,
        (
            409,
            "`webhook_endpoint_disabled`: the endpoint is disabled (it answered `410 Gone`); set it \
             again first.",
        ),
        docs::INTERNAL,
        docs::DATABASE_UNAVAILABLE,
    ];
}
