//! Help for a payment error, for the API error envelope, the failure page and the storefront widget.
//! Order: articles whose `errorPatterns` match the message (longest, most specific match first), then
//! what a search for the message finds, then rules about the payment itself: an ISP card (BC, KB,
//! 우리) at 300,000 won or more needs a certificate and ARS, a phone needs the mobile checklist, and an
//! app's in-app browser (KakaoTalk, Instagram, Facebook, LINE) needs the in-app browser article.
//! Rule hits keep their place even when the search fills the list, because they explain failures
//! whose message says nothing useful.

use std::collections::HashSet;

use super::article::{Article, Audience};
use super::center::{HelpCenter, HelpHit};
use super::snippet::Marked;
use crate::domain::{CardCompany, ISP_CERTIFICATE_THRESHOLD, PayMethod, card_company_by_name};

/// Suggestions when the caller asks for none in particular.
pub const DEFAULT_SUGGESTIONS: usize = 3;

const CERTIFICATE_ARTICLE: &str = "over-300000-won-certificate";
const MOBILE_ARTICLE: &str = "mobile-checklist";
const IN_APP_ARTICLE: &str = "in-app-browser-payment";

/// Sections the rules link to; `paydesk help check` fails if an edit removes one.
pub(crate) const RULE_TARGETS: &[(&str, &str)] = &[
    (CERTIFICATE_ARTICLE, "isp-rule"),
    (CERTIFICATE_ARTICLE, "ansimclick-rule"),
    (MOBILE_ARTICLE, "checklist"),
    (MOBILE_ARTICLE, "in-app-browser"),
    (IN_APP_ARTICLE, "open-in-browser"),
];

/// What is known about a failed payment. Every field is optional.
#[derive(Clone, Debug, Default)]
pub struct SuggestRequest {
    /// The error message shown or returned (Innopay's, the card company's, or the browser's).
    pub message: Option<String>,
    /// Innopay's result code, e.g. `W003`.
    pub code: Option<String>,
    /// `CARD`, `BANK`, ... (card rules only apply to cards).
    pub pay_method: Option<String>,
    /// Card company code (`01`) or name (`비씨`, `KB국민카드`).
    pub card_company: Option<String>,
    /// Amount in won.
    pub amount: Option<i64>,
    /// The shopper's browser; a phone brings the mobile checklist.
    pub user_agent: Option<String>,
    /// Most suggestions wanted; 0 means `DEFAULT_SUGGESTIONS`.
    pub limit: usize,
    /// Who reads the suggestions: a shopper unless said otherwise, so a failure page or the widget
    /// never shows a developer article.
    pub reader: Audience,
}

/// Phones and tablets, by the tokens their browsers put in `User-Agent`.
fn is_mobile(user_agent: &str) -> bool {
    ["Mobi", "Android", "iPhone", "iPad", "iPod"]
        .iter()
        .any(|t| user_agent.contains(t))
}

/// The in-app browsers of the Naver and Daum apps, which the mobile checklist says to leave.
fn is_portal_in_app(user_agent: &str) -> bool {
    user_agent.contains("NAVER(inapp") || user_agent.contains("DaumApps")
}

/// What the messenger and social apps add to the user agent of the browser they open links in:
/// KakaoTalk (`KAKAOTALK 10.9.5`), Instagram (`Instagram 334.0...`), Facebook (`[FBAN/FBIOS;FBAV/...]`
/// on iOS, `[FB_IAB/FB4A;FBAV/...]` on Android) and LINE (`Line/14.10.0`). Case matters: `Line/`
/// must not fire inside another word.
const APP_IN_APP_TOKENS: [&str; 5] = ["KAKAOTALK", "Instagram", "FBAN/", "FBAV/", "Line/"];

/// The in-app browsers of messenger and social apps, which often cannot open a card, bank or wallet
/// app or a new window; the in-app browser article says how to leave them.
fn is_app_in_app(user_agent: &str) -> bool {
    APP_IN_APP_TOKENS.iter().any(|t| user_agent.contains(t))
}

/// The section a shopper's browser calls for, if any: the in-app browser article for a messenger or
/// social app's browser, the mobile checklist's in-app section for the Naver and Daum apps, the
/// checklist itself for any other phone.
fn device_rule(user_agent: &str) -> Option<(&'static str, &'static str)> {
    if is_app_in_app(user_agent) {
        Some((IN_APP_ARTICLE, "open-in-browser"))
    } else if !is_mobile(user_agent) {
        None
    } else if is_portal_in_app(user_agent) {
        Some((MOBILE_ARTICLE, "in-app-browser"))
    } else {
        Some((MOBILE_ARTICLE, "checklist"))
    }
}

impl HelpCenter {
    /// Articles for a failed payment, best first, at most `req.limit`; never empty.
    pub fn suggest(&self, req: &SuggestRequest) -> Vec<HelpHit> {
        let limit = if req.limit == 0 {
            DEFAULT_SUGGESTIONS
        } else {
            req.limit
        };
        let text = [req.message.as_deref(), req.code.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let terms = self.terms_of(&text);
        let company = req.card_company.as_deref().and_then(card_company_by_name);
        // Searched wider than `limit` so that pattern matches can point at their best section. The
        // card company joins the searched text (not the highlights): a vague "인증 오류" from a
        // 신한카드 is a 안심클릭 problem.
        let searched: Vec<HelpHit> = if text.is_empty() {
            Vec::new()
        } else {
            let searched_text = match company {
                Some(company) => format!("{text} {}카드", company.name),
                None => text.clone(),
            };
            self.matching(&searched_text, req.reader, limit.max(10))
                .into_iter()
                .filter(|hit| self.fits_payment(&hit.slug, company, req.amount))
                .collect()
        };
        let patterns: Vec<HelpHit> = self
            .pattern_hits(&text, req.code.as_deref(), &searched, &terms, req.reader)
            .into_iter()
            .filter(|hit| self.fits_card(&hit.slug, company))
            .collect();
        let rules = self.rule_hits(req, &terms);

        let mut out: Vec<HelpHit> = Vec::new();
        let mut seen = HashSet::new();
        for hit in patterns.into_iter().take(limit) {
            seen.insert(hit.slug.clone());
            out.push(hit);
        }
        let rules: Vec<HelpHit> = rules
            .into_iter()
            .filter(|h| !seen.contains(&h.slug))
            .collect();
        let room = limit.saturating_sub(out.len() + rules.len());
        let mut added = 0;
        for hit in searched {
            if added < room && seen.insert(hit.slug.clone()) {
                out.push(hit);
                added += 1;
            }
        }
        for hit in rules {
            if out.len() < limit && seen.insert(hit.slug.clone()) {
                out.push(hit);
            }
        }
        if out.is_empty() {
            out = self.fallback(req.reader, limit);
        }
        out
    }

    /// Whether an article found by searching suits this payment: its card family (`fits_card`), and
    /// no 300,000-won certificate article for a smaller amount, where that rule cannot be the cause.
    fn fits_payment(&self, slug: &str, company: Option<&CardCompany>, amount: Option<i64>) -> bool {
        let small = amount.is_some_and(|a| a < ISP_CERTIFICATE_THRESHOLD);
        self.fits_card(slug, company) && !(small && slug == CERTIFICATE_ARTICLE)
    }

    /// Whether an article about one card family (its `cardCompanies` all ISP, or all 안심클릭) suits
    /// a payment by `company`; articles about both families or none suit every card.
    fn fits_card(&self, slug: &str, company: Option<&CardCompany>) -> bool {
        match (company, self.article(slug).and_then(Article::card_family)) {
            (Some(company), Some(isp)) => company.isp == isp,
            _ => true,
        }
    }

    /// Articles whose error patterns occur in `text`: those matching the code first (a code names
    /// the failure; a message's words may merely mention another topic, as `입금기한` in a W017),
    /// then the longest match; each points at the section the search found for it, or at the
    /// article.
    fn pattern_hits(
        &self,
        text: &str,
        code: Option<&str>,
        searched: &[HelpHit],
        terms: &Marked,
        reader: Audience,
    ) -> Vec<HelpHit> {
        if text.is_empty() {
            return Vec::new();
        }
        let lowered = text.to_lowercase();
        let code = code.map(|c| c.trim().to_lowercase()).unwrap_or_default();
        let mut matched: Vec<(bool, usize, usize, HelpHit)> = self
            .articles()
            .iter()
            .filter(|article| reader.sees(&article.audience))
            .filter_map(|article| {
                let longest = article
                    .error_patterns
                    .iter()
                    .filter_map(|p| p.matched_len(&lowered))
                    .max()?;
                let by_code = !code.is_empty()
                    && article
                        .error_patterns
                        .iter()
                        .any(|p| p.matched_len(&code).is_some());
                let position = searched.iter().position(|h| h.slug == article.slug);
                let hit = match position {
                    Some(i) => searched[i].clone(),
                    None => self.head_hit(article, 0.0, terms),
                };
                Some((by_code, longest, position.unwrap_or(usize::MAX), hit))
            })
            .collect();
        matched.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(b.1.cmp(&a.1))
                .then(a.2.cmp(&b.2))
                .then(a.3.slug.cmp(&b.3.slug))
        });
        matched.into_iter().map(|(_, _, _, hit)| hit).collect()
    }

    /// Hits that follow from the payment's card, amount and browser rather than its message.
    fn rule_hits(&self, req: &SuggestRequest, terms: &Marked) -> Vec<HelpHit> {
        let mut hits = Vec::new();
        let paid_by_card = req.pay_method.as_deref().is_none_or(|m| {
            m.trim().to_ascii_uppercase().parse::<PayMethod>() == Ok(PayMethod::Card)
        });
        let company = req.card_company.as_deref().and_then(card_company_by_name);
        if let (true, Some(company), Some(amount)) = (paid_by_card, company, req.amount)
            && amount >= ISP_CERTIFICATE_THRESHOLD
        {
            // ISP's rule is the guide's firm one; 안심클릭 cards need a certificate too, by company.
            let anchor = if company.isp {
                "isp-rule"
            } else {
                "ansimclick-rule"
            };
            hits.extend(self.section_hit(CERTIFICATE_ARTICLE, anchor, terms));
        }
        if let Some((slug, anchor)) = req.user_agent.as_deref().and_then(device_rule) {
            hits.extend(self.section_hit(slug, anchor, terms));
        }
        hits.retain(|hit| {
            self.article(&hit.slug)
                .is_some_and(|a| req.reader.sees(&a.audience))
        });
        hits
    }

    fn section_hit(&self, slug: &str, anchor: &str, terms: &Marked) -> Option<HelpHit> {
        let article = self.article(slug)?;

        let section = article
            .sections
            .iter()
            .position(|s| s.anchor.as_deref() == Some(anchor))?;
        Some(self.hit(article, section, 0.0, terms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_phones_and_portal_apps() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";
        let naver = "Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 Mobile Safari/537.36 NAVER(inapp; search; 2000; 12.1.0)";
        let desktop = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36";
        assert!(is_mobile(iphone) && !is_portal_in_app(iphone));
        assert!(is_mobile(naver) && is_portal_in_app(naver));
        assert!(!is_mobile(desktop));
    }

    /// User agents as the apps send them (iOS and Android), each calling for the in-app browser
    /// article; the portal apps keep the mobile checklist's in-app section, plain phones the checklist.
    #[test]
    fn messenger_and_social_in_app_browsers_call_for_the_in_app_article() {
        let in_app = [
            (
                "KakaoTalk iOS",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 KAKAOTALK 10.9.5",
            ),
            (
                "KakaoTalk Android",
                "Mozilla/5.0 (Linux; Android 14; SM-S918N Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.122 Mobile Safari/537.36;KAKAOTALK 2410420",
            ),
            (
                "Instagram iOS",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 334.0.4.32.98 (iPhone14,5; iOS 17_5; ko_KR; ko; scale=3.00; 1170x2532; 611498468)",
            ),
            (
                "Instagram Android",
                "Mozilla/5.0 (Linux; Android 14; SM-S918N Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.122 Mobile Safari/537.36 Instagram 334.0.0.42.95 Android (34/14; 480dpi; 1080x2340; samsung; SM-S918N; dm3q; qcom; ko_KR; 611229823)",
            ),
            (
                "Facebook iOS",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.38.108;FBBV/612345678;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBID/phone;FBLC/ko_KR;FBOP/5]",
            ),
            (
                "Facebook Android",
                "Mozilla/5.0 (Linux; Android 14; SM-S918N Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.122 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/470.0.0.43.108;]",
            ),
            (
                "LINE iOS",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.10.0",
            ),
            (
                "LINE Android",
                "Mozilla/5.0 (Linux; Android 14; SM-S918N Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.122 Mobile Safari/537.36 Line/14.10.1/IAB",
            ),
        ];
        for (app, ua) in in_app {
            assert!(is_app_in_app(ua) && !is_portal_in_app(ua), "{app}");
            assert_eq!(
                device_rule(ua),
                Some((IN_APP_ARTICLE, "open-in-browser")),
                "{app}"
            );
        }

        let naver = "Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 Mobile Safari/537.36 NAVER(inapp; search; 2000; 12.1.0)";
        let daum = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 DaumApps/8.9.2 DaumDevice/mobile";
        let samsung = "Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36";
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        let desktop = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
        for ua in [naver, daum] {
            assert_eq!(
                device_rule(ua),
                Some((MOBILE_ARTICLE, "in-app-browser")),
                "{ua}"
            );
        }
        for ua in [samsung, safari] {
            assert!(!is_app_in_app(ua), "{ua}");
            assert_eq!(device_rule(ua), Some((MOBILE_ARTICLE, "checklist")), "{ua}");
        }
        assert_eq!(device_rule(desktop), None);
        // Only the app's own spelling counts, not the letters inside another word.
        assert!(!is_app_in_app(
            "Mozilla/5.0 (iPhone) Mobile/15E148 Timeline/2.0 instagrammer"
        ));
    }
}
