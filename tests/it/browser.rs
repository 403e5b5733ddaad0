//! Browser journeys in headless Chromium, and the harness they share. `Browser::start` finds
//! `chromium` and `chromedriver`, starts chromedriver on a free port and opens a headless session with
//! a fresh profile; its methods speak W3C WebDriver over plain HTTP (no extra crates, no TLS).
//! Without a browser the tests print why and skip, unless `PAYDESK_TEST_REQUIRE_BROWSER=1` (CI), where
//! they fail. Screenshots go to `<target dir>/screenshots/`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Html;
use poem::{Route, Server, get, handler};
use serde_json::{Value, json};

use crate::innopay::{merchant, new_moid};
use crate::support::{Backend, TestApp};
use paydesk::gateway::Outcome;

/// The key W3C WebDriver names element references with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A desktop window; phone journeys pass their own size to `Browser::start_sized`.
pub const DESKTOP: (u32, u32) = (1280, 900);

fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env).map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A headless Chromium session driven through chromedriver. Dropping it ends both.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`
    session: String,
    profile: PathBuf,
}

impl Browser {
    /// A desktop-sized browser, or `None` (after saying why) when none is installed and
    /// `PAYDESK_TEST_REQUIRE_BROWSER` is not `1`.
    pub async fn start() -> Option<Self> {
        Self::start_sized(DESKTOP).await
    }

    pub async fn start_sized(size: (u32, u32)) -> Option<Self> {
        Self::start_with(size, false).await
    }

    /// With `popup_blocker`, Chromium blocks popups opened without a user gesture, as shoppers'
    /// browsers do (chromedriver normally turns the blocker off).
    pub async fn start_with((width, height): (u32, u32), popup_blocker: bool) -> Option<Self> {
        let chromium = find_program(
            "PAYDESK_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let driver = find_program("PAYDESK_CHROMEDRIVER", &["chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            let message = "browser test skipped: chromium and chromedriver not found (install the Debian \
                           packages chromium and chromium-driver, or set PAYDESK_CHROMIUM / PAYDESK_CHROMEDRIVER)";
            if std::env::var("PAYDESK_TEST_REQUIRE_BROWSER").as_deref() == Ok("1") {
                panic!("{message}; PAYDESK_TEST_REQUIRE_BROWSER=1 makes this a failure");
            }
            eprintln!("{message}");
            return None;
        };
        paydesk::install_crypto_provider();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = std::env::temp_dir().join(format!(
            "paydesk-chromium-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let mut browser = Self {
            driver: child,
            http: reqwest::Client::new(),
            session: String::new(),
            profile,
        };
        let root = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = browser.http.get(format!("{root}/status")).send().await;
            if let Ok(response) = ready
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ]
        .map(String::from)
        .into_iter()
        .chain([
            format!("--user-data-dir={}", browser.profile.display()),
            format!("--window-size={width},{height}"),
        ])
        .collect::<Vec<_>>();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": args,
                "excludeSwitches": if popup_blocker { vec!["disable-popup-blocking"] } else { vec![] },
            },
        }}});
        let created: Value = browser
            .http
            .post(format!("{root}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session answer");
        let id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"));
        browser.session = format!("{root}/session/{id}");
        Some(browser)
    }

    /// One WebDriver command; returns its `value`, or the WebDriver error as text.
    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let ok = response.status().is_success();
        let value = response.json::<Value>().await.map_err(|e| e.to_string())?["value"].take();
        if ok {
            Ok(value)
        } else {
            Err(format!("{}: {}", value["error"], value["message"]))
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body))
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    async fn get(&self, path: &str) -> Value {
        self.command(reqwest::Method::GET, path, None)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    pub async fn url(&self) -> String {
        self.get("/url")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn title(&self) -> String {
        self.get("/title")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits (up to 10 s) for an element and returns its reference.
    pub async fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let found = self
                .command(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            if let Ok(element) = found {
                return element[ELEMENT]
                    .as_str()
                    .expect("element reference")
                    .to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no element {css}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to 10 s) until the element shows some text, and returns that text.
    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.wait(&format!("text in {css}"), || async {
            let text = self.get(&format!("/element/{element}/text")).await;
            text.as_str().filter(|t| !t.is_empty()).map(str::to_string)
        })
        .await
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.post(&format!("/element/{element}/click"), json!({}))
            .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.post(&format!("/element/{element}/value"), json!({"text": text}))
            .await;
    }

    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    pub async fn window(&self) -> String {
        self.get("/window")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn windows(&self) -> Vec<String> {
        serde_json::from_value(self.get("/window/handles").await).unwrap_or_default()
    }

    pub async fn switch_to(&self, handle: &str) {
        self.post("/window", json!({"handle": handle})).await;
    }

    /// Closes the current window, as a shopper closing a popup.
    pub async fn close_window(&self) {
        self.command(reqwest::Method::DELETE, "/window", None)
            .await
            .expect("close window");
    }

    /// Waits (up to 10 s) for a window other than `known` and returns it.
    pub async fn wait_for_new_window(&self, known: &[String]) -> String {
        self.wait("a new window", || async {
            self.windows()
                .await
                .into_iter()
                .find(|h| !known.contains(h))
        })
        .await
    }

    /// Waits (up to 10 s) until the current URL starts with `prefix`; returns it.
    pub async fn wait_for_url(&self, prefix: &str) -> String {
        self.wait(&format!("a URL starting with {prefix}"), || async {
            Some(self.url().await).filter(|u| u.starts_with(prefix))
        })
        .await
    }

    /// The text of an open alert, if any (and dismisses it).
    pub async fn take_alert(&self) -> Option<String> {
        let text = self
            .command(reqwest::Method::GET, "/alert/text", None)
            .await
            .ok()?;
        let _ = self
            .command(reqwest::Method::POST, "/alert/dismiss", Some(json!({})))
            .await;
        text.as_str().map(str::to_string)
    }

    pub async fn wait<T, F: Future<Output = Option<T>>>(
        &self,
        what: &str,
        mut check: impl FnMut() -> F,
    ) -> T {
        let started = Instant::now();
        loop {
            if let Some(found) = check().await {
                return found;
            }
            if started.elapsed() > Duration::from_secs(10) {
                self.screenshot("timeout").await;
                panic!(
                    "timed out waiting for {what}; current URL {}",
                    self.url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG of the current window as `<target dir>/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let encoded = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("base64 PNG");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("the target dir")
            .join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // End the session so Chromium exits with chromedriver. The test's runtime is blocked in
            // this drop, so a fresh runtime and client (pooled connections belong to a runtime) do it.
            let session = self.session.clone();
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|rt| {
                        rt.block_on(async { reqwest::Client::new().delete(session).send().await })
                    })
            })
            .join();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A merchant's shop page on port 0, as in the seed guide: loads `innopay.js` from the sandbox, calls
/// `goPay` from a button, and has a return page.
pub struct Shop {
    pub base: String,
}

#[handler]
fn returned() -> Html<&'static str> {
    Html(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>returned</title></head><body>결제 인증 결과</body></html>",
    )
}

impl Shop {
    /// `pay_params` makes the JavaScript object given to `goPay` from the shop's return URL.
    pub async fn start(js_url: &str, pay_params: impl FnOnce(&str) -> String) -> Self {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        let base = format!("http://{addr}");
        let pay_params = pay_params(&format!("{base}/return"));
        let page = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>shop</title>\
             <script type=\"text/javascript\" src=\"{js_url}\"></script></head><body>\
             <section><span>총 주문금액</span> <span>20,000 원</span>\
             <button id=\"btn_pay\">결제하기</button></section>\
             <script>innopay.closeHandler = function (moid) {{ document.title = 'closed:' + moid; }};\
             document.querySelector('#btn_pay').addEventListener('click', function () {{\
             innopay.goPay({pay_params}); }});</script></body></html>"
        );
        let shop = Route::new()
            .at(
                "/shop",
                get(poem::endpoint::make_sync(move |_| Html(page.clone()))),
            )
            .at("/return", get(returned));
        tokio::spawn(Server::new_with_acceptor(acceptor).run(shop));
        Self { base }
    }
}

/// The seed guide's goPay call.
fn seed_call(moid: &str, return_url: &str) -> String {
    format!(
        "{{payMethod: 'CARD', mid: 'testpay01m', moid: '{moid}', goodsName: '이노페이 화장품', amt: 20000, \
         buyerName: '홍길동', buyerTel: '01012345678', buyerEmail: 'test@test.com', \
         returnUrl: '{return_url}', mallReserved: 'from-browser'}}"
    )
}

/// A browser on the seed guide's shop page, served on port 0, paying through a fresh paydesk's
/// sandbox. `None` when no browser is installed (the test then skips).
struct SeedShop {
    browser: Browser,
    app: TestApp,
    shop: Shop,
    moid: String,
    shop_window: String,
}

impl SeedShop {
    async fn open() -> Option<Self> {
        let browser = Browser::start().await?;
        let app = TestApp::spawn(Backend::Sqlite).await;
        let moid = new_moid();
        let js = app.url("/sandbox/tpay/js/innopay.js");
        let shop = Shop::start(&js, |return_url| seed_call(&moid, return_url)).await;
        browser.goto(&format!("{}/shop", shop.base)).await;
        let shop_window = browser.window().await;
        Some(Self {
            browser,
            app,
            shop,
            moid,
            shop_window,
        })
    }
}

/// Clicks the shop's 결제하기 and switches to the payment window once its first step shows.
pub async fn open_payment_window(browser: &Browser, shop_window: &str) {
    open_payment_window_with(browser, shop_window, "#btn_pay").await;
}

/// Clicks `button` on the shop's page and switches to the payment window once its first step shows.
pub async fn open_payment_window_with(browser: &Browser, shop_window: &str, button: &str) {
    browser.click(button).await;
    let popup = browser
        .wait_for_new_window(&[shop_window.to_string()])
        .await;
    browser.switch_to(&popup).await;
    browser.find("#agree").await;
}

#[tokio::test]
async fn a_shop_page_opens_the_popup_and_a_card_payment_lands_on_return_url() {
    let Some(SeedShop {
        browser,
        app,
        shop,
        moid,
        shop_window,
    }) = SeedShop::open().await
    else {
        return;
    };
    let return_url = format!("{}/return", shop.base);
    open_payment_window(&browser, &shop_window).await;
    browser.screenshot("sandbox-window-terms").await;
    browser.click("#agree").await;
    browser.click("#card-07").await;
    browser.click("#next").await;
    browser.type_into("#cardPassword", "1234").await;
    browser.screenshot("sandbox-window-card").await;
    browser.click("#pay").await;

    browser.switch_to(&shop_window).await;
    let landed = browser.wait_for_url(&return_url).await;
    browser.screenshot("sandbox-returned").await;
    let query: HashMap<String, String> = url::Url::parse(&landed)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    for key in crate::innopay::RETURN_QUERY_KEYS {
        assert!(query.contains_key(key), "{key} missing in {landed}");
    }
    assert_eq!(query["moid"], moid);
    assert_eq!(query["amt"], "20000");
    assert_eq!(query["mallReserved"], "from-browser");
    assert!(!query.contains_key("resultCode"));
    // The window closed itself once it was done, without calling closeHandler.
    browser
        .wait("the popup to close", || async {
            (browser.windows().await.len() == 1).then_some(())
        })
        .await;
    assert_eq!(browser.title().await, "returned");

    let auth = crate::innopay::Authenticated { query };
    let outcome = crate::innopay::client(&app, 2_000)
        .approve(&merchant(), &auth.approval_request())
        .await;
    assert!(matches!(outcome, Outcome::Done(_)), "{outcome:?}");
}

#[tokio::test]
async fn the_sdk_alerts_on_bad_parameters_and_reports_a_closed_window() {
    // Bound, not `..`: the app and the shop must live until the end of the test.
    let Some(SeedShop {
        browser,
        app: _app,
        shop: _shop,
        moid,
        shop_window,
    }) = SeedShop::open().await
    else {
        return;
    };
    // The alert interrupts the script, so the result is read afterwards.
    let _ = browser
        .command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": "window.result = innopay.goPay({payMethod: 'CARD', mid: 'testpay01m', moid: 'x'});", "args": []})),
        )
        .await;
    let alert = browser.take_alert().await.expect("an alert");
    assert!(alert.starts_with("[W006]"), "{alert}");
    assert_eq!(
        browser.execute("return window.result;", json!([])).await,
        json!(false)
    );
    assert_eq!(
        browser.windows().await.len(),
        1,
        "no window on bad parameters"
    );

    open_payment_window(&browser, &shop_window).await;
    browser.close_window().await;
    browser.switch_to(&shop_window).await;
    let expected = format!("closed:{moid}");
    browser
        .wait("closeHandler to run", || async {
            (browser.title().await == expected).then_some(())
        })
        .await;
}

/// A phone-sized viewport (a common Android width), as in `journeys.rs`.
pub(crate) const PHONE: (u32, u32) = (390, 844);

/// Makes the viewport exactly `PHONE`, as a phone's: headless Chromium will not make a window
/// narrower than 500 px, so `--window-size=390,...` alone leaves a 500 px viewport. The DevTools
/// protocol (through chromedriver) emulates the phone's screen, touch and `meta viewport` instead.
pub(crate) async fn emulate_phone(browser: &Browser) {
    browser
        .post(
            "/goog/cdp/execute",
            json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": PHONE.0, "height": PHONE.1, "deviceScaleFactor": 1, "mobile": true,
            }}),
        )
        .await;
}

/// What the current page does wrong on a phone: anything wider than the viewport (the page
/// scrolling sideways or a box sticking out), text smaller than 14 px, and Hangul drawn as missing
/// glyphs (two different syllables drawn alike in the page's font). Empty when all is well.
pub(crate) async fn phone_layout_problems(browser: &Browser) -> Vec<String> {
    let problems = browser
        .execute(
            r#"
const problems = [];
const width = window.innerWidth;
if (document.documentElement.scrollWidth > width) {
  problems.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' > ' + width);
}
for (const el of document.body.querySelectorAll('*')) {
  const rect = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  if (rect.width === 0 || rect.height === 0 || style.visibility === 'hidden' || style.opacity === '0') continue;
  if (rect.left < -0.5 || rect.right > width + 0.5) {
    problems.push(el.tagName + '#' + el.id + '.' + el.className + ' sticks out: ' + rect.left + '..' + rect.right);
  }
  const ownText = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
  if (ownText && parseFloat(style.fontSize) < 14) {
    problems.push(el.tagName + '.' + el.className + ' text at ' + style.fontSize + ': ' + el.textContent.trim().slice(0, 30));
  }
}
const canvas = document.createElement('canvas');
canvas.width = 40; canvas.height = 40;
const ctx = canvas.getContext('2d');
function draw(ch) {
  ctx.clearRect(0, 0, 40, 40);
  ctx.font = '32px ' + getComputedStyle(document.body).fontFamily;
  ctx.fillText(ch, 2, 34);
  return Array.from(ctx.getImageData(0, 0, 40, 40).data).join(',');
}
const a = draw('신'), b = draw('한');
if (a === b || !/[1-9]/.test(a)) problems.push('Hangul is not drawn with a Korean font');
return problems;
"#,
            json!([]),
        )
        .await;
    serde_json::from_value(problems).expect("a list of problems")
}

/// A KST deadline as the account page writes it, computed here independently.
fn korean_deadline(rfc3339: &str) -> String {
    let at = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .to_offset(time::macros::offset!(+9));
    let weekday =
        ["월", "화", "수", "목", "금", "토", "일"][at.weekday().number_days_from_monday() as usize];
    format!(
        "{}년 {}월 {}일 ({weekday}) {:02}:{:02}까지",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

#[tokio::test]
async fn journey_a_virtual_account_on_a_phone_copied_then_paid_by_deposit() {
    let Some(browser) = Browser::start_sized(PHONE).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = crate::checkout::demo_key(&app);
    let mut body = crate::checkout::order(20000);
    body["payMethod"] = json!("VBANK");
    body["cashReceipt"] = json!({"purpose": "income_deduction", "identifier": "01012345678"});
    body["successUrl"] = json!("https://shop.example.com/orders/done");
    let checkout = crate::checkout::new_checkout(&app, &key, &body).await;
    let id = checkout["id"].as_str().unwrap();
    let return_url = crate::approval::authorize(
        &app.client,
        &app.url("/sandbox"),
        &checkout,
        &[("bankCode", "088")],
    )
    .await;
    app.client.get(&return_url).send().await.unwrap();
    let issued = crate::approval::payment(&app, &key, id).await;
    assert_eq!(issued["status"], "awaiting_deposit", "{issued}");
    let account = &issued["virtualAccount"];
    let number = account["accountNumber"].as_str().unwrap().to_string();
    assert!(number.chars().all(|c| c.is_ascii_digit()), "{number}");
    let due = korean_deadline(account["dueAt"].as_str().unwrap());

    let result_url = app.url(&format!("/checkout/{id}/result"));
    emulate_phone(&browser).await;
    browser.goto(&result_url).await;
    assert_eq!(
        browser
            .execute("return window.innerWidth;", json!([]))
            .await,
        json!(PHONE.0),
        "the viewport is a phone's"
    );
    assert_eq!(browser.text("#bank-name").await, "신한은행");
    // Shown in groups of four, but without characters between them: what is read is the digits.
    assert_eq!(browser.text("#account-number").await, number);
    let amount = paydesk::pages::format_won(20000);
    assert_eq!(browser.text("#deposit-amount").await, amount);
    assert_eq!(browser.text("#deposit-due").await, due);
    let text = browser.text("main").await;
    for expected in [
        "가상계좌가 발급되었습니다",
        "입금자명",
        "금액이 다르거나",
        "현금영수증(소득공제)",
        "쇼핑몰로 돌아가기",
    ] {
        assert!(text.contains(expected), "{expected} missing in {text}");
    }
    // Everything but the order number (the shop's own identifier) is Korean; "ATM" is how Korean
    // banking writes it (the help articles say it).
    let order_id = issued["orderId"].as_str().unwrap();
    let korean = text.replace(order_id, "").replace("ATM", "");
    assert!(
        !korean.chars().any(|c| c.is_ascii_alphabetic()),
        "no English or developer text on the shopper's page: {korean}"
    );
    assert!(
        !text.contains("ISP") && !text.contains("안심클릭"),
        "no card help: {text}"
    );
    let number_size = browser
        .execute(
            "return parseFloat(getComputedStyle(document.getElementById('account-number')).fontSize);",
            json!([]),
        )
        .await;
    assert!(
        number_size.as_f64().unwrap() >= 24.0,
        "account number at {number_size}px"
    );
    let problems = phone_layout_problems(&browser).await;
    assert!(problems.is_empty(), "{problems:#?}");

    // Clipboard proof, the strongest that works here: Chromium is granted clipboard access through
    // WebDriver's Set Permission, the clipboard is loaded with a decoy, the copy button is clicked
    // as a shopper would, and the clipboard read back with `navigator.clipboard.readText()`; then
    // Ctrl+V into a text box must paste the same digits. A button that does nothing leaves the decoy.
    for name in ["clipboard-read", "clipboard-write"] {
        browser
            .post(
                "/permissions",
                json!({"descriptor": {"name": name}, "state": "granted"}),
            )
            .await;
    }
    let decoy = browser
        .execute(
            "return navigator.clipboard.writeText('decoy').then(() => navigator.clipboard.readText());",
            json!([]),
        )
        .await;
    assert_eq!(decoy, "decoy", "the clipboard is readable");
    browser.click("#copy-account").await;
    let status = browser.text("#copy-status").await;
    assert!(status.contains("계좌번호를 복사했습니다"), "{status}");
    assert_eq!(browser.text("#copy-account").await, "복사됨");
    let copied = browser
        .execute("return navigator.clipboard.readText();", json!([]))
        .await;
    assert_eq!(
        copied,
        json!(number),
        "the clipboard holds the exact digits"
    );
    browser.screenshot("vbank-account-phone").await;
    browser
        .execute(
            "document.querySelector('.va-notes').scrollIntoView(); return 1;",
            json!([]),
        )
        .await;
    browser.screenshot("vbank-account-phone-notes").await;
    browser
        .execute(
            "const area = document.createElement('textarea'); area.id = 'paste-here'; document.body.appendChild(area); return 1;",
            json!([]),
        )
        .await;
    browser.click("#paste-here").await;
    browser
        .post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": "\u{E009}"}, {"type": "keyDown", "value": "v"},
                {"type": "keyUp", "value": "v"}, {"type": "keyUp", "value": "\u{E009}"},
            ]}]}),
        )
        .await;
    let pasted = browser
        .execute(
            "return document.getElementById('paste-here').value;",
            json!([]),
        )
        .await;
    assert_eq!(pasted, json!(number), "Ctrl+V pastes the account number");

    // The bank's deposit: the sandbox tells paydesk with a Noti, and the payment becomes paid.
    let deposit = app
        .client
        .post(app.url("/sandbox/_control/deposits"))
        .json(&json!({"tid": issued["tid"], "depositorName": "김입금"}))
        .send()
        .await
        .unwrap();
    assert_eq!(deposit.status(), 200, "{}", deposit.text().await.unwrap());
    let started = Instant::now();
    let paid = loop {
        let p = crate::approval::payment(&app, &key, id).await;
        if p["status"] == "paid" {
            break p;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "not paid: {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    browser.goto(&result_url).await;
    let receipt = browser.text("main").await;
    browser.screenshot("vbank-paid-receipt-phone").await;
    assert!(
        receipt.contains("입금이 확인되어 결제가 완료되었습니다"),
        "{receipt}"
    );
    for expected in [
        "신한은행",
        number.as_str(),
        "김입금",
        "현금영수증",
        "소득공제",
        amount.as_str(),
    ] {
        assert!(
            receipt.contains(expected),
            "{expected} missing in {receipt}"
        );
    }
    let deposited_at = korean_deadline(paid["virtualAccount"]["depositedAt"].as_str().unwrap());
    let deposited_at = deposited_at.trim_end_matches("까지");
    assert!(
        receipt.contains(&format!("입금일시\n{deposited_at}")),
        "deposit time {deposited_at} missing in {receipt}"
    );
    assert!(receipt.contains(&format!("입금액\n{amount}")), "{receipt}");
    let problems = phone_layout_problems(&browser).await;
    assert!(problems.is_empty(), "{problems:#?}");
}

/// What sticks out sideways on the current page: the page itself scrolling, or a visible element
/// past the viewport's edges that no scrolling box of its own contains (a wide table that scrolls
/// inside its box is fine on a phone; a page that scrolls sideways is not).
async fn horizontal_overflow(browser: &Browser) -> Vec<String> {
    let found = browser
        .execute(
            r#"
const width = window.innerWidth;
const problems = [];
if (document.documentElement.scrollWidth > width) {
  problems.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' > ' + width);
}
function scrollsItself(el) {
  for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
    const o = getComputedStyle(p).overflowX;
    if (o === 'auto' || o === 'scroll' || o === 'hidden') return true;
  }
  return false;
}
for (const el of document.body.querySelectorAll('*')) {
  const rect = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  if (rect.width === 0 || rect.height === 0 || style.visibility === 'hidden') continue;
  if ((rect.left < -0.5 || rect.right > width + 0.5) && !scrollsItself(el)) {
    problems.push(el.tagName + '.' + el.className + ' sticks out: ' + rect.left + '..' + rect.right);
  }
}
return problems;
"#,
            json!([]),
        )
        .await;
    serde_json::from_value(found).expect("a list of problems")
}

/// The API reference on a phone: laid out at the phone's width (not 980 px), titled, Swagger UI
/// actually running under the CSP (the operations appear), an operation opened still fits, and a
/// visible link leads to the rendered quickstart.
#[tokio::test]
async fn the_api_reference_fits_a_phone_and_leads_to_the_quickstart() {
    let Some(browser) = Browser::start_sized(PHONE).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    emulate_phone(&browser).await;
    browser.goto(&app.url("/docs")).await;
    assert_eq!(browser.title().await, "paydesk API");
    assert_eq!(
        browser
            .execute("return window.innerWidth;", json!([]))
            .await,
        json!(PHONE.0),
        "the page is laid out at the phone's width"
    );
    let title = browser.text(".swagger-ui .info .title").await;
    assert!(title.contains("paydesk"), "{title}");
    browser
        .wait("the operations", || async {
            let count = browser
                .execute(
                    "return document.querySelectorAll('.opblock').length;",
                    json!([]),
                )
                .await;
            (count.as_u64() > Some(10)).then_some(())
        })
        .await;
    let problems = horizontal_overflow(&browser).await;
    assert!(problems.is_empty(), "{problems:#?}");

    // An opened operation (parameters, example bodies, responses) must still fit.
    browser
        .click("#operations-checkout-createCheckout .opblock-summary, .opblock .opblock-summary")
        .await;
    browser
        .wait("an opened operation", || async {
            let open = browser
                .execute(
                    "return document.querySelectorAll('.opblock.is-open .opblock-body').length;",
                    json!([]),
                )
                .await;
            (open.as_u64() > Some(0)).then_some(())
        })
        .await;
    let problems = horizontal_overflow(&browser).await;
    browser.screenshot("docs-phone").await;
    assert!(problems.is_empty(), "{problems:#?}");

    // The quickstart link is on screen at the top, not hidden in the reference.
    browser.execute("window.scrollTo(0, 0);", json!([])).await;
    let link = browser
        .execute(
            "const a = document.getElementById('quickstart-link'); const r = a.getBoundingClientRect(); \
             return {href: a.getAttribute('href'), text: a.textContent, top: r.top, right: r.right};",
            json!([]),
        )
        .await;
    assert_eq!(link["href"], "/docs/quickstart", "{link}");
    assert!(
        link["text"].as_str().unwrap().contains("Quickstart"),
        "{link}"
    );
    assert!(
        link["top"].as_f64().unwrap() < 200.0 && link["right"].as_f64().unwrap() <= 390.0,
        "{link}"
    );
    browser.click("#quickstart-link").await;
    browser.wait_for_url(&app.url("/docs/quickstart")).await;
    browser
        .wait("the quickstart page", || async {
            (browser.title().await == "paydesk quickstart").then_some(())
        })
        .await;
    let text = browser.text("body").await;
    assert!(text.contains("bash docs/quickstart.sh"), "{text:.300}");
    assert!(
        text.contains("PAYDESK_DEMO_API_KEY=sk_test_quickstart"),
        "{text:.300}"
    );
    let problems = horizontal_overflow(&browser).await;
    assert!(problems.is_empty(), "{problems:#?}");
}
