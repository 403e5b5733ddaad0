//! What a failed payment means for the shopper: a short Korean message safe to show them, and the help
//! articles most likely to fix it. The failure page, the payment API and cancel errors share these.

use super::service::WindowReport;
use crate::domain::{FailureCode, MethodDetails};
use crate::help::{Audience, HelpCenter, HelpHit, SuggestRequest};
use crate::store::payments::PaymentRow;

/// How many help articles go with a failure.
const HELP_LINKS: usize = 3;

/// paydesk's own failure codes explained in Korean; Innopay's and the card company's messages are
/// shown verbatim, because support and card companies recognise them word for word.
pub fn shopper_message(code: Option<&FailureCode>, innopay_message: &str) -> String {
    match code {
        Some(FailureCode::AmountMismatch | FailureCode::OrderMismatch) => {
            "결제 정보가 주문 내용과 일치하지 않아 결제를 진행하지 않았습니다. \
             요금은 청구되지 않았습니다. 상점에 문의해 주세요."
                .into()
        }
        Some(FailureCode::Expired) => {
            "결제 가능 시간이 지났습니다. 상점에서 다시 주문해 주세요.".into()
        }
        Some(FailureCode::DepositExpired) => {
            "입금 기한까지 입금이 확인되지 않아 가상계좌가 닫혔습니다. \
             주문을 다시 하시려면 상점에서 새로 주문해 주세요."
                .into()
        }
        Some(FailureCode::InnopayUnreachable) => {
            "결제 서버에 연결하지 못했습니다. 요금은 청구되지 않았습니다. \
             잠시 후 다시 시도해 주세요."
                .into()
        }
        _ => format!("결제가 승인되지 않았습니다: {innopay_message}"),
    }
}

/// Help for a failed payment: its error message and code first, then the card company, amount and
/// the shopper's device (an ISP card at 300,000 won or more, a phone).
pub fn help_for(help: &HelpCenter, row: &PaymentRow, user_agent: Option<&str>) -> Vec<HelpHit> {
    suggest(
        help,
        row,
        row.failure_code.as_ref().map(|c| c.code().to_string()),
        row.failure_message.clone(),
        user_agent,
    )
}

/// Help while a virtual account waits for its deposit: how to pay it, what to do when a deposit
/// does not show.
pub fn help_for_waiting(
    help: &HelpCenter,
    row: &PaymentRow,
    user_agent: Option<&str>,
) -> Vec<HelpHit> {
    let code = if wrong_amount_deposited(row).is_some() {
        "deposit_amount_mismatch"
    } else {
        "awaiting_deposit"
    };
    suggest(help, row, Some(code.into()), None, user_agent)
}

/// What was deposited into a still unpaid virtual account, when it is not the amount owed.
pub fn wrong_amount_deposited(row: &PaymentRow) -> Option<i64> {
    row.method_details
        .as_ref()
        .and_then(MethodDetails::virtual_account)
        .and_then(|a| a.deposit.as_ref())
        .map(|d| d.amount)
        .filter(|&amount| amount != row.amount + row.tax_free_amount)
}

/// Help for a checkout whose payment window came back without paying, from what the window said.
/// Only our own articles are shown for it: the window's words are unsigned and never displayed.
pub fn help_for_window(
    help: &HelpCenter,
    row: &PaymentRow,
    report: &WindowReport,
    user_agent: Option<&str>,
) -> Vec<HelpHit> {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    suggest(
        help,
        row,
        non_empty(&report.code),
        non_empty(&report.message),
        user_agent,
    )
}

fn suggest(
    help: &HelpCenter,
    row: &PaymentRow,
    code: Option<String>,
    message: Option<String>,
    user_agent: Option<&str>,
) -> Vec<HelpHit> {
    help.suggest(&SuggestRequest {
        message,
        code,
        pay_method: Some(row.pay_method.code().to_string()),
        card_company: row
            .method_details
            .as_ref()
            .and_then(MethodDetails::card)
            .and_then(|c| c.company_code.clone()),
        amount: Some(row.amount + row.tax_free_amount),
        user_agent: user_agent.map(str::to_string),
        limit: HELP_LINKS,
        reader: Audience::Shopper,
    })
}
