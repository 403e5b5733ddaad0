//! Search result snippets: the window of a section's text that holds the most distinct query terms,
//! HTML-escaped, with the matched text wrapped in `<mark>`. Escaping happens here, once, so every
//! surface (API, pages, widget) can insert a snippet as HTML.

use std::collections::HashSet;

use super::analysis::analyze;
use crate::pages::escape;

/// Longest snippet, in characters.
pub const SNIPPET_CHARS: usize = 120;

/// Characters of context kept before the first match of the window.
const LEAD_CHARS: usize = 24;

/// The best window of `text` for `terms` (analysed tokens), escaped, matches in `<mark>`. Without any
/// match it is the start of the text.
pub fn highlight(text: &str, terms: &HashSet<String>) -> String {
    // Byte spans of matched tokens, merged where they touch or overlap (bigrams overlap), and
    // whether a span holds a token within one word: a bigram across a space (`이 부` of `잔액이
    // 부족`) only joins words, so a span of nothing else is not a word the reader typed.
    let mut spans: Vec<(usize, usize, String, bool)> = Vec::new();
    analyze(text, |token, _, from, to| {
        if terms.contains(token) {
            let within_a_word = !text[from..to].contains(' ');
            match spans.last_mut() {
                Some(last) if from <= last.1 => {
                    last.1 = last.1.max(to);
                    last.3 |= within_a_word;
                    if !last.2.contains(token) {
                        last.2.push(' ');
                        last.2.push_str(token);
                    }
                }
                _ => spans.push((from, to, token.to_string(), within_a_word)),
            }
        }
    });
    spans.retain(|s| s.3);
    let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let char_at = |byte: usize| starts.partition_point(|&s| s < byte);
    let total = starts.len();
    // Choose the window start (in chars) that covers the most distinct matched tokens.
    let mut best = (0usize, 0usize);
    for (i, span) in spans.iter().enumerate() {
        let start = char_at(span.0).saturating_sub(LEAD_CHARS);
        let end_char = start + SNIPPET_CHARS;
        let mut distinct: HashSet<&str> = HashSet::new();
        for s in &spans[i..] {
            if char_at(s.1) > end_char {
                break;
            }
            distinct.extend(s.2.split(' '));
        }
        if distinct.len() > best.1 {
            best = (start, distinct.len());
        }
    }
    let start_char = best.0.min(total);
    let end_char = (start_char + SNIPPET_CHARS).min(total);
    let byte = |c: usize| starts.get(c).copied().unwrap_or(text.len());
    let (from, to) = (byte(start_char), byte(end_char));
    let mut out = String::new();
    if start_char > 0 {
        out.push('…');
    }
    let mut cursor = from;
    for (s, e, _, _) in spans.iter().filter(|(s, e, _, _)| *e > from && *s < to) {
        let (s, e) = ((*s).max(from), (*e).min(to));
        out.push_str(&escape(&text[cursor..s]));
        out.push_str("<mark>");
        out.push_str(&escape(&text[s..e]));
        out.push_str("</mark>");
        cursor = e;
    }
    out.push_str(&escape(&text[cursor..to]));
    if end_char < total {
        out.push('…');
    }
    out.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(list: &[&str]) -> HashSet<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn marks_matches_and_merges_overlapping_bigrams() {
        let html = highlight(
            "브라우저의 팝업 차단 기능을 해제하세요.",
            &terms(&["팝업", "업차", "차단"]),
        );
        assert_eq!(html, "브라우저의 <mark>팝업 차단</mark> 기능을 해제하세요.");
    }

    #[test]
    fn escapes_everything_outside_and_inside_marks() {
        let html = highlight(
            "<script>alert(1)</script> 쿠키 & 캐시",
            &terms(&["script", "쿠키"]),
        );
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
        let html = highlight(&text, &terms(&["isp", "비밀"]));
        assert!(html.starts_with('…') && html.ends_with('…'), "{html}");
        assert!(
            html.contains("<mark>ISP</mark> <mark>비밀</mark>번호"),
            "{html}"
        );
        let without_marks = html.replace("<mark>", "").replace("</mark>", "");
        assert_eq!(without_marks.chars().count(), SNIPPET_CHARS + 2);
    }
}
