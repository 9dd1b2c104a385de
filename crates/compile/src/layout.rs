//! The dispatch layout: maximal same-outcome intervals of the 32-bit number space and the search
//! tree over them.

/// One maximal interval `[start, next start)` and what its numbers lead to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Interval<T> {
    pub start: u32,
    pub target: T,
    /// Expected lookups (for the weighted tree); at least 1.
    pub weight: u64,
}

/// Merges sorted segments `(start, target, weight)` (the first starting at 0) into maximal
/// intervals: adjacent segments with equal targets become one.
pub(crate) fn merge<T: PartialEq>(segments: Vec<(u32, T, u64)>) -> Vec<Interval<T>> {
    let mut out: Vec<Interval<T>> = Vec::new();
    for (start, target, weight) in segments {
        match out.last_mut() {
            Some(last) if last.target == target => last.weight += weight,
            _ => out.push(Interval {
                start,
                target,
                weight,
            }),
        }
    }
    out
}

/// A search tree over intervals `lo..hi` (indexes): a leaf is one interval; an inner node tests
/// `nr >= intervals[split].start` and goes right (`split..hi`) when it holds, left (`lo..split`)
/// otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tree {
    Leaf(usize),
    Node {
        split: usize,
        left: Box<Tree>,
        right: Box<Tree>,
    },
}

impl Tree {
    pub(crate) fn depth(&self) -> usize {
        match self {
            Tree::Leaf(_) => 0,
            Tree::Node { left, right, .. } => 1 + left.depth().max(right.depth()),
        }
    }
}

/// The balanced tree: every leaf at depth ⌈log2 M⌉ or one less, the lower bound for the worst
/// case of any tree of threshold tests over M intervals.
pub(crate) fn balanced(lo: usize, hi: usize) -> Tree {
    if hi - lo <= 1 {
        return Tree::Leaf(lo);
    }
    let split = lo + (hi - lo).div_ceil(2);
    Tree::Node {
        split,
        left: Box::new(balanced(lo, split)),
        right: Box::new(balanced(split, hi)),
    }
}

/// Above this many intervals the quadratic dynamic program is skipped for a weight-balanced
/// split (within 2 comparisons of optimal on average, by Mehlhorn's bound).
const DP_LIMIT: usize = 1024;

/// The tree minimising `sum(weight * depth)`: the optimal alphabetic tree (only leaves carry
/// weight), by the textbook dynamic program with Knuth's monotone-root speed-up, which holds
/// because the cost `W(i, j)` of an interval range satisfies the quadrangle inequality.
pub(crate) fn weighted(weights: &[u64]) -> Tree {
    let m = weights.len();
    if m <= 1 {
        return Tree::Leaf(0);
    }
    if m > DP_LIMIT {
        return weight_balanced(weights, 0, m);
    }
    let mut prefix = vec![0u64; m + 1];
    for (i, w) in weights.iter().enumerate() {
        prefix[i + 1] = prefix[i] + w;
    }
    let sum = |i: usize, j: usize| prefix[j] - prefix[i];
    // cost[i][j], root[i][j] for the range i..j (j > i), flattened.
    let idx = |i: usize, j: usize| i * (m + 1) + j;
    let mut cost = vec![0u64; (m + 1) * (m + 1)];
    let mut root = vec![0usize; (m + 1) * (m + 1)];
    for i in 0..m {
        root[idx(i, i + 1)] = i;
    }
    for len in 2..=m {
        for i in 0..=m - len {
            let j = i + len;
            let (from, to) = if len == 2 {
                (i + 1, i + 1)
            } else {
                (
                    root[idx(i, j - 1)].max(i + 1),
                    root[idx(i + 1, j)].min(j - 1),
                )
            };
            let mut best = (u64::MAX, from);
            for k in from..=to.max(from) {
                let c = cost[idx(i, k)] + cost[idx(k, j)];
                if c < best.0 {
                    best = (c, k);
                }
            }
            cost[idx(i, j)] = best.0 + sum(i, j);
            root[idx(i, j)] = best.1;
        }
    }
    fn build(root: &[usize], m: usize, i: usize, j: usize) -> Tree {
        if j - i == 1 {
            return Tree::Leaf(i);
        }
        let split = root[i * (m + 1) + j];
        Tree::Node {
            split,
            left: Box::new(build(root, m, i, split)),
            right: Box::new(build(root, m, split, j)),
        }
    }
    build(&root, m, 0, m)
}

fn weight_balanced(weights: &[u64], lo: usize, hi: usize) -> Tree {
    if hi - lo <= 1 {
        return Tree::Leaf(lo);
    }
    let total: u64 = weights[lo..hi].iter().sum();
    let mut acc = 0;
    let mut split = lo + 1;
    for (k, w) in weights.iter().enumerate().take(hi - 1).skip(lo) {
        acc += w;
        split = k + 1;
        if acc * 2 >= total {
            break;
        }
    }
    Tree::Node {
        split,
        left: Box::new(weight_balanced(weights, lo, split)),
        right: Box::new(weight_balanced(weights, split, hi)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(t: &Tree, depth: usize, out: &mut Vec<(usize, usize)>) {
        match t {
            Tree::Leaf(i) => out.push((*i, depth)),
            Tree::Node { left, right, .. } => {
                leaves(left, depth + 1, out);
                leaves(right, depth + 1, out);
            }
        }
    }

    fn cost(t: &Tree, w: &[u64]) -> u64 {
        let mut v = Vec::new();
        leaves(t, 0, &mut v);
        v.iter().map(|&(i, d)| w[i] * d as u64).sum()
    }

    /// Exhaustive optimum for small inputs, to check the DP with Knuth's speed-up.
    fn brute(w: &[u64], i: usize, j: usize) -> u64 {
        if j - i == 1 {
            return 0;
        }
        let s: u64 = w[i..j].iter().sum();
        (i + 1..j)
            .map(|k| brute(w, i, k) + brute(w, k, j))
            .min()
            .unwrap_or(0)
            + s
    }

    #[test]
    fn balanced_depth_is_ceil_log2() {
        for m in 1..200usize {
            let t = balanced(0, m);
            let want = if m == 1 {
                0
            } else {
                (m - 1).ilog2() as usize + 1
            };
            assert_eq!(t.depth(), want, "m = {m}");
            let mut v = Vec::new();
            leaves(&t, 0, &mut v);
            assert_eq!(
                v.iter().map(|x| x.0).collect::<Vec<_>>(),
                (0..m).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn weighted_tree_is_optimal_on_small_inputs() {
        let mut seed = 12345u64;
        for m in 1..10usize {
            for _ in 0..30 {
                let w: Vec<u64> = (0..m)
                    .map(|_| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        1 + (seed >> 33) % 50
                    })
                    .collect();
                let t = weighted(&w);
                let mut v = Vec::new();
                leaves(&t, 0, &mut v);
                assert_eq!(
                    v.iter().map(|x| x.0).collect::<Vec<_>>(),
                    (0..m).collect::<Vec<_>>()
                );
                assert_eq!(cost(&t, &w), brute(&w, 0, m), "{w:?}");
            }
        }
    }

    #[test]
    fn merge_joins_equal_neighbours() {
        let m = merge(vec![(0, 'a', 1), (5, 'a', 2), (7, 'b', 1), (9, 'a', 1)]);
        assert_eq!(
            m,
            vec![
                Interval {
                    start: 0,
                    target: 'a',
                    weight: 3
                },
                Interval {
                    start: 7,
                    target: 'b',
                    weight: 1
                },
                Interval {
                    start: 9,
                    target: 'a',
                    weight: 1
                },
            ]
        );
    }
}
