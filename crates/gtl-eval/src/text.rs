//! Word tokens of a text, and hashes of word n-grams for the hashed features of the domain
//! judge and of MAUVE.

/// The word tokens of `text`: maximal runs of alphanumeric characters (Unicode letters and
/// digits), lowercased. Every other character (space, punctuation, symbol) ends a word and is
/// dropped, so an apostrophe or a hyphen splits a word in two:
/// `words("Don't re-use 2 e.g. ÉTÉ!") == ["don", "t", "re", "use", "2", "e", "g", "été"]`.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The splitmix64 finaliser: a bijection of `u64` whose output bits all depend on every input
/// bit.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A 64-bit hash of a word (FNV-1a over its bytes, then [`mix`]); fixed across runs and
/// platforms, unlike the standard library's hasher.
pub(crate) fn word_hash(word: &str) -> u64 {
    let fnv = word.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    mix(fnv)
}

/// Hashes of every word n-gram of `words` for n = 1..=max_n (an n-gram's hash depends on its
/// words in order and on n).
pub(crate) fn ngram_hashes(words: &[String], max_n: usize) -> Vec<u64> {
    let hashes: Vec<u64> = words.iter().map(|w| word_hash(w)).collect();
    let mut out = Vec::with_capacity(hashes.len() * max_n);
    for n in 1..=max_n {
        for window in hashes.windows(n) {
            let h = window
                .iter()
                .fold(n as u64, |acc, &w| mix(acc.rotate_left(17) ^ w));
            out.push(h);
        }
    }
    out
}

/// The bucket of a hash among `2^log2` buckets (its top bits).
pub(crate) fn bucket(hash: u64, log2: u32) -> u32 {
    if log2 == 0 {
        0
    } else {
        (hash >> (64 - log2)) as u32
    }
}

/// Sorted `(bucket, count)` pairs of the hashed word n-grams (n = 1..=max_n) of `text`.
pub(crate) fn bucket_counts(text: &str, max_n: usize, log2: u32) -> Vec<(u32, u32)> {
    let mut buckets: Vec<u32> = ngram_hashes(&words(text), max_n)
        .into_iter()
        .map(|h| bucket(h, log2))
        .collect();
    buckets.sort_unstable();
    let mut counts: Vec<(u32, u32)> = Vec::new();
    for b in buckets {
        match counts.last_mut() {
            Some((last, c)) if *last == b => *c += 1,
            _ => counts.push((b, 1)),
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_everything_but_letters_and_digits() {
        assert_eq!(
            words("Don't re-use 2 e.g. ÉTÉ!"),
            ["don", "t", "re", "use", "2", "e", "g", "été"]
        );
        assert_eq!(words("  \n.,;  "), Vec::<String>::new());
        assert_eq!(words("abc123 X9"), ["abc123", "x9"]);
    }

    #[test]
    fn ngram_hashes_depend_on_order_and_n() {
        let ab = words("a b");
        let ba = words("b a");
        let h_ab = ngram_hashes(&ab, 2);
        let h_ba = ngram_hashes(&ba, 2);
        assert_eq!(h_ab.len(), 3); // a, b, "a b"
        assert_eq!(h_ab[..2], [h_ba[1], h_ba[0]]); // same unigrams
        assert_ne!(h_ab[2], h_ba[2]); // different bigrams
        // The unigram of a word differs from that word's hash folded as a bigram prefix.
        assert!(!h_ab[..2].contains(&h_ab[2]));
    }

    #[test]
    fn bucket_counts_are_sorted_and_total_the_ngrams() {
        let counts = bucket_counts("the cat the cat the", 2, 18);
        assert!(counts.windows(2).all(|w| w[0].0 < w[1].0));
        let total: u32 = counts.iter().map(|c| c.1).sum();
        assert_eq!(total, 5 + 4);
        // "the" ×3, "cat" ×2, "the cat" ×2, "cat the" ×2.
        let mut c: Vec<u32> = counts.iter().map(|c| c.1).collect();
        c.sort_unstable();
        assert_eq!(c, [2, 2, 2, 3]);
        assert_eq!(bucket(u64::MAX, 0), 0);
        assert_eq!(bucket(u64::MAX, 3), 7);
    }
}
