//! What both benchmarks read: the labelled help queries of `tests/data/help_queries.tsv`, the
//! realistic mix of what shoppers type (spacing variants, particles, typos, pasted error messages).

/// The queries, in file order, without their labels.
pub fn labelled_queries() -> Vec<String> {
    include_str!("../../tests/data/help_queries.tsv")
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .map(str::to_string)
        .collect()
}
