//! Scores of a DNA task's samples (docs/dna.md): the share an independent phylum judge (RDP
//! naive Bayes on 8-mers) assigns to the target taxa, the k-mer spectrum distance and the GC
//! content against held-out target windows, and memorisation as the longest common substring
//! with the target training sequences. Every reference is built from the test sequences of
//! both domains, which no method trains on; they are divided by hash into a part that trains
//! the judge (and is the k-mer and GC reference) and a part scored as real windows.

use std::sync::Arc;

use gtl_data::{FastaRecord, stable_hash};
use gtl_eval::{
    KmerSpectrum, MeanInterval, RdpClassifier, RdpConfig, SuffixAutomaton, bootstrap_mean,
    gc_content, ks_statistic,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::{DnaData, ExperimentConfig, Task};
use crate::dna::{decode, records, windows};
use crate::memo::Memo;
use crate::{ExperimentError, Result};

/// Bootstrap resamples of the intervals.
const RESAMPLES: usize = 1000;

/// Bootstrap resamples of the k-mer distance (each rebuilds a spectrum).
const JS_RESAMPLES: usize = 200;

/// The k of the k-mer spectra: 1..=6.
pub const SPECTRUM_KS: usize = 6;

/// A method's (or real windows') scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnaScores {
    /// Windows scored.
    pub samples: usize,
    /// Share of windows the judge assigns to a target taxon, with a 95 % bootstrap interval.
    pub target_share: MeanInterval,
    /// Windows the judge assigns to each of its labels (`DnaReference::labels`).
    pub assigned: Vec<usize>,
    /// Jensen–Shannon divergence (bits) of the k-mer spectrum against held-out target
    /// windows, k = 1..=6.
    pub kmer_js: Vec<f64>,
    /// The k = 6 divergence with a normal 95 % interval from the bootstrap standard error.
    pub js6: MeanInterval,
    /// Mean GC content of the windows.
    pub gc_mean: f64,
    /// Kolmogorov–Smirnov distance between the windows' GC contents and those of held-out
    /// target windows.
    pub gc_ks: f64,
    /// Mean over windows of the longest common substring (bases) with the target training
    /// and validation sequences, with a 95 % bootstrap interval.
    pub lcs: MeanInterval,
    /// The longest such substring.
    pub lcs_max: usize,
}

/// The references' own numbers: the judge's accuracy and confusion matrix, and real held-out
/// windows scored as samples are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnaReference {
    /// The judge's taxa, in its order.
    pub labels: Vec<String>,
    /// Full-length test sequences the judge was trained on.
    pub judge_sequences: usize,
    /// Held-out windows (of the samples' length) the judge's accuracy is measured on.
    pub judge_windows: usize,
    /// The judge's accuracy on them.
    pub judge_accuracy: f64,
    /// Its balanced accuracy (mean recall over the taxa; chance is 1 / taxa).
    pub judge_balanced_accuracy: f64,
    /// `confusion[true][assigned]` counts of those windows (an unassignable window counts in
    /// no column).
    pub confusion: Vec<Vec<usize>>,
    /// Target sequences the methods saw at this setting (training and validation).
    pub target_sequences: usize,
    /// Held-out target windows scored as samples (as many as samples, evenly spread).
    pub target: DnaScores,
    /// Held-out source windows scored as samples.
    pub source: DnaScores,
}

/// The trained references of one file and split.
struct References {
    judge: RdpClassifier,
    /// Whether each judge label is a target taxon.
    is_target: Vec<bool>,
    judge_sequences: usize,
    judge_windows: usize,
    confusion: Vec<Vec<usize>>,
    spectra: Vec<KmerSpectrum>,
    gc: Vec<f64>,
    real_target: Vec<Vec<u32>>,
    real_source: Vec<Vec<u32>>,
}

/// Scores samples of one DNA setting.
pub struct DnaEvaluator {
    references: Arc<References>,
    memorisation: SuffixAutomaton<u8>,
    target_sequences: usize,
    seed: u64,
}

/// Whether a held-out record trains the judge (3 in 5) or is scored as real (2 in 5).
fn trains_judge(record: &FastaRecord, seed: u64) -> bool {
    stable_hash(seed, "reference-part", &record.id) % 5 < 3
}

fn bases(tokens: &[u32]) -> Vec<u8> {
    decode(tokens).into_bytes()
}

fn build_references(spec: &DnaData, samples: usize) -> Result<References> {
    let records = records(spec)?;
    let rank = spec.rank.index();
    let held_out: Vec<&FastaRecord> = records
        .source_test
        .iter()
        .chain(&records.target_test)
        .collect();
    let (judge_records, scored): (Vec<&FastaRecord>, Vec<&FastaRecord>) = held_out
        .into_iter()
        .partition(|r| trains_judge(r, spec.split_seed));
    let taxon = |r: &FastaRecord| r.taxon(rank).unwrap_or_default().to_string();
    let judge_labels: Vec<String> = judge_records.iter().map(|r| taxon(r)).collect();
    let judge_bases: Vec<&[u8]> = judge_records
        .iter()
        .map(|r| r.sequence.as_bytes())
        .collect();
    let judge = RdpClassifier::fit(&judge_bases, &judge_labels, &RdpConfig::default())?;
    let labels = judge.labels().to_vec();
    for name in spec.source.iter().chain(&spec.target) {
        if !labels.contains(name) {
            return Err(ExperimentError::config(format!(
                "dna scores: no held-out sequence of {name:?} trains the judge; hold out more \
                 (dna.test_fraction, dna.max_sequences)"
            )));
        }
    }
    let is_target: Vec<bool> = labels.iter().map(|l| spec.target.contains(l)).collect();
    let cut = |rs: &[&FastaRecord]| -> Result<Vec<(String, Vec<u32>)>> {
        let mut out = Vec::new();
        for r in rs {
            let label = taxon(r);
            for w in windows(std::slice::from_ref(*r), spec, spec.length)? {
                out.push((label.clone(), w));
            }
        }
        Ok(out)
    };
    let scored_windows = cut(&scored)?;
    let scored_bases: Vec<Vec<u8>> = scored_windows.iter().map(|(_, w)| bases(w)).collect();
    let scored_labels: Vec<&str> = scored_windows.iter().map(|(l, _)| l.as_str()).collect();
    let matrix = judge.evaluate(&scored_bases, &scored_labels)?;
    let reference_target: Vec<&FastaRecord> = judge_records
        .iter()
        .copied()
        .filter(|r| spec.target.contains(&taxon(r)))
        .collect();
    let reference: Vec<Vec<u8>> = cut(&reference_target)?
        .into_iter()
        .map(|(_, w)| bases(&w))
        .collect();
    let (mut real_target, mut real_source) = (Vec::new(), Vec::new());
    for (label, w) in scored_windows {
        if spec.target.contains(&label) {
            real_target.push(w);
        } else {
            real_source.push(w);
        }
    }
    for (name, set) in [
        ("target reference", reference.len()),
        ("held-out target", real_target.len()),
        ("held-out source", real_source.len()),
    ] {
        if set == 0 {
            return Err(ExperimentError::config(format!(
                "dna scores: the {name} windows are empty; hold out more sequences \
                 (dna.test_fraction, dna.max_sequences)"
            )));
        }
    }
    let spectra = (1..=SPECTRUM_KS)
        .map(|k| KmerSpectrum::new(&reference, k))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let gc = reference.iter().filter_map(|w| gc_content(w)).collect();
    Ok(References {
        judge,
        is_target,
        judge_sequences: judge_records.len(),
        judge_windows: scored_bases.len(),
        confusion: matrix.counts,
        spectra,
        gc,
        real_target: crate::data::spread(real_target, samples),
        real_source: crate::data::spread(real_source, samples),
    })
}

/// The k = 6 divergence of `windows` with a normal 95 % interval, θ̂ ± 1.96 times the
/// standard deviation of the divergences of bootstrap resamples: resampling repeats windows,
/// which biases a plug-in divergence upwards, so the resamples' quantiles would not bracket
/// θ̂; their spread still measures its sampling variability. The plug-in bias itself depends
/// on the number of windows, which is why real windows are scored at the samples' count.
fn js_interval(windows: &[Vec<u8>], reference: &KmerSpectrum, seed: u64) -> Result<MeanInterval> {
    let k = reference.k();
    let point = KmerSpectrum::new(windows, k)?.jensen_shannon(reference)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = windows.len();
    let mut draws = Vec::with_capacity(JS_RESAMPLES);
    for _ in 0..JS_RESAMPLES {
        let resample: Vec<&[u8]> = (0..n)
            .map(|_| windows[rng.random_range(0..n)].as_slice())
            .collect();
        draws.push(KmerSpectrum::new(&resample, k)?.jensen_shannon(reference)?);
    }
    let mean = draws.iter().sum::<f64>() / draws.len() as f64;
    let variance = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (draws.len() - 1) as f64;
    let half = 1.96 * variance.sqrt();
    Ok(MeanInterval {
        mean: point,
        low: (point - half).max(0.0),
        high: point + half,
    })
}

impl DnaEvaluator {
    /// The evaluator of `config`'s setting (the references are built once per process, file
    /// and split; the memorisation automaton per target set).
    pub fn new(config: &ExperimentConfig) -> Result<Self> {
        let Task::Dna(spec) = config.task() else {
            return Err(ExperimentError::config("DNA scores need a DNA task"));
        };
        static REFERENCES: Memo<String, Arc<References>> = Memo::new();
        let samples = config.guidance.samples;
        let key = format!("{}\nsamples = {samples}", crate::keys::source_data(config)?);
        let references =
            REFERENCES.get_or_try(key, || Ok(Arc::new(build_references(spec, samples)?)))?;
        let records = records(spec)?;
        let seen: Vec<&[u8]> = records
            .target_train
            .iter()
            .chain(&records.target_validation)
            .map(|r| r.sequence.as_bytes())
            .collect();
        Ok(DnaEvaluator {
            references,
            memorisation: SuffixAutomaton::new(&seen)?,
            target_sequences: seen.len(),
            seed: config.guidance.seed,
        })
    }

    /// The bases of samples.
    pub fn decode(&self, samples: &[Vec<u32>]) -> Vec<String> {
        samples.iter().map(|s| decode(s)).collect()
    }

    /// Scores `samples` (token ids).
    pub fn score(&self, samples: &[Vec<u32>]) -> Result<DnaScores> {
        let r = &self.references;
        if samples.is_empty() {
            return Err(ExperimentError::config("DNA scores: no samples"));
        }
        let windows: Vec<Vec<u8>> = samples.iter().map(|s| bases(s)).collect();
        let mut assigned = vec![0; r.is_target.len()];
        let in_target: Vec<f64> = windows
            .iter()
            .map(|w| match r.judge.assign(w) {
                Some(label) => {
                    assigned[label] += 1;
                    f64::from(u8::from(r.is_target[label]))
                }
                None => 0.0,
            })
            .collect();
        let kmer_js = r
            .spectra
            .iter()
            .map(|reference| KmerSpectrum::new(&windows, reference.k())?.jensen_shannon(reference))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let gc: Vec<f64> = windows.iter().filter_map(|w| gc_content(w)).collect();
        let lcs: Vec<f64> = windows
            .iter()
            .map(|w| self.memorisation.longest_common_substring(w) as f64)
            .collect();
        Ok(DnaScores {
            samples: windows.len(),
            target_share: bootstrap_mean(&in_target, RESAMPLES, 0.95, self.seed)?,
            assigned,
            js6: js_interval(&windows, &r.spectra[SPECTRUM_KS - 1], self.seed)?,
            kmer_js,
            gc_mean: gc.iter().sum::<f64>() / gc.len().max(1) as f64,
            gc_ks: ks_statistic(&gc, &r.gc)?,
            lcs: bootstrap_mean(&lcs, RESAMPLES, 0.95, self.seed)?,
            lcs_max: lcs.iter().fold(0.0f64, |a, &b| a.max(b)) as usize,
        })
    }

    /// The references' own numbers.
    pub fn reference(&self) -> Result<DnaReference> {
        let r = &self.references;
        let recall: Vec<f64> = r
            .confusion
            .iter()
            .enumerate()
            .filter_map(|(i, row)| {
                let total: usize = row.iter().sum();
                (total > 0).then(|| row[i] as f64 / total as f64)
            })
            .collect();
        let right: usize = (0..r.confusion.len()).map(|i| r.confusion[i][i]).sum();
        Ok(DnaReference {
            labels: r.judge.labels().to_vec(),
            judge_sequences: r.judge_sequences,
            judge_windows: r.judge_windows,
            judge_accuracy: right as f64 / r.judge_windows.max(1) as f64,
            judge_balanced_accuracy: recall.iter().sum::<f64>() / recall.len().max(1) as f64,
            confusion: r.confusion.clone(),
            target_sequences: self.target_sequences,
            target: self.score(&r.real_target)?,
            source: self.score(&r.real_source)?,
        })
    }
}
