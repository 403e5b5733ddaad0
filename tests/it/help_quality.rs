//! Content and search quality. Every topic of the Innopay guide has an article carrying the guide's
//! facts (numbers, phone numbers, program names, steps), checked verbatim below. Search quality is
//! measured over the labelled queries in `tests/data/help_queries.tsv` (as shoppers type them:
//! spacing variants, particles, abbreviations, typos, English mixed in, pasted error messages), against
//! a baseline of plain whitespace BM25 (tantivy's default tokenizer, the same fields and boosts, no
//! synonyms, no typo tolerance) computed here on the same articles. Run with `--nocapture` to see the
//! numbers and the misses.

use paydesk::help::{Article, Audience, HelpCenter, HelpSource, SuggestRequest};
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{FAST, Schema, TEXT};
use tantivy::{Index, IndexWriter, TantivyDocument};

/// Measured on 2026-12-03 over 309 queries in classes (docs/PERFORMANCE.md has each class, before
/// and after round 2): every class but `typo-chat` hit@1 0.965, hit@3 0.993; `typo-chat` 0.962 /
/// 1.000 (before round 2, same queries: 0.929 / 0.989 and 0.923 / 1.000). Asserted a little below
/// the measurement, so a real regression fails and noise does not. The issue's hit@3 = 1.00 on
/// plain queries is not met: two error-code queries asked as an agent miss the top three.
const MIN_PLAIN_HIT_AT_1: f64 = 0.96;
const MIN_PLAIN_HIT_AT_3: f64 = 0.99;
const MIN_HARD_HIT_AT_1: f64 = 0.96;
const MIN_HARD_HIT_AT_3: f64 = 0.99;

struct Labelled {
    query: String,
    acceptable: Vec<String>,
    /// What kind of query it is (`plain`, `card-company`, `typo-chat`, ...), for per-class figures.
    class: String,
}

fn labelled() -> Vec<Labelled> {
    let text = include_str!("../data/help_queries.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut columns = line.split('\t');
            let (Some(query), Some(slugs), Some(class)) =
                (columns.next(), columns.next(), columns.next())
            else {
                panic!("query<TAB>slugs<TAB>class: {line:?}");
            };
            Labelled {
                query: query.to_string(),
                acceptable: slugs.split(',').map(|s| s.trim().to_string()).collect(),
                class: class.trim().to_string(),
            }
        })
        .collect()
}

struct Quality {
    hit_at_1: f64,
    hit_at_3: f64,
    misses: Vec<String>,
}

/// hit@k: the share of queries with an acceptable article among the first k articles.
fn evaluate<'a>(
    queries: impl IntoIterator<Item = &'a Labelled>,
    search: impl Fn(&Labelled) -> Vec<String>,
) -> Quality {
    let (mut at1, mut at3, mut n) = (0, 0, 0);
    let mut misses = Vec::new();
    for q in queries {
        n += 1;
        let ranked = search(q);
        let rank = ranked.iter().position(|slug| q.acceptable.contains(slug));
        if rank == Some(0) {
            at1 += 1;
        }
        if rank.is_some_and(|r| r < 3) {
            at3 += 1;
        }
        if rank != Some(0) {
            misses.push(format!(
                "{:?}: want {:?}, got {:?}",
                q.query,
                q.acceptable,
                &ranked[..ranked.len().min(3)]
            ));
        }
    }
    let n = n.max(1) as f64;
    Quality {
        hit_at_1: at1 as f64 / n,
        hit_at_3: at3 as f64 / n,
        misses,
    }
}

/// Plain BM25: the same documents (one per section, with the article's title and tags), tantivy's
/// default tokenizer, the same field boosts, an OR of the query's words.
fn whitespace_bm25(articles: &[Article]) -> impl Fn(&Labelled) -> Vec<String> {
    let mut builder = Schema::builder();
    let title = builder.add_text_field("title", TEXT);
    let tags = builder.add_text_field("tags", TEXT);
    let heading = builder.add_text_field("heading", TEXT);
    let body = builder.add_text_field("body", TEXT);
    let article_no = builder.add_u64_field("article", FAST);
    let index = Index::create_in_ram(builder.build());
    let mut writer: IndexWriter = index.writer_with_num_threads(1, 50_000_000).unwrap();
    for (a, article) in articles.iter().enumerate() {
        for section in &article.sections {
            let mut doc = TantivyDocument::new();
            doc.add_text(title, &article.title);
            for tag in &article.tags {
                doc.add_text(tags, tag);
            }
            for pattern in &article.error_patterns {
                if let paydesk::help::ErrorPattern::Contains(text) = pattern {
                    doc.add_text(tags, text);
                }
            }
            if let Some(h) = &section.heading {
                doc.add_text(heading, h);
            }
            if section.anchor.is_none() {
                doc.add_text(body, &article.summary);
            }
            doc.add_text(body, &section.text);
            doc.add_u64(article_no, a as u64);
            writer.add_document(doc).unwrap();
        }
    }
    writer.commit().unwrap();
    let searcher = index.reader().unwrap().searcher();
    let mut parser = QueryParser::for_index(&index, vec![title, tags, heading, body]);
    for (field, boost) in [(title, 3.0), (tags, 2.0), (heading, 1.5), (body, 1.0)] {
        parser.set_field_boost(field, boost);
    }
    let slugs: Vec<String> = articles.iter().map(|a| a.slug.clone()).collect();
    move |labelled: &Labelled| {
        let (query, _) = parser.parse_query_lenient(&labelled.query);
        let top = searcher
            .search(&query, &TopDocs::with_limit(50).order_by_score())
            .unwrap();
        let mut ranked: Vec<String> = Vec::new();
        for (_, address) in top {
            let column = searcher
                .segment_reader(address.segment_ord)
                .fast_fields()
                .u64("article")
                .unwrap();
            let slug = &slugs[column.first(address.doc_id).unwrap() as usize];
            if !ranked.contains(slug) {
                ranked.push(slug.clone());
            }
        }
        ranked
    }
}

/// Who asks a labelled query: developer-worded queries are asked where every article is shown (the
/// support console, `audience=agent`); every other class is asked as a shopper.
fn reader(class: &str) -> Audience {
    if class == DEVELOPER_CLASS {
        Audience::Agent
    } else {
        Audience::Shopper
    }
}

const DEVELOPER_CLASS: &str = "developer";
/// Misspellings, chat spellings and missing spaces: the issue's "long, slangy, typo'd" group.
const HARD_CLASS: &str = "typo-chat";

fn ours(help: &HelpCenter) -> impl Fn(&Labelled) -> Vec<String> + '_ {
    |labelled: &Labelled| {
        let results = help.search(&labelled.query, reader(&labelled.class), 10);
        if results.fallback {
            Vec::new()
        } else {
            results.hits.into_iter().map(|h| h.slug).collect()
        }
    }
}

#[test]
fn korean_search_beats_whitespace_bm25_on_the_labelled_queries() {
    let help = HelpCenter::load(&HelpSource::BuiltIn).unwrap();
    let queries = labelled();
    assert!(queries.len() >= 80, "{} labelled queries", queries.len());
    let ours_all = evaluate(&queries, ours(&help));
    let baseline = evaluate(&queries, whitespace_bm25(help.articles()));
    println!(
        "help search over {} labelled queries: hit@1 {:.3}, hit@3 {:.3}; whitespace BM25 baseline: \
         hit@1 {:.3}, hit@3 {:.3}",
        queries.len(),
        ours_all.hit_at_1,
        ours_all.hit_at_3,
        baseline.hit_at_1,
        baseline.hit_at_3
    );
    let mut classes: Vec<&str> = queries.iter().map(|q| q.class.as_str()).collect();
    classes.sort_unstable();
    classes.dedup();
    for class in classes {
        let of_class = || queries.iter().filter(move |q| q.class == class);
        let quality = evaluate(of_class(), ours(&help));
        println!(
            "  class {class:<14} {:>3} queries: hit@1 {:.3}, hit@3 {:.3}",
            of_class().count(),
            quality.hit_at_1,
            quality.hit_at_3
        );
    }
    for miss in &ours_all.misses {
        println!("  not first: {miss}");
    }
    let plain = evaluate(
        queries.iter().filter(|q| q.class != HARD_CLASS),
        ours(&help),
    );
    let hard = evaluate(
        queries.iter().filter(|q| q.class == HARD_CLASS),
        ours(&help),
    );
    println!(
        "  plain (all but {HARD_CLASS}): hit@1 {:.3}, hit@3 {:.3}; {HARD_CLASS}: hit@1 {:.3}, hit@3 {:.3}",
        plain.hit_at_1, plain.hit_at_3, hard.hit_at_1, hard.hit_at_3
    );
    assert!(
        plain.hit_at_1 >= MIN_PLAIN_HIT_AT_1,
        "plain hit@1 {:.3}",
        plain.hit_at_1
    );
    assert!(
        plain.hit_at_3 >= MIN_PLAIN_HIT_AT_3,
        "plain hit@3 {:.3}",
        plain.hit_at_3
    );
    assert!(
        hard.hit_at_1 >= MIN_HARD_HIT_AT_1,
        "{HARD_CLASS} hit@1 {:.3}",
        hard.hit_at_1
    );
    assert!(
        hard.hit_at_3 >= MIN_HARD_HIT_AT_3,
        "{HARD_CLASS} hit@3 {:.3}",
        hard.hit_at_3
    );
    assert!(ours_all.hit_at_1 > baseline.hit_at_1 && ours_all.hit_at_3 > baseline.hit_at_3);
}

#[test]
fn shopper_phrasings_put_the_right_article_first() {
    let help = HelpCenter::load(&HelpSource::BuiltIn).unwrap();
    for (query, expected) in [
        ("팝업차단", "popup-blocked"),
        ("팝업 차단", "popup-blocked"),
        ("isp 비번", "isp-password"),
        ("공동인증서", "over-300000-won-certificate"),
        ("결제창이안떠요", "popup-blocked"),
    ] {
        let results = help.search(query, Audience::Shopper, 5);
        assert!(!results.fallback, "{query}");
        assert_eq!(
            results.hits[0].slug, expected,
            "{query}: {:?}",
            results.hits
        );
    }
}

#[test]
fn latin_typos_and_phrase_synonyms_find_the_intended_article() {
    let help = HelpCenter::load(&HelpSource::BuiltIn).unwrap();
    for (query, expected) in [
        ("ips 모듈 설치가 안돼요", "isp-errors"),
        ("otpp 일련번호", "security-card-otp-serial"),
        ("nprotec 삭제", "reinstall-keyboard-security"),
        // "일반결제" alone is 안심클릭; "일반결제 ISP" is the ISP family (a phrase, not two words).
        ("일반결제 비밀번호 분실", "ansimclick-password"),
        ("일반결제 ISP 비밀번호 분실", "isp-password"),
    ] {
        let results = help.search(query, Audience::Shopper, 5);
        assert_eq!(
            results.hits[0].slug, expected,
            "{query}: {:?}",
            results.hits
        );
    }
}

#[test]
fn a_3factor_error_suggests_the_paybook_article_first() {
    let help = HelpCenter::load(&HelpSource::BuiltIn).unwrap();
    let hits = help.suggest(&SuggestRequest {
        message: Some("3Factor 인증 필요 ISP 공인인증 오류".into()),
        limit: 3,
        ..SuggestRequest::default()
    });
    assert_eq!(hits[0].slug, "paybook-3factor-error", "{hits:?}");
    assert!(
        hits[0].url.starts_with("/help/paybook-3factor-error"),
        "{hits:?}"
    );
}

/// The guide's facts, as each topic's article must state them (text of the title, summary and body).
const GUIDE_FACTS: &[(&str, &[&str])] = &[
    (
        "popup-blocked",
        &[
            "팝업",
            "팝업 차단",
            "구매하기",
            "결제하기",
            "항상 허용",
            "Safari",
            "'팝업 차단'을 끄세요",
            "팝업 및 리디렉션",
        ],
    ),
    (
        "clear-cache-cookies",
        &[
            "이전 버전의 쿠키",
            "임시파일",
            "열어본 페이지 목록",
            "캐시",
            "쿠키",
        ],
    ),
    (
        "mobile-checklist",
        &[
            "캐시 및 쿠키를 삭제",
            "앱을 삭제",
            "LTE",
            "네이버나 다음 앱",
            "크롬 브라우저",
        ],
    ),
    (
        "pc-checklist",
        &["쿠키 및 캐시", "알약, V3, 툴바", "호환성 보기 설정", "30분"],
    ),
    (
        "security-card-otp-serial",
        &[
            "'NO'",
            "끝 4자리",
            "S/N",
            "케이스",
            "숫자 6자리",
            "은행에 문의",
        ],
    ),
    (
        "paybook-3factor-error",
        &[
            "3Factor 인증 필요 ISP 공인인증 오류",
            "일반결제(ISP)",
            "ISP인증서",
            "SMS 휴대폰 인증",
        ],
    ),
    (
        "isp-errors",
        &[
            "www.vp.co.kr",
            "수동설치",
            "TouchEn Key with E2E for 32bit",
            "SoftCamp Secure KeyStroke 4.0",
            "https://pg.innopay.co.kr",
            "1577-3033",
        ],
    ),
    (
        "blank-payment-page",
        &[
            "웹페이지 표기불가",
            "호환성 보기 설정",
            "https://pg.innopay.co.kr",
        ],
    ),
    (
        "ansimclick-errors",
        &[
            "삼성, 롯데, 현대, 신한",
            "카드번호",
            "인증서",
            "보안프로그램",
            "카드사 고객센터",
        ],
    ),
    (
        "isp-signup",
        &[
            "브이피(주)",
            "1단계: 카드사 선택",
            "2단계: 일반결제(ISP) 선택",
            "3단계: 등록 선택",
            "4단계: 카드정보 입력",
            "5단계: 약관동의",
            "6단계: 본인인증",
            "7단계: 결제비밀번호 설정",
            "8단계: 완료",
            "공인인증서(현재 명칭: 공동인증서) 또는 휴대폰",
        ],
    ),
    (
        "isp-how-to-pay",
        &[
            "1단계: 할부기간 선택",
            "2단계: 이용매체 선택",
            "3단계: 결제할 카드 선택",
            "4단계: 일반결제 ISP 비밀번호 입력",
            "5단계: 결제요청 완료",
        ],
    ),
    (
        "isp-password",
        &[
            "신용카드인증서 비밀번호",
            "비씨카드",
            "KB국민카드",
            "우리카드",
            "저축은행카드",
            "산업은행카드",
            "신협카드",
            "우체국카드",
            "새마을금고카드",
            "수협카드",
            "전북카드",
            "광주카드",
            "제주카드",
            "본인 외에는 아무도",
            "카드 삭제 선택",
            "카드 삭제 확인",
            "카드 등록",
        ],
    ),
    (
        "isp-password-not-accepted",
        &[
            "대문자와 소문자",
            "키보드보안 프로그램",
            "http://www.softcamp.co.kr/scsk",
            "제품 설치/삭제",
            "9. 수동설치",
        ],
    ),
    ("isp-customer-center", &["브이피(주) 1577-3033"]),
    (
        "over-300000-won-certificate",
        &[
            "30만원 미만",
            "반드시 카드소지자 본인의 공인인증서",
            "ARS 인증",
            "카드사별로 기준이 다를 수 있습니다",
            "은행을 방문",
        ],
    ),
    (
        "mobile-isp",
        &[
            "VM, App",
            "카드번호와 이메일",
            "\"휴대폰\"",
            "SMS",
            "신청을 마치는 즉시",
        ],
    ),
    (
        "app-card-easy-pay",
        &[
            "앱카드[간편결제]",
            "QR코드",
            "주민등록번호 뒷자리",
            "일반결제(안심클릭)",
        ],
    ),
    (
        "what-is-ansimclick",
        &[
            "CVC/4DBC",
            "Active-X 해결 방안(2014.09.23)",
            "2014년 10월 15일",
            "일반결제",
        ],
    ),
    (
        "ansimclick-password",
        &[
            "숫자 4자리가 아닙니다",
            "카드사 홈페이지 또는 카드사 고객센터",
            "재등록",
        ],
    ),
    (
        "card-owner-confirmation-message",
        &["카드소유주가 확인하는 메시지"],
    ),
    ("bc-mark-card", &["비씨 마크", "비씨카드(ISP)를 선택"]),
    (
        "reinstall-keyboard-security",
        &[
            "인터넷 익스플로러를 모두 종료",
            "TouchEn key with E2E",
            "XecureWeb",
            "nProtect KeyCrypt",
            "nProtect Netizen Ver.3 (remove only)",
            "nProtect Netizen (remove only)",
            "카드사 사이트",
        ],
    ),
    (
        "payment-window-steps",
        &["약관에 동의", "카드사를 선택", "'다음' 버튼"],
    ),
    (
        "card-type-isp-or-ansimclick",
        &["국민·비씨", "삼성·롯데·현대·신한", "1577-3033"],
    ),
    (
        "developer-open-payment-window",
        &[
            "https://pg.innopay.co.kr/tpay/js/innopay.js",
            "innopay.goPay",
            "payMethod",
            "testpay01m",
            "returnUrl",
        ],
    ),
    (
        "developer-approve-payment",
        &[
            "https://api.innopay.co.kr/v1/transactions/pay",
            "Payment-Token",
            "Merchant-Key",
            "{tid, mid, moid, amt, taxFreeAmt}",
            "testpay01m01082502061700416194",
        ],
    ),
    // Virtual accounts: Innopay's notes (`/work/shared/innopay-facts.md`) and plain banking practice.
    (
        "vbank-how-to-pay",
        &[
            "이 주문 하나만을 위해 발급",
            "정확히 같게",
            "입금 기한",
            "계좌가 닫히고",
            "입금자명",
            "이체 한도",
            "현금영수증",
            "입금이 확인된 뒤에 발급",
        ],
    ),
    (
        "vbank-deposit-not-confirmed",
        &[
            "은행이 입금을 확인",
            "이노페이가 쇼핑몰에 입금 사실을 알립니다",
            "이체(거래) 내역",
            "입금한 날짜와 시각:",
            "입금한 금액:",
            "입금한 은행(보낸 은행):",
        ],
    ),
    (
        "vbank-wrong-amount",
        &[
            "정확히 같은 금액",
            "아예 받지 않습니다",
            "돌려받아야 합니다",
            "한 번 더 보내지 마세요",
            "쇼핑몰이 이노페이와 함께",
        ],
    ),
    (
        "vbank-refund",
        &[
            "그 카드의 결제가 취소",
            "환불계좌",
            "은행",
            "계좌번호",
            "예금주명",
            "실제 계좌의 예금주와 같아야",
            "부분 환불",
            "결제한 금액을 넘을 수 없습니다",
            "쇼핑몰의 처리와 은행에 따라 다릅니다",
        ],
    ),
    (
        "vbank-deadline-passed",
        &[
            "더 이상 결제되지 않습니다",
            "새로 주문",
            "은행이 받지 않거나 돌려줍니다",
        ],
    ),
    // After a failed payment: plain banking and browser sense, and the flow of the guide (the window
    // only authenticates; nothing is charged before the shop's approval). No phone number but VP's.
    (
        "card-declined",
        &[
            "'잔액이 부족합니다'",
            "연결된 은행 계좌",
            "이용한도",
            "분실 신고 해제",
            "유효기간(월/년",
            "'일시불'",
            "비밀번호 오류 해제",
            "카드사에 문의",
            "두 번 결제되지 않습니다",
        ],
    ),
    (
        "payment-cancelled-by-mistake",
        &["결제는 되지 않았고 돈도 나가지 않습니다", "다시 누르세요"],
    ),
    (
        "payment-expired",
        &[
            "결제 가능 시간이 지났습니다",
            "다시 주문",
            "돈은 나가지 않았습니다",
        ],
    ),
    (
        "cancel-or-refund-paid-order",
        &[
            "쇼핑몰이 처리합니다",
            "부분 취소",
            "결제한 금액을 넘을 수 없습니다",
            "카드사에 따라 다릅니다",
        ],
    ),
    ("payment-receipt", &["매출전표", "주문 내역", "현금영수증"]),
    (
        "in-app-browser-payment",
        &[
            "카카오톡",
            "네이버 앱",
            "인스타그램",
            "다른 브라우저로 열기",
            "주소창에 결제 사이트 주소를 직접 입력",
        ],
    ),
    (
        "shop-request-error",
        &["돈은 나가지 않았습니다", "쇼핑몰 고객센터에 오류 코드"],
    ),
    (
        "payment-connection-error",
        &["잠시 후 다시 결제", "30분 후", "돈을 보내지 마세요"],
    ),
    (
        "developer-result-codes",
        &[
            "W003",
            "A001",
            "2011",
            "R003",
            "V004",
            "C002",
            "USER_CANCEL",
            "innopay_unreachable",
        ],
    ),
    (
        "agent-failure-code-guide",
        &[
            "상담원 전용",
            "/help/card-declined#balance",
            "브이피(주) 1577-3033",
        ],
    ),
    // The other methods' articles (issue 13) come from plain banking and card sense, not the guide:
    // what they must say is that times and limits differ by bank and card company, and who to ask.
    (
        "bank-maintenance-hours",
        &[
            "은행마다 다르며",
            "자정 전후",
            "다른 은행 계좌",
            "다른 결제수단",
            "은행에 문의",
            "돈이 나가지 않습니다",
        ],
    ),
    (
        "bank-transfer-failed",
        &[
            "출금 가능 금액",
            "계좌(통장)의 비밀번호",
            "이체 한도",
            "등록해 둔 계좌",
            "은행에 문의",
            "돈이 나가지 않습니다",
        ],
    ),
    (
        "easy-pay-app-not-opening",
        &[
            "카카오페이",
            "네이버페이",
            "페이코",
            "최신 버전으로 업데이트",
            "기본 브라우저",
            "결제는 되지 않았습니다",
            "쇼핑몰마다 다릅니다",
        ],
    ),
    (
        "app-switch-payment-return",
        &[
            "최근 앱 목록",
            "주문 내역",
            "두 번 결제",
            "다시 결제하지 말고",
        ],
    ),
    (
        "overseas-card-declined",
        &[
            "해외 결제",
            "3D 시큐어",
            "카드 뒷면",
            "카드사에 문의",
            "두 번 결제되지 않습니다",
        ],
    ),
];

#[test]
fn every_topic_of_the_guide_has_an_article_stating_its_facts() {
    let help = HelpCenter::load(&HelpSource::BuiltIn).unwrap();
    for (slug, facts) in GUIDE_FACTS {
        let article = help
            .article(slug)
            .unwrap_or_else(|| panic!("no article {slug}"));
        let text: String = [article.title.as_str(), article.summary.as_str()]
            .into_iter()
            .chain(article.sections.iter().map(|s| s.text.as_str()))
            .collect::<Vec<_>>()
            .join("\n");
        for fact in *facts {
            assert!(text.contains(fact), "{slug} does not state {fact:?}");
        }
    }
    assert_eq!(
        GUIDE_FACTS.len(),
        help.articles().len(),
        "every article is covered here"
    );
}

/// Every failure code paydesk or its sandbox produces, with the message that comes with it, and the
/// article (and section) a shopper must be shown first. Merchant-side codes (cancel, refund,
/// virtual-account closing, inquiry) are read by the shop's developer: `DEVELOPER_CODES`.
const SHOPPER_CODES: &[(&str, &str, &str)] = &[
    (
        "C001",
        "3Factor 인증 필요 ISP 공인인증 오류",
        "paybook-3factor-error",
    ),
    ("C002", "잔액이 부족합니다.", "card-declined#balance"),
    ("C003", "카드 한도가 초과되었습니다.", "card-declined#limit"),
    (
        "C004",
        "분실 또는 도난 신고된 카드입니다.",
        "card-declined#lost-or-suspended",
    ),
    (
        "C005",
        "카드 유효기간이 지났습니다.",
        "card-declined#expired-card",
    ),
    (
        "C006",
        "비밀번호 오류 횟수를 초과했습니다.",
        "card-declined#password-tries",
    ),
    (
        "C007",
        "할부가 불가능한 카드입니다.",
        "card-declined#installment",
    ),
    (
        "V101",
        "가상계좌 발급에 실패했습니다. 잠시 후 다시 시도해 주세요.",
        "payment-connection-error",
    ),
    (
        "USER_CANCEL",
        "고객이 결제를 취소했습니다.",
        "payment-cancelled-by-mistake",
    ),
    ("9998", "", "payment-cancelled-by-mistake"),
    (
        "expired",
        "결제 가능 시간이 지났습니다. 상점에서 다시 주문해 주세요.",
        "payment-expired",
    ),
    ("deposit_expired", "", "vbank-deadline-passed"),
    (
        "amount_mismatch",
        "결제 정보가 주문 내용과 일치하지 않아 결제를 진행하지 않았습니다.",
        "shop-request-error",
    ),
    ("order_mismatch", "", "shop-request-error"),
    (
        "innopay_unreachable",
        "결제 서버에 연결하지 못했습니다.",
        "payment-connection-error",
    ),
    ("awaiting_deposit", "", "vbank-how-to-pay"),
    ("deposit_amount_mismatch", "", "vbank-wrong-amount"),
    ("refund_account_required", "", "vbank-refund"),
    ("invalid_refund_account", "", "vbank-refund"),
    (
        "W001",
        "결제수단(payMethod)을 확인해 주세요.",
        "shop-request-error",
    ),
    (
        "W002",
        "가맹점 ID(mid)를 확인해 주세요.",
        "shop-request-error",
    ),
    (
        "W003",
        "등록되지 않은 가맹점(MID)입니다.",
        "shop-request-error",
    ),
    (
        "W023",
        "통화(currency)를 확인해 주세요. 달러(USD)는 해외카드(OPCARD)로만 결제할 수 있습니다.",
        "shop-request-error",
    ),
    (
        "O001",
        "해외카드 승인이 거절되었습니다. 카드를 발급한 해외 카드사에 문의해 주세요.",
        "overseas-card-declined",
    ),
    (
        "O002",
        "3D Secure 인증에 실패했습니다.",
        "overseas-card-declined",
    ),
    (
        "O003",
        "해외 결제 한도를 초과했습니다.",
        "overseas-card-declined",
    ),
    (
        "W005",
        "주문번호(moid)는 영문, 숫자, _, - 40자 이내여야 합니다.",
        "shop-request-error",
    ),
    (
        "W006",
        "상품명(goodsName)을 입력해 주세요.",
        "shop-request-error",
    ),
    (
        "W007",
        "결제금액(amt)을 확인해 주세요.",
        "shop-request-error",
    ),
    (
        "W008",
        "인증결과 전송 URL(returnUrl)을 확인해 주세요.",
        "shop-request-error",
    ),
    (
        "W009",
        "상품 수량(goodsCnt)을 확인해 주세요.",
        "shop-request-error",
    ),
    (
        "W010",
        "카드사 코드(cardCode) 또는 할부(cardQuota)를 확인해 주세요.",
        "shop-request-error",
    ),
    (
        "W011",
        "구매자명(buyerName)을 입력해 주세요.",
        "shop-request-error",
    ),
    (
        "W012",
        "구매자 연락처(buyerTel)는 숫자만 입력해 주세요.",
        "shop-request-error",
    ),
    ("W013", "", "shop-request-error"),
    (
        "W014",
        "면세금액(taxFreeAmt)을 확인해 주세요.",
        "shop-request-error",
    ),
    ("W015", "", "shop-request-error"),
    (
        "W016",
        "등록되지 않은 주소로는 돌려보내지 않습니다",
        "shop-request-error",
    ),
    (
        "W017",
        "입금기한(vBankExpDate)은 YYYYMMDD 형식의 날짜여야 합니다.",
        "shop-request-error",
    ),
    (
        "W018",
        "입금기한(vBankExpDate, vBankExpTime)이 이미 지났습니다.",
        "shop-request-error",
    ),
    (
        "W019",
        "현금영수증 용도(receiptType)는 1(소득공제) 또는 2(지출증빙)여야 합니다.",
        "shop-request-error",
    ),
    (
        "W020",
        "입금 은행(bankCode) 또는 입금자명(depositorName)을 확인해 주세요",
        "shop-request-error",
    ),
    ("W099", "", "shop-request-error"),
    (
        "A001",
        "Merchant-Key가 올바르지 않습니다.",
        "shop-request-error",
    ),
    (
        "A002",
        "Payment-Token이 없거나 올바르지 않습니다.",
        "shop-request-error",
    ),
    (
        "A003",
        "Payment-Token의 유효시간이 지났습니다.",
        "shop-request-error",
    ),
    (
        "A004",
        "이미 사용된 Payment-Token입니다.",
        "shop-request-error",
    ),
    (
        "A005",
        "Payment-Token이 이 거래(tid)의 것이 아닙니다.",
        "shop-request-error",
    ),
    (
        "A006",
        "amt 또는 taxFreeAmt가 인증된 금액과 다릅니다.",
        "shop-request-error",
    ),
    ("A007", "요청 본문이 JSON이 아닙니다.", "shop-request-error"),
    (
        "W021",
        "출금 은행(bankCode)을 목록에서 선택해 주세요.",
        "shop-request-error",
    ),
    (
        "W022",
        "앱 복귀 주소(appScheme)를 확인해 주세요.",
        "shop-request-error",
    ),
    (
        "B001",
        "출금 계좌의 잔액이 부족합니다.",
        "bank-transfer-failed#balance",
    ),
    (
        "B002",
        "은행 점검 시간입니다. 점검 시간(23:30~00:30)에는 계좌이체를 이용할 수 없으니 잠시 후 다시 시도해 주세요.",
        "bank-maintenance-hours#what-is-maintenance",
    ),
    (
        "B003",
        "계좌 비밀번호 오류 횟수를 초과했습니다.",
        "bank-transfer-failed#account-password",
    ),
    (
        "E001",
        "간편결제 잔액 또는 연결된 결제수단의 한도가 부족합니다.",
        "easy-pay-app-not-opening#balance-or-limit",
    ),
    (
        "E002",
        "간편결제 앱에서 고객이 결제를 취소했습니다.",
        "easy-pay-app-not-opening#cancelled-in-app",
    ),
    (
        "E003",
        "간편결제 앱을 열 수 없습니다. 앱 설치 여부를 확인해 주세요.",
        "easy-pay-app-not-opening#app-not-opening",
    ),
];

const DEVELOPER_CODES: &[(&str, &str)] = &[
    ("2011", "취소 비밀번호가 일치하지 않습니다."),
    ("2012", "이미 취소된 거래입니다."),
    ("2013", "취소금액이 취소 가능금액을 초과합니다."),
    ("2014", "취소할 거래가 없습니다."),
    ("2015", "취소금액(cancelAmt)을 확인해 주세요."),
    ("2016", "취소사유(cancelMsg)는 100자 이내여야 합니다."),
    ("2017", "간편결제는 부분취소를 할 수 없습니다."),
    ("R001", "가상계좌 입금 후 환불은 API로 할 수 없습니다."),
    ("R002", "입금 전인 가상계좌는 환불할 수 없습니다."),
    ("R003", ""),
    ("R004", "환불 은행코드 오류"),
    ("R005", "환불 계좌번호 오류: 숫자 10~16자리여야 합니다."),
    ("R006", "환불 예금주명은 30자 이내여야 합니다."),
    ("V001", "licenseKey(가맹점 키)가 올바르지 않습니다."),
    ("V002", "취소할 가상계좌 거래가 없습니다."),
    (
        "V003",
        "주문번호, 금액, 은행코드 또는 계좌번호가 발급된 가상계좌와 다릅니다.",
    ),
    (
        "V004",
        "이미 입금된 가상계좌입니다. 환불은 cancelApi로 해 주세요.",
    ),
    ("N001", "거래를 찾을 수 없습니다."),
];

/// Codes the sandbox's sources spell out (`"W003"`, `"C002"`, `"2011"`, ...), so a new one without
/// an entry above fails the walk. Success codes and test values are not failures.
fn sandbox_codes() -> Vec<String> {
    let sources = [
        include_str!("../../src/sandbox/window.rs"),
        include_str!("../../src/sandbox/params.rs"),
        include_str!("../../src/sandbox/state.rs"),
        include_str!("../../src/sandbox/api.rs"),
    ];
    let code = regex::Regex::new(r#""([A-Z][0-9]{3}|20[0-9]{2}|USER_CANCEL)""#).unwrap();
    let mut codes: Vec<String> = sources
        .iter()
        .flat_map(|s| code.captures_iter(s).map(|c| c[1].to_string()))
        .filter(|c| c != "2001")
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

#[test]
fn every_failure_code_suggests_a_fitting_article_first() {
    let help = HelpCenter::load(&HelpSource::BuiltIn).unwrap();
    let known: Vec<&str> = SHOPPER_CODES
        .iter()
        .map(|c| c.0)
        .chain(DEVELOPER_CODES.iter().map(|c| c.0))
        .collect();
    for code in sandbox_codes() {
        assert!(
            known.contains(&code.as_str()),
            "{code} has no expected article here"
        );
    }
    for (code, message, expected) in SHOPPER_CODES {
        let hits = help.suggest(&SuggestRequest {
            code: Some(code.to_string()),
            message: (!message.is_empty()).then(|| message.to_string()),
            ..SuggestRequest::default()
        });
        let (slug, anchor) = expected.split_once('#').unwrap_or((expected, ""));
        assert_eq!(hits[0].slug, slug, "{code} {message}: {hits:?}");
        if !anchor.is_empty() {
            assert_eq!(hits[0].anchor.as_deref(), Some(anchor), "{code}: {hits:?}");
        }
        for hit in &hits {
            let article = help.article(&hit.slug).unwrap();
            assert!(
                article.audience.contains(&Audience::Shopper),
                "{code}: {} is not for shoppers",
                hit.slug
            );
        }
    }
    for (code, message) in DEVELOPER_CODES {
        let hits = help.suggest(&SuggestRequest {
            code: Some(code.to_string()),
            message: (!message.is_empty()).then(|| message.to_string()),
            reader: Audience::Developer,
            ..SuggestRequest::default()
        });
        assert_eq!(hits[0].slug, "developer-result-codes", "{code}: {hits:?}");
    }
}

#[test]
fn a_card_company_and_amount_pick_the_family_and_the_certificate_rule() {
    let help = HelpCenter::load(&HelpSource::BuiltIn).unwrap();
    let slugs = |company: &str, amount: i64| -> Vec<String> {
        help.suggest(&SuggestRequest {
            message: Some("카드 인증 오류".into()),
            card_company: Some(company.into()),
            amount: Some(amount),
            ..SuggestRequest::default()
        })
        .into_iter()
        .map(|h| h.slug)
        .collect()
    };
    for company in ["국민", "01"] {
        let isp = slugs(company, 50_000);
        assert!(
            !isp.iter().any(|s| s.starts_with("ansimclick")),
            "{company}: {isp:?}"
        );
        assert!(
            !isp.contains(&"over-300000-won-certificate".to_string()),
            "{isp:?}"
        );
    }
    for company in ["신한", "현대", "롯데", "삼성"] {
        let ansimclick = slugs(company, 50_000);
        assert!(
            !ansimclick.iter().any(|s| s.starts_with("isp")),
            "{company}: {ansimclick:?}"
        );
    }
    let large = help.suggest(&SuggestRequest {
        message: Some("카드 인증 오류".into()),
        card_company: Some("비씨".into()),
        amount: Some(300_000),
        ..SuggestRequest::default()
    });
    let rule = large
        .iter()
        .find(|h| h.slug == "over-300000-won-certificate")
        .expect("the certificate rule at 300,000 won");
    assert_eq!(rule.anchor.as_deref(), Some("isp-rule"), "{large:?}");
}

/// Particles and endings a shopper types (`이`, `합니다`) are never marked on their own.
#[test]
fn highlights_mark_typed_words_never_a_lone_particle_or_ending() {
    let help = HelpCenter::load(&HelpSource::BuiltIn).unwrap();
    let mark = regex::Regex::new("<mark>([^<]*)</mark>").unwrap();
    let glue = [
        "니다",
        "합니다",
        "습니다",
        "세요",
        "해요",
        "어요",
        "은",
        "는",
        "이",
        "가",
        "을",
        "를",
        "에",
        "의",
        "로",
        "요",
        "이 ",
        "가 ",
        "을 ",
        "를 ",
    ];
    for query in [
        "잔액이 부족합니다",
        "카드 한도가 초과되었습니다",
        "결제가 안 돼요 도와주세요",
        "팝업을 허용했는데 결제창이 안 떠요",
        "비밀번호를 잊어버렸습니다",
    ] {
        let results = help.search(query, Audience::Shopper, 10);
        let mut marked = 0;
        for hit in &results.hits {
            for m in mark.captures_iter(&hit.snippet) {
                marked += 1;
                let text = m[1].trim();
                assert!(
                    !glue.contains(&text) && !glue.contains(&&m[1]),
                    "{query}: {} marks a lone {text:?}: {}",
                    hit.slug,
                    hit.snippet
                );
            }
        }
        assert!(marked > 0, "{query}: something is marked");
    }
}
