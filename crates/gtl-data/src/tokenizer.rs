//! Text tokenizers through the `tokenizers` crate, seen in gtl's model ids.
//!
//! The diffusion models use real token ids `0..N` and the mask (absorbing) token is id `N`.
//! A tokenizer file numbers its tokens `0..=N` with the mask anywhere (BERT: `[MASK]` = 103),
//! so the mask's id is taken out and the ids above it move down by one.

use std::path::Path;

use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainer};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::DataError;

/// Accepted names of the mask token, in order of preference.
const MASK_NAMES: [&str; 2] = ["[MASK]", "<mask>"];
/// Accepted names of the token that begins a window.
const BEGIN_NAMES: [&str; 3] = ["[CLS]", "<s>", "[BOS]"];
/// Accepted names of the token that ends a window and separates documents.
const END_NAMES: [&str; 3] = ["[SEP]", "</s>", "[EOS]"];

/// A tokenizer with a mask, a begin and an end token, speaking model ids.
///
/// [`TextTokenizer::train_bpe`] trains a byte-level BPE; [`TextTokenizer::from_file`] loads
/// any `tokenizer.json` (e.g. BERT's WordPiece) that has a mask token (`[MASK]` or `<mask>`),
/// a begin token (`[CLS]`, `<s>` or `[BOS]`) and an end token (`[SEP]`, `</s>` or `[EOS]`).
/// Special tokens are never produced from text: a literal `[MASK]` in a document is encoded
/// as ordinary characters.
#[derive(Clone, Debug)]
pub struct TextTokenizer {
    inner: Tokenizer,
    /// Where it came from, for error messages: the file or `trained BPE`.
    source: String,
    /// The mask's id in the tokenizer's own numbering.
    mask: u32,
    /// Real tokens N: every tokenizer id but the mask.
    num_tokens: usize,
    begin: u32,
    end: u32,
}

impl TextTokenizer {
    /// Trains a byte-level BPE on `texts`, offline.
    ///
    /// Byte-level pre-tokenisation (GPT-2's split, no added prefix space) starts from all 256
    /// bytes, so every string encodes and decodes back to itself. `num_tokens` is the number N
    /// of real tokens: `[CLS]` (model id 0), `[SEP]` (1), the 256 bytes and the merges, at
    /// least 258; training stops early when no pair is left to merge. `[MASK]` is id N.
    pub fn train_bpe<S: AsRef<str> + Sync>(
        texts: &[S],
        num_tokens: usize,
    ) -> Result<Self, DataError> {
        const SOURCE: &str = "trained BPE";
        if num_tokens < 258 {
            return Err(DataError::parameter(
                "num_tokens",
                num_tokens,
                "at least 258 (begin, end and 256 bytes)",
            ));
        }
        let failed = |e: tokenizers::Error| DataError::Tokenizer {
            source_name: SOURCE.into(),
            message: e.to_string(),
        };
        let byte_level = ByteLevel::new(false, false, true);
        let mut tokenizer = Tokenizer::new(BPE::default());
        tokenizer.with_pre_tokenizer(Some(byte_level));
        tokenizer.with_decoder(Some(byte_level));
        let mut trainer: TrainerWrapper = BpeTrainer::builder()
            .vocab_size(num_tokens)
            .show_progress(false)
            .special_tokens(vec![
                AddedToken::from(BEGIN_NAMES[0], true),
                AddedToken::from(END_NAMES[0], true),
            ])
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build()
            .into();
        tokenizer
            .train(&mut trainer, texts.iter().map(|t| t.as_ref()))
            .map_err(failed)?;
        // Added after training, the mask takes the last id, so model ids equal file ids.
        tokenizer
            .add_special_tokens([AddedToken::from(MASK_NAMES[0], true)])
            .map_err(failed)?;
        Self::wrap(tokenizer, SOURCE)
    }

    /// Loads a `tokenizer.json`; errors name the file and the token names expected.
    pub fn from_file(path: &Path) -> Result<Self, DataError> {
        let source = path.display().to_string();
        if !path.is_file() {
            return Err(DataError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such tokenizer file"),
            ));
        }
        let tokenizer = Tokenizer::from_file(path).map_err(|e| DataError::Tokenizer {
            source_name: source.clone(),
            message: e.to_string(),
        })?;
        Self::wrap(tokenizer, &source)
    }

    /// Writes the tokenizer as `tokenizer.json` (pretty-printed), loadable by
    /// [`TextTokenizer::from_file`] and by the Hugging Face libraries.
    pub fn save(&self, path: &Path) -> Result<(), DataError> {
        self.inner
            .save(path, true)
            .map_err(|e| DataError::Tokenizer {
                source_name: path.display().to_string(),
                message: e.to_string(),
            })
    }

    /// Checks the special tokens and the numbering, and stops special tokens matching text.
    fn wrap(mut inner: Tokenizer, source: &str) -> Result<Self, DataError> {
        let find = |role: &'static str, names: &[&str]| {
            names
                .iter()
                .find_map(|name| inner.token_to_id(name))
                .ok_or_else(|| DataError::MissingSpecialToken {
                    source_name: source.to_string(),
                    role,
                    expected: names.join(", "),
                })
        };
        let mask = find("mask", &MASK_NAMES)?;
        let begin = find("begin", &BEGIN_NAMES)?;
        let end = find("end", &END_NAMES)?;
        let size = inner.get_vocab_size(true);
        if let Some(hole) = (0..size as u32).find(|&id| inner.id_to_token(id).is_none()) {
            return Err(DataError::Tokenizer {
                source_name: source.to_string(),
                message: format!(
                    "id {hole} has no token: ids must run from 0 to {}",
                    size - 1
                ),
            });
        }
        inner.set_encode_special_tokens(true);
        let mut tokenizer = Self {
            inner,
            source: source.to_string(),
            mask,
            num_tokens: size - 1,
            begin: 0,
            end: 0,
        };
        tokenizer.begin = tokenizer.to_model(begin);
        tokenizer.end = tokenizer.to_model(end);
        Ok(tokenizer)
    }

    /// Number N of real tokens; model ids are `0..N`.
    pub fn num_tokens(&self) -> usize {
        self.num_tokens
    }

    /// The mask's model id, N.
    pub fn mask_id(&self) -> u32 {
        self.num_tokens as u32
    }

    /// Model id of the token that begins every window (`[CLS]`).
    pub fn begin_id(&self) -> u32 {
        self.begin
    }

    /// Model id of the token that ends every window and separates documents (`[SEP]`).
    pub fn end_id(&self) -> u32 {
        self.end
    }

    /// The model ids of `text`, without begin or end tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, DataError> {
        let encoding = self.inner.encode(text, false).map_err(|e| self.failed(e))?;
        self.text_ids(encoding.get_ids())
    }

    /// The model ids of many texts, encoded in parallel.
    pub fn encode_all<S: AsRef<str>>(
        &self,
        texts: impl IntoIterator<Item = S>,
    ) -> Result<Vec<Vec<u32>>, DataError> {
        let texts: Vec<S> = texts.into_iter().collect();
        let inputs: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
        let encodings = self
            .inner
            .encode_batch(inputs, false)
            .map_err(|e| self.failed(e))?;
        encodings
            .iter()
            .map(|encoding| self.text_ids(encoding.get_ids()))
            .collect()
    }

    /// The text of model ids; special tokens are kept, the mask id N is written as the
    /// tokenizer's mask token (e.g. `[MASK]`).
    pub fn decode(&self, ids: &[u32]) -> Result<String, DataError> {
        let ids = ids
            .iter()
            .map(|&id| self.to_tokenizer(id))
            .collect::<Result<Vec<u32>, DataError>>()?;
        self.inner.decode(&ids, false).map_err(|e| self.failed(e))
    }

    /// Model ids of an encoded text, which must not contain the mask.
    fn text_ids(&self, ids: &[u32]) -> Result<Vec<u32>, DataError> {
        if ids.contains(&self.mask) {
            return Err(DataError::Tokenizer {
                source_name: self.source.clone(),
                message: "text was encoded with the mask token: expected only real tokens".into(),
            });
        }
        Ok(ids.iter().map(|&id| self.to_model(id)).collect())
    }

    fn to_model(&self, id: u32) -> u32 {
        match id.cmp(&self.mask) {
            std::cmp::Ordering::Less => id,
            std::cmp::Ordering::Equal => self.mask_id(),
            std::cmp::Ordering::Greater => id - 1,
        }
    }

    fn to_tokenizer(&self, id: u32) -> Result<u32, DataError> {
        if id == self.mask_id() {
            Ok(self.mask)
        } else if id > self.mask_id() {
            Err(DataError::TokenOutOfRange {
                id,
                limit: self.num_tokens + 1,
            })
        } else if id < self.mask {
            Ok(id)
        } else {
            Ok(id + 1)
        }
    }

    fn failed(&self, e: tokenizers::Error) -> DataError {
        DataError::Tokenizer {
            source_name: self.source.clone(),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::ScratchDir;
    use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
    use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainer};
    use tokenizers::normalizers::bert::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::processors::bert::BertProcessing;

    const TEXTS: [&str; 4] = [
        "We study the spectral gap of random graphs.",
        "The stellar wind drives a bow shock in the interstellar medium.",
        "Representations of quantum groups at roots of unity.",
        "We study random walks on groups and graphs.",
    ];

    /// A small BERT-style WordPiece tokenizer; its specials take ids 0..5 in `specials` order.
    fn wordpiece(specials: &[&str]) -> Tokenizer {
        let mut tokenizer = Tokenizer::new(WordPiece::default());
        tokenizer
            .with_normalizer(Some(BertNormalizer::default()))
            .unwrap();
        tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
        tokenizer.with_post_processor(Some(BertProcessing::new(
            ("[SEP]".into(), 3),
            ("[CLS]".into(), 2),
        )));
        tokenizer.with_decoder(Some(WordPieceDecoder::default()));
        let mut trainer: TrainerWrapper = WordPieceTrainer::builder()
            .vocab_size(120)
            .show_progress(false)
            .special_tokens(
                specials
                    .iter()
                    .map(|s| AddedToken::from(*s, true))
                    .collect(),
            )
            .build()
            .into();
        tokenizer.train(&mut trainer, TEXTS.iter()).unwrap();
        tokenizer
    }

    #[test]
    fn trained_bpe_round_trips_any_text_and_puts_the_mask_last() {
        let tokenizer = TextTokenizer::train_bpe(&TEXTS, 400).unwrap();
        let n = tokenizer.num_tokens();
        assert!((258..=400).contains(&n), "N = {n}");
        assert_eq!(tokenizer.mask_id() as usize, n);
        assert_eq!((tokenizer.begin_id(), tokenizer.end_id()), (0, 1));
        for text in [
            TEXTS[1],
            "Ünïcödé ∂x/∂t = ν∇²x — 🚀",
            "  two  spaces ",
            "[MASK] [SEP]",
        ] {
            let ids = tokenizer.encode(text).unwrap();
            assert!(ids.iter().all(|&id| (id as usize) < n), "{text}: {ids:?}");
            assert!(
                !ids.contains(&tokenizer.end_id()),
                "text made a special token"
            );
            assert_eq!(tokenizer.decode(&ids).unwrap(), text);
        }
        let with_mask = [
            tokenizer.begin_id(),
            tokenizer.mask_id(),
            tokenizer.end_id(),
        ];
        assert_eq!(tokenizer.decode(&with_mask).unwrap(), "[CLS][MASK][SEP]");
        let err = tokenizer.decode(&[n as u32 + 1]).unwrap_err().to_string();
        assert!(err.contains(&format!("must be < {}", n + 1)), "{err}");
    }

    #[test]
    fn saved_bpe_loads_with_the_same_ids() {
        let dir = ScratchDir::new("tokenizer-save");
        let path = dir.path().join("tokenizer.json");
        let trained = TextTokenizer::train_bpe(&TEXTS, 300).unwrap();
        trained.save(&path).unwrap();
        let loaded = TextTokenizer::from_file(&path).unwrap();
        assert_eq!(loaded.num_tokens(), trained.num_tokens());
        assert_eq!(
            loaded.encode(TEXTS[2]).unwrap(),
            trained.encode(TEXTS[2]).unwrap()
        );
        assert!(TextTokenizer::train_bpe(&TEXTS, 257).is_err());
    }

    #[test]
    fn bert_wordpiece_file_maps_its_mask_to_n_and_shifts_later_ids() {
        let dir = ScratchDir::new("tokenizer-bert");
        let path = dir.path().join("tokenizer.json");
        let bert = wordpiece(&["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]);
        bert.save(&path, false).unwrap();
        let tokenizer = TextTokenizer::from_file(&path).unwrap();
        let size = bert.get_vocab_size(true);
        assert_eq!(tokenizer.num_tokens(), size - 1);
        assert_eq!(tokenizer.mask_id() as usize, size - 1);
        assert_eq!((tokenizer.begin_id(), tokenizer.end_id()), (2, 3));
        let file_ids = bert
            .encode("random graphs", false)
            .unwrap()
            .get_ids()
            .to_vec();
        let model_ids = tokenizer.encode("Random  graphs").unwrap();
        assert!(file_ids.iter().all(|&id| id > 4), "{file_ids:?}");
        let shifted: Vec<u32> = file_ids.iter().map(|id| id - 1).collect();
        assert_eq!(
            model_ids, shifted,
            "ids above [MASK] = 4 must move down by one"
        );
        let mut window = vec![tokenizer.begin_id()];
        window.extend(&model_ids);
        window.extend([tokenizer.mask_id(), tokenizer.end_id()]);
        assert_eq!(
            tokenizer.decode(&window).unwrap(),
            "[CLS] random graphs [MASK] [SEP]"
        );
    }

    #[test]
    fn tokenizer_without_mask_is_refused_naming_file_and_token() {
        let dir = ScratchDir::new("tokenizer-nomask");
        let path = dir.path().join("no-mask.json");
        wordpiece(&["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
            .save(&path, false)
            .unwrap();
        let err = TextTokenizer::from_file(&path).unwrap_err();
        assert!(
            matches!(err, DataError::MissingSpecialToken { role: "mask", .. }),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("no-mask.json") && message.contains("[MASK], <mask>"),
            "{message}"
        );
    }

    #[test]
    fn unreadable_files_name_the_path() {
        let dir = ScratchDir::new("tokenizer-bad");
        let err = TextTokenizer::from_file(&dir.path().join("absent.json")).unwrap_err();
        assert!(err.to_string().contains("absent.json"), "{err}");
        let path = dir.write("broken.json", "{\"model\": 3}");
        let err = TextTokenizer::from_file(&path).unwrap_err();
        assert!(matches!(err, DataError::Tokenizer { .. }), "{err}");
        assert!(err.to_string().contains("broken.json"), "{err}");
    }
}
