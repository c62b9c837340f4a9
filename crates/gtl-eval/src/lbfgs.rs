//! A small L-BFGS minimiser for smooth convex objectives (the domain judge's penalised
//! logistic loss): two-loop recursion over the last few steps, backtracking Armijo search.

use std::collections::VecDeque;

/// Stopping rules of [`minimise`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stop {
    /// Most iterations.
    pub max_iterations: usize,
    /// Stop once the largest absolute gradient entry is at most this.
    pub gradient_tolerance: f64,
}

/// One remembered step: `s = x_{k+1} - x_k`, `y = g_{k+1} - g_k`, `rho = 1 / s·y`.
struct Pair {
    s: Vec<f64>,
    y: Vec<f64>,
    rho: f64,
}

const HISTORY: usize = 10;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Minimises `objective`, which returns f(x) and writes ∇f(x) into its second argument,
/// starting from `x`; returns the last iterate and the number of iterations.
pub(crate) fn minimise(
    mut objective: impl FnMut(&[f64], &mut [f64]) -> f64,
    mut x: Vec<f64>,
    stop: Stop,
) -> (Vec<f64>, usize) {
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut f = objective(&x, &mut g);
    let mut history: VecDeque<Pair> = VecDeque::with_capacity(HISTORY);
    let mut direction = vec![0.0; n];
    let mut trial = vec![0.0; n];
    let mut g_trial = vec![0.0; n];
    let mut alphas = [0.0; HISTORY];
    let mut iterations = 0;
    while iterations < stop.max_iterations && max_abs(&g) > stop.gradient_tolerance {
        iterations += 1;
        // Two-loop recursion: direction = -H g.
        direction.copy_from_slice(&g);
        for (i, pair) in history.iter().enumerate().rev() {
            alphas[i] = pair.rho * dot(&pair.s, &direction);
            direction
                .iter_mut()
                .zip(&pair.y)
                .for_each(|(d, y)| *d -= alphas[i] * y);
        }
        let scale = match history.back() {
            Some(p) => 1.0 / (p.rho * dot(&p.y, &p.y)),
            None => 1.0 / max_abs(&g).max(1.0),
        };
        direction.iter_mut().for_each(|d| *d *= scale);
        for (i, pair) in history.iter().enumerate() {
            let beta = pair.rho * dot(&pair.y, &direction);
            direction
                .iter_mut()
                .zip(&pair.s)
                .for_each(|(d, s)| *d += (alphas[i] - beta) * s);
        }
        direction.iter_mut().for_each(|d| *d = -*d);
        let mut slope = dot(&g, &direction);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            history.clear();
            direction.iter_mut().zip(&g).for_each(|(d, g)| *d = -g);
            slope = -dot(&g, &g);
        }
        let mut step = 1.0;
        let mut f_trial;
        let mut tries = 0;
        loop {
            trial
                .iter_mut()
                .zip(x.iter().zip(&direction))
                .for_each(|(t, (x, d))| *t = x + step * d);
            f_trial = objective(&trial, &mut g_trial);
            tries += 1;
            if f_trial <= f + 1e-4 * step * slope || tries == 50 {
                break;
            }
            step *= 0.5;
        }
        if f_trial > f {
            break; // no progress possible at this precision
        }
        let s: Vec<f64> = trial.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_trial.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&y, &y).max(f64::MIN_POSITIVE) {
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(Pair {
                s,
                y,
                rho: 1.0 / sy,
            });
        }
        let decrease = f - f_trial;
        std::mem::swap(&mut x, &mut trial);
        std::mem::swap(&mut g, &mut g_trial);
        f = f_trial;
        // Stop once the relative decrease is at machine precision.
        if decrease <= 1e-15 * f.abs() {
            break;
        }
    }
    (x, iterations)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quadratic of condition number 100, ½ Σ a_i (x_i - c_i)² is minimised at c.
    #[test]
    fn finds_the_minimum_of_a_quadratic() {
        let a: Vec<f64> = (0..50).map(|i| 10f64.powf(i as f64 / 49.0 * 2.0)).collect();
        let c: Vec<f64> = (0..50).map(|i| (i as f64).sin()).collect();
        let objective = |x: &[f64], g: &mut [f64]| {
            let mut f = 0.0;
            for i in 0..x.len() {
                g[i] = a[i] * (x[i] - c[i]);
                f += 0.5 * a[i] * (x[i] - c[i]).powi(2);
            }
            f
        };
        let stop = Stop {
            max_iterations: 500,
            gradient_tolerance: 1e-9,
        };
        let (x, iterations) = minimise(objective, vec![0.0; 50], stop);
        assert!(iterations < 500);
        for i in 0..50 {
            // |g_i| ≤ 1e-9 means |x_i - c_i| ≤ 1e-9 / a_i ≤ 1e-9.
            assert!((x[i] - c[i]).abs() < 1e-8, "{i}: {} vs {}", x[i], c[i]);
        }
    }
}
