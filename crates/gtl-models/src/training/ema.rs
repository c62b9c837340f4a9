//! Exponential moving average of a module's weights, matched by parameter id.

use std::collections::HashMap;

use burn::module::{ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;

/// `ema ← decay · ema + (1 - decay) · current` for every float parameter of `ema`.
pub fn blend_into<B: Backend, M: Module<B>>(ema: M, current: &M, decay: f64) -> M {
    let mut collector = Collector::<B> {
        params: HashMap::new(),
    };
    current.visit(&mut collector);
    let mut blend = Blend {
        params: collector.params,
        decay,
    };
    ema.map(&mut blend)
}

struct Collector<B: Backend> {
    params: HashMap<ParamId, Tensor<B, 1>>,
}

impl<B: Backend> ModuleVisitor<B> for Collector<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        let count = value.shape().num_elements();
        self.params.insert(param.id, value.reshape([count]));
    }
}

struct Blend<B: Backend> {
    params: HashMap<ParamId, Tensor<B, 1>>,
    decay: f64,
}

impl<B: Backend> ModuleMapper<B> for Blend<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, value, mapper) = param.consume();
        let value = match self.params.remove(&id) {
            Some(current) => {
                let current: Tensor<B, D> = current.reshape(value.shape());
                value * self.decay + current * (1.0 - self.decay)
            }
            None => value,
        };
        Param::from_mapped_value(id, value, mapper)
    }
}
