//! The longest common substring of a query with a set of training sequences, through a
//! suffix automaton of the training set: built once in time linear in its total length,
//! then each query costs time linear in its own length (amortised, times the logarithm of
//! a state's number of transitions). Works on bytes (DNA, text) and token ids alike.

/// One state: the longest substring it stands for, its suffix link, and its transitions
/// sorted by symbol.
#[derive(Clone, Debug)]
struct State<T> {
    len: usize,
    link: Option<usize>,
    next: Vec<(T, usize)>,
}

impl<T: Copy + Ord> State<T> {
    fn get(&self, symbol: T) -> Option<usize> {
        self.next
            .binary_search_by(|(s, _)| s.cmp(&symbol))
            .ok()
            .map(|i| self.next[i].1)
    }

    fn set(&mut self, symbol: T, to: usize) {
        match self.next.binary_search_by(|(s, _)| s.cmp(&symbol)) {
            Ok(i) => self.next[i].1 = to,
            Err(i) => self.next.insert(i, (symbol, to)),
        }
    }
}

/// A (generalised) suffix automaton: it accepts exactly the substrings of its training
/// sequences.
#[derive(Clone, Debug)]
pub struct SuffixAutomaton<T> {
    states: Vec<State<T>>,
}

impl<T: Copy + Ord> SuffixAutomaton<T> {
    /// Builds the automaton of every substring of every training sequence (substrings do not
    /// cross sequences).
    pub fn new<S: AsRef<[T]>>(training: &[S]) -> Self {
        let total: usize = training.iter().map(|s| s.as_ref().len()).sum();
        let mut automaton = SuffixAutomaton {
            states: Vec::with_capacity(2 * total + 1),
        };
        automaton.states.push(State {
            len: 0,
            link: None,
            next: Vec::new(),
        });
        for sequence in training {
            let mut last = 0;
            for &symbol in sequence.as_ref() {
                last = automaton.extend(last, symbol);
            }
        }
        automaton
    }

    /// The number of states (at most twice the training length, plus one).
    pub fn states(&self) -> usize {
        self.states.len()
    }

    /// A copy of state `q` that stands for the substrings of length `len` and shorter.
    fn clone_state(&mut self, q: usize, len: usize) -> usize {
        let copy = State {
            len,
            link: self.states[q].link,
            next: self.states[q].next.clone(),
        };
        self.states.push(copy);
        self.states.len() - 1
    }

    /// Sends the transitions on `symbol` that lead to `q`, from `p` and up its suffix links,
    /// to `to` instead.
    fn redirect(&mut self, mut p: Option<usize>, symbol: T, q: usize, to: usize) {
        while let Some(state) = p {
            if self.states[state].get(symbol) != Some(q) {
                break;
            }
            self.states[state].set(symbol, to);
            p = self.states[state].link;
        }
    }

    /// Appends `symbol` to the sequence whose longest suffix ends in state `last`; returns
    /// the state of the extended sequence.
    fn extend(&mut self, last: usize, symbol: T) -> usize {
        // The extension is already a substring of an earlier sequence.
        if let Some(q) = self.states[last].get(symbol) {
            if self.states[q].len == self.states[last].len + 1 {
                return q;
            }
            let copy = self.clone_state(q, self.states[last].len + 1);
            self.states[q].link = Some(copy);
            self.redirect(Some(last), symbol, q, copy);
            return copy;
        }
        self.states.push(State {
            len: self.states[last].len + 1,
            link: None,
            next: Vec::new(),
        });
        let current = self.states.len() - 1;
        let mut p = Some(last);
        while let Some(state) = p {
            if self.states[state].get(symbol).is_some() {
                break;
            }
            self.states[state].set(symbol, current);
            p = self.states[state].link;
        }
        let link = match p {
            None => 0,
            Some(p) => {
                let q = self.states[p].get(symbol).unwrap_or(0);
                if self.states[p].len + 1 == self.states[q].len {
                    q
                } else {
                    let copy = self.clone_state(q, self.states[p].len + 1);
                    self.states[q].link = Some(copy);
                    self.redirect(Some(p), symbol, q, copy);
                    copy
                }
            }
        };
        self.states[current].link = Some(link);
        current
    }

    /// The length of the longest substring of `query` that occurs in a training sequence.
    pub fn longest_common_substring(&self, query: &[T]) -> usize {
        let (mut state, mut len, mut best) = (0, 0, 0);
        for &symbol in query {
            loop {
                if let Some(next) = self.states[state].get(symbol) {
                    state = next;
                    len += 1;
                    break;
                }
                match self.states[state].link {
                    Some(parent) => {
                        state = parent;
                        len = self.states[state].len;
                    }
                    None => {
                        len = 0; // the symbol occurs nowhere in the training set
                        break;
                    }
                }
            }
            best = best.max(len);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// The longest substring of `query` found in some training sequence, by trying every
    /// substring.
    fn brute_force(training: &[Vec<u8>], query: &[u8]) -> usize {
        let mut best = 0;
        for i in 0..query.len() {
            for j in i + 1..=query.len() {
                let piece = &query[i..j];
                if j - i > best
                    && training
                        .iter()
                        .any(|t| t.windows(j - i).any(|w| w == piece))
                {
                    best = j - i;
                }
            }
        }
        best
    }

    /// Against brute force on 500 random small cases over alphabets of 2 to 4 symbols (small
    /// alphabets make long repeats and many cloned states).
    #[test]
    fn matches_brute_force_on_random_strings() {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        for case in 0..500 {
            let alphabet = rng.random_range(2..=4u8);
            let mut word = |max: usize| -> Vec<u8> {
                let len = rng.random_range(0..=max);
                (0..len).map(|_| rng.random_range(0..alphabet)).collect()
            };
            let count = 1 + case % 5;
            let training: Vec<Vec<u8>> = (0..count).map(|_| word(12)).collect();
            let automaton = SuffixAutomaton::new(&training);
            let total: usize = training.iter().map(Vec::len).sum();
            assert!(automaton.states() <= 2 * total + 1);
            for _ in 0..10 {
                let query = word(15);
                assert_eq!(
                    automaton.longest_common_substring(&query),
                    brute_force(&training, &query),
                    "{training:?} / {query:?}"
                );
            }
        }
    }

    #[test]
    fn works_on_token_ids_and_text() {
        let ids = SuffixAutomaton::new(&[vec![5u32, 900, 7, 7], vec![1, 2, 3]]);
        assert_eq!(ids.longest_common_substring(&[0, 900, 7, 7, 1]), 3);
        assert_eq!(ids.longest_common_substring(&[7, 1, 2]), 2); // no crossing of sequences
        assert_eq!(ids.longest_common_substring(&[]), 0);
        let text = SuffixAutomaton::new(&["the cat sat".as_bytes()]);
        assert_eq!(text.longest_common_substring(b"a cat sits"), " cat s".len());
        let empty = SuffixAutomaton::<u8>::new(&[] as &[&[u8]]);
        assert_eq!(empty.longest_common_substring(b"abc"), 0);
    }
}
