//! The longest common substring of a query with a set of training sequences, through a
//! suffix automaton of the training set: built once in time linear in its total length,
//! then each query costs time linear in its own length (amortised, times the logarithm of
//! a state's number of transitions). Works on bytes (DNA, text) and token ids alike.

use crate::EvalError;

/// No suffix link (the root's).
const NONE: u32 = u32::MAX;

/// One state: the length of the longest substring it stands for, its suffix link, and its
/// transitions sorted by symbol (32-bit indices keep a state small).
#[derive(Clone, Debug)]
struct State<T> {
    len: u32,
    link: u32,
    next: Vec<(T, u32)>,
}

impl<T: Copy + Ord> State<T> {
    fn get(&self, symbol: T) -> Option<u32> {
        self.next
            .binary_search_by(|(s, _)| s.cmp(&symbol))
            .ok()
            .map(|i| self.next[i].1)
    }

    fn set(&mut self, symbol: T, to: u32) {
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
    /// cross sequences). Errors when the training set holds 2^31 symbols or more.
    pub fn new<S: AsRef<[T]>>(training: &[S]) -> Result<Self, EvalError> {
        let total: usize = training.iter().map(|s| s.as_ref().len()).sum();
        if total >= 1 << 31 {
            return Err(EvalError::Input(format!(
                "a suffix automaton holds under 2^31 symbols (got {total})"
            )));
        }
        let mut automaton = SuffixAutomaton {
            states: Vec::with_capacity(total + total / 2 + 1),
        };
        automaton.states.push(State {
            len: 0,
            link: NONE,
            next: Vec::new(),
        });
        for sequence in training {
            let mut last = 0;
            for &symbol in sequence.as_ref() {
                last = automaton.extend(last, symbol);
            }
        }
        Ok(automaton)
    }

    /// The number of states (at most twice the training length, plus one).
    pub fn states(&self) -> usize {
        self.states.len()
    }

    fn state(&self, index: u32) -> &State<T> {
        &self.states[index as usize]
    }

    fn state_mut(&mut self, index: u32) -> &mut State<T> {
        &mut self.states[index as usize]
    }

    fn push(&mut self, state: State<T>) -> u32 {
        self.states.push(state);
        (self.states.len() - 1) as u32
    }

    /// Splits state `q`: a copy of it that stands for its substrings of length `len` and
    /// shorter becomes `q`'s suffix link; the transitions on `symbol` to `q` from `p` and up
    /// its suffix links move to the copy.
    fn split(&mut self, q: u32, len: u32, mut p: u32, symbol: T) -> u32 {
        let copy = State {
            len,
            link: self.state(q).link,
            next: self.state(q).next.clone(),
        };
        let copy = self.push(copy);
        self.state_mut(q).link = copy;
        while p != NONE && self.state(p).get(symbol) == Some(q) {
            self.state_mut(p).set(symbol, copy);
            p = self.state(p).link;
        }
        copy
    }

    /// Appends `symbol` to the sequence whose longest suffix ends in state `last`; returns
    /// the state of the extended sequence.
    fn extend(&mut self, last: u32, symbol: T) -> u32 {
        let len = self.state(last).len + 1;
        // The extension is already a substring of an earlier sequence.
        if let Some(q) = self.state(last).get(symbol) {
            return if self.state(q).len == len {
                q
            } else {
                self.split(q, len, last, symbol)
            };
        }
        let current = self.push(State {
            len,
            link: NONE,
            next: Vec::new(),
        });
        let mut p = last;
        while p != NONE && self.state(p).get(symbol).is_none() {
            self.state_mut(p).set(symbol, current);
            p = self.state(p).link;
        }
        let link = match (p != NONE).then(|| self.state(p).get(symbol)).flatten() {
            None => 0,
            Some(q) if self.state(p).len + 1 == self.state(q).len => q,
            Some(q) => self.split(q, self.state(p).len + 1, p, symbol),
        };
        self.state_mut(current).link = link;
        current
    }

    /// The length of the longest substring of `query` that occurs in a training sequence.
    pub fn longest_common_substring(&self, query: &[T]) -> usize {
        let (mut state, mut len, mut best) = (0u32, 0u32, 0u32);
        for &symbol in query {
            loop {
                if let Some(next) = self.state(state).get(symbol) {
                    state = next;
                    len += 1;
                    break;
                }
                let parent = self.state(state).link;
                if parent == NONE {
                    len = 0; // the symbol occurs nowhere in the training set
                    break;
                }
                state = parent;
                len = self.state(state).len;
            }
            best = best.max(len);
        }
        best as usize
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
            let automaton = SuffixAutomaton::new(&training).unwrap();
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
        let ids = SuffixAutomaton::new(&[vec![5u32, 900, 7, 7], vec![1, 2, 3]]).unwrap();
        assert_eq!(ids.longest_common_substring(&[0, 900, 7, 7, 1]), 3);
        assert_eq!(ids.longest_common_substring(&[7, 1, 2]), 2); // no crossing of sequences
        assert_eq!(ids.longest_common_substring(&[]), 0);
        let text = SuffixAutomaton::new(&["the cat sat".as_bytes()]).unwrap();
        assert_eq!(text.longest_common_substring(b"a cat sits"), " cat s".len());
        let empty = SuffixAutomaton::<u8>::new(&[] as &[&[u8]]).unwrap();
        assert_eq!(empty.longest_common_substring(b"abc"), 0);
    }
}
