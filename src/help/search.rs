//! The search index of the help articles. tantivy indexes them in RAM, one document per part of an
//! article: its head (title, tags, error patterns, summary and the intro) and each `##` section
//! (heading and body). Queries are an OR of weighted terms (the query's own tokens, synonym
//! expansions and typo corrections) over the fields with boosts title > tags > heading > body, ranked
//! by BM25. Matches are grouped by article while scoring: an article scores its head plus its best
//! section, so title and section evidence add up without copying the title into every section, and
//! the hit points at that section.
//!
//! Speed: the index never changes once built, so the build also copies out of tantivy what a search
//! reads: for every (term, field) its documents, each with BM25's term-frequency factor computed as
//! tantivy computes it. A search then costs one hash lookup per term and a pass over the postings it
//! reads. tantivy's own query path has a fixed cost per clause whatever the index size (two term
//! dictionary lookups, a 256-entry BM25 table and an explanation per clause, a scorer and a
//! 4,096-document buffer per query), and on the shipped articles that fixed cost was most of a
//! search. The scores are tantivy's, bit for bit: the same formulas (a test checks them against
//! tantivy's `Bm25Weight`), added up in the same order.
//!
//! Recombined or very uniform knowledge bases make every term common, and scoring cost grows with
//! the postings read. Clauses are therefore taken most informative first (weight × boost × IDF, the
//! most a clause can add to a score) until a postings budget is spent; the clauses left out are the
//! frequent, low-IDF ones that barely move a ranking. On the shipped articles the budget is never
//! reached.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::Postings as _;
use tantivy::schema::{FAST, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::{
    DocId, DocSet, Index, IndexWriter, ReloadPolicy, Score, TERMINATED, TantivyDocument,
};

use super::HelpError;
use super::analysis::{
    FUNCTION_TOKENS, KoreanBigramTokenizer, TOKENIZER_NAME, TokenKind, analyze, is_function_token,
    tokens,
};
use super::article::{Audience, ErrorPattern};
use super::catalog::Catalog;
use super::synonyms::Synonyms;
use crate::domain::CARD_COMPANIES;

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
/// Weight of a particle or ending the shopper typed (`니다`, `세요`): kept, so a query of nothing
/// else still finds something, but too light to decide a ranking.
const FUNCTION_WEIGHT: f32 = 0.2;
/// Weight of the card family (ISP or 안심클릭) a card company named in the query belongs to.
const FAMILY_WEIGHT: f32 = 0.5;
const ISP_FAMILY: &str = "ISP";
const ANSIMCLICK_FAMILY: &str = "안심클릭";
/// Company names that are everyday words too (`우리` "we", `하나` "one"): only with `카드` after them.
const AMBIGUOUS_COMPANY_NAMES: &[&str] = &["우리", "하나"];

/// The family of the card company a query names (`신한카드`, `국민`, `kb`): `Some(true)` for ISP,
/// `Some(false)` for 안심클릭; `None` when it names none, or companies of both.
pub(super) fn card_family(query: &str) -> Option<bool> {
    let squashed: String = query
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    let mut found = None;
    for company in &CARD_COMPANIES {
        let name = company.name.split('(').next().unwrap_or(company.name);
        if !name.chars().all(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c)) {
            continue;
        }
        let named = squashed
            .match_indices(name)
            .any(|(at, _)| squashed[at + name.len()..].starts_with("카드"))
            || (!AMBIGUOUS_COMPANY_NAMES.contains(&name) && squashed.contains(name));
        if named {
            match found {
                Some(isp) if isp != company.isp => return None,
                _ => found = Some(company.isp),
            }
        }
    }
    // The Latin names shoppers use for the two ISP companies.
    let mut latin_isp = false;
    analyze(query, |token, kind, _, _| {
        latin_isp |=
            kind == TokenKind::Word && (token == "kb" || token == "bc" || token.starts_with("kb"));
    });
    if latin_isp {
        match found {
            Some(false) => return None,
            _ => found = Some(true),
        }
    }
    found
}

/// Latin words shorter than this are not corrected: two letters have too many neighbours.
const MIN_TYPO_LEN: usize = 3;
/// Most terms one query may expand to; a pasted page of text must not make a search slow.
const MAX_TERMS: usize = 48;
/// Postings a query may read (the sum of its clauses' document frequencies): about 10 ns each, so
/// this bounds a search of a large knowledge base to a few hundred microseconds.
const POSTINGS_BUDGET: u64 = 20_000;
/// Clauses kept however common, so a query of common words still finds something.
const MIN_CLAUSES: usize = 1;
/// The `section` of an article's head document in the document keys.
const HEAD: u32 = u32::MAX;

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

/// A matching article: its index in the catalog, its best `##` section (an index into
/// `Article::sections`; `None` when only the head matched) and its score.
#[derive(Clone, Copy, Debug)]
pub struct ArticleMatch {
    pub article: usize,
    pub section: Option<usize>,
    pub score: f32,
}

/// BM25's parameters, tantivy's (`query/bm25.rs`): the compiled postings must score as it does.
const K1: Score = 1.2;
const B: Score = 0.75;

/// The text fields in the order of `FIELD_BOOSTS` and of `TermPostings`.
struct Fields {
    title: Field,
    tags: Field,
    heading: Field,
    body: Field,
    key: Field,
}

impl Fields {
    fn text(&self) -> [Field; 4] {
        [self.title, self.tags, self.heading, self.body]
    }
}

const FIELD_BOOSTS: [f32; 4] = [TITLE_BOOST, TAGS_BOOST, HEADING_BOOST, BODY_BOOST];

/// The documents holding one term in one field, ascending, each with BM25's term-frequency factor
/// `tf / (tf + k1 · (1 − b + b · length / average length))`.
#[derive(Default)]
struct Postings {
    docs: Vec<DocId>,
    tf_factors: Vec<Score>,
}

/// A term's postings in each text field, in `Fields::text` order.
type TermPostings = [Postings; 4];

/// tantivy's inverse document frequency: `ln(1 + (N − n + 0.5) / (n + 0.5))`.
fn idf(doc_freq: u64, doc_count: u64) -> Score {
    let x = ((doc_count - doc_freq) as Score + 0.5) / (doc_freq as Score + 0.5);
    (1.0 + x).ln()
}

/// tantivy's length normalisation of a document, by its field-norm id (the encoded length).
fn length_norm(fieldnorm_id: u8, average_fieldnorm: Score) -> Score {
    let fieldnorm = FieldNormReader::id_to_fieldnorm(fieldnorm_id) as Score;
    K1 * (1.0 - B + B * fieldnorm / average_fieldnorm)
}

pub struct SearchIndex {
    /// Every term of the text fields, by text: its id, an index into `postings`.
    term_ids: HashMap<String, u32>,
    postings: Vec<TermPostings>,
    /// (article, section or `HEAD`) of every document.
    doc_keys: Vec<(u32, u32)>,
    /// The audiences of every document's article, as `audience_bit`s.
    doc_audiences: Vec<u8>,
    articles: usize,
    /// Latin words of the articles, for typo correction (ordered, so expansions are deterministic).
    vocabulary: BTreeSet<String>,
    /// Ids of the particles and endings the articles use (`FUNCTION_TOKENS`), sorted: snippets
    /// look every query term up here, which string comparisons made a tenth of a search.
    function_terms: Vec<u32>,
    stats: IndexStats,
}

fn audience_bit(audience: Audience) -> u8 {
    match audience {
        Audience::Shopper => 1,
        Audience::Developer => 2,
        Audience::Agent => 4,
    }
}

fn pack(article: usize, section: u32) -> u64 {
    ((article as u64) << 32) | u64::from(section)
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
            let mut head = TantivyDocument::new();
            head.add_text(fields.title, &article.title);
            for tag in &article.tags {
                head.add_text(fields.tags, tag);
            }
            for pattern in &article.error_patterns {
                if let ErrorPattern::Contains(text) = pattern {
                    head.add_text(fields.tags, text);
                }
            }
            head.add_text(fields.body, &article.summary);
            for (s, section) in article.sections.iter().enumerate() {
                learn(&section.text);
                let Some(heading) = &section.heading else {
                    // The intro belongs to the head.
                    head.add_text(fields.body, &section.text);
                    continue;
                };
                learn(heading);
                let mut doc = TantivyDocument::new();
                doc.add_text(fields.heading, heading);
                doc.add_text(fields.body, &section.text);
                doc.add_u64(fields.key, pack(a, s as u32));
                writer.add_document(doc)?;
                sections += 1;
            }
            head.add_u64(fields.key, pack(a, HEAD));
            writer.add_document(head)?;
        }
        writer.commit()?;
        // One segment, so document ids are the index's own; the index never changes after this.
        let segments = index.searchable_segment_ids()?;
        if segments.len() > 1 {
            writer.merge(&segments).wait()?;
        }
        writer.wait_merging_threads()?;
        let searcher = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?
            .searcher();
        let mut term_ids: HashMap<String, u32> = HashMap::new();
        let mut postings: Vec<TermPostings> = Vec::new();
        let mut doc_keys = Vec::new();
        let mut terms = 0;
        if let Some(segment) = searcher.segment_readers().first() {
            let column = segment.fast_fields().u64("key")?;
            doc_keys = (0..segment.max_doc())
                .map(|doc| unpack(column.first(doc).unwrap_or_default()))
                .collect();
            let docs = u64::from(segment.max_doc());
            for (f, field) in fields.text().into_iter().enumerate() {
                let inverted = segment.inverted_index(field)?;
                let lengths = segment.get_fieldnorms_reader(field)?;
                let average = inverted.total_num_tokens() as Score / docs as Score;
                let norms: Vec<Score> = (0..=u8::MAX).map(|id| length_norm(id, average)).collect();
                terms += inverted.terms().num_terms() as u64;
                let mut stream = inverted.terms().stream()?;
                while stream.advance() {
                    let Ok(term) = std::str::from_utf8(stream.key()) else {
                        continue; // the analyser only emits text
                    };
                    let id = *term_ids.entry(term.to_string()).or_insert_with(|| {
                        postings.push(TermPostings::default());
                        (postings.len() - 1) as u32
                    });
                    let entry = &mut postings[id as usize][f];
                    let mut docs = inverted.read_postings_from_terminfo(
                        stream.value(),
                        IndexRecordOption::WithFreqs,
                    )?;
                    while docs.doc() != TERMINATED {
                        let tf = docs.term_freq() as Score;
                        let norm = norms[usize::from(lengths.fieldnorm_id(docs.doc()))];
                        entry.docs.push(docs.doc());
                        entry.tf_factors.push(tf / (tf + norm));
                        docs.advance();
                    }
                }
            }
        }
        let doc_audiences = doc_keys
            .iter()
            .map(|&(article, _)| {
                catalog.articles()[article as usize]
                    .audience
                    .iter()
                    .fold(0, |bits, &audience| bits | audience_bit(audience))
            })
            .collect();
        let stats = IndexStats {
            articles: catalog.articles().len(),
            sections,
            terms,
            build_micros: started.elapsed().as_micros() as u64,
        };
        let mut function_terms: Vec<u32> = FUNCTION_TOKENS
            .iter()
            .filter_map(|t| term_ids.get(*t).copied())
            .collect();
        function_terms.sort_unstable();
        Ok(Self {
            function_terms,
            term_ids,
            postings,
            doc_keys,
            doc_audiences,
            articles: catalog.articles().len(),
            vocabulary,
            stats,
        })
    }

    pub fn stats(&self) -> IndexStats {
        self.stats
    }

    /// Whether the term of `id` is a particle or ending (`is_function_token`).
    pub fn is_function_term(&self, id: u32) -> bool {
        self.function_terms.binary_search(&id).is_ok()
    }

    /// The id of a term the articles use; `None` for a term they never use.
    pub fn term_id(&self, term: &str) -> Option<u32> {
        self.term_ids.get(term).copied()
    }

    /// The weighted terms of a query: its own tokens (weight 1), the entries of synonym groups it
    /// contains, the card family it names (`card_family(query)`, passed in because the caller
    /// needs it too), and corrections of Latin words the articles never use.
    pub fn query_terms(
        &self,
        query: &str,
        synonyms: &Synonyms,
        family: Option<bool>,
    ) -> Vec<WeightedTerm> {
        let mut terms = TermBag(Vec::new());
        let typed = tokens(query);
        for (token, _) in &typed {
            let weight = if is_function_token(token) {
                FUNCTION_WEIGHT
            } else {
                1.0
            };
            terms.add(token, weight);
        }
        expand_synonyms(query, synonyms, 1.0, &mut terms);
        if let Some(isp) = family {
            // 신한카드 or 국민카드 says which authentication the window used: steer to its articles.
            let family = if isp { ISP_FAMILY } else { ANSIMCLICK_FAMILY };
            for (token, _) in tokens(family) {
                terms.add(&token, FAMILY_WEIGHT);
            }
        }
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

    /// The clauses worth reading for `terms`, each a (term, field)'s postings with the weight its
    /// BM25 score is multiplied by: every one that occurs, most informative first, until the
    /// postings budget is spent.
    fn clauses(&self, terms: &[WeightedTerm]) -> Vec<(&Postings, Score)> {
        let doc_count = self.doc_keys.len() as u64;
        let docs = doc_count as f32;
        let mut candidates: Vec<(f32, u64, &Postings, f32)> = Vec::new();
        for term in terms {
            let Some(fields) = self
                .term_id(&term.text)
                .map(|id| &self.postings[id as usize])
            else {
                continue;
            };
            for (postings, boost) in fields.iter().zip(FIELD_BOOSTS) {
                let df = postings.docs.len() as u64;
                if df == 0 {
                    continue;
                }
                let idf = (1.0 + (docs - df as f32 + 0.5) / (df as f32 + 0.5)).ln();
                let weight = boost * term.weight;
                candidates.push((weight * idf, df, postings, weight));
            }
        }
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut spent = 0;
        let mut clauses = Vec::new();
        for (_, df, postings, weight) in candidates {
            if clauses.len() >= MIN_CLAUSES && spent + df > POSTINGS_BUDGET {
                continue;
            }
            spent += df;
            // As tantivy weighs a boosted term query: idf · (1 + k1), times the boost.
            clauses.push((postings, idf(df, doc_count) * (1.0 + K1) * weight));
        }
        clauses
    }

    /// The best `limit` articles for `terms` that `reader` may see, best first.
    pub fn search(
        &self,
        terms: &[WeightedTerm],
        reader: Audience,
        limit: usize,
    ) -> Vec<ArticleMatch> {
        let clauses = self.clauses(terms);
        if clauses.is_empty() || limit == 0 {
            return Vec::new();
        }
        // A document's score is the sum of its clauses' scores, added in clause order as tantivy's
        // union adds them, so equal inputs give equal sums.
        let mut scores = vec![0.0; self.doc_keys.len()];
        let mut matched = vec![0u64; self.doc_keys.len().div_ceil(64)];
        for (postings, weight) in clauses {
            for (&doc, &tf_factor) in postings.docs.iter().zip(&postings.tf_factors) {
                scores[doc as usize] += weight * tf_factor;
                matched[doc as usize / 64] |= 1 << (doc % 64);
            }
        }
        // Agents see every article; anyone else only the articles written for them.
        let visible = match reader {
            Audience::Agent => u8::MAX,
            other => audience_bit(other),
        };
        let mut tallies = vec![EMPTY; self.articles];
        let mut touched = Vec::new();
        for (word, &bits) in matched.iter().enumerate() {
            let mut bits = bits;
            while bits != 0 {
                let doc = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if self.doc_audiences[doc] & visible == 0 {
                    continue;
                }
                let (article, section) = self.doc_keys[doc];
                let tally = &mut tallies[article as usize];
                if !tally.seen {
                    tally.seen = true;
                    touched.push(article);
                }
                // In document order, so among equal sections the first one wins.
                let score = scores[doc];
                if section == HEAD {
                    tally.head = score;
                } else if score > tally.section_score {
                    tally.section_score = score;
                    tally.section = section;
                }
            }
        }
        let mut found: Vec<ArticleMatch> = touched
            .into_iter()
            .map(|article| tallies[article as usize].into_match(article))
            .collect();
        let by_score = |a: &ArticleMatch, b: &ArticleMatch| {
            b.score.total_cmp(&a.score).then(a.article.cmp(&b.article))
        };
        if found.len() > limit {
            found.select_nth_unstable_by(limit - 1, by_score);
            found.truncate(limit);
        }
        found.sort_by(by_score);
        found
    }
}

/// Per article: head score, best section score, best section (or `HEAD`).
#[derive(Clone, Copy)]
struct Tally {
    seen: bool,
    head: Score,
    section_score: Score,
    section: u32,
}

const EMPTY: Tally = Tally {
    seen: false,
    head: 0.0,
    section_score: 0.0,
    section: HEAD,
};

impl Tally {
    fn into_match(self, article: u32) -> ArticleMatch {
        ArticleMatch {
            article: article as usize,
            section: (self.section != HEAD).then_some(self.section as usize),
            score: self.head + self.section_score,
        }
    }
}

/// Terms with their highest weight, in the order first seen. A list, not a map: a query has a
/// few dozen terms, which a scan finds faster than hashing them.
struct TermBag(Vec<WeightedTerm>);

impl TermBag {
    fn add(&mut self, term: &str, weight: f32) {
        match self.0.iter_mut().find(|t| t.text == term) {
            Some(t) => t.weight = t.weight.max(weight),
            None => self.0.push(WeightedTerm {
                text: term.to_string(),
                weight,
            }),
        }
    }

    /// The heaviest `MAX_TERMS` terms, keeping the order in which they were seen among equals.
    fn into_terms(self) -> Vec<WeightedTerm> {
        let mut terms = self.0;
        terms.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        terms.truncate(MAX_TERMS);
        terms
    }
}

/// Adds the tokens of every synonym group found in `text`: the found entry at `weight`, the rest of
/// its group that may expand at `weight * SYNONYM_WEIGHT`.
fn expand_synonyms(text: &str, synonyms: &Synonyms, weight: f32, terms: &mut TermBag) {
    for found in synonyms.find(text) {
        for (e, entry) in synonyms.tokens_of(found.group).iter().enumerate() {
            let w = if e == found.entry {
                weight
            } else if entry.expands {
                weight * SYNONYM_WEIGHT
            } else {
                continue;
            };
            for (token, _) in &entry.tokens {
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
    fn card_companies_in_a_query_name_their_family() {
        assert_eq!(card_family("신한카드 결제가 안돼요"), Some(false));
        assert_eq!(card_family("국민 카드 비번"), Some(true));
        assert_eq!(card_family("kb카드 오류"), Some(true));
        assert_eq!(card_family("우리카드"), Some(true));
        assert_eq!(card_family("우리 아이 옷 결제"), None);
        assert_eq!(card_family("현대카드랑 국민카드 둘 다 안돼요"), None);
        assert_eq!(card_family("팝업 차단"), None);
    }

    #[test]
    fn compiled_postings_score_as_tantivy_does() {
        use tantivy::query::Bm25Weight;
        for (df, docs, average) in [(1, 139, 7.3), (57, 139, 41.9), (3_000, 60_090, 12.0)] {
            for boost in [0.2 * 1.5, 0.6, 1.0, 3.0 * 0.8] {
                let tantivy =
                    Bm25Weight::for_one_term_without_explain(df, docs, average).boost_by(boost);
                let weight = idf(df, docs) * (1.0 + K1) * boost;
                for fieldnorm_id in [0, 1, 17, 90, 255] {
                    for tf in [1, 2, 9] {
                        let tf_factor =
                            tf as Score / (tf as Score + length_norm(fieldnorm_id, average));
                        assert_eq!(
                            (weight * tf_factor).to_bits(),
                            tantivy.score(fieldnorm_id, tf).to_bits(),
                            "df {df}, boost {boost}, fieldnorm id {fieldnorm_id}, tf {tf}"
                        );
                    }
                }
            }
        }
    }

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
