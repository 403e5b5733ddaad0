//! The content team's synonym groups (`synonyms.txt` next to the articles): one group per line,
//! comma-separated, every entry equivalent to the others. A query is scanned for entries, longest
//! first and left to right, with spaces ignored: `일반결제 ISP` is one entry of the ISP group and wins
//! over the shorter `일반결제` (안심클릭), so a multi-word entry acts as a phrase, never as loose words.
//! Latin entries must stand alone (`ie` does not fire inside `client`); Hangul entries may carry
//! particles (`비번을` contains `비번`). When a group is expanded, an entry built on another group's
//! phrase (`일반결제 ISP` contains all of `일반결제`) is left out, since its loose tokens would find
//! the other group's articles.

use aho_corasick::{AhoCorasick, MatchKind};

use super::analysis::{TokenKind, tokens};

/// An entry's analysed tokens, and whether they may stand for the group when it is expanded.
pub struct EntryTokens {
    pub tokens: Vec<(String, TokenKind)>,
    pub expands: bool,
}

/// Groups and the automaton that finds their entries in a query.
pub struct Synonyms {
    /// The analysed tokens of each entry, per group.
    group_tokens: Vec<Vec<EntryTokens>>,
    /// For each automaton pattern: (group, entry within the group).
    patterns: Vec<(usize, usize)>,
    matcher: Option<AhoCorasick>,
}

/// An entry of a group found in a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynonymMatch {
    pub group: usize,
    pub entry: usize,
}

/// A line of `synonyms.txt` that cannot be used, for `help check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynonymProblem {
    pub line: usize,
    pub message: String,
}

/// Lower-cases and drops whitespace; `space_before[i]` remembers whether whitespace preceded char `i`
/// so Latin entries can still be required to stand alone.
fn squash(text: &str) -> (String, Vec<bool>) {
    let mut out = String::with_capacity(text.len());
    let mut space_before = Vec::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        for lower in c.to_lowercase() {
            out.push(lower);
            space_before.push(pending_space);
            pending_space = false;
        }
    }
    (out, space_before)
}

impl Synonyms {
    pub fn empty() -> Self {
        Self::parse("").0
    }

    /// Parses the file; problems (an entry in two groups, a group of one) are returned, not fatal.
    pub fn parse(text: &str) -> (Self, Vec<SynonymProblem>) {
        let mut groups: Vec<Vec<String>> = Vec::new();
        let mut problems = Vec::new();
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entries: Vec<String> = line
                .split(',')
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty())
                .collect();
            if entries.len() < 2 {
                problems.push(SynonymProblem {
                    line: number + 1,
                    message: "a group needs at least two comma-separated entries".into(),
                });
                continue;
            }
            for entry in &entries {
                let key = squash(entry).0;
                if let Some(first) = seen.insert(key, number + 1)
                    && first != number + 1
                {
                    problems.push(SynonymProblem {
                        line: number + 1,
                        message: format!("\"{entry}\" is already in the group on line {first}"),
                    });
                }
            }
            groups.push(entries);
        }
        (Self::from_groups(groups), problems)
    }

    fn from_groups(groups: Vec<Vec<String>>) -> Self {
        let mut patterns = Vec::new();
        let mut keys = Vec::new();
        for (g, entries) in groups.iter().enumerate() {
            for (e, entry) in entries.iter().enumerate() {
                let key = squash(entry).0;
                if !key.is_empty() {
                    keys.push(key);
                    patterns.push((g, e));
                }
            }
        }
        let matcher = (!keys.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&keys)
                .expect("synonym entries are plain strings")
        });
        let analysed: Vec<Vec<Vec<(String, TokenKind)>>> = groups
            .iter()
            .map(|entries| entries.iter().map(|e| tokens(e)).collect())
            .collect();
        let contains_all = |outer: &[(String, TokenKind)], inner: &[(String, TokenKind)]| {
            inner.iter().all(|t| outer.contains(t))
        };
        let group_tokens = analysed
            .iter()
            .enumerate()
            .map(|(g, entries)| {
                entries
                    .iter()
                    .map(|entry| EntryTokens {
                        tokens: entry.clone(),
                        expands: !analysed.iter().enumerate().any(|(other, others)| {
                            other != g
                                && others
                                    .iter()
                                    .any(|o| o.len() >= 2 && contains_all(entry, o))
                        }),
                    })
                    .collect()
            })
            .collect();
        Self {
            group_tokens,
            patterns,
            matcher,
        }
    }

    /// Entries of the groups found in `query`, leftmost-longest and non-overlapping.
    pub fn find(&self, query: &str) -> Vec<SynonymMatch> {
        let Some(matcher) = &self.matcher else {
            return Vec::new();
        };
        let (squashed, space_before) = squash(query);
        let chars: Vec<(usize, char)> = squashed.char_indices().collect();
        let char_index = |byte: usize| chars.partition_point(|(at, _)| *at < byte);
        let is_latin = |c: char| c.is_ascii_alphanumeric();
        let mut found = Vec::new();
        for m in matcher.find_iter(&squashed) {
            let (start, end) = (char_index(m.start()), char_index(m.end()));
            let first = chars[start].1;
            let last = chars[end - 1].1;
            let stands_alone_left = !is_latin(first)
                || start == 0
                || space_before[start]
                || !is_latin(chars[start - 1].1);
            let stands_alone_right = !is_latin(last)
                || end == chars.len()
                || space_before[end]
                || !is_latin(chars[end].1);
            if stands_alone_left && stands_alone_right {
                let (group, entry) = self.patterns[m.pattern().as_usize()];
                found.push(SynonymMatch { group, entry });
            }
        }
        found
    }

    /// The analysed tokens of each entry of `group`, in file order (`SynonymMatch::entry` indexes it).
    pub fn tokens_of(&self, group: usize) -> &[EntryTokens] {
        &self.group_tokens[group]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# comment\n안전결제, ISP, 일반결제ISP, 일반결제 ISP\n안심클릭, 일반결제\n\
                        비번, 비밀번호\n인터넷 익스플로러, IE\n폰, 휴대폰, 스마트폰\n";

    fn groups_found(query: &str) -> Vec<usize> {
        let (synonyms, problems) = Synonyms::parse(FILE);
        assert!(problems.is_empty(), "{problems:?}");
        synonyms.find(query).into_iter().map(|m| m.group).collect()
    }

    #[test]
    fn multi_word_entries_match_as_phrases() {
        assert_eq!(groups_found("일반결제 ISP 비번"), [0, 2]);
        assert_eq!(groups_found("일반결제ISP"), [0]);
        assert_eq!(groups_found("일반결제 비밀번호"), [1, 2]);
    }

    #[test]
    fn latin_entries_stand_alone_and_hangul_entries_take_particles() {
        assert_eq!(groups_found("client"), Vec::<usize>::new());
        assert_eq!(groups_found("ie 설정"), [3]);
        assert_eq!(groups_found("isp로 결제"), [0]);
        assert_eq!(groups_found("비번을 잊었어요"), [2]);
        assert_eq!(groups_found("휴대폰으로"), [4]);
    }

    #[test]
    fn phrases_built_on_another_group_do_not_expand() {
        let (synonyms, _) = Synonyms::parse(FILE);
        let expanding: Vec<bool> = synonyms.tokens_of(0).iter().map(|e| e.expands).collect();
        // 안전결제, ISP expand; 일반결제ISP and 일반결제 ISP carry all of 일반결제 (안심클릭).
        assert_eq!(expanding, [true, true, false, false]);
        assert!(synonyms.tokens_of(1).iter().all(|e| e.expands));
    }

    #[test]
    fn problems_name_the_line() {
        let (_, problems) = Synonyms::parse("a, b\nc\nB, d\n");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].line, 2);
        assert_eq!(problems[1].line, 3);
        assert!(problems[1].message.contains("line 1"), "{problems:?}");
    }
}
