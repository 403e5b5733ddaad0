//! `docs/WIDGET.md` and its example, `docs/examples/widget/failure.html`: the doc quotes the example
//! verbatim and names every attribute the widget reads; and the example, filled the way the doc tells
//! a storefront's server to, works. A card payment is really declined in the sandbox, paydesk really
//! redirects headless Chromium (at 390 px) to the failUrl of a shop served on its own origin, the
//! shop verifies the signature and reads the payment as the doc says, and the widget on that page
//! must show Korean help that fits the decline, linking to paydesk's help pages, without overflow.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use base64::Engine;
use hmac::{KeyInit, Mac};
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{IntoResponse, Request, Response, Route, Server};
use serde_json::{Value, json};

use crate::approval::authorize;
use crate::browser::{Browser, PHONE, emulate_phone, phone_layout_problems};
use crate::checkout::{demo_key, new_checkout, order};
use crate::innopay::add_fault;
use crate::quickstart::code_blocks;
use crate::support::{Backend, TestApp};
use paydesk::config::ExposeSecret;

const DOC: &str = include_str!("../../docs/WIDGET.md");
const EXAMPLE: &str = include_str!("../../docs/examples/widget/failure.html");
const WIDGET_JS: &str = include_str!("../../src/help/assets/widget.js");

/// What paydesk appends to a failUrl, as the doc lists it.
const FAIL_QUERY: [&str; 9] = [
    "checkoutId",
    "orderId",
    "status",
    "amount",
    "timestamp",
    "signature",
    "failureCode",
    "helpUrl",
    "helpSignature",
];

/// The `{{NAME}}` placeholders of the example, in order of first appearance.
fn placeholders(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("{{") {
        let end = rest[start..].find("}}").expect("a closed placeholder") + start;
        let name = rest[start + 2..end].to_string();
        if !found.contains(&name) {
            found.push(name);
        }
        rest = &rest[end + 2..];
    }
    found
}

/// The `data-` attributes widget.js reads: its `data('name')` calls.
fn widget_attributes() -> BTreeSet<String> {
    WIDGET_JS
        .split("data('")
        .skip(1)
        .map(|s| format!("data-{}", &s[..s.find('\'').unwrap()]))
        .collect()
}

#[test]
fn the_widget_doc_quotes_its_example_and_names_every_attribute() {
    assert!(
        code_blocks(DOC).iter().any(|b| b == EXAMPLE),
        "docs/WIDGET.md must quote docs/examples/widget/failure.html verbatim in one code block"
    );
    let attributes = widget_attributes();
    assert!(attributes.len() >= 6, "{attributes:?}");
    for attribute in &attributes {
        assert!(
            DOC.contains(&format!("`{attribute}`")),
            "docs/WIDGET.md does not describe {attribute}, which widget.js reads"
        );
    }
    for name in placeholders(EXAMPLE) {
        assert!(
            DOC.contains(&format!("`{{{{{name}}}}}`")),
            "docs/WIDGET.md does not say what fills {{{{{name}}}}}"
        );
    }
    for key in FAIL_QUERY {
        assert!(
            DOC.contains(&format!("`{key}`")),
            "docs/WIDGET.md does not list the failUrl parameter {key}"
        );
    }
    // The example has no inline script, so it runs under the strict policy it declares.
    assert!(!EXAMPLE.contains("<script>"), "no inline script");
}

/// HTML escaping for text and quoted attribute values, as the doc asks of a shop's server.
fn escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// What the shop's server needs: paydesk's origin, its API key and its signing secret.
struct ShopSecrets {
    paydesk: String,
    api_key: String,
    signing_secret: String,
    client: reqwest::Client,
}

/// The shop's failure page, done as docs/WIDGET.md says: verify the redirect's signature and age,
/// read the payment with the API key, and fill the example's placeholders, HTML-escaped.
async fn failure_page(shop: &ShopSecrets, query: &HashMap<String, String>) -> Response {
    let refuse = |why: &str| (StatusCode::BAD_REQUEST, format!("refused: {why}")).into_response();
    let Some(fields) = FAIL_QUERY[..5]
        .iter()
        .map(|k| query.get(*k).cloned())
        .collect::<Option<Vec<_>>>()
    else {
        return refuse("missing parameters");
    };
    let key = base64::engine::general_purpose::STANDARD
        .decode(shop.signing_secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(fields.join(".").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let signature = query.get("signature").map(String::as_str).unwrap_or("");
    if !signature
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
    {
        return refuse("bad signature");
    }
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - fields[4].parse::<i64>().unwrap();
    if !(0..=300).contains(&age) {
        return refuse("old redirect");
    }
    let payment: Value = shop
        .client
        .get(format!("{}/v1/payments/{}", shop.paydesk, fields[0]))
        .bearer_auth(&shop.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    if payment["orderId"] != fields[1].as_str() || payment["status"] != fields[2].as_str() {
        return refuse("the payment does not match the redirect");
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let values = HashMap::from([
        ("PAYDESK_ORIGIN", shop.paydesk.clone()),
        ("ORDER_ID", text(&payment["orderId"])),
        (
            "SHOPPER_MESSAGE",
            text(&payment["failure"]["shopperMessage"]),
        ),
        ("ERROR_MESSAGE", text(&payment["failure"]["message"])),
        ("ERROR_CODE", text(&payment["failure"]["code"])),
        ("PAY_METHOD", text(&payment["payMethod"])),
        ("CARD_COMPANY", text(&payment["card"]["companyCode"])),
        ("AMOUNT", payment["totalAmount"].to_string()),
    ]);
    let mut html = EXAMPLE.to_string();
    for name in placeholders(EXAMPLE) {
        let value = values
            .get(name.as_str())
            .unwrap_or_else(|| panic!("the doc does not say what fills {{{{{name}}}}}"));
        html = html.replace(&format!("{{{{{name}}}}}"), &escape(value));
    }
    poem::web::Html(html).into_response()
}

/// The shop's own site on 127.0.0.1 port 0 (another origin than paydesk's); returns its base URL.
async fn start_shop(secrets: ShopSecrets) -> String {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    let secrets = Arc::new(secrets);
    let route = Route::new().at(
        "/payment/failed",
        poem::endpoint::make(move |req: Request| {
            let secrets = secrets.clone();
            async move {
                let query: HashMap<String, String> =
                    url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
                        .into_owned()
                        .collect();
                failure_page(&secrets, &query).await
            }
        }),
    );
    tokio::spawn(Server::new_with_acceptor(acceptor).run(route));
    format!("http://{addr}")
}

#[tokio::test]
async fn the_widget_example_shows_korean_help_for_a_real_decline_on_a_phone() {
    let Some(browser) = Browser::start_sized(PHONE).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = demo_key(&app);
    let paydesk = app.base.trim_end_matches('/').to_string();
    let storefront = paydesk::storefronts::find(&app.state.store, "sf_demo")
        .await
        .unwrap();
    let shop = start_shop(ShopSecrets {
        paydesk: paydesk.clone(),
        api_key: key.clone(),
        signing_secret: storefront.signing_secret.expose_secret().to_string(),
        client: reqwest::Client::new(),
    })
    .await;
    assert_ne!(
        url::Url::parse(&shop).unwrap().origin(),
        url::Url::parse(&paydesk).unwrap().origin(),
        "the shop is its own origin"
    );

    // A BC card declined by Innopay at approval, as a paybook app card without 3Factor is.
    let mut body = order(20000);
    body["failUrl"] = json!(format!("{shop}/payment/failed"));
    let checkout = new_checkout(&app, &key, &body).await;
    add_fault(
        &app,
        json!({"kind": "decline", "api": "pay", "calls": 1, "code": "C001",
               "message": "3Factor 인증 필요 ISP 공인인증 오류"}),
    )
    .await;
    let return_url = authorize(
        &app.client,
        &app.url("/sandbox"),
        &checkout,
        &[("cardCode", "01")],
    )
    .await;

    emulate_phone(&browser).await;
    // The browser brings the window's return to paydesk, which approves, is declined, and sends
    // the shopper on to the shop's failUrl.
    browser.goto(&return_url).await;
    let landed = browser
        .wait_for_url(&format!("{shop}/payment/failed?"))
        .await;
    let query: HashMap<String, String> = url::Url::parse(&landed)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(
        query.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        FAIL_QUERY.into_iter().collect::<BTreeSet<_>>(),
        "the failUrl carries exactly what docs/WIDGET.md lists: {landed}"
    );
    // Declined once, nothing charged: the checkout can still be paid.
    assert_eq!(query["status"], "ready");
    assert_eq!(query["failureCode"], "C001");
    assert_eq!(
        browser
            .execute("return window.innerWidth;", json!([]))
            .await,
        json!(PHONE.0),
        "the viewport is a phone's"
    );
    assert_eq!(
        browser.text("#failure-message").await,
        "결제가 승인되지 않았습니다: 3Factor 인증 필요 ISP 공인인증 오류",
        "the shop's server filled the page (a refused signature would have left it empty)"
    );

    // The widget, rendered where data-target says, with its suggestions.
    let hits = browser
        .wait("the widget's suggestions", || async {
            let hits = browser
                .execute(
                    "return Array.from(document.querySelectorAll('#payment-help .paydesk-help li')).map(li => ({\
                       title: li.querySelector('a').textContent, href: li.querySelector('a').href,\
                       visible: li.querySelector('a').getBoundingClientRect().height > 0,\
                       text: li.innerText}));",
                    json!([]),
                )
                .await;
            hits.as_array().filter(|h| !h.is_empty()).cloned()
        })
        .await;
    let help_prefix = format!("{paydesk}/help/");
    for hit in &hits {
        let href = hit["href"].as_str().unwrap();
        assert!(href.starts_with(&help_prefix), "{hit}");
        assert!(href.contains("from=widget"), "{hit}");
        assert_eq!(hit["visible"], true, "{hit}");
        let slug = href[help_prefix.len()..].split(['?', '#']).next().unwrap();
        let article: Value = app
            .get(&format!("/v1/help/articles/{slug}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(hit["title"], article["title"], "{hit} is a help article");
        let opened = app.client.get(href).send().await.unwrap();
        assert_eq!(opened.status(), 200, "{href}");
    }
    assert!(
        hits[0]["href"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{help_prefix}paybook-3factor-error?")),
        "the 3Factor article first: {hits:#?}"
    );

    // Korean for shoppers: the widget's own words have no Latin letters, and the articles' text
    // carries nothing from the developer's side (codes, method names, empty values).
    let widget_text = browser.text("#payment-help .paydesk-help").await;
    let own_words = browser
        .execute(
            "const box = document.querySelector('#payment-help .paydesk-help').cloneNode(true);\
             box.querySelector('ul').remove();\
             return box.textContent + ' ' + box.querySelector('input').placeholder;",
            json!([]),
        )
        .await;
    let own_words = own_words.as_str().unwrap();
    assert!(
        !own_words.chars().any(|c| c.is_ascii_alphabetic()),
        "the widget's own text is Korean: {own_words}"
    );
    for developer in [
        "C001",
        "CARD",
        "undefined",
        "null",
        "NaN",
        "[object",
        "error",
        "payMethod",
        "pay_",
        "http",
    ] {
        assert!(
            !widget_text.contains(developer),
            "{developer} in the widget: {widget_text}"
        );
    }
    for expected in ["결제가 안 되나요?", "도움말 센터 전체 보기", "검색"] {
        assert!(
            widget_text.contains(expected),
            "{expected} in {widget_text}"
        );
    }

    // Styled (its <style> passed the example's policy) and within the phone's width.
    let radius = browser
        .execute(
            "return getComputedStyle(document.querySelector('.paydesk-help')).borderTopLeftRadius;",
            json!([]),
        )
        .await;
    assert_eq!(radius, "12px", "the widget's style applied under the CSP");
    let scroll_width = browser
        .execute("return document.documentElement.scrollWidth;", json!([]))
        .await;
    assert!(
        scroll_width.as_u64().unwrap() <= u64::from(PHONE.0),
        "the page scrolls sideways: {scroll_width}"
    );
    // Also 14 px text at least and Hangul drawn with a Korean font, as on paydesk's own pages.
    let problems = phone_layout_problems(&browser).await;
    browser.screenshot("widget-example-phone").await;
    assert!(problems.is_empty(), "{problems:#?}");
}
