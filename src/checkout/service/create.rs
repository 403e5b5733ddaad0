//! Creating a checkout: its payment row and first event, with a generated order id when the
//! storefront sends none.

use serde_json::json;

use super::*;
use crate::checkout::input::NewCheckout;
use crate::checkout::{CheckoutError, PaymentStatus};
use crate::domain::{MethodDetails, OrderId, VirtualAccount};
use crate::store::StoreError;
use crate::store::payments::PaymentRow;
use crate::storefronts::Storefront;

fn new_payment_id() -> String {
    format!("pay_{}", uuid::Uuid::now_v7().simple())
}

fn generated_order_id() -> OrderId {
    format!("pd{}", uuid::Uuid::now_v7().simple())
        .parse()
        .expect("generated order ids are valid")
}

impl CheckoutService {
    pub async fn create(
        &self,
        storefront: &Storefront,
        new: NewCheckout,
    ) -> Result<PaymentRow, CheckoutError> {
        let offered = new
            .offered
            .as_ref()
            .map_or_else(|| vec![new.pay_method], |m| m.iter().collect());
        if let Some(off) = offered.into_iter().find(|m| !storefront.allows(*m)) {
            return Err(CheckoutError::invalid(
                "pay_method_not_allowed",
                new.methods_param,
                format!("this storefront does not take {off} payments"),
            ));
        }
        let now = self.store.now();
        let order_id = new.order_id.unwrap_or_else(generated_order_id);
        let row = PaymentRow {
            id: new_payment_id(),
            storefront_id: storefront.id.clone(),
            order_id: order_id.to_string(),
            mode: storefront.mode,
            mid: storefront.mid.to_string(),
            goods_name: new.goods_name,
            currency: new.amount.currency(),
            amount: new.amount.minor(),
            tax_free_amount: new.tax_free_amount.won(),
            pay_method: new.pay_method,
            offered_pay_methods: new.offered.clone(),
            buyer_name: new.buyer_name,
            buyer_tel: new.buyer_tel,
            buyer_email: new.buyer_email,
            success_url: new.success_url.map(String::from),
            fail_url: new.fail_url.map(String::from),
            mall_reserved: new.mall_reserved,
            app_scheme: new.app_scheme.map(String::from),
            status: PaymentStatus::Ready,
            version: 1,
            expires_at: now + new.expires_in,
            tid: None,
            approval_number: None,
            approved_at: None,
            method_details: new.deposit_due_at.map(|due_at| {
                MethodDetails::VirtualAccount(VirtualAccount {
                    due_at,
                    issued: None,
                    deposit: None,
                })
            }),
            cash_receipt: new.cash_receipt,
            receipt_url: None,
            cancelled_amount: 0,
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
        };
        let created = event(
            EventKind::Created,
            Cause::Api,
            json!({"amount": row.amount, "taxFreeAmount": row.tax_free_amount, "currency": row.currency.code(), "orderId": row.order_id}),
        );
        match self.store.insert_payment(row.clone(), created).await {
            Ok(()) => Ok(row),
            Err(StoreError::Duplicate(_)) => Err(CheckoutError::OrderIdTaken(order_id.to_string())),
            Err(e) => Err(e.into()),
        }
    }
}
