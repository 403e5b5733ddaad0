//! Korean text analysis that works offline, for both indexing and queries. Dictionary analysers
//! (lindera, charabia) download their dictionaries at build time, which this machine cannot do, so
//! Hangul is cut into overlapping syllable bigrams instead: `결제창이` → `결제`, `제창`, `창이`. Korean
//! attaches particles and endings to words and spaces words inconsistently, and bigrams survive both
//! (`팝업차단` and `팝업 차단` share `팝업` and `차단`). A bigram is also emitted across a single space
//! (`팝업 차단` → `업차`), so a spaced query still meets unspaced text. A Hangul run of one syllable is
//! kept as a unigram (`폰`, `창`). Latin letters and digits form lower-cased words (`isp`, `3factor`).

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The name the tokenizer is registered under in the tantivy index.
pub const TOKENIZER_NAME: &str = "ko_bigram";

/// Whether a token came from Hangul or from a Latin/digit word. Only Latin words get typo tolerance:
/// a one-letter slip in `isp` is a typo, while a different syllable changes a Korean word entirely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Hangul,
    Word,
}

fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !is_hangul(c)
}

/// A run of Hangul syllables or of word characters, as byte offsets into the text.
struct Run {
    kind: TokenKind,
    start: usize,
    end: usize,
}

fn runs(text: &str) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for (i, c) in text.char_indices() {
        let kind = if is_hangul(c) {
            TokenKind::Hangul
        } else if is_word_char(c) {
            TokenKind::Word
        } else {
            continue;
        };
        match runs.last_mut() {
            Some(run) if run.kind == kind && run.end == i => run.end = i + c.len_utf8(),
            _ => runs.push(Run {
                kind,
                start: i,
                end: i + c.len_utf8(),
            }),
        }
    }
    runs
}

/// Calls `emit(token, kind, from, to)` for every token of `text`, in order; `from..to` are byte offsets
/// of the text the token covers (for highlighting).
pub fn analyze(text: &str, mut emit: impl FnMut(&str, TokenKind, usize, usize)) {
    let mut token = String::new();
    let mut previous: Option<&Run> = None;
    let runs = runs(text);
    for run in &runs {
        let piece = &text[run.start..run.end];
        match run.kind {
            TokenKind::Word => {
                token.clear();
                token.extend(piece.chars().flat_map(char::to_lowercase));
                emit(&token, TokenKind::Word, run.start, run.end);
            }
            TokenKind::Hangul => {
                if let Some(prev) = previous
                    .filter(|p| p.kind == TokenKind::Hangul && &text[p.end..run.start] == " ")
                {
                    let (last_at, last) = text[prev.start..prev.end]
                        .char_indices()
                        .last()
                        .expect("runs are never empty");
                    let first = piece.chars().next().expect("runs are never empty");
                    token.clear();
                    token.push(last);
                    token.push(first);
                    emit(
                        &token,
                        TokenKind::Hangul,
                        prev.start + last_at,
                        run.start + first.len_utf8(),
                    );
                }
                let chars: Vec<(usize, char)> = piece.char_indices().collect();
                if chars.len() == 1 {
                    emit(piece, TokenKind::Hangul, run.start, run.end);
                }
                for pair in chars.windows(2) {
                    let (at, a) = pair[0];
                    let (next_at, b) = pair[1];
                    token.clear();
                    token.push(a);
                    token.push(b);
                    emit(
                        &token,
                        TokenKind::Hangul,
                        run.start + at,
                        run.start + next_at + b.len_utf8(),
                    );
                }
            }
        }
        previous = Some(run);
    }
}

/// Particles, endings and their two-syllable pieces (`니다` of `합니다`, `세요` of `하세요`): glue
/// that Korean attaches to every word. They say nothing about what a person is looking for, so a
/// snippet never marks them, and a query weighs them lightly.
pub(super) const FUNCTION_TOKENS: &[&str] = &[
    // Particles, standing alone as one-syllable runs.
    "은", "는", "이", "가", "을", "를", "에", "의", "도", "로", "와", "과", "요", "만", "께", "서",
    "고", "며", "나", "랑", "한", "할", "해", "돼", "되", "된", "안", "못", "좀", "왜", "뭐", "더",
    // Endings and the bigrams that cut through them.
    "니다", "합니", "습니", "됩니", "입니", "었습", "았습", "했습", "있습", "없습", "세요", "하세",
    "주세", "해요", "어요", "아요", "에요", "예요", "나요", "까요", "군요", "네요", "데요", "래요",
    "대요", "는데", "은데", "어서", "아서", "해서", "하고", "하는", "하다", "했어", "었어", "았어",
    "에서", "으로", "에게", "한테", "까지", "부터", "이나", "이요", "이에", "이라", "라고", "다고",
    "되요", "돼요", "되나", "하나", "해야", "하면", "려면", "으면", "는지", "인지", "나와", "와요",
];

/// Whether `token` is a particle or ending (see `FUNCTION_TOKENS`).
pub fn is_function_token(token: &str) -> bool {
    FUNCTION_TOKENS.contains(&token)
}

/// The tokens of `text` as strings, in order (duplicates kept).
pub fn tokens(text: &str) -> Vec<(String, TokenKind)> {
    let mut out = Vec::new();
    analyze(text, |token, kind, _, _| {
        out.push((token.to_string(), kind))
    });
    out
}

/// The analyser as a tantivy tokenizer, so the index and the queries cut text identically.
#[derive(Clone, Default)]
pub struct KoreanBigramTokenizer;

pub struct BufferedTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for KoreanBigramTokenizer {
    type TokenStream<'a> = BufferedTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> BufferedTokenStream {
        let mut tokens = Vec::new();
        analyze(text, |token, _, from, to| {
            tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position: tokens.len(),
                text: token.to_string(),
                position_length: 1,
            })
        });
        BufferedTokenStream { tokens, next: 0 }
    }
}

impl TokenStream for BufferedTokenStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<String> {
        tokens(text).into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn hangul_becomes_bigrams_also_across_one_space() {
        assert_eq!(texts("팝업차단"), ["팝업", "업차", "차단"]);
        assert_eq!(texts("팝업 차단"), ["팝업", "업차", "차단"]);
        // Two spaces or punctuation end a phrase: no bigram across them.
        assert_eq!(texts("팝업.차단"), ["팝업", "차단"]);
        assert_eq!(texts("팝업  차단"), ["팝업", "차단"]);
    }

    #[test]
    fn single_syllables_stay_and_latin_words_are_lower_cased() {
        assert_eq!(texts("폰 ISP로"), ["폰", "isp", "로"]);
        assert_eq!(texts("3Factor 인증"), ["3factor", "인증"]);
        assert_eq!(texts("S/N 1577-3033"), ["s", "n", "1577", "3033"]);
    }

    #[test]
    fn offsets_cover_the_source_text() {
        let text = "팝업 차단을";
        let mut covered = Vec::new();
        analyze(text, |_, _, from, to| covered.push(&text[from..to]));
        assert_eq!(covered, ["팝업", "업 차", "차단", "단을"]);
    }

    #[test]
    fn the_tantivy_tokenizer_emits_the_same_tokens() {
        let mut tokenizer = KoreanBigramTokenizer;
        let mut stream = tokenizer.token_stream("결제창이 안 떠요");
        let mut seen = Vec::new();
        while let Some(token) = stream.next() {
            seen.push(token.text.clone());
        }
        assert_eq!(seen, texts("결제창이 안 떠요"));
        assert_eq!(seen, ["결제", "제창", "창이", "이안", "안", "안떠", "떠요"]);
    }
}
