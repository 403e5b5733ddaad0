//! Search result snippets: the window of a section's text that holds the most distinct query terms,
//! HTML-escaped, with the matched text wrapped in `<mark>`. Escaping happens here, once, so every
//! surface (API, pages, widget) can insert a snippet as HTML.
//!
//! Speed: a text is analysed once (`Tokens`, kept by the index for each section shown) and a
//! snippet only asks which of its tokens the query marks, by term id; analysing every hit's text
//! again for every search was most of a search's time.

use super::analysis::analyze;
use crate::pages::escape_into;

/// Longest snippet, in characters.
pub const SNIPPET_CHARS: usize = 120;

/// Characters of context kept before the first match of the window.
const LEAD_CHARS: usize = 24;

/// A token of an analysed text: its term id, and the bytes and characters of the text it covers.
#[derive(Clone, Copy, Debug)]
struct Token {
    term: u32,
    from: u32,
    to: u32,
    from_char: u32,
    to_char: u32,
}

/// The tokens of one text, in order, as term ids, and the text's length in characters: windows
/// are measured in characters, and counting them again for every hit was a fifth of a search.
#[derive(Debug, Default)]
pub struct Tokens {
    tokens: Vec<Token>,
    chars: usize,
}

impl Tokens {
    /// Analyses `text`; `term_id` gives each token's id (the same for equal tokens).
    pub fn of(text: &str, mut term_id: impl FnMut(&str) -> u32) -> Self {
        let mut tokens = Vec::new();
        let mut counted = (0, 0);
        let mut char_at = |byte: usize| {
            // Tokens start in order, so counting goes on from the last position asked for.
            let (from_byte, from_char) = if byte >= counted.0 { counted } else { (0, 0) };
            let at = from_char + text[from_byte..byte].chars().count();
            counted = (byte, at);
            at as u32
        };
        analyze(text, |token, _, from, to| {
            let from_char = char_at(from);
            let to_char = from_char + text[from..to].chars().count() as u32;
            tokens.push(Token {
                term: term_id(token),
                from: from as u32,
                to: to as u32,
                from_char,
                to_char,
            })
        });
        Self {
            tokens,
            chars: text.chars().count(),
        }
    }
}

/// The terms a snippet marks, by id: sorted, and as a bit set, since most tokens of a text are not
/// marked and a bit answers that fastest.
#[derive(Clone, Debug, Default)]
pub struct Marked {
    terms: Vec<u32>,
    bits: Vec<u64>,
}

impl Marked {
    pub fn new(mut terms: Vec<u32>) -> Self {
        terms.sort_unstable();
        terms.dedup();
        let mut bits = vec![0u64; terms.last().map_or(0, |&t| t as usize / 64 + 1)];
        for &t in &terms {
            bits[t as usize / 64] |= 1 << (t % 64);
        }
        Self { terms, bits }
    }

    /// The term's place among the marked ones, if it is marked.
    fn place(&self, term: u32) -> Option<usize> {
        let word = self.bits.get(term as usize / 64)?;
        if word & (1 << (term % 64)) == 0 {
            return None;
        }
        self.terms.binary_search(&term).ok()
    }
}

/// A run of matched tokens, merged where they touch or overlap (bigrams overlap): bytes and
/// characters of the text, and which marked terms it holds (`places[first..last]`).
struct Span {
    from: usize,
    to: usize,
    from_char: usize,
    to_char: usize,
    first: usize,
    last: usize,
}

/// The best window of `text` (analysed as `tokens`) for the `marked` terms, escaped, matches in
/// `<mark>`. Without any match it is the start of the text.
pub fn highlight(text: &str, tokens: &Tokens, marked: &Marked) -> String {
    // A span counts only if it holds a token within one word: a bigram across a space (`이 부` of
    // `잔액이 부족`) only joins words, so a span of nothing else is not a word the reader typed.
    let mut spans: Vec<(Span, bool)> = Vec::new();
    let mut places = Vec::new();
    for token in &tokens.tokens {
        let Some(place) = marked.place(token.term) else {
            continue;
        };
        let (from, to) = (token.from as usize, token.to as usize);
        let within_a_word = !text[from..to].contains(' ');
        match spans.last_mut() {
            Some((last, within)) if from <= last.to => {
                if to > last.to {
                    last.to = to;
                    last.to_char = token.to_char as usize;
                }
                *within |= within_a_word;
                if !places[last.first..].contains(&place) {
                    places.push(place);
                    last.last = places.len();
                }
            }
            _ => {
                places.push(place);
                let span = Span {
                    from,
                    to,
                    from_char: token.from_char as usize,
                    to_char: token.to_char as usize,
                    first: places.len() - 1,
                    last: places.len(),
                };
                spans.push((span, within_a_word));
            }
        }
    }
    let spans: Vec<Span> = spans
        .into_iter()
        .filter_map(|(span, within)| within.then_some(span))
        .collect();
    let total = tokens.chars;
    // The window start (in chars) that covers the most distinct marked terms: for each span, the
    // window opening just before it holds it and the spans after it that end inside the window.
    let mut best = (0usize, 0usize);
    let mut counts = vec![0u32; marked.terms.len()];
    let (mut distinct, mut end) = (0, 0);
    for i in 0..spans.len() {
        let start = spans[i].from_char.saturating_sub(LEAD_CHARS);
        let end_char = start + SNIPPET_CHARS;
        end = end.max(i);
        while end < spans.len() && spans[end].to_char <= end_char {
            for &place in &places[spans[end].first..spans[end].last] {
                counts[place] += 1;
                distinct += usize::from(counts[place] == 1);
            }
            end += 1;
        }
        if distinct > best.1 {
            best = (start, distinct);
        }
        if end > i {
            for &place in &places[spans[i].first..spans[i].last] {
                counts[place] -= 1;
                distinct -= usize::from(counts[place] == 0);
            }
        }
    }
    let start_char = best.0.min(total);
    let end_char = (start_char + SNIPPET_CHARS).min(total);
    // Bytes of the window, walked from the nearest span start that is known in both units.
    let anchor = spans
        .iter()
        .rev()
        .find(|s| s.from_char <= start_char)
        .map_or((0, 0), |s| (s.from, s.from_char));
    let byte_after = |(byte, char): (usize, usize), c: usize| {
        text[byte..]
            .char_indices()
            .nth(c - char)
            .map_or(text.len(), |(b, _)| byte + b)
    };
    let from = byte_after(anchor, start_char);
    let to = byte_after((from, start_char), end_char);
    let mut out = String::with_capacity(to - from + 64);
    if start_char > 0 {
        out.push('…');
    }
    let mut cursor = from;
    for span in spans.iter().filter(|s| s.to > from && s.from < to) {
        let (s, e) = (span.from.max(from), span.to.min(to));
        push_line(&mut out, &text[cursor..s]);
        out.push_str("<mark>");
        push_line(&mut out, &text[s..e]);
        out.push_str("</mark>");
        cursor = e;
    }
    push_line(&mut out, &text[cursor..to]);
    if end_char < total {
        out.push('…');
    }
    out
}

/// `text` escaped onto `out` as one line: a snippet's line breaks become spaces.
fn push_line(out: &mut String, text: &str) {
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        escape_into(out, line);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// `text` highlighted for `terms`, with term ids given in order of appearance.
    fn highlighted(text: &str, terms: &[&str]) -> String {
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut id_of = |token: &str| {
            let next = ids.len() as u32;
            *ids.entry(token.to_string()).or_insert(next)
        };
        let tokens = Tokens::of(text, &mut id_of);
        let marked = Marked::new(terms.iter().map(|t| id_of(t)).collect());
        highlight(text, &tokens, &marked)
    }

    #[test]
    fn marks_matches_and_merges_overlapping_bigrams() {
        let html = highlighted(
            "브라우저의 팝업 차단 기능을 해제하세요.",
            &["팝업", "업차", "차단"],
        );
        assert_eq!(html, "브라우저의 <mark>팝업 차단</mark> 기능을 해제하세요.");
    }

    #[test]
    fn escapes_everything_outside_and_inside_marks() {
        let html = highlighted("<script>alert(1)</script> 쿠키 & 캐시", &["script", "쿠키"]);
        assert_eq!(
            html,
            "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt; <mark>쿠키</mark> &amp; 캐시"
        );
    }

    #[test]
    fn long_text_is_cut_around_the_matches() {
        let text = format!(
            "{}ISP 비밀번호를 잊었어요{}",
            "가".repeat(300),
            "나".repeat(300)
        );
        let html = highlighted(&text, &["isp", "비밀"]);
        assert!(html.starts_with('…') && html.ends_with('…'), "{html}");
        assert!(
            html.contains("<mark>ISP</mark> <mark>비밀</mark>번호"),
            "{html}"
        );
        let without_marks = html.replace("<mark>", "").replace("</mark>", "");
        assert_eq!(without_marks.chars().count(), SNIPPET_CHARS + 2);
    }

    #[test]
    fn the_window_holding_most_distinct_terms_wins() {
        let filler = "다".repeat(200);
        let text = format!("팝업 팝업 팝업 {filler} 팝업 차단 해제 {filler}");
        let html = highlighted(&text, &["팝업", "차단", "해제"]);
        assert!(
            html.contains("<mark>팝업</mark> <mark>차단</mark> <mark>해제</mark>"),
            "{html}"
        );
    }
}
