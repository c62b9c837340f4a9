//! Parameter bookkeeping: eager initialisation and human-readable counts.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// The number of trainable parameters of `module`, e.g. "4.87M parameters", "12.3k
/// parameters" or "850 parameters".
pub fn describe_params<B: Backend, M: Module<B>>(module: &M) -> String {
    let count = module.num_params();
    if count >= 1_000_000 {
        format!("{:.2}M parameters", count as f64 / 1e6)
    } else if count >= 1_000 {
        format!("{:.1}k parameters", count as f64 / 1e3)
    } else {
        format!("{count} parameters")
    }
}

/// Draws every lazily initialised parameter now. burn 0.21 initialises a parameter on first
/// use and a clone of an unused parameter draws its own values, so without this a clone taken
/// before the first forward pass (an EMA copy, a frozen reference) would hold other weights.
pub(crate) fn materialize<B: Backend, M: Module<B>>(module: M) -> M {
    struct Touch;
    impl<B: Backend> ModuleVisitor<B> for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Touch);
    module
}

#[cfg(test)]
mod tests {
    use crate::{Trunk, TrunkConfig};

    type TB = crate::tests::TestBackend;

    #[test]
    fn clones_of_a_fresh_module_hold_the_same_weights() {
        let device = Default::default();
        let trunk = TrunkConfig::preset("tiny", 6, 8)
            .unwrap()
            .init::<TB>(&device);
        let copy = trunk.clone();
        let weights = |t: &Trunk<TB>| t.token_embedding.weight.val().into_data();
        assert_eq!(weights(&copy), weights(&trunk));
    }
}
