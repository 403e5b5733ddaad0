//! One help article: TOML front matter between `+++` lines, then Markdown whose `##` headings carry
//! explicit anchors (`## 팝업 차단 해제하기 {#unblock-popups}`). Parsing yields the article split into
//! sections (the intro, then one per `##`), each with safe HTML and plain text for the index, plus the
//! problems `paydesk help check` reports. Raw HTML in an article is shown as text, never passed
//! through, and links may only use web, mail or phone schemes.

use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use regex::Regex;
use serde::Deserialize;

/// Who an article is written for, and who is reading: every surface asks as one reader. A shopper
/// sees shopper articles only and a developer developer articles only, so an English integration
/// page never lands on a shopper's failure page; an agent (the support console, `audience=agent`)
/// sees every article, including agent-only ones (`audience = ["agent"]`).
#[derive(poem_openapi::Enum, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[oai(rename = "HelpAudience", rename_all = "lowercase")]
pub enum Audience {
    /// A shopper whose payment failed.
    #[default]
    Shopper,
    /// A storefront developer integrating Innopay or paydesk.
    Developer,
    /// A support agent answering tickets: sees every article.
    Agent,
}

impl Audience {
    pub const ALL: [Audience; 3] = [Audience::Shopper, Audience::Developer, Audience::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Shopper => "shopper",
            Audience::Developer => "developer",
            Audience::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether this reader is shown an article written for `audience`.
    pub fn sees(self, audience: &[Audience]) -> bool {
        self == Audience::Agent || audience.contains(&self)
    }
}

/// The categories articles may use, in the order the help centre lists them, with their Korean names.
pub const CATEGORIES: [(&str, &str); 8] = [
    ("payment-window", "결제창"),
    ("browser", "브라우저·PC"),
    ("mobile", "모바일·앱카드"),
    ("isp", "ISP (국민·비씨카드)"),
    ("ansimclick", "안심클릭 (일반결제)"),
    ("security", "인증서·보안 프로그램"),
    ("developer", "가맹점 개발자"),
    ("agent", "상담원"),
];

/// The Korean name of a category id.
pub fn category_label(id: &str) -> &'static str {
    CATEGORIES
        .iter()
        .find(|(c, _)| *c == id)
        .map_or("기타", |(_, label)| label)
}

/// A text an error message may contain (compared case-insensitively), or a regular expression
/// (written `re:...` in front matter).
#[derive(Clone, Debug)]
pub enum ErrorPattern {
    Contains(String),
    Regex(Regex),
}

impl ErrorPattern {
    /// How many characters of `text` (already lower-cased) the pattern matched, if it matched; longer
    /// matches are more specific.
    pub fn matched_len(&self, lowered: &str) -> Option<usize> {
        match self {
            ErrorPattern::Contains(needle) => lowered
                .contains(needle.as_str())
                .then(|| needle.chars().count()),
            ErrorPattern::Regex(re) => re.find(lowered).map(|m| m.as_str().chars().count()),
        }
    }
}

/// A part of an article: the intro (no anchor) or a `##` section.
#[derive(Clone, Debug)]
pub struct Section {
    pub anchor: Option<String>,
    pub heading: Option<String>,
    /// The section's body as HTML, without its heading.
    pub html: String,
    /// The body as plain text, for the index and snippets.
    pub text: String,
}

/// A parsed article.
#[derive(Clone, Debug)]
pub struct Article {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub audience: Vec<Audience>,
    pub category: String,
    pub tags: Vec<String>,
    pub error_patterns: Vec<ErrorPattern>,
    pub card_companies: Vec<String>,
    pub related: Vec<String>,
    /// The intro first (when the article has one), then the `##` sections in order.
    pub sections: Vec<Section>,
    /// Link targets as written, for checking.
    pub links: Vec<String>,
    /// The file it came from.
    pub file: String,
}

impl Article {
    pub fn section(&self, anchor: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.anchor.as_deref() == Some(anchor))
    }

    /// The card family the article is about: `Some(true)` when all its `cardCompanies` use ISP,
    /// `Some(false)` when all use 안심클릭, `None` for both or none.
    pub fn card_family(&self) -> Option<bool> {
        let mut families = self
            .card_companies
            .iter()
            .filter_map(|name| crate::domain::card_company_by_name(name))
            .map(|c| c.isp);
        let first = families.next()?;
        families.all(|isp| isp == first).then_some(first)
    }

    pub fn has_anchor(&self, anchor: &str) -> bool {
        self.section(anchor).is_some()
    }

    /// `/help/{slug}`, or `/help/{slug}#{anchor}` for a section.
    pub fn url(&self, anchor: Option<&str>) -> String {
        match anchor {
            Some(anchor) => format!("/help/{}#{anchor}", self.slug),
            None => format!("/help/{}", self.slug),
        }
    }

    /// The whole article body as HTML, each section under an `<h2>` with its anchor as `id`.
    pub fn html(&self) -> String {
        let mut out = String::new();
        for section in &self.sections {
            if let (Some(anchor), Some(heading)) = (&section.anchor, &section.heading) {
                out.push_str(&format!(
                    "<h2 id=\"{}\">{}</h2>\n",
                    crate::pages::escape(anchor),
                    crate::pages::escape(heading)
                ));
            }
            out.push_str(&section.html);
        }
        out
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FrontMatter {
    slug: String,
    title: String,
    summary: String,
    audience: Vec<String>,
    category: String,
    tags: Vec<String>,
    #[serde(default)]
    error_patterns: Vec<String>,
    #[serde(default)]
    card_companies: Vec<String>,
    #[serde(default)]
    related: Vec<String>,
}

/// Anchors and slugs: lower-case ASCII words joined by hyphens, stable in URLs.
pub fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Splits `+++\n<toml>\n+++\n<markdown>`.
fn split_front_matter(text: &str) -> Option<(&str, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text
        .strip_prefix("+++\n")
        .or_else(|| text.strip_prefix("+++\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "+++" {
            return Some((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    None
}

/// Web, mail and phone links and paths on this site are allowed; anything else (`javascript:`,
/// `data:`) could run script on the help pages.
fn is_safe_link(dest: &str) -> bool {
    let lower = dest.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        Some((scheme, _)) if !scheme.contains('/') && !scheme.contains('#') => {
            matches!(scheme, "http" | "https" | "mailto" | "tel")
        }
        _ => true,
    }
}

/// Korean phone numbers as articles write them: area or mobile numbers (`02-1234-5678`,
/// `010-1234-5678`) and the four-digit-prefix numbers of customer centres (`1577-3033`).
fn phone_numbers() -> &'static Regex {
    static PHONE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    PHONE.get_or_init(|| {
        Regex::new(r"(?:^|[^0-9-])((?:0\d{1,2}-\d{3,4}-\d{4})|(?:1[5-9]\d{2}-\d{4}))(?:$|[^0-9-])")
            .expect("a valid pattern")
    })
}

/// `text` with each phone number in it as a `tel:` link, so a shopper on a phone calls with one tap.
fn link_phone_numbers<'a>(text: CowStr<'a>, out: &mut Vec<Event<'a>>) {
    let mut rest = 0;
    let mut pieces = Vec::new();
    for found in phone_numbers().captures_iter(&text) {
        let number = found.get(1).expect("group 1");
        pieces.push((rest, number.start(), number.end()));
        rest = number.end();
    }
    if pieces.is_empty() {
        out.push(Event::Text(text));
        return;
    }
    for (from, start, end) in pieces {
        if start > from {
            out.push(Event::Text(CowStr::from(text[from..start].to_string())));
        }
        let number = &text[start..end];
        out.push(Event::Start(Tag::Link {
            link_type: pulldown_cmark::LinkType::Inline,
            dest_url: CowStr::from(format!("tel:{}", number.replace('-', ""))),
            title: CowStr::Borrowed(""),
            id: CowStr::Borrowed(""),
        }));
        out.push(Event::Text(CowStr::from(number.to_string())));
        out.push(Event::End(TagEnd::Link));
    }
    if rest < text.len() {
        out.push(Event::Text(CowStr::from(text[rest..].to_string())));
    }
}

/// Parses one file. Problems are returned as messages (without the file name); an article is
/// returned whenever the front matter could be read, so that later checks can still run.
pub fn parse(file: &str, text: &str) -> (Option<Article>, Vec<String>) {
    let mut problems = Vec::new();
    let Some((toml_text, body)) = split_front_matter(text) else {
        problems.push("no front matter: the file must start with a `+++` line, TOML, and a closing `+++` line".into());
        return (None, problems);
    };
    let front: FrontMatter = match toml::from_str(toml_text) {
        Ok(front) => front,
        Err(e) => {
            problems.push(format!("front matter: {}", e.message().trim()));
            return (None, problems);
        }
    };
    let stem = file.strip_suffix(".md").unwrap_or(file);
    if !is_identifier(&front.slug) {
        problems.push(format!(
            "slug {:?} must be lower-case letters, digits and hyphens",
            front.slug
        ));
    } else if front.slug != stem {
        problems.push(format!(
            "slug {:?} differs from the file name; name the file {}.md",
            front.slug, front.slug
        ));
    }
    for (field, value) in [("title", &front.title), ("summary", &front.summary)] {
        if value.trim().is_empty() {
            problems.push(format!("{field} is empty"));
        }
    }
    let mut audience = Vec::new();
    for a in &front.audience {
        match Audience::parse(a) {
            Some(a) => audience.push(a),
            None => problems.push(format!(
                "unknown audience {a:?}; use shopper, developer or agent"
            )),
        }
    }
    if front.audience.is_empty() {
        problems.push("audience is empty; use shopper, developer and/or agent".into());
    }
    if !CATEGORIES.iter().any(|(id, _)| *id == front.category) {
        let known: Vec<&str> = CATEGORIES.iter().map(|(id, _)| *id).collect();
        problems.push(format!(
            "unknown category {:?}; use one of {}",
            front.category,
            known.join(", ")
        ));
    }
    let mut error_patterns = Vec::new();
    for pattern in &front.error_patterns {
        match pattern.strip_prefix("re:") {
            Some(re) => match Regex::new(&format!("(?i){re}")) {
                Ok(re) => error_patterns.push(ErrorPattern::Regex(re)),
                Err(e) => problems.push(format!(
                    "errorPattern {pattern:?} is not a valid regular expression: {}",
                    e.to_string().lines().last().unwrap_or_default().trim()
                )),
            },
            None if pattern.trim().is_empty() => problems.push("an errorPattern is empty".into()),
            None => error_patterns.push(ErrorPattern::Contains(pattern.to_lowercase())),
        }
    }
    let (sections, links) = parse_body(body, &mut problems);
    let article = Article {
        slug: front.slug,
        title: front.title,
        summary: front.summary,
        audience,
        category: front.category,
        tags: front.tags,
        error_patterns,
        card_companies: front.card_companies,
        related: front.related,
        sections,
        links,
        file: file.to_string(),
    };
    (Some(article), problems)
}

/// A section being collected while walking the Markdown events.
struct Pending<'a> {
    anchor: Option<String>,
    heading: Option<String>,
    events: Vec<Event<'a>>,
    text: String,
}

impl<'a> Pending<'a> {
    fn new(anchor: Option<String>, heading: Option<String>) -> Self {
        Self {
            anchor,
            heading,
            events: Vec::new(),
            text: String::new(),
        }
    }

    fn finish(self, sections: &mut Vec<Section>) {
        let text = self
            .text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        // An empty intro (the article starts with its first `##`) is not a section.
        if self.anchor.is_none() && text.is_empty() {
            return;
        }
        let mut html = String::new();
        pulldown_cmark::html::push_html(&mut html, self.events.into_iter());
        sections.push(Section {
            anchor: self.anchor,
            heading: self.heading,
            html,
            text,
        });
    }
}

fn parse_body(body: &str, problems: &mut Vec<String>) -> (Vec<Section>, Vec<String>) {
    let options =
        Options::ENABLE_HEADING_ATTRIBUTES | Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut sections = Vec::new();
    let mut links = Vec::new();
    let mut anchors: Vec<String> = Vec::new();
    let mut current = Pending::new(None, None);
    // Inside a link or a code block, a phone number stays as written.
    let (mut in_link, mut in_code) = (0usize, false);
    // Inside a `##` heading: its anchor and the text seen so far.
    let mut heading: Option<(Option<String>, String)> = None;
    for event in Parser::new_ext(body, options) {
        if let Some((_, text)) = heading.as_mut() {
            match event {
                Event::End(TagEnd::Heading(HeadingLevel::H2)) => {
                    let (anchor, text) = heading.take().expect("inside a heading");
                    let text = text.trim().to_string();
                    match &anchor {
                        None => problems.push(format!(
                            "heading \"## {text}\" has no anchor; end it with {{#some-anchor}}"
                        )),
                        Some(a) if !is_identifier(a) => problems.push(format!(
                            "anchor #{a} must be lower-case letters, digits and hyphens"
                        )),
                        Some(a) if anchors.contains(a) => {
                            problems.push(format!("duplicate anchor #{a}"))
                        }
                        Some(a) => anchors.push(a.clone()),
                    }
                    let previous =
                        std::mem::replace(&mut current, Pending::new(anchor, Some(text)));
                    previous.finish(&mut sections);
                }
                Event::Text(t) | Event::Code(t) => text.push_str(&t),
                Event::Html(t) | Event::InlineHtml(t) => text.push_str(&t),
                _ => {}
            }
            continue;
        }
        let event = match event {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H2,
                id,
                ..
            }) => {
                heading = Some((id.map(|id| id.to_string()), String::new()));
                continue;
            }
            Event::Start(Tag::Heading {
                level: HeadingLevel::H1,
                ..
            }) => {
                problems
                    .push("use `##` for sections: the title comes from the front matter".into());
                event
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                links.push(dest_url.to_string());
                let dest_url = if is_safe_link(&dest_url) {
                    dest_url
                } else {
                    problems.push(format!(
                        "link {:?} uses a scheme that is not allowed",
                        dest_url.as_ref()
                    ));
                    CowStr::Borrowed("#")
                };
                Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                })
            }
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) if !is_safe_link(&dest_url) => {
                problems.push(format!(
                    "image {:?} uses a scheme that is not allowed",
                    dest_url.as_ref()
                ));
                Event::Start(Tag::Image {
                    link_type,
                    dest_url: CowStr::Borrowed(""),
                    title,
                    id,
                })
            }
            // Raw HTML is shown as text: articles may come from a folder anyone on the support team
            // edits, and the pages must not run what they wrote.
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            other => other,
        };
        match &event {
            Event::Start(Tag::Link { .. }) => in_link += 1,
            Event::End(TagEnd::Link) => in_link = in_link.saturating_sub(1),
            Event::Start(Tag::CodeBlock(_)) => in_code = true,
            Event::End(TagEnd::CodeBlock) => in_code = false,
            _ => {}
        }
        match &event {
            Event::Text(t) | Event::Code(t) => current.text.push_str(t),
            Event::SoftBreak => current.text.push(' '),
            Event::HardBreak => current.text.push('\n'),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Item
                | TagEnd::Heading(_)
                | TagEnd::CodeBlock
                | TagEnd::TableCell
                | TagEnd::BlockQuote(_),
            ) => current.text.push('\n'),
            _ => {}
        }
        match event {
            Event::Text(text) if in_link == 0 && !in_code => {
                link_phone_numbers(text, &mut current.events)
            }
            // A wide table scrolls inside its own box instead of widening a phone's page.
            Event::Start(Tag::Table(_)) => {
                current
                    .events
                    .push(Event::Html(CowStr::Borrowed("<div class=\"table-wrap\">")));
                current.events.push(event);
            }
            Event::End(TagEnd::Table) => {
                current.events.push(event);
                current.events.push(Event::Html(CowStr::Borrowed("</div>")));
            }
            event => current.events.push(event),
        }
    }
    current.finish(&mut sections);
    (sections, links)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARTICLE: &str = "+++\nslug = \"demo\"\ntitle = \"데모\"\nsummary = \"요약\"\n\
        audience = [\"shopper\"]\ncategory = \"browser\"\ntags = [\"쿠키\"]\n\
        errorPatterns = [\"쿠키 오류\", 're:w0\\d\\d']\n+++\n\n첫 문단 <b>굵게</b>.\n\n\
        ## 첫째 {#first}\n\n[이동](/help/demo#second) [나쁜](javascript:alert(1))\n\n\
        ## 둘째 {#second}\n\n<script>alert(1)</script>\n";

    #[test]
    fn splits_sections_and_escapes_raw_html() {
        let (article, problems) = parse("demo.md", ARTICLE);
        let article = article.unwrap();
        assert_eq!(
            problems,
            ["link \"javascript:alert(1)\" uses a scheme that is not allowed"]
        );
        let anchors: Vec<_> = article.sections.iter().map(|s| s.anchor.clone()).collect();
        assert_eq!(anchors, [None, Some("first".into()), Some("second".into())]);
        assert!(
            article.sections[0].html.contains("&lt;b&gt;굵게&lt;/b&gt;"),
            "{}",
            article.sections[0].html
        );
        assert!(
            article.sections[2].html.contains("&lt;script&gt;"),
            "{}",
            article.sections[2].html
        );
        assert!(!article.html().contains("<script>"));
        assert!(!article.html().contains("javascript:"));
        assert!(article.html().contains("<h2 id=\"first\">첫째</h2>"));
        assert_eq!(article.links, ["/help/demo#second", "javascript:alert(1)"]);
        assert_eq!(article.sections[1].text, "이동 나쁜");
    }

    #[test]
    fn phone_numbers_become_tel_links_outside_links_and_code() {
        let text = ARTICLE.replace(
            "첫 문단 <b>굵게</b>.",
            "ISP는 브이피(주) 1577-3033, 은행은 02-123-4567로.\n\n\
             [1588-1234](https://example.com) `1599-0000`\n\n| a |\n| --- |\n| 1 |",
        );
        let (article, _) = parse("demo.md", &text);
        let html = &article.unwrap().sections[0].html;
        assert!(
            html.contains("브이피(주) <a href=\"tel:15773033\">1577-3033</a>, 은행은 <a href=\"tel:021234567\">02-123-4567</a>로."),
            "{html}"
        );
        assert!(
            !html.contains("tel:15881234") && !html.contains("tel:15990000"),
            "{html}"
        );
        assert!(html.contains("<div class=\"table-wrap\"><table>"), "{html}");
    }

    #[test]
    fn error_patterns_match_case_insensitively() {
        let (article, _) = parse("demo.md", ARTICLE);
        let article = article.unwrap();
        let lowered = "결제 실패: W003 쿠키 오류".to_lowercase();
        let lengths: Vec<_> = article
            .error_patterns
            .iter()
            .map(|p| p.matched_len(&lowered))
            .collect();
        assert_eq!(lengths, [Some(5), Some(4)]);
    }

    #[test]
    fn reports_front_matter_and_anchor_problems() {
        let (_, problems) = parse("x.md", "no front matter");
        assert!(problems[0].starts_with("no front matter"), "{problems:?}");

        let text = ARTICLE
            .replace("slug = \"demo\"", "slug = \"Demo\"")
            .replace("category = \"browser\"", "category = \"misc\"")
            .replace("audience = [\"shopper\"]", "audience = [\"buyer\"]")
            .replace("## 둘째 {#second}", "## 둘째")
            .replace("tags = [", "tagz = [");
        let (_, problems) = parse("demo.md", &text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("tagz"), "{problems:?}");

        let text = ARTICLE
            .replace("slug = \"demo\"", "slug = \"other\"")
            .replace("category = \"browser\"", "category = \"misc\"")
            .replace("audience = [\"shopper\"]", "audience = [\"buyer\"]")
            .replace("## 둘째 {#second}", "## 둘째")
            .replace("## 첫째 {#first}", "## 첫째 {#first}\n\n## 또 {#first}");
        let (_, problems) = parse("demo.md", &text);
        let joined = problems.join("\n");
        for expected in [
            "differs from the file name",
            "unknown category \"misc\"",
            "unknown audience \"buyer\"",
            "\"## 둘째\" has no anchor",
            "duplicate anchor #first",
        ] {
            assert!(joined.contains(expected), "{expected}: {joined}");
        }
    }
}
