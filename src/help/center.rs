//! `HelpCenter`: one loaded, checked and indexed set of articles, immutable once built. Searching
//! turns the index's article matches into hits (the best section, or the article as a whole), builds
//! highlighted snippets, and answers with the most useful articles, flagged as a fallback, when
//! nothing matches.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use quick_cache::sync::Cache;

use super::HelpError;
use super::article::{Article, Audience};
use super::catalog::{Catalog, Problem};
use super::search::{IndexStats, SearchIndex, WeightedTerm, card_family};
use super::snippet::{Marked, Tokens, highlight};
use super::source::{HelpSource, SourceFile};
use super::suggest::RULE_TARGETS;

/// Hits scoring below this share of the best hit are dropped: with OR queries, a lone shared
/// particle would otherwise drag in unrelated articles.
const MIN_RELATIVE_SCORE: f32 = 0.2;

/// How much an article about the card family a query names (신한카드: 안심클릭) gains, and an
/// article about the other family loses.
const FAMILY_BOOST: f32 = 1.5;

/// A section (or a whole article) that answers a query or an error.
#[derive(Clone, Debug, PartialEq)]
pub struct HelpHit {
    pub slug: String,
    pub title: String,
    /// The section's anchor; `None` points at the article as a whole.
    pub anchor: Option<String>,
    /// The section heading.
    pub section: Option<String>,
    /// `/help/{slug}#{anchor}` (or `/help/{slug}`), relative to this server.
    pub url: String,
    /// HTML: escaped text with matches in `<mark>`.
    pub snippet: String,
    pub score: f32,
}

impl From<&HelpHit> for crate::api::HelpLink {
    fn from(hit: &HelpHit) -> Self {
        crate::api::HelpLink {
            slug: hit.slug.clone(),
            title: hit.title.clone(),
            section: hit.section.clone(),
            url: hit.url.clone(),
        }
    }
}

/// The answer to a search.
#[derive(Clone, Debug)]
pub struct SearchResults {
    pub query: String,
    pub took_micros: u64,
    /// Nothing matched: `hits` are the most useful articles instead.
    pub fallback: bool,
    pub hits: Vec<HelpHit>,
}

/// Answers kept for repeated searches. Shoppers after a failed payment type the same few queries
/// (`팝업 차단`, `isp 비번`), so a small cache answers most searches without touching the index. It
/// belongs to one `HelpCenter`, so a reload starts with an empty one and never serves stale articles.
const CACHED_ANSWERS: usize = 1_024;

/// What a cached answer is found by: the query exactly as typed, the audience and the limit.
type AnswerKey = (String, Audience, usize);

/// A search's answer without its timing.
#[derive(Clone)]
struct Answer {
    fallback: bool,
    hits: Arc<[HelpHit]>,
}

impl Answer {
    fn into_results(self, query: &str, started: Instant) -> SearchResults {
        SearchResults {
            query: query.to_string(),
            took_micros: started.elapsed().as_micros() as u64,
            fallback: self.fallback,
            hits: self.hits.to_vec(),
        }
    }
}

/// An article's texts that snippets are cut from, each analysed the first time a hit shows it
/// (a large knowledge base would otherwise hold the tokens of sections no search ever shows).
struct SnippetTexts {
    /// The summary and the intro: what a hit for the article as a whole shows.
    head: String,
    head_tokens: OnceLock<Tokens>,
    /// Per section of `Article::sections`.
    sections: Vec<OnceLock<Tokens>>,
}

impl SnippetTexts {
    fn of(article: &Article) -> Self {
        let intro = article
            .sections
            .first()
            .filter(|s| s.anchor.is_none())
            .map_or("", |s| s.text.as_str());
        Self {
            head: format!("{}\n{intro}", article.summary),
            head_tokens: OnceLock::new(),
            sections: article.sections.iter().map(|_| OnceLock::new()).collect(),
        }
    }
}

/// Articles, synonyms, their index and the answers to recent searches.
pub struct HelpCenter {
    catalog: Catalog,
    index: SearchIndex,
    /// Per article of the catalog.
    snippets: Vec<SnippetTexts>,
    answers: Cache<AnswerKey, Answer>,
}

impl HelpCenter {
    /// Reads, checks and indexes `source`; any problem refuses the whole set (`paydesk help check`
    /// lists them), so a broken edit never replaces a working help centre.
    pub fn load(source: &HelpSource) -> Result<Self, HelpError> {
        Self::from_files(&source.files()?).map_err(|e| match e {
            HelpError::Invalid { problems, .. } => HelpError::Invalid {
                origin: source.to_string(),
                problems,
            },
            other => other,
        })
    }

    /// Builds from files already in memory (a generated knowledge base in the benchmark).
    pub fn from_files(files: &[SourceFile]) -> Result<Self, HelpError> {
        let (catalog, problems) = Catalog::load(files, RULE_TARGETS);
        if !problems.is_empty() {
            return Err(HelpError::Invalid {
                origin: "files".into(),
                problems,
            });
        }
        let index = SearchIndex::build(&catalog)?;
        let snippets = catalog.articles().iter().map(SnippetTexts::of).collect();
        Ok(Self {
            catalog,
            index,
            snippets,
            answers: Cache::new(CACHED_ANSWERS),
        })
    }

    /// Everything `paydesk help check` reports for `source`, with the number of articles read.
    pub fn check(source: &HelpSource) -> Result<(usize, Vec<Problem>), HelpError> {
        let (catalog, problems) = Catalog::load(&source.files()?, RULE_TARGETS);
        Ok((catalog.articles().len(), problems))
    }

    pub fn stats(&self) -> IndexStats {
        self.index.stats()
    }

    pub fn articles(&self) -> &[Article] {
        self.catalog.articles()
    }

    pub fn article(&self, slug: &str) -> Option<&Article> {
        self.catalog.get(slug)
    }

    /// The most useful articles (most linked-to) that `reader` may see.
    pub fn popular(&self, reader: Audience) -> impl Iterator<Item = &Article> {
        self.catalog
            .popular()
            .filter(move |a| reader.sees(&a.audience))
    }

    /// Searches and times the search, answering repeated searches from the cache. Never empty:
    /// without a match, the most useful articles come back with `fallback: true`.
    pub fn search(&self, query: &str, reader: Audience, limit: usize) -> SearchResults {
        let started = Instant::now();
        let key = (query.to_string(), reader, limit);
        let answer = match self.answers.get(&key) {
            Some(answer) => answer,
            None => {
                let answer = self.answer(query, reader, limit);
                self.answers.insert(key, answer.clone());
                answer
            }
        };
        answer.into_results(query, started)
    }

    /// `search` without the cache: what a query never seen before costs (the benchmark measures it).
    pub fn search_uncached(&self, query: &str, reader: Audience, limit: usize) -> SearchResults {
        let started = Instant::now();
        self.answer(query, reader, limit)
            .into_results(query, started)
    }

    fn answer(&self, query: &str, reader: Audience, limit: usize) -> Answer {
        let hits = self.matching(query, reader, limit);
        if hits.is_empty() {
            Answer {
                fallback: true,
                hits: self.fallback(reader, limit).into(),
            }
        } else {
            Answer {
                fallback: false,
                hits: hits.into(),
            }
        }
    }

    /// Articles matching `query` that `reader` may see, best section each, best first; empty when
    /// nothing matches. Where every audience is shown (agents), a developer-worded query puts the
    /// developer articles first: whoever types `returnUrl` or `API` is integrating, not paying.
    pub(super) fn matching(&self, query: &str, reader: Audience, limit: usize) -> Vec<HelpHit> {
        let family = card_family(query);
        let terms = self
            .index
            .query_terms(query, &self.catalog.synonyms, family);
        let mut found = self.index.search(&terms, reader, limit);
        let marked = self.marked(&terms);
        if let Some(isp) = family {
            // A named card company decides between the ISP and the 안심클릭 article of a topic.
            for m in &mut found {
                match self.catalog.articles()[m.article].card_family() {
                    Some(family) if family == isp => m.score *= FAMILY_BOOST,
                    Some(_) => m.score *= 1.0 / FAMILY_BOOST,
                    None => {}
                }
            }
            found.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.article.cmp(&b.article)));
        }
        let best = found.first().map_or(0.0, |m| m.score);
        let mut found: Vec<_> = found
            .into_iter()
            .filter(|m| m.score >= best * MIN_RELATIVE_SCORE)
            .collect();
        if reader == Audience::Agent && is_developer_worded(&terms) {
            // A stable sort keeps the score order within each group.
            found.sort_by_key(|m| {
                !self.catalog.articles()[m.article]
                    .audience
                    .contains(&Audience::Developer)
            });
        }
        found
            .into_iter()
            .map(|m| {
                let article = &self.catalog.articles()[m.article];
                match m.section {
                    Some(section) => self.hit(article, section, m.score, &marked),
                    None => self.head_hit(article, m.score, &marked),
                }
            })
            .collect()
    }

    /// A hit for an article as a whole: the summary and intro as the snippet, no anchor.
    pub(super) fn head_hit(&self, article: &Article, score: f32, marked: &Marked) -> HelpHit {
        HelpHit {
            slug: article.slug.clone(),
            title: article.title.clone(),
            anchor: None,
            section: None,
            url: article.url(None),
            snippet: self.snippet(article, None, marked),
            score,
        }
    }

    /// A hit for one section of an article; the snippet marks `terms`.
    pub(super) fn hit(
        &self,
        article: &Article,
        section: usize,
        score: f32,
        marked: &Marked,
    ) -> HelpHit {
        let snippet = self.snippet(article, Some(section), marked);
        let section = &article.sections[section];
        HelpHit {
            slug: article.slug.clone(),
            title: article.title.clone(),
            anchor: section.anchor.clone(),
            section: section.heading.clone(),
            url: article.url(section.anchor.as_deref()),
            snippet,
            score,
        }
    }

    /// The snippet of a section, or of the article's summary and intro (`None`).
    fn snippet(&self, article: &Article, section: Option<usize>, marked: &Marked) -> String {
        let Some(texts) = self
            .catalog
            .position(&article.slug)
            .map(|a| &self.snippets[a])
        else {
            return String::new(); // every article shown comes from this catalog
        };
        let term_id = |token: &str| self.index.term_id(token).unwrap_or(u32::MAX);
        match section {
            None => {
                let tokens = texts
                    .head_tokens
                    .get_or_init(|| Tokens::of(&texts.head, term_id));
                highlight(&texts.head, tokens, marked)
            }
            Some(s) => {
                let text = &article.sections[s].text;
                let tokens = texts.sections[s].get_or_init(|| Tokens::of(text, term_id));
                highlight(text, tokens, marked)
            }
        }
    }

    /// What snippets mark for a query: its terms without the particles and endings Korean
    /// attaches to words, which would otherwise light up `니다` in every sentence of an article.
    fn marked(&self, terms: &[WeightedTerm]) -> Marked {
        Marked::new(
            terms
                .iter()
                .filter_map(|t| self.index.term_id(&t.text))
                .filter(|&id| !self.index.is_function_term(id))
                .collect(),
        )
    }

    /// The marked terms of a query, for hits built outside `matching` (suggest rules).
    pub(super) fn terms_of(&self, query: &str) -> Marked {
        let terms = self
            .index
            .query_terms(query, &self.catalog.synonyms, card_family(query));
        self.marked(&terms)
    }

    pub(super) fn fallback(&self, reader: Audience, limit: usize) -> Vec<HelpHit> {
        self.popular(reader)
            .take(limit)
            .map(|a| self.head_hit(a, 0.0, &Marked::default()))
            .collect()
    }
}

/// Words only people integrating a shop type; a query holding one is a developer's.
const DEVELOPER_WORDS: &[&str] = &[
    "api",
    "header",
    "headers",
    "헤더",
    "returnurl",
    "javascript",
    "js",
    "script",
    "스크",
    "크립",
    "립트",
    "sdk",
    "json",
    "endpoint",
    "webhook",
    "curl",
    "파라",
    "라미",
    "미터",
    "parameter",
    "개발",
    "발자",
    "연동",
    "resultcode",
    "mid",
    "moid",
    "tid",
];

fn is_developer_worded(terms: &[WeightedTerm]) -> bool {
    terms
        .iter()
        .any(|t| t.weight >= 1.0 && DEVELOPER_WORDS.contains(&t.text.as_str()))
}
