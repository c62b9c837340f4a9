//! k-means with k-means++ seeding and seeded restarts, for MAUVE's quantisation of feature
//! vectors.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Points stored row-major: `n` rows of `dim` coordinates.
pub(crate) struct Points<'a> {
    pub data: &'a [f32],
    pub dim: usize,
}

impl Points<'_> {
    fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// A partition of the points.
pub(crate) struct Clustering {
    /// The cluster of each point, in `0..k`.
    pub assignment: Vec<usize>,
    /// Sum of squared distances of the points to their cluster's mean.
    pub inertia: f64,
}

/// Squared Euclidean distance, summed in eight lanes so that it vectorises.
fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            let d = x[i] - y[i];
            lanes[i] += d * d;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// The nearest center of a point and its squared distance.
fn nearest(point: &[f32], centers: &[f32], dim: usize) -> (usize, f32) {
    centers
        .chunks_exact(dim)
        .map(|c| squared_distance(point, c))
        .enumerate()
        .fold(
            (0, f32::INFINITY),
            |best, (j, d)| {
                if d < best.1 { (j, d) } else { best }
            },
        )
}

/// k-means++ seeding: the first center uniformly, each next one with probability
/// proportional to the squared distance to the nearest center chosen so far.
fn seed_centers(points: &Points, k: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let n = points.len();
    let mut centers = Vec::with_capacity(k * points.dim);
    centers.extend_from_slice(points.row(rng.random_range(0..n)));
    let mut distance: Vec<f64> = (0..n)
        .map(|i| f64::from(squared_distance(points.row(i), &centers[..points.dim])))
        .collect();
    for _ in 1..k {
        let total: f64 = distance.iter().sum();
        let chosen = if total > 0.0 {
            let mut u = rng.random::<f64>() * total;
            distance
                .iter()
                .position(|&d| {
                    u -= d;
                    u < 0.0
                })
                .unwrap_or_else(|| distance.iter().rposition(|&d| d > 0.0).unwrap_or(0))
        } else {
            rng.random_range(0..n) // every point is already a center
        };
        let start = centers.len();
        centers.extend_from_slice(points.row(chosen));
        for (i, d) in distance.iter_mut().enumerate() {
            let new = f64::from(squared_distance(points.row(i), &centers[start..]));
            *d = d.min(new);
        }
    }
    centers
}

/// Lloyd iterations from seeded centers until no point changes cluster (or
/// `max_iterations`). An emptied cluster takes the point farthest from its center.
fn lloyd(points: &Points, mut centers: Vec<f32>, k: usize, max_iterations: usize) -> Clustering {
    let (n, dim) = (points.len(), points.dim);
    let mut assignment = vec![usize::MAX; n];
    let mut distance = vec![0f32; n];
    for _ in 0..max_iterations.max(1) {
        let mut changed = false;
        for i in 0..n {
            let (j, d) = nearest(points.row(i), &centers, dim);
            changed |= assignment[i] != j;
            assignment[i] = j;
            distance[i] = d;
        }
        if !changed {
            break;
        }
        let mut sums = vec![0f64; k * dim];
        let mut sizes = vec![0usize; k];
        for (i, &j) in assignment.iter().enumerate() {
            sizes[j] += 1;
            sums[j * dim..(j + 1) * dim]
                .iter_mut()
                .zip(points.row(i))
                .for_each(|(s, &x)| *s += f64::from(x));
        }
        for j in 0..k {
            if sizes[j] == 0 {
                let far = (0..n)
                    .max_by(|&a, &b| distance[a].total_cmp(&distance[b]))
                    .unwrap_or(0);
                distance[far] = 0.0;
                centers[j * dim..(j + 1) * dim].copy_from_slice(points.row(far));
            } else {
                let size = sizes[j] as f64;
                centers[j * dim..(j + 1) * dim]
                    .iter_mut()
                    .zip(&sums[j * dim..(j + 1) * dim])
                    .for_each(|(c, s)| *c = (s / size) as f32);
            }
        }
    }
    let inertia = (0..n)
        .map(|i| {
            f64::from(squared_distance(
                points.row(i),
                &centers[assignment[i] * dim..][..dim],
            ))
        })
        .sum();
    Clustering {
        assignment,
        inertia,
    }
}

/// The lowest-inertia clustering of `restarts` k-means++ runs seeded from `seed`
/// (`1 ≤ k ≤` number of points, checked by the caller).
pub(crate) fn kmeans(
    points: &Points,
    k: usize,
    restarts: usize,
    max_iterations: usize,
    seed: u64,
) -> Clustering {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..restarts.max(1))
        .map(|_| {
            let centers = seed_centers(points, k, &mut rng);
            lloyd(points, centers, k, max_iterations)
        })
        .min_by(|a, b| a.inertia.total_cmp(&b.inertia))
        .unwrap_or(Clustering {
            assignment: vec![0; points.len()],
            inertia: f64::INFINITY,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On ten points of the line, restarted k-means reaches the optimal 3-clustering, found
    /// by brute force over all contiguous splits (optimal 1-D clusters are intervals).
    #[test]
    fn reaches_the_optimum_on_the_line() {
        let xs: [f32; 10] = [0.0, 0.4, 1.1, 3.0, 3.2, 3.9, 7.5, 8.0, 8.1, 9.9];
        let points = Points { data: &xs, dim: 1 };
        let cost = |s: &[f32]| {
            let m = s.iter().sum::<f32>() / s.len() as f32;
            s.iter().map(|x| f64::from((x - m) * (x - m))).sum::<f64>()
        };
        let mut best = f64::INFINITY;
        for a in 1..9 {
            for b in a + 1..10 {
                best = best.min(cost(&xs[..a]) + cost(&xs[a..b]) + cost(&xs[b..]));
            }
        }
        let found = kmeans(&points, 3, 10, 100, 1);
        assert!(
            (found.inertia - best).abs() < 1e-5,
            "{} vs {best}",
            found.inertia
        );
        assert_eq!(found.assignment[0], found.assignment[2]);
        assert_ne!(found.assignment[2], found.assignment[3]);
    }

    /// Three far-apart blobs in 16 dimensions are recovered exactly.
    #[test]
    fn separates_distant_blobs() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let dim = 16;
        let mut data = Vec::new();
        for blob in 0..3 {
            for _ in 0..40 {
                for c in 0..dim {
                    let center = if c == blob { 10.0 } else { 0.0 };
                    data.push(center + rng.random::<f32>() - 0.5);
                }
            }
        }
        let points = Points { data: &data, dim };
        let found = kmeans(&points, 3, 3, 100, 2);
        for blob in 0..3 {
            let first = found.assignment[blob * 40];
            assert!(
                found.assignment[blob * 40..(blob + 1) * 40]
                    .iter()
                    .all(|&a| a == first)
            );
        }
        let labels: std::collections::HashSet<usize> = found.assignment.iter().copied().collect();
        assert_eq!(labels.len(), 3);
        // Fewer distinct points than clusters: every cluster still gets a center.
        let same = [1.0f32; 8];
        let tied = kmeans(
            &Points {
                data: &same,
                dim: 2,
            },
            3,
            2,
            10,
            0,
        );
        assert_eq!(tied.inertia, 0.0);
    }
}
