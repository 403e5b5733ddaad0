//! All articles of a help folder, checked together: what `paydesk help check` reports (per-file
//! problems from `article`, then duplicate slugs, unknown `related`, broken internal links, synonym
//! problems and suggest rules pointing at sections that do not exist) and what the index is built
//! from. The catalog also ranks articles by how many others link to them, the "most useful" order
//! used when nothing matches a search.

use std::collections::HashMap;
use std::fmt;

use super::article::{self, Article};
use super::source::{SYNONYMS_FILE, SourceFile};
use super::synonyms::Synonyms;

/// One problem, reported as `file: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

/// Checked articles and synonyms.
pub struct Catalog {
    articles: Vec<Article>,
    by_slug: HashMap<String, usize>,
    pub synonyms: Synonyms,
    /// Article indexes, most linked-to first.
    popular: Vec<usize>,
}

impl Catalog {
    /// Parses and checks every file; `required_sections` are the `/help/{slug}#{anchor}` targets the
    /// program itself links to (suggest rules), which must exist too.
    pub fn load(files: &[SourceFile], required_sections: &[(&str, &str)]) -> (Self, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut articles: Vec<Article> = Vec::new();
        let mut by_slug = HashMap::new();
        for file in files.iter().filter(|f| f.is_article()) {
            let (article, messages) = article::parse(&file.name, &file.text);
            problems.extend(messages.into_iter().map(|message| Problem {
                file: file.name.clone(),
                message,
            }));
            let Some(article) = article else { continue };
            if let Some(&first) = by_slug.get(&article.slug) {
                let first: &Article = &articles[first];
                problems.push(Problem {
                    file: file.name.clone(),
                    message: format!(
                        "duplicate slug {:?}, also used by {}",
                        article.slug, first.file
                    ),
                });
                continue;
            }
            by_slug.insert(article.slug.clone(), articles.len());
            articles.push(article);
        }
        if articles.is_empty() {
            problems.push(Problem {
                file: "(folder)".into(),
                message: "no articles (*.md files other than README.md)".into(),
            });
        }
        let synonyms = match files.iter().find(|f| f.name == SYNONYMS_FILE) {
            Some(file) => {
                let (synonyms, synonym_problems) = Synonyms::parse(&file.text);
                problems.extend(synonym_problems.into_iter().map(|p| Problem {
                    file: format!("{SYNONYMS_FILE}:{}", p.line),
                    message: p.message,
                }));
                synonyms
            }
            None => Synonyms::empty(),
        };
        let mut catalog = Self {
            articles,
            by_slug,
            synonyms,
            popular: Vec::new(),
        };
        catalog.check_references(required_sections, &mut problems);
        catalog.rank_by_links();
        (catalog, problems)
    }

    fn check_references(&self, required_sections: &[(&str, &str)], problems: &mut Vec<Problem>) {
        for article in &self.articles {
            let mut report = |message: String| {
                problems.push(Problem {
                    file: article.file.clone(),
                    message,
                })
            };
            for related in &article.related {
                if related == &article.slug {
                    report("related lists the article itself".into());
                } else if self.get(related).is_none() {
                    report(format!("related {related:?} is not an article"));
                }
            }
            for link in &article.links {
                if let Some(message) = self.broken_link(article, link) {
                    report(message);
                }
            }
        }
        for (slug, anchor) in required_sections {
            let target = format!("/help/{slug}#{anchor}");
            if self.get(slug).is_none_or(|a| !a.has_anchor(anchor)) {
                problems.push(Problem {
                    file: "(suggest rules)".into(),
                    message: format!("paydesk links to {target}, which does not exist"),
                });
            }
        }
    }

    /// Why an internal link (`/help/slug#anchor` or `#anchor`) leads nowhere, if it does.
    fn broken_link(&self, from: &Article, link: &str) -> Option<String> {
        let (target, anchor) = if let Some(anchor) = link.strip_prefix('#') {
            (from, Some(anchor))
        } else {
            let path = link.strip_prefix("/help/")?;
            let (slug, anchor) = match path.split_once('#') {
                Some((slug, anchor)) => (slug, Some(anchor)),
                None => (path, None),
            };
            match self.get(slug.trim_end_matches('/')) {
                Some(target) => (target, anchor),
                None => return Some(format!("broken link {link}: no article {slug:?}")),
            }
        };
        match anchor {
            Some(anchor) if !target.has_anchor(anchor) => Some(format!(
                "broken link {link}: {} has no section #{anchor}",
                target.slug
            )),
            _ => None,
        }
    }

    /// Most useful first: articles that many others link to (checklists, the help line) answer the
    /// widest range of problems, which makes them the best answer when nothing else matches.
    fn rank_by_links(&mut self) {
        let mut inbound = vec![0usize; self.articles.len()];
        for article in &self.articles {
            let mut targets: Vec<usize> = article
                .links
                .iter()
                .filter_map(|l| l.strip_prefix("/help/"))
                .map(|l| l.split('#').next().unwrap_or_default())
                .chain(article.related.iter().map(String::as_str))
                .filter_map(|slug| self.by_slug.get(slug).copied())
                .filter(|&i| self.articles[i].slug != article.slug)
                .collect();
            targets.sort_unstable();
            targets.dedup();
            for target in targets {
                inbound[target] += 1;
            }
        }
        let mut order: Vec<usize> = (0..self.articles.len()).collect();
        order.sort_by(|&a, &b| {
            inbound[b]
                .cmp(&inbound[a])
                .then_with(|| self.articles[a].slug.cmp(&self.articles[b].slug))
        });
        self.popular = order;
    }

    pub fn articles(&self) -> &[Article] {
        &self.articles
    }

    /// The article's index in `articles()`.
    pub fn position(&self, slug: &str) -> Option<usize> {
        self.by_slug.get(slug).copied()
    }

    pub fn get(&self, slug: &str) -> Option<&Article> {
        self.position(slug).map(|i| &self.articles[i])
    }

    /// Articles in "most useful" order.
    pub fn popular(&self) -> impl Iterator<Item = &Article> {
        self.popular.iter().map(|&i| &self.articles[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::help::source::HelpSource;

    fn file(name: &str, text: &str) -> SourceFile {
        SourceFile {
            name: name.into(),
            text: text.into(),
        }
    }

    fn article(slug: &str, body: &str, related: &str) -> SourceFile {
        file(
            &format!("{slug}.md"),
            &format!(
                "+++\nslug = \"{slug}\"\ntitle = \"t\"\nsummary = \"s\"\naudience = [\"shopper\"]\n\
                 category = \"isp\"\ntags = []\nrelated = [{related}]\n+++\n{body}\n"
            ),
        )
    }

    #[test]
    fn the_shipped_articles_have_no_problems() {
        let files = HelpSource::BuiltIn.files().unwrap();
        let (catalog, problems) = Catalog::load(&files, &[("popup-blocked", "unblock-popups")]);
        assert!(problems.is_empty(), "{problems:#?}");
        assert!(catalog.articles().len() >= 26);
        assert!(catalog.get("readme").is_none());
    }

    #[test]
    fn reports_broken_links_unknown_related_duplicates_and_missing_rule_targets() {
        let files = vec![
            article(
                "a",
                "## A {#a}\n[x](/help/b#nope) [y](/help/zzz) [z](#a) [w](#gone)",
                "\"b\", \"q\"",
            ),
            article("b", "## B {#b}\n", "\"b\""),
            file("b-copy.md", &article("b", "", "").text),
            file(SYNONYMS_FILE, "x, y\nlonely\n"),
            file("README.md", "not an article"),
        ];
        let (_, problems) = Catalog::load(&files, &[("a", "missing")]);
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let expected = [
            "b-copy.md: slug \"b\" differs from the file name; name the file b.md",
            "b-copy.md: duplicate slug \"b\", also used by b.md",
            "synonyms.txt:2: a group needs at least two comma-separated entries",
            "a.md: related \"q\" is not an article",
            "a.md: broken link /help/b#nope: b has no section #nope",
            "a.md: broken link /help/zzz: no article \"zzz\"",
            "a.md: broken link #gone: a has no section #gone",
            "b.md: related lists the article itself",
            "(suggest rules): paydesk links to /help/a#missing, which does not exist",
        ];
        assert_eq!(lines, expected);
    }

    #[test]
    fn articles_linked_from_many_others_rank_first() {
        let files = vec![
            article("a", "[x](/help/c)", ""),
            article("b", "[x](/help/c) [y](/help/a)", ""),
            article("c", "", ""),
        ];
        let (catalog, problems) = Catalog::load(&files, &[]);
        assert!(problems.is_empty(), "{problems:?}");
        let order: Vec<&str> = catalog.popular().map(|a| a.slug.as_str()).collect();
        assert_eq!(order, ["c", "a", "b"]);
    }
}
