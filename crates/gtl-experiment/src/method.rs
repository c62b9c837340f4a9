//! The methods an experiment compares, and everything that decides how each one samples:
//! which denoiser, which ratio, which sampler, which position order, which γ.

use gtl_guidance::GammaSchedule;
use serde::{Deserialize, Serialize};

use crate::config::{FinetuneSection, GuidanceSection, PositionOrder};

/// A method compared by an experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Method {
    /// The source denoiser, unguided (scheduled GTL with γ = 0, in GTL's position order).
    Source,
    /// The denoiser architecture trained on the target data only.
    TargetOnly,
    /// The source denoiser fine-tuned on the target data, every weight.
    FullFinetune,
    /// The source denoiser's last blocks, final norm and head fine-tuned.
    LastBlocks,
    /// Low-rank adapters on every attention and MLP weight of the source denoiser.
    Lora,
    /// Scheduled GTL: the source denoiser guided by the learned ratio.
    Gtl,
    /// Scheduled GTL with the exact `log h` (isolates the ratio network's error; Markov).
    GtlExactRatio,
    /// Scheduled GTL with the exact source denoiser and the exact `log h` (Markov).
    GtlOracles,
    /// Multi-position exact guidance with the learned ratio: `L·N` ratio passes per step.
    ExactGuidance,
}

/// Which denoiser a method samples with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DenoiserChoice {
    /// The trained source denoiser.
    Source,
    /// A fine-tuning baseline's network.
    Baseline(gtl_finetune::Method),
    /// The exact denoiser of the source chain.
    ExactSource,
}

/// Which ratio a method is guided by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RatioChoice {
    /// Unguided.
    None,
    /// The learned ratio (ratio network or noisy classifier).
    Learned,
    /// The exact `log h_t` of the two chains.
    Exact,
}

/// Which sampler draws a method's samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplerChoice {
    /// One position per step (scheduled GTL; unguided when γ = 0), in this order.
    OnePosition(PositionOrder),
    /// Multi-position ancestral steps with every position and token scored.
    MultiPosition,
}

impl Method {
    /// Every method, in report order.
    pub const ALL: [Method; 9] = [
        Method::Source,
        Method::TargetOnly,
        Method::FullFinetune,
        Method::LastBlocks,
        Method::Lora,
        Method::Gtl,
        Method::GtlExactRatio,
        Method::GtlOracles,
        Method::ExactGuidance,
    ];

    /// The name in configs, reports and file names.
    pub fn name(self) -> &'static str {
        match self {
            Method::Source => "source",
            Method::TargetOnly => "target-only",
            Method::FullFinetune => "full-finetune",
            Method::LastBlocks => "last-blocks",
            Method::Lora => "lora",
            Method::Gtl => "gtl",
            Method::GtlExactRatio => "gtl-exact-ratio",
            Method::GtlOracles => "gtl-oracles",
            Method::ExactGuidance => "exact-guidance",
        }
    }

    /// The fine-tuning baseline behind the method, if it is one.
    pub fn baseline(self, finetune: &FinetuneSection) -> Option<gtl_finetune::Method> {
        Some(match self {
            Method::TargetOnly => gtl_finetune::Method::TargetOnly,
            Method::FullFinetune => gtl_finetune::Method::Full,
            Method::LastBlocks => gtl_finetune::Method::LastBlocks {
                blocks: finetune.last_blocks,
            },
            Method::Lora => gtl_finetune::Method::LowRank {
                rank: finetune.lora_rank,
                alpha: finetune.lora_alpha,
            },
            _ => return None,
        })
    }

    /// Which denoiser the method samples with.
    pub fn denoiser(self, finetune: &FinetuneSection) -> DenoiserChoice {
        match (self, self.baseline(finetune)) {
            (_, Some(baseline)) => DenoiserChoice::Baseline(baseline),
            (Method::GtlOracles, _) => DenoiserChoice::ExactSource,
            _ => DenoiserChoice::Source,
        }
    }

    /// Which ratio guides the method.
    pub fn ratio(self) -> RatioChoice {
        match self {
            Method::Gtl | Method::ExactGuidance => RatioChoice::Learned,
            Method::GtlExactRatio | Method::GtlOracles => RatioChoice::Exact,
            _ => RatioChoice::None,
        }
    }

    /// Which sampler draws the samples, with its position order.
    pub fn sampler(self, guidance: &GuidanceSection) -> SamplerChoice {
        match self {
            Method::ExactGuidance => SamplerChoice::MultiPosition,
            m if m.is_baseline() => SamplerChoice::OnePosition(guidance.baseline_order.into()),
            _ => SamplerChoice::OnePosition(guidance.order),
        }
    }

    /// Whether the method is a fine-tuning baseline.
    pub fn is_baseline(self) -> bool {
        matches!(
            self,
            Method::TargetOnly | Method::FullFinetune | Method::LastBlocks | Method::Lora
        )
    }

    /// Whether it needs the trained source denoiser.
    pub fn needs_source_denoiser(self) -> bool {
        matches!(
            self,
            Method::Source | Method::Gtl | Method::GtlExactRatio | Method::ExactGuidance
        )
    }

    /// Whether it reads the exact chains (Markov tasks only).
    pub fn needs_exact_chains(self) -> bool {
        self.ratio() == RatioChoice::Exact
    }

    /// Whether it follows `guidance.order` (and so needs the planner when that is "planner").
    pub fn uses_guided_order(self) -> bool {
        matches!(
            self,
            Method::Source | Method::Gtl | Method::GtlExactRatio | Method::GtlOracles
        )
    }

    /// Sequences the method draws per setting.
    pub fn sample_count(self, guidance: &GuidanceSection) -> usize {
        match self {
            Method::ExactGuidance => guidance.exact_samples,
            _ => guidance.samples,
        }
    }

    /// γ of the method's sampler: 0 when unguided; for the learned ratio the fitted schedule
    /// when there is one (`guidance.fit_gamma`), else `guidance.gamma`; for the exact ratio
    /// `guidance.gamma`.
    pub fn gamma(
        self,
        guidance: &GuidanceSection,
        fitted: Option<&GammaSchedule>,
    ) -> GammaSchedule {
        match (self.ratio(), fitted) {
            (RatioChoice::None, _) => GammaSchedule::Constant(0.0),
            (RatioChoice::Learned, Some(fitted)) => fitted.clone(),
            _ => GammaSchedule::Constant(guidance.gamma),
        }
    }

    /// Whether the method's γ comes from the γ fit when `guidance.fit_gamma` is on.
    pub fn uses_fitted_gamma(self, guidance: &GuidanceSection) -> bool {
        guidance.fit_gamma && self.ratio() == RatioChoice::Learned
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names round-trip through serde as the TOML spellings, and each method's choices are
    /// the ones the experiment documents.
    #[test]
    fn names_and_choices() {
        for method in Method::ALL {
            let text = serde_json::to_string(&method).unwrap();
            assert_eq!(text, format!("\"{}\"", method.name()));
            assert_eq!(serde_json::from_str::<Method>(&text).unwrap(), method);
        }
        let guidance = GuidanceSection::default();
        let finetune = FinetuneSection::default();
        assert_eq!(
            Method::Source.gamma(&guidance, None),
            GammaSchedule::Constant(0.0)
        );
        let fitted = GammaSchedule::Constant(1.5);
        assert_eq!(Method::Gtl.gamma(&guidance, Some(&fitted)), fitted);
        assert_eq!(
            Method::GtlOracles.gamma(&guidance, Some(&fitted)),
            GammaSchedule::Constant(guidance.gamma)
        );
        assert_eq!(
            Method::Lora.denoiser(&finetune),
            DenoiserChoice::Baseline(gtl_finetune::Method::LowRank {
                rank: finetune.lora_rank,
                alpha: finetune.lora_alpha
            })
        );
        assert_eq!(
            Method::TargetOnly.sampler(&guidance),
            SamplerChoice::OnePosition(PositionOrder::Random)
        );
        assert_eq!(
            Method::Gtl.sampler(&guidance),
            SamplerChoice::OnePosition(PositionOrder::Planner)
        );
        assert_eq!(
            Method::ExactGuidance.sample_count(&guidance),
            guidance.exact_samples
        );
    }
}
