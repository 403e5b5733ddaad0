//! The tantivy index of the help articles, built in RAM: one document per section (the intro and each
//! `##`), carrying the article's title, tags and error patterns as well so that every section can be
//! found by them. Queries are an OR of weighted terms (the query's own tokens, synonym expansions and
//! typo corrections) over the fields with boosts title > tags > heading > body; BM25 ranks. Every
//! clause is a plain term query, which lets tantivy prune with block-max WAND.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};

use super::HelpError;
use super::analysis::{KoreanBigramTokenizer, TOKENIZER_NAME, TokenKind, analyze, tokens};
use super::article::{Audience, ErrorPattern};
use super::catalog::Catalog;
use super::synonyms::Synonyms;

/// Field boosts: the title says most about an article, then the tags the content team chose, then
/// the section heading, then the body.
const TITLE_BOOST: f32 = 3.0;
const TAGS_BOOST: f32 = 2.0;
const HEADING_BOOST: f32 = 1.5;
const BODY_BOOST: f32 = 1.0;

/// Weight of a synonym relative to the word the shopper typed.
const SYNONYM_WEIGHT: f32 = 0.6;
/// Weight of a typo correction (`ips` → `isp`).
const TYPO_WEIGHT: f32 = 0.8;
/// Latin words shorter than this are not corrected: two letters have too many neighbours.
const MIN_TYPO_LEN: usize = 3;
/// Most terms one query may expand to; a pasted page of text must not make a search slow.
const MAX_TERMS: usize = 48;

/// Size and build time of an index, for `paydesk help reindex`, logs and the benchmark.
#[derive(Clone, Copy, Debug)]
pub struct IndexStats {
    pub articles: usize,
    pub sections: usize,
    /// Distinct terms over all text fields.
    pub terms: u64,
    pub build_micros: u64,
}

/// A term of a query with its weight.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightedTerm {
    pub text: String,
    pub weight: f32,
}

/// A matching section: its article and section indexes in the catalog, and its score.
#[derive(Clone, Copy, Debug)]
pub struct SectionMatch {
    pub article: usize,
    pub section: usize,
    pub score: f32,
}

struct Fields {
    title: Field,
    tags: Field,
    heading: Field,
    body: Field,
    audience: Field,
    key: Field,
}

impl Fields {
    fn weighted(&self) -> [(Field, f32); 4] {
        [
            (self.title, TITLE_BOOST),
            (self.tags, TAGS_BOOST),
            (self.heading, HEADING_BOOST),
            (self.body, BODY_BOOST),
        ]
    }
}

pub struct SearchIndex {
    searcher: Searcher,
    fields: Fields,
    /// (article, section) of every document, per segment, so hits need no stored-field reads.
    doc_keys: Vec<Vec<(u32, u32)>>,
    /// Latin words of the articles, for typo correction (ordered, so expansions are deterministic).
    vocabulary: BTreeSet<String>,
    stats: IndexStats,
}

fn pack(article: usize, section: usize) -> u64 {
    ((article as u64) << 32) | section as u64
}

fn unpack(key: u64) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

impl SearchIndex {
    pub fn build(catalog: &Catalog) -> Result<Self, HelpError> {
        Self::try_build(catalog).map_err(|e| HelpError::Index(e.to_string()))
    }

    fn try_build(catalog: &Catalog) -> tantivy::Result<Self> {
        let started = Instant::now();
        let mut builder = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER_NAME)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let fields = Fields {
            title: builder.add_text_field("title", text.clone()),
            tags: builder.add_text_field("tags", text.clone()),
            heading: builder.add_text_field("heading", text.clone()),
            body: builder.add_text_field("body", text),
            audience: builder.add_text_field("audience", STRING),
            key: builder.add_u64_field("key", FAST),
        };
        let index = Index::create_in_ram(builder.build());
        index
            .tokenizers()
            .register(TOKENIZER_NAME, KoreanBigramTokenizer);
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 64_000_000)?;
        let mut vocabulary = BTreeSet::new();
        let mut learn = |text: &str| {
            analyze(text, |token, kind, _, _| {
                if kind == TokenKind::Word && !vocabulary.contains(token) {
                    vocabulary.insert(token.to_string());
                }
            })
        };
        let mut sections = 0;
        for (a, article) in catalog.articles().iter().enumerate() {
            learn(&article.title);
            article.tags.iter().for_each(|t| learn(t));
            for (s, section) in article.sections.iter().enumerate() {
                let mut doc = TantivyDocument::new();
                doc.add_text(fields.title, &article.title);
                for tag in &article.tags {
                    doc.add_text(fields.tags, tag);
                }
                for pattern in &article.error_patterns {
                    if let ErrorPattern::Contains(text) = pattern {
                        doc.add_text(fields.tags, text);
                    }
                }
                if let Some(heading) = &section.heading {
                    learn(heading);
                    doc.add_text(fields.heading, heading);
                }
                if section.anchor.is_none() {
                    doc.add_text(fields.body, &article.summary);
                }
                learn(&section.text);
                doc.add_text(fields.body, &section.text);
                for audience in &article.audience {
                    doc.add_text(fields.audience, audience.as_str());
                }
                doc.add_u64(fields.key, pack(a, s));
                writer.add_document(doc)?;
                sections += 1;
            }
        }
        writer.commit()?;
        // One segment searches fastest; the index never changes after this.
        let segments = index.searchable_segment_ids()?;
        if segments.len() > 1 {
            writer.merge(&segments).wait()?;
        }
        writer.wait_merging_threads()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let searcher = reader.searcher();
        let mut doc_keys = Vec::new();
        let mut terms = 0;
        for segment in searcher.segment_readers() {
            let column = segment.fast_fields().u64("key")?;
            doc_keys.push(
                (0..segment.max_doc())
                    .map(|doc| unpack(column.first(doc).unwrap_or_default()))
                    .collect(),
            );
            for field in [fields.title, fields.tags, fields.heading, fields.body] {
                terms += segment.inverted_index(field)?.terms().num_terms() as u64;
            }
        }
        let stats = IndexStats {
            articles: catalog.articles().len(),
            sections,
            terms,
            build_micros: started.elapsed().as_micros() as u64,
        };
        Ok(Self {
            searcher,
            fields,
            doc_keys,
            vocabulary,
            stats,
        })
    }

    pub fn stats(&self) -> IndexStats {
        self.stats
    }

    /// The weighted terms of a query: its own tokens (weight 1), the entries of synonym groups it
    /// contains, and corrections of Latin words the articles never use.
    pub fn query_terms(&self, query: &str, synonyms: &Synonyms) -> Vec<WeightedTerm> {
        let mut terms = TermBag::default();
        let typed = tokens(query);
        for (token, _) in &typed {
            terms.add(token, 1.0);
        }
        expand_synonyms(query, synonyms, 1.0, &mut terms);
        for (token, kind) in &typed {
            // Numbers (phone numbers, amounts) must match exactly.
            if *kind != TokenKind::Word
                || token.chars().count() < MIN_TYPO_LEN
                || token.chars().all(|c| c.is_ascii_digit())
                || self.vocabulary.contains(token)
            {
                continue;
            }
            let candidates = self
                .vocabulary
                .iter()
                .filter(|w| w.len().abs_diff(token.len()) <= 1 && one_edit_apart(token, w));
            for candidate in candidates {
                terms.add(candidate, TYPO_WEIGHT);
                expand_synonyms(candidate, synonyms, TYPO_WEIGHT, &mut terms);
            }
        }
        terms.into_terms()
    }

    /// The best `top` sections for `terms`, best first, optionally only of articles for `audience`.
    pub fn search(
        &self,
        terms: &[WeightedTerm],
        audience: Option<Audience>,
        top: usize,
    ) -> Result<Vec<SectionMatch>, HelpError> {
        if terms.is_empty() || top == 0 {
            return Ok(Vec::new());
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(terms.len() * 4);
        for term in terms {
            for (field, boost) in self.fields.weighted() {
                let query = TermQuery::new(
                    Term::from_field_text(field, &term.text),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(query), boost * term.weight)),
                ));
            }
        }
        let mut query: Box<dyn Query> = Box::new(BooleanQuery::new(clauses));
        if let Some(audience) = audience {
            let filter = TermQuery::new(
                Term::from_field_text(self.fields.audience, audience.as_str()),
                IndexRecordOption::Basic,
            );
            query = Box::new(BooleanQuery::new(vec![
                (Occur::Must, query),
                (
                    Occur::Must,
                    Box::new(BoostQuery::new(Box::new(filter), 0.0)),
                ),
            ]));
        }
        let found = self
            .searcher
            .search(&query, &TopDocs::with_limit(top).order_by_score())
            .map_err(|e| HelpError::Index(e.to_string()))?;
        Ok(found
            .into_iter()
            .map(|(score, address)| {
                let (article, section) =
                    self.doc_keys[address.segment_ord as usize][address.doc_id as usize];
                SectionMatch {
                    article: article as usize,
                    section: section as usize,
                    score,
                }
            })
            .collect())
    }
}

/// Terms with their highest weight, in the order first seen.
#[derive(Default)]
struct TermBag {
    order: Vec<String>,
    weights: HashMap<String, f32>,
}

impl TermBag {
    fn add(&mut self, term: &str, weight: f32) {
        match self.weights.get_mut(term) {
            Some(w) => *w = w.max(weight),
            None => {
                self.order.push(term.to_string());
                self.weights.insert(term.to_string(), weight);
            }
        }
    }

    /// The heaviest `MAX_TERMS` terms, keeping the order in which they were seen among equals.
    fn into_terms(self) -> Vec<WeightedTerm> {
        let mut terms: Vec<WeightedTerm> = self
            .order
            .into_iter()
            .map(|text| {
                let weight = self.weights[&text];
                WeightedTerm { text, weight }
            })
            .collect();
        terms.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        terms.truncate(MAX_TERMS);
        terms
    }
}

/// Adds the tokens of every synonym group found in `text`: the found entry at `weight`, the rest of
/// its group at `weight * SYNONYM_WEIGHT`.
fn expand_synonyms(text: &str, synonyms: &Synonyms, weight: f32, terms: &mut TermBag) {
    for found in synonyms.find(text) {
        for (e, entry_tokens) in synonyms.tokens_of(found.group).iter().enumerate() {
            let w = if e == found.entry {
                weight
            } else {
                weight * SYNONYM_WEIGHT
            };
            for (token, _) in entry_tokens {
                terms.add(token, w);
            }
        }
    }
}

/// Whether `a` becomes `b` by one insertion, deletion, substitution or swap of neighbours.
fn one_edit_apart(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if b.len() < MIN_TYPO_LEN || a.len().abs_diff(b.len()) > 1 || a == b {
        return false;
    }
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    match ra.len().cmp(&rb.len()) {
        std::cmp::Ordering::Equal => {
            ra[1..] == rb[1..]
                || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
        }
        std::cmp::Ordering::Greater => ra[1..] == *rb,
        std::cmp::Ordering::Less => *ra == rb[1..],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_edit_covers_swaps_insertions_deletions_and_substitutions() {
        assert!(one_edit_apart("ips", "isp"));
        assert!(one_edit_apart("otpp", "otp"));
        assert!(one_edit_apart("nprotec", "nprotect"));
        assert!(one_edit_apart("xecureveb", "xecureweb"));
        assert!(!one_edit_apart("isp", "isp"));
        assert!(
            !one_edit_apart("ips", "is"),
            "candidates shorter than three letters are noise"
        );
        assert!(!one_edit_apart("abcd", "badc"));
    }
}
